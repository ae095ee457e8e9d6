/* cli: the command line. main() finds the subcommand, cli_parse reads the
 * options every subcommand shares, and each cli_* function runs one
 * subcommand. Errors are printed here, as one line "lmterm: ...". */
#ifndef LMTERM_CLI_H
#define LMTERM_CLI_H

#include "backend.h"
#include "config.h"
#include "model_options.h"
#include "sampler.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#define CLI_MAX_MODELS 16

/* cli_load_model's (model.h): declared, not included, so that the plain
 * chat, which talks to a backend, sees no model file. */
typedef struct model model;

typedef struct cli_options {
    const char *command; /* "chat", "run", ... */
    const char *model_path;
    enum model_precision precision;
    enum model_cache_type cache_type;
    int threads, n_ctx, n_predict;
    sampler_params sampling;
    const char *prompt, *system_prompt, *resume_path, *config_path, *output_path;
    bool plain, stats, no_bos, no_special, json;
    bool ctx_set, precision_set; /* given on the command line */
    /* synth */
    const char *arch, *shape, *type, *output_type;
    uint64_t seed;
    bool seed_set;
    /* --remote URL or NAME (a server in the configuration); -m is then a model id */
    const char *remote, *api_key_env;
    /* bench */
    int bench_prompt, bench_gen, bench_reps;
    bool reps_set;
    /* perplexity, compare */
    const char *text_path, *kl_base, *precisions;
    int n_chunks;
    int bench_depth; /* context filled before the generation test */
    /* pull */
    const char *revision;
    /* -m NAME of a pulled or another tool's model: its path (model_path points here) */
    char found_model[4096];
    /* serve */
    const char *host; /* and api_key_env, shared with --remote */
    int port, parallel, queue;
    bool quiet;
    /* every -m given, in order (serve serves them all; n may exceed the array) */
    const char *models_given[CLI_MAX_MODELS];
    int n_models_given;
    /* positional arguments left after the options */
    int n_args;
    char **args;
    /* the configuration the defaults above came from (owned by main) */
    config *cfg;
} cli_options;

enum {
    CLI_DONE = -1,
    CLI_OK = 0,
    CLI_ERROR = 1,
    CLI_USAGE = 2
}; /* DONE: --help or --version answered */

/* Parses argv (after the subcommand) over the defaults cfg gives (cfg may be
 * NULL: built-in defaults). Returns CLI_OK, CLI_DONE, or CLI_USAGE after
 * printing what is wrong. A -m that names no file is looked up among the
 * configured models; without -m, the configured default model is used. */
int cli_parse(int argc, char **argv, config *cfg, cli_options *o);
/* The --config FILE argument anywhere in argv, or NULL. */
const char *cli_find_config_arg(int argc, char **argv);
void cli_usage(FILE *out);
/* Prints "lmterm: msg" to stderr and returns CLI_ERROR. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same for a command line that is wrong: returns CLI_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Loads opt->model_path with the options' context, threads and precision;
 * prints the error and returns NULL on failure. */
model *cli_load_model(const cli_options *o);

/* The progress line of a long command: on a terminal only (stderr), one
 * line rewritten in place; nothing when stderr is not a terminal. */
typedef struct cli_progress {
    bool tty;
    double t0, last;
    const char *what;
} cli_progress;
void cli_progress_start(cli_progress *p, const char *what);
/* "WHAT: UNIT done/total, MB/s, percent, ETA"; bytes may be 0 (no rate). */
void cli_progress_update(cli_progress *p, const char *unit, int done, int total, uint64_t bytes,
                         uint64_t total_bytes);
/* "WHAT: text, percent, ETA" from the fraction of the whole job done. */
void cli_progress_fraction(cli_progress *p, const char *text, double frac);
/* "WHAT: free text" in the same place. */
void cli_progress_note(cli_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Clears the line. */
void cli_progress_end(cli_progress *p);

/* Ctrl-C sets a flag (on) instead of ending the program, or ends it again
 * (off): long measurements stop and print what they have. */
void cli_catch_interrupt(bool on);
const atomic_bool *cli_interrupt_flag(void);

int cli_run(cli_options *o);
int cli_tokenize(cli_options *o);
int cli_logits(cli_options *o);
int cli_info(cli_options *o);
int cli_synth(cli_options *o);
int cli_quantize(cli_options *o);
int cli_bench(cli_options *o);
int cli_perplexity(cli_options *o);
int cli_compare(cli_options *o);
int cli_chat(cli_options *o);
int cli_pull(cli_options *o);
int cli_ls(cli_options *o);
/* --remote: the server's options and the model id (-m, else the configured
 * server's model, else NULL: the server's first). CLI_USAGE when --remote
 * names neither a URL nor a configured server. */
int cli_remote_options(const cli_options *o, backend_openai_options *ro, const char **model_id);
int cli_run_remote(cli_options *o);
int cli_serve(cli_options *o);

#endif

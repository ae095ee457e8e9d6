/* measure: what each precision costs and gives, on this machine and this
 * model. Perplexity and KL divergence over a text, scored exactly as
 * llama.cpp's llama-perplexity scores; prompt and generation speed as
 * `lmterm bench` measures them; resident memory after loading. `lmterm
 * perplexity`, `lmterm compare`, `lmterm bench` and the precision menu's
 * "Measure all" share this module; results of a comparison are kept per
 * model file in the state folder for the menu.
 *
 * Scoring (see ../shared/conformance/perplexity/README.md): the text is
 * tokenized once (BOS as the model adds it) and cut into chunks of n_ctx
 * tokens; each chunk is evaluated from an empty cache with its first token
 * replaced by BOS, and only its second half is scored: positions n_ctx/2 ..
 * n_ctx-2 predict the next token. Memory is bounded by one chunk: a base
 * model's logits for KL divergence go through a spool file, chunk by chunk,
 * so the base and the measured model never need to be in memory together. */
#ifndef LMTERM_MEASURE_H
#define LMTERM_MEASURE_H

#include "model_options.h"
#include "util.h"

#include <stdatomic.h>

/* The scoring functions take a model and tokens (model.h, tokenizer.h):
 * declared here, not included, so that the precision menu, which uses the
 * rows and the job alone, sees no model file. */
typedef struct model model;
typedef struct lm_tokens lm_tokens;

#define MEASURE_DEFAULT_TEXT "/usr/share/common-licenses/GPL-3"
#define MEASURE_N_PRECISIONS 5

/* ---- perplexity ---- */

typedef struct measure_ppl_options {
    int n_ctx;                 /* tokens per chunk (>= 16, even) */
    int n_chunks;              /* 0: every whole chunk of the text */
    const atomic_bool *cancel; /* may be NULL; checked between batches */
    /* may be NULL: after each chunk, with the running estimate */
    void (*on_chunk)(void *ctx, int done, int total, double ppl);
    /* may be NULL: inside a chunk, fraction of the whole run done */
    void (*on_progress)(void *ctx, double fraction);
    void *ctx;
} measure_ppl_options;

typedef struct measure_ppl_result {
    double ppl, ppl_err;
    double *ppl_by_chunk; /* running estimate after each chunk (malloc'd) */
    int n_chunks;         /* chunks scored */
    int n_scored;         /* positions scored */
    bool has_kl;          /* a base was given */
    double kld_mean, kld_median, kld_max, same_top_pct;
} measure_ppl_result;

void measure_ppl_result_free(measure_ppl_result *r);

/* The tokens of a text file as the model's tokenizer reads it (BOS added
 * where the model adds one, special-token text kept as plain text). -1 with
 * err when the file cannot be read or is not text. */
int measure_read_text(const model *m, const char *path, lm_tokens *out, lm_error *err);

/* Chunks a text of n_tok tokens gives at n_ctx (at most `wanted`, 0: all);
 * -1 with err ("the text ... has N tokens; perplexity at -c C needs at least
 * 2C") when it is too short. */
int measure_chunks(int n_tok, int n_ctx, int wanted, lm_error *err);

/* The base model's logits of every scored position, chunk after chunk, in
 * an unnamed temporary file. */
typedef struct measure_spool measure_spool;
measure_spool *measure_spool_create(int n_vocab, lm_error *err);
void measure_spool_free(measure_spool *s);

/* Scores toks with m. base_out (may be NULL): the logits are written there
 * for later runs. base_in (may be NULL): KL divergence and same-top share
 * against the logits in it (same vocabulary, same text and options).
 * Returns 0; 1 when cancelled (r holds the chunks done); -1 with err. */
int measure_perplexity(model *m, const lm_tokens *toks, const measure_ppl_options *o,
                       measure_spool *base_out, measure_spool *base_in, measure_ppl_result *r,
                       lm_error *err);

/* ---- speed (as `lmterm bench`) ---- */

/* Reproducible random token ids (xorshift64*), the ids bench feeds. */
int32_t measure_random_token(uint64_t *state, int n_vocab);
/* n random ids as one batch from an empty cache: tokens per second, or -1
 * with err (or when stop, which may be NULL, was set). ids: room for n;
 * logits: n_vocab floats. */
double measure_prompt_tps(model *m, uint64_t *rng, int32_t *ids, int n, float *logits,
                          const atomic_bool *stop, lm_error *err);
/* n random ids one at a time after the first `depth` cached positions (0:
 * from an empty cache): tokens per second, or -1. */
double measure_gen_tps(model *m, uint64_t *rng, int n, int depth, float *logits,
                       const atomic_bool *stop, lm_error *err);

/* ---- compare: every precision of one file ---- */

enum measure_row_state {
    MEASURE_PENDING,
    MEASURE_DONE,
    MEASURE_SKIPPED, /* why says why (does not fit, not asked) */
    MEASURE_FAILED,  /* why says what went wrong */
    MEASURE_CANCELLED,
};

typedef struct measure_row {
    enum model_precision precision;
    enum quant_type type; /* of most matrices at this precision */
    enum measure_row_state state;
    char why[600];
    bool is_base; /* the reference of the KL columns */
    double load_s, prompt_tps, gen_tps;
    uint64_t rss_bytes, weight_bytes, need_bytes; /* need: the estimate it was planned with */
    double ppl, ppl_err, dppl;                    /* dppl: ppl - base ppl */
    bool has_kl;
    double kld_mean, kld_median, kld_max, same_top_pct;
} measure_row;

typedef struct measure_compare_options {
    const char *model_path, *text_path; /* text NULL: MEASURE_DEFAULT_TEXT */
    bool want[MEASURE_N_PRECISIONS];    /* which precisions */
    int n_ctx, n_chunks;                /* perplexity (0: 512, all) */
    int n_prompt, n_gen, reps;          /* speed (0: 512, 128, 1) */
    int n_threads;                      /* 0: physical cores */
    const atomic_bool *cancel;          /* may be NULL */
    /* may be NULL: what is being done now ("INT8: perplexity, chunk 3/8")
     * and the fraction of the whole comparison done */
    void (*on_progress)(void *ctx, const char *step, double fraction);
    /* may be NULL: a row is complete (measured, skipped or failed) */
    void (*on_row)(void *ctx, const measure_row *row);
    void *ctx;
} measure_compare_options;

typedef struct measure_compare_result {
    measure_row rows[MEASURE_N_PRECISIONS]; /* indexed by precision */
    int base;                               /* row index of the base, -1: none */
    double base_ppl;
    char text_path[1024];
    int n_chunks, n_ctx;
    bool cancelled;
} measure_compare_result;

/* Measures each wanted precision that fits in the memory available now:
 * the highest one first (the KL base), then the others. 0 when done (rows
 * may be skipped or failed), 1 when cancelled (rows done so far kept), -1
 * with err when nothing could start (unreadable model or text). */
int measure_compare(const measure_compare_options *o, measure_compare_result *r, lm_error *err);

/* The table as terminal text (Unicode bars when utf8) or Markdown. */
void measure_format_table(const measure_compare_result *r, bool markdown, bool utf8, lm_buf *out);
/* One JSON object: {"model", "text", "n_ctx", "chunks", "base", "rows": [...]}. */
void measure_format_json(const measure_compare_result *r, const char *model_path, lm_buf *out);
/* A bar of `width` cells for value/max in Unicode eighth blocks (or '#'). */
void measure_bar(double value, double max, int width, bool utf8, lm_buf *out);

/* ---- a comparison on a thread of its own (the precision menu's
 * "Measure all"): the chat goes on meanwhile ---- */

typedef struct measure_job measure_job;
/* Starts measure_compare(o) on a new thread; o's strings are copied and its
 * callbacks, ctx and cancel are not used (the job has its own). */
measure_job *measure_job_start(const measure_compare_options *o, lm_error *err);
/* What it does now and the fraction done; true while it runs. */
bool measure_job_progress(measure_job *j, char *step, size_t size, double *fraction);
/* Asks it to stop at the next batch (rows done so far are kept). */
void measure_job_cancel(measure_job *j);
/* Waits for the thread, copies the result out (r may be NULL) and frees
 * the job. Returns measure_compare's value; err holds its error. */
int measure_job_finish(measure_job *j, measure_compare_result *r, lm_error *err);

/* ---- the state folder's record, for the precision menu ---- */

/* Stores the measured rows of path (keyed by its path, size and mtime) in
 * $XDG_STATE_HOME/lmterm/measurements.json, replacing older ones for that
 * file; rows not measured keep what was there. file may be NULL: the
 * default place. */
int measure_cache_store(const char *file, const char *model_path, const measure_compare_result *r,
                        lm_error *err);
/* The last measured rows of path (same size and mtime), into rows[] by
 * precision (state MEASURE_DONE where known, PENDING where not). false when
 * nothing is recorded. */
bool measure_cache_load(const char *file, const char *model_path,
                        measure_row rows[MEASURE_N_PRECISIONS]);

#endif

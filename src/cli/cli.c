/* cli: option parsing and the helpers the subcommands share. */
#include "catalog.h"
#include "cli.h"
#include "model.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage:\n"
    "  lmterm [OPTIONS]                          full-screen chat (default)\n"
    "  lmterm chat --plain [OPTIONS]             line-by-line chat, for pipes and screen readers\n"
    "  lmterm run -p TEXT [OPTIONS]              one-shot generation to stdout\n"
    "  lmterm run --remote URL [-m ID] -p TEXT   the same from a server's chat completions\n"
    "  lmterm tokenize [--no-bos] [--no-special] TEXT   token ids, one line\n"
    "  lmterm logits [-c N] TEXT                 last-position logits, one a line, id order\n"
    "  lmterm bench [-p 512] [-n 128] [--reps 5] [--depth D] [--json]   prompt and generation speed\n"
    "  lmterm info                               architecture, sizes, types, template\n"
    "  lmterm synth --arch A --shape S --type T -o FILE     random-weight model of a real shape\n"
    "  lmterm quantize IN OUT TYPE               write a GGUF at another precision\n"
    "  lmterm perplexity [-f TEXT] [-c 512] [--chunks N] [--kl-base M|P] [--json]\n"
    "                                            perplexity and KL divergence over a text\n"
    "  lmterm compare [-f TEXT] [--precisions LIST] [--json] [-o REPORT.md]\n"
    "                                            speed, memory and accuracy of each precision\n"
    "  lmterm pull REPO[:QUANT] | REPO FILE      download a GGUF from Hugging Face\n"
    "  lmterm ls                                 every model found, with its size and type\n"
    "  lmterm serve [--host H] [--port P] [--parallel N] [--queue N] [--api-key-env VAR] [--quiet]\n"
    "                                            OpenAI-compatible HTTP server\n"
    "\n"
    "options:\n"
    "  -m, --model FILE        GGUF model file (serve: more than once, each served)\n"
    "      --precision P       native, fp32, fp16, int8 or int4 (default native)\n"
    "      --cache-type T      KV cache: f16, q8_0 or f32 (default f16)\n"
    "  -t, --threads N         worker threads (default: physical cores)\n"
    "  -c, --ctx-size N        context size in tokens\n"
    "  -n, --n-predict N       most tokens to generate\n"
    "  -p, --prompt TEXT       prompt (run); prompt tokens (bench)\n"
    "      --temp T            temperature (0: greedy)\n"
    "      --top-k K, --top-p P, --min-p P, --repeat-penalty R, --seed S\n"
    "  -s, --system TEXT       system prompt\n"
    "  -r, --resume FILE       resume a saved conversation\n"
    "      --remote URL|NAME   an OpenAI-compatible server (base URL ending in /v1, or a\n"
    "                          name under servers: in config.yaml); -m is then its model id\n"
    "      --api-key-env VAR   the environment variable holding the API key (--remote, serve)\n"
    "      --config FILE       configuration file\n"
    "      --plain, --stats    plain chat; per-reply statistics on stderr\n"
    "  -o, --output FILE       output file (synth)\n"
    "      --arch, --shape, --type   model to synthesise (synth)\n"
    "      --output-type T     type of output.weight (synth; default: --type)\n"
    "  -f, --file FILE         text to score (perplexity, compare; default GPL-3)\n"
    "      --chunks N          score at most N chunks of the text (perplexity, compare)\n"
    "      --kl-base M|P       KL divergence against a model file or a precision\n"
    "      --precisions LIST   precisions to compare (default native,fp32,fp16,int8,int4)\n"
    "      --revision REV      branch, tag or commit to pull from (default main)\n"
    "      --host, --port, --parallel, --queue, --quiet   (serve)\n"
    "  -h, --help              this text\n"
    "      --version           version\n";

void cli_usage(FILE *out) {
    fputs(usage_text, out);
}

int cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("lmterm: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_ERROR;
}

int cli_usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("lmterm: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see lmterm --help)\n", stderr);
    va_end(ap);
    return CLI_USAGE;
}

enum {
    OPT_PRECISION = 256,
    OPT_TEMP,
    OPT_TOP_K,
    OPT_TOP_P,
    OPT_MIN_P,
    OPT_REPEAT,
    OPT_SEED,
    OPT_CONFIG,
    OPT_PLAIN,
    OPT_STATS,
    OPT_NO_BOS,
    OPT_NO_SPECIAL,
    OPT_JSON,
    OPT_ARCH,
    OPT_SHAPE,
    OPT_TYPE,
    OPT_OUTPUT_TYPE,
    OPT_REPS,
    OPT_CHUNKS,
    OPT_KL_BASE,
    OPT_PRECISIONS,
    OPT_CACHE_TYPE,
    OPT_DEPTH,
    OPT_VERSION,
    OPT_REVISION,
    OPT_REMOTE,
    OPT_API_KEY_ENV,
    OPT_HOST,
    OPT_PORT,
    OPT_PARALLEL,
    OPT_QUEUE,
    OPT_QUIET
};

static const struct option long_options[] = {{"model", required_argument, 0, 'm'},
                                             {"precision", required_argument, 0, OPT_PRECISION},
                                             {"threads", required_argument, 0, 't'},
                                             {"ctx-size", required_argument, 0, 'c'},
                                             {"n-predict", required_argument, 0, 'n'},
                                             {"prompt", required_argument, 0, 'p'},
                                             {"temp", required_argument, 0, OPT_TEMP},
                                             {"top-k", required_argument, 0, OPT_TOP_K},
                                             {"top-p", required_argument, 0, OPT_TOP_P},
                                             {"min-p", required_argument, 0, OPT_MIN_P},
                                             {"repeat-penalty", required_argument, 0, OPT_REPEAT},
                                             {"seed", required_argument, 0, OPT_SEED},
                                             {"system", required_argument, 0, 's'},
                                             {"resume", required_argument, 0, 'r'},
                                             {"config", required_argument, 0, OPT_CONFIG},
                                             {"plain", no_argument, 0, OPT_PLAIN},
                                             {"stats", no_argument, 0, OPT_STATS},
                                             {"no-bos", no_argument, 0, OPT_NO_BOS},
                                             {"no-special", no_argument, 0, OPT_NO_SPECIAL},
                                             {"json", no_argument, 0, OPT_JSON},
                                             {"arch", required_argument, 0, OPT_ARCH},
                                             {"shape", required_argument, 0, OPT_SHAPE},
                                             {"type", required_argument, 0, OPT_TYPE},
                                             {"output-type", required_argument, 0, OPT_OUTPUT_TYPE},
                                             {"reps", required_argument, 0, OPT_REPS},
                                             {"cache-type", required_argument, 0, OPT_CACHE_TYPE},
                                             {"depth", required_argument, 0, OPT_DEPTH},
                                             {"output", required_argument, 0, 'o'},
                                             {"file", required_argument, 0, 'f'},
                                             {"chunks", required_argument, 0, OPT_CHUNKS},
                                             {"kl-base", required_argument, 0, OPT_KL_BASE},
                                             {"precisions", required_argument, 0, OPT_PRECISIONS},
                                             {"revision", required_argument, 0, OPT_REVISION},
                                             {"help", no_argument, 0, 'h'},
                                             {"version", no_argument, 0, OPT_VERSION},
                                             {"remote", required_argument, 0, OPT_REMOTE},
                                             {"api-key-env", required_argument, 0, OPT_API_KEY_ENV},
                                             {"host", required_argument, 0, OPT_HOST},
                                             {"port", required_argument, 0, OPT_PORT},
                                             {"parallel", required_argument, 0, OPT_PARALLEL},
                                             {"queue", required_argument, 0, OPT_QUEUE},
                                             {"quiet", no_argument, 0, OPT_QUIET},
                                             {0, 0, 0, 0}};

static bool parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static bool parse_float(const char *s, float lo, float hi, float *out) {
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) return false;
    *out = v;
    return true;
}

static int bad_value(const char *opt, const char *val) {
    fprintf(stderr, "lmterm: invalid value '%s' for %s\n", val, opt);
    return CLI_USAGE;
}

/* The configuration's settings, or the built-in ones without it. A random
 * seed is drawn here, once per start, so a run is repeatable only with --seed. */
static void set_defaults(cli_options *o, config *cfg) {
    memset(o, 0, sizeof *o);
    o->cfg = cfg;
    o->precision = MODEL_PRECISION_NATIVE;
    o->n_predict = -1;
    o->sampling = sampler_default_params();
    o->bench_prompt = 512;
    o->bench_gen = 128;
    o->bench_reps = 5;
    o->port = 8080;
    o->parallel = 1;
    o->queue = 64;
    if (!cfg) return;
    const config_settings *s = &cfg->settings;
    o->precision = cfg->precision;
    o->cache_type = cfg->cache_type;
    o->n_predict = s->n_predict;
    o->threads = s->threads;
    o->n_ctx = s->n_ctx;
    o->sampling = s->sampling;
    if (s->seed_random) o->sampling.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    o->system_prompt = config_system_prompt_text(cfg);
}

/* -m NAME for a configured model; no -m: the default model. */
static void resolve_model(cli_options *o) {
    config *cfg = o->cfg;
    if (!cfg || o->remote) return; /* -m is the server's model id */
    struct stat st;
    if (o->model_path && stat(o->model_path, &st) == 0) return;
    if (!o->model_path && o->resume_path) return; /* the transcript names its model */
    if (cfg->n_model_dirs) config_scan_models(cfg);
    const config_model *m =
        o->model_path ? config_find_model(cfg, o->model_path) : config_default_model(cfg);
    if (!m && o->model_path) { /* a pulled model, or ollama's, or a cache's, by name */
        char *found = catalog_find_found(o->model_path);
        if (found && strlen(found) < sizeof o->found_model) {
            memcpy(o->found_model, found, strlen(found) + 1);
            o->model_path = o->found_model;
        }
        free(found);
    }
    if (!m) return;
    o->model_path = m->path;
    if (m->n_ctx > 0 && !o->ctx_set) o->n_ctx = m->n_ctx;
    if (m->precision >= 0 && !o->precision_set) o->precision = (enum model_precision)m->precision;
}

const char *cli_find_config_arg(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) return argv[i + 1];
        if (strncmp(argv[i], "--config=", 9) == 0) return argv[i] + 9;
    }
    return NULL;
}

/* The integer and float options, kept apart to keep cli_parse short. */
static int parse_number_option(int c, const char *arg, cli_options *o) {
    long v;
    float f;
    switch (c) {
    case 't':
        if (!parse_long(arg, 1, 1024, &v)) return bad_value("--threads", arg);
        o->threads = (int)v;
        break;
    case 'c':
        if (!parse_long(arg, 16, 1 << 24, &v)) return bad_value("--ctx-size", arg);
        o->n_ctx = (int)v;
        o->ctx_set = true;
        break;
    case 'n':
        if (!parse_long(arg, -1, 1 << 24, &v)) return bad_value("--n-predict", arg);
        o->n_predict = (int)v;
        o->bench_gen = (int)v;
        break;
    case OPT_REPS:
        if (!parse_long(arg, 1, 1000, &v)) return bad_value("--reps", arg);
        o->bench_reps = (int)v;
        o->reps_set = true;
        break;
    case OPT_CHUNKS:
        if (!parse_long(arg, 1, 1 << 20, &v)) return bad_value("--chunks", arg);
        o->n_chunks = (int)v;
        break;
    case OPT_PORT:
        if (!parse_long(arg, 0, 65535, &v)) return bad_value("--port", arg);
        o->port = (int)v;
        break;
    case OPT_PARALLEL:
        if (!parse_long(arg, 1, 64, &v)) return bad_value("--parallel", arg);
        o->parallel = (int)v;
        break;
    case OPT_QUEUE:
        if (!parse_long(arg, 0, 4096, &v)) return bad_value("--queue", arg);
        o->queue = (int)v;
        break;
    case OPT_DEPTH:
        if (!parse_long(arg, 0, 1 << 24, &v)) return bad_value("--depth", arg);
        o->bench_depth = (int)v;
        break;
    case OPT_TEMP:
        if (!parse_float(arg, 0, 100, &f)) return bad_value("--temp", arg);
        o->sampling.temperature = f;
        break;
    case OPT_TOP_K:
        if (!parse_long(arg, 0, 1 << 24, &v)) return bad_value("--top-k", arg);
        o->sampling.top_k = (int)v;
        break;
    case OPT_TOP_P:
        if (!parse_float(arg, 0, 1, &f)) return bad_value("--top-p", arg);
        o->sampling.top_p = f;
        break;
    case OPT_MIN_P:
        if (!parse_float(arg, 0, 1, &f)) return bad_value("--min-p", arg);
        o->sampling.min_p = f;
        break;
    case OPT_REPEAT:
        if (!parse_float(arg, 0.01f, 100, &f)) return bad_value("--repeat-penalty", arg);
        o->sampling.repeat_penalty = f;
        break;
    case OPT_SEED: {
        char *end;
        errno = 0;
        unsigned long long s = strtoull(arg, &end, 10);
        if (errno || end == arg || *end) return bad_value("--seed", arg);
        o->sampling.seed = o->seed = s;
        o->seed_set = true;
        break;
    }
    default:
        return CLI_USAGE;
    }
    return CLI_OK;
}

/* The version, and where lmterm finds its files (install checks read this). */
static void print_version(const cli_options *o) {
    printf("lmterm %s\n", LMTERM_VERSION);
    if (!o->cfg) return;
    printf("data: %s\n", o->cfg->data_dir ? o->cfg->data_dir : "(not found)");
    printf("config: %s\n", o->cfg->user_file ? o->cfg->user_file : "(none)");
}

int cli_parse(int argc, char **argv, config *cfg, cli_options *o) {
    set_defaults(o, cfg);
    /* getopt_long wants argv[0] to be the program: shift by one */
    char **av = argv - 1;
    int ac = argc + 1;
    optind = 1;
    opterr = 0; /* we say what is wrong ourselves, in our own form */
    int c;
    while ((c = getopt_long(ac, av, "m:t:c:n:p:s:r:o:f:h", long_options, NULL)) != -1) {
        int rc;
        switch (c) {
        case 'm':
            o->model_path = optarg;
            if (o->n_models_given < CLI_MAX_MODELS) o->models_given[o->n_models_given] = optarg;
            o->n_models_given++;
            break;
        case 'p':
            o->prompt = optarg;
            long v;
            if (parse_long(optarg, 0, 1 << 20, &v)) o->bench_prompt = (int)v;
            break;
        case 's':
            o->system_prompt = optarg;
            break;
        case 'r':
            o->resume_path = optarg;
            break;
        case 'o':
            o->output_path = optarg;
            break;
        case 'f':
            o->text_path = optarg;
            break;
        case OPT_KL_BASE:
            o->kl_base = optarg;
            break;
        case OPT_PRECISIONS:
            o->precisions = optarg;
            break;
        case OPT_CONFIG:
            o->config_path = optarg;
            break;
        case OPT_PLAIN:
            o->plain = true;
            break;
        case OPT_STATS:
            o->stats = true;
            break;
        case OPT_NO_BOS:
            o->no_bos = true;
            break;
        case OPT_NO_SPECIAL:
            o->no_special = true;
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case OPT_ARCH:
            o->arch = optarg;
            break;
        case OPT_SHAPE:
            o->shape = optarg;
            break;
        case OPT_TYPE:
            o->type = optarg;
            break;
        case OPT_OUTPUT_TYPE:
            o->output_type = optarg;
            break;
        case OPT_HOST:
            o->host = optarg;
            break;
        case OPT_API_KEY_ENV:
            o->api_key_env = optarg;
            break;
        case OPT_QUIET:
            o->quiet = true;
            break;
        case OPT_CACHE_TYPE: {
            int t = model_cache_type_from_name(optarg);
            if (t < 0) return bad_value("--cache-type", optarg);
            o->cache_type = (enum model_cache_type)t;
            break;
        }
        case OPT_PRECISION: {
            int p = model_precision_from_name(optarg);
            if (p < 0) return bad_value("--precision", optarg);
            o->precision = (enum model_precision)p;
            o->precision_set = true;
            break;
        }
        case 'h':
            cli_usage(stdout);
            return CLI_DONE;
        case OPT_VERSION:
            print_version(o);
            return CLI_DONE;
        case OPT_REVISION:
            o->revision = optarg;
            break;
        case OPT_REMOTE:
            o->remote = optarg;
            break;
        case '?':
            if (optopt && optopt < 256)
                return cli_usage_error("option -%c is unknown or needs a value", optopt);
            return cli_usage_error("option '%s' is unknown or needs a value", av[optind - 1]);
        default:
            if ((rc = parse_number_option(c, optarg, o)) != CLI_OK) return rc;
        }
    }
    o->n_args = ac - optind;
    o->args = av + optind;
    resolve_model(o);
    return CLI_OK;
}

static void quiet_progress(void *ctx, float f) {
    (void)ctx;
    (void)f;
}

model *cli_load_model(const cli_options *o) {
    if (!o->model_path) {
        cli_error("no model given (use -m FILE)");
        return NULL;
    }
    model_options mo = {.n_ctx = o->n_ctx,
                        .n_threads = o->threads,
                        .precision = o->precision,
                        .cache_type = o->cache_type,
                        .progress = quiet_progress};
    lm_error err;
    model *m = model_load(o->model_path, &mo, &err);
    if (!m) cli_error("%s", err.msg);
    return m;
}

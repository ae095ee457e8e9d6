/* cli: `lmterm bench`, the speed a user feels. As llama-bench does, the prompt
 * test evaluates p random token ids as one batch, and the generation test
 * evaluates n random ids one at a time from an empty cache (with --depth D,
 * after D cached positions, filled once before the runs); each runs --reps
 * times after one warm-up run. Generation reads every weight once per token,
 * so its speed is also given as a fraction of the bound set by the memory's
 * read bandwidth. The memory of a shared machine is as fast as its
 * neighbours let it be, moment to moment, so the bandwidth is measured right
 * after each generation run, STREAM-style (see the probe below) with as many
 * threads as the model uses, and each run is set against its own. */
#include "cli.h"
#include "json.h"
#include "measure.h"
#include "model.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct bench_stats {
    double median, min, max; /* tokens per second */
} bench_stats;

typedef struct bench_result {
    bench_stats prompt, gen;
    uint64_t peak_rss, bytes_per_token;
    double large_pages; /* fraction of the weights mapped in 2 MiB pages */
    double bandwidth;   /* bytes per second, median of the reads after each run */
    double fraction;    /* median over the runs of speed / (bandwidth / bytes per token) */
} bench_result;

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v in place. */
static bench_stats stats_of(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, compare_doubles);
    double median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    return (bench_stats){median, v[0], v[n - 1]};
}

/* One prompt run: n ids as one batch. Returns tokens per second, or -1. */
static double run_prompt(model *m, uint64_t *rng, int32_t *ids, int n, float *logits) {
    lm_error err;
    double v = measure_prompt_tps(m, rng, ids, n, logits, NULL, &err);
    if (v < 0) cli_error("%s", err.msg);
    return v;
}

/* One generation run: n ids one at a time after the first `depth` cached
 * positions (--depth). Returns tokens per second, or -1. */
static double run_gen(model *m, uint64_t *rng, int n, int depth, float *logits) {
    lm_error err;
    double v = measure_gen_tps(m, rng, n, depth, logits, NULL, &err);
    if (v < 0) cli_error("%s", err.msg);
    return v;
}

/* ---- read bandwidth ----
 * As STREAM measures it: a buffer four times the last-level cache (at least
 * 512 MiB, at most an eighth of the memory), in 2 MiB pages, written once so
 * that every page is real; each thread of a pool as large as the model's
 * reads its own contiguous share with vector loads (kernels_read_bandwidth).
 * Reading the model's own mapping instead would measure the page size the
 * file happens to have, not the memory. */
typedef struct bandwidth_probe {
    threadpool *pool;
    void *buf;
    size_t bytes;
} bandwidth_probe;

static size_t probe_bytes(void) {
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE), pages = sysconf(_SC_PHYS_PAGES),
         page = sysconf(_SC_PAGESIZE);
    size_t want = (size_t)512 << 20;
    if (l3 > 0 && (size_t)l3 * 4 > want) want = (size_t)l3 * 4;
    if (pages > 0 && page > 0 && want > (size_t)pages / 8 * (size_t)page)
        want = (size_t)pages / 8 * (size_t)page;
    return want;
}

static void probe_open(bandwidth_probe *p, const model *m) {
    *p = (bandwidth_probe){threadpool_create(model_n_threads(m)), NULL, probe_bytes()};
    p->buf = kernels_alloc_weights(p->bytes);
    if (p->buf) memset(p->buf, 0x5a, p->bytes);
}

/* Bytes per second, the best of three passes; 0 when it cannot measure. */
static double probe_read(bandwidth_probe *p) {
    return p->buf ? kernels_read_bandwidth(p->pool, p->buf, p->bytes, 3) : 0;
}

static void probe_close(bandwidth_probe *p) {
    kernels_free_weights(p->buf, p->bytes);
    threadpool_free(p->pool);
}

/* A warm-up run, then reps timed runs of the prompt (probe NULL) or the
 * generation test; after each generation run the probe measures the read
 * bandwidth, into bw[] (reps entries). Returns 0, or -1 after printing the
 * error. */
static int measure(model *m, const cli_options *o, bandwidth_probe *probe, double *bw,
                   double *tps) {
    const bool gen = probe != NULL;
    int n = gen ? o->bench_gen : o->bench_prompt;
    int n_vocab = model_get_hparams(m)->n_vocab;
    float *logits = lm_xmalloc((size_t)n_vocab * sizeof *logits);
    int32_t *ids = lm_xmalloc((size_t)n * sizeof *ids);
    uint64_t rng = o->seed_set && o->seed ? o->seed : 0x9e3779b97f4a7c15ull;
    int rc = 0;
    if (gen && o->bench_depth > 0) { /* the context every generation run starts from */
        int32_t *fill = lm_xmalloc((size_t)o->bench_depth * sizeof *fill);
        rc = run_prompt(m, &rng, fill, o->bench_depth, logits) < 0 ? -1 : 0;
        free(fill);
    }
    for (int r = -1; r < o->bench_reps && rc == 0; r++) {
        double v = gen ? run_gen(m, &rng, r < 0 ? 1 : n, o->bench_depth, logits)
                       : run_prompt(m, &rng, ids, r < 0 ? (n < 32 ? n : 32) : n, logits);
        if (v < 0) rc = -1;
        if (r < 0) continue;
        tps[r] = v;
        if (gen) bw[r] = probe_read(probe);
    }
    free(ids);
    free(logits);
    return rc;
}

/* Weight bytes read to generate one token: every matrix, but of the token
 * embedding only one row, unless it is also the output matrix. */
static uint64_t bytes_per_token(const model *m) {
    const gguf_file *f = model_get_file(m);
    const gguf_tensor *embd = gguf_find_tensor(f, "token_embd.weight");
    uint64_t total = model_weight_bytes(m);
    if (!embd || !gguf_find_tensor(f, "output.weight")) return total;
    enum quant_type t = model_precision_type(model_get_precision(m), (enum quant_type)embd->type);
    uint64_t row = quant_row_size(t, embd->ne[0]);
    uint64_t embd_bytes = row * (uint64_t)embd->ne[1];
    return embd_bytes < total ? total - embd_bytes + row : total;
}

/* How much of the weights the kernel maps in 2 MiB pages: the file's pages
 * (see gguf_open; when the page cache holds the file in small pages,
 * generation is slower), and anonymous ones, where the repacked weights are
 * (kernels_repack; on a kernel that gives every large allocation large
 * pages, the KV cache counts too, so this is an upper bound). */
static double large_page_fraction(const model *m) {
    double f = (double)(lm_file_large_page_bytes() + lm_anon_large_page_bytes()) /
               (double)model_weight_bytes(m);
    return f < 1 ? f : 1;
}

/* Both tests, and what the output shows of them. Returns 0 or -1. */
static int run_bench(model *m, const cli_options *o, bench_result *r) {
    const int reps = o->bench_reps;
    double *prompt_tps = lm_xmalloc((size_t)reps * sizeof(double));
    double *gen_tps = lm_xmalloc((size_t)reps * sizeof(double));
    double *bw = lm_xmalloc((size_t)reps * sizeof(double));
    double *fraction = lm_xmalloc((size_t)reps * sizeof(double));
    /* the peak before the probe's buffer: the model's own, which generation
     * does not raise past the prompt's */
    int rc = o->bench_prompt > 0 ? measure(m, o, NULL, NULL, prompt_tps) : 0;
    r->peak_rss = lm_peak_rss_bytes();
    if (rc == 0 && o->bench_gen > 0) {
        bandwidth_probe probe;
        probe_open(&probe, m);
        rc = measure(m, o, &probe, bw, gen_tps);
        probe_close(&probe);
    }
    if (rc == 0) {
        r->bytes_per_token = bytes_per_token(m);
        r->large_pages = large_page_fraction(m);
    }
    if (rc == 0 && o->bench_prompt > 0) r->prompt = stats_of(prompt_tps, reps);
    if (rc == 0 && o->bench_gen > 0) {
        for (int i = 0; i < reps; i++)
            fraction[i] = bw[i] > 0 ? gen_tps[i] * (double)r->bytes_per_token / bw[i] : 0;
        r->gen = stats_of(gen_tps, reps);
        r->bandwidth = stats_of(bw, reps).median;
        r->fraction = stats_of(fraction, reps).median;
    }
    free(prompt_tps);
    free(gen_tps);
    free(bw);
    free(fraction);
    return rc ? -1 : 0;
}

/* ---- output ---- */

/* A test's figure as JSON: null when the test was left out (-p 0, -n 0). */
static const char *json_figure(char buf[32], bool ran, double v) {
    if (!ran) return "null";
    snprintf(buf, 32, "%.3f", v);
    return buf;
}

static void print_json(const cli_options *o, const model *m, const bench_result *r) {
    lm_buf b = {0};
    char f[6][32];
    const bool p = o->bench_prompt > 0, g = o->bench_gen > 0;
    lm_buf_puts(&b, "{\"model\": ");
    json_write_str(&b, o->model_path, strlen(o->model_path));
    lm_buf_printf(
        &b,
        ", \"type\": \"%s\", \"precision\": \"%s\", \"threads\": %d, "
        "\"kernels\": \"%s\", \"n_prompt\": %d, \"n_gen\": %d, \"depth\": %d, "
        "\"cache_type\": \"%s\", \"reps\": %d, "
        "\"prompt_tps\": %s, \"prompt_tps_min\": %s, \"prompt_tps_max\": %s, "
        "\"gen_tps\": %s, \"gen_tps_min\": %s, \"gen_tps_max\": %s, "
        "\"peak_rss_bytes\": %llu, \"weight_bytes\": %llu, \"bytes_per_token\": %llu, "
        "\"bandwidth_gbps\": %.2f, \"bandwidth_fraction\": %.3f, "
        "\"large_page_fraction\": %.3f}\n",
        quant_info(model_main_type(m))->name, model_precision_name(model_get_precision(m)),
        model_n_threads(m), kernels_backend(), o->bench_prompt, o->bench_gen, o->bench_depth,
        model_cache_type_name(model_cache_type(m)), o->bench_reps,
        json_figure(f[0], p, r->prompt.median), json_figure(f[1], p, r->prompt.min),
        json_figure(f[2], p, r->prompt.max), json_figure(f[3], g, r->gen.median),
        json_figure(f[4], g, r->gen.min), json_figure(f[5], g, r->gen.max),
        (unsigned long long)r->peak_rss, (unsigned long long)model_weight_bytes(m),
        (unsigned long long)r->bytes_per_token, r->bandwidth / 1e9, r->fraction, r->large_pages);
    fputs(lm_buf_cstr(&b), stdout);
    lm_buf_free(&b);
}

static void print_text(const cli_options *o, const model *m, const bench_result *r) {
    char a[16], w[16];
    printf("model:      %s (%s, %s weights, %s), %d threads, %s kernels\n", o->model_path,
           quant_info(model_main_type(m))->name, lm_format_size(model_weight_bytes(m), w),
           model_precision_name(model_get_precision(m)), model_n_threads(m), kernels_backend());
    if (o->bench_prompt > 0)
        printf("prompt:     %4d tokens  %8.2f tok/s  (min %.2f, max %.2f, %d runs)\n",
               o->bench_prompt, r->prompt.median, r->prompt.min, r->prompt.max, o->bench_reps);
    if (o->bench_gen > 0) {
        printf("generation: %4d tokens  %8.2f tok/s  (min %.2f, max %.2f, %d runs)", o->bench_gen,
               r->gen.median, r->gen.min, r->gen.max, o->bench_reps);
        if (o->bench_depth > 0)
            printf(" after %d tokens of context (%s KV cache)", o->bench_depth,
                   model_cache_type_name(model_cache_type(m)));
        printf("\n");
    }
    printf("memory:     peak RSS %s, %.0f%% of the weights mapped in 2 MiB pages\n",
           lm_format_size(r->peak_rss, a), 100 * r->large_pages);
    if (r->bandwidth > 0) {
        double bound = r->bandwidth / r->bytes_per_token;
        printf("bandwidth:  %.1f GB/s read, %.3f GB per token: bound %.2f tok/s, "
               "generation at %.0f%% of it\n",
               r->bandwidth / 1e9, r->bytes_per_token / 1e9, bound, 100 * r->fraction);
    }
}

int cli_bench(cli_options *o) {
    if (o->bench_gen < 0 || (o->bench_gen == 0 && o->bench_prompt == 0))
        return cli_error("bench needs -p or -n above 0 (-p 0 or -n 0 leaves that test out)");
    cli_options lo = *o;
    if (lo.n_ctx == 0) { /* a cache for the longer test only, as llama-bench sizes it */
        int gen = o->bench_depth + o->bench_gen;
        int need = o->bench_prompt > gen ? o->bench_prompt : gen;
        lo.n_ctx = need < 16 ? 16 : need;
    }
    model *m = cli_load_model(&lo);
    if (!m) return CLI_ERROR;
    const int n_ctx = model_n_ctx(m), test = o->bench_depth + o->bench_gen;
    if (n_ctx < lo.n_ctx || n_ctx < test) {
        model_free(m);
        return cli_error("the model's context (%d) is shorter than the test (%d tokens)", n_ctx,
                         lo.n_ctx > test ? lo.n_ctx : test);
    }
    bench_result r = {0};
    if (run_bench(m, o, &r)) {
        model_free(m);
        return CLI_ERROR;
    }
    if (o->json)
        print_json(o, m, &r);
    else
        print_text(o, m, &r);
    model_free(m);
    return CLI_OK;
}

/* measure: every precision of one model file, one after the other (see
 * include/app/measure.h), and the table, JSON and state-folder record of
 * the results. Only one measured model is in memory at a time; the base
 * precision (the one with the most bits) goes first and leaves its logits
 * in a spool file for the KL columns of the others. */
#include "measure.h"

#include "json.h"
#include "model.h"
#include "paths.h"

#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Memory kept free beyond the estimate: work buffers, a chunk's logits, the
 * program itself. */
#define MEASURE_MARGIN ((uint64_t)256 << 20)

/* ---- what each precision needs ---- */

static uint64_t kv_estimate(const gguf_file *f, int n_ctx) {
    gguf_str arch;
    if (!gguf_get_str(f, "general.architecture", &arch) || arch.len > 32) return 0;
    char key[96];
    uint32_t n_layer = 0, n_embd = 0, n_head = 1, n_head_kv = 0;
#define GET(k, v)                                                                                  \
    (snprintf(key, sizeof key, "%.*s." k, (int)arch.len, arch.ptr), gguf_get_u32(f, key, v))
    GET("block_count", &n_layer);
    GET("embedding_length", &n_embd);
    GET("attention.head_count", &n_head);
    if (!GET("attention.head_count_kv", &n_head_kv)) n_head_kv = n_head;
#undef GET
    if (!n_head) return 0;
    /* f32 keys and values: the largest cache the engine makes */
    return 2ull * n_layer * (uint64_t)n_ctx * (n_embd / n_head * (uint64_t)n_head_kv) * 4;
}

static enum quant_type stored_type(const gguf_file *f) {
    const char *names[] = {"blk.0.ffn_down.weight", "blk.0.attn_output.weight"};
    for (int i = 0; i < 2; i++) {
        const gguf_tensor *t = gguf_find_tensor(f, names[i]);
        if (t) return (enum quant_type)t->type;
    }
    return QT_F32;
}

/* MemAvailable, or LMTERM_TEST_MEM_AVAILABLE (bytes) in its place for tests,
 * as for the precision menu. */
static uint64_t mem_available(void) {
    const char *fake = getenv("LMTERM_TEST_MEM_AVAILABLE");
    return fake && *fake ? strtoull(fake, NULL, 10) : lm_mem_available_bytes();
}

/* ---- one row ---- */

typedef struct compare_run {
    const measure_compare_options *o;
    measure_compare_result *r;
    int n_rows, row_index; /* rows to measure, this one's place among them */
    const char *label;
    double row_start; /* fraction of the whole where this row starts */
} compare_run;

static void progress(compare_run *c, double within, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void progress(compare_run *c, double within, const char *fmt, ...) {
    if (!c->o->on_progress) return;
    char what[160];
    int n = snprintf(what, sizeof what, "%s: ", c->label);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what + n, sizeof what - (size_t)n, fmt, ap);
    va_end(ap);
    c->o->on_progress(c->o->ctx, what, c->row_start + within / c->n_rows);
}

static bool cancelled(const compare_run *c) {
    return c->o->cancel && atomic_load(c->o->cancel);
}

static void on_load(void *ctx, float fraction) {
    progress(ctx, 0.1 * fraction, "loading, %.0f%%", 100.0 * fraction);
}

typedef struct ppl_progress {
    compare_run *c;
    int chunk, n_chunks;
} ppl_progress;

static void on_chunk(void *ctx, int done, int total, double ppl) {
    ppl_progress *p = ctx;
    (void)ppl;
    p->chunk = done;
    p->n_chunks = total;
}

static void on_ppl(void *ctx, double fraction) {
    ppl_progress *p = ctx;
    progress(p->c, 0.1 + 0.6 * fraction, "perplexity, chunk %d/%d", p->chunk + 1,
             p->n_chunks ? p->n_chunks : 1);
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* bench's procedure: a warm-up run, then reps runs; the median. -1 on error. */
static double speed(compare_run *c, model *m, bool gen, lm_error *err) {
    const measure_compare_options *o = c->o;
    int n = gen ? o->n_gen : o->n_prompt, reps = o->reps, n_vocab = model_get_hparams(m)->n_vocab;
    float *logits = lm_xmalloc((size_t)n_vocab * sizeof *logits);
    int32_t *ids = lm_xmalloc((size_t)n * sizeof *ids);
    double *tps = lm_xmalloc((size_t)reps * sizeof *tps), v = 0;
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    for (int r = -1; r < reps && v >= 0; r++) {
        progress(c, gen ? 0.85 : 0.7, "%s speed, %d tokens", gen ? "generation" : "prompt", n);
        int k = r < 0 ? (gen ? 1 : (n < 32 ? n : 32)) : n;
        v = gen ? measure_gen_tps(m, &rng, k, 0, logits, o->cancel, err)
                : measure_prompt_tps(m, &rng, ids, k, logits, o->cancel, err);
        if (r >= 0 && v >= 0) tps[r] = v;
    }
    if (v >= 0) {
        qsort(tps, (size_t)reps, sizeof *tps, compare_doubles);
        v = reps % 2 ? tps[reps / 2] : (tps[reps / 2 - 1] + tps[reps / 2]) / 2;
    }
    free(logits);
    free(ids);
    free(tps);
    return v;
}

/* Loads, scores and times one precision into row. 0, 1 when cancelled. */
static int measure_row_run(compare_run *c, measure_row *row, measure_spool **spool,
                           const measure_ppl_result *base) {
    const measure_compare_options *o = c->o;
    lm_error err;
    int n_ctx = c->r->n_ctx;
    if (o->n_prompt > n_ctx) n_ctx = o->n_prompt;
    if (o->n_gen > n_ctx) n_ctx = o->n_gen;
    model_options mo = {.n_ctx = n_ctx,
                        .n_threads = o->n_threads,
                        .precision = row->precision,
                        .progress = on_load,
                        .progress_ctx = c,
                        .cancel = o->cancel};
    /* memory may have gone to others since the plan: look again */
    uint64_t avail = mem_available();
    if (avail && row->need_bytes > avail) {
        char a[16], b[16];
        row->state = MEASURE_SKIPPED;
        snprintf(row->why, sizeof row->why, "does not fit now: needs %s, %s available",
                 lm_format_size(row->need_bytes, a), lm_format_size(avail, b));
        return 0;
    }
    progress(c, 0, "loading");
    double t0 = lm_now();
    model *m = model_load(o->model_path, &mo, &err);
    if (!m) {
        row->state = cancelled(c) ? MEASURE_CANCELLED : MEASURE_FAILED;
        snprintf(row->why, sizeof row->why, "%s", err.msg);
        return cancelled(c);
    }
    row->load_s = lm_now() - t0;
    row->weight_bytes = model_weight_bytes(m);
    row->type = model_main_type(m);
    lm_tokens toks = {0};
    measure_ppl_result pr = {0};
    ppl_progress pp = {c, 0, 0};
    measure_ppl_options po = {.n_ctx = c->r->n_ctx,
                              .n_chunks = o->n_chunks,
                              .cancel = o->cancel,
                              .on_chunk = on_chunk,
                              .on_progress = on_ppl,
                              .ctx = &pp};
    int rc = measure_read_text(m, c->r->text_path, &toks, &err);
    if (rc == 0 && row->is_base &&
        !(*spool = measure_spool_create(model_get_hparams(m)->n_vocab, &err)))
        rc = -1;
    if (rc == 0)
        rc = measure_perplexity(m, &toks, &po, row->is_base ? *spool : NULL,
                                !row->is_base && base ? *spool : NULL, &pr, &err);
    if (rc == 0) {
        row->ppl = pr.ppl;
        row->ppl_err = pr.ppl_err;
        c->r->n_chunks = pr.n_chunks;
        row->has_kl = pr.has_kl || row->is_base;
        row->kld_mean = pr.kld_mean;
        row->kld_median = pr.kld_median;
        row->kld_max = pr.kld_max;
        row->same_top_pct = row->is_base ? 100 : pr.same_top_pct;
        row->dppl = base ? pr.ppl - base->ppl : 0;
        row->prompt_tps = speed(c, m, false, &err);
        row->gen_tps = row->prompt_tps < 0 ? -1 : speed(c, m, true, &err);
        if (row->gen_tps < 0) rc = -1;
        row->rss_bytes = lm_rss_bytes(); /* every weight and buffer in use by now */
    }
    if (cancelled(c)) {
        row->state = MEASURE_CANCELLED;
        snprintf(row->why, sizeof row->why, "cancelled");
        rc = 1;
    } else if (rc) {
        row->state = MEASURE_FAILED;
        snprintf(row->why, sizeof row->why, "%s", err.msg);
        rc = 0;
    } else {
        row->state = MEASURE_DONE;
    }
    if (row->is_base && row->state == MEASURE_DONE) c->r->base_ppl = pr.ppl;
    measure_ppl_result_free(&pr);
    lm_tokens_free(&toks);
    model_free(m);
    return rc;
}

/* ---- all of them ---- */

/* Marks rows not wanted or not fitting as skipped; picks the base: the
 * wanted, fitting precision whose weights are largest (most bits). */
static void plan_rows(const measure_compare_options *o, const gguf_file *f, int n_ctx,
                      measure_compare_result *r) {
    const uint64_t avail = mem_available(), kv = kv_estimate(f, n_ctx);
    const enum quant_type stored = stored_type(f);
    uint64_t best = 0;
    r->base = -1;
    for (int p = 0; p < MEASURE_N_PRECISIONS; p++) {
        measure_row *row = &r->rows[p];
        *row = (measure_row){.precision = (enum model_precision)p,
                             .type = model_precision_type((enum model_precision)p, stored),
                             .state = MEASURE_PENDING};
        row->weight_bytes = model_estimate_weight_bytes(f, (enum model_precision)p);
        uint64_t need = row->need_bytes = row->weight_bytes + kv + MEASURE_MARGIN;
        char a[16], b[16];
        if (!o->want[p]) {
            row->state = MEASURE_SKIPPED;
            snprintf(row->why, sizeof row->why, "not asked for");
        } else if (avail && need > avail) {
            row->state = MEASURE_SKIPPED;
            snprintf(row->why, sizeof row->why, "does not fit: needs %s, %s available",
                     lm_format_size(need, a), lm_format_size(avail, b));
        } else if (row->weight_bytes > best) {
            best = row->weight_bytes;
            r->base = p;
        }
    }
    if (r->base >= 0) r->rows[r->base].is_base = true;
}

int measure_compare(const measure_compare_options *opt, measure_compare_result *r, lm_error *err) {
    measure_compare_options o = *opt;
    if (!o.n_prompt) o.n_prompt = 512;
    if (!o.n_gen) o.n_gen = 128;
    if (o.reps < 1) o.reps = 1;
    memset(r, 0, sizeof *r);
    r->n_ctx = o.n_ctx > 0 ? o.n_ctx : 512;
    snprintf(r->text_path, sizeof r->text_path, "%s",
             o.text_path ? o.text_path : MEASURE_DEFAULT_TEXT);
    if (r->n_ctx % 2) return lm_fail(err, "perplexity needs an even context (-c %d)", r->n_ctx);
    struct stat st;
    if (stat(r->text_path, &st) != 0 || !S_ISREG(st.st_mode))
        return lm_fail(err, "%s: cannot read the text", r->text_path);
    gguf_file *f = gguf_open(o.model_path, err);
    if (!f) return -1;
    plan_rows(&o, f, r->n_ctx, r);
    gguf_close(f);

    int order[MEASURE_N_PRECISIONS], n = 0;
    if (r->base >= 0) order[n++] = r->base;
    for (int p = 0; p < MEASURE_N_PRECISIONS; p++)
        if (p != r->base && r->rows[p].state == MEASURE_PENDING) order[n++] = p;
    compare_run c = {.o = &o, .r = r, .n_rows = n};
    measure_spool *spool = NULL;
    measure_ppl_result base = {0};
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        measure_row *row = &r->rows[order[i]];
        c.row_index = i;
        c.row_start = (double)i / n;
        c.label = model_precision_name(row->precision);
        bool have_base = r->base >= 0 && r->rows[r->base].state == MEASURE_DONE;
        base.ppl = r->base_ppl;
        rc = measure_row_run(&c, row, &spool, have_base && !row->is_base ? &base : NULL);
        if (row->is_base && row->state == MEASURE_DONE) {
            row->dppl = 0;
            row->has_kl = true;
        }
        if (o.on_row) o.on_row(o.ctx, row);
    }
    for (int p = 0; p < MEASURE_N_PRECISIONS; p++)
        if (r->rows[p].state == MEASURE_PENDING) {
            r->rows[p].state = MEASURE_CANCELLED;
            snprintf(r->rows[p].why, sizeof r->rows[p].why, "cancelled");
        }
    if (o.on_progress && rc == 0) o.on_progress(o.ctx, "done", 1.0);
    measure_spool_free(spool);
    r->cancelled = rc == 1;
    return rc;
}

/* ---- output ---- */

void measure_bar(double value, double max, int width, bool utf8, lm_buf *out) {
    static const char *const eighths[] = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"};
    int cells = 0;
    if (max > 0 && value > 0) {
        int units = (int)lround(value / max * width * 8);
        if (units < 1) units = 1;
        if (units > width * 8) units = width * 8;
        for (; units >= 8; units -= 8, cells++) lm_buf_puts(out, utf8 ? "█" : "#");
        if (units && utf8) {
            lm_buf_puts(out, eighths[units]);
            cells++;
        }
    }
    for (; cells < width; cells++) lm_buf_puts(out, " ");
}

static const char *state_name(enum measure_row_state s) {
    static const char *const names[] = {"pending", "done", "skipped", "failed", "cancelled"};
    return (unsigned)s < 5 ? names[s] : "?";
}

static const char *type_name(enum quant_type t) {
    const quant_type_info *qi = quant_info(t);
    return qi ? qi->name : "?";
}

static void maxima(const measure_compare_result *r, double *tp, double *tg, double *mem) {
    *tp = *tg = *mem = 0;
    for (int p = 0; p < MEASURE_N_PRECISIONS; p++) {
        const measure_row *row = &r->rows[p];
        if (row->state != MEASURE_DONE) continue;
        if (row->prompt_tps > *tp) *tp = row->prompt_tps;
        if (row->gen_tps > *tg) *tg = row->gen_tps;
        if ((double)row->rss_bytes > *mem) *mem = (double)row->rss_bytes;
    }
}

#define BAR 10

void measure_format_table(const measure_compare_result *r, bool markdown, bool utf8, lm_buf *out) {
    double tp, tg, mem;
    maxima(r, &tp, &tg, &mem);
    const char *sep = markdown ? " | " : "  ";
    if (markdown)
        lm_buf_puts(out, "| precision | weights | prompt tok/s | generation tok/s | memory (RSS) "
                         "| PPL | ΔPPL | KL mean | KL max | same top |\n"
                         "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    else /* "ΔPPL": its Δ takes two bytes and one cell */
        lm_buf_printf(out, "%-9s  %-7s  %-*s  %-*s  %-*s  %12s  %11s  %9s  %9s  %8s\n", "precision",
                      "weights", 10 + BAR, "prompt tok/s", 10 + BAR, "gen tok/s", 10 + BAR,
                      "memory", "PPL", "ΔPPL", "KL mean", "KL max", "same top");
    for (int p = 0; p < MEASURE_N_PRECISIONS; p++) {
        const measure_row *row = &r->rows[p];
        if (row->state == MEASURE_SKIPPED && strcmp(row->why, "not asked for") == 0) continue;
        char label[32], size[16];
        snprintf(label, sizeof label, "%s%s", model_precision_name(row->precision),
                 row->is_base ? "*" : "");
        if (markdown) lm_buf_puts(out, "| ");
        lm_buf_printf(out, "%-9s%s%-7s%s", label, sep, type_name(row->type), sep);
        if (row->state != MEASURE_DONE) {
            lm_buf_printf(out, "%s: %s%s\n", state_name(row->state), row->why,
                          markdown ? " | | | | | | | |" : "");
            continue;
        }
        lm_buf_printf(out, "%9.2f ", row->prompt_tps);
        measure_bar(row->prompt_tps, tp, BAR, utf8, out);
        lm_buf_printf(out, "%s%9.2f ", sep, row->gen_tps);
        measure_bar(row->gen_tps, tg, BAR, utf8, out);
        lm_buf_printf(out, "%s%9s ", sep, lm_format_size(row->rss_bytes, size));
        measure_bar((double)row->rss_bytes, mem, BAR, utf8, out);
        lm_buf_printf(out, "%s%12.4f%s", sep, row->ppl, sep);
        if (row->has_kl)
            lm_buf_printf(out, "%+10.4f%s%9.6f%s%9.6f%s%7.2f%%", row->dppl, sep, row->kld_mean, sep,
                          row->kld_max, sep, row->same_top_pct);
        else
            lm_buf_printf(out, "%10s%s%9s%s%9s%s%8s", "-", sep, "-", sep, "-", sep, "-");
        lm_buf_puts(out, markdown ? " |\n" : "\n");
    }
    if (r->base >= 0)
        lm_buf_printf(out,
                      "%s* KL divergence (nats) and ΔPPL against %s; perplexity over %s, %d "
                      "chunks of %d tokens.\n",
                      markdown ? "\n" : "", model_precision_name((enum model_precision)r->base),
                      r->text_path, r->n_chunks, r->n_ctx);
}

static void row_json(const measure_row *row, lm_buf *b) {
    lm_buf_printf(b, "{\"precision\": \"%s\", \"type\": \"%s\", \"state\": \"%s\", \"why\": ",
                  model_precision_name(row->precision), type_name(row->type),
                  state_name(row->state));
    json_write_str(b, row->why, strlen(row->why));
    lm_buf_printf(b, ", \"is_base\": %s, \"weight_bytes\": %llu", row->is_base ? "true" : "false",
                  (unsigned long long)row->weight_bytes);
    if (row->state == MEASURE_DONE) {
        lm_buf_printf(b,
                      ", \"load_s\": %.3f, \"prompt_tps\": %.3f, \"gen_tps\": %.3f, "
                      "\"rss_bytes\": %llu, \"ppl\": %.6f, \"ppl_err\": %.6f",
                      row->load_s, row->prompt_tps, row->gen_tps,
                      (unsigned long long)row->rss_bytes, row->ppl, row->ppl_err);
        if (row->has_kl)
            lm_buf_printf(b,
                          ", \"dppl\": %.6f, \"kld_mean\": %.9f, \"kld_median\": %.9f, "
                          "\"kld_max\": %.9f, \"same_top_pct\": %.4f",
                          row->dppl, row->kld_mean, row->kld_median, row->kld_max,
                          row->same_top_pct);
    }
    lm_buf_puts(b, "}");
}

void measure_format_json(const measure_compare_result *r, const char *model_path, lm_buf *b) {
    lm_buf_puts(b, "{\"model\": ");
    json_write_str(b, model_path, strlen(model_path));
    lm_buf_puts(b, ", \"text\": ");
    json_write_str(b, r->text_path, strlen(r->text_path));
    lm_buf_printf(b, ", \"n_ctx\": %d, \"chunks\": %d, \"base\": ", r->n_ctx, r->n_chunks);
    if (r->base >= 0)
        lm_buf_printf(b, "\"%s\"", model_precision_name((enum model_precision)r->base));
    else
        lm_buf_puts(b, "null");
    lm_buf_printf(b, ", \"cancelled\": %s, \"rows\": [", r->cancelled ? "true" : "false");
    int n = 0;
    for (int p = 0; p < MEASURE_N_PRECISIONS; p++) {
        if (n++) lm_buf_puts(b, ", ");
        row_json(&r->rows[p], b);
    }
    lm_buf_puts(b, "]}\n");
}

/* ---- the state folder's record ---- */

static char *default_cache_file(void) {
    return paths_lmterm(PATHS_STATE, "measurements.json");
}

static bool file_key(const char *path, char **real, uint64_t *size, int64_t *mtime) {
    struct stat st;
    if (stat(path, &st) != 0) return false;
    *real = realpath(path, NULL);
    if (!*real) return false;
    *size = (uint64_t)st.st_size;
    *mtime = (int64_t)st.st_mtime;
    return true;
}

static json_value *read_cache(const char *file) {
    char *text = NULL;
    size_t len = 0;
    lm_error err;
    if (lm_read_file(file, (size_t)8 << 20, &text, &len, &err)) return NULL;
    json_value *v = json_parse(text, len, &err);
    free(text);
    return v;
}

/* The entry of the cache for this file, or NULL. */
static const json_value *find_entry(const json_value *root, const char *real, uint64_t size,
                                    int64_t mtime) {
    const json_value *models = json_get(root, "models");
    if (!models || models->kind != JSON_ARRAY) return NULL;
    for (size_t i = 0; i < models->len; i++) {
        const json_value *e = &models->items[i];
        if (strcmp(json_get_str(e, "path", ""), real) == 0 &&
            json_get_num(e, "size", -1) == (double)size &&
            json_get_num(e, "mtime", -1) == (double)mtime)
            return e;
    }
    return NULL;
}

static void row_from_json(const json_value *v, measure_row *row) {
    row->state = MEASURE_DONE;
    row->is_base = json_get(v, "is_base") && json_get(v, "is_base")->b;
    row->weight_bytes = (uint64_t)json_get_num(v, "weight_bytes", 0);
    row->load_s = json_get_num(v, "load_s", 0);
    row->prompt_tps = json_get_num(v, "prompt_tps", 0);
    row->gen_tps = json_get_num(v, "gen_tps", 0);
    row->rss_bytes = (uint64_t)json_get_num(v, "rss_bytes", 0);
    row->ppl = json_get_num(v, "ppl", 0);
    row->ppl_err = json_get_num(v, "ppl_err", 0);
    row->has_kl = json_get(v, "kld_mean") != NULL;
    row->dppl = json_get_num(v, "dppl", 0);
    row->kld_mean = json_get_num(v, "kld_mean", 0);
    row->kld_median = json_get_num(v, "kld_median", 0);
    row->kld_max = json_get_num(v, "kld_max", 0);
    row->same_top_pct = json_get_num(v, "same_top_pct", 0);
    int q = quant_type_from_name(json_get_str(v, "type", ""));
    row->type = q >= 0 ? (enum quant_type)q : QT_F32;
}

/* Rows of an entry into rows[] by precision; those absent stay PENDING. */
static void entry_rows(const json_value *e, measure_row rows[MEASURE_N_PRECISIONS]) {
    const json_value *list = json_get(e, "rows");
    for (size_t i = 0; list && list->kind == JSON_ARRAY && i < list->len; i++) {
        int p = model_precision_from_name(json_get_str(&list->items[i], "precision", ""));
        if (p < 0 || strcmp(json_get_str(&list->items[i], "state", ""), "done") != 0) continue;
        row_from_json(&list->items[i], &rows[p]);
    }
}

bool measure_cache_load(const char *file, const char *model_path,
                        measure_row rows[MEASURE_N_PRECISIONS]) {
    for (int p = 0; p < MEASURE_N_PRECISIONS; p++)
        rows[p] = (measure_row){.precision = (enum model_precision)p, .state = MEASURE_PENDING};
    char *own = file ? NULL : default_cache_file(), *real = NULL;
    uint64_t size;
    int64_t mtime;
    json_value *root = own || file ? read_cache(file ? file : own) : NULL;
    const json_value *e = root && file_key(model_path, &real, &size, &mtime)
                              ? find_entry(root, real, size, mtime)
                              : NULL;
    if (e) entry_rows(e, rows);
    json_free(root);
    free(real);
    free(own);
    return e != NULL;
}

/* Copies the other files' entries of the old record into b. */
static void copy_other_entries(const json_value *root, const char *real, lm_buf *b, int *n) {
    const json_value *models = json_get(root, "models");
    for (size_t i = 0; models && models->kind == JSON_ARRAY && i < models->len && i < 256; i++) {
        const json_value *e = &models->items[i];
        if (strcmp(json_get_str(e, "path", ""), real) == 0) continue;
        measure_row rows[MEASURE_N_PRECISIONS] = {0};
        entry_rows(e, rows);
        if ((*n)++) lm_buf_puts(b, ",\n");
        const char *path = json_get_str(e, "path", "");
        lm_buf_puts(b, "  {\"path\": ");
        json_write_str(b, path, strlen(path));
        lm_buf_printf(b, ", \"size\": %.0f, \"mtime\": %.0f, \"rows\": [",
                      json_get_num(e, "size", 0), json_get_num(e, "mtime", 0));
        int k = 0;
        for (int p = 0; p < MEASURE_N_PRECISIONS; p++) {
            if (rows[p].state != MEASURE_DONE) continue;
            rows[p].precision = (enum model_precision)p;
            if (k++) lm_buf_puts(b, ", ");
            row_json(&rows[p], b);
        }
        lm_buf_puts(b, "]}");
    }
}

int measure_cache_store(const char *file, const char *model_path, const measure_compare_result *r,
                        lm_error *err) {
    char *own = file ? NULL : default_cache_file(), *real = NULL;
    const char *target = file ? file : own;
    if (!target) return lm_fail(err, "no state folder (HOME is not set)");
    uint64_t size;
    int64_t mtime;
    if (!file_key(model_path, &real, &size, &mtime)) {
        free(own);
        return lm_fail(err, "%s: cannot read the model file", model_path);
    }
    json_value *root = read_cache(target);
    measure_row rows[MEASURE_N_PRECISIONS];
    const json_value *e = root ? find_entry(root, real, size, mtime) : NULL;
    for (int p = 0; p < MEASURE_N_PRECISIONS; p++)
        rows[p] = (measure_row){.precision = (enum model_precision)p, .state = MEASURE_PENDING};
    if (e) entry_rows(e, rows);
    for (int p = 0; p < MEASURE_N_PRECISIONS; p++) /* new measurements win */
        if (r->rows[p].state == MEASURE_DONE) rows[p] = r->rows[p];
    lm_buf b = {0};
    int n = 0;
    lm_buf_puts(&b, "{\"models\": [\n");
    if (root) copy_other_entries(root, real, &b, &n);
    if (n++) lm_buf_puts(&b, ",\n");
    lm_buf_puts(&b, "  {\"path\": ");
    json_write_str(&b, real, strlen(real));
    lm_buf_printf(&b, ", \"size\": %llu, \"mtime\": %lld, \"rows\": [", (unsigned long long)size,
                  (long long)mtime);
    int k = 0;
    for (int p = 0; p < MEASURE_N_PRECISIONS; p++) {
        if (rows[p].state != MEASURE_DONE) continue;
        if (k++) lm_buf_puts(&b, ", ");
        row_json(&rows[p], &b);
    }
    lm_buf_puts(&b, "]}\n]}\n");
    char *dir = lm_xstrdup(target);
    int rc = lm_mkdir_p(dirname(dir), err) ? -1 : lm_write_file_atomic(target, b.data, b.len, err);
    free(dir);
    lm_buf_free(&b);
    json_free(root);
    free(real);
    free(own);
    return rc;
}

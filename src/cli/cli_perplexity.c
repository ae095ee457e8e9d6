/* cli: `lmterm perplexity`, scored as llama.cpp's llama-perplexity scores
 * (see include/app/measure.h), with the running estimate after each chunk
 * and, given --kl-base, the KL divergence from a base model: another file,
 * or this file at another precision. The base runs first and its logits go
 * to a temporary file, so the two models are never in memory together. */
#include "cli.h"
#include "json.h"
#include "measure.h"
#include "model.h"

#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* Set by Ctrl-C: the run stops at the next batch and reports what it has. */
static atomic_bool interrupted;

static void on_sigint(int sig) {
    (void)sig;
    atomic_store(&interrupted, true);
}

void cli_catch_interrupt(bool on) {
    struct sigaction sa = {.sa_handler = on ? on_sigint : SIG_DFL};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

const atomic_bool *cli_interrupt_flag(void) {
    return &interrupted;
}

typedef struct ppl_run {
    cli_progress progress;
    const char *label; /* "base" or "model" */
    bool print_chunks; /* text output: [i]value as each chunk ends */
    int chunk, n_chunks;
} ppl_run;

static void on_chunk(void *ctx, int done, int total, double ppl) {
    ppl_run *r = ctx;
    r->chunk = done;
    r->n_chunks = total;
    if (!r->print_chunks) return;
    cli_progress_end(&r->progress);
    printf("[%d]%.4f\n", done, ppl);
    fflush(stdout);
}

static void on_progress(void *ctx, double fraction) {
    ppl_run *r = ctx;
    char text[96];
    snprintf(text, sizeof text, "%s, chunk %d/%d", r->label, r->chunk + 1,
             r->n_chunks ? r->n_chunks : 1);
    cli_progress_fraction(&r->progress, text, fraction);
}

/* Loads path at precision p with a context of n_ctx; NULL after printing why. */
static model *load(const cli_options *o, const char *path, enum model_precision p, int n_ctx,
                   cli_progress *pr) {
    cli_options lo = *o;
    lo.model_path = path;
    lo.precision = p;
    lo.n_ctx = n_ctx;
    cli_progress_note(pr, "loading %s at %s", path, model_precision_name(p));
    model *m = cli_load_model(&lo);
    cli_progress_end(pr);
    return m;
}

/* Tokens of the text for m, and the chunk count; -1 after printing why. */
static int read_text(const model *m, const char *text, int n_ctx, int wanted, lm_tokens *toks) {
    lm_error err;
    if (measure_read_text(m, text, toks, &err)) return cli_error("%s", err.msg), -1;
    int n = measure_chunks((int)toks->n, n_ctx, wanted, &err);
    if (n < 0) return cli_error("%s: %s", text, err.msg), -1;
    return n;
}

enum { INTERRUPTED = 3 }; /* beside CLI_OK and CLI_ERROR */

typedef struct ppl_job {
    const cli_options *o;
    const char *text;
    int n_ctx, n_chunks, n_tokens;
    const char *base_path;
    enum model_precision base_precision;
    measure_ppl_result base, result;
    bool has_base, header_done;
} ppl_job;

/* Scores one model; with write, its logits go to *spool (made here), else
 * KL divergence against *spool when there is one. CLI_OK, INTERRUPTED, or
 * CLI_ERROR after printing why. */
static int score(ppl_job *j, const char *path, enum model_precision p, const char *label,
                 bool print, measure_spool **spool, bool write, lm_tokens *toks_ref,
                 measure_ppl_result *out) {
    ppl_run run = {.label = label, .print_chunks = print};
    cli_progress_start(&run.progress, "perplexity");
    model *m = load(j->o, path, p, j->n_ctx, &run.progress);
    if (!m) return CLI_ERROR;
    lm_tokens toks = {0};
    int n = read_text(m, j->text, j->n_ctx, j->o->n_chunks, &toks);
    lm_error err;
    int rc = n < 0 ? CLI_ERROR : 0;
    if (rc == 0 && toks_ref->n &&
        (toks.n != toks_ref->n || memcmp(toks.ids, toks_ref->ids, toks.n * sizeof *toks.ids)))
        rc = cli_error("%s tokenizes the text differently from %s: no KL divergence between them",
                       path, j->base_path);
    if (rc == 0 && write && !*spool &&
        !(*spool = measure_spool_create(model_get_hparams(m)->n_vocab, &err)))
        rc = cli_error("%s", err.msg);
    if (rc == 0 && !j->header_done && !j->o->json) { /* once the text is known to do */
        printf("perplexity of %s at %s over %s%s: %d tokens, %d chunks of %d\n", j->o->model_path,
               model_precision_name(j->o->precision), j->text,
               j->o->text_path ? "" : " (the default text, on every Debian system)", (int)toks.n, n,
               j->n_ctx);
        if (j->has_base)
            printf("KL divergence against %s at %s\n", j->base_path,
                   model_precision_name(j->base_precision));
        fflush(stdout);
    }
    j->header_done = true;
    if (rc == 0) {
        j->n_chunks = n;
        j->n_tokens = (int)toks.n;
        run.n_chunks = n;
        measure_ppl_options po = {.n_ctx = j->n_ctx,
                                  .n_chunks = j->o->n_chunks,
                                  .cancel = cli_interrupt_flag(),
                                  .on_chunk = on_chunk,
                                  .on_progress = on_progress,
                                  .ctx = &run};
        rc = measure_perplexity(m, &toks, &po, write ? *spool : NULL, write ? NULL : *spool, out,
                                &err);
        if (rc < 0)
            rc = cli_error("%s", err.msg);
        else if (rc == 1)
            rc = INTERRUPTED;
    }
    cli_progress_end(&run.progress);
    if (rc == 0 && write && !toks_ref->n) {
        *toks_ref = toks;
        toks = (lm_tokens){0};
    }
    lm_tokens_free(&toks);
    model_free(m);
    return rc;
}

static void print_json(const ppl_job *j) {
    const measure_ppl_result *r = &j->result;
    lm_buf b = {0};
    lm_buf_puts(&b, "{\"model\": ");
    json_write_str(&b, j->o->model_path, strlen(j->o->model_path));
    lm_buf_printf(&b, ", \"precision\": \"%s\", \"text\": ", model_precision_name(j->o->precision));
    json_write_str(&b, j->text, strlen(j->text));
    lm_buf_printf(&b,
                  ", \"n_ctx\": %d, \"chunks\": %d, \"tokens\": %d, \"scored\": %d, "
                  "\"ppl\": %.6f, \"ppl_err\": %.6f, \"ppl_by_chunk\": [",
                  j->n_ctx, r->n_chunks, j->n_tokens, r->n_scored, r->ppl, r->ppl_err);
    for (int i = 0; i < r->n_chunks; i++)
        lm_buf_printf(&b, "%s%.6f", i ? ", " : "", r->ppl_by_chunk[i]);
    lm_buf_puts(&b, "]");
    if (r->has_kl) {
        char base[1100];
        snprintf(base, sizeof base, "%s%s%s", j->base_path,
                 strcmp(j->base_path, j->o->model_path) ? "" : " at ",
                 strcmp(j->base_path, j->o->model_path) ? ""
                                                        : model_precision_name(j->base_precision));
        lm_buf_puts(&b, ", \"kl_base\": ");
        json_write_str(&b, base, strlen(base));
        lm_buf_printf(&b,
                      ", \"base_ppl\": %.6f, \"kld_mean\": %.9f, \"kld_median\": %.9f, "
                      "\"kld_max\": %.9f, \"same_top_pct\": %.4f",
                      j->base.ppl, r->kld_mean, r->kld_median, r->kld_max, r->same_top_pct);
    }
    lm_buf_puts(&b, "}\n");
    fputs(lm_buf_cstr(&b), stdout);
    lm_buf_free(&b);
}

static void print_text(const ppl_job *j) {
    const measure_ppl_result *r = &j->result;
    printf("Final estimate: PPL = %.4f +/- %.5f\n", r->ppl, r->ppl_err);
    if (!r->has_kl) return;
    printf("Base: PPL = %.4f +/- %.5f (%s%s%s)\n", j->base.ppl, j->base.ppl_err, j->base_path,
           strcmp(j->base_path, j->o->model_path) ? "" : " at ",
           strcmp(j->base_path, j->o->model_path) ? "" : model_precision_name(j->base_precision));
    printf("KL divergence: mean %.6f, median %.6f, max %.6f nats over %d positions\n", r->kld_mean,
           r->kld_median, r->kld_max, r->n_scored);
    printf("Same top token: %.3f%%\n", r->same_top_pct);
}

int cli_perplexity(cli_options *o) {
    if (!o->model_path) return cli_error("no model given (use -m FILE)");
    ppl_job j = {.o = o,
                 .text = o->text_path ? o->text_path : MEASURE_DEFAULT_TEXT,
                 .n_ctx = o->ctx_set ? o->n_ctx : 512};
    if (j.n_ctx % 2) return cli_usage_error("perplexity needs an even context (-c %d)", j.n_ctx);
    if (o->kl_base) {
        int p = model_precision_from_name(o->kl_base);
        j.base_path = p >= 0 ? o->model_path : o->kl_base;
        j.base_precision = p >= 0 ? (enum model_precision)p : MODEL_PRECISION_NATIVE;
        j.has_base = true;
    }
    cli_catch_interrupt(true);
    measure_spool *spool = NULL;
    lm_tokens toks_base = {0};
    int rc = 0;
    if (j.has_base) {
        rc = score(&j, j.base_path, j.base_precision, "base", false, &spool, true, &toks_base,
                   &j.base);
    }
    if (rc == 0)
        rc = score(&j, o->model_path, o->precision, j.has_base ? "model" : "scoring", !o->json,
                   &spool, false, &toks_base, &j.result);
    cli_catch_interrupt(false);
    if (rc == INTERRUPTED) { /* what was measured */
        if (j.result.n_chunks > 0) print_text(&j);
        rc = cli_error("interrupted after %d of %d chunks", j.result.n_chunks, j.n_chunks);
    } else if (rc == 0) {
        o->json ? print_json(&j) : print_text(&j);
    }
    measure_ppl_result_free(&j.base);
    measure_ppl_result_free(&j.result);
    lm_tokens_free(&toks_base);
    measure_spool_free(spool);
    return rc;
}

/* ---- compare ---- */

/* The bars are Unicode blocks where the terminal's locale is UTF-8, '#' elsewhere. */
static bool locale_is_utf8(void) {
    setlocale(LC_CTYPE, "");
    const char *cs = nl_langinfo(CODESET);
    return cs && (strcmp(cs, "UTF-8") == 0 || strcmp(cs, "utf8") == 0);
}

static int parse_precisions(const char *list, bool want[MEASURE_N_PRECISIONS]) {
    for (int p = 0; p < MEASURE_N_PRECISIONS; p++) want[p] = list == NULL;
    if (!list) return CLI_OK;
    char *copy = lm_xstrdup(list), *save = NULL;
    int rc = CLI_OK;
    for (char *t = strtok_r(copy, ",", &save); t && rc == CLI_OK; t = strtok_r(NULL, ",", &save)) {
        int p = model_precision_from_name(t);
        if (p < 0)
            rc = cli_usage_error("unknown precision '%s' in --precisions (native, fp32, fp16, "
                                 "int8, int4)",
                                 t);
        else
            want[p] = true;
    }
    free(copy);
    return rc;
}

static void compare_progress(void *ctx, const char *step, double fraction) {
    cli_progress_fraction(ctx, step, fraction);
}

static void compare_row(void *ctx, const measure_row *row) {
    cli_progress *p = ctx;
    if (!p->tty) return;
    cli_progress_end(p);
    fprintf(stderr, "%s: %s\n", model_precision_name(row->precision),
            row->state == MEASURE_DONE ? "measured" : row->why);
}

static int write_report(const cli_options *o, const measure_compare_result *r) {
    lm_buf b = {0};
    lm_buf_printf(&b, "# lmterm compare: %s\n\n", o->model_path);
    lm_buf_printf(&b,
                  "Prompt speed over %d tokens and generation over %d (as `lmterm bench`), "
                  "resident memory with the model loaded and used, perplexity over `%s` "
                  "(%d chunks of %d tokens, scored as llama-perplexity), KL divergence from "
                  "the base precision (*). %s kernels, %d threads.\n\n",
                  o->bench_prompt, o->bench_gen, r->text_path, r->n_chunks, r->n_ctx,
                  kernels_backend(), o->threads > 0 ? o->threads : threadpool_default_threads());
    measure_format_table(r, true, true, &b);
    lm_error err;
    int rc = lm_write_file_atomic(o->output_path, b.data, b.len, &err);
    lm_buf_free(&b);
    return rc ? cli_error("%s", err.msg) : CLI_OK;
}

int cli_compare(cli_options *o) {
    if (!o->model_path) return cli_error("no model given (use -m FILE)");
    measure_compare_options mo = {.model_path = o->model_path,
                                  .text_path = o->text_path,
                                  .n_ctx = o->ctx_set ? o->n_ctx : 512,
                                  .n_chunks = o->n_chunks,
                                  .n_prompt = o->bench_prompt,
                                  .n_gen = o->bench_gen,
                                  .reps = o->reps_set ? o->bench_reps : 1,
                                  .n_threads = o->threads,
                                  .cancel = cli_interrupt_flag(),
                                  .on_progress = compare_progress,
                                  .on_row = compare_row};
    int rc = parse_precisions(o->precisions, mo.want);
    if (rc != CLI_OK) return rc;
    cli_progress pr;
    cli_progress_start(&pr, "compare");
    mo.ctx = &pr;
    measure_compare_result *r = lm_xcalloc(1, sizeof *r);
    lm_error err;
    cli_catch_interrupt(true);
    rc = measure_compare(&mo, r, &err);
    cli_catch_interrupt(false);
    cli_progress_end(&pr);
    if (rc < 0) {
        free(r);
        return cli_error("%s", err.msg);
    }
    if (measure_cache_store(NULL, o->model_path, r, &err))
        fprintf(stderr, "lmterm: the results are not kept for the menu: %s\n", err.msg);
    lm_buf b = {0};
    if (o->json) {
        measure_format_json(r, o->model_path, &b);
    } else {
        lm_buf_printf(&b, "%s: %s kernels, %d threads\n", o->model_path, kernels_backend(),
                      o->threads > 0 ? o->threads : threadpool_default_threads());
        measure_format_table(r, false, locale_is_utf8(), &b);
    }
    fputs(lm_buf_cstr(&b), stdout);
    fflush(stdout);
    lm_buf_free(&b);
    int out = r->cancelled ? cli_error("interrupted: the table shows what was measured") : CLI_OK;
    if (o->output_path && write_report(o, r) != CLI_OK) out = CLI_ERROR;
    free(r);
    return out;
}

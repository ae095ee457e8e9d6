/* measure: perplexity, KL divergence and speed (see include/app/measure.h).
 * The arithmetic follows llama-perplexity: log-softmax with the maximum in
 * float and the sum of expf in double, the negative log-likelihood summed in
 * double, the error of the estimate from the spread of the per-token values. */
#include "measure.h"

#include "model.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the text ---- */

int measure_read_text(const model *m, const char *path, lm_tokens *out, lm_error *err) {
    char *text = NULL;
    size_t len = 0;
    if (lm_read_file(path, (size_t)256 << 20, &text, &len, err)) return -1;
    if (memchr(text, 0, len)) {
        free(text);
        return lm_fail(err, "%s: not a text file (it holds NUL bytes)", path);
    }
    const tokenizer *tok = model_get_tokenizer(m);
    int rc = tokenizer_encode(tok, text, len, tokenizer_adds_bos(tok), false, out, err);
    free(text);
    return rc;
}

int measure_chunks(int n_tok, int n_ctx, int wanted, lm_error *err) {
    if (n_ctx < 16 || n_ctx % 2)
        return lm_fail(err, "perplexity needs an even context of at least 16 tokens (-c %d)",
                       n_ctx);
    if (n_tok < 2 * n_ctx)
        return lm_fail(err,
                       "the text has %d tokens; perplexity at -c %d needs at least %d (two chunks)",
                       n_tok, n_ctx, 2 * n_ctx);
    int max = n_tok / n_ctx;
    return wanted > 0 && wanted < max ? wanted : max;
}

/* ---- the spool of base logits ---- */

struct measure_spool {
    FILE *f;
    int n_vocab;
};

/* In $TMPDIR (else /tmp), unlinked at once: it goes when the program does. */
measure_spool *measure_spool_create(int n_vocab, lm_error *err) {
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/lmterm-logits-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd >= 0) unlink(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w+b") : NULL;
    if (!f) {
        lm_fail(err, "cannot create a temporary file for the base model's logits in %.*s: %s",
                (int)(strrchr(path, '/') - path), path, strerror(errno));
        if (fd >= 0) close(fd);
        return NULL;
    }
    measure_spool *s = lm_xcalloc(1, sizeof *s);
    s->f = f;
    s->n_vocab = n_vocab;
    return s;
}

void measure_spool_free(measure_spool *s) {
    if (!s) return;
    fclose(s->f);
    free(s);
}

static int spool_chunk(measure_spool *s, int chunk, int n_rows, float *rows, bool write,
                       lm_error *err) {
    size_t n = (size_t)n_rows * (size_t)s->n_vocab;
    off_t at = (off_t)chunk * (off_t)n * (off_t)sizeof(float);
    if (fseeko(s->f, at, SEEK_SET) != 0) return lm_fail(err, "cannot seek in the logits spool");
    size_t done =
        write ? fwrite(rows, sizeof(float), n, s->f) : fread(rows, sizeof(float), n, s->f);
    if (done != n)
        return lm_fail(err,
                       write ? "cannot write the base logits (disk full?)"
                             : "the base logits are missing for chunk %d",
                       chunk + 1);
    return 0;
}

/* ---- one chunk ---- */

/* Logits of positions first .. n-2 of toks (n-1-first rows) from an empty
 * cache: the positions before `first` are context only; the scored ones
 * come from one batched call that keeps every position's logits. Returns
 * 0, 1 when stopped, -1 with err. */
static int eval_scored(model *m, const int32_t *toks, int n, int first, float *out,
                       const measure_ppl_options *o, double done, double total, lm_error *err) {
    model_kv_truncate(m, 0);
    int rc = model_eval(m, toks, first, NULL, o->cancel, err);
    if (o->on_progress) o->on_progress(o->ctx, (done + 0.5) / total);
    if (rc == 0) rc = model_eval_all(m, toks + first, n - 1 - first, out, o->cancel, err);
    return rc;
}

/* log p(token) under the row's softmax, as llama-perplexity's log_softmax. */
static double log_prob(const float *logits, int n_vocab, int token) {
    float max = logits[0];
    for (int i = 1; i < n_vocab; i++)
        if (logits[i] > max) max = logits[i];
    double sum = 0;
    for (int i = 0; i < n_vocab; i++) sum += expf(logits[i] - max);
    return logits[token] - max - log(sum);
}

static int argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

/* KL(base || model) of one position, softmax in double. */
static double kl_divergence(const float *base, const float *mod, int n_vocab) {
    float mb = base[0], mm = mod[0];
    for (int i = 1; i < n_vocab; i++) {
        if (base[i] > mb) mb = base[i];
        if (mod[i] > mm) mm = mod[i];
    }
    double sb = 0, sm = 0;
    for (int i = 0; i < n_vocab; i++) {
        sb += exp((double)base[i] - mb);
        sm += exp((double)mod[i] - mm);
    }
    const double lsb = log(sb), lsm = log(sm);
    double kl = 0;
    for (int i = 0; i < n_vocab; i++) {
        double lpb = (double)base[i] - mb - lsb, lpm = (double)mod[i] - mm - lsm;
        kl += exp(lpb) * (lpb - lpm);
    }
    return kl;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- the whole text ---- */

typedef struct ppl_state {
    double nll, nll2;
    int count;
    double *kld; /* per scored position */
    int n_kld, same_top;
} ppl_state;

static void score_chunk(ppl_state *st, const float *logits, const float *base, const int32_t *toks,
                        int first, int n, int n_vocab) {
    for (int j = first; j < n - 1; j++) {
        const float *row = logits + (size_t)(j - first) * n_vocab;
        double v = -log_prob(row, n_vocab, toks[j + 1]);
        st->nll += v;
        st->nll2 += v * v;
        st->count++;
        if (!base) continue;
        const float *b = base + (size_t)(j - first) * n_vocab;
        st->kld[st->n_kld++] = kl_divergence(b, row, n_vocab);
        st->same_top += argmax(b, n_vocab) == argmax(row, n_vocab);
    }
}

static void finish(const ppl_state *st, measure_ppl_result *r) {
    if (st->count == 0) return;
    double nll = st->nll / st->count, nll2 = st->nll2 / st->count;
    r->ppl = exp(nll);
    double var = nll2 - nll * nll;
    r->ppl_err = var > 0 && st->count > 1 ? sqrt(var / (st->count - 1)) * r->ppl : 0;
    r->n_scored = st->count;
    if (!st->n_kld) return;
    double sum = 0, max = 0;
    for (int i = 0; i < st->n_kld; i++) {
        sum += st->kld[i];
        if (st->kld[i] > max) max = st->kld[i];
    }
    qsort(st->kld, (size_t)st->n_kld, sizeof *st->kld, compare_doubles);
    int n = st->n_kld;
    r->has_kl = true;
    r->kld_mean = sum / n;
    r->kld_max = max;
    r->kld_median = n % 2 ? st->kld[n / 2] : (st->kld[n / 2 - 1] + st->kld[n / 2]) / 2;
    r->same_top_pct = 100.0 * st->same_top / n;
}

void measure_ppl_result_free(measure_ppl_result *r) {
    free(r->ppl_by_chunk);
    memset(r, 0, sizeof *r);
}

int measure_perplexity(model *m, const lm_tokens *toks, const measure_ppl_options *o,
                       measure_spool *base_out, measure_spool *base_in, measure_ppl_result *r,
                       lm_error *err) {
    memset(r, 0, sizeof *r);
    const int n_ctx = o->n_ctx, first = n_ctx / 2, n_vocab = model_get_hparams(m)->n_vocab;
    int n_chunks = measure_chunks((int)toks->n, n_ctx, o->n_chunks, err);
    if (n_chunks < 0) return -1;
    if (model_n_ctx(m) < n_ctx)
        return lm_fail(err, "the model's context (%d) is shorter than a chunk (%d)", model_n_ctx(m),
                       n_ctx);
    if ((base_in && base_in->n_vocab != n_vocab) || (base_out && base_out->n_vocab != n_vocab))
        return lm_fail(err, "the base model has another vocabulary (%d tokens, this one %d)",
                       base_in ? base_in->n_vocab : base_out->n_vocab, n_vocab);
    const int rows = n_ctx - 1 - first;
    float *logits = lm_alloc_aligned((size_t)rows * n_vocab * sizeof(float));
    float *base = base_in ? lm_alloc_aligned((size_t)rows * n_vocab * sizeof(float)) : NULL;
    int32_t *chunk = lm_xmalloc((size_t)n_ctx * sizeof *chunk);
    ppl_state st = {0};
    if (base_in) st.kld = lm_xmalloc((size_t)n_chunks * rows * sizeof *st.kld);
    r->ppl_by_chunk = lm_xcalloc((size_t)n_chunks, sizeof *r->ppl_by_chunk);
    const int32_t bos = tokenizer_bos(model_get_tokenizer(m));
    const bool add_bos = tokenizer_adds_bos(model_get_tokenizer(m)) && bos >= 0;
    int rc =
        !logits || (base_in && !base) ? lm_fail(err, "not enough memory for a chunk's logits") : 0;
    for (int c = 0; rc == 0 && c < n_chunks; c++) {
        memcpy(chunk, toks->ids + (size_t)c * n_ctx, (size_t)n_ctx * sizeof *chunk);
        if (add_bos) chunk[0] = bos;
        rc = eval_scored(m, chunk, n_ctx, first, logits, o, c, n_chunks, err);
        if (rc == 0 && base_out) rc = spool_chunk(base_out, c, rows, logits, true, err);
        if (rc == 0 && base_in) rc = spool_chunk(base_in, c, rows, base, false, err);
        if (rc) break;
        score_chunk(&st, logits, base, chunk, first, n_ctx, n_vocab);
        r->ppl_by_chunk[c] = exp(st.nll / st.count);
        r->n_chunks = c + 1;
        if (o->on_chunk) o->on_chunk(o->ctx, c + 1, n_chunks, r->ppl_by_chunk[c]);
    }
    finish(&st, r);
    lm_free_aligned(logits);
    lm_free_aligned(base);
    free(chunk);
    free(st.kld);
    if (rc < 0) measure_ppl_result_free(r);
    return rc;
}

/* ---- speed ---- */

int32_t measure_random_token(uint64_t *state, int n_vocab) {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return (int32_t)((*state * 2685821657736338717ull >> 33) % (uint64_t)n_vocab);
}

double measure_prompt_tps(model *m, uint64_t *rng, int32_t *ids, int n, float *logits,
                          const atomic_bool *stop, lm_error *err) {
    int n_vocab = model_get_hparams(m)->n_vocab;
    for (int i = 0; i < n; i++) ids[i] = measure_random_token(rng, n_vocab);
    model_kv_truncate(m, 0);
    double t0 = lm_now();
    int rc = model_eval(m, ids, n, logits, stop, err);
    if (rc) return (rc > 0 ? lm_fail(err, "stopped") : 0), -1;
    return n / (lm_now() - t0);
}

double measure_gen_tps(model *m, uint64_t *rng, int n, int depth, float *logits,
                       const atomic_bool *stop, lm_error *err) {
    int n_vocab = model_get_hparams(m)->n_vocab;
    model_kv_truncate(m, depth);
    double t0 = lm_now();
    for (int i = 0; i < n; i++) {
        int32_t id = measure_random_token(rng, n_vocab);
        if (stop && atomic_load(stop)) return lm_fail(err, "stopped");
        if (model_eval(m, &id, 1, logits, NULL, err)) return -1;
    }
    return n / (lm_now() - t0);
}

/* Sequences and attention: model_decode gives each sequence the bits of the
 * one-token path; sequences do not touch each other's caches; all-position
 * logits agree with the last-position ones; the f16 and q8_0 caches agree
 * with f32; the tiled (flash) attention agrees with a plain softmax. */
#include "../../../src/infer/model_impl.h" /* attention_layer and the cache layout */
#include "model.h"
#include "synth.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

static const char *backends[] = {"scalar", "avx2", "avx512"};

/* A synthetic model of the given shape in the test folder. */
static model *synth_model(const char *arch, const char *shape, enum quant_type type, int n_ctx,
                          enum model_cache_type cache) {
    char path[1024];
    snprintf(path, sizeof path, "%s/seq-%s-%s-%s.gguf", test_tmpdir(), arch, shape,
             quant_info(type)->name);
    synth_options so = {
        .arch = arch, .shape = shape, .type = type, .output_type = QT_COUNT, .seed = 7};
    lm_error err;
    if (access(path, R_OK) != 0 && synth_write(&so, path, &err)) {
        test_fail(__FILE__, __LINE__, "synth: %s", err.msg);
        return NULL;
    }
    model_options mo = {.n_ctx = n_ctx, .n_threads = 2, .cache_type = cache};
    model *m = model_load(path, &mo, &err);
    CHECK_MSG(m != NULL, "load: %s", err.msg);
    return m;
}

static void fill_tokens(int32_t *ids, int n, int n_vocab, unsigned seed) {
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        ids[i] = (int32_t)((seed >> 8) % (unsigned)(n_vocab - 10)) + 5;
    }
}

#define NSEQ 5

/* Decodes NSEQ sequences of different lengths and cache types together and
 * each alone (twins with the same history); the logits must be identical. */
static void check_decode_bits(model *m, const char *what) {
    const int n_vocab = model_get_hparams(m)->n_vocab;
    const bool q8 = model_get_hparams(m)->head_dim % 32 == 0;
    const int lens[NSEQ] = {1, 17, 70, 3, 130}; /* across key tiles of 64 */
    const enum model_cache_type types[NSEQ] = {MODEL_CACHE_F16,
                                               q8 ? MODEL_CACHE_Q8_0 : MODEL_CACHE_F32,
                                               MODEL_CACHE_F32, MODEL_CACHE_F16, MODEL_CACHE_F16};
    model_seq *a[NSEQ], *b[NSEQ];
    lm_error err;
    float *la = lm_xmalloc((size_t)NSEQ * n_vocab * sizeof(float));
    float *lb = lm_xmalloc((size_t)n_vocab * sizeof(float));
    int32_t ids[160];
    for (int i = 0; i < NSEQ; i++) {
        a[i] = model_seq_create(m, 200 + 10 * i, types[i], &err);
        b[i] = model_seq_create(m, 200 + 10 * i, types[i], &err);
        CHECK(a[i] && b[i]);
        if (!a[i] || !b[i]) return;
        fill_tokens(ids, lens[i], n_vocab, 11u + (unsigned)i);
        CHECK(model_seq_eval(m, a[i], ids, lens[i], NULL, false, NULL, &err) == 0);
        CHECK(model_seq_eval(m, b[i], ids, lens[i], NULL, false, NULL, &err) == 0);
    }
    int mismatches = 0;
    for (int step = 0; step < 3; step++) {
        int32_t tok[NSEQ];
        fill_tokens(tok, NSEQ, n_vocab, 100u + (unsigned)step);
        CHECK(model_decode(m, a, tok, NSEQ, la, &err) == 0);
        for (int i = 0; i < NSEQ; i++) {
            CHECK(model_seq_eval(m, b[i], &tok[i], 1, lb, false, NULL, &err) == 0);
            CHECK_EQ_INT(model_seq_n_past(a[i]), lens[i] + step + 1);
            if (memcmp(la + (size_t)i * n_vocab, lb, (size_t)n_vocab * sizeof(float)) != 0)
                mismatches++;
        }
    }
    CHECK_MSG(mismatches == 0, "%s on %s: %d of %d rows differ from the one-token path", what,
              kernels_backend(), mismatches, 3 * NSEQ);
    for (int i = 0; i < NSEQ; i++) {
        model_seq_free(a[i]);
        model_seq_free(b[i]);
    }
    free(la);
    free(lb);
}

TEST(model_decode_bit_identical_to_one_token) {
    struct {
        const char *arch, *shape;
        enum quant_type type;
    } cases[] = {{"phi3", "small", QT_Q4_0},
                 {"llama", "small", QT_Q4_K},
                 {"llama", "tiny", QT_F16},
                 {"phi3", "tiny", QT_Q8_0}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        model *m = synth_model(cases[c].arch, cases[c].shape, cases[c].type, 256, MODEL_CACHE_F16);
        if (!m) continue;
        for (int b = 0; b < 3; b++) {
            if (kernels_set_backend(backends[b]) != 0) continue;
            char what[96];
            snprintf(what, sizeof what, "%s %s %s", cases[c].arch, cases[c].shape,
                     quant_info(cases[c].type)->name);
            check_decode_bits(m, what);
        }
        kernels_set_backend(NULL);
        model_free(m);
    }
}

TEST(model_decode_refuses_bad_batches) {
    model *m = synth_model("phi3", "tiny", QT_Q8_0, 64, MODEL_CACHE_F16);
    if (!m) return;
    lm_error err;
    model_seq *s = model_seq_create(m, 4, MODEL_CACHE_F32, &err);
    CHECK(s != NULL);
    model_seq *twice[2] = {s, s};
    int32_t tok[2] = {5, 6};
    float *logits = lm_xmalloc(2 * (size_t)model_get_hparams(m)->n_vocab * sizeof(float));
    CHECK(model_decode(m, twice, tok, 2, logits, &err) == -1);
    CHECK(strstr(err.msg, "twice") != NULL);
    CHECK_EQ_INT(model_seq_n_past(s), 0);
    int32_t bad = -3;
    CHECK(model_decode(m, &s, &bad, 1, logits, &err) == -1);
    for (int i = 0; i < 4; i++) CHECK(model_decode(m, &s, tok, 1, logits, &err) == 0);
    CHECK(model_decode(m, &s, tok, 1, logits, &err) == -1); /* full */
    CHECK_EQ_INT(model_seq_n_past(s), 4);
    model_seq_truncate(s, 1);
    CHECK_EQ_INT(model_seq_n_past(s), 1);
    CHECK(model_decode(m, &s, tok, 1, logits, &err) == 0);
    model *other = synth_model("phi3", "tiny", QT_Q8_0, 64, MODEL_CACHE_F16);
    if (other) {
        CHECK(model_seq_eval(other, s, tok, 1, logits, false, NULL, &err) == -1);
        model_free(other);
    }
    CHECK(model_seq_create(m, 16, MODEL_CACHE_Q8_0, &err) == NULL); /* head size 16 */
    model_seq_free(s);
    free(logits);
    model_free(m);
}

/* One sequence's work leaves another's cache and logits as they were. */
TEST(model_sequences_are_independent) {
    model *m = synth_model("llama", "small", QT_Q8_0, 128, MODEL_CACHE_F16);
    if (!m) return;
    const int n_vocab = model_get_hparams(m)->n_vocab;
    lm_error err;
    model_seq *x = model_seq_create(m, 128, MODEL_CACHE_F16, &err);
    model_seq *y = model_seq_create(m, 96, MODEL_CACHE_F16, &err);
    int32_t ids[40];
    fill_tokens(ids, 40, n_vocab, 3);
    float *l1 = lm_xmalloc((size_t)n_vocab * sizeof(float));
    float *l2 = lm_xmalloc((size_t)n_vocab * sizeof(float));
    CHECK(model_seq_eval(m, y, ids, 20, NULL, false, NULL, &err) == 0);
    uint8_t *k_before = lm_xmalloc(y->bytes / 2), *v_before = lm_xmalloc(y->bytes / 2);
    memcpy(k_before, y->k, y->bytes / 2);
    memcpy(v_before, y->v, y->bytes / 2);
    CHECK(model_seq_eval(m, x, ids + 5, 35, NULL, false, NULL, &err) == 0);
    CHECK(model_eval(m, ids, 30, NULL, NULL, &err) == 0); /* the default sequence */
    CHECK(model_decode(m, &x, ids, 1, l1, &err) == 0);
    CHECK(memcmp(k_before, y->k, y->bytes / 2) == 0);
    CHECK(memcmp(v_before, y->v, y->bytes / 2) == 0);
    CHECK_EQ_INT(model_seq_n_past(y), 20);
    CHECK_EQ_INT(model_n_past(m), 30);
    /* y continues as a fresh sequence with the same history does */
    model_seq *z = model_seq_create(m, 96, MODEL_CACHE_F16, &err);
    CHECK(model_seq_eval(m, z, ids, 20, NULL, false, NULL, &err) == 0);
    CHECK(model_seq_eval(m, y, ids + 20, 1, l1, false, NULL, &err) == 0);
    CHECK(model_seq_eval(m, z, ids + 20, 1, l2, false, NULL, &err) == 0);
    CHECK(memcmp(l1, l2, (size_t)n_vocab * sizeof(float)) == 0);
    model_seq_free(x);
    model_seq_free(y);
    model_seq_free(z);
    free(k_before);
    free(v_before);
    free(l1);
    free(l2);
    model_free(m);
}

static double std_of(const float *x, int n) {
    double s = 0, s2 = 0;
    for (int i = 0; i < n; i++) s += x[i];
    for (int i = 0; i < n; i++) s2 += (x[i] - s / n) * (x[i] - s / n);
    return sqrt(s2 / n);
}

static double max_rel_diff(const float *a, const float *b, int n) {
    double d = 0;
    for (int i = 0; i < n; i++)
        if (fabs((double)a[i] - b[i]) > d) d = fabs((double)a[i] - b[i]);
    return d / std_of(b, n);
}

/* Row i of model_eval_all is the last-token logits of the first i+1 tokens. */
TEST(model_eval_all_rows_match_prefixes) {
    model *m = synth_model("phi3", "small", QT_Q8_0, 700, MODEL_CACHE_F16);
    if (!m) return;
    const int n_vocab = model_get_hparams(m)->n_vocab, n = 600; /* two batches of 512 max */
    lm_error err;
    int32_t ids[600];
    fill_tokens(ids, n, n_vocab, 5);
    float *all = lm_xmalloc((size_t)n * n_vocab * sizeof(float));
    float *one = lm_xmalloc((size_t)n_vocab * sizeof(float));
    CHECK(model_eval_all(m, ids, n, all, NULL, &err) == 0);
    CHECK_EQ_INT(model_n_past(m), n);
    const int probes[] = {1, 2, 63, 64, 65, 300, 512, 513, 600};
    for (size_t p = 0; p < sizeof probes / sizeof *probes; p++) {
        model_kv_truncate(m, 0);
        CHECK(model_eval(m, ids, probes[p], one, NULL, &err) == 0);
        double d = max_rel_diff(all + (size_t)(probes[p] - 1) * n_vocab, one, n_vocab);
        CHECK_MSG(d < 0.02, "row %d differs by %.5f s", probes[p] - 1, d);
    }
    free(all);
    free(one);
    model_free(m);
}

/* The steps between the products are shared out over the pool's slots
 * (tokens, heads, columns: model.c): every logit must be the same bits with
 * 1 to 4 threads, for a prompt of two batches (every position's logits) and
 * the tokens after it, one at a time and as a decode batch. */
static float *thread_run(const char *arch, enum quant_type type, int threads, int n,
                         int *n_vocab_out) {
    char path[1024];
    snprintf(path, sizeof path, "%s/seq-%s-small-%s.gguf", test_tmpdir(), arch,
             quant_info(type)->name);
    synth_options so = {
        .arch = arch, .shape = "small", .type = type, .output_type = QT_COUNT, .seed = 7};
    lm_error err;
    if (access(path, R_OK) != 0 && synth_write(&so, path, &err)) {
        test_fail(__FILE__, __LINE__, "synth: %s", err.msg);
        return NULL;
    }
    model_options mo = {.n_ctx = 512, .n_threads = threads};
    model *m = model_load(path, &mo, &err);
    CHECK_MSG(m != NULL, "load: %s", err.msg);
    if (!m) return NULL;
    const int n_vocab = *n_vocab_out = model_get_hparams(m)->n_vocab;
    /* n prompt logits, one token alone, then two sequences decoded together */
    float *out = lm_xcalloc((size_t)(n + 3) * n_vocab, sizeof(float));
    int32_t ids[400];
    fill_tokens(ids, n + 3, n_vocab, 21);
    model_seq *other = model_seq_create(m, 64, MODEL_CACHE_F16, &err);
    CHECK(other != NULL);
    CHECK(model_eval_all(m, ids, n, out, NULL, &err) == 0);
    CHECK(model_eval(m, ids + n, 1, out + (size_t)n * n_vocab, NULL, &err) == 0);
    CHECK(model_seq_eval(m, other, ids, 5, NULL, false, NULL, &err) == 0);
    model_seq *both[2] = {model_default_seq(m), other};
    CHECK(model_decode(m, both, ids + n + 1, 2, out + (size_t)(n + 1) * n_vocab, &err) == 0);
    model_seq_free(other);
    model_free(m);
    return out;
}

TEST(model_logits_do_not_depend_on_thread_count) {
    const struct {
        const char *arch;
        enum quant_type type;
    } cases[] = {{"phi3", QT_Q4_0}, {"llama", QT_Q4_K}, {"llama", QT_F32}};
    const int n = 300; /* two batches of at most 256 */
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        float *ref = NULL;
        int vocab = 0;
        for (int threads = 1; threads <= 4; threads++) {
            float *got = thread_run(cases[c].arch, cases[c].type, threads, n, &vocab);
            if (!got) break;
            if (!ref) {
                ref = got;
                continue;
            }
            size_t differ = 0;
            for (size_t i = 0; i < (size_t)(n + 3) * vocab; i++)
                differ += memcmp(&got[i], &ref[i], sizeof(float)) != 0;
            CHECK_MSG(differ == 0, "%s %s, %d threads: %zu logits differ from 1 thread's",
                      cases[c].arch, quant_info(cases[c].type)->name, threads, differ);
            free(got);
        }
        free(ref);
    }
}

/* The f16 and q8_0 caches against f32, on a prompt long enough for several
 * key tiles: f16 within the conformance tolerance of the weights' type, q8_0
 * (8-bit codes, as Q8_0 weights) within Q8_0's. */
TEST(model_cache_types_agree_with_f32) {
    struct {
        const char *arch;
        enum quant_type type;
        double tol;
    } cases[] = {{"phi3", QT_F32, 0.005}, {"llama", QT_Q8_0, 0.15}};
    for (size_t c = 0; c < 2; c++) {
        model *m[3];
        float *l[3];
        int n_vocab = 0;
        int32_t ids[300];
        for (int t = 0; t < 3; t++) {
            m[t] =
                synth_model(cases[c].arch, "small", cases[c].type, 512, (enum model_cache_type)t);
            l[t] = NULL;
            if (!m[t]) continue;
            n_vocab = model_get_hparams(m[t])->n_vocab;
            CHECK(model_cache_type(m[t]) == (enum model_cache_type)t);
            fill_tokens(ids, 300, n_vocab, 9);
            l[t] = lm_xmalloc((size_t)n_vocab * sizeof(float));
            lm_error err;
            CHECK(model_eval(m[t], ids, 300, l[t], NULL, &err) == 0);
        }
        if (l[0] && l[1] && l[2]) {
            double d16 = max_rel_diff(l[MODEL_CACHE_F16], l[MODEL_CACHE_F32], n_vocab);
            double d8 = max_rel_diff(l[MODEL_CACHE_Q8_0], l[MODEL_CACHE_F32], n_vocab);
            CHECK_MSG(d16 <= cases[c].tol, "f16 cache: %.5f s > %.3f", d16, cases[c].tol);
            CHECK_MSG(d8 <= 0.15, "q8_0 cache: %.5f s > 0.15", d8);
            CHECK(d16 > 0 && d8 > d16); /* the cache types are really different */
            printf("    %s %s: f16 cache %.5f s, q8_0 cache %.5f s from f32\n", cases[c].arch,
                   quant_info(cases[c].type)->name, d16, d8);
            CHECK(model_kv_bytes(m[MODEL_CACHE_F16]) * 2 == model_kv_bytes(m[MODEL_CACHE_F32]));
            CHECK(model_kv_bytes(m[MODEL_CACHE_Q8_0]) < model_kv_bytes(m[MODEL_CACHE_F16]));
        }
        for (int t = 0; t < 3; t++) {
            free(l[t]);
            model_free(m[t]);
        }
    }
}

/* ---- attention_layer against a plain softmax ---- */

typedef struct fake {
    model m;
    model_seq sq;
    float *k, *v; /* [kv head][pos][hd] as floats, after the cache's rounding */
} fake;

static float frand(unsigned *s) {
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

/* A model with only what attention_layer reads, a cache of n_past + n keys
 * of random (sharp) values and random queries for n tokens. */
static void fake_init(fake *f, threadpool *pool, int n_head, int n_kv, int hd, int window,
                      int n_ctx, enum model_cache_type type, int n_tok) {
    memset(f, 0, sizeof *f);
    model *m = &f->m;
    m->hp.n_head = n_head;
    m->hp.n_head_kv = n_kv;
    m->hp.head_dim = hd;
    m->hp.n_layer = 1;
    m->hp.sliding_window = window;
    m->q_dim = n_head * hd;
    m->kv_dim = n_kv * hd;
    m->pool = pool;
    m->s.max_batch = n_tok;
    m->s.qkv = lm_xcalloc((size_t)n_tok * (m->q_dim + 2 * m->kv_dim), sizeof(float));
    m->s.q_stride = m->q_dim + 2 * m->kv_dim; /* phi3's q | k | v rows */
    m->s.att = lm_xcalloc((size_t)n_tok * m->q_dim, sizeof(float));
    m->s.pos = lm_xcalloc((size_t)n_tok, sizeof(int));
    m->s.seq = lm_xcalloc((size_t)n_tok, sizeof(model_seq *));
    m->s.attn_slot_bytes = (attention_slot_bytes(&m->hp) + 63) & ~(size_t)63;
    m->s.attn = lm_alloc_aligned(m->s.attn_slot_bytes * (size_t)threadpool_size(pool));
    f->sq.m = m;
    f->sq.type = type;
    f->sq.n_ctx = n_ctx;
    f->sq.row_bytes = type == MODEL_CACHE_F32   ? (size_t)hd * 4
                      : type == MODEL_CACHE_F16 ? (size_t)hd * 2
                                                : quant_row_size(QT_Q8_0, hd);
    f->sq.k = lm_xcalloc((size_t)n_kv * n_ctx, f->sq.row_bytes);
    f->sq.v = lm_xcalloc((size_t)n_kv * n_ctx, f->sq.row_bytes);
    f->k = lm_xcalloc((size_t)n_kv * n_ctx * hd, sizeof(float));
    f->v = lm_xcalloc((size_t)n_kv * n_ctx * hd, sizeof(float));
    unsigned seed = 1234;
    float *row = lm_xmalloc((size_t)hd * sizeof(float));
    for (int h = 0; h < n_kv; h++)
        for (int p = 0; p < n_ctx; p++)
            for (int kv = 0; kv < 2; kv++) {
                for (int d = 0; d < hd; d++) row[d] = 3.0f * frand(&seed);
                uint8_t *dst = (kv ? f->sq.v : f->sq.k) + model_seq_row(&f->sq, 0, h, p);
                float *ref = (kv ? f->v : f->k) + ((size_t)h * n_ctx + p) * hd;
                if (type == MODEL_CACHE_F32)
                    memcpy(dst, row, (size_t)hd * 4);
                else
                    quant_quantize_row(type == MODEL_CACHE_F16 ? QT_F16 : QT_Q8_0, row, dst, hd);
                quant_dequantize_row(type == MODEL_CACHE_F32   ? QT_F32
                                     : type == MODEL_CACHE_F16 ? QT_F16
                                                               : QT_Q8_0,
                                     dst, ref, hd);
            }
    free(row);
    const int stride = m->q_dim + 2 * m->kv_dim;
    for (int t = 0; t < n_tok; t++)
        for (int i = 0; i < m->q_dim; i++) m->s.qkv[(size_t)t * stride + i] = frand(&seed);
}

static void fake_free(fake *f) {
    free(f->m.s.qkv);
    free(f->m.s.att);
    free(f->m.s.pos);
    free(f->m.s.seq);
    lm_free_aligned(f->m.s.attn);
    free(f->sq.k);
    free(f->sq.v);
    free(f->k);
    free(f->v);
}

/* The plain attention, in double, of token t's head h; max |difference|. */
static double check_against_plain(const fake *f, int t, float scale) {
    const model *m = &f->m;
    const int hd = m->hp.head_dim, group = m->hp.n_head / m->hp.n_head_kv;
    const int pos = m->s.pos[t], w = m->hp.sliding_window;
    const int first = w > 0 && pos - w + 1 > 0 ? pos - w + 1 : 0;
    double worst = 0;
    for (int h = 0; h < m->hp.n_head; h++) {
        const float *q = m->s.qkv + (size_t)t * (m->q_dim + 2 * m->kv_dim) + h * hd;
        const int kvh = h / group;
        double mx = -INFINITY, sum = 0, *sc = calloc((size_t)pos + 1, sizeof(double));
        for (int j = first; j <= pos; j++) {
            const float *k = f->k + ((size_t)kvh * f->sq.n_ctx + j) * hd;
            double dot = 0;
            for (int d = 0; d < hd; d++) dot += (double)q[d] * k[d];
            sc[j] = dot * scale;
            if (sc[j] > mx) mx = sc[j];
        }
        for (int j = first; j <= pos; j++) sum += sc[j] = exp(sc[j] - mx);
        for (int d = 0; d < hd; d++) {
            double o = 0;
            for (int j = first; j <= pos; j++)
                o += sc[j] / sum * f->v[((size_t)kvh * f->sq.n_ctx + j) * hd + d];
            double got = m->s.att[(size_t)t * m->q_dim + h * hd + d];
            if (fabs(got - o) > worst) worst = fabs(got - o);
        }
        free(sc);
    }
    return worst;
}

TEST(attention_tiled_matches_plain_softmax) {
    threadpool *pool = threadpool_create(3);
    struct {
        int n_head, n_kv, hd, window, n_past, n_tok;
        enum model_cache_type type;
    } cases[] = {
        {4, 4, 96, 0, 0, 150, MODEL_CACHE_F16},    /* phi3-like, a prompt from 0 */
        {8, 2, 128, 0, 37, 70, MODEL_CACHE_F32},   /* GQA, a prompt after 37 */
        {4, 1, 8, 0, 5, 33, MODEL_CACHE_F32},      /* tiny heads, 16 query rows per block */
        {2, 2, 32, 50, 100, 90, MODEL_CACHE_Q8_0}, /* sliding window */
        {80, 1, 16, 0, 10, 3, MODEL_CACHE_F16},    /* more heads per KV head than rows */
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        for (int b = 0; b < 3; b++) {
            if (kernels_set_backend(backends[b]) != 0) continue;
            for (int decode = 0; decode < 2; decode++) {
                fake f;
                const int n_tok = cases[c].n_tok;
                fake_init(&f, pool, cases[c].n_head, cases[c].n_kv, cases[c].hd, cases[c].window,
                          cases[c].n_past + n_tok + 5, cases[c].type, n_tok);
                for (int t = 0; t < n_tok; t++) {
                    f.m.s.seq[t] = &f.sq;
                    /* decode: tokens of "different sequences" at scattered positions */
                    f.m.s.pos[t] =
                        decode ? (t * 37) % (cases[c].n_past + n_tok) : cases[c].n_past + t;
                }
                const float scale = 0.7f;
                attention_layer(&f.m, 0, n_tok, scale, decode);
                double worst = 0;
                for (int t = 0; t < n_tok; t++) {
                    double d = check_against_plain(&f, t, scale);
                    if (d > worst) worst = d;
                }
                CHECK_MSG(worst < 2e-4, "case %zu %s %s: max |d| %.3g", c, backends[b],
                          decode ? "decode" : "prompt", worst);
                fake_free(&f);
            }
        }
    kernels_set_backend(NULL);
    threadpool_free(pool);
}

/* attention: the forward pass's attention over the KV caches, split among
 * the pool's threads. Keys are read in tiles of ATTN_KEYS with an online
 * softmax (flash-attention style): each query row keeps its running maximum
 * m, its sum of weights l and its unnormalised output o, and a new tile
 * rescales them by exp(m_old - m_new). No score row as long as the context
 * is ever held, so a long prompt costs time in proportion to its keys, not
 * memory.
 *
 * Prompts: a block is up to ATTN_ROWS query rows (consecutive tokens times
 * the heads sharing one KV head); each tile is then two small matrix
 * products (scores = K Q^T, o += P V) with the queries along the vector
 * lanes, so that the softmax runs down the lanes too. Generation: a block is
 * the heads of one KV head for one token; the scores are dot products along
 * the head, the softmax runs along the keys.
 *
 * This file holds the portable kernels (the scalar twin of
 * attention_avx2.c and attention_avx512.c) and the driver. */
#include "model_impl.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

static int round16(int n) {
    return (n + 15) & ~15;
}

/* ---- portable kernels ---- */

static void load_rows_ref(enum model_cache_type t, const uint8_t *src, size_t row_bytes, int n,
                          int hd, int hdp, float *dst) {
    for (int j = 0; j < n; j++, src += row_bytes, dst += hdp) {
        switch (t) {
        case MODEL_CACHE_F32:
            memcpy(dst, src, (size_t)hd * sizeof *dst);
            break;
        case MODEL_CACHE_F16:
            quant_dequantize_row(QT_F16, src, dst, hd);
            break;
        case MODEL_CACHE_Q8_0:
            quant_dequantize_row(QT_Q8_0, src, dst, hd);
            break;
        }
        for (int d = hd; d < hdp; d++) dst[d] = 0;
    }
}

static void prompt_scores_ref(const float *k, int nk, const float *qt, int nqp, int hdp,
                              float *st) {
    for (int j = 0; j < nk; j++) {
        float *row = st + (size_t)j * ATTN_ROWS;
        for (int i = 0; i < nqp; i++) row[i] = 0;
        for (int d = 0; d < hdp; d++) {
            const float kd = k[(size_t)j * hdp + d];
            const float *q = qt + (size_t)d * ATTN_ROWS;
            for (int i = 0; i < nqp; i++) row[i] += kd * q[i];
        }
    }
}

/* One row's softmax step over n weights p[0], p[step], ...; -INFINITY marks
 * a key the row does not see. */
static void softmax_row_ref(float *p, size_t step, int n, float *mx, float *l, float *c) {
    float m = *mx;
    for (int j = 0; j < n; j++)
        if (p[j * step] > m) m = p[j * step];
    if (m == -INFINITY) { /* nothing visible yet */
        for (int j = 0; j < n; j++) p[j * step] = 0;
        *c = 1;
        return;
    }
    *c = expf(*mx - m);
    float sum = 0;
    for (int j = 0; j < n; j++) {
        p[j * step] = expf(p[j * step] - m);
        sum += p[j * step];
    }
    *l = *l * *c + sum;
    *mx = m;
}

static void prompt_softmax_ref(float *st, int nk, int nqp, int k0, const float *first,
                               const float *pos, float scale, float *mx, float *l, float *c) {
    for (int i = 0; i < nqp; i++) {
        for (int j = 0; j < nk; j++) {
            float *s = st + (size_t)j * ATTN_ROWS + i;
            const float key = (float)(k0 + j);
            *s = key < first[i] || key > pos[i] ? -INFINITY : *s * scale;
        }
        softmax_row_ref(st + i, ATTN_ROWS, nk, &mx[i], &l[i], &c[i]);
    }
}

static void decode_scores_ref(const float *q, int nq, const float *k, int nk, int hdp, float *s) {
    for (int i = 0; i < nq; i++)
        for (int j = 0; j < nk; j++) {
            float dot = 0;
            for (int d = 0; d < hdp; d++) dot += q[(size_t)i * hdp + d] * k[(size_t)j * hdp + d];
            s[(size_t)i * ATTN_KEYS + j] = dot;
        }
}

static void decode_softmax_ref(float *s, int nq, int nk, float scale, float *mx, float *l,
                               float *c) {
    for (int i = 0; i < nq; i++) {
        float *row = s + (size_t)i * ATTN_KEYS;
        for (int j = 0; j < nk; j++) row[j] *= scale;
        softmax_row_ref(row, 1, nk, &mx[i], &l[i], &c[i]);
    }
}

static void pv_ref(float *o, const float *c, const float *p, size_t pi, size_t pj, const float *v,
                   int nq, int nk, int hdp) {
    for (int i = 0; i < nq; i++) {
        float *oi = o + (size_t)i * hdp;
        for (int d = 0; d < hdp; d++) oi[d] *= c[i];
        for (int j = 0; j < nk; j++) {
            const float w = p[i * pi + j * pj];
            for (int d = 0; d < hdp; d++) oi[d] += w * v[(size_t)j * hdp + d];
        }
    }
}

static const attn_ops scalar_ops = {
    "scalar",           load_rows_ref, prompt_scores_ref, prompt_softmax_ref, decode_scores_ref,
    decode_softmax_ref, pv_ref};

const attn_ops *attention_scalar_ops(void) {
    return &scalar_ops;
}

const attn_ops *attention_ops(void) {
    const char *b = kernels_backend();
    const attn_ops *o = NULL;
    if (strcmp(b, "avx512") == 0) o = attention_avx512_ops();
    if (!o && (strcmp(b, "avx512") == 0 || strcmp(b, "avx2") == 0)) o = attention_avx2_ops();
    return o ? o : &scalar_ops;
}

/* ---- scratch ---- */

/* One slot's buffers, carved from its share of m->s.attn. */
typedef struct attn_scratch {
    float *q;                        /* prompt: qt[hdp][ATTN_ROWS]; generation: q[rows][hdp] */
    float *k, *v;                    /* [ATTN_KEYS][hdp] */
    float *s;                        /* [ATTN_KEYS][ATTN_ROWS] */
    float *o;                        /* [ATTN_ROWS][hdp] */
    float *mx, *l, *c, *first, *pos; /* [ATTN_ROWS] */
} attn_scratch;

size_t attention_slot_bytes(const model_hparams *hp) {
    const size_t hdp = (size_t)round16(hp->head_dim);
    size_t floats = hdp * ATTN_ROWS + 2 * hdp * ATTN_KEYS + (size_t)ATTN_KEYS * ATTN_ROWS +
                    hdp * ATTN_ROWS + 5 * ATTN_ROWS;
    return floats * sizeof(float) + 64;
}

static attn_scratch scratch_of(const model *m, int ith, int hdp) {
    float *p = (float *)((uint8_t *)m->s.attn + (size_t)ith * m->s.attn_slot_bytes);
    attn_scratch a;
    a.q = p, p += (size_t)hdp * ATTN_ROWS;
    a.k = p, p += (size_t)hdp * ATTN_KEYS;
    a.v = p, p += (size_t)hdp * ATTN_KEYS;
    a.s = p, p += (size_t)ATTN_KEYS * ATTN_ROWS;
    a.o = p, p += (size_t)hdp * ATTN_ROWS;
    a.mx = p, p += ATTN_ROWS;
    a.l = p, p += ATTN_ROWS;
    a.c = p, p += ATTN_ROWS;
    a.first = p, p += ATTN_ROWS;
    a.pos = p;
    return a;
}

/* ---- the driver ---- */

typedef struct attn_task {
    model *m;
    const attn_ops *ops;
    int layer, n_tok, hdp, group, q_stride;
    int rows_per_kvh, blocks_per_kvh, n_blocks; /* rows of one KV head: n_tok x group */
    float scale;
    bool decode;
    atomic_int next;
} attn_task;

/* The first key a query at pos sees (the sliding window). */
static int first_key(const model *m, int pos) {
    const int w = m->hp.sliding_window;
    return w > 0 && pos - w + 1 > 0 ? pos - w + 1 : 0;
}

static void init_rows(const attn_ops *ops, attn_scratch *a, int nq, int hdp) {
    for (int i = 0; i < nq; i++) {
        a->mx[i] = -INFINITY;
        a->l[i] = 0;
    }
    memset(a->o, 0, (size_t)nq * hdp * sizeof(float));
    (void)ops;
}

/* Writes o[i] / l[i] to the output row of query row i. */
static void finish_rows(const attn_task *t, const attn_scratch *a, int kvh, int r0, int nq) {
    const model *m = t->m;
    const int hd = m->hp.head_dim;
    for (int i = 0; i < nq; i++) {
        const int r = r0 + i, tok = r / t->group, h = kvh * t->group + r % t->group;
        float *out = m->s.att + (size_t)tok * m->q_dim + (size_t)h * hd;
        const float inv = 1.0f / a->l[i];
        for (int d = 0; d < hd; d++) out[d] = a->o[(size_t)i * t->hdp + d] * inv;
    }
}

static const float *query_of(const attn_task *t, int kvh, int r) {
    const int tok = r / t->group, h = kvh * t->group + r % t->group;
    return t->m->s.qkv + (size_t)tok * t->q_stride + (size_t)h * t->m->hp.head_dim;
}

/* Generation: rows r0..r0+nq of one token (the heads of KV head kvh), whose
 * keys are first..pos of its sequence. */
static void decode_block(const attn_task *t, attn_scratch *a, int kvh, int r0, int nq) {
    const model *m = t->m;
    const attn_ops *ops = t->ops;
    const int hd = m->hp.head_dim, hdp = t->hdp, tok = r0 / t->group;
    const model_seq *sq = m->s.seq[tok];
    const int pos = m->s.pos[tok], first = first_key(m, pos);
    for (int i = 0; i < nq; i++) {
        memcpy(a->q + (size_t)i * hdp, query_of(t, kvh, r0 + i), (size_t)hd * sizeof(float));
        for (int d = hd; d < hdp; d++) a->q[(size_t)i * hdp + d] = 0;
    }
    init_rows(ops, a, nq, hdp);
    const uint8_t *kc = sq->k + model_seq_row(sq, t->layer, kvh, 0);
    const uint8_t *vc = sq->v + model_seq_row(sq, t->layer, kvh, 0);
    for (int k0 = first - first % ATTN_KEYS; k0 <= pos; k0 += ATTN_KEYS) {
        const int j0 = first > k0 ? first : k0;
        const int j1 = pos + 1 < k0 + ATTN_KEYS ? pos + 1 : k0 + ATTN_KEYS, nk = j1 - j0;
        ops->load_rows(sq->type, kc + (size_t)j0 * sq->row_bytes, sq->row_bytes, nk, hd, hdp, a->k);
        ops->load_rows(sq->type, vc + (size_t)j0 * sq->row_bytes, sq->row_bytes, nk, hd, hdp, a->v);
        ops->decode_scores(a->q, nq, a->k, nk, hdp, a->s);
        ops->decode_softmax(a->s, nq, nk, t->scale, a->mx, a->l, a->c);
        ops->pv(a->o, a->c, a->s, ATTN_KEYS, 1, a->v, nq, nk, hdp);
    }
    finish_rows(t, a, kvh, r0, nq);
}

/* A prompt block: rows r0..r0+nq of KV head kvh, tokens of one sequence. */
static void prompt_block(const attn_task *t, attn_scratch *a, int kvh, int r0, int nq) {
    const model *m = t->m;
    const attn_ops *ops = t->ops;
    const int hd = m->hp.head_dim, hdp = t->hdp, nqp = round16(nq);
    const model_seq *sq = m->s.seq[0];
    int kmin = INT32_MAX, kmax = -1;
    for (int i = 0; i < nqp; i++) {
        if (i < nq) {
            const int pos = m->s.pos[(r0 + i) / t->group], first = first_key(m, pos);
            const float *q = query_of(t, kvh, r0 + i);
            for (int d = 0; d < hdp; d++) a->q[(size_t)d * ATTN_ROWS + i] = d < hd ? q[d] : 0;
            a->pos[i] = (float)pos;
            a->first[i] = (float)first;
            kmin = first < kmin ? first : kmin;
            kmax = pos > kmax ? pos : kmax;
        } else { /* padding lanes see no key */
            for (int d = 0; d < hdp; d++) a->q[(size_t)d * ATTN_ROWS + i] = 0;
            a->pos[i] = -1;
            a->first[i] = (float)INT32_MAX;
        }
    }
    init_rows(ops, a, nqp, hdp);
    const uint8_t *kc = sq->k + model_seq_row(sq, t->layer, kvh, 0);
    const uint8_t *vc = sq->v + model_seq_row(sq, t->layer, kvh, 0);
    for (int k0 = kmin - kmin % ATTN_KEYS; k0 <= kmax; k0 += ATTN_KEYS) {
        const int nk = kmax + 1 - k0 < ATTN_KEYS ? kmax + 1 - k0 : ATTN_KEYS;
        ops->load_rows(sq->type, kc + (size_t)k0 * sq->row_bytes, sq->row_bytes, nk, hd, hdp, a->k);
        ops->load_rows(sq->type, vc + (size_t)k0 * sq->row_bytes, sq->row_bytes, nk, hd, hdp, a->v);
        ops->prompt_scores(a->k, nk, a->q, nqp, hdp, a->s);
        ops->prompt_softmax(a->s, nk, nqp, k0, a->first, a->pos, t->scale, a->mx, a->l, a->c);
        ops->pv(a->o, a->c, a->s, 1, ATTN_ROWS, a->v, nq, nk, hdp);
    }
    finish_rows(t, a, kvh, r0, nq);
}

/* Blocks are claimed from the last (the most keys in a prompt) to the first,
 * so that the long ones do not come last. */
static void attention_worker(void *arg, int ith, int nth) {
    (void)nth;
    attn_task *t = arg;
    attn_scratch a = scratch_of(t->m, ith, t->hdp);
    for (int b; (b = atomic_fetch_add(&t->next, 1)) < t->n_blocks;) {
        const int idx = t->n_blocks - 1 - b;
        const int n_kv = t->m->hp.n_head_kv, kvh = idx % n_kv, blk = idx / n_kv;
        int r0, nq;
        if (t->decode) { /* a block never spans two tokens */
            const int per_tok = (t->group + ATTN_ROWS - 1) / ATTN_ROWS;
            const int tok = blk / per_tok, part = blk % per_tok;
            r0 = tok * t->group + part * ATTN_ROWS;
            nq = t->group - part * ATTN_ROWS < ATTN_ROWS ? t->group - part * ATTN_ROWS : ATTN_ROWS;
            decode_block(t, &a, kvh, r0, nq);
        } else {
            r0 = blk * ATTN_ROWS;
            nq = t->rows_per_kvh - r0 < ATTN_ROWS ? t->rows_per_kvh - r0 : ATTN_ROWS;
            prompt_block(t, &a, kvh, r0, nq);
        }
    }
}

void attention_layer(model *m, int il, int n, float scale, bool decode) {
    const model_hparams *hp = &m->hp;
    attn_task t = {.m = m,
                   .ops = attention_ops(),
                   .layer = il,
                   .n_tok = n,
                   .hdp = round16(hp->head_dim),
                   .group = hp->n_head / hp->n_head_kv,
                   .q_stride = m->q_dim + 2 * m->kv_dim,
                   .scale = scale,
                   .decode = decode || n == 1};
    t.rows_per_kvh = n * t.group;
    if (t.decode)
        t.blocks_per_kvh = n * ((t.group + ATTN_ROWS - 1) / ATTN_ROWS);
    else
        t.blocks_per_kvh = (t.rows_per_kvh + ATTN_ROWS - 1) / ATTN_ROWS;
    t.n_blocks = t.blocks_per_kvh * hp->n_head_kv;
    atomic_init(&t.next, 0);
    if (t.n_blocks == 1)
        attention_worker(&t, 0, 1);
    else
        threadpool_run(m->pool, attention_worker, &t);
}

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

static void store_row_ref(enum model_cache_type t, const float *x, uint8_t *dst, int hd) {
    if (t == MODEL_CACHE_F32)
        memcpy(dst, x, (size_t)hd * sizeof *x);
    else
        quant_quantize_row(t == MODEL_CACHE_F16 ? QT_F16 : QT_Q8_0, x, dst, hd);
}

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
    "scalar",           store_row_ref,     load_rows_ref,      prompt_scores_ref,
    prompt_softmax_ref, decode_scores_ref, decode_softmax_ref, pv_ref};

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

/* The state of one block of query rows (the online softmax's). */
typedef struct attn_rows {
    float *q;                        /* prompt: qt[hdp][ATTN_ROWS]; generation: q[rows][hdp] */
    float *o;                        /* [ATTN_ROWS][hdp] */
    float *mx, *l, *c, *first, *pos; /* [ATTN_ROWS] */
    int r0, nq, kmin, kmax;
} attn_rows;

/* One slot's buffers, carved from its share of m->s.attn: a key and a
 * value tile, the scores, and the rows of up to ATTN_SPAN blocks. */
typedef struct attn_scratch {
    float *k, *v; /* [ATTN_KEYS][hdp] */
    float *s;     /* [ATTN_KEYS][ATTN_ROWS] */
    attn_rows rows[ATTN_SPAN];
} attn_scratch;

static size_t rows_floats(size_t hdp) {
    return 2 * hdp * ATTN_ROWS + 5 * ATTN_ROWS;
}

size_t attention_slot_bytes(const model_hparams *hp) {
    const size_t hdp = (size_t)round16(hp->head_dim);
    size_t floats =
        2 * hdp * ATTN_KEYS + (size_t)ATTN_KEYS * ATTN_ROWS + ATTN_SPAN * rows_floats(hdp);
    return floats * sizeof(float) + 64;
}

static attn_scratch scratch_of(const model *m, int ith, int hdp) {
    float *p = (float *)((uint8_t *)m->s.attn + (size_t)ith * m->s.attn_slot_bytes);
    attn_scratch a;
    a.k = p, p += (size_t)hdp * ATTN_KEYS;
    a.v = p, p += (size_t)hdp * ATTN_KEYS;
    a.s = p, p += (size_t)ATTN_KEYS * ATTN_ROWS;
    for (int b = 0; b < ATTN_SPAN; b++) {
        attn_rows *r = &a.rows[b];
        r->q = p, p += (size_t)hdp * ATTN_ROWS;
        r->o = p, p += (size_t)hdp * ATTN_ROWS;
        r->mx = p, p += ATTN_ROWS;
        r->l = p, p += ATTN_ROWS;
        r->c = p, p += ATTN_ROWS;
        r->first = p, p += ATTN_ROWS;
        r->pos = p, p += ATTN_ROWS;
    }
    return a;
}

/* ---- the driver ---- */

typedef struct attn_task {
    model *m;
    const attn_ops *ops;
    int layer, n_tok, hdp, group, q_stride;
    int rows_per_kvh; /* n_tok x group: the query rows of one KV head */
    int blocks, span; /* prompt: blocks of ATTN_ROWS rows per KV head, per task */
    int tasks_per_kvh, n_tasks;
    float scale;
    bool decode;
    atomic_int next;
} attn_task;

/* The first key a query at pos sees (the sliding window). */
static int first_key(const model *m, int pos) {
    const int w = m->hp.sliding_window;
    return w > 0 && pos - w + 1 > 0 ? pos - w + 1 : 0;
}

static void init_rows(attn_rows *r, int nq, int hdp) {
    for (int i = 0; i < nq; i++) {
        r->mx[i] = -INFINITY;
        r->l[i] = 0;
    }
    memset(r->o, 0, (size_t)nq * hdp * sizeof(float));
}

/* Writes o[i] / l[i] to the output row of query row i. */
static void finish_rows(const attn_task *t, const attn_rows *r, int kvh) {
    const model *m = t->m;
    const int hd = m->hp.head_dim;
    for (int i = 0; i < r->nq; i++) {
        const int row = r->r0 + i, tok = row / t->group, h = kvh * t->group + row % t->group;
        float *out = m->s.att + (size_t)tok * m->q_dim + (size_t)h * hd;
        const float inv = 1.0f / r->l[i];
        for (int d = 0; d < hd; d++) out[d] = r->o[(size_t)i * t->hdp + d] * inv;
    }
}

static const float *query_of(const attn_task *t, int kvh, int row) {
    const int tok = row / t->group, h = kvh * t->group + row % t->group;
    return t->m->s.qkv + (size_t)tok * t->q_stride + (size_t)h * t->m->hp.head_dim;
}

static const uint8_t *cache_of(const model_seq *sq, const uint8_t *base, int layer, int kvh,
                               int pos) {
    return base + model_seq_row(sq, layer, kvh, pos);
}

/* Asks for bytes at p ahead of their use, so that the next tile's reads
 * from memory overlap this tile's arithmetic. */
static void prefetch(const uint8_t *p, size_t bytes) {
    for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off);
}

/* Generation: rows r0..r0+nq of one token (the heads of KV head kvh), whose
 * keys are first..pos of its sequence. */
static void decode_block(const attn_task *t, attn_scratch *a, int kvh, int r0, int nq) {
    const model *m = t->m;
    const attn_ops *ops = t->ops;
    const int hd = m->hp.head_dim, hdp = t->hdp, tok = r0 / t->group;
    const model_seq *sq = m->s.seq[tok];
    const int pos = m->s.pos[tok], first = first_key(m, pos);
    attn_rows *r = &a->rows[0];
    r->r0 = r0;
    r->nq = nq;
    for (int i = 0; i < nq; i++) {
        memcpy(r->q + (size_t)i * hdp, query_of(t, kvh, r0 + i), (size_t)hd * sizeof(float));
        for (int d = hd; d < hdp; d++) r->q[(size_t)i * hdp + d] = 0;
    }
    init_rows(r, nq, hdp);
    for (int k0 = first - first % ATTN_KEYS; k0 <= pos; k0 += ATTN_KEYS) {
        const int j0 = first > k0 ? first : k0;
        const int j1 = pos + 1 < k0 + ATTN_KEYS ? pos + 1 : k0 + ATTN_KEYS, nk = j1 - j0;
        if (j1 <= pos) {
            const int n_next = pos + 1 - j1 < ATTN_KEYS ? pos + 1 - j1 : ATTN_KEYS;
            prefetch(cache_of(sq, sq->k, t->layer, kvh, j1), (size_t)n_next * sq->row_bytes);
            prefetch(cache_of(sq, sq->v, t->layer, kvh, j1), (size_t)n_next * sq->row_bytes);
        }
        ops->load_rows(sq->type, cache_of(sq, sq->k, t->layer, kvh, j0), sq->row_bytes, nk, hd, hdp,
                       a->k);
        ops->load_rows(sq->type, cache_of(sq, sq->v, t->layer, kvh, j0), sq->row_bytes, nk, hd, hdp,
                       a->v);
        ops->decode_scores(r->q, nq, a->k, nk, hdp, a->s);
        ops->decode_softmax(a->s, nq, nk, t->scale, r->mx, r->l, r->c);
        ops->pv(r->o, r->c, a->s, ATTN_KEYS, 1, a->v, nq, nk, hdp);
    }
    finish_rows(t, r, kvh);
}

/* A prompt block's queries, transposed, and the keys each row sees. */
static void prompt_rows(const attn_task *t, attn_rows *r, int kvh, int r0, int nq) {
    const model *m = t->m;
    const int hd = m->hp.head_dim, hdp = t->hdp, nqp = round16(nq);
    r->r0 = r0;
    r->nq = nq;
    r->kmin = INT32_MAX;
    r->kmax = -1;
    for (int i = 0; i < nqp; i++) {
        if (i < nq) {
            const int pos = m->s.pos[(r0 + i) / t->group], first = first_key(m, pos);
            const float *q = query_of(t, kvh, r0 + i);
            for (int d = 0; d < hdp; d++) r->q[(size_t)d * ATTN_ROWS + i] = d < hd ? q[d] : 0;
            r->pos[i] = (float)pos;
            r->first[i] = (float)first;
            r->kmin = first < r->kmin ? first : r->kmin;
            r->kmax = pos > r->kmax ? pos : r->kmax;
        } else { /* padding lanes see no key */
            for (int d = 0; d < hdp; d++) r->q[(size_t)d * ATTN_ROWS + i] = 0;
            r->pos[i] = -1;
            r->first[i] = (float)INT32_MAX;
        }
    }
    init_rows(r, nqp, hdp);
}

/* A prompt task: blocks b0..b0+nb of KV head kvh (tokens of one sequence).
 * Each key tile is loaded once and serves every block that sees it. */
static void prompt_span(const attn_task *t, attn_scratch *a, int kvh, int b0, int nb) {
    const model *m = t->m;
    const attn_ops *ops = t->ops;
    const int hd = m->hp.head_dim, hdp = t->hdp;
    const model_seq *sq = m->s.seq[0];
    int kmin = INT32_MAX, kmax = -1;
    for (int b = 0; b < nb; b++) {
        const int r0 = (b0 + b) * ATTN_ROWS;
        const int nq = t->rows_per_kvh - r0 < ATTN_ROWS ? t->rows_per_kvh - r0 : ATTN_ROWS;
        attn_rows *r = &a->rows[b];
        prompt_rows(t, r, kvh, r0, nq);
        kmin = r->kmin < kmin ? r->kmin : kmin;
        kmax = r->kmax > kmax ? r->kmax : kmax;
    }
    for (int k0 = kmin - kmin % ATTN_KEYS; k0 <= kmax; k0 += ATTN_KEYS) {
        const int nk = kmax + 1 - k0 < ATTN_KEYS ? kmax + 1 - k0 : ATTN_KEYS;
        ops->load_rows(sq->type, cache_of(sq, sq->k, t->layer, kvh, k0), sq->row_bytes, nk, hd, hdp,
                       a->k);
        ops->load_rows(sq->type, cache_of(sq, sq->v, t->layer, kvh, k0), sq->row_bytes, nk, hd, hdp,
                       a->v);
        for (int b = 0; b < nb; b++) {
            attn_rows *r = &a->rows[b];
            if (k0 > r->kmax || k0 + nk <= r->kmin) continue; /* a tile this block does not see */
            const int n = r->kmax + 1 - k0 < nk ? r->kmax + 1 - k0 : nk;
            const int nqp = round16(r->nq);
            ops->prompt_scores(a->k, n, r->q, nqp, hdp, a->s);
            ops->prompt_softmax(a->s, n, nqp, k0, r->first, r->pos, t->scale, r->mx, r->l, r->c);
            ops->pv(r->o, r->c, a->s, 1, ATTN_ROWS, a->v, r->nq, n, hdp);
        }
    }
    for (int b = 0; b < nb; b++) finish_rows(t, &a->rows[b], kvh);
}

/* Tasks are claimed from the last (the most keys in a prompt) to the first,
 * so that the long ones do not come last. */
static void attention_worker(void *arg, int ith, int nth) {
    (void)nth;
    attn_task *t = arg;
    attn_scratch a = scratch_of(t->m, ith, t->hdp);
    const int n_kv = t->m->hp.n_head_kv;
    for (int b; (b = atomic_fetch_add(&t->next, 1)) < t->n_tasks;) {
        const int idx = t->n_tasks - 1 - b, kvh = idx % n_kv, task = idx / n_kv;
        if (t->decode) { /* a block never spans two tokens */
            const int per_tok = (t->group + ATTN_ROWS - 1) / ATTN_ROWS;
            const int tok = task / per_tok, part = task % per_tok;
            const int left = t->group - part * ATTN_ROWS;
            decode_block(t, &a, kvh, tok * t->group + part * ATTN_ROWS,
                         left < ATTN_ROWS ? left : ATTN_ROWS);
        } else {
            const int b0 = task * t->span;
            prompt_span(t, &a, kvh, b0, t->blocks - b0 < t->span ? t->blocks - b0 : t->span);
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
                   .q_stride = m->s.q_stride,
                   .scale = scale,
                   .decode = decode || n == 1};
    t.rows_per_kvh = n * t.group;
    if (t.decode) {
        t.tasks_per_kvh = n * ((t.group + ATTN_ROWS - 1) / ATTN_ROWS);
    } else {
        /* spans as long as the scratch allows, but at least four tasks a thread */
        t.blocks = (t.rows_per_kvh + ATTN_ROWS - 1) / ATTN_ROWS;
        const int want = 4 * threadpool_size(m->pool);
        int per = (want + hp->n_head_kv - 1) / hp->n_head_kv; /* tasks per KV head */
        if (per > t.blocks) per = t.blocks;
        t.span = (t.blocks + per - 1) / per;
        if (t.span > ATTN_SPAN) t.span = ATTN_SPAN;
        t.tasks_per_kvh = (t.blocks + t.span - 1) / t.span;
    }
    t.n_tasks = t.tasks_per_kvh * hp->n_head_kv;
    atomic_init(&t.next, 0);
    if (t.n_tasks == 1)
        attention_worker(&t, 0, 1);
    else
        threadpool_run(m->pool, attention_worker, &t);
}

/* model: the forward pass. Read it top to bottom: model_seq_eval cuts the
 * tokens into batches and model_decode makes one batch of one token per
 * sequence; forward_batch runs every layer over one batch (attention block,
 * then feed-forward block), and the hidden states become logits. A decode
 * batch goes through the one-token kernels only (kernels_matvec_batch and the
 * generation attention), so each sequence gets the bits it would alone.
 * The arithmetic follows llama.cpp's graph for the same architectures, so the
 * logits agree with its output to within rounding. */
#include "model_impl.h"

#include <math.h>
#include <string.h>

/* ---- small vector operations ---- */

/* RMS normalisation with the sum of squares in double, as ggml does. */
static void rmsnorm(float *out, const float *x, const float *weight, int n, float eps) {
    double sum = 0;
    for (int i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
    const float scale = 1.0f / sqrtf((float)(sum / n) + eps);
    for (int i = 0; i < n; i++) out[i] = x[i] * scale * weight[i];
}

static float silu(float x) {
    return x / (1.0f + expf(-x));
}

static void add_into(float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

/* ---- rotary position embedding ---- */

/* cos/sin of every rotated pair for position pos. The angle is built by
 * repeated multiplication in float, as ggml's rope cache does, so the values
 * match llama.cpp's bit for bit. */
static void rope_table(const model *m, int pos, float *cs) {
    const model_hparams *hp = &m->hp;
    const float theta_scale = powf(hp->rope_base, -2.0f / hp->n_rot);
    float theta = (float)pos;
    for (int i = 0; i < hp->n_rot / 2; i++) {
        float ff = m->rope_factors ? m->rope_factors[i] : 1.0f;
        float t = hp->rope_freq_scale * (theta / ff);
        cs[2 * i] = cosf(t) * hp->rope_attn_factor;
        cs[2 * i + 1] = sinf(t) * hp->rope_attn_factor;
        theta *= theta_scale;
    }
}

/* Llama's converter permutes Q and K so that pairs are adjacent (2i, 2i+1);
 * Phi-3 rotates the two halves (i, i + n_rot/2), "NEOX" style. */
static void rope_apply(const model *m, float *head, const float *cs) {
    int n_rot = m->hp.n_rot, half = n_rot / 2;
    bool neox = m->hp.arch == MODEL_ARCH_PHI3;
    for (int i = 0; i < half; i++) {
        int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
        float x0 = head[a], x1 = head[b], c = cs[2 * i], s = cs[2 * i + 1];
        head[a] = x0 * c - x1 * s;
        head[b] = x0 * s + x1 * c;
    }
}

/* ---- where a batch's queries, keys and values are ----
 * Phi-3's fused product gives one row q | k | v per token; llama's three
 * products fill a plane each in the same buffer (every token's q, then every
 * token's k, then every token's v), so that nothing is copied. */
typedef struct qkv_layout {
    float *q, *k, *v;
    size_t q_stride, kv_stride; /* floats from one token's to the next's */
} qkv_layout;

static qkv_layout qkv_of(const model *m, int n) {
    float *qkv = m->s.qkv;
    const size_t Q = (size_t)m->q_dim, KV = (size_t)m->kv_dim;
    if (m->hp.arch == MODEL_ARCH_PHI3)
        return (qkv_layout){qkv, qkv + Q, qkv + Q + KV, Q + 2 * KV, Q + 2 * KV};
    return (qkv_layout){qkv, qkv + n * Q, qkv + n * (Q + KV), Q, KV};
}

/* ---- steps shared out over the pool ----
 * The element-wise work between the products runs on the pool too: on one
 * thread it is about 7 % of a prompt, which left serial would hold 16
 * threads to about 8x. Each slot takes a contiguous share of a step's units
 * (tokens, heads or columns) and computes every value with the same
 * expression one thread would, so the result does not depend on the thread
 * count. */
typedef struct step step;
struct step {
    model *m;
    void (*fn)(const step *st, int u0, int u1); /* does units u0..u1-1 */
    int units, n;                               /* n: tokens in the batch */
    int il;                                     /* layer */
    const float *norm;                          /* weights of the norm, or NULL */
    bool add;                                   /* x += proj before the norm */
    bool scale_q;                               /* queries *= q_scale after rotation */
    float q_scale;
    const int32_t *tokens;
};

static void step_slot(void *arg, int ith, int nth) {
    const step *st = arg;
    const int u0 = (int)((int64_t)st->units * ith / nth);
    const int u1 = (int)((int64_t)st->units * (ith + 1) / nth);
    if (u1 > u0) st->fn(st, u0, u1);
}

/* One unit (one token's norm in generation) is done here: waking the
 * workers would cost more than it saves. */
static void run_step(const step *st) {
    if (st->units == 1)
        st->fn(st, 0, 1);
    else if (st->units > 1)
        threadpool_run(st->m->pool, step_slot, (void *)st);
}

/* Token t: its embedding row and its rotation table. */
static void embed_tokens(const step *st, int t0, int t1) {
    model *m = st->m;
    const kernels_matrix *e = &m->tok_embd;
    for (int t = t0; t < t1; t++) {
        quant_dequantize_row(e->type,
                             (const uint8_t *)e->data + (size_t)st->tokens[t] * e->row_bytes,
                             m->s.x + (size_t)t * m->hp.n_embd, e->cols);
        rope_table(m, m->s.pos[t], m->s.rope + (size_t)t * m->hp.n_rot);
    }
}

/* Token t: x += proj (add), then xn = norm(x) (norm). */
static void residual_tokens(const step *st, int t0, int t1) {
    model_scratch *s = &st->m->s;
    const int E = st->m->hp.n_embd;
    for (int t = t0; t < t1; t++) {
        float *x = s->x + (size_t)t * E;
        if (st->add) add_into(x, s->proj + (size_t)t * E, (size_t)E);
        if (st->norm) rmsnorm(s->xn + (size_t)t * E, x, st->norm, E, st->m->hp.norm_eps);
    }
}

/* Unit (token t, KV head h): rotates its query heads (then scales them, for
 * Phi-3) and its key, and stores the key and value in t's cache. */
static void rope_store_heads(const step *st, int u0, int u1) {
    model *m = st->m;
    const model_hparams *hp = &m->hp;
    const attn_ops *ops = attention_ops();
    const qkv_layout L = qkv_of(m, st->n);
    const int n_kv = hp->n_head_kv, group = hp->n_head / n_kv, hd = hp->head_dim;
    for (int u = u0; u < u1; u++) {
        const int t = u / n_kv, h = u % n_kv;
        const float *cs = m->s.rope + (size_t)t * hp->n_rot;
        float *q = L.q + t * L.q_stride + (size_t)h * group * hd;
        for (int i = 0; i < group; i++) rope_apply(m, q + i * hd, cs);
        if (st->scale_q)
            for (int i = 0; i < group * hd; i++) q[i] *= st->q_scale;
        float *k = L.k + t * L.kv_stride + (size_t)h * hd;
        const float *v = L.v + t * L.kv_stride + (size_t)h * hd;
        rope_apply(m, k, cs);
        model_seq *sq = m->s.seq[t];
        const size_t at = model_seq_row(sq, st->il, h, m->s.pos[t]);
        ops->store_row(sq->type, k, sq->k + at, hd);
        ops->store_row(sq->type, v, sq->v + at, hd);
    }
}

/* Columns of 16 (a cache line) of the feed-forward's hidden values, every
 * token: ffn = silu(gate) * up. Phi-3's product leaves [gate | up] per
 * token, 2F apart, and token t's result goes to t * F, in place (issue 15:
 * the batch scratch is part of the peak memory). That write lands on the
 * gate or up of token t/2 <= t, in the same column: so a slot that owns
 * columns touches only its own values, and going through the tokens in
 * order, as one thread does, it reads each of them before it is overwritten.
 * (Slots owning tokens would overwrite each other's inputs.) */
#define SWIGLU_COLS 16
static void swiglu_columns(const step *st, int c0, int c1) {
    const model *m = st->m;
    const size_t F = (size_t)m->hp.n_ff;
    const size_t i0 = (size_t)c0 * SWIGLU_COLS,
                 i1 = (size_t)c1 * SWIGLU_COLS < F ? (size_t)c1 * SWIGLU_COLS : F;
    float *ffn = m->s.ffn;
    for (size_t t = 0; t < (size_t)st->n; t++) {
        if (m->hp.arch == MODEL_ARCH_PHI3) {
            const float *g = ffn + t * 2 * F, *u = g + F;
            float *h = ffn + t * F;
            for (size_t i = i0; i < i1; i++) h[i] = silu(g[i]) * u[i];
        } else { /* every token's gate, then every token's up */
            float *g = ffn + t * F;
            const float *u = ffn + (size_t)st->n * F + t * F;
            for (size_t i = i0; i < i1; i++) g[i] = u[i] * silu(g[i]);
        }
    }
}

/* The steps as the blocks call them. */

static void embed(model *m, const int32_t *tokens, int n) {
    run_step(&(step){.m = m, .fn = embed_tokens, .units = n, .n = n, .tokens = tokens});
}

/* xn = norm(x) */
static void normalise(model *m, int n, const float *weight) {
    run_step(&(step){.m = m, .fn = residual_tokens, .units = n, .n = n, .norm = weight});
}

/* x += proj (a block's output joins the residual stream), then xn = norm(x) */
static void add_and_normalise(model *m, int n, const float *weight) {
    run_step(
        &(step){.m = m, .fn = residual_tokens, .units = n, .n = n, .add = true, .norm = weight});
}

/* x += proj */
static void add_residual(model *m, int n) {
    run_step(&(step){.m = m, .fn = residual_tokens, .units = n, .n = n, .add = true});
}

static void rope_store(model *m, int il, int n, bool scale_q, float q_scale) {
    run_step(&(step){.m = m,
                     .fn = rope_store_heads,
                     .units = n * m->hp.n_head_kv,
                     .n = n,
                     .il = il,
                     .scale_q = scale_q,
                     .q_scale = q_scale});
}

static void swiglu(model *m, int n) {
    const int cols = (m->hp.n_ff + SWIGLU_COLS - 1) / SWIGLU_COLS;
    run_step(&(step){.m = m, .fn = swiglu_columns, .units = cols, .n = n});
}

/* ---- the blocks ---- */

/* decode: every row through the one-token kernel (see the top). */
static void matmul(model *m, const kernels_matrix *w, const float *x, int n, float *y,
                   bool decode) {
    if (decode)
        kernels_matvec_batch(m->pool, w, x, n, y, m->s.act);
    else
        kernels_matmul(m->pool, w, x, n, y, m->s.act);
}

static void attention_block(model *m, int il, int n, bool decode) {
    const model_hparams *hp = &m->hp;
    const model_layer *l = &m->layers[il];
    model_scratch *s = &m->s;
    const qkv_layout L = qkv_of(m, n);

    normalise(m, n, l->attn_norm);
    if (hp->arch == MODEL_ARCH_PHI3) {
        matmul(m, &l->wqkv, s->xn, n, s->qkv, decode);
    } else {
        matmul(m, &l->wq, s->xn, n, L.q, decode);
        matmul(m, &l->wk, s->xn, n, L.k, decode);
        matmul(m, &l->wv, s->xn, n, L.v, decode);
    }
    s->q_stride = (int)L.q_stride;

    /* rotate q and k, store k and v in the cache. Phi-3 scales q before the
     * product; llama scales the scores: the same value. */
    const float scale = 1.0f / sqrtf((float)hp->head_dim);
    const bool phi3 = hp->arch == MODEL_ARCH_PHI3;
    rope_store(m, il, n, phi3, scale);
    attention_layer(m, il, n, phi3 ? 1.0f : scale, decode);

    matmul(m, &l->wo, s->att, n, s->proj, decode); /* ffn_block adds it to x */
}

static void ffn_block(model *m, int il, int n, bool decode) {
    const model_hparams *hp = &m->hp;
    const model_layer *l = &m->layers[il];
    model_scratch *s = &m->s;

    add_and_normalise(m, n, l->ffn_norm); /* the attention's output */
    if (hp->arch == MODEL_ARCH_PHI3) {
        matmul(m, &l->ffn_gate_up, s->xn, n, s->ffn, decode); /* [gate | up] per token */
    } else { /* every token's gate, then every token's up */
        matmul(m, &l->ffn_gate, s->xn, n, s->ffn, decode);
        matmul(m, &l->ffn_up, s->xn, n, s->ffn + (size_t)n * hp->n_ff, decode);
    }
    swiglu(m, n); /* ffn = silu(gate) * up, [n][n_ff] */
    matmul(m, &l->ffn_down, s->ffn, n, s->proj, decode);
    add_residual(m, n);
}

/* What a batch returns: nothing, the last token's logits, or every token's
 * (a decode batch: one row per sequence). */
enum batch_logits { LOGITS_NONE, LOGITS_LAST, LOGITS_ALL };

/* Runs one batch through every layer: token t at m->s.pos[t] of
 * m->s.seq[t]. Returns 1 when stopped between layers (no sequence grows). */
static int forward_batch(model *m, const int32_t *tokens, int n, bool decode,
                         enum batch_logits want, float *logits, const atomic_bool *stop) {
    const model_hparams *hp = &m->hp;
    const int E = hp->n_embd;
    embed(m, tokens, n); /* x, and the rotation tables */
    for (int il = 0; il < hp->n_layer; il++) {
        if (stop && atomic_load(stop)) return 1;
        attention_block(m, il, n, decode);
        ffn_block(m, il, n, decode);
    }
    for (int t = 0; t < n; t++) m->s.seq[t]->n_past = m->s.pos[t] + 1;
    if (want == LOGITS_ALL) {
        normalise(m, n, m->output_norm);
        matmul(m, &m->output, m->s.xn, n, logits, decode);
    } else if (want == LOGITS_LAST) {
        rmsnorm(m->s.xn, m->s.x + (size_t)(n - 1) * E, m->output_norm, E, hp->norm_eps);
        matmul(m, &m->output, m->s.xn, 1, logits, false);
    }
    return 0;
}

static int check_tokens(const model *m, const int32_t *tokens, int n, lm_error *err) {
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->hp.n_vocab)
            return lm_fail(err, "token id %d is outside the vocabulary", tokens[i]);
    return 0;
}

int model_seq_eval(model *m, model_seq *sq, const int32_t *tokens, int n, float *logits,
                   bool all_logits, const atomic_bool *stop, lm_error *err) {
    if (n <= 0) return lm_fail(err, "nothing to evaluate");
    if (sq->m != m) return lm_fail(err, "the sequence belongs to another model");
    if (sq->n_past + n > sq->n_ctx)
        return lm_fail(err, "the context is full (%d + %d tokens > %d)", sq->n_past, n, sq->n_ctx);
    if (check_tokens(m, tokens, n, err)) return -1;
    for (int done = 0; done < n;) {
        int b = n - done < m->s.max_batch ? n - done : m->s.max_batch;
        for (int t = 0; t < b; t++) {
            m->s.seq[t] = sq;
            m->s.pos[t] = sq->n_past + t;
        }
        enum batch_logits want = !logits         ? LOGITS_NONE
                                 : all_logits    ? LOGITS_ALL
                                 : done + b == n ? LOGITS_LAST
                                                 : LOGITS_NONE;
        float *out = want == LOGITS_ALL ? logits + (size_t)done * m->hp.n_vocab : logits;
        if (forward_batch(m, tokens + done, b, false, want, out, stop)) return 1;
        done += b;
    }
    return 0;
}

int model_eval(model *m, const int32_t *tokens, int n, float *logits, const atomic_bool *stop,
               lm_error *err) {
    return model_seq_eval(m, m->seq0, tokens, n, logits, false, stop, err);
}

int model_eval_all(model *m, const int32_t *tokens, int n, float *logits, const atomic_bool *stop,
                   lm_error *err) {
    return model_seq_eval(m, m->seq0, tokens, n, logits, true, stop, err);
}

int model_decode(model *m, model_seq *const *seqs, const int32_t *tokens, int n_seq, float *logits,
                 lm_error *err) {
    if (n_seq <= 0 || n_seq > MODEL_MAX_DECODE || n_seq > m->s.max_batch)
        return lm_fail(err, "model_decode takes 1 to %d sequences, not %d",
                       m->s.max_batch < MODEL_MAX_DECODE ? m->s.max_batch : MODEL_MAX_DECODE,
                       n_seq);
    if (check_tokens(m, tokens, n_seq, err)) return -1;
    for (int i = 0; i < n_seq; i++) {
        if (seqs[i]->m != m) return lm_fail(err, "sequence %d belongs to another model", i);
        if (seqs[i]->n_past >= seqs[i]->n_ctx)
            return lm_fail(err, "sequence %d is full (%d tokens)", i, seqs[i]->n_ctx);
        for (int j = 0; j < i; j++)
            if (seqs[j] == seqs[i]) return lm_fail(err, "sequence %d appears twice", i);
        m->s.seq[i] = seqs[i];
        m->s.pos[i] = seqs[i]->n_past;
    }
    return forward_batch(m, tokens, n_seq, true, logits ? LOGITS_ALL : LOGITS_NONE, logits, NULL);
}

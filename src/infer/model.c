/* model: the forward pass. Read it top to bottom: model_eval cuts the tokens
 * into batches; forward_batch runs every layer over one batch (attention block,
 * then feed-forward block), and the last token's hidden state becomes logits.
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

/* ---- attention ---- */

typedef struct attn_task {
    model *m;
    int layer, n_tok, pos0;
    float scale;
} attn_task;

/* One (token, head) pair: scores against every visible cached key, softmax,
 * weighted sum of the values. Keys and values live in the layer's cache. */
static void attend_one(const attn_task *t, int tok, int h, float *scores) {
    const model *m = t->m;
    const int hd = m->hp.head_dim, kv_dim = m->kv_dim;
    const int kvh = h / (m->hp.n_head / m->hp.n_head_kv);
    const int pos = t->pos0 + tok;
    int first = 0;
    if (m->hp.sliding_window > 0 && pos - m->hp.sliding_window + 1 > 0)
        first = pos - m->hp.sliding_window + 1;
    const size_t layer_off = (size_t)t->layer * m->n_ctx * kv_dim;
    const float *q = m->s.qkv + (size_t)tok * (m->q_dim + 2 * kv_dim) + h * hd;
    const float *kc = m->k_cache + layer_off + kvh * hd;
    const float *vc = m->v_cache + layer_off + kvh * hd;
    float *out = m->s.att + (size_t)tok * m->q_dim + h * hd;
    kernels_attend(q, kc + (size_t)first * kv_dim, vc + (size_t)first * kv_dim, (size_t)kv_dim,
                   pos - first + 1, hd, t->scale, scores, out);
}

static void attention_worker(void *arg, int ith, int nth) {
    attn_task *t = arg;
    float *scores = t->m->s.scores + (size_t)ith * t->m->n_ctx;
    int n_heads = t->m->hp.n_head, total = t->n_tok * n_heads;
    for (int i = ith; i < total; i += nth) attend_one(t, i / n_heads, i % n_heads, scores);
}

/* ---- the blocks ---- */

static void matmul(model *m, const kernels_matrix *w, const float *x, int n, float *y) {
    kernels_matmul(m->pool, w, x, n, y, m->s.act);
}

static void attention_block(model *m, int il, int n, int pos0) {
    const model_hparams *hp = &m->hp;
    const model_layer *l = &m->layers[il];
    model_scratch *s = &m->s;
    const int E = hp->n_embd, hd = hp->head_dim, stride = m->q_dim + 2 * m->kv_dim;

    for (int t = 0; t < n; t++)
        rmsnorm(s->xn + (size_t)t * E, s->x + (size_t)t * E, l->attn_norm, E, hp->norm_eps);
    if (hp->arch == MODEL_ARCH_PHI3) {
        matmul(m, &l->wqkv, s->xn, n, s->qkv);
    } else { /* gather q | k | v into one row per token, as phi3's fused layout */
        matmul(m, &l->wq, s->xn, n, s->att);
        matmul(m, &l->wk, s->xn, n, s->proj);
        for (int t = 0; t < n; t++) {
            memcpy(s->qkv + (size_t)t * stride, s->att + (size_t)t * m->q_dim,
                   (size_t)m->q_dim * sizeof(float));
            memcpy(s->qkv + (size_t)t * stride + m->q_dim, s->proj + (size_t)t * m->kv_dim,
                   (size_t)m->kv_dim * sizeof(float));
        }
        matmul(m, &l->wv, s->xn, n, s->proj);
        for (int t = 0; t < n; t++)
            memcpy(s->qkv + (size_t)t * stride + m->q_dim + m->kv_dim,
                   s->proj + (size_t)t * m->kv_dim, (size_t)m->kv_dim * sizeof(float));
    }

    /* rotate q and k, store k and v in the cache */
    const size_t layer_off = (size_t)il * m->n_ctx * m->kv_dim;
    for (int t = 0; t < n; t++) {
        float *row = s->qkv + (size_t)t * stride, *cs = s->rope + (size_t)t * hp->n_rot;
        for (int h = 0; h < hp->n_head; h++) rope_apply(m, row + h * hd, cs);
        for (int h = 0; h < hp->n_head_kv; h++) rope_apply(m, row + m->q_dim + h * hd, cs);
        size_t at = layer_off + (size_t)(pos0 + t) * m->kv_dim;
        memcpy(m->k_cache + at, row + m->q_dim, (size_t)m->kv_dim * sizeof(float));
        memcpy(m->v_cache + at, row + m->q_dim + m->kv_dim, (size_t)m->kv_dim * sizeof(float));
    }

    /* Phi-3 scales q before the product; llama scales the scores: the same value. */
    attn_task task = {m, il, n, pos0, 1.0f / sqrtf((float)hd)};
    if (hp->arch == MODEL_ARCH_PHI3) {
        for (int t = 0; t < n; t++)
            for (int i = 0; i < m->q_dim; i++) s->qkv[(size_t)t * stride + i] *= task.scale;
        task.scale = 1.0f;
    }
    threadpool_run(m->pool, attention_worker, &task);

    matmul(m, &l->wo, s->att, n, s->proj);
    add_into(s->x, s->proj, (size_t)n * E);
}

static void ffn_block(model *m, int il, int n) {
    const model_hparams *hp = &m->hp;
    const model_layer *l = &m->layers[il];
    model_scratch *s = &m->s;
    const int E = hp->n_embd, F = hp->n_ff;

    for (int t = 0; t < n; t++)
        rmsnorm(s->xn + (size_t)t * E, s->x + (size_t)t * E, l->ffn_norm, E, hp->norm_eps);
    /* silu(gate) * up goes over the gates in place, token t's F values to
     * t * F: that never overwrites a later token's gate or up (issue 15:
     * the batch scratch is part of the peak memory) */
    if (hp->arch == MODEL_ARCH_PHI3) {
        matmul(m, &l->ffn_gate_up, s->xn, n, s->ffn); /* [gate | up] per token */
        for (int t = 0; t < n; t++) {
            const float *g = s->ffn + (size_t)t * 2 * F, *u = g + F;
            float *h = s->ffn + (size_t)t * F;
            for (int i = 0; i < F; i++) h[i] = silu(g[i]) * u[i];
        }
    } else { /* every token's gate, then every token's up */
        float *up = s->ffn + (size_t)n * F;
        matmul(m, &l->ffn_gate, s->xn, n, s->ffn);
        matmul(m, &l->ffn_up, s->xn, n, up);
        for (size_t i = 0; i < (size_t)n * F; i++) s->ffn[i] = up[i] * silu(s->ffn[i]);
    }
    matmul(m, &l->ffn_down, s->ffn, n, s->proj);
    add_into(s->x, s->proj, (size_t)n * E);
}

static void embed(model *m, const int32_t *tokens, int n) {
    const kernels_matrix *e = &m->tok_embd;
    for (int t = 0; t < n; t++)
        quant_dequantize_row(e->type, (const uint8_t *)e->data + (size_t)tokens[t] * e->row_bytes,
                             m->s.x + (size_t)t * m->hp.n_embd, e->cols);
}

/* Runs one batch through every layer. Returns 1 when stopped between layers. */
static int forward_batch(model *m, const int32_t *tokens, int n, float *logits,
                         const atomic_bool *stop) {
    const model_hparams *hp = &m->hp;
    const int pos0 = m->n_past;
    embed(m, tokens, n);
    for (int t = 0; t < n; t++) rope_table(m, pos0 + t, m->s.rope + (size_t)t * hp->n_rot);
    for (int il = 0; il < hp->n_layer; il++) {
        if (stop && atomic_load(stop)) return 1;
        attention_block(m, il, n, pos0);
        ffn_block(m, il, n);
    }
    m->n_past += n;
    if (logits) {
        const float *last = m->s.x + (size_t)(n - 1) * hp->n_embd;
        rmsnorm(m->s.xn, last, m->output_norm, hp->n_embd, hp->norm_eps);
        matmul(m, &m->output, m->s.xn, 1, logits);
    }
    return 0;
}

int model_eval(model *m, const int32_t *tokens, int n, float *logits, const atomic_bool *stop,
               lm_error *err) {
    if (n <= 0) return lm_fail(err, "nothing to evaluate");
    if (m->n_past + n > m->n_ctx)
        return lm_fail(err, "the context is full (%d + %d tokens > %d)", m->n_past, n, m->n_ctx);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->hp.n_vocab)
            return lm_fail(err, "token id %d is outside the vocabulary", tokens[i]);
    for (int done = 0; done < n;) {
        int b = n - done < m->s.max_batch ? n - done : m->s.max_batch;
        bool last = done + b == n;
        if (forward_batch(m, tokens + done, b, last ? logits : NULL, stop)) return 1;
        done += b;
    }
    return 0;
}

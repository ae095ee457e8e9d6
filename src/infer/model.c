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

/* ---- the blocks ---- */

/* decode: every row through the one-token kernel (see the top). */
static void matmul(model *m, const kernels_matrix *w, const float *x, int n, float *y,
                   bool decode) {
    if (decode)
        kernels_matvec_batch(m->pool, w, x, n, y, m->s.act);
    else
        kernels_matmul(m->pool, w, x, n, y, m->s.act);
}

/* Stores token t's rotated keys and its values in its sequence's cache. */
static void store_kv(model *m, int il, int n) {
    const int hd = m->hp.head_dim, stride = m->q_dim + 2 * m->kv_dim;
    const attn_ops *ops = attention_ops();
    for (int t = 0; t < n; t++) {
        model_seq *sq = m->s.seq[t];
        const float *row = m->s.qkv + (size_t)t * stride;
        for (int h = 0; h < m->hp.n_head_kv; h++) {
            const size_t at = model_seq_row(sq, il, h, m->s.pos[t]);
            ops->store_row(sq->type, row + m->q_dim + h * hd, sq->k + at, hd);
            ops->store_row(sq->type, row + m->q_dim + m->kv_dim + h * hd, sq->v + at, hd);
        }
    }
}

static void attention_block(model *m, int il, int n, bool decode) {
    const model_hparams *hp = &m->hp;
    const model_layer *l = &m->layers[il];
    model_scratch *s = &m->s;
    const int E = hp->n_embd, hd = hp->head_dim, stride = m->q_dim + 2 * m->kv_dim;

    for (int t = 0; t < n; t++)
        rmsnorm(s->xn + (size_t)t * E, s->x + (size_t)t * E, l->attn_norm, E, hp->norm_eps);
    if (hp->arch == MODEL_ARCH_PHI3) {
        matmul(m, &l->wqkv, s->xn, n, s->qkv, decode);
    } else { /* gather q | k | v into one row per token, as phi3's fused layout */
        matmul(m, &l->wq, s->xn, n, s->att, decode);
        matmul(m, &l->wk, s->xn, n, s->proj, decode);
        for (int t = 0; t < n; t++) {
            memcpy(s->qkv + (size_t)t * stride, s->att + (size_t)t * m->q_dim,
                   (size_t)m->q_dim * sizeof(float));
            memcpy(s->qkv + (size_t)t * stride + m->q_dim, s->proj + (size_t)t * m->kv_dim,
                   (size_t)m->kv_dim * sizeof(float));
        }
        matmul(m, &l->wv, s->xn, n, s->proj, decode);
        for (int t = 0; t < n; t++)
            memcpy(s->qkv + (size_t)t * stride + m->q_dim + m->kv_dim,
                   s->proj + (size_t)t * m->kv_dim, (size_t)m->kv_dim * sizeof(float));
    }

    /* rotate q and k, store k and v in the cache */
    for (int t = 0; t < n; t++) {
        float *row = s->qkv + (size_t)t * stride, *cs = s->rope + (size_t)t * hp->n_rot;
        for (int h = 0; h < hp->n_head; h++) rope_apply(m, row + h * hd, cs);
        for (int h = 0; h < hp->n_head_kv; h++) rope_apply(m, row + m->q_dim + h * hd, cs);
    }
    store_kv(m, il, n);

    /* Phi-3 scales q before the product; llama scales the scores: the same value. */
    float scale = 1.0f / sqrtf((float)hd);
    if (hp->arch == MODEL_ARCH_PHI3) {
        for (int t = 0; t < n; t++)
            for (int i = 0; i < m->q_dim; i++) s->qkv[(size_t)t * stride + i] *= scale;
        scale = 1.0f;
    }
    attention_layer(m, il, n, scale, decode);

    matmul(m, &l->wo, s->att, n, s->proj, decode);
    add_into(s->x, s->proj, (size_t)n * E);
}

static void ffn_block(model *m, int il, int n, bool decode) {
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
        matmul(m, &l->ffn_gate_up, s->xn, n, s->ffn, decode); /* [gate | up] per token */
        for (int t = 0; t < n; t++) {
            const float *g = s->ffn + (size_t)t * 2 * F, *u = g + F;
            float *h = s->ffn + (size_t)t * F;
            for (int i = 0; i < F; i++) h[i] = silu(g[i]) * u[i];
        }
    } else { /* every token's gate, then every token's up */
        float *up = s->ffn + (size_t)n * F;
        matmul(m, &l->ffn_gate, s->xn, n, s->ffn, decode);
        matmul(m, &l->ffn_up, s->xn, n, up, decode);
        for (size_t i = 0; i < (size_t)n * F; i++) s->ffn[i] = up[i] * silu(s->ffn[i]);
    }
    matmul(m, &l->ffn_down, s->ffn, n, s->proj, decode);
    add_into(s->x, s->proj, (size_t)n * E);
}

static void embed(model *m, const int32_t *tokens, int n) {
    const kernels_matrix *e = &m->tok_embd;
    for (int t = 0; t < n; t++)
        quant_dequantize_row(e->type, (const uint8_t *)e->data + (size_t)tokens[t] * e->row_bytes,
                             m->s.x + (size_t)t * m->hp.n_embd, e->cols);
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
    embed(m, tokens, n);
    for (int t = 0; t < n; t++) rope_table(m, m->s.pos[t], m->s.rope + (size_t)t * hp->n_rot);
    for (int il = 0; il < hp->n_layer; il++) {
        if (stop && atomic_load(stop)) return 1;
        attention_block(m, il, n, decode);
        ffn_block(m, il, n, decode);
    }
    for (int t = 0; t < n; t++) m->s.seq[t]->n_past = m->s.pos[t] + 1;
    if (want == LOGITS_ALL) {
        for (int t = 0; t < n; t++)
            rmsnorm(m->s.xn + (size_t)t * E, m->s.x + (size_t)t * E, m->output_norm, E,
                    hp->norm_eps);
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

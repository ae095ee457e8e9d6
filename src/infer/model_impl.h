/* Private to the model module: the structures model_load.c builds and
 * model.c's forward pass reads. */
#ifndef LMTERM_MODEL_IMPL_H
#define LMTERM_MODEL_IMPL_H

#include "model.h"

typedef struct model_layer {
    const float *attn_norm, *ffn_norm;
    kernels_matrix wqkv;       /* phi3: q | k | v rows */
    kernels_matrix wq, wk, wv; /* llama */
    kernels_matrix wo;
    kernels_matrix ffn_gate_up;      /* phi3: gate rows then up rows */
    kernels_matrix ffn_gate, ffn_up; /* llama */
    kernels_matrix ffn_down;
} model_layer;

/* Work buffers for one batch of up to max_batch tokens; allocated once. */
typedef struct model_scratch {
    int max_batch;
    float *x;        /* [batch][n_embd] residual stream */
    float *xn;       /* [batch][n_embd] normalised input of a block */
    float *qkv;      /* q, k and v of [batch] tokens (model.c's qkv_of) */
    int q_stride;    /* floats from one token's queries in qkv to the next's */
    float *att;      /* [batch][q_dim] attention output */
    float *proj;     /* [batch][n_embd] */
    float *ffn;      /* [batch][2 n_ff] gate | up, then silu(gate) * up [batch][n_ff] */
    float *rope;     /* [batch][n_rot] cos, sin pairs */
    int *pos;        /* [batch] position of each token */
    model_seq **seq; /* [batch] sequence of each token */
    void *attn;      /* [n_threads] attention scratch, attn_slot_bytes each */
    size_t attn_slot_bytes;
    void *act; /* converted activations for kernels_matmul */
    size_t act_bytes;
} model_scratch;

struct model {
    gguf_file *file;
    tokenizer *tok;
    model_hparams hp;
    enum model_precision precision;
    threadpool *pool;

    kernels_matrix tok_embd, output;
    const float *output_norm;
    const float *rope_factors; /* per rotated pair, or NULL */
    model_layer *layers;

    void **owned; /* converted weight buffers */
    int n_owned;
    uint64_t weight_bytes, param_count;

    int n_ctx; /* the default sequence's */
    int q_dim, kv_dim;
    model_seq *seq0; /* the default sequence */
    model_scratch s;
};

/* A KV cache: for each layer and KV head, n_ctx rows of head_dim values
 * (head-major, so that attention streams one head's keys contiguously),
 * each row_bytes long in the cache's type. */
struct model_seq {
    model *m;
    enum model_cache_type type;
    int n_ctx, n_past;
    size_t row_bytes;
    uint8_t *k, *v;
    uint64_t bytes; /* k and v together */
};

/* The cache row of (layer, KV head, position). */
static inline size_t model_seq_row(const model_seq *s, int layer, int kvh, int pos) {
    return (((size_t)layer * s->m->hp.n_head_kv + (size_t)kvh) * (size_t)s->n_ctx + (size_t)pos) *
           s->row_bytes;
}

/* ---- attention.c ----
 * Attention reads the cache in tiles of ATTN_KEYS keys (tiles start at
 * multiples of ATTN_KEYS, so one query's arithmetic never depends on the
 * others in its batch) with an online softmax: no score row as long as the
 * context. A prompt block holds up to ATTN_ROWS query rows (tokens x heads of
 * one KV head) and works on the tiles as small matrix products, a task
 * taking up to ATTN_SPAN blocks of one KV head; generation
 * (one token of a sequence) takes the heads of one KV head against each key. */
#define ATTN_KEYS 64
#define ATTN_ROWS 64
#define ATTN_SPAN 8 /* prompt blocks one task keeps, to load each key tile once for them */

/* Kernels of one instruction set; hdp is head_dim rounded up to 16 (tiles
 * are zero-padded to it). Scores are already multiplied by the query scale
 * except for `scale`, applied in the softmax. */
typedef struct attn_ops {
    const char *name;
    /* one cache row of type t from hd floats */
    void (*store_row)(enum model_cache_type t, const float *x, uint8_t *dst, int hd);
    /* n cache rows of type t, row_bytes apart, to floats dst[n][hdp] */
    void (*load_rows)(enum model_cache_type t, const uint8_t *src, size_t row_bytes, int n, int hd,
                      int hdp, float *dst);
    /* st[j][i] = K[j] . qt[.][i] for j < nk, i < nqp (a multiple of 16);
     * qt[d][i] and st[j][i] have rows of ATTN_ROWS floats */
    void (*prompt_scores)(const float *k, int nk, const float *qt, int nqp, int hdp, float *st);
    /* online softmax of st's columns (query rows) over keys k0..k0+nk-1;
     * key k0+j is masked out of row i unless first[i] <= k0+j <= pos[i].
     * st becomes the weights p; c[i] receives the factor for the old sums */
    void (*prompt_softmax)(float *st, int nk, int nqp, int k0, const float *first, const float *pos,
                           float scale, float *mx, float *l, float *c);
    /* s[i][j] = q[i] . k[j] for i < nq, j < nk; s has rows of ATTN_KEYS */
    void (*decode_scores)(const float *q, int nq, const float *k, int nk, int hdp, float *s);
    /* online softmax of s's rows, as prompt_softmax with nothing masked */
    void (*decode_softmax)(float *s, int nq, int nk, float scale, float *mx, float *l, float *c);
    /* o[i] = o[i] * c[i] + sum_j p[i * pi + j * pj] v[j], for i < nq, o[i] of hdp */
    void (*pv)(float *o, const float *c, const float *p, size_t pi, size_t pj, const float *v,
               int nq, int nk, int hdp);
} attn_ops;

const attn_ops *attention_scalar_ops(void);
const attn_ops *attention_avx2_ops(void);
const attn_ops *attention_avx512_ops(void);
/* The table for kernels_backend(). */
const attn_ops *attention_ops(void);

/* Bytes of scratch one pool slot needs. */
size_t attention_slot_bytes(const model_hparams *hp);

/* Attention of the batch in m->s for layer il: token t's query heads at
 * m->s.qkv + t * m->s.q_stride (already rotated and scaled), its keys those of m->s.seq[t] up to
 * m->s.pos[t] (already stored), its output to m->s.att. decode: every token
 * is the next one of its own sequence (the generation kernel); otherwise the
 * tokens are consecutive positions of one sequence (a prompt). */
void attention_layer(model *m, int il, int n, float scale, bool decode);

/* model_load.c */
int model_read_hparams(const gguf_file *f, model_hparams *hp, lm_error *err);

#endif

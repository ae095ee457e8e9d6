/* Private to the model module: the structures model_load.c builds and
 * model.c's forward pass reads. */
#ifndef LMTERM_MODEL_IMPL_H
#define LMTERM_MODEL_IMPL_H

#include "model.h"

typedef struct model_layer {
    const float *attn_norm, *ffn_norm;
    kernels_matrix wqkv;          /* phi3: q | k | v rows */
    kernels_matrix wq, wk, wv;    /* llama */
    kernels_matrix wo;
    kernels_matrix ffn_gate_up;   /* phi3: gate rows then up rows */
    kernels_matrix ffn_gate, ffn_up; /* llama */
    kernels_matrix ffn_down;
} model_layer;

/* Work buffers for one batch of up to max_batch tokens; allocated once. */
typedef struct model_scratch {
    int max_batch;
    float *x;        /* [batch][n_embd] residual stream */
    float *xn;       /* [batch][n_embd] normalised input of a block */
    float *qkv;      /* [batch][q_dim + 2 kv_dim] */
    float *att;      /* [batch][q_dim] attention output */
    float *proj;     /* [batch][n_embd] */
    float *ffn;      /* [batch][2 n_ff] gate | up, then silu(gate) * up [batch][n_ff] */
    float *scores;   /* [n_threads][n_ctx] */
    float *rope;     /* [batch][n_rot] cos, sin pairs */
    void *act;       /* converted activations for kernels_matmul */
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

    void **owned;  /* converted weight buffers */
    int n_owned;
    uint64_t weight_bytes, param_count;

    int n_ctx, n_past;
    int q_dim, kv_dim;
    float *k_cache, *v_cache; /* [layer][n_ctx][kv_dim] */
    model_scratch s;
};

/* model_load.c */
int model_read_hparams(const gguf_file *f, model_hparams *hp, lm_error *err);

#endif

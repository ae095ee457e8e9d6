/* model: a Llama or Phi-3 transformer read from a GGUF file: hyper-parameters,
 * weights (used from the mapping, or converted to another precision), the KV
 * cache and the forward pass. Single-sequence: tokens are appended at the end of
 * the cache; the caller may cut the cache back to any shorter length. */
#ifndef LMTERM_MODEL_H
#define LMTERM_MODEL_H

#include "gguf.h"
#include "kernels.h"
#include "tokenizer.h"

#include <stdatomic.h>

enum model_arch { MODEL_ARCH_LLAMA, MODEL_ARCH_PHI3 };

/* Run-time storage of the weight matrices (the menu's "precision"). */
enum model_precision {
    MODEL_PRECISION_NATIVE, /* as stored in the file, zero-copy */
    MODEL_PRECISION_FP32,
    MODEL_PRECISION_FP16,
    MODEL_PRECISION_INT8, /* Q8_0 */
    MODEL_PRECISION_INT4, /* Q4_0 */
};

const char *model_precision_name(enum model_precision p); /* "native", "fp32", ... */
int model_precision_from_name(const char *name);          /* -1 when unknown */

typedef struct model_hparams {
    enum model_arch arch;
    char name[128];
    int n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
    int n_ctx_train;
    int n_rot;
    float rope_base, rope_freq_scale, rope_attn_factor;
    int n_ctx_orig; /* rope.scaling.original_context_length */
    float norm_eps;
    int sliding_window; /* 0: none */
} model_hparams;

typedef void (*model_progress_fn)(void *ctx, float fraction);

typedef struct model_options {
    int n_ctx;     /* context in use; 0: min(training context, 4096) */
    int n_threads; /* 0: physical cores */
    enum model_precision precision;
    model_progress_fn progress; /* may be NULL; called while converting weights */
    void *progress_ctx;
    const atomic_bool *cancel; /* may be NULL; checked while loading */
} model_options;

typedef struct model model;

/* Opens path, validates the hyper-parameters and every tensor's shape, converts
 * the weights if asked and allocates the KV cache for n_ctx positions. */
model *model_load(const char *path, const model_options *opt, lm_error *err);
void model_free(model *m);

const model_hparams *model_get_hparams(const model *m);
const tokenizer *model_get_tokenizer(const model *m);
const gguf_file *model_get_file(const model *m);
enum model_precision model_get_precision(const model *m);
int model_n_ctx(const model *m);
int model_n_threads(const model *m);
/* Positions currently held in the KV cache. */
int model_n_past(const model *m);
uint64_t model_weight_bytes(const model *m); /* bytes of the matrices as used */
uint64_t model_kv_bytes(const model *m);
uint64_t model_param_count(const model *m);
/* The type most of the layer matrices have (for titles and menus). */
enum quant_type model_main_type(const model *m);

/* Forgets cached positions >= n_keep. */
void model_kv_truncate(model *m, int n_keep);

/* Evaluates n tokens at positions n_past.. and appends them to the cache.
 * When logits is not NULL it receives the n_vocab logits of the last token.
 * stop (may be NULL) is checked between batches and layers: when it is set the
 * call returns 1 and the cache keeps only the batches completed. Returns 0 on
 * success, -1 with err set on error (no room in the context, bad token id). */
int model_eval(model *m, const int32_t *tokens, int n, float *logits, const atomic_bool *stop,
               lm_error *err);

/* Bytes the weight matrices of f would take at precision p (for menus and info). */
uint64_t model_estimate_weight_bytes(const gguf_file *f, enum model_precision p);
/* The storage type a matrix stored as `stored` gets at precision p. */
enum quant_type model_precision_type(enum model_precision p, enum quant_type stored);

#endif

/* model: a Llama or Phi-3 transformer read from a GGUF file: hyper-parameters,
 * weights (used from the mapping, or converted to another precision), KV
 * caches and the forward pass.
 *
 * Sequences. A model_seq is one conversation's KV cache and length: tokens are
 * appended at its end, and the caller may cut it back to any shorter length.
 * The model owns a default sequence (its n_ctx and cache type come from
 * model_options) on which model_eval, model_kv_truncate and model_n_past act;
 * more sequences, each with its own context size and cache type, come from
 * model_seq_create and share the weights. model_decode advances up to
 * MODEL_MAX_DECODE sequences by one token each, reading every weight matrix
 * once for all of them; each sequence's logits are bit for bit those of
 * model_seq_eval of that one token on that sequence alone.
 *
 * Threads: a model and its sequences are used by one thread at a time (the
 * calls share the model's work buffers and thread pool). */
#ifndef LMTERM_MODEL_H
#define LMTERM_MODEL_H

#include "gguf.h"
#include "kernels.h"
#include "model_options.h"
#include "tokenizer.h"

#include <stdatomic.h>

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
/* Positions currently held in the default sequence's KV cache. */
int model_n_past(const model *m);
uint64_t model_weight_bytes(const model *m);            /* bytes of the matrices as used */
uint64_t model_kv_bytes(const model *m);                /* the default sequence's cache */
enum model_cache_type model_cache_type(const model *m); /* the default sequence's */
uint64_t model_param_count(const model *m);
/* The type most of the layer matrices have (for titles and menus). */
enum quant_type model_main_type(const model *m);

/* Forgets cached positions >= n_keep of the default sequence. */
void model_kv_truncate(model *m, int n_keep);

/* Evaluates n tokens at positions n_past.. and appends them to the cache.
 * When logits is not NULL it receives the n_vocab logits of the last token.
 * stop (may be NULL) is checked between batches and layers: when it is set the
 * call returns 1 and the cache keeps only the batches completed. Returns 0 on
 * success, -1 with err set on error (no room in the context, bad token id). */
int model_eval(model *m, const int32_t *tokens, int n, float *logits, const atomic_bool *stop,
               lm_error *err);
/* As model_eval, but logits (when not NULL) receives n rows of n_vocab: the
 * logits after every token of the batch (perplexity). */
int model_eval_all(model *m, const int32_t *tokens, int n, float *logits, const atomic_bool *stop,
                   lm_error *err);

/* ---- sequences ---- */

typedef struct model_seq model_seq;

/* The most sequences one model_decode call takes. */
#define MODEL_MAX_DECODE 64

/* A new, empty sequence of m with room for n_ctx positions (0: the model's
 * n_ctx; at most the training context) in a cache of the given type. NULL
 * with err set when the memory is not there or the type does not fit the
 * model. Free it before the model. The cache's pages are touched as it
 * fills. RoPE scaling that depends on the context size (Phi-3 LongRoPE)
 * follows the model's n_ctx, not the sequence's. */
model_seq *model_seq_create(model *m, int n_ctx, enum model_cache_type type, lm_error *err);
void model_seq_free(model_seq *s);
/* The model's own sequence (used by model_eval); not to be freed. */
model_seq *model_default_seq(model *m);
int model_seq_n_past(const model_seq *s);
int model_seq_n_ctx(const model_seq *s);
enum model_cache_type model_seq_cache_type(const model_seq *s);
uint64_t model_seq_kv_bytes(const model_seq *s);
/* Forgets cached positions >= n_keep. */
void model_seq_truncate(model_seq *s, int n_keep);

/* model_eval on sequence s. all_logits: logits receives a row for every
 * token (n * n_vocab floats) instead of the last token's only. */
int model_seq_eval(model *m, model_seq *s, const int32_t *tokens, int n, float *logits,
                   bool all_logits, const atomic_bool *stop, lm_error *err);

/* One generation step for n_seq distinct sequences: token i is appended to
 * seqs[i], and logits (n_seq * n_vocab floats) receives row i for it, bit
 * for bit what model_seq_eval(m, seqs[i], &tokens[i], 1, ...) gives. The
 * weights are read once for all sequences. 0 on success; -1 with err set
 * (nothing is appended then) when a sequence is full, appears twice, belongs
 * to another model, or a token is outside the vocabulary. */
int model_decode(model *m, model_seq *const *seqs, const int32_t *tokens, int n_seq, float *logits,
                 lm_error *err);

/* Bytes the weight matrices of f would take at precision p (for menus and info). */
uint64_t model_estimate_weight_bytes(const gguf_file *f, enum model_precision p);

#endif

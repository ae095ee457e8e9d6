/* model_options: what a model is asked to load as (architecture, precision,
 * KV cache storage, context, threads), apart from model.h so that code which
 * only chooses these (the configuration, the session, the menus) sees no
 * GGUF file, tensor or forward pass. The functions are model.c's. */
#ifndef LMTERM_MODEL_OPTIONS_H
#define LMTERM_MODEL_OPTIONS_H

#include "quant.h"

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

/* Storage of cached keys and values. F16 is the default (as llama.cpp's);
 * Q8_0 halves it again (head sizes that are multiples of 32 only). */
enum model_cache_type { MODEL_CACHE_F16, MODEL_CACHE_Q8_0, MODEL_CACHE_F32 };

const char *model_cache_type_name(enum model_cache_type t); /* "f16", "q8_0", "f32" */
int model_cache_type_from_name(const char *name);           /* -1 when unknown */

typedef void (*model_progress_fn)(void *ctx, float fraction);

typedef struct model_options {
    int n_ctx;     /* context in use; 0: min(training context, 4096) */
    int n_threads; /* 0: physical cores */
    enum model_precision precision;
    enum model_cache_type cache_type; /* of the default sequence; 0: f16 */
    model_progress_fn progress;       /* may be NULL; called while converting weights */
    void *progress_ctx;
    const atomic_bool *cancel; /* may be NULL; checked while loading */
} model_options;

/* The storage type a matrix stored as `stored` gets at precision p. */
enum quant_type model_precision_type(enum model_precision p, enum quant_type stored);

#endif

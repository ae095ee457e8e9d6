/* synth: random-weight models of real shapes, written as GGUF files with the
 * tensor names, shapes and metadata llama.cpp expects. Tests and benchmarks
 * run on them; the first-run demo model is one. The vocabulary is made up
 * (English words, bytes and the model family's special tokens), padded to
 * the real vocabulary size for full-size shapes. */
#ifndef LMTERM_SYNTH_H
#define LMTERM_SYNTH_H

#include "quant.h"
#include "util.h"

typedef struct synth_options {
    const char *arch;            /* "phi3" or "llama" */
    const char *shape;           /* "tiny", "small", "medium", "phi3-mini", "llama3-8b" */
    enum quant_type type;        /* type of the weight matrices */
    enum quant_type output_type; /* output.weight; QT_COUNT: same as type */
    uint64_t seed;
    int n_ctx_train; /* 0: the shape's own */
    /* may be NULL: called after each tensor is written, with tensors done,
     * tensors in all, bytes written so far and in all (for a progress line) */
    void (*progress)(void *ctx, int done, int total, uint64_t bytes, uint64_t total_bytes);
    void *progress_ctx;
} synth_options;

/* Writes the model to path atomically. */
int synth_write(const synth_options *o, const char *path, lm_error *err);

/* Names the shapes and types synth accepts, for messages. */
const char *synth_shapes(void);

#endif

/* kernels: matrix products of quantized weights with float activations, the
 * hot loops of the forward pass. Activations are converted once per product to
 * the weight type's dot-product format (quant.h), then rows are split among the
 * pool's threads. No I/O, no allocation: the caller passes scratch memory. */
#ifndef LMTERM_KERNELS_H
#define LMTERM_KERNELS_H

#include "quant.h"
#include "threadpool.h"

#include <stddef.h>
#include <stdint.h>

/* A weight matrix of `rows` rows of `cols` values, row-major, in any type
 * quant.h can read. */
typedef struct kernels_matrix {
    const void *data;
    enum quant_type type;
    int64_t cols, rows;
    size_t row_bytes;
} kernels_matrix;

/* Bytes of scratch kernels_matmul needs for n_tok activation rows. */
size_t kernels_scratch_bytes(const kernels_matrix *w, int n_tok);

/* y[t*w->rows + r] = dot(W row r, x row t) for t < n_tok, with x rows of w->cols
 * floats. scratch: kernels_scratch_bytes(w, n_tok) bytes, 64-byte aligned. */
void kernels_matmul(threadpool *pool, const kernels_matrix *w, const float *x, int n_tok, float *y,
                    void *scratch);

/* Which implementation runs: "scalar", "avx2", "avx512". */
const char *kernels_backend(void);

#endif

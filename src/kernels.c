/* kernels: see include/kernels.h. This file holds the portable path: the
 * activations are converted with quant_quantize_row and each output is one
 * quant_vec_dot_ref, the arithmetic llama.cpp's generic code performs. */
#include "kernels.h"

#include <string.h>

size_t kernels_scratch_bytes(const kernels_matrix *w, int n_tok) {
    const quant_type_info *info = quant_info(w->type);
    return quant_row_size(info->vec_dot_type, w->cols) * (size_t)n_tok + 64;
}

const char *kernels_backend(void) { return "scalar"; }

typedef struct matmul_task {
    const kernels_matrix *w;
    const float *x;
    float *y;
    int n_tok;
    uint8_t *act; /* activations converted to the vec-dot type */
    size_t act_row_bytes;
    enum quant_type act_type;
} matmul_task;

static void convert_activations(void *arg, int ith, int nth) {
    matmul_task *t = arg;
    for (int i = ith; i < t->n_tok; i += nth)
        quant_quantize_row(t->act_type, t->x + (size_t)i * t->w->cols,
                           t->act + (size_t)i * t->act_row_bytes, t->w->cols);
}

static void dot_rows(void *arg, int ith, int nth) {
    matmul_task *t = arg;
    const kernels_matrix *w = t->w;
    int64_t per = (w->rows + nth - 1) / nth;
    int64_t r0 = per * ith, r1 = r0 + per < w->rows ? r0 + per : w->rows;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = (const uint8_t *)w->data + (size_t)r * w->row_bytes;
        for (int i = 0; i < t->n_tok; i++)
            t->y[(size_t)i * w->rows + r] =
                quant_vec_dot_ref(w->type, row, t->act + (size_t)i * t->act_row_bytes, w->cols);
    }
}

void kernels_matmul(threadpool *pool, const kernels_matrix *w, const float *x, int n_tok, float *y,
                    void *scratch) {
    matmul_task t = {.w = w, .x = x, .y = y, .n_tok = n_tok, .act = scratch};
    t.act_type = quant_info(w->type)->vec_dot_type;
    t.act_row_bytes = quant_row_size(t.act_type, w->cols);
    threadpool_run(pool, convert_activations, &t);
    threadpool_run(pool, dot_rows, &t);
}

/* kernels: matrix products of quantized weights with float activations, the
 * hot loops of the forward pass. Activations are converted once per product to
 * the weight type's dot-product format (quant.h), then rows are split among the
 * pool's threads. One token (generation) streams every weight row once and is
 * bound by memory bandwidth; a batch of tokens (a prompt) packs rows into
 * panels held in cache and is bound by arithmetic (on the portable backend,
 * F32 batches go to OpenBLAS's sgemm). The instruction set (AVX2,
 * AVX-512 with VNNI, or portable C) is chosen at run time from the CPU; the
 * environment variable LMTERM_KERNELS=scalar|avx2|avx512 caps it. No I/O; the
 * caller passes the scratch memory, and the pool keeps each thread's panel
 * buffer, so a steady run allocates nothing. */
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
    int layout; /* KERNELS_ROWS, or KERNELS_SPLIT after kernels_repack */
    void *mem;  /* what kernels_repack allocated, NULL if nothing */
} kernels_matrix;

/* Row layouts. KERNELS_ROWS: as stored in GGUF. KERNELS_SPLIT (Q4_0, Q8_0):
 * each row keeps its bytes, but all its codes come first, four blocks to 64
 * bytes (Q8_0's: 128 bytes, codes 0..15 of the four blocks, then 16..31,
 * stored plus 128 as unsigned bytes), then all its fp16 scales. The
 * generation kernels then read whole aligned vectors of codes and shuffle
 * nothing: on Intel cores, whose one shuffle port was what held the GGUF
 * layout's kernels back, and on AMD alike. */
enum { KERNELS_ROWS = 0, KERNELS_SPLIT = 1 };

/* kernels_repack's flags: rearrange w->data itself (memory the caller owns
 * and may write), or copy into new memory and drop the source's pages from
 * this process (a read-only file mapping, which the page cache keeps). */
enum { KERNELS_REPACK_IN_PLACE = 1, KERNELS_REPACK_DROP_SOURCE = 2 };

/* Whether a model's matrices should be repacked at load: LMTERM_REPACK=0/1
 * when set, else on Intel processors (where it measured faster). */
bool kernels_repack_wanted(void);

/* Puts w in the layout its generation kernels read fastest, where that is
 * not the stored one (Q4_0 and Q8_0): new
 * memory starts at a 2 MiB boundary, advised for large pages, and is freed by
 * kernels_release. Returns 1 when w was rearranged, 0 when it is
 * kept as it is (also when memory runs out). Rows of a repacked matrix read
 * back with kernels_row. */
int kernels_repack(kernels_matrix *w, threadpool *pool, unsigned flags);
void kernels_release(kernels_matrix *w);

/* Row r of w as GGUF stores it: a pointer into w, or into tmp (w->row_bytes
 * bytes) for a repacked w. */
const uint8_t *kernels_row(const kernels_matrix *w, int64_t r, uint8_t *tmp);

/* Bytes of scratch kernels_matmul needs for n_tok activation rows. */
size_t kernels_scratch_bytes(const kernels_matrix *w, int n_tok);

/* y[t*w->rows + r] = dot(W row r, x row t) for t < n_tok, with x rows of w->cols
 * floats. scratch: kernels_scratch_bytes(w, n_tok) bytes, 64-byte aligned. */
void kernels_matmul(threadpool *pool, const kernels_matrix *w, const float *x, int n_tok, float *y,
                    void *scratch);

/* Attention of one query against n cached positions: s_j = scale * (q . k_j),
 * p = softmax(s), out = sum_j p_j v_j. q, k_j, v_j and out have dim floats;
 * k_j = k + j * stride, v_j likewise. scores: n floats of scratch. The
 * softmax is the forward pass's (expf, the sum in double). */
void kernels_attend(const float *q, const float *k, const float *v, size_t stride, int n, int dim,
                    float scale, float *scores, float *out);

/* Memory for weight matrices, aligned to and advised for 2 MiB pages
 * (transparent huge pages). Generation streams every weight once per token,
 * and streaming from 2 MiB pages is much faster than from 4 KiB ones: fewer
 * TLB misses (costly on virtual machines) and prefetchers that do not stop
 * every 4 KiB. NULL on failure; free with kernels_free_weights(p, bytes). */
void *kernels_alloc_weights(size_t bytes);
void kernels_free_weights(void *p, size_t bytes);

/* Read bandwidth in bytes per second, as STREAM measures it: `pool`'s
 * threads each read their own contiguous share of `bytes` (a buffer far
 * larger than the caches, written before) with vector loads; the best of
 * `passes` passes with plain loads and as many with software prefetch 1 and
 * 4 KiB ahead (which one core of some CPUs needs to reach the memory's
 * speed).
 * Generation reads the weights this way, so this is the bound it is set
 * against. */
double kernels_read_bandwidth(threadpool *pool, const void *buf, size_t bytes, int passes);

/* Which implementation runs: "scalar", "avx2", "avx512". */
const char *kernels_backend(void);
/* Forces one ("scalar", "avx2", "avx512"), for tests that compare them; -1
 * when this CPU or build lacks it. NULL: choose again from the CPU and
 * LMTERM_KERNELS. Not to be called while a product runs. */
int kernels_set_backend(const char *name);

/* y as kernels_matmul gives it, each token's row bit for bit that of a
 * product of the token alone (the one-token kernel, applied per token over
 * chunks of rows small enough to stay in cache): the weights are read once
 * for all n_tok tokens. For generating several sequences at once. */
void kernels_matvec_batch(threadpool *pool, const kernels_matrix *w, const float *x, int n_tok,
                          float *y, void *scratch);

#endif

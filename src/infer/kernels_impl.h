/* Private to the kernels module: the activation layouts the SIMD kernels read,
 * the weight panels they pack for prompt batches, and the table through which
 * kernels.c finds each instruction set's functions.
 *
 * Activations. kernels_matmul converts each token's row of floats once, with
 * the same rounding as quant_quantize_row (so the integer codes are exactly
 * the reference's), into one of these layouts:
 *
 *   ACT_REF   the vec_dot_type row itself (the scalar path)
 *   ACT_Q8X4  32-weight blocks as Q8_0 / Q8_1 codes, four blocks to a
 *             kernels_q8x4 (see there)
 *   ACT_Q8K   256-weight super-blocks as Q8_K codes, one kernels_q8k each
 *   ACT_F32   floats (F32 weights)
 *   ACT_F16R  floats rounded to half precision and back (F16 weights: the
 *             reference multiplies halves, and a half times a half is exact
 *             in float, so widening both sides keeps the arithmetic)
 *   ACT_BF16R floats rounded to bfloat16 and back (BF16 weights; as F16)
 *
 * Weights are unsigned bytes in every integer kernel (VNNI multiplies
 * unsigned by signed bytes), so a type whose codes are signed or centred adds
 * a constant `zero` to them: Q4_0 stores q = w + 8, Q5_0 w + 16, and Q8_0's
 * codes are flipped to w + 128 when unpacked. The activation layout carries
 * -zero * (sum of the block's activation codes), the exact correction, as the
 * starting value of each block's integer sum. */
#ifndef LMTERM_KERNELS_IMPL_H
#define LMTERM_KERNELS_IMPL_H

#include "kernels.h"

#include <stdatomic.h>
#include <string.h>

enum kernels_act { ACT_REF, ACT_Q8X4, ACT_Q8K, ACT_F32, ACT_F16R, ACT_BF16R };
#define KERNELS_N_ACT (ACT_BF16R + 1)

/* Four 32-weight blocks of Q8 activation codes. The codes are stored halves
 * first: qs[16k..16k+15] are block k's codes 0..15 and qs[64+16k..] its codes
 * 16..31, because a Q4 block keeps weights j and j + 16 in one byte: one load
 * of four blocks' bytes then splits into the low and the high halves. */
typedef struct kernels_q8x4 {
    int8_t qs[128];
    int32_t bias[16]; /* lane 4k: -zero * sum of block k's codes; other lanes 0 */
    float d[4];       /* block scales */
    float s[4];       /* Q8_1's s = d * sum(codes), rounded to half as stored */
    uint8_t pad[32];
} kernels_q8x4;

/* One 256-weight Q8_K super-block. For Q4_K and Q5_K the codes are reordered
 * in each 128: 0..31, 64..95, 32..63, 96..127, the order in which one load of
 * their nibbles splits into low and high halves; Q6_K keeps them in order. */
typedef struct kernels_q8k {
    int8_t qs[256];
    float d;
    int16_t bsums[16]; /* sums of each 16 codes (natural order) */
    int16_t bsum32[8]; /* sums of each 32 codes */
    uint8_t pad[12];
} kernels_q8k;

_Static_assert(sizeof(kernels_q8x4) == 256, "kernels_q8x4");
_Static_assert(sizeof(kernels_q8k) == 320, "kernels_q8k");

/* Offset in kernels_q8k.qs of code e when reordered for Q4_K / Q5_K. */
static inline int kernels_q8k_k4_pos(int e) {
    static const int part[4] = {0, 64, 32, 96};
    return (e & ~127) + part[(e & 127) / 32] + (e & 31);
}

/* One matrix product: what every worker needs to compute rows of y. */
typedef struct kernels_job {
    const kernels_matrix *w;
    const void *act; /* n_tok converted rows, act_stride bytes apart */
    size_t act_stride;
    int n_tok;
    float *y; /* y[t * w->rows + r] */
    int zero; /* added to the weight codes (see above) */
} kernels_job;

/* Computes y for rows [r0, r1) and all tokens, one token at a time: the
 * generation path, bound by memory bandwidth. */
typedef void (*kernels_gemv_fn)(const kernels_job *j, int64_t r0, int64_t r1);

/* Several sequences decoded together (kernels_matvec_batch) are computed
 * KERNELS_GEMV_TOKENS tokens at a time: each block of weights is loaded and
 * unpacked once and applied to every token of the group, with one
 * accumulator per row and token. The work a token adds is then its integer
 * dot products and its scaling, not the loads and the unpacking. Each
 * accumulator goes through exactly the operations, in the order, of a token
 * alone (a group of one is the one-token kernel), so every token's row of y
 * is bit for bit what it gets alone. */
#define KERNELS_GEMV_TOKENS 4

/* A tile: rows [r, min(r + R, end)) by tokens [t0, t0 + T), R and T fixed
 * by the function; ctx is the kernel's own. */
typedef void (*kernels_gemv_tile_fn)(const kernels_job *j, int64_t r, int64_t end, int t0,
                                     const void *ctx);
typedef struct kernels_gemv_tiles {
    int rows[KERNELS_GEMV_TOKENS + 1];                /* R of the tile for T tokens */
    kernels_gemv_tile_fn fn[KERNELS_GEMV_TOKENS + 1]; /* by T */
} kernels_gemv_tiles;

/* Stores a tile's results: y[t * R + k] is row r + k's value for token
 * t0 + t; the first n of the R rows are real (see row groups). */
static inline void kernels_tile_store(const kernels_job *j, int64_t r, int n, int R, int t0, int T,
                                      const float *y) {
    for (int t = 0; t < T; t++)
        for (int k = 0; k < n; k++) j->y[(size_t)(t0 + t) * j->w->rows + r + k] = y[t * R + k];
}

/* KERNELS_GEMV_TILES(name, tile, R1, RT, extra...) makes the tile functions
 * tile(extra..., R, T, j, r, end, t0, ctx) for T = 1 (R1 rows) and T = 2..4
 * (RT rows each), and their table `name`. */
#define KERNELS_GEMV_TILES(name, tile, R1, RT, ...)                                                \
    static void name##_1(const kernels_job *j, int64_t r, int64_t e, int t0, const void *c) {      \
        tile(__VA_ARGS__ R1, 1, j, r, e, t0, c);                                                   \
    }                                                                                              \
    static void name##_2(const kernels_job *j, int64_t r, int64_t e, int t0, const void *c) {      \
        tile(__VA_ARGS__ RT, 2, j, r, e, t0, c);                                                   \
    }                                                                                              \
    static void name##_3(const kernels_job *j, int64_t r, int64_t e, int t0, const void *c) {      \
        tile(__VA_ARGS__ RT, 3, j, r, e, t0, c);                                                   \
    }                                                                                              \
    static void name##_4(const kernels_job *j, int64_t r, int64_t e, int t0, const void *c) {      \
        tile(__VA_ARGS__ RT, 4, j, r, e, t0, c);                                                   \
    }                                                                                              \
    static const kernels_gemv_tiles name = {{0, R1, RT, RT, RT},                                   \
                                            {NULL, name##_1, name##_2, name##_3, name##_4}};

/* Rows [r0, r1) by every token: the tokens KERNELS_GEMV_TOKENS at a time
 * (the rest in one smaller group), each group over the rows in tiles of its
 * size (within groups of the one-token tile's rows). Groups of tokens
 * outside: a group's activations stay in the L1 cache, and the chunk of
 * rows, read again for the next group, in L2. group (may be NULL) is called
 * before each group of tokens, with ctx, to prepare what its tiles read. */
static inline void kernels_run_gemv_tiles(const kernels_job *j, int64_t r0, int64_t r1,
                                          const kernels_gemv_tiles *tiles, void *ctx,
                                          void (*group)(const kernels_job *j, int t0, int T,
                                                        void *ctx)) {
    const int R = tiles->rows[1];
    for (int t0 = 0; t0 < j->n_tok;) {
        const int T = j->n_tok - t0 < KERNELS_GEMV_TOKENS ? j->n_tok - t0 : KERNELS_GEMV_TOKENS;
        if (group) group(j, t0, T, ctx);
        for (int64_t r = r0; r < r1; r += R) {
            const int64_t end = r + R < r1 ? r + R : r1;
            for (int64_t rr = r; rr < end; rr += tiles->rows[T]) tiles->fn[T](j, rr, end, t0, ctx);
        }
        t0 += T;
    }
}

/* Computes y for rows [r0, r1) (at most KERNELS_CHUNK_ROWS) and all tokens,
 * through `panel`, panel_bytes(cols) bytes of this thread's scratch: the
 * prompt path, bound by arithmetic. */
typedef void (*kernels_gemm_fn)(const kernels_job *j, int64_t r0, int64_t r1, void *panel);

typedef struct kernels_type_fns {
    enum kernels_act act;
    kernels_gemv_fn gemv;
    kernels_gemm_fn gemm; /* NULL: gemv serves batches too; reads rows with kernels_row */
    size_t (*panel_bytes)(int64_t cols);
    kernels_gemv_fn gemv_split; /* the KERNELS_SPLIT layout's (NULL: not repacked) */
} kernels_type_fns;

/* kernels_attend's dot products and weighted sum; the softmax between them
 * is shared (kernels_softmax). */
typedef void (*kernels_attend_fn)(const float *q, const float *k, const float *v, size_t stride,
                                  int n, int dim, float scale, float *scores, float *out);

/* Converts one row of activations, bit for bit as kernels_convert_row does. */
typedef void (*kernels_convert_fn)(enum kernels_act act, enum quant_type wtype, const float *x,
                                   int64_t cols, void *dst);

typedef struct kernels_ops {
    const char *name;
    kernels_type_fns types[QT_COUNT]; /* gemv NULL: not handled, use the scalar path */
    kernels_attend_fn attend;
    kernels_convert_fn convert[KERNELS_N_ACT]; /* per layout; NULL: kernels_convert_row */
} kernels_ops;

/* scores[j] = expf(scores[j] - max); returns 1 / their sum (summed in double,
 * in order), the normalisation of the forward pass's softmax. */
float kernels_softmax(float *scores, int n);

/* Rows given to a worker at a time: a multiple of the 16-row panels, small
 * enough that the packed panels stay in the L2 cache. */
#define KERNELS_CHUNK_ROWS 64

/* How far ahead of its reads (bytes) a generation kernel prefetches the
 * weight stream; 0: none, the hardware prefetchers alone. Chosen for the CPU
 * when the instruction set is (kernels.c); LMTERM_PREFETCH overrides it. */
extern int kernels_gemv_prefetch;
extern bool kernels_gemv_prefetch_l2; /* into L2 only (measured slower; kernels_speed) */
/* Rows longer than this (columns) are read several at a time by the
 * 32-weight generation kernels (see kernels_avx512.c); kernels_speed tries
 * others. */
extern int kernels_gemv_multi_cols;

/* The instruction sets' tables (NULL when not compiled in). */
const kernels_ops *kernels_avx2_ops(void);
const kernels_ops *kernels_avx512_ops(void);
/* AVX-512 with AMX tiles for the batches of 32-weight blocks; NULL where
 * the compiler had no AMX. */
const kernels_ops *kernels_amx_ops(void);

/* kernels.c: the portable activation converters (exact by construction: they
 * call quant_quantize_row), which the SIMD files may replace. */
size_t kernels_act_row_bytes(enum kernels_act act, enum quant_type wtype, int64_t cols);
void kernels_convert_row(enum kernels_act act, enum quant_type wtype, const float *x, int64_t cols,
                         void *dst);
/* The code offset `zero` of a weight type's unsigned codes (see above). */
int kernels_zero_point(enum quant_type wtype);

static inline uint32_t kernels_load_u32(const void *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

#endif

/* kernels_avx512: AVX-512 (F, BW, DQ, VL) with VNNI. Compiled with those
 * flags and called only when the CPU has them (kernels.c checks).
 *
 * Generation (one token): each weight row is streamed once and unpacked in
 * registers, four 32-weight blocks or one 256-weight super-block at a time;
 * VNNI's vpdpbusd multiplies unsigned weight codes by signed activation codes
 * and sums each four products into a 32-bit lane. Several sequences decoded
 * together share each unpacked block, up to four tokens at a time (see
 * KERNELS_GEMV_TOKENS), each with the arithmetic it would have alone.
 *
 * Prompts (a batch): a chunk of rows is packed into panels of 16 rows in
 * which each 64-byte vector holds four consecutive codes of every row. One
 * vpdpbusd with four activation codes broadcast then does 64 multiply-adds
 * for 16 rows, and a tile of 16 rows by up to 8 tokens stays in registers
 * while the panel stays in the L2 cache. The integer sums are exact; only the
 * order of the float additions differs from quant_vec_dot_ref's. */
#include "kernels_impl.h"

#include <immintrin.h>

#define INLINE static inline __attribute__((always_inline))
/* Register tiles are arrays indexed by loop counters: unrolled, they live in
 * registers. */
#define UNROLL _Pragma("GCC unroll 16")
#define TILE_TOKENS 8 /* tokens per register tile */
/* Packing reads rows from memory once; a prefetch this far ahead keeps the
 * loads from waiting on DRAM (10-20% of a prompt's time without it). */
#define PACK_PREFETCH 2048

/* A tile function computes 16 rows (those in `rows`) by a fixed number of
 * tokens from t0 on; TILES makes the 8-, 4-, 2- and 1-token versions of a
 * body(extra..., NT, ...) and a table of them. */
typedef void (*tile_fn)(const uint8_t *panel, int64_t n, const kernels_job *j, int t0, float *y,
                        __mmask16 rows);
#define TILES(name, body, ...)                                                                     \
    static void name##_8(const uint8_t *p, int64_t n, const kernels_job *j, int t0, float *y,      \
                         __mmask16 m) {                                                            \
        body(__VA_ARGS__ 8, p, n, j, t0, y, m);                                                    \
    }                                                                                              \
    static void name##_4(const uint8_t *p, int64_t n, const kernels_job *j, int t0, float *y,      \
                         __mmask16 m) {                                                            \
        body(__VA_ARGS__ 4, p, n, j, t0, y, m);                                                    \
    }                                                                                              \
    static void name##_2(const uint8_t *p, int64_t n, const kernels_job *j, int t0, float *y,      \
                         __mmask16 m) {                                                            \
        body(__VA_ARGS__ 2, p, n, j, t0, y, m);                                                    \
    }                                                                                              \
    static void name##_1(const uint8_t *p, int64_t n, const kernels_job *j, int t0, float *y,      \
                         __mmask16 m) {                                                            \
        body(__VA_ARGS__ 1, p, n, j, t0, y, m);                                                    \
    }                                                                                              \
    static const tile_fn name[4] = {name##_8, name##_4, name##_2, name##_1};

/* ---- small helpers ---- */

static inline float hsum128(__m128 v) {
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    return _mm_cvtss_f32(_mm_add_ss(v, _mm_movehdup_ps(v)));
}

static inline float half(const void *p) {
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return _cvtsh_ss(h);
}

/* Mask of the first n (0..64) bytes. */
static inline __mmask64 first_bytes(int n) {
    return n <= 0 ? 0 : n >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << n) - 1;
}

/* Prefetches the lines of n bytes from p: one every 64 bytes, so that a
 * loop stepping n bytes at a time touches every line of its stream. */
INLINE void prefetch_span(const uint8_t *p, int n) {
    if (kernels_gemv_prefetch_l2)
        for (int o = 0; o < n; o += 64) _mm_prefetch((const char *)p + o, _MM_HINT_T1);
    else
        for (int o = 0; o < n; o += 64) _mm_prefetch((const char *)p + o, _MM_HINT_T0);
}

static inline const uint8_t *row_of(const kernels_matrix *w, int64_t r) {
    return (const uint8_t *)w->data + (size_t)r * w->row_bytes;
}

/* The R rows from r on, the last one repeated past r1 (so that a kernel for
 * R rows serves a shorter group too); returns how many are real. */
static inline int row_group(const kernels_matrix *w, int64_t r, int64_t r1, int R,
                            const uint8_t *rows[]) {
    for (int k = 0; k < R; k++) rows[k] = row_of(w, r + k < r1 ? r + k : r1 - 1);
    return r1 - r < R ? (int)(r1 - r) : R;
}

static inline const uint8_t *act_of(const kernels_job *j, int t) {
    return (const uint8_t *)j->act + (size_t)t * j->act_stride;
}

/* ==== 32-weight blocks: Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 ==== */

enum q32_kind { Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 };

static const int q32_block_bytes[] = {18, 20, 22, 24, 34};

static inline bool q32_has_min(enum q32_kind k) {
    return k == Q4_1 || k == Q5_1;
}
static inline bool q32_has_qh(enum q32_kind k) {
    return k == Q5_0 || k == Q5_1;
}

/* Four blocks of B bytes are read as two overlapping vectors, z0 = bytes
 * [0, 64) and z1 = bytes [4B - 64, 4B); vpermt2w then gathers any 16-bit
 * field of the four blocks. Every field of these formats sits at an even
 * offset. (Q8_0's 136 bytes need two such pairs.) */
typedef struct quad_index {
    __m512i qs;    /* 16 code bytes of each block: blocks' bytes k*16.. */
    __m512i qs_hi; /* Q8_0: the second 16 code bytes of each block */
    __m512i dm;    /* d of blocks 0..3, then m of blocks 0..3 */
    __m512i qh;    /* low 16 bits of qh of blocks 0..3, then the high 16 bits */
} quad_index;

/* Word index of byte `at` in the pair (z0 = [0, 64), z1 = [z1_at, z1_at + 64)). */
static int16_t word_in_pair(int at, int z1_at) {
    return (int16_t)(at + 2 <= 64 ? at / 2 : 32 + (at - z1_at) / 2);
}

static quad_index make_quad_index(enum q32_kind kind) {
    const int B = q32_block_bytes[kind];
    const int qs_at = kind == Q4_0 ? 2 : kind == Q4_1 ? 4 : kind == Q5_0 ? 6 : kind == Q5_1 ? 8 : 2;
    const int z1_at = kind == Q8_0 ? 64 : 4 * B - 64;
    int16_t qs[32], qs_hi[32], dm[32] = {0}, qh[32] = {0};
    for (int j = 0; j < 32; j++) {
        int k = j / 8, w = j % 8;
        qs[j] = word_in_pair(k * B + qs_at + 2 * w, z1_at);
        /* Q8_0's second halves come from the pair starting at bytes 8 and 72 */
        qs_hi[j] = (int16_t)(kind == Q8_0 ? word_in_pair(k * B + 18 + 2 * w - 8, 64) : 0);
    }
    for (int k = 0; k < 4; k++) {
        dm[k] = word_in_pair(k * B, z1_at);
        dm[4 + k] = word_in_pair(k * B + 2, z1_at);
        const int qh_at = kind == Q5_0 ? 2 : 4;
        qh[k] = word_in_pair(k * B + qh_at, z1_at);
        qh[4 + k] = word_in_pair(k * B + qh_at + 2, z1_at);
    }
    return (quad_index){_mm512_loadu_si512(qs), _mm512_loadu_si512(qs_hi), _mm512_loadu_si512(dm),
                        _mm512_loadu_si512(qh)};
}

/* The unsigned codes of four blocks: lo = codes 0..15 of each block, hi =
 * codes 16..31 (kernels_q8x4's order), each plus the type's zero point. */
INLINE void q32_codes(enum q32_kind kind, const __m512i z[4], const quad_index *ix, __m512i *lo,
                      __m512i *hi) {
    if (kind == Q8_0) {
        const __m512i flip = _mm512_set1_epi8((char)0x80);
        *lo = _mm512_xor_si512(_mm512_permutex2var_epi16(z[0], ix->qs, z[1]), flip);
        *hi = _mm512_xor_si512(_mm512_permutex2var_epi16(z[2], ix->qs_hi, z[3]), flip);
        return;
    }
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i qs = _mm512_permutex2var_epi16(z[0], ix->qs, z[1]);
    *lo = _mm512_and_si512(qs, m4);
    *hi = _mm512_and_si512(_mm512_srli_epi16(qs, 4), m4);
    if (q32_has_qh(kind)) { /* bit j of a block's qh is its code j's fifth bit */
        const __m128i qh = _mm512_castsi512_si128(_mm512_permutex2var_epi16(z[0], ix->qh, z[1]));
        const __m512i c16 = _mm512_set1_epi8(16);
        *lo = _mm512_mask_add_epi8(*lo, _cvtu64_mask64((uint64_t)_mm_cvtsi128_si64(qh)), *lo, c16);
        *hi =
            _mm512_mask_add_epi8(*hi, _cvtu64_mask64((uint64_t)_mm_extract_epi64(qh, 1)), *hi, c16);
    }
}

/* The weight side of four blocks, unpacked once for every token: the codes
 * (kernels_q8x4's halves, plus the zero point) and the fp16 scales (then the
 * mins) as floats. */
typedef struct q32_quad_w {
    __m512i lo, hi;
    __m256 dm;
} q32_quad_w;

INLINE q32_quad_w q32_unpack(enum q32_kind kind, const __m512i z[4], const quad_index *ix) {
    /* Q4's scales all lie in z0: a one-source permute is cheaper */
    const __m512i dmh = kind == Q4_0 || kind == Q4_1
                            ? _mm512_permutexvar_epi16(ix->dm, z[0])
                            : _mm512_permutex2var_epi16(z[0], ix->dm, z[1]);
    q32_quad_w w;
    w.dm = _mm256_cvtph_ps(_mm512_castsi512_si128(dmh));
    q32_codes(kind, z, ix, &w.lo, &w.hi);
    return w;
}

/* Four unpacked blocks times four activation blocks: the exact integer sums,
 * scaled per block and added to acc's lanes (block k owns lanes 4k..4k+3);
 * the offset term m * s of the affine types goes to accm. Every token of a
 * group goes through exactly these operations, in this order, as it would
 * alone. */
INLINE void q32_apply(enum q32_kind kind, const q32_quad_w *w, const kernels_q8x4 *a, __m512 *acc,
                      __m128 *accm) {
    const __m128 scale = _mm_mul_ps(_mm256_castps256_ps128(w->dm), _mm_load_ps(a->d));
    __m512i isum = _mm512_load_si512(a->bias);
    isum = _mm512_dpbusd_epi32(isum, w->lo, _mm512_load_si512(a->qs));
    isum = _mm512_dpbusd_epi32(isum, w->hi, _mm512_load_si512(a->qs + 64));
    const __m512i spread = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum),
                           _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(scale)), *acc);
    if (q32_has_min(kind))
        *accm = _mm_fmadd_ps(_mm256_extractf128_ps(w->dm, 1), _mm_load_ps(a->s), *accm);
}

/* Loads the bytes of four blocks (or of the n_bytes < 4B that remain). */
INLINE void q32_load(enum q32_kind kind, const uint8_t *p, int n_bytes, __m512i z[4]) {
    const int B = q32_block_bytes[kind];
    const int z1_at = kind == Q8_0 ? 64 : 4 * B - 64;
    if (n_bytes >= 4 * B) {
        z[0] = _mm512_loadu_si512(p);
        z[1] = _mm512_loadu_si512(p + z1_at);
        if (kind == Q8_0) {
            z[2] = _mm512_loadu_si512(p + 8);
            z[3] = _mm512_loadu_si512(p + 72);
        }
        return;
    }
    z[0] = _mm512_maskz_loadu_epi8(first_bytes(n_bytes), p);
    z[1] = _mm512_maskz_loadu_epi8(first_bytes(n_bytes - z1_at), p + z1_at);
    if (kind == Q8_0) {
        z[2] = _mm512_maskz_loadu_epi8(first_bytes(n_bytes - 8), p + 8);
        z[3] = _mm512_maskz_loadu_epi8(first_bytes(n_bytes - 72), p + 72);
    }
}

/* The activations of a row take two bytes a weight (kernels_q8x4): past
 * 8192 columns they no longer share the 32 KiB L1 cache with the stream of
 * weights, and each row would fetch them again from L2. So long rows are
 * read several at a time, each activation load serving them all: Q32_ROWS
 * rows for one token, 4 for a group of tokens (Q32_GEMV), so that the rows
 * x tokens accumulators stay in registers. */
#define Q32_ROWS 8

/* y[t * R + r] = dot(rows[r], a[t]) for r < R, t < T (R <= Q32_ROWS,
 * T <= KERNELS_GEMV_TOKENS, R * T <= 16 accumulators). The accumulator of
 * each (row, token) goes through the same operations in the same order
 * whatever R and T are, so every token's result is bit for bit the one it
 * gets alone (T = 1). */
INLINE void q32_dot_tile(enum q32_kind kind, int R, int T, const uint8_t *const rows[],
                         const kernels_q8x4 *const a[], int64_t nb, const quad_index *ix,
                         float y[]) {
    const int B = q32_block_bytes[kind];
    __m512 acc[Q32_ROWS][KERNELS_GEMV_TOKENS];
    __m128 accm[Q32_ROWS][KERNELS_GEMV_TOKENS];
    UNROLL
    for (int r = 0; r < R; r++) {
        UNROLL
        for (int t = 0; t < T; t++) acc[r][t] = _mm512_setzero_ps(), accm[r][t] = _mm_setzero_ps();
    }
    __m512i z[4];
    int64_t q = 0;
    const int pf = kernels_gemv_prefetch;
    for (; q < nb / 4; q++) {
        UNROLL
        for (int r = 0; r < R; r++) {
            if (pf) prefetch_span(rows[r] + q * 4 * B + pf, 4 * B);
            q32_load(kind, rows[r] + q * 4 * B, 4 * B, z);
            const q32_quad_w w = q32_unpack(kind, z, ix);
            UNROLL
            for (int t = 0; t < T; t++) q32_apply(kind, &w, a[t] + q, &acc[r][t], &accm[r][t]);
        }
    }
    if (nb % 4) {
        UNROLL
        for (int r = 0; r < R; r++) {
            q32_load(kind, rows[r] + q * 4 * B, (int)(nb % 4) * B, z);
            const q32_quad_w w = q32_unpack(kind, z, ix);
            UNROLL
            for (int t = 0; t < T; t++) q32_apply(kind, &w, a[t] + q, &acc[r][t], &accm[r][t]);
        }
    }
    UNROLL
    for (int r = 0; r < R; r++) {
        UNROLL
        for (int t = 0; t < T; t++)
            y[t * R + r] = _mm512_reduce_add_ps(acc[r][t]) + hsum128(accm[r][t]);
    }
}

/* Rows [r, min(r + R, end)) by tokens [t0, t0 + T); ix: the quad_index. */
INLINE void q32_gemv_tile(enum q32_kind kind, int R, int T, const kernels_job *j, int64_t r,
                          int64_t end, int t0, const void *ix) {
    const kernels_matrix *w = j->w;
    const uint8_t *rows[Q32_ROWS];
    const int n = row_group(w, r, end, R, rows);
    const kernels_q8x4 *a[KERNELS_GEMV_TOKENS];
    UNROLL
    for (int t = 0; t < T; t++) a[t] = (const kernels_q8x4 *)act_of(j, t0 + t);
    float y[Q32_ROWS * KERNELS_GEMV_TOKENS];
    q32_dot_tile(kind, R, T, rows, a, w->cols / 32, ix, y);
    kernels_tile_store(j, r, n, R, t0, T, y);
}

/* Per type, the tiles of short rows (one at a time) and of long ones. */
#define Q32_GEMV(name, kind)                                                                       \
    KERNELS_GEMV_TILES(name##_short, q32_gemv_tile, 1, 1, kind, )                                  \
    KERNELS_GEMV_TILES(name##_long, q32_gemv_tile, Q32_ROWS, 4, kind, )                            \
    static void name(const kernels_job *j, int64_t r0, int64_t r1) {                               \
        const quad_index ix = make_quad_index(kind);                                               \
        const bool long_rows = j->w->cols > kernels_gemv_multi_cols;                               \
        kernels_run_gemv_tiles(j, r0, r1, long_rows ? &name##_long : &name##_short, (void *)&ix,   \
                               NULL);                                                              \
    }

Q32_GEMV(gemv_q4_0, Q4_0)
Q32_GEMV(gemv_q4_1, Q4_1)
Q32_GEMV(gemv_q5_0, Q5_0)
Q32_GEMV(gemv_q5_1, Q5_1)
Q32_GEMV(gemv_q8_0, Q8_0)

/* ---- 32-weight blocks in split rows (KERNELS_SPLIT): Q4_0 Q8_0 ----
 * Four blocks' codes are one aligned 64-byte vector (Q8_0: two) in exactly
 * kernels_q8x4's order, and their four scales are 8 bytes further on: no
 * byte is shuffled, and the one permute left (the scales to their lanes)
 * is a cheap one. */

/* The codes of n (1..4) blocks of a split group at c: kernels_q8x4's halves. */
INLINE void split_codes(bool q8, const uint8_t *c, int n, __m512i *lo, __m512i *hi) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    if (n == 4) {
        const __m512i q = _mm512_loadu_si512(c);
        *lo = q8 ? q : _mm512_and_si512(q, m4);
        *hi = q8 ? _mm512_loadu_si512(c + 64) : _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
    } else { /* a row's last, short group: 16 n bytes of each half */
        const __mmask64 m = first_bytes(16 * n);
        const __m512i q = _mm512_maskz_loadu_epi8(m, c);
        *lo = q8 ? q : _mm512_and_si512(q, m4);
        *hi = q8 ? _mm512_maskz_loadu_epi8(m, c + 16 * n)
                 : _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
    }
}

/* The integer sums of four blocks (codes lo, hi) with a token's. */
INLINE __m512i split_isum4(__m512i lo, __m512i hi, const kernels_q8x4 *a) {
    __m512i isum = _mm512_load_si512(a->bias);
    isum = _mm512_dpbusd_epi32(isum, lo, _mm512_load_si512(a->qs));
    return _mm512_dpbusd_epi32(isum, hi, _mm512_load_si512(a->qs + 64));
}

/* A short group's blocks (codes lo, hi; scales dw) times a token, into acc. */
INLINE void split_quad(__m512i lo, __m512i hi, __m128 dw, const kernels_q8x4 *a, __m512 *acc) {
    const __m512i spread = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    const __m128 scale = _mm_mul_ps(dw, _mm_load_ps(a->d));
    *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(split_isum4(lo, hi, a)),
                           _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(scale)), *acc);
}

/* Blocks per row up to which the scales are taken 16 at a time (below). */
#define SPLIT_MAX_BLOCKS 2048

/* What the split tiles of a group of tokens read: each token's activation
 * scales, contiguous (by16 only). */
typedef struct split_ctx {
    bool by16;
    float ad[KERNELS_GEMV_TOKENS][SPLIT_MAX_BLOCKS + 4];
} split_ctx;

/* y[t * R + r] = dot(rows[r], a[t]) for split rows of nb blocks; ad[t]: the
 * nb activation scales of token t in a row. Sixteen blocks at a time, their
 * sixteen weight scales are one load and one conversion, times ad's
 * sixteen: per group of four blocks only the permute that spreads its four
 * scales to the lanes is left (three vector operations fewer a group, a
 * fifth of the work on Intel cores, whose one shuffle port the old
 * per-group conversion kept busy). Two sums a row and token, so that one
 * chain of additions does not set the pace. Each block's codes serve the T
 * tokens; each (row, token) sum has the operations of a token alone. */
INLINE void split_dot_tile(bool q8, int R, int T, const uint8_t *const rows[],
                           const kernels_q8x4 *const a[], const split_ctx *ctx, int64_t nb,
                           float y[]) {
    const int G = q8 ? 128 : 64; /* code bytes of four blocks */
    const size_t at_d = (size_t)nb * (q8 ? 32 : 16);
    const int pf = kernels_gemv_prefetch;
    const __m512i idx0 = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    __m512 acc[Q32_ROWS][KERNELS_GEMV_TOKENS][2];
    UNROLL
    for (int r = 0; r < R; r++) {
        UNROLL
        for (int t = 0; t < T; t++) acc[r][t][0] = acc[r][t][1] = _mm512_setzero_ps();
    }
    int64_t q = 0;
    for (; ctx->by16 && q + 4 <= nb / 4; q += 4) {
        UNROLL
        for (int r = 0; r < R; r++) {
            if (pf) prefetch_span(rows[r] + q * G + pf, 4 * G);
            const __m512 dw =
                _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(rows[r] + at_d + 8 * q)));
            __m512 s[KERNELS_GEMV_TOKENS];
            UNROLL
            for (int t = 0; t < T; t++)
                s[t] = _mm512_mul_ps(dw, _mm512_loadu_ps(ctx->ad[t] + 4 * q));
            UNROLL
            for (int k = 0; k < 4; k++) {
                const __m512i idx = _mm512_add_epi32(idx0, _mm512_set1_epi32(4 * k));
                __m512i lo, hi;
                split_codes(q8, rows[r] + (q + k) * G, 4, &lo, &hi);
                UNROLL
                for (int t = 0; t < T; t++)
                    acc[r][t][k & 1] =
                        _mm512_fmadd_ps(_mm512_cvtepi32_ps(split_isum4(lo, hi, a[t] + q + k)),
                                        _mm512_permutexvar_ps(idx, s[t]), acc[r][t][k & 1]);
            }
        }
    }
    for (; q < (nb + 3) / 4; q++) {
        const int n = nb - 4 * q < 4 ? (int)(nb - 4 * q) : 4;
        UNROLL
        for (int r = 0; r < R; r++) {
            __m512i lo, hi;
            split_codes(q8, rows[r] + q * G, n, &lo, &hi);
            const uint8_t *d = rows[r] + at_d + 8 * q;
            const __m128 dw =
                n == 4 ? _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)d))
                       : _mm_cvtph_ps(_mm_maskz_loadu_epi16((__mmask8)((1u << n) - 1), d));
            UNROLL
            for (int t = 0; t < T; t++) split_quad(lo, hi, dw, a[t] + q, &acc[r][t][0]);
        }
    }
    UNROLL
    for (int r = 0; r < R; r++) {
        UNROLL
        for (int t = 0; t < T; t++)
            y[t * R + r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r][t][0], acc[r][t][1]));
    }
}

/* Before each group of tokens: their activation scales, contiguous. */
static void split_group(const kernels_job *j, int t0, int T, void *arg) {
    split_ctx *ctx = arg;
    const int64_t nb = j->w->cols / 32;
    if (!ctx->by16) return;
    for (int t = 0; t < T; t++) {
        const kernels_q8x4 *a = (const kernels_q8x4 *)act_of(j, t0 + t);
        for (int64_t q = 0; q < (nb + 3) / 4; q++)
            _mm_storeu_ps(ctx->ad[t] + 4 * q, _mm_load_ps(a[q].d));
    }
}

/* Rows [r, min(r + R, end)) by tokens [t0, t0 + T) of split rows. */
INLINE void split_gemv_tile(bool q8, int R, int T, const kernels_job *j, int64_t r, int64_t end,
                            int t0, const void *ctx) {
    const kernels_matrix *w = j->w;
    const uint8_t *rows[Q32_ROWS];
    const int n = row_group(w, r, end, R, rows);
    const kernels_q8x4 *a[KERNELS_GEMV_TOKENS];
    UNROLL
    for (int t = 0; t < T; t++) a[t] = (const kernels_q8x4 *)act_of(j, t0 + t);
    float y[Q32_ROWS * KERNELS_GEMV_TOKENS];
    split_dot_tile(q8, R, T, rows, a, ctx, w->cols / 32, y);
    kernels_tile_store(j, r, n, R, t0, T, y);
}

/* Long rows: Q32_ROWS rows for one token, 2 for a group (two sums each). */
#define SPLIT_GEMV(name, q8)                                                                       \
    KERNELS_GEMV_TILES(name##_short, split_gemv_tile, 1, 1, q8, )                                  \
    KERNELS_GEMV_TILES(name##_long, split_gemv_tile, Q32_ROWS, 2, q8, )                            \
    static void name(const kernels_job *j, int64_t r0, int64_t r1) {                               \
        split_ctx ctx;                                                                             \
        ctx.by16 = j->w->cols / 32 <= SPLIT_MAX_BLOCKS; /* beyond: one group at a time */          \
        const bool long_rows = j->w->cols > kernels_gemv_multi_cols;                               \
        kernels_run_gemv_tiles(j, r0, r1, long_rows ? &name##_long : &name##_short, &ctx,          \
                               split_group);                                                       \
    }

SPLIT_GEMV(gemv_q4_0_split, false)
SPLIT_GEMV(gemv_q8_0_split, true)

/* ---- 32-weight blocks: packed panels for batches ----
 * A panel holds 16 rows: codes[b][g][i][4] = codes 4g..4g+3 of row i's block
 * b, then d[b][i] and (affine types) m[b][i] as floats. Missing rows (the
 * end of the matrix) are zeros. */

static size_t q32_panel_bytes(int64_t nb) {
    return (size_t)nb * (512 + 2 * 64);
}

/* The chunk's panels, then 16 rows of unpacked codes. */
static size_t q32_chunk_bytes(int64_t cols) {
    return q32_panel_bytes(cols / 32) * (KERNELS_CHUNK_ROWS / 16) + 16 * (size_t)cols;
}

/* Unpacks n (1..4) blocks at p: their codes in weight order (32 bytes a
 * block, with the zero point) to dst, their scales (and mins) to d[16 k] and
 * m[16 k], the layout of a panel's scales. */
/* Stores n (1..4) blocks' codes, given as kernels_q8x4's halves lo and hi,
 * in weight order (32 bytes a block), and their scales dm (then mins) to
 * d[16 k] and m[16 k]. */
INLINE void q32_store4(bool has_min, __m512i lo, __m512i hi, __m256 dm, int n, uint8_t *dst,
                       float *d, float *m) {
    const __m512i first = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0);
    const __m512i second = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4);
    const __mmask64 keep0 = n >= 2 ? ~(__mmask64)0 : 0xFFFFFFFF;
    const __mmask64 keep1 = n >= 4 ? ~(__mmask64)0 : n == 3 ? 0xFFFFFFFF : 0;
    _mm512_mask_storeu_epi8(dst, keep0, _mm512_permutex2var_epi64(lo, first, hi));
    _mm512_mask_storeu_epi8(dst + 64, keep1, _mm512_permutex2var_epi64(lo, second, hi));
    float f[8];
    _mm256_storeu_ps(f, dm);
    for (int k = 0; k < n; k++) {
        d[16 * k] = f[k];
        if (has_min) m[16 * k] = f[4 + k];
    }
}

INLINE void q32_unpack4(enum q32_kind kind, const quad_index *ix, const uint8_t *p, int n,
                        uint8_t *dst, float *d, float *m) {
    __m512i z[4] = {0};
    q32_load(kind, p, n * q32_block_bytes[kind], z);
    __m512i lo, hi;
    q32_codes(kind, z, ix, &lo, &hi);
    const __m256 dm =
        _mm256_cvtph_ps(_mm512_castsi512_si128(_mm512_permutex2var_epi16(z[0], ix->dm, z[1])));
    q32_store4(q32_has_min(kind), lo, hi, dm, n, dst, d, m);
}

/* The same from a split row's group of n blocks: codes at c, scales at ds. */
INLINE void split_unpack4(bool q8, const uint8_t *c, const uint8_t *ds, int n, uint8_t *dst,
                          float *d) {
    const __mmask64 m = first_bytes(16 * n);
    const __m512i q = _mm512_maskz_loadu_epi8(m, c), m4 = _mm512_set1_epi8(0x0F);
    const __m512i lo = q8 ? q : _mm512_and_si512(q, m4);
    const __m512i hi =
        q8 ? _mm512_maskz_loadu_epi8(m, c + 16 * n) : _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
    const __m256 dm =
        _mm256_castps128_ps256(_mm_cvtph_ps(_mm_maskz_loadu_epi16((__mmask8)((1u << n) - 1), ds)));
    q32_store4(false, lo, hi, dm, n, dst, d, NULL);
}

/* Transposes, in each 256-bit half, the 8 x 8 matrix of 32-bit words whose
 * rows are v[0..7]: afterwards the low half of v[g] holds word g of the low
 * halves of the input, the high half word g of the high halves. */
INLINE void transpose_8x8_halves(__m512i v[8]) {
    __m512i t[8], s[8];
    UNROLL
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm512_unpacklo_epi32(v[i], v[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(v[i], v[i + 1]);
    }
    UNROLL
    for (int i = 0; i < 8; i += 4) {
        s[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        s[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        s[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        s[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    const __m512i first = _mm512_set_epi64(13, 12, 5, 4, 9, 8, 1, 0);
    const __m512i second = _mm512_set_epi64(15, 14, 7, 6, 11, 10, 3, 2);
    UNROLL
    for (int i = 0; i < 4; i++) {
        v[i] = _mm512_permutex2var_epi64(s[i], first, s[i + 4]);
        v[i + 4] = _mm512_permutex2var_epi64(s[i], second, s[i + 4]);
    }
}

/* Stores 16 rows' 32 codes (row i's in the low half of c[i % 8] for i < 8,
 * the high half for i >= 8) as a panel block: vector g = codes 4g..4g+3 of
 * every row. */
INLINE void store_panel_block(__m512i c[8], uint8_t *dst) {
    transpose_8x8_halves(c);
    UNROLL
    for (int g = 0; g < 8; g++) _mm512_store_si512(dst + 64 * g, c[g]);
}

/* Packs 16 rows (n_rows real ones, zeros after). Rows are read one after the
 * other, as the prefetchers like it, into `rows` (16 x cols codes in weight
 * order); then each block of 16 rows is transposed from there, in cache. */
INLINE void q32_pack(enum q32_kind kind, const kernels_matrix *w, int64_t r0, int n_rows,
                     uint8_t *panel, uint8_t *rows) {
    const int B = q32_block_bytes[kind];
    const int64_t nb = w->cols / 32;
    const quad_index ix = make_quad_index(kind);
    float *pd = (float *)(panel + nb * 512), *pm = pd + nb * 16;
    if (n_rows < 16) {
        memset(panel, 0, q32_panel_bytes(nb));
        memset(rows + n_rows * w->cols, 0, (size_t)(16 - n_rows) * w->cols);
    }
    for (int i = 0; i < n_rows && w->layout == KERNELS_SPLIT; i++) {
        const uint8_t *row = row_of(w, r0 + i), *ds = row + nb * (B - 2);
        for (int64_t b = 0; b < nb; b += 4) {
            _mm_prefetch((const char *)row + b * (B - 2) + PACK_PREFETCH, _MM_HINT_T0);
            const int n = nb - b < 4 ? (int)(nb - b) : 4;
            split_unpack4(kind == Q8_0, row + b * (B - 2), ds + 2 * b, n,
                          rows + i * w->cols + 32 * b, pd + b * 16 + i);
        }
    }
    for (int i = 0; i < n_rows && w->layout == KERNELS_ROWS; i++) {
        const uint8_t *row = row_of(w, r0 + i);
        for (int64_t b = 0; b < nb; b += 4) {
            _mm_prefetch((const char *)row + b * B + PACK_PREFETCH, _MM_HINT_T0);
            const int n = nb - b < 4 ? (int)(nb - b) : 4;
            q32_unpack4(kind, &ix, row + b * B, n, rows + i * w->cols + 32 * b, pd + b * 16 + i,
                        pm + b * 16 + i);
        }
    }
    for (int64_t b = 0; b < nb; b++) {
        __m512i c[8];
        UNROLL
        for (int i = 0; i < 8; i++)
            c[i] = _mm512_inserti64x4(
                _mm512_castsi256_si512(
                    _mm256_load_si256((const __m256i *)(rows + i * w->cols + 32 * b))),
                _mm256_load_si256((const __m256i *)(rows + (i + 8) * w->cols + 32 * b)), 1);
        store_panel_block(c, panel + b * 512);
    }
}

/* acc + block k's value for 16 rows, from their exact integer sums isum
 * (the activation's bias included): the one float path of both batch tiles
 * (VNNI and AMX), so that their results are the same bits. */
INLINE __m512 q32_finish_block(bool has_min, __m512i isum, __m512 dw, const float *pm,
                               const kernels_q8x4 *a, int k, __m512 acc) {
    acc =
        _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(dw, _mm512_set1_ps(a->d[k])), acc);
    if (has_min) acc = _mm512_fmadd_ps(_mm512_load_ps(pm), _mm512_set1_ps(a->s[k]), acc);
    return acc;
}

/* 16 rows by NT tokens over every block of one panel. */
INLINE void q32_tile(bool has_min, int NT, const uint8_t *panel, int64_t nb, const kernels_job *j,
                     int t0, float *y, __mmask16 rows) {
    const float *pd = (const float *)(panel + nb * 512), *pm = pd + nb * 16;
    const kernels_q8x4 *act[TILE_TOKENS];
    __m512 acc[TILE_TOKENS];
    UNROLL
    for (int t = 0; t < NT; t++) {
        act[t] = (const kernels_q8x4 *)act_of(j, t0 + t);
        acc[t] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b++) {
        __m512i wv[8];
        UNROLL
        for (int g = 0; g < 8; g++) wv[g] = _mm512_load_si512(panel + b * 512 + g * 64);
        const __m512 dw = _mm512_load_ps(pd + b * 16);
        const int64_t q = b / 4;
        const int k = (int)(b % 4);
        UNROLL
        for (int t = 0; t < NT; t++) {
            const kernels_q8x4 *a = act[t] + q;
            const int8_t *lo = a->qs + 16 * k, *hi = lo + 64;
            __m512i isum = _mm512_set1_epi32(a->bias[4 * k]);
            UNROLL
            for (int g = 0; g < 4; g++) {
                isum = _mm512_dpbusd_epi32(isum, wv[g],
                                           _mm512_set1_epi32((int)kernels_load_u32(lo + 4 * g)));
                isum = _mm512_dpbusd_epi32(isum, wv[g + 4],
                                           _mm512_set1_epi32((int)kernels_load_u32(hi + 4 * g)));
            }
            acc[t] = q32_finish_block(has_min, isum, dw, pm + b * 16, a, k, acc[t]);
        }
    }
    UNROLL
    for (int t = 0; t < NT; t++) _mm512_mask_storeu_ps(y + (size_t)t * j->w->rows, rows, acc[t]);
}

TILES(q32_sym_tiles, q32_tile, false, )
TILES(q32_min_tiles, q32_tile, true, )

/* The mask of a panel's real rows, n of them left in the chunk. */
static inline __mmask16 panel_rows(int64_t n) {
    return n >= 16 ? 0xFFFF : (__mmask16)((1u << n) - 1);
}

/* Runs the tiles of one packed chunk: tokens in groups of 8, then 4, 2, 1. */
static void run_tiles(const kernels_job *j, int64_t r0, int64_t r1, const uint8_t *panels,
                      size_t panel_bytes, int64_t nb, const tile_fn tiles[4]) {
    const int sizes[4] = {8, 4, 2, 1};
    for (int t0 = 0, s = 0; t0 < j->n_tok; t0 += sizes[s]) {
        while (j->n_tok - t0 < sizes[s]) s++;
        for (int64_t p = 0; r0 + 16 * p < r1; p++) {
            tiles[s](panels + p * panel_bytes, nb, j, t0,
                     j->y + (size_t)t0 * j->w->rows + r0 + 16 * p, panel_rows(r1 - r0 - 16 * p));
        }
    }
}

/* Packs rows r0..r1 of the chunk into panels of pb bytes at mem. */
INLINE void q32_pack_chunk(enum q32_kind kind, const kernels_job *j, int64_t r0, int64_t r1,
                           uint8_t *mem, size_t pb) {
    uint8_t *rows = mem + pb * (KERNELS_CHUNK_ROWS / 16);
    for (int64_t p = 0; r0 + 16 * p < r1; p++) {
        int64_t n = r1 - r0 - 16 * p;
        q32_pack(kind, j->w, r0 + 16 * p, n < 16 ? (int)n : 16, mem + p * pb, rows);
    }
}

INLINE void q32_gemm(enum q32_kind kind, const kernels_job *j, int64_t r0, int64_t r1, void *mem) {
    const int64_t nb = j->w->cols / 32;
    const size_t pb = q32_panel_bytes(nb);
    q32_pack_chunk(kind, j, r0, r1, mem, pb);
    run_tiles(j, r0, r1, mem, pb, nb, q32_has_min(kind) ? q32_min_tiles : q32_sym_tiles);
}

static void gemm_q4_0(const kernels_job *j, int64_t r0, int64_t r1, void *p) {
    q32_gemm(Q4_0, j, r0, r1, p);
}
static void gemm_q4_1(const kernels_job *j, int64_t r0, int64_t r1, void *p) {
    q32_gemm(Q4_1, j, r0, r1, p);
}
static void gemm_q5_0(const kernels_job *j, int64_t r0, int64_t r1, void *p) {
    q32_gemm(Q5_0, j, r0, r1, p);
}
static void gemm_q5_1(const kernels_job *j, int64_t r0, int64_t r1, void *p) {
    q32_gemm(Q5_1, j, r0, r1, p);
}
static void gemm_q8_0(const kernels_job *j, int64_t r0, int64_t r1, void *p) {
    q32_gemm(Q8_0, j, r0, r1, p);
}

/* ---- 32-weight blocks through AMX tiles (Intel Sapphire Rapids on) ----
 * A panel block is already the layout of an AMX B tile: row g holds codes
 * 4g..4g+3 of each of 16 weight rows. TDPBSUD multiplies 16 tokens' signed
 * activation codes (the A tile, one token a row) by it, 16 x 16 integer
 * sums in one instruction; each block's sums then take the bias and the
 * scales exactly as q32_tile does, so the results are bit for bit its own.
 * A block's codes sit in two halves of 16 in kernels_q8x4, so each block is
 * two products of 16 codes. */
#if defined(__AMX_TILE__) && defined(__AMX_INT8__)
#define AMX_TOKENS 16
/* Tile registers (numbers, not an enum: the intrinsics paste them into the
 * instruction's text). */
#define AMX_SUMS 0
#define AMX_ACT_LO 1
#define AMX_ACT_HI 2
#define AMX_W_LO 3
#define AMX_W_HI 4

typedef struct amx_config {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_config;

static void amx_configure(void) {
    amx_config c = {.palette = 1};
    c.rows[AMX_SUMS] = AMX_TOKENS, c.colsb[AMX_SUMS] = 64; /* 16 tokens x 16 rows' int32 */
    for (int a = AMX_ACT_LO; a <= AMX_ACT_HI; a++) c.rows[a] = AMX_TOKENS, c.colsb[a] = 16;
    for (int w = AMX_W_LO; w <= AMX_W_HI; w++) c.rows[w] = 4, c.colsb[w] = 64;
    _tile_loadconfig(&c);
}

/* 16 rows by 16 tokens over every block of one panel. */
INLINE void q32_amx_tile(bool has_min, const uint8_t *panel, int64_t nb, const kernels_job *j,
                         int t0, float *y, __mmask16 rows) {
    const float *pd = (const float *)(panel + nb * 512), *pm = pd + nb * 16;
    const uint8_t *act = act_of(j, t0);
    const size_t stride = j->act_stride;
    _Alignas(64) int32_t sums[AMX_TOKENS][16];
    __m512 acc[AMX_TOKENS];
    UNROLL
    for (int t = 0; t < AMX_TOKENS; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const int64_t q = b / 4;
        const int k = (int)(b % 4);
        const int8_t *lo = ((const kernels_q8x4 *)act + q)->qs + 16 * k;
        _tile_zero(AMX_SUMS);
        _tile_loadd(AMX_ACT_LO, lo, stride);
        _tile_loadd(AMX_ACT_HI, lo + 64, stride);
        _tile_loadd(AMX_W_LO, panel + b * 512, 64);
        _tile_loadd(AMX_W_HI, panel + b * 512 + 256, 64);
        _tile_dpbsud(AMX_SUMS, AMX_ACT_LO, AMX_W_LO);
        _tile_dpbsud(AMX_SUMS, AMX_ACT_HI, AMX_W_HI);
        _tile_stored(AMX_SUMS, sums, 64);
        const __m512 dw = _mm512_load_ps(pd + b * 16);
        UNROLL
        for (int t = 0; t < AMX_TOKENS; t++) {
            const kernels_q8x4 *a = (const kernels_q8x4 *)(act + t * stride) + q;
            const __m512i isum =
                _mm512_add_epi32(_mm512_load_si512(sums[t]), _mm512_set1_epi32(a->bias[4 * k]));
            acc[t] = q32_finish_block(has_min, isum, dw, pm + b * 16, a, k, acc[t]);
        }
    }
    UNROLL
    for (int t = 0; t < AMX_TOKENS; t++)
        _mm512_mask_storeu_ps(y + (size_t)t * j->w->rows, rows, acc[t]);
}

/* As q32_gemm, tokens in groups of 16 through the tiles, the rest as there. */
INLINE void q32_amx_gemm(enum q32_kind kind, const kernels_job *j, int64_t r0, int64_t r1,
                         void *mem) {
    const int64_t nb = j->w->cols / 32;
    const size_t pb = q32_panel_bytes(nb);
    const uint8_t *panels = mem;
    q32_pack_chunk(kind, j, r0, r1, mem, pb);
    const int whole = j->n_tok / AMX_TOKENS * AMX_TOKENS;
    if (whole) {
        amx_configure();
        for (int t0 = 0; t0 < whole; t0 += AMX_TOKENS)
            for (int64_t p = 0; r0 + 16 * p < r1; p++)
                q32_amx_tile(q32_has_min(kind), panels + p * pb, nb, j, t0,
                             j->y + (size_t)t0 * j->w->rows + r0 + 16 * p,
                             panel_rows(r1 - r0 - 16 * p));
        _tile_release(); /* no tile state for the kernel to save while we wait */
    }
    if (whole < j->n_tok) {
        kernels_job rest = *j;
        rest.act = act_of(j, whole);
        rest.n_tok = j->n_tok - whole;
        rest.y = j->y + (size_t)whole * j->w->rows;
        run_tiles(&rest, r0, r1, panels, pb, nb, q32_has_min(kind) ? q32_min_tiles : q32_sym_tiles);
    }
}

#define AMX_GEMM(name, kind)                                                                       \
    static void amx_gemm_##name(const kernels_job *j, int64_t r0, int64_t r1, void *p) {           \
        q32_amx_gemm(kind, j, r0, r1, p);                                                          \
    }
AMX_GEMM(q4_0, Q4_0)
AMX_GEMM(q4_1, Q4_1)
AMX_GEMM(q5_0, Q5_0)
AMX_GEMM(q5_1, Q5_1)
AMX_GEMM(q8_0, Q8_0)
#endif

/* ==== 256-weight super-blocks: Q4_K Q5_K Q6_K ==== */

/* The eight 6-bit scales and eight 6-bit mins of a Q4_K / Q5_K block, one
 * byte each (see quant_k.c for the packing). */
static inline void k4_scales(const uint8_t *s, uint64_t *sc, uint64_t *m) {
    const uint32_t u0 = kernels_load_u32(s), u1 = kernels_load_u32(s + 4),
                   u2 = kernels_load_u32(s + 8);
    const uint32_t sc_hi = (u2 & 0x0f0f0f0f) | ((u0 >> 2) & 0x30303030);
    const uint32_t m_hi = ((u2 >> 4) & 0x0f0f0f0f) | ((u1 >> 2) & 0x30303030);
    *sc = (u0 & 0x3f3f3f3f) | (uint64_t)sc_hi << 32;
    *m = (u1 & 0x3f3f3f3f) | (uint64_t)m_hi << 32;
}

/* A vector whose low 256 bits are bytes (or words) a and high 256 bits b. */
static inline __m512i halves_epi8(int a, int b) {
    return _mm512_mask_blend_epi8(0xFFFFFFFF00000000ull, _mm512_set1_epi8((char)a),
                                  _mm512_set1_epi8((char)b));
}
static inline __m512i halves_epi16(int a, int b) {
    return _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16((short)a),
                                   _mm512_set1_epi16((short)b));
}
/* Words 8i..8i+7 = a + i, for i = 0..3. */
static inline __m512i quarters_epi16(int a) {
    const long long one = 0x0001000100010001ll;
    return _mm512_set_epi64((a + 3) * one, (a + 3) * one, (a + 2) * one, (a + 2) * one,
                            (a + 1) * one, (a + 1) * one, a * one, a * one);
}

/* Words of v (in its low 128 or 256 bits) picked by idx. */
static inline __m512i pick_words(__m512i idx, __m512i v) {
    return _mm512_permutexvar_epi16(idx, v);
}

/* Q4_K / Q5_K: per 64 bytes of qs, the low nibbles are sub-blocks 2c and
 * 2c + 2 of the 128 weights, the high nibbles 2c + 1 and 2c + 3; kernels_q8k
 * orders the activations to match. maddubs makes 16-bit pair sums (at most
 * 2 * 31 * 127), which vpdpwssd multiplies by the sub-block scale. */
INLINE void k4_dot_tile(bool five, int T, const uint8_t *row, const kernels_q8k *const a[],
                        int64_t nsb, float y[]) {
    const size_t B = five ? sizeof(block_q5_K) : sizeof(block_q4_K);
    const __m512i m4 = _mm512_set1_epi8(0x0F), c16 = _mm512_set1_epi8(16);
    __m512 acc[KERNELS_GEMV_TOKENS];
    __m128 accm[KERNELS_GEMV_TOKENS];
    UNROLL
    for (int t = 0; t < T; t++) acc[t] = _mm512_setzero_ps(), accm[t] = _mm_setzero_ps();
    const int pf = kernels_gemv_prefetch;
    for (int64_t i = 0; i < nsb; i++, row += B) {
        if (pf) prefetch_span(row + pf, B);
        uint64_t sc, mins;
        k4_scales(row + 4, &sc, &mins);
        const __m512i scw =
            _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc)));
        const __m128i mins16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)mins));
        const uint8_t *qs = row + (five ? 48 : 16);
        const __m512i qh =
            five ? _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(row + 16)))
                 : _mm512_setzero_si512();
        __m512i isum[KERNELS_GEMV_TOKENS];
        UNROLL
        for (int t = 0; t < T; t++) isum[t] = _mm512_setzero_si512();
        UNROLL
        for (int c = 0; c < 2; c++) {
            const __m512i q = _mm512_loadu_si512(qs + 64 * c);
            __m512i lo = _mm512_and_si512(q, m4),
                    hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
            if (five) { /* bit j of qh[l] is the fifth bit of sub-block j's code l */
                lo = _mm512_mask_add_epi8(
                    lo, _mm512_test_epi8_mask(qh, halves_epi8(1 << 4 * c, 4 << 4 * c)), lo, c16);
                hi = _mm512_mask_add_epi8(
                    hi, _mm512_test_epi8_mask(qh, halves_epi8(2 << 4 * c, 8 << 4 * c)), hi, c16);
            }
            const __m512i slo = pick_words(halves_epi16(4 * c, 4 * c + 2), scw);
            const __m512i shi = pick_words(halves_epi16(4 * c + 1, 4 * c + 3), scw);
            UNROLL
            for (int t = 0; t < T; t++) {
                const int8_t *qa = a[t][i].qs + 128 * c;
                const __m512i plo = _mm512_maddubs_epi16(lo, _mm512_load_si512(qa));
                const __m512i phi = _mm512_maddubs_epi16(hi, _mm512_load_si512(qa + 64));
                isum[t] = _mm512_dpwssd_epi32(isum[t], plo, slo);
                isum[t] = _mm512_dpwssd_epi32(isum[t], phi, shi);
            }
        }
        const float d = half(row), dmin = half(row + 2);
        UNROLL
        for (int t = 0; t < T; t++) {
            const kernels_q8k *at = &a[t][i];
            acc[t] =
                _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_set1_ps(d * at->d), acc[t]);
            const __m128i msum =
                _mm_madd_epi16(mins16, _mm_loadu_si128((const __m128i *)at->bsum32));
            accm[t] = _mm_fmadd_ps(_mm_cvtepi32_ps(msum), _mm_set1_ps(dmin * at->d), accm[t]);
        }
    }
    UNROLL
    for (int t = 0; t < T; t++) y[t] = _mm512_reduce_add_ps(acc[t]) - hsum128(accm[t]);
}

/* Q6_K: codes 0..63 (the stored value plus 32) from 4 low bits in ql and 2
 * high bits in qh; the 32 comes back out as -32 * sum(scale * bsum). */
INLINE void q6k_dot_tile(int T, const uint8_t *row, const kernels_q8k *const a[], int64_t nsb,
                         float y[]) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    const __m512i shl = halves_epi16(4, 2), shr = halves_epi16(0, 2);
    __m512 acc[KERNELS_GEMV_TOKENS];
    UNROLL
    for (int t = 0; t < T; t++) acc[t] = _mm512_setzero_ps();
    const int pf = kernels_gemv_prefetch;
    for (int64_t i = 0; i < nsb; i++, row += sizeof(block_q6_K)) {
        if (pf) prefetch_span(row + pf, sizeof(block_q6_K));
        const block_q6_K *b = (const block_q6_K *)row;
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
        const __m512i scw = _mm512_castsi256_si512(sc16);
        __m512i isum[KERNELS_GEMV_TOKENS];
        UNROLL
        for (int t = 0; t < T; t++) isum[t] = _mm512_setzero_si512();
        UNROLL
        for (int h = 0; h < 2; h++) {
            const __m512i ql = _mm512_loadu_si512(b->ql + 64 * h);
            const __m512i qh =
                _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(b->qh + 32 * h)));
            const __m512i lo = _mm512_or_si512(_mm512_and_si512(ql, m4),
                                               _mm512_and_si512(_mm512_sllv_epi16(qh, shl), m30));
            const __m512i hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                               _mm512_and_si512(_mm512_srlv_epi16(qh, shr), m30));
            const __m512i slo = pick_words(quarters_epi16(8 * h), scw);
            const __m512i shi = pick_words(quarters_epi16(8 * h + 4), scw);
            UNROLL
            for (int t = 0; t < T; t++) {
                const int8_t *qa = a[t][i].qs + 128 * h;
                const __m512i plo = _mm512_maddubs_epi16(lo, _mm512_load_si512(qa));
                const __m512i phi = _mm512_maddubs_epi16(hi, _mm512_load_si512(qa + 64));
                isum[t] = _mm512_dpwssd_epi32(isum[t], plo, slo);
                isum[t] = _mm512_dpwssd_epi32(isum[t], phi, shi);
            }
        }
        const float d = half(&b->d);
        UNROLL
        for (int t = 0; t < T; t++) {
            const kernels_q8k *at = &a[t][i];
            const __m256i bias =
                _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)at->bsums));
            isum[t] = _mm512_sub_epi32(isum[t], _mm512_zextsi256_si512(_mm256_slli_epi32(bias, 5)));
            acc[t] =
                _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_set1_ps(d * at->d), acc[t]);
        }
    }
    UNROLL
    for (int t = 0; t < T; t++) y[t] = _mm512_reduce_add_ps(acc[t]);
}

/* One row (R = 1) by tokens [t0, t0 + T) of a super-block type. */
INLINE void k_gemv_tile(enum quant_type type, int R, int T, const kernels_job *j, int64_t r,
                        int64_t end, int t0, const void *ctx) {
    (void)R, (void)end, (void)ctx;
    const kernels_matrix *w = j->w;
    const kernels_q8k *a[KERNELS_GEMV_TOKENS];
    UNROLL
    for (int t = 0; t < T; t++) a[t] = (const kernels_q8k *)act_of(j, t0 + t);
    float y[KERNELS_GEMV_TOKENS];
    if (type == QT_Q6_K)
        q6k_dot_tile(T, row_of(w, r), a, w->cols / QK_K, y);
    else
        k4_dot_tile(type == QT_Q5_K, T, row_of(w, r), a, w->cols / QK_K, y);
    kernels_tile_store(j, r, 1, 1, t0, T, y);
}

#define K_GEMV(name, type)                                                                         \
    KERNELS_GEMV_TILES(name##_tiles, k_gemv_tile, 1, 1, type, )                                    \
    static void name(const kernels_job *j, int64_t r0, int64_t r1) {                               \
        kernels_run_gemv_tiles(j, r0, r1, &name##_tiles, NULL, NULL);                              \
    }

K_GEMV(gemv_q4_k, QT_Q4_K)
K_GEMV(gemv_q5_k, QT_Q5_K)
K_GEMV(gemv_q6_k, QT_Q6_K)

/* ---- super-blocks: packed panels ----
 * Per super-block of 16 rows: codes[64 groups][16 rows][4] (4096 bytes),
 * sc[16][16] int32 sub-block scales (Q4_K/Q5_K use 8), pairs[8][16] two
 * int16 (Q4_K/Q5_K: mins 2p and 2p+1; Q6_K: scales 2p and 2p+1), d[16] and
 * dmin[16] floats. */

enum {
    KP_CODES = 0,
    KP_SC = 4096,
    KP_PAIRS = KP_SC + 1024,
    KP_D = KP_PAIRS + 512,
    KP_DMIN = KP_D + 64,
    KP_BYTES = KP_DMIN + 64
};

/* The chunk's panels, then 16 rows of unpacked codes. */
static size_t k_chunk_bytes(int64_t cols) {
    return (size_t)(cols / QK_K) * KP_BYTES * (KERNELS_CHUNK_ROWS / 16) + 16 * (size_t)cols;
}

/* One row's 256 codes in weight order, with its scales written to the panel. */
INLINE void kquant_row_codes(enum quant_type type, const uint8_t *blk, uint8_t codes[256],
                             uint8_t *sb, int i) {
    int32_t *sc = (int32_t *)(sb + KP_SC) + i;
    uint32_t *pairs = (uint32_t *)(sb + KP_PAIRS) + i;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    if (type == QT_Q6_K) {
        const block_q6_K *b = (const block_q6_K *)blk;
        const __m512i m30 = _mm512_set1_epi8(0x30);
        for (int h = 0; h < 2; h++) {
            const __m512i ql = _mm512_loadu_si512(b->ql + 64 * h);
            const __m512i qh =
                _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(b->qh + 32 * h)));
            _mm512_storeu_si512(
                codes + 128 * h,
                _mm512_or_si512(_mm512_and_si512(ql, m4),
                                _mm512_and_si512(_mm512_sllv_epi16(qh, halves_epi16(4, 2)), m30)));
            _mm512_storeu_si512(
                codes + 128 * h + 64,
                _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                _mm512_and_si512(_mm512_srlv_epi16(qh, halves_epi16(0, 2)), m30)));
        }
        for (int g = 0; g < 16; g++) sc[16 * g] = b->scales[g];
        for (int p = 0; p < 8; p++)
            pairs[16 * p] = (uint16_t)b->scales[2 * p] | (uint32_t)(uint16_t)b->scales[2 * p + 1]
                                                             << 16;
        ((float *)(sb + KP_D))[i] = half(&b->d);
        return;
    }
    const bool five = type == QT_Q5_K;
    uint64_t scales, mins;
    k4_scales(blk + 4, &scales, &mins);
    const uint8_t *qs = blk + (five ? 48 : 16);
    const __m512i qh = five
                           ? _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(blk + 16)))
                           : _mm512_setzero_si512();
    for (int c = 0; c < 2; c++) {
        const __m512i q = _mm512_loadu_si512(qs + 64 * c);
        __m512i lo = _mm512_and_si512(q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
        if (five) {
            const __m512i c16 = _mm512_set1_epi8(16);
            lo = _mm512_mask_add_epi8(
                lo, _mm512_test_epi8_mask(qh, halves_epi8(1 << 4 * c, 4 << 4 * c)), lo, c16);
            hi = _mm512_mask_add_epi8(
                hi, _mm512_test_epi8_mask(qh, halves_epi8(2 << 4 * c, 8 << 4 * c)), hi, c16);
        }
        /* lo = sub-blocks 4c and 4c + 2, hi = 4c + 1 and 4c + 3 */
        _mm256_storeu_si256((__m256i *)(codes + 128 * c), _mm512_castsi512_si256(lo));
        _mm256_storeu_si256((__m256i *)(codes + 128 * c + 32), _mm512_castsi512_si256(hi));
        _mm256_storeu_si256((__m256i *)(codes + 128 * c + 64), _mm512_extracti64x4_epi64(lo, 1));
        _mm256_storeu_si256((__m256i *)(codes + 128 * c + 96), _mm512_extracti64x4_epi64(hi, 1));
    }
    for (int j = 0; j < 8; j++) sc[16 * j] = (uint8_t)(scales >> 8 * j);
    for (int p = 0; p < 4; p++)
        pairs[16 * p] =
            (uint32_t)(uint8_t)(mins >> 16 * p) | (uint32_t)(uint8_t)(mins >> (16 * p + 8)) << 16;
    ((float *)(sb + KP_D))[i] = half(blk);
    ((float *)(sb + KP_DMIN))[i] = half(blk + 2);
}

/* As q32_pack: rows read in turn into `rows`, then transposed in cache. */
INLINE void kquant_pack(enum quant_type type, const kernels_matrix *w, int64_t r0, int n_rows,
                        uint8_t *panel, uint8_t *rows) {
    const size_t B = quant_info(type)->type_size;
    const int64_t nsb = w->cols / QK_K;
    if (n_rows < 16) { /* rows past the end count zero */
        memset(panel, 0, (size_t)nsb * KP_BYTES);
        memset(rows + n_rows * w->cols, 0, (size_t)(16 - n_rows) * w->cols);
    }
    for (int i = 0; i < n_rows; i++) {
        const uint8_t *row = row_of(w, r0 + i);
        for (int64_t s = 0; s < nsb; s++) {
            for (size_t at = 0; at < B; at += 64)
                _mm_prefetch((const char *)row + s * B + at + PACK_PREFETCH, _MM_HINT_T0);
            kquant_row_codes(type, row + s * B, rows + i * w->cols + QK_K * s, panel + s * KP_BYTES,
                             i);
        }
    }
    for (int64_t s = 0; s < nsb; s++) {
        for (int j = 0; j < 8; j++) { /* 32 codes of 16 rows per panel block */
            const uint8_t *at = rows + QK_K * s + 32 * j;
            __m512i c[8];
            UNROLL
            for (int i = 0; i < 8; i++)
                c[i] = _mm512_inserti64x4(
                    _mm512_castsi256_si512(_mm256_load_si256((const __m256i *)(at + i * w->cols))),
                    _mm256_load_si256((const __m256i *)(at + (i + 8) * w->cols)), 1);
            store_panel_block(c, panel + s * KP_BYTES + KP_CODES + 512 * j);
        }
    }
}

/* Q4_K / Q5_K: 16 rows by NT tokens. Each 32-weight sub-block's integer dot
 * is multiplied by its scale (vpmulld) into the block's sum; the mins term
 * pairs mins with the activations' 32-code sums (vpdpwssd). */
INLINE void k4_tile(int NT, const uint8_t *panel, int64_t nsb, const kernels_job *j, int t0,
                    float *y, __mmask16 rows) {
    const kernels_q8k *act[TILE_TOKENS];
    __m512 acc[TILE_TOKENS];
    UNROLL
    for (int t = 0; t < NT; t++) {
        act[t] = (const kernels_q8k *)act_of(j, t0 + t);
        acc[t] = _mm512_setzero_ps();
    }
    for (int64_t s = 0; s < nsb; s++) {
        const uint8_t *sb = panel + s * KP_BYTES;
        __m512i isum[TILE_TOKENS];
        UNROLL
        for (int t = 0; t < NT; t++) isum[t] = _mm512_setzero_si512();
        for (int sub = 0; sub < 8; sub++) {
            __m512i wv[8];
            UNROLL
            for (int g = 0; g < 8; g++)
                wv[g] = _mm512_load_si512(sb + KP_CODES + 512 * sub + 64 * g);
            const __m512i sc = _mm512_load_si512(sb + KP_SC + 64 * sub);
            const int at = kernels_q8k_k4_pos(32 * sub);
            UNROLL
            for (int t = 0; t < NT; t++) {
                const int8_t *qa = act[t][s].qs + at;
                __m512i dot = _mm512_setzero_si512();
                UNROLL
                for (int g = 0; g < 8; g++)
                    dot = _mm512_dpbusd_epi32(dot, wv[g],
                                              _mm512_set1_epi32((int)kernels_load_u32(qa + 4 * g)));
                isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(dot, sc));
            }
        }
        const __m512 d = _mm512_load_ps(sb + KP_D), dmin = _mm512_load_ps(sb + KP_DMIN);
        UNROLL
        for (int t = 0; t < NT; t++) {
            const kernels_q8k *a = &act[t][s];
            __m512i msum = _mm512_setzero_si512();
            UNROLL
            for (int p = 0; p < 4; p++)
                msum = _mm512_dpwssd_epi32(
                    msum, _mm512_load_si512(sb + KP_PAIRS + 64 * p),
                    _mm512_set1_epi32((int)kernels_load_u32(a->bsum32 + 2 * p)));
            const __m512 da = _mm512_set1_ps(a->d);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, da), acc[t]);
            acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_mul_ps(dmin, da), acc[t]);
        }
    }
    UNROLL
    for (int t = 0; t < NT; t++) _mm512_mask_storeu_ps(y + (size_t)t * j->w->rows, rows, acc[t]);
}

/* Q6_K: 16-weight sub-blocks, scales signed; the codes' +32 is taken back
 * with -32 * sum(scale * bsum), pairs of scales against pairs of bsums. */
INLINE void q6k_tile(int NT, const uint8_t *panel, int64_t nsb, const kernels_job *j, int t0,
                     float *y, __mmask16 rows) {
    const kernels_q8k *act[TILE_TOKENS];
    __m512 acc[TILE_TOKENS];
    UNROLL
    for (int t = 0; t < NT; t++) {
        act[t] = (const kernels_q8k *)act_of(j, t0 + t);
        acc[t] = _mm512_setzero_ps();
    }
    for (int64_t s = 0; s < nsb; s++) {
        const uint8_t *sb = panel + s * KP_BYTES;
        __m512i isum[TILE_TOKENS];
        UNROLL
        for (int t = 0; t < NT; t++) isum[t] = _mm512_setzero_si512();
        for (int sub = 0; sub < 16; sub += 2) {
            __m512i wv[8];
            UNROLL
            for (int g = 0; g < 8; g++)
                wv[g] = _mm512_load_si512(sb + KP_CODES + 256 * sub + 64 * g);
            const __m512i sc0 = _mm512_load_si512(sb + KP_SC + 64 * sub);
            const __m512i sc1 = _mm512_load_si512(sb + KP_SC + 64 * (sub + 1));
            UNROLL
            for (int t = 0; t < NT; t++) {
                const int8_t *qa = act[t][s].qs + 16 * sub;
                __m512i d0 = _mm512_setzero_si512(), d1 = _mm512_setzero_si512();
                UNROLL
                for (int g = 0; g < 4; g++) {
                    d0 = _mm512_dpbusd_epi32(d0, wv[g],
                                             _mm512_set1_epi32((int)kernels_load_u32(qa + 4 * g)));
                    d1 = _mm512_dpbusd_epi32(
                        d1, wv[g + 4], _mm512_set1_epi32((int)kernels_load_u32(qa + 16 + 4 * g)));
                }
                isum[t] = _mm512_add_epi32(isum[t], _mm512_add_epi32(_mm512_mullo_epi32(d0, sc0),
                                                                     _mm512_mullo_epi32(d1, sc1)));
            }
        }
        const __m512 d = _mm512_load_ps(sb + KP_D);
        UNROLL
        for (int t = 0; t < NT; t++) {
            const kernels_q8k *a = &act[t][s];
            __m512i bias = _mm512_setzero_si512();
            UNROLL
            for (int p = 0; p < 8; p++)
                bias =
                    _mm512_dpwssd_epi32(bias, _mm512_load_si512(sb + KP_PAIRS + 64 * p),
                                        _mm512_set1_epi32((int)kernels_load_u32(a->bsums + 2 * p)));
            isum[t] = _mm512_sub_epi32(isum[t], _mm512_slli_epi32(bias, 5));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]),
                                     _mm512_mul_ps(d, _mm512_set1_ps(a->d)), acc[t]);
        }
    }
    UNROLL
    for (int t = 0; t < NT; t++) _mm512_mask_storeu_ps(y + (size_t)t * j->w->rows, rows, acc[t]);
}

TILES(k4_tiles, k4_tile, )
TILES(q6k_tiles, q6k_tile, )

INLINE void kquant_gemm(enum quant_type type, const kernels_job *j, int64_t r0, int64_t r1,
                        void *mem) {
    const int64_t nsb = j->w->cols / QK_K;
    const size_t pb = (size_t)nsb * KP_BYTES;
    uint8_t *panels = mem, *rows = panels + pb * (KERNELS_CHUNK_ROWS / 16);
    for (int64_t p = 0; r0 + 16 * p < r1; p++) {
        int64_t n = r1 - r0 - 16 * p;
        kquant_pack(type, j->w, r0 + 16 * p, n < 16 ? (int)n : 16, panels + p * pb, rows);
    }
    run_tiles(j, r0, r1, panels, pb, nsb, type == QT_Q6_K ? q6k_tiles : k4_tiles);
}

static void gemm_q4_k(const kernels_job *j, int64_t r0, int64_t r1, void *p) {
    kquant_gemm(QT_Q4_K, j, r0, r1, p);
}
static void gemm_q5_k(const kernels_job *j, int64_t r0, int64_t r1, void *p) {
    kquant_gemm(QT_Q5_K, j, r0, r1, p);
}
static void gemm_q6_k(const kernels_job *j, int64_t r0, int64_t r1, void *p) {
    kquant_gemm(QT_Q6_K, j, r0, r1, p);
}

/* ==== float weights: F32 F16 BF16 ====
 * The activations are floats already rounded to the weight type (exact
 * products), so all three are fused multiply-adds on floats once the weights
 * are widened: halves by vcvtph2ps, bfloat16 by a 16-bit shift. */

INLINE __m512 widen16(enum quant_type type, const uint8_t *p, __mmask16 m) {
    if (type == QT_F32) return _mm512_maskz_loadu_ps(m, p);
    const __m256i h = _mm256_maskz_loadu_epi16(m, p);
    if (type == QT_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* Generation with float weights reads a row of activations per row of
 * weights, as many bytes as the weights (F32) or twice as many (F16, BF16,
 * whose activations are floats here). So the half-precision types get their
 * activations narrowed back to 16 bits for the pass (exact: the values are
 * halves or bfloat16s already), which keeps them in the L1 cache beside the
 * stream of weights. Short rows are read one at a time (one stream that the
 * prefetchers follow far ahead); long rows four at a time, so that each
 * vector of activations serves four rows. */
#define FLOAT_ROWS 4
#define FLOAT_ONE_ROW_MAX 4096 /* columns */
#define FLOAT_NARROW_MAX 16384 /* columns narrowed on the stack */

/* R rows (1 or FLOAT_ROWS) at once; x holds floats (x16 false) or the 16-bit
 * values of the weight type (x16 true). */
INLINE void float_dot_rows(enum quant_type type, bool x16, int R, const uint8_t *const w[],
                           const void *x, int64_t n, float y[]) {
    const int size = type == QT_F32 ? 4 : 2;
    __m512 acc[FLOAT_ROWS][4];
    UNROLL
    for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = _mm512_setzero_ps();
    const int step = R == 1 ? 64 : 32; /* one row: four chains of additions; four rows: eight */
    int64_t i = 0;
    for (; i + step <= n; i += step) {
        UNROLL
        for (int k = 0; k < step / 16; k++) {
            const __m512 xv = x16 ? widen16(type, (const uint8_t *)x + 2 * (i + 16 * k), 0xFFFF)
                                  : _mm512_loadu_ps((const float *)x + i + 16 * k);
            UNROLL
            for (int r = 0; r < R; r++)
                acc[r][k] = _mm512_fmadd_ps(widen16(type, w[r] + (i + 16 * k) * size, 0xFFFF), xv,
                                            acc[r][k]);
        }
    }
    for (; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        const __m512 xv = x16 ? widen16(type, (const uint8_t *)x + 2 * i, m)
                              : _mm512_maskz_loadu_ps(m, (const float *)x + i);
        UNROLL
        for (int r = 0; r < R; r++)
            acc[r][0] = _mm512_fmadd_ps(widen16(type, w[r] + i * size, m), xv, acc[r][0]);
    }
    UNROLL
    for (int r = 0; r < R; r++)
        y[r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[r][0], acc[r][1]),
                                                  _mm512_add_ps(acc[r][2], acc[r][3])));
}

/* Floats that are exact halves / bfloat16s, back to 16 bits. */
static void narrow_act(enum quant_type type, const float *x, int64_t n, uint16_t *out) {
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        const __m256i h =
            type == QT_F16 ? _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT)
                           : _mm512_cvtepi32_epi16(_mm512_srli_epi32(_mm512_castps_si512(v), 16));
        _mm256_mask_storeu_epi16(out + i, m, h);
    }
}

INLINE void float_gemv_rows(enum quant_type type, bool x16, int R, const kernels_job *j, int64_t r0,
                            int64_t r1, const void *x, int t) {
    const kernels_matrix *w = j->w;
    for (int64_t r = r0; r < r1; r += R) {
        const uint8_t *rows[FLOAT_ROWS];
        const int n = row_group(w, r, r1, R, rows);
        float y[FLOAT_ROWS];
        float_dot_rows(type, x16, R, rows, x, w->cols, y);
        for (int k = 0; k < n; k++) j->y[(size_t)t * w->rows + r + k] = y[k];
    }
}

INLINE void float_gemv(enum quant_type type, const kernels_job *j, int64_t r0, int64_t r1) {
    const int64_t cols = j->w->cols;
    const bool narrow = type != QT_F32 && cols <= FLOAT_NARROW_MAX;
    _Alignas(64) uint16_t x16[FLOAT_NARROW_MAX];
    for (int t = 0; t < j->n_tok; t++) {
        const float *x = (const float *)act_of(j, t);
        if (narrow) narrow_act(type, x, cols, x16);
        const void *xv = narrow ? (const void *)x16 : (const void *)x;
        if (cols <= FLOAT_ONE_ROW_MAX) {
            if (narrow)
                float_gemv_rows(type, true, 1, j, r0, r1, xv, t);
            else
                float_gemv_rows(type, false, 1, j, r0, r1, xv, t);
        } else {
            if (narrow)
                float_gemv_rows(type, true, FLOAT_ROWS, j, r0, r1, xv, t);
            else
                float_gemv_rows(type, false, FLOAT_ROWS, j, r0, r1, xv, t);
        }
    }
}

static void gemv_f32(const kernels_job *j, int64_t r0, int64_t r1) {
    float_gemv(QT_F32, j, r0, r1);
}
static void gemv_f16(const kernels_job *j, int64_t r0, int64_t r1) {
    float_gemv(QT_F16, j, r0, r1);
}
static void gemv_bf16(const kernels_job *j, int64_t r0, int64_t r1) {
    float_gemv(QT_BF16, j, r0, r1);
}

/* Float panels: p[k][i] = row i's weight k, widened, 16 rows; one panel at a
 * time (16 rows of a long row are already a large part of the L2 cache). */
static size_t float_panel_bytes(int64_t cols) {
    return (size_t)cols * 64;
}

/* Transposes 16 x 16 floats: rows in, columns out. Each group of 8 rows is
 * transposed as two 8 x 8 blocks (columns 0..7 and 8..15), then the halves
 * of the two groups are joined. */
INLINE void transpose_16x16(__m512 r[16]) {
    __m512i v[16];
    UNROLL
    for (int i = 0; i < 16; i++) v[i] = _mm512_castps_si512(r[i]);
    transpose_8x8_halves(v);
    transpose_8x8_halves(v + 8);
    UNROLL
    for (int c = 0; c < 8; c++) {
        r[c] = _mm512_castsi512_ps(_mm512_shuffle_i64x2(v[c], v[8 + c], 0x44));
        r[8 + c] = _mm512_castsi512_ps(_mm512_shuffle_i64x2(v[c], v[8 + c], 0xEE));
    }
}

INLINE void float_pack(enum quant_type type, const kernels_matrix *w, int64_t r0, int n_rows,
                       float *panel) {
    const int size = type == QT_F32 ? 4 : 2;
    const uint8_t *rows[16];
    for (int i = 0; i < 16; i++) rows[i] = row_of(w, r0 + (i < n_rows ? i : 0));
    for (int64_t k = 0; k < w->cols; k += 16) {
        const __mmask16 m = w->cols - k >= 16 ? 0xFFFF : (__mmask16)((1u << (w->cols - k)) - 1);
        __m512 r[16];
        UNROLL
        for (int i = 0; i < 16; i++) {
            _mm_prefetch((const char *)rows[i] + k * size + PACK_PREFETCH, _MM_HINT_T0);
            r[i] = i < n_rows ? widen16(type, rows[i] + k * size, m) : _mm512_setzero_ps();
        }
        transpose_16x16(r);
        UNROLL
        for (int c = 0; c < 16; c++)
            if (k + c < w->cols) _mm512_store_ps(panel + (k + c) * 16, r[c]);
    }
}

INLINE void float_tile(int NT, const float *panel, int64_t cols, const kernels_job *j, int t0,
                       float *y, __mmask16 rows) {
    const float *x[TILE_TOKENS];
    __m512 acc[TILE_TOKENS];
    UNROLL
    for (int t = 0; t < NT; t++) {
        x[t] = (const float *)act_of(j, t0 + t);
        acc[t] = _mm512_setzero_ps();
    }
    for (int64_t k = 0; k < cols; k++) {
        const __m512 wk = _mm512_load_ps(panel + 16 * k);
        UNROLL
        for (int t = 0; t < NT; t++) acc[t] = _mm512_fmadd_ps(wk, _mm512_set1_ps(x[t][k]), acc[t]);
    }
    UNROLL
    for (int t = 0; t < NT; t++) _mm512_mask_storeu_ps(y + (size_t)t * j->w->rows, rows, acc[t]);
}

#define FLOAT_TILE(NT, p, n, j, t0, y, m) float_tile(NT, (const float *)(p), n, j, t0, y, m)
TILES(float_tiles, FLOAT_TILE, )

INLINE void float_gemm(enum quant_type type, const kernels_job *j, int64_t r0, int64_t r1,
                       void *mem) {
    for (int64_t p0 = r0; p0 < r1; p0 += 16) {
        const int n = r1 - p0 < 16 ? (int)(r1 - p0) : 16;
        float_pack(type, j->w, p0, n, mem);
        run_tiles(j, p0, p0 + n, mem, 0, j->w->cols, float_tiles);
    }
}

static void gemm_f32(const kernels_job *j, int64_t r0, int64_t r1, void *p) {
    float_gemm(QT_F32, j, r0, r1, p);
}
static void gemm_f16(const kernels_job *j, int64_t r0, int64_t r1, void *p) {
    float_gemm(QT_F16, j, r0, r1, p);
}
static void gemm_bf16(const kernels_job *j, int64_t r0, int64_t r1, void *p) {
    float_gemm(QT_BF16, j, r0, r1, p);
}

/* ==== attention ==== */

/* Dot products of q with each key, the shared softmax, then the weighted sum
 * of the values kept in registers, 128 floats at a time. */
static void attend(const float *q, const float *k, const float *v, size_t stride, int n, int dim,
                   float scale, float *scores, float *out) {
    for (int j = 0; j < n; j++) {
        const float *kj = k + (size_t)j * stride;
        __m512 acc = _mm512_setzero_ps();
        for (int d = 0; d < dim; d += 16) {
            const __mmask16 m = dim - d >= 16 ? 0xFFFF : (__mmask16)((1u << (dim - d)) - 1);
            acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + d), _mm512_maskz_loadu_ps(m, kj + d),
                                  acc);
        }
        scores[j] = _mm512_reduce_add_ps(acc) * scale;
    }
    const float inv = kernels_softmax(scores, n);
    for (int d0 = 0; d0 < dim; d0 += 128) {
        __m512 o[8];
        UNROLL
        for (int i = 0; i < 8; i++) o[i] = _mm512_setzero_ps();
        for (int j = 0; j < n; j++) {
            const float *vj = v + (size_t)j * stride + d0;
            const __m512 p = _mm512_set1_ps(scores[j] * inv);
            UNROLL
            for (int i = 0; i < 8; i++) {
                const int d = d0 + 16 * i;
                if (d >= dim) break;
                const __mmask16 m = dim - d >= 16 ? 0xFFFF : (__mmask16)((1u << (dim - d)) - 1);
                o[i] = _mm512_fmadd_ps(p, _mm512_maskz_loadu_ps(m, vj + 16 * i), o[i]);
            }
        }
        for (int i = 0; i < 8 && d0 + 16 * i < dim; i++) {
            const int d = d0 + 16 * i;
            const __mmask16 m = dim - d >= 16 ? 0xFFFF : (__mmask16)((1u << (dim - d)) - 1);
            _mm512_mask_storeu_ps(out + d, m, o[i]);
        }
    }
}

/* ==== converting the activations ====
 * The same operations as quant.c's quantizers, lane by lane, so the codes
 * and scales are bit-identical (a test compares them byte for byte). */

/* roundf: to nearest, ties away from zero. v - trunc(v) is exact. */
static inline __m512 round_half_away(__m512 v) {
    const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m512 frac = _mm512_abs_ps(_mm512_sub_ps(v, t));
    const __mmask16 up = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    const __m512 one = _mm512_or_ps(_mm512_set1_ps(1.0f), _mm512_and_ps(v, _mm512_set1_ps(-0.0f)));
    return _mm512_mask_add_ps(t, up, t, one);
}

static inline float round_half(float f) {
    return _cvtsh_ss(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
}

/* Q8_0 / Q8_1 codes of 32 floats into a kernels_q8x4 slot k. */
static void q8_block(const float *x, kernels_q8x4 *q, int k, int zero) {
    const __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1)));
    const float d = amax / 127, id = d ? 1.0f / d : 0.0f;
    const __m512i c0 = _mm512_cvttps_epi32(round_half_away(_mm512_mul_ps(x0, _mm512_set1_ps(id))));
    const __m512i c1 = _mm512_cvttps_epi32(round_half_away(_mm512_mul_ps(x1, _mm512_set1_ps(id))));
    _mm_store_si128((__m128i *)(q->qs + 16 * k), _mm512_cvtsepi32_epi8(c0));
    _mm_store_si128((__m128i *)(q->qs + 64 + 16 * k), _mm512_cvtsepi32_epi8(c1));
    /* saturation to -128..127 is the quantizer's clamp; the sum is of the clamped codes */
    const __m512i s0 = _mm512_cvtepi8_epi32(_mm512_cvtsepi32_epi8(c0)),
                  s1 = _mm512_cvtepi8_epi32(_mm512_cvtsepi32_epi8(c1));
    const int sum = _mm512_reduce_add_epi32(_mm512_add_epi32(s0, s1));
    q->bias[4 * k] = -zero * sum;
    q->d[k] = round_half(d);
    q->s[k] = round_half((float)sum * d);
}

static void convert_q8x4(enum kernels_act act, enum quant_type wtype, const float *x, int64_t cols,
                         void *out) {
    (void)act;
    kernels_q8x4 *dst = out;
    const int zero = kernels_zero_point(wtype);
    const bool with_sum = quant_info(wtype)->vec_dot_type == QT_Q8_1;
    const int64_t nb = cols / 32;
    for (int64_t b = 0; b < nb; b += 4, dst++) {
        memset(dst->bias, 0, sizeof dst->bias);
        for (int k = 0; k < 4; k++) {
            if (b + k < nb) {
                q8_block(x + 32 * (b + k), dst, k, zero);
                if (!with_sum) dst->s[k] = 0.0f;
            } else { /* past the end of the row: zeros */
                memset(dst->qs + 16 * k, 0, 16);
                memset(dst->qs + 64 + 16 * k, 0, 16);
                dst->d[k] = dst->s[k] = 0.0f;
            }
        }
        memset(dst->pad, 0, sizeof dst->pad);
    }
}

/* Q8_K: the value of largest magnitude (the first, on ties) maps to -127;
 * codes round to nearest even, as quant_nearest_int does. */
static void convert_q8k(enum kernels_act act, enum quant_type wtype, const float *x, int64_t cols,
                        void *out) {
    (void)act;
    kernels_q8k *dst = out;
    const bool reorder = wtype == QT_Q4_K || wtype == QT_Q5_K;
    for (int64_t i = 0; i < cols / QK_K; i++, x += QK_K, dst++) {
        __m512 vmax = _mm512_setzero_ps();
        for (int e = 0; e < QK_K; e += 16)
            vmax = _mm512_max_ps(vmax, _mm512_abs_ps(_mm512_loadu_ps(x + e)));
        const float amax = _mm512_reduce_max_ps(vmax);
        memset(dst, 0, sizeof *dst);
        if (!amax) continue;
        float max = 0;
        for (int e = 0; e < QK_K; e += 16) {
            const __mmask16 hit = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + e)),
                                                     _mm512_set1_ps(amax), _CMP_EQ_OQ);
            if (hit) {
                max = x[e + __builtin_ctz(hit)];
                break;
            }
        }
        const float iscale = -127.f / max;
        for (int g = 0; g < 16; g++) {
            __m512i c = _mm512_cvtps_epi32(
                _mm512_mul_ps(_mm512_loadu_ps(x + 16 * g), _mm512_set1_ps(iscale)));
            c = _mm512_min_epi32(c, _mm512_set1_epi32(127));
            const __m128i bytes = _mm512_cvtsepi32_epi8(c);
            const int at = reorder ? kernels_q8k_k4_pos(16 * g) : 16 * g;
            _mm_storeu_si128((__m128i *)(dst->qs + at), bytes);
            dst->bsums[g] = (int16_t)_mm512_reduce_add_epi32(_mm512_cvtepi8_epi32(bytes));
        }
        for (int j = 0; j < 8; j++)
            dst->bsum32[j] = (int16_t)(dst->bsums[2 * j] + dst->bsums[2 * j + 1]);
        dst->d = 1 / iscale;
    }
}

/* Floats rounded to half or bfloat16 precision and widened back. */
static void convert_rounded(enum kernels_act act, enum quant_type wtype, const float *x,
                            int64_t cols, void *out) {
    (void)wtype;
    float *dst = out;
    for (int64_t i = 0; i < cols; i += 16) {
        const __mmask16 m = cols - i >= 16 ? 0xFFFF : (__mmask16)((1u << (cols - i)) - 1);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512 r;
        if (act == ACT_F16R) {
            r = _mm512_cvtph_ps(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
        } else { /* bfloat16: round to nearest even on the top 16 bits; NaNs made quiet */
            const __m512i u = _mm512_castps_si512(v);
            const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
            __m512i h = _mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), lsb);
            const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
            h = _mm512_mask_or_epi32(h, nan, u, _mm512_set1_epi32(0x400000));
            r = _mm512_castsi512_ps(_mm512_andnot_si512(_mm512_set1_epi32(0xffff), h));
        }
        _mm512_mask_storeu_ps(dst + i, m, r);
    }
}

/* ==== the table ==== */

/* The AMX table is the AVX-512 one with the 32-weight blocks' batches on
 * tiles; Q32_GEMM names the batch kernels of those types. */
#define AVX512_OPS(NAME, Q32_GEMM)                                                                 \
    {                                                                                              \
        .name = NAME,                                                                              \
        .types =                                                                                   \
            {                                                                                      \
                [QT_Q4_0] = {ACT_Q8X4, gemv_q4_0, Q32_GEMM(q4_0), q32_chunk_bytes,                 \
                             gemv_q4_0_split},                                                     \
                [QT_Q4_1] = {ACT_Q8X4, gemv_q4_1, Q32_GEMM(q4_1), q32_chunk_bytes},                \
                [QT_Q5_0] = {ACT_Q8X4, gemv_q5_0, Q32_GEMM(q5_0), q32_chunk_bytes},                \
                [QT_Q5_1] = {ACT_Q8X4, gemv_q5_1, Q32_GEMM(q5_1), q32_chunk_bytes},                \
                [QT_Q8_0] = {ACT_Q8X4, gemv_q8_0, Q32_GEMM(q8_0), q32_chunk_bytes,                 \
                             gemv_q8_0_split},                                                     \
                [QT_Q4_K] = {ACT_Q8K, gemv_q4_k, gemm_q4_k, k_chunk_bytes},                        \
                [QT_Q5_K] = {ACT_Q8K, gemv_q5_k, gemm_q5_k, k_chunk_bytes},                        \
                [QT_Q6_K] = {ACT_Q8K, gemv_q6_k, gemm_q6_k, k_chunk_bytes},                        \
                [QT_F32] = {ACT_F32, gemv_f32, gemm_f32, float_panel_bytes},                       \
                [QT_F16] = {ACT_F16R, gemv_f16, gemm_f16, float_panel_bytes},                      \
                [QT_BF16] = {ACT_BF16R, gemv_bf16, gemm_bf16, float_panel_bytes},                  \
            },                                                                                     \
        .attend = attend,                                                                          \
        .convert = {[ACT_Q8X4] = convert_q8x4,                                                     \
                    [ACT_Q8K] = convert_q8k,                                                       \
                    [ACT_F16R] = convert_rounded,                                                  \
                    [ACT_BF16R] = convert_rounded},                                                \
    }
#define VNNI_GEMM(t) gemm_##t
static const kernels_ops avx512_ops = AVX512_OPS("avx512", VNNI_GEMM);

const kernels_ops *kernels_avx512_ops(void) {
    return &avx512_ops;
}

#if defined(__AMX_TILE__) && defined(__AMX_INT8__)
#define TILE_GEMM(t) amx_gemm_##t
static const kernels_ops amx_ops = AVX512_OPS("amx", TILE_GEMM);

const kernels_ops *kernels_amx_ops(void) {
    return &amx_ops;
}
#else
const kernels_ops *kernels_amx_ops(void) {
    return NULL;
}
#endif

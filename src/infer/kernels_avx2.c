/* kernels_avx2: AVX2 with FMA and F16C, for CPUs without AVX-512. Compiled
 * with those flags and called only when the CPU has them (kernels.c checks).
 *
 * AVX2 has no VNNI: vpmaddubsw multiplies unsigned weight codes by signed
 * activation codes into 16-bit pair sums (which cannot overflow for codes
 * below 32, nor for Q8_0 with the sign trick below), and vpmaddwd widens
 * them to 32-bit lanes. One 32-weight block fills a 256-bit vector.
 * Sequences decoded together go through the generation kernels up to four
 * tokens at a time, each block of weights unpacked once for all of them
 * (KERNELS_GEMV_TOKENS); prompts go through packed panels (below). */
#include "kernels_impl.h"

#include <immintrin.h>

#define INLINE static inline __attribute__((always_inline))
/* Register tiles are arrays indexed by loop counters: unrolled, they live in
 * registers. */
#define UNROLL _Pragma("GCC unroll 16")

/* ---- small helpers ---- */

static inline float hsum256(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    return _mm_cvtss_f32(_mm_add_ss(x, _mm_movehdup_ps(x)));
}

static inline int hsum256_epi32(__m256i v) {
    __m128i x = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    x = _mm_add_epi32(x, _mm_unpackhi_epi64(x, x));
    x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 1));
    return _mm_cvtsi128_si32(x);
}

static inline float half(const void *p) {
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return _cvtsh_ss(h);
}

static inline __m128i load128(const void *p) {
    return _mm_loadu_si128((const __m128i *)p);
}
static inline __m256i load256(const void *p) {
    return _mm256_loadu_si256((const __m256i *)p);
}

/* Sums of each 4 products of unsigned a with signed b, as 8 int32. */
static inline __m256i dot_u8s8(__m256i a, __m256i b) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1));
}

/* Byte j of the result is 0xFF when bit j of bits is set. */
static inline __m256i bits_to_bytes(uint32_t bits) {
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32((int)bits),
        _mm256_set_epi64x(0x0303030303030303ll, 0x0202020202020202ll, 0x0101010101010101ll, 0));
    const __m256i bit = _mm256_set1_epi64x(0x8040201008040201ll);
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}

static inline const uint8_t *row_of(const kernels_matrix *w, int64_t r) {
    return (const uint8_t *)w->data + (size_t)r * w->row_bytes;
}

/* Prefetches the lines of n bytes from p (see kernels_avx512.c). */
INLINE void prefetch_span(const uint8_t *p, int n) {
    if (kernels_gemv_prefetch_l2)
        for (int o = 0; o < n; o += 64) _mm_prefetch((const char *)p + o, _MM_HINT_T1);
    else
        for (int o = 0; o < n; o += 64) _mm_prefetch((const char *)p + o, _MM_HINT_T0);
}

static inline const uint8_t *act_of(const kernels_job *j, int t) {
    return (const uint8_t *)j->act + (size_t)t * j->act_stride;
}

/* y[t][r] = dot(row r, token t) for rows [r0, r1) and every token. */
#define GEMV_ROWS(name, dot)                                                                       \
    static void name(const kernels_job *j, int64_t r0, int64_t r1) {                               \
        const kernels_matrix *w = j->w;                                                            \
        for (int64_t r = r0; r < r1; r++)                                                          \
            for (int t = 0; t < j->n_tok; t++)                                                     \
                j->y[(size_t)t * w->rows + r] = dot(row_of(w, r), act_of(j, t), w->cols);          \
    }

/* ==== 32-weight blocks ==== */

enum q32_kind { Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 };

static const int q32_block_bytes[] = {18, 20, 22, 24, 34};

/* One block's codes as [codes 0..15 | codes 16..31] (kernels_q8x4's halves);
 * Q8_0's signed codes as stored. */
INLINE __m256i q32_gemv_codes(enum q32_kind kind, const uint8_t *blk) {
    if (kind == Q8_0) return load256(blk + 2);
    const int qs_at = kind == Q4_0 ? 2 : kind == Q4_1 ? 4 : kind == Q5_0 ? 6 : 8;
    const __m128i qs = load128(blk + qs_at), m4 = _mm_set1_epi8(0x0F);
    __m256i codes =
        _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(qs, 4), m4), _mm_and_si128(qs, m4));
    if (kind == Q5_0 || kind == Q5_1) /* bit j of qh: code j's fifth bit */
        codes = _mm256_or_si256(codes,
                                _mm256_and_si256(bits_to_bytes(kernels_load_u32(blk + qs_at - 4)),
                                                 _mm256_set1_epi8(16)));
    return codes;
}

/* A block's codes (q32_gemv_codes) times activation block k: 8 int32 lanes
 * whose sum is the exact dot (the zero point's correction in lane 0). */
INLINE __m256i q32_block_isum(enum q32_kind kind, __m256i codes, const kernels_q8x4 *a, int k) {
    const __m256i act = _mm256_set_m128i(load128(a->qs + 64 + 16 * k), load128(a->qs + 16 * k));
    if (kind == Q8_0) /* |w| times a with w's sign: pairs stay below 2 * 128 * 127 */
        return dot_u8s8(_mm256_sign_epi8(codes, codes), _mm256_sign_epi8(act, codes));
    const __m256i isum = dot_u8s8(codes, act);
    if (kind == Q4_1 || kind == Q5_1) return isum; /* no zero point */
    return _mm256_add_epi32(isum, _mm256_zextsi128_si256(_mm_cvtsi32_si128(a->bias[4 * k])));
}

/* Blocks k and k + 1 (k even) of the 4- and 5-bit types together: their low
 * halves, and their high halves, are adjacent in kernels_q8x4, so each pair
 * of activation halves is one load. lo, hi: the two blocks' codes 0..15 and
 * 16..31. */
INLINE void q32_pair_codes(enum q32_kind kind, const uint8_t *blk, int B, __m256i *lo,
                           __m256i *hi) {
    const int qs_at = kind == Q4_0 ? 2 : kind == Q4_1 ? 4 : kind == Q5_0 ? 6 : 8;
    const __m256i qs = _mm256_set_m128i(load128(blk + B + qs_at), load128(blk + qs_at));
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    *lo = _mm256_and_si256(qs, m4);
    *hi = _mm256_and_si256(_mm256_srli_epi16(qs, 4), m4);
    if (kind == Q5_0 || kind == Q5_1) {
        const __m256i b0 = bits_to_bytes(kernels_load_u32(blk + qs_at - 4));
        const __m256i b1 = bits_to_bytes(kernels_load_u32(blk + B + qs_at - 4));
        const __m256i c16 = _mm256_set1_epi8(16);
        *lo = _mm256_or_si256(*lo, _mm256_and_si256(_mm256_permute2x128_si256(b0, b1, 0x20), c16));
        *hi = _mm256_or_si256(*hi, _mm256_and_si256(_mm256_permute2x128_si256(b0, b1, 0x31), c16));
    }
}

/* The pair's codes times activation blocks k, k + 1: lanes 0..3 sum block
 * k, 4..7 block k + 1. */
INLINE __m256i q32_pair_isum(__m256i lo, __m256i hi, const kernels_q8x4 *a, int k) {
    const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, load256(a->qs + 16 * k)),
                                       _mm256_maddubs_epi16(hi, load256(a->qs + 64 + 16 * k)));
    return _mm256_add_epi32(_mm256_madd_epi16(p, _mm256_set1_epi16(1)), load256(a->bias + 4 * k));
}

/* y[t] = dot(row, a[t]) for t < T (KERNELS_GEMV_TOKENS at most): per block,
 * sum += (dw * da) * isum (+ mw * s for the affine types). Each block's
 * codes are unpacked once for the T tokens, and each token's sums go
 * through the operations of a token alone (T = 1). */
INLINE void q32_dot_tile(enum q32_kind kind, int T, const uint8_t *row,
                         const kernels_q8x4 *const a[], int64_t nb, float y[]) {
    const int B = q32_block_bytes[kind];
    const bool affine = kind == Q4_1 || kind == Q5_1;
    const int pf = kernels_gemv_prefetch;
    __m256 acc[KERNELS_GEMV_TOKENS];
    float mins[KERNELS_GEMV_TOKENS];
    UNROLL
    for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps(), mins[t] = 0;
    int64_t b = 0;
    if (kind != Q8_0)
        for (; b + 2 <= nb; b += 2) {
            const uint8_t *blk = row + b * B;
            if (pf) prefetch_span(blk + pf, 2 * B);
            const int k = (int)(b % 4);
            __m256i lo, hi;
            q32_pair_codes(kind, blk, B, &lo, &hi);
            const float d0 = half(blk), d1 = half(blk + B);
            const float m0 = affine ? half(blk + 2) : 0, m1 = affine ? half(blk + B + 2) : 0;
            UNROLL
            for (int t = 0; t < T; t++) {
                const kernels_q8x4 *q = a[t] + b / 4;
                const __m256 scale =
                    _mm256_set_m128(_mm_set1_ps(d1 * q->d[k + 1]), _mm_set1_ps(d0 * q->d[k]));
                acc[t] =
                    _mm256_fmadd_ps(_mm256_cvtepi32_ps(q32_pair_isum(lo, hi, q, k)), scale, acc[t]);
                if (affine) mins[t] += m0 * q->s[k] + m1 * q->s[k + 1];
            }
        }
    for (; b < nb; b++) {
        const uint8_t *blk = row + b * B;
        if (pf) prefetch_span(blk + pf, B);
        const int k = (int)(b % 4);
        const __m256i codes = q32_gemv_codes(kind, blk);
        const float d0 = half(blk), m0 = affine ? half(blk + 2) : 0;
        UNROLL
        for (int t = 0; t < T; t++) {
            const kernels_q8x4 *q = a[t] + b / 4;
            const __m256 isum = _mm256_cvtepi32_ps(q32_block_isum(kind, codes, q, k));
            acc[t] = _mm256_fmadd_ps(isum, _mm256_set1_ps(d0 * q->d[k]), acc[t]);
            if (affine) mins[t] += m0 * q->s[k];
        }
    }
    UNROLL
    for (int t = 0; t < T; t++) y[t] = hsum256(acc[t]) + mins[t];
}

/* One row (R = 1) by tokens [t0, t0 + T). */
INLINE void q32_gemv_tile(enum q32_kind kind, int R, int T, const kernels_job *j, int64_t r,
                          int64_t end, int t0, const void *ctx) {
    (void)R, (void)end, (void)ctx;
    const kernels_matrix *w = j->w;
    const kernels_q8x4 *a[KERNELS_GEMV_TOKENS];
    UNROLL
    for (int t = 0; t < T; t++) a[t] = (const kernels_q8x4 *)act_of(j, t0 + t);
    float y[KERNELS_GEMV_TOKENS];
    q32_dot_tile(kind, T, row_of(w, r), a, w->cols / 32, y);
    kernels_tile_store(j, r, 1, 1, t0, T, y);
}

#define Q32_GEMV(name, kind)                                                                       \
    KERNELS_GEMV_TILES(name##_tiles, q32_gemv_tile, 1, 1, kind, )                                  \
    static void name(const kernels_job *j, int64_t r0, int64_t r1) {                               \
        kernels_run_gemv_tiles(j, r0, r1, &name##_tiles, NULL, NULL);                              \
    }

Q32_GEMV(gemv_q4_0, Q4_0)
Q32_GEMV(gemv_q4_1, Q4_1)
Q32_GEMV(gemv_q5_0, Q5_0)
Q32_GEMV(gemv_q5_1, Q5_1)
Q32_GEMV(gemv_q8_0, Q8_0)

/* ---- split rows (KERNELS_SPLIT): Q4_0 Q8_0 ----
 * Blocks k and k + 1 of a group of four: Q4_0's codes are 32 bytes at c, in
 * kernels_q8x4's order; Q8_0's low halves are 32 bytes at c and the high
 * ones 16 n bytes on, plus 128, so they are flipped back to signed ones for
 * the sign trick. */
typedef struct split_pair {
    __m256i lo, hi;   /* Q4_0: the codes; Q8_0: the signed codes */
    __m256i alo, ahi; /* Q8_0: their magnitudes */
} split_pair;

INLINE split_pair split_pair_codes(bool q8, const uint8_t *c, int n) {
    split_pair p;
    if (q8) {
        const __m256i flip = _mm256_set1_epi8((char)0x80);
        p.lo = _mm256_xor_si256(load256(c), flip);
        p.hi = _mm256_xor_si256(load256(c + 16 * n), flip);
        p.alo = _mm256_sign_epi8(p.lo, p.lo);
        p.ahi = _mm256_sign_epi8(p.hi, p.hi);
        return p;
    }
    const __m256i q = load256(c), m4 = _mm256_set1_epi8(0x0F);
    p.lo = _mm256_and_si256(q, m4);
    p.hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
    p.alo = p.ahi = _mm256_setzero_si256();
    return p;
}

/* The pair's codes times a token's blocks k, k + 1: lanes 0..3 sum block k,
 * 4..7 block k + 1. */
INLINE __m256i split_pair_isum(bool q8, const split_pair *p, const kernels_q8x4 *a, int k) {
    const __m256i alo = load256(a->qs + 16 * k), ahi = load256(a->qs + 64 + 16 * k);
    if (q8)
        return _mm256_add_epi32(dot_u8s8(p->alo, _mm256_sign_epi8(alo, p->lo)),
                                dot_u8s8(p->ahi, _mm256_sign_epi8(ahi, p->hi)));
    const __m256i s =
        _mm256_add_epi16(_mm256_maddubs_epi16(p->lo, alo), _mm256_maddubs_epi16(p->hi, ahi));
    return _mm256_add_epi32(_mm256_madd_epi16(s, _mm256_set1_epi16(1)), load256(a->bias + 4 * k));
}

/* One block k of a group of n blocks: for a row's last, short group. */
INLINE __m256i split_one_codes(bool q8, const uint8_t *c, int n) {
    if (q8)
        return _mm256_xor_si256(_mm256_set_m128i(load128(c + 16 * n), load128(c)),
                                _mm256_set1_epi8((char)0x80));
    const __m128i q = load128(c), m4 = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m4), _mm_and_si128(q, m4));
}

INLINE __m256i split_one_isum(bool q8, __m256i w, const kernels_q8x4 *a, int k) {
    const __m256i act = _mm256_set_m128i(load128(a->qs + 64 + 16 * k), load128(a->qs + 16 * k));
    if (q8) return dot_u8s8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(act, w));
    return _mm256_add_epi32(dot_u8s8(w, act),
                            _mm256_zextsi128_si256(_mm_cvtsi32_si128(a->bias[4 * k])));
}

/* A split row of nb blocks times T tokens, two sums each, as in the AVX-512
 * kernel; each group's codes serve the T tokens. */
INLINE void split_dot_tile(bool q8, int T, const uint8_t *row, const kernels_q8x4 *const a[],
                           int64_t nb, float y[]) {
    const int G = q8 ? 128 : 64;
    const uint8_t *d = row + (size_t)nb * (q8 ? 32 : 16);
    const int pf = kernels_gemv_prefetch;
    const __m256i lanes01 = _mm256_set_epi32(1, 1, 1, 1, 0, 0, 0, 0);
    const __m256i lanes23 = _mm256_set_epi32(3, 3, 3, 3, 2, 2, 2, 2);
    __m256 acc0[KERNELS_GEMV_TOKENS], acc1[KERNELS_GEMV_TOKENS];
    UNROLL
    for (int t = 0; t < T; t++) acc0[t] = acc1[t] = _mm256_setzero_ps();
    int64_t q = 0;
    for (; q < nb / 4; q++) {
        const uint8_t *c = row + q * G;
        if (pf) prefetch_span(c + pf, G);
        const __m128 dw = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(d + 8 * q)));
        const split_pair p0 = split_pair_codes(q8, c, 4), p1 = split_pair_codes(q8, c + 32, 4);
        UNROLL
        for (int t = 0; t < T; t++) {
            const kernels_q8x4 *at = a[t] + q;
            const __m256 s = _mm256_castps128_ps256(_mm_mul_ps(dw, _mm_load_ps(at->d)));
            acc0[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(split_pair_isum(q8, &p0, at, 0)),
                                      _mm256_permutevar8x32_ps(s, lanes01), acc0[t]);
            acc1[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(split_pair_isum(q8, &p1, at, 2)),
                                      _mm256_permutevar8x32_ps(s, lanes23), acc1[t]);
        }
    }
    const int n = (int)(nb - 4 * q); /* a last, short group */
    for (int k = 0; k < n; k++) {
        const __m256i w = split_one_codes(q8, row + q * G + 16 * k, n);
        const float dk = half(d + 8 * q + 2 * k);
        UNROLL
        for (int t = 0; t < T; t++) {
            const kernels_q8x4 *at = a[t] + q;
            acc0[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(split_one_isum(q8, w, at, k)),
                                      _mm256_set1_ps(dk * at->d[k]), acc0[t]);
        }
    }
    UNROLL
    for (int t = 0; t < T; t++) y[t] = hsum256(_mm256_add_ps(acc0[t], acc1[t]));
}

/* One split row (R = 1) by tokens [t0, t0 + T). */
INLINE void split_gemv_tile(bool q8, int R, int T, const kernels_job *j, int64_t r, int64_t end,
                            int t0, const void *ctx) {
    (void)R, (void)end, (void)ctx;
    const kernels_matrix *w = j->w;
    const kernels_q8x4 *a[KERNELS_GEMV_TOKENS];
    UNROLL
    for (int t = 0; t < T; t++) a[t] = (const kernels_q8x4 *)act_of(j, t0 + t);
    float y[KERNELS_GEMV_TOKENS];
    split_dot_tile(q8, T, row_of(w, r), a, w->cols / 32, y);
    kernels_tile_store(j, r, 1, 1, t0, T, y);
}

#define SPLIT_GEMV(name, q8)                                                                       \
    KERNELS_GEMV_TILES(name##_tiles, split_gemv_tile, 1, 1, q8, )                                  \
    static void name(const kernels_job *j, int64_t r0, int64_t r1) {                               \
        kernels_run_gemv_tiles(j, r0, r1, &name##_tiles, NULL, NULL);                              \
    }

SPLIT_GEMV(gemv_q4_0_split, false)
SPLIT_GEMV(gemv_q8_0_split, true)

/* ==== 256-weight super-blocks ==== */

/* The eight 6-bit scales and mins of a Q4_K / Q5_K block (quant_k.c). */
static inline void k4_scales(const uint8_t *s, uint8_t sc[8], uint8_t m[8]) {
    const uint32_t u0 = kernels_load_u32(s), u1 = kernels_load_u32(s + 4),
                   u2 = kernels_load_u32(s + 8);
    const uint32_t w[4] = {u0 & 0x3f3f3f3f, (u2 & 0x0f0f0f0f) | ((u0 >> 2) & 0x30303030),
                           u1 & 0x3f3f3f3f, ((u2 >> 4) & 0x0f0f0f0f) | ((u1 >> 2) & 0x30303030)};
    memcpy(sc, w, 8);
    memcpy(m, w + 2, 8);
}

/* Q4_K / Q5_K: 32 codes of sub-block j times its activations, times its
 * scale, into 8 int32 lanes. */
INLINE __m256i k4_sub(__m256i codes, const int8_t *act, int scale, __m256i isum) {
    const __m256i p = _mm256_maddubs_epi16(codes, load256(act));
    return _mm256_add_epi32(isum, _mm256_madd_epi16(p, _mm256_set1_epi16((short)scale)));
}

/* The codes of Q4_K / Q5_K's bytes 32c..32c+31 of qs: sub-block 2c in the
 * low nibbles (lo), 2c + 1 in the high ones (hi), plus 16 where Q5_K's qh
 * bit 2c or 2c + 1 is set. */
INLINE void k4_codes(bool five, const uint8_t *qs, __m256i qh, int c, __m256i *lo, __m256i *hi) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), q = load256(qs + 32 * c);
    *lo = _mm256_and_si256(q, m4);
    *hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
    if (five) {
        const __m256i c16 = _mm256_set1_epi8(16);
        const __m256i bl = _mm256_set1_epi8((char)(1 << 2 * c)),
                      bh = _mm256_set1_epi8((char)(2 << 2 * c));
        *lo = _mm256_or_si256(
            *lo, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bl), bl), c16));
        *hi = _mm256_or_si256(
            *hi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bh), bh), c16));
    }
}

/* y[t] = dot(row, a[t]) for t < T: each sub-block's codes unpacked once for
 * the T tokens, each token's sums as it would have them alone. */
INLINE void k4_dot_tile(bool five, int T, const uint8_t *row, const kernels_q8k *const a[],
                        int64_t nsb, float y[]) {
    const size_t B = five ? sizeof(block_q5_K) : sizeof(block_q4_K);
    __m256 acc[KERNELS_GEMV_TOKENS];
    float mins_sum[KERNELS_GEMV_TOKENS];
    UNROLL
    for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps(), mins_sum[t] = 0;
    const int pf = kernels_gemv_prefetch;
    for (int64_t i = 0; i < nsb; i++, row += B) {
        if (pf) prefetch_span(row + pf, (int)B);
        uint8_t sc[8], m[8];
        k4_scales(row + 4, sc, m);
        const uint8_t *qs = row + (five ? 48 : 16);
        const __m256i qh = five ? load256(row + 16) : _mm256_setzero_si256();
        __m256i isum[KERNELS_GEMV_TOKENS];
        UNROLL
        for (int t = 0; t < T; t++) isum[t] = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i lo, hi;
            k4_codes(five, qs, qh, c, &lo, &hi);
            const int j = 2 * c;
            UNROLL
            for (int t = 0; t < T; t++) {
                isum[t] = k4_sub(lo, a[t][i].qs + kernels_q8k_k4_pos(32 * j), sc[j], isum[t]);
                isum[t] =
                    k4_sub(hi, a[t][i].qs + kernels_q8k_k4_pos(32 * (j + 1)), sc[j + 1], isum[t]);
            }
        }
        const float d = half(row), dmin = half(row + 2);
        UNROLL
        for (int t = 0; t < T; t++) {
            const kernels_q8k *at = &a[t][i];
            acc[t] =
                _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_set1_ps(d * at->d), acc[t]);
            int msum = 0;
            for (int j = 0; j < 8; j++) msum += m[j] * at->bsum32[j];
            mins_sum[t] += dmin * at->d * (float)msum;
        }
    }
    UNROLL
    for (int t = 0; t < T; t++) y[t] = hsum256(acc[t]) - mins_sum[t];
}

/* Q6_K's codes 0..63 (value + 32) of half h: c[k] = the 32 codes of quarter
 * k, four low bits from ql and two high bits from qh. */
INLINE void q6k_codes(const block_q6_K *b, int h, __m256i c[4]) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3);
    const __m256i ql0 = load256(b->ql + 64 * h), ql1 = load256(b->ql + 64 * h + 32);
    const __m256i qh = load256(b->qh + 32 * h);
    c[0] =
        _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4));
    c[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4));
    c[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4));
    c[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4));
}

/* Q6_K: the 32 added to each code comes back out as -32 * sum(scale * bsum).
 * As k4_dot_tile, T tokens at a time. */
INLINE void q6k_dot_tile(int T, const uint8_t *row, const kernels_q8k *const a[], int64_t nsb,
                         float y[]) {
    __m256 acc[KERNELS_GEMV_TOKENS];
    UNROLL
    for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
    const int pf = kernels_gemv_prefetch;
    for (int64_t i = 0; i < nsb; i++, row += sizeof(block_q6_K)) {
        if (pf) prefetch_span(row + pf, sizeof(block_q6_K));
        const block_q6_K *b = (const block_q6_K *)row;
        __m256i isum[KERNELS_GEMV_TOKENS];
        UNROLL
        for (int t = 0; t < T; t++) isum[t] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i codes[4];
            q6k_codes(b, h, codes);
            for (int c = 0; c < 4; c++) { /* 32 codes: sub-blocks g and g + 1 */
                const int g = 8 * h + 2 * c;
                const __m256i sc = _mm256_set_m128i(_mm_set1_epi16(b->scales[g + 1]),
                                                    _mm_set1_epi16(b->scales[g]));
                UNROLL
                for (int t = 0; t < T; t++) {
                    const __m256i p = _mm256_maddubs_epi16(codes[c], load256(a[t][i].qs + 16 * g));
                    isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(p, sc));
                }
            }
        }
        const float d = half(&b->d);
        UNROLL
        for (int t = 0; t < T; t++) {
            const kernels_q8k *at = &a[t][i];
            int bias = 0;
            for (int g = 0; g < 16; g++) bias += b->scales[g] * at->bsums[g];
            isum[t] = _mm256_sub_epi32(isum[t], _mm256_set_epi32(0, 0, 0, 0, 0, 0, 0, 32 * bias));
            acc[t] =
                _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_set1_ps(d * at->d), acc[t]);
        }
    }
    UNROLL
    for (int t = 0; t < T; t++) y[t] = hsum256(acc[t]);
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

/* ---- 32-weight blocks: packed panels for batches ----
 * As in kernels_avx512.c, with 8 rows to a panel: codes[b][g][i][4] = codes
 * 4g..4g+3 of row i's block b (32 bytes per group), then d[b][i] and m[b][i].
 * vpmaddubsw's 16-bit pair sums are added over four groups at most (four
 * times 2 * 31 * 127 still fits), then widened by vpmaddwd. Q8_0's codes are
 * kept signed and multiplied with the sign trick, one group at a time. */

#define TILE_TOKENS 6
#define PACK_PREFETCH 2048

static size_t q32_panel_bytes(int64_t nb) {
    return (size_t)nb * (256 + 2 * 32);
}

/* The chunk's eight panels, then 8 rows of unpacked codes. */
static size_t q32_chunk_bytes(int64_t cols) {
    return q32_panel_bytes(cols / 32) * (KERNELS_CHUNK_ROWS / 8) + 8 * (size_t)cols;
}

/* Block codes in weight order: unsigned with the zero point, or Q8_0's own. */
INLINE __m256i q32_block_codes(enum q32_kind kind, const uint8_t *blk, float *d, float *m) {
    *d = half(blk);
    *m = kind == Q4_1 || kind == Q5_1 ? half(blk + 2) : 0.0f;
    if (kind == Q8_0) return load256(blk + 2);
    const int qs_at = kind == Q4_0 ? 2 : kind == Q4_1 ? 4 : kind == Q5_0 ? 6 : 8;
    const __m128i qs = load128(blk + qs_at), m4 = _mm_set1_epi8(0x0F);
    __m256i codes =
        _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(qs, 4), m4), _mm_and_si128(qs, m4));
    if (kind == Q5_0 || kind == Q5_1)
        codes = _mm256_or_si256(codes,
                                _mm256_and_si256(bits_to_bytes(kernels_load_u32(blk + qs_at - 4)),
                                                 _mm256_set1_epi8(16)));
    return codes;
}

/* A split row's codes in weight order (Q8_0's signed again, as the panels
 * hold them) to dst, 32 bytes a block, and its scales to d[8 b]. */
INLINE void split_pack_row(bool q8, const uint8_t *row, int64_t nb, uint8_t *dst, float *d) {
    const uint8_t *ds = row + nb * (q8 ? 32 : 16);
    const __m128i m4 = _mm_set1_epi8(0x0F), flip = _mm_set1_epi8((char)0x80);
    for (int64_t b = 0; b < nb; b++) {
        if (b % 4 == 0) _mm_prefetch((const char *)row + b * 32 + PACK_PREFETCH, _MM_HINT_T0);
        __m128i lo, hi;
        if (q8) {
            const int64_t g = b / 4, k = b % 4, n = nb - 4 * g < 4 ? nb - 4 * g : 4;
            lo = _mm_xor_si128(load128(row + 128 * g + 16 * k), flip);
            hi = _mm_xor_si128(load128(row + 128 * g + 16 * n + 16 * k), flip);
        } else {
            const __m128i q = load128(row + 16 * b);
            lo = _mm_and_si128(q, m4);
            hi = _mm_and_si128(_mm_srli_epi16(q, 4), m4);
        }
        _mm256_store_si256((__m256i *)(dst + 32 * b), _mm256_set_m128i(hi, lo));
        d[8 * b] = half(ds + 2 * b);
    }
}

/* Transposes the 8 x 8 matrix of 32-bit words whose rows are v[0..7]. */
INLINE void transpose_8x8(__m256i v[8]) {
    __m256i t[8], u[8];
    UNROLL
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_epi32(v[i], v[i + 1]);
        t[i + 1] = _mm256_unpackhi_epi32(v[i], v[i + 1]);
    }
    UNROLL
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
        u[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
        u[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
        u[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    UNROLL
    for (int i = 0; i < 4; i++) {
        v[i] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x20);
        v[i + 4] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x31);
    }
}

/* Packs 8 rows (n_rows real ones, zeros after): each row read in turn into
 * `rows` (8 x cols codes), then each block transposed from there, in cache. */
INLINE void q32_pack(enum q32_kind kind, const kernels_matrix *w, int64_t r0, int n_rows,
                     uint8_t *panel, uint8_t *rows) {
    const int B = q32_block_bytes[kind];
    const int64_t nb = w->cols / 32;
    float *pd = (float *)(panel + nb * 256), *pm = pd + nb * 8;
    if (n_rows < 8) {
        memset(panel, 0, q32_panel_bytes(nb));
        memset(rows + n_rows * w->cols, 0, (size_t)(8 - n_rows) * w->cols);
    }
    for (int i = 0; i < n_rows; i++) {
        const uint8_t *row = row_of(w, r0 + i);
        if (w->layout == KERNELS_SPLIT) {
            split_pack_row(kind == Q8_0, row, nb, rows + i * w->cols, pd + i);
            continue;
        }
        for (int64_t b = 0; b < nb; b++) {
            if (b % 4 == 0) _mm_prefetch((const char *)row + b * B + PACK_PREFETCH, _MM_HINT_T0);
            _mm256_store_si256((__m256i *)(rows + i * w->cols + 32 * b),
                               q32_block_codes(kind, row + b * B, &pd[b * 8 + i], &pm[b * 8 + i]));
        }
    }
    for (int64_t b = 0; b < nb; b++) {
        __m256i c[8];
        UNROLL
        for (int i = 0; i < 8; i++)
            c[i] = _mm256_load_si256((const __m256i *)(rows + i * w->cols + 32 * b));
        transpose_8x8(c);
        UNROLL
        for (int g = 0; g < 8; g++) _mm256_store_si256((__m256i *)(panel + b * 256 + 32 * g), c[g]);
    }
}

/* 8 rows by NT tokens over every block of one panel. */
INLINE void q32_tile(enum q32_kind kind, int NT, const uint8_t *panel, int64_t nb,
                     const kernels_job *j, int t0, float *y, int n_rows) {
    const float *pd = (const float *)(panel + nb * 256), *pm = pd + nb * 8;
    const kernels_q8x4 *act[TILE_TOKENS];
    __m256 acc[TILE_TOKENS];
    UNROLL
    for (int t = 0; t < NT; t++) {
        act[t] = (const kernels_q8x4 *)act_of(j, t0 + t);
        acc[t] = _mm256_setzero_ps();
    }
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < nb; b++) {
        const int64_t q = b / 4;
        const int k = (int)(b % 4);
        __m256i isum[TILE_TOKENS];
        UNROLL
        for (int t = 0; t < NT; t++)
            isum[t] = _mm256_set1_epi32(kind == Q8_0 ? 0 : act[t][q].bias[4 * k]);
        for (int half4 = 0; half4 < 2;
             half4++) { /* groups 0..3 read codes 0..15 (lo), 4..7 the rest */
            __m256i pairs[TILE_TOKENS];
            UNROLL
            for (int t = 0; t < NT; t++) pairs[t] = _mm256_setzero_si256();
            UNROLL
            for (int g = 0; g < 4; g++) {
                const __m256i wv =
                    _mm256_load_si256((const __m256i *)(panel + b * 256 + 32 * (4 * half4 + g)));
                const __m256i wabs = kind == Q8_0 ? _mm256_sign_epi8(wv, wv) : wv;
                UNROLL
                for (int t = 0; t < NT; t++) {
                    __m256i a = _mm256_set1_epi32(
                        (int)kernels_load_u32(act[t][q].qs + 64 * half4 + 16 * k + 4 * g));
                    if (kind == Q8_0) {
                        a = _mm256_sign_epi8(a, wv);
                        isum[t] = _mm256_add_epi32(
                            isum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(wabs, a), ones));
                    } else {
                        pairs[t] = _mm256_add_epi16(pairs[t], _mm256_maddubs_epi16(wabs, a));
                    }
                }
            }
            if (kind != Q8_0) UNROLL
            for (int t = 0; t < NT; t++)
                isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(pairs[t], ones));
        }
        const __m256 dw = _mm256_load_ps(pd + b * 8);
        UNROLL
        for (int t = 0; t < NT; t++) {
            const kernels_q8x4 *a = &act[t][q];
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]),
                                     _mm256_mul_ps(dw, _mm256_set1_ps(a->d[k])), acc[t]);
            if (kind == Q4_1 || kind == Q5_1)
                acc[t] =
                    _mm256_fmadd_ps(_mm256_load_ps(pm + b * 8), _mm256_set1_ps(a->s[k]), acc[t]);
        }
    }
    UNROLL
    for (int t = 0; t < NT; t++) {
        float *yt = y + (size_t)t * j->w->rows;
        if (n_rows == 8) {
            _mm256_storeu_ps(yt, acc[t]);
        } else {
            _Alignas(32) float tmp[8];
            _mm256_store_ps(tmp, acc[t]);
            memcpy(yt, tmp, (size_t)n_rows * sizeof *tmp);
        }
    }
}

typedef void (*tile_fn)(const uint8_t *panel, int64_t n, const kernels_job *j, int t0, float *y,
                        int n_rows);

#define TILES(name, body, ...)                                                                     \
    static void name##_6(const uint8_t *p, int64_t n, const kernels_job *j, int t0, float *y,      \
                         int r) {                                                                  \
        body(__VA_ARGS__ 6, p, n, j, t0, y, r);                                                    \
    }                                                                                              \
    static void name##_4(const uint8_t *p, int64_t n, const kernels_job *j, int t0, float *y,      \
                         int r) {                                                                  \
        body(__VA_ARGS__ 4, p, n, j, t0, y, r);                                                    \
    }                                                                                              \
    static void name##_2(const uint8_t *p, int64_t n, const kernels_job *j, int t0, float *y,      \
                         int r) {                                                                  \
        body(__VA_ARGS__ 2, p, n, j, t0, y, r);                                                    \
    }                                                                                              \
    static void name##_1(const uint8_t *p, int64_t n, const kernels_job *j, int t0, float *y,      \
                         int r) {                                                                  \
        body(__VA_ARGS__ 1, p, n, j, t0, y, r);                                                    \
    }                                                                                              \
    static const tile_fn name[4] = {name##_6, name##_4, name##_2, name##_1};

TILES(q4_0_tiles, q32_tile, Q4_0, )
TILES(q4_1_tiles, q32_tile, Q4_1, )
TILES(q5_0_tiles, q32_tile, Q5_0, )
TILES(q5_1_tiles, q32_tile, Q5_1, )
TILES(q8_0_tiles, q32_tile, Q8_0, )

/* Runs the tiles of one packed chunk: tokens in groups of 6, then 4, 2, 1;
 * for each group, every panel, so the group's activations stay in cache. */
static void run_tiles(const kernels_job *j, int64_t r0, int64_t r1, const uint8_t *panels,
                      size_t panel_bytes, int64_t n, const tile_fn tiles[4]) {
    const int sizes[4] = {6, 4, 2, 1};
    for (int t0 = 0, s = 0; t0 < j->n_tok; t0 += sizes[s]) {
        while (j->n_tok - t0 < sizes[s]) s++;
        for (int64_t p = 0; r0 + 8 * p < r1; p++) {
            const int64_t left = r1 - r0 - 8 * p;
            tiles[s](panels + p * panel_bytes, n, j, t0,
                     j->y + (size_t)t0 * j->w->rows + r0 + 8 * p, left < 8 ? (int)left : 8);
        }
    }
}

INLINE void q32_gemm(enum q32_kind kind, const kernels_job *j, int64_t r0, int64_t r1, void *mem,
                     const tile_fn tiles[4]) {
    const int64_t nb = j->w->cols / 32;
    const size_t pb = q32_panel_bytes(nb);
    uint8_t *panels = mem, *rows = panels + pb * (KERNELS_CHUNK_ROWS / 8);
    for (int64_t p = 0; r0 + 8 * p < r1; p++) {
        const int64_t left = r1 - r0 - 8 * p;
        q32_pack(kind, j->w, r0 + 8 * p, left < 8 ? (int)left : 8, panels + p * pb, rows);
    }
    run_tiles(j, r0, r1, panels, pb, nb, tiles);
}

static void gemm_q4_0(const kernels_job *j, int64_t r0, int64_t r1, void *p) {
    q32_gemm(Q4_0, j, r0, r1, p, q4_0_tiles);
}
static void gemm_q4_1(const kernels_job *j, int64_t r0, int64_t r1, void *p) {
    q32_gemm(Q4_1, j, r0, r1, p, q4_1_tiles);
}
static void gemm_q5_0(const kernels_job *j, int64_t r0, int64_t r1, void *p) {
    q32_gemm(Q5_0, j, r0, r1, p, q5_0_tiles);
}
static void gemm_q5_1(const kernels_job *j, int64_t r0, int64_t r1, void *p) {
    q32_gemm(Q5_1, j, r0, r1, p, q5_1_tiles);
}
static void gemm_q8_0(const kernels_job *j, int64_t r0, int64_t r1, void *p) {
    q32_gemm(Q8_0, j, r0, r1, p, q8_0_tiles);
}

/* ==== float weights: F32 F16 BF16 (activations: floats rounded to the type) ==== */

INLINE __m256 widen8(enum quant_type type, const uint8_t *p) {
    if (type == QT_F32) return _mm256_loadu_ps((const float *)p);
    if (type == QT_F16) return _mm256_cvtph_ps(load128(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(load128(p)), 16));
}

static inline float widen1(enum quant_type type, const uint8_t *p) {
    if (type == QT_F32) {
        float f;
        memcpy(&f, p, sizeof f);
        return f;
    }
    if (type == QT_F16) return half(p);
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return quant_bf16_to_f32(h);
}

INLINE float float_dot(enum quant_type type, const uint8_t *w, const float *x, int64_t n) {
    const int size = type == QT_F32 ? 4 : 2;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++)
            acc[k] = _mm256_fmadd_ps(widen8(type, w + (i + 8 * k) * size),
                                     _mm256_loadu_ps(x + i + 8 * k), acc[k]);
    for (; i + 8 <= n; i += 8)
        acc[0] = _mm256_fmadd_ps(widen8(type, w + i * size), _mm256_loadu_ps(x + i), acc[0]);
    float sum =
        hsum256(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++) sum += widen1(type, w + i * size) * x[i];
    return sum;
}

static float f32_dot(const uint8_t *w, const void *x, int64_t n) {
    return float_dot(QT_F32, w, x, n);
}
static float f16_dot(const uint8_t *w, const void *x, int64_t n) {
    return float_dot(QT_F16, w, x, n);
}
static float bf16_dot(const uint8_t *w, const void *x, int64_t n) {
    return float_dot(QT_BF16, w, x, n);
}

GEMV_ROWS(gemv_f32, f32_dot)
GEMV_ROWS(gemv_f16, f16_dot)
GEMV_ROWS(gemv_bf16, bf16_dot)

/* ---- super-blocks: packed panels ----
 * Per super-block of 8 rows: codes[64 groups][8 rows][4] (2048 bytes), then
 * sc[16 sub-blocks][8 rows] as two equal int16 (vpmaddwd then multiplies a
 * lane's two pair sums by the row's scale), pairs[8][8] two int16 (Q4_K/Q5_K:
 * mins 2p and 2p+1; Q6_K: scales 2p and 2p+1), d[8] and dmin[8] floats. */

enum {
    KP_CODES = 0,
    KP_SC = 2048,
    KP_PAIRS = KP_SC + 512,
    KP_D = KP_PAIRS + 256,
    KP_DMIN = KP_D + 32,
    KP_BYTES = KP_DMIN + 32
};

static size_t k_chunk_bytes(int64_t cols) {
    return (size_t)(cols / QK_K) * KP_BYTES * (KERNELS_CHUNK_ROWS / 8) + 8 * (size_t)cols;
}

static inline uint32_t pair16(int a, int b) {
    return (uint16_t)a | (uint32_t)(uint16_t)b << 16;
}

/* One row's 256 codes in weight order; its scales go to the panel. */
INLINE void kquant_row_codes(enum quant_type type, const uint8_t *blk, uint8_t *codes, uint8_t *sb,
                             int i) {
    uint32_t *sc = (uint32_t *)(sb + KP_SC) + i, *pairs = (uint32_t *)(sb + KP_PAIRS) + i;
    if (type == QT_Q6_K) {
        const block_q6_K *b = (const block_q6_K *)blk;
        for (int h = 0; h < 2; h++) {
            __m256i c[4];
            q6k_codes(b, h, c);
            for (int k = 0; k < 4; k++)
                _mm256_storeu_si256((__m256i *)(codes + 128 * h + 32 * k), c[k]);
        }
        for (int g = 0; g < 16; g++) sc[8 * g] = pair16(b->scales[g], b->scales[g]);
        for (int p = 0; p < 8; p++) pairs[8 * p] = pair16(b->scales[2 * p], b->scales[2 * p + 1]);
        ((float *)(sb + KP_D))[i] = half(&b->d);
        return;
    }
    const bool five = type == QT_Q5_K;
    uint8_t scales[8], mins[8];
    k4_scales(blk + 4, scales, mins);
    const uint8_t *qs = blk + (five ? 48 : 16);
    const __m256i qh = five ? load256(blk + 16) : _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
        __m256i lo, hi;
        k4_codes(five, qs, qh, c, &lo, &hi);
        _mm256_storeu_si256((__m256i *)(codes + 64 * c), lo);
        _mm256_storeu_si256((__m256i *)(codes + 64 * c + 32), hi);
    }
    for (int j = 0; j < 8; j++) sc[8 * j] = pair16(scales[j], scales[j]);
    for (int p = 0; p < 4; p++) pairs[8 * p] = pair16(mins[2 * p], mins[2 * p + 1]);
    ((float *)(sb + KP_D))[i] = half(blk);
    ((float *)(sb + KP_DMIN))[i] = half(blk + 2);
}

INLINE void kquant_pack(enum quant_type type, const kernels_matrix *w, int64_t r0, int n_rows,
                        uint8_t *panel, uint8_t *rows) {
    const size_t B = quant_info(type)->type_size;
    const int64_t nsb = w->cols / QK_K;
    if (n_rows < 8) {
        memset(panel, 0, (size_t)nsb * KP_BYTES);
        memset(rows + n_rows * w->cols, 0, (size_t)(8 - n_rows) * w->cols);
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
        for (int j = 0; j < 8; j++) { /* 32 codes of 8 rows */
            __m256i c[8];
            UNROLL
            for (int i = 0; i < 8; i++)
                c[i] = _mm256_load_si256((const __m256i *)(rows + i * w->cols + QK_K * s + 32 * j));
            transpose_8x8(c);
            UNROLL
            for (int g = 0; g < 8; g++)
                _mm256_store_si256((__m256i *)(panel + s * KP_BYTES + KP_CODES + 256 * j + 32 * g),
                                   c[g]);
        }
    }
}

/* Q4_K / Q5_K (six == false) and Q6_K, 8 rows by NT tokens. Pair sums are
 * added in 16 bits over as many groups as cannot overflow (4, or 2 for Q6_K's
 * 6-bit codes), then vpmaddwd multiplies them by the sub-block scale. */
INLINE void kquant_tile(bool six, int NT, const uint8_t *panel, int64_t nsb, const kernels_job *j,
                        int t0, float *y, int n_rows) {
    const kernels_q8k *act[TILE_TOKENS];
    __m256 acc[TILE_TOKENS];
    UNROLL
    for (int t = 0; t < NT; t++) {
        act[t] = (const kernels_q8k *)act_of(j, t0 + t);
        acc[t] = _mm256_setzero_ps();
    }
    const int run = six ? 2 : 4; /* groups per 16-bit run */
    for (int64_t s = 0; s < nsb; s++) {
        const uint8_t *sb = panel + s * KP_BYTES;
        __m256i isum[TILE_TOKENS];
        UNROLL
        for (int t = 0; t < NT; t++) isum[t] = _mm256_setzero_si256();
        for (int r0 = 0; r0 < 64; r0 += run) { /* groups r0.. of 4 codes */
            const int sub = six ? r0 / 4 : r0 / 8;
            const __m256i sc = _mm256_load_si256((const __m256i *)(sb + KP_SC + 32 * sub));
            __m256i pairs[TILE_TOKENS];
            UNROLL
            for (int t = 0; t < NT; t++) pairs[t] = _mm256_setzero_si256();
            for (int g = r0; g < r0 + run; g++) {
                const __m256i wv = _mm256_load_si256((const __m256i *)(sb + KP_CODES + 32 * g));
                const int e = 4 * g; /* the group's first code */
                const int at = six ? e : kernels_q8k_k4_pos(e);
                UNROLL
                for (int t = 0; t < NT; t++)
                    pairs[t] = _mm256_add_epi16(
                        pairs[t], _mm256_maddubs_epi16(wv, _mm256_set1_epi32((int)kernels_load_u32(
                                                               act[t][s].qs + at))));
            }
            UNROLL
            for (int t = 0; t < NT; t++)
                isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(pairs[t], sc));
        }
        const __m256 d = _mm256_load_ps((const float *)(sb + KP_D));
        UNROLL
        for (int t = 0; t < NT; t++) {
            const kernels_q8k *a = &act[t][s];
            __m256i extra =
                _mm256_setzero_si256(); /* Q6_K: sum(scale * bsum); else sum(min * bsum32) */
            for (int p = 0; p < (six ? 8 : 4); p++)
                extra = _mm256_add_epi32(
                    extra,
                    _mm256_madd_epi16(_mm256_load_si256((const __m256i *)(sb + KP_PAIRS + 32 * p)),
                                      _mm256_set1_epi32((int)kernels_load_u32(
                                          (six ? a->bsums : a->bsum32) + 2 * p))));
            const __m256 da = _mm256_set1_ps(a->d);
            if (six) {
                isum[t] = _mm256_sub_epi32(isum[t], _mm256_slli_epi32(extra, 5));
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, da), acc[t]);
            } else {
                const __m256 dmin = _mm256_load_ps((const float *)(sb + KP_DMIN));
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, da), acc[t]);
                acc[t] =
                    _mm256_fnmadd_ps(_mm256_cvtepi32_ps(extra), _mm256_mul_ps(dmin, da), acc[t]);
            }
        }
    }
    UNROLL
    for (int t = 0; t < NT; t++) {
        float *yt = y + (size_t)t * j->w->rows;
        if (n_rows == 8) {
            _mm256_storeu_ps(yt, acc[t]);
        } else {
            _Alignas(32) float tmp[8];
            _mm256_store_ps(tmp, acc[t]);
            memcpy(yt, tmp, (size_t)n_rows * sizeof *tmp);
        }
    }
}

TILES(k4_tiles, kquant_tile, false, )
TILES(q6k_tiles, kquant_tile, true, )

INLINE void kquant_gemm(enum quant_type type, const kernels_job *j, int64_t r0, int64_t r1,
                        void *mem) {
    const int64_t nsb = j->w->cols / QK_K;
    const size_t pb = (size_t)nsb * KP_BYTES;
    uint8_t *panels = mem, *rows = panels + pb * (KERNELS_CHUNK_ROWS / 8);
    for (int64_t p = 0; r0 + 8 * p < r1; p++) {
        const int64_t left = r1 - r0 - 8 * p;
        kquant_pack(type, j->w, r0 + 8 * p, left < 8 ? (int)left : 8, panels + p * pb, rows);
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

/* Float panels: p[k][i] = row i's weight k widened, 8 rows; one panel at a
 * time, packed with 8 x 8 transposes. */
static size_t float_panel_bytes(int64_t cols) {
    return (size_t)(cols + 8) * 32;
}

INLINE void float_pack(enum quant_type type, const kernels_matrix *w, int64_t r0, int n_rows,
                       float *panel) {
    const int size = type == QT_F32 ? 4 : 2;
    const int64_t cols = w->cols;
    int64_t k = 0;
    for (; k + 8 <= cols; k += 8) {
        __m256i r[8];
        UNROLL
        for (int i = 0; i < 8; i++) {
            const uint8_t *row = row_of(w, r0 + (i < n_rows ? i : 0)) + k * size;
            _mm_prefetch((const char *)row + PACK_PREFETCH, _MM_HINT_T0);
            r[i] = i < n_rows ? _mm256_castps_si256(widen8(type, row)) : _mm256_setzero_si256();
        }
        transpose_8x8(r);
        UNROLL
        for (int c = 0; c < 8; c++) _mm256_store_si256((__m256i *)(panel + (k + c) * 8), r[c]);
    }
    for (; k < cols; k++) /* the last few columns */
        for (int i = 0; i < 8; i++)
            panel[k * 8 + i] = i < n_rows ? widen1(type, row_of(w, r0 + i) + k * size) : 0.0f;
}

INLINE void float_tile(int NT, const uint8_t *p, int64_t cols, const kernels_job *j, int t0,
                       float *y, int n_rows) {
    const float *panel = (const float *)p;
    const float *x[TILE_TOKENS];
    __m256 acc[TILE_TOKENS];
    UNROLL
    for (int t = 0; t < NT; t++) {
        x[t] = (const float *)act_of(j, t0 + t);
        acc[t] = _mm256_setzero_ps();
    }
    for (int64_t k = 0; k < cols; k++) {
        const __m256 wk = _mm256_load_ps(panel + 8 * k);
        UNROLL
        for (int t = 0; t < NT; t++) acc[t] = _mm256_fmadd_ps(wk, _mm256_set1_ps(x[t][k]), acc[t]);
    }
    UNROLL
    for (int t = 0; t < NT; t++) {
        float *yt = y + (size_t)t * j->w->rows;
        if (n_rows == 8) {
            _mm256_storeu_ps(yt, acc[t]);
        } else {
            _Alignas(32) float tmp[8];
            _mm256_store_ps(tmp, acc[t]);
            memcpy(yt, tmp, (size_t)n_rows * sizeof *tmp);
        }
    }
}

TILES(float_tiles, float_tile, )

INLINE void float_gemm(enum quant_type type, const kernels_job *j, int64_t r0, int64_t r1,
                       void *mem) {
    for (int64_t p0 = r0; p0 < r1; p0 += 8) {
        const int n = r1 - p0 < 8 ? (int)(r1 - p0) : 8;
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

static void attend(const float *q, const float *k, const float *v, size_t stride, int n, int dim,
                   float scale, float *scores, float *out) {
    for (int j = 0; j < n; j++) {
        const float *kj = k + (size_t)j * stride;
        __m256 acc = _mm256_setzero_ps();
        int d = 0;
        for (; d + 8 <= dim; d += 8)
            acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(kj + d), acc);
        float dot = hsum256(acc);
        for (; d < dim; d++) dot += q[d] * kj[d];
        scores[j] = dot * scale;
    }
    const float inv = kernels_softmax(scores, n);
    int d0 = 0;
    for (; d0 + 64 <= dim; d0 += 64) { /* 64 floats of the output in registers */
        __m256 o[8];
        for (int i = 0; i < 8; i++) o[i] = _mm256_setzero_ps();
        for (int j = 0; j < n; j++) {
            const float *vj = v + (size_t)j * stride + d0;
            const __m256 p = _mm256_set1_ps(scores[j] * inv);
            for (int i = 0; i < 8; i++)
                o[i] = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + 8 * i), o[i]);
        }
        for (int i = 0; i < 8; i++) _mm256_storeu_ps(out + d0 + 8 * i, o[i]);
    }
    if (d0 < dim) {
        memset(out + d0, 0, (size_t)(dim - d0) * sizeof *out);
        for (int j = 0; j < n; j++) {
            const float *vj = v + (size_t)j * stride;
            const float p = scores[j] * inv;
            for (int d = d0; d < dim; d++) out[d] += p * vj[d];
        }
    }
}

/* ==== converting the activations ====
 * As in kernels_avx512.c: quant.c's operations lane by lane, bit-identical. */

/* roundf: to nearest, ties away from zero. v - trunc(v) is exact. */
static inline __m256 round_half_away(__m256 v) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t));
    const __m256 up = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    const __m256 one = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(v, sign));
    return _mm256_add_ps(t, _mm256_and_ps(up, one));
}

static inline float hmax256(__m256 v) {
    __m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_max_ps(x, _mm_movehl_ps(x, x));
    return _mm_cvtss_f32(_mm_max_ss(x, _mm_movehdup_ps(x)));
}

/* 16 int32 to 16 int8 in order, saturating (the quantizers' clamp). */
static inline __m128i narrow16(__m256i a, __m256i b) {
    const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xD8);
    return _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
}

static inline int sum_bytes(__m128i b) {
    return hsum256_epi32(_mm256_madd_epi16(_mm256_cvtepi8_epi16(b), _mm256_set1_epi16(1)));
}

static inline float round_half(float f) {
    return _cvtsh_ss(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
}

static void q8_block(const float *x, kernels_q8x4 *q, int k, int zero) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 v[4], m = _mm256_setzero_ps();
    for (int i = 0; i < 4; i++) {
        v[i] = _mm256_loadu_ps(x + 8 * i);
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[i]));
    }
    const float amax = hmax256(m);
    const float d = amax / 127, id = d ? 1.0f / d : 0.0f;
    __m256i c[4];
    for (int i = 0; i < 4; i++)
        c[i] = _mm256_cvttps_epi32(round_half_away(_mm256_mul_ps(v[i], _mm256_set1_ps(id))));
    const __m128i lo = narrow16(c[0], c[1]), hi = narrow16(c[2], c[3]);
    _mm_store_si128((__m128i *)(q->qs + 16 * k), lo);
    _mm_store_si128((__m128i *)(q->qs + 64 + 16 * k), hi);
    const int sum = sum_bytes(lo) + sum_bytes(hi);
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
            } else {
                memset(dst->qs + 16 * k, 0, 16);
                memset(dst->qs + 64 + 16 * k, 0, 16);
                dst->d[k] = dst->s[k] = 0.0f;
            }
        }
        memset(dst->pad, 0, sizeof dst->pad);
    }
}

static void convert_q8k(enum kernels_act act, enum quant_type wtype, const float *x, int64_t cols,
                        void *out) {
    (void)act;
    kernels_q8k *dst = out;
    const bool reorder = wtype == QT_Q4_K || wtype == QT_Q5_K;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < cols / QK_K; i++, x += QK_K, dst++) {
        __m256 vmax = _mm256_setzero_ps();
        for (int e = 0; e < QK_K; e += 8)
            vmax = _mm256_max_ps(vmax, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + e)));
        const float amax = hmax256(vmax);
        memset(dst, 0, sizeof *dst);
        if (!amax) continue;
        float max = 0;
        for (int e = 0; e < QK_K; e += 8) {
            const int hit = _mm256_movemask_ps(_mm256_cmp_ps(
                _mm256_andnot_ps(sign, _mm256_loadu_ps(x + e)), _mm256_set1_ps(amax), _CMP_EQ_OQ));
            if (hit) {
                max = x[e + __builtin_ctz((unsigned)hit)];
                break;
            }
        }
        const float iscale = -127.f / max;
        const __m256i top = _mm256_set1_epi32(127);
        for (int g = 0; g < 16; g++) {
            const __m256i a =
                _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16 * g),
                                                                  _mm256_set1_ps(iscale))),
                                 top);
            const __m256i b =
                _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16 * g + 8),
                                                                  _mm256_set1_ps(iscale))),
                                 top);
            const __m128i bytes = narrow16(a, b);
            _mm_storeu_si128((__m128i *)(dst->qs + (reorder ? kernels_q8k_k4_pos(16 * g) : 16 * g)),
                             bytes);
            dst->bsums[g] = (int16_t)sum_bytes(bytes);
        }
        for (int j = 0; j < 8; j++)
            dst->bsum32[j] = (int16_t)(dst->bsums[2 * j] + dst->bsums[2 * j + 1]);
        dst->d = 1 / iscale;
    }
}

static void convert_rounded(enum kernels_act act, enum quant_type wtype, const float *x,
                            int64_t cols, void *out) {
    (void)wtype;
    float *dst = out;
    int64_t i = 0;
    for (; i + 8 <= cols; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        __m256 r;
        if (act == ACT_F16R) {
            r = _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
        } else { /* bfloat16: round to nearest even on the top 16 bits; NaNs made quiet */
            const __m256i u = _mm256_castps_si256(v);
            const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
            const __m256i rounded =
                _mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), lsb);
            const __m256i quiet = _mm256_or_si256(u, _mm256_set1_epi32(0x400000));
            const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
            const __m256i h = _mm256_blendv_epi8(rounded, quiet, nan);
            r = _mm256_castsi256_ps(_mm256_andnot_si256(_mm256_set1_epi32(0xffff), h));
        }
        _mm256_storeu_ps(dst + i, r);
    }
    for (; i < cols; i++)
        dst[i] = act == ACT_F16R ? quant_f16_to_f32(quant_f32_to_f16(x[i]))
                                 : quant_bf16_to_f32(quant_f32_to_bf16(x[i]));
}

/* ==== the table ==== */

static const kernels_ops avx2_ops = {
    .name = "avx2",
    .types =
        {
            [QT_Q4_0] = {ACT_Q8X4, gemv_q4_0, gemm_q4_0, q32_chunk_bytes, gemv_q4_0_split},
            [QT_Q4_1] = {ACT_Q8X4, gemv_q4_1, gemm_q4_1, q32_chunk_bytes},
            [QT_Q5_0] = {ACT_Q8X4, gemv_q5_0, gemm_q5_0, q32_chunk_bytes},
            [QT_Q5_1] = {ACT_Q8X4, gemv_q5_1, gemm_q5_1, q32_chunk_bytes},
            [QT_Q8_0] = {ACT_Q8X4, gemv_q8_0, gemm_q8_0, q32_chunk_bytes, gemv_q8_0_split},
            [QT_Q4_K] = {ACT_Q8K, gemv_q4_k, gemm_q4_k, k_chunk_bytes},
            [QT_Q5_K] = {ACT_Q8K, gemv_q5_k, gemm_q5_k, k_chunk_bytes},
            [QT_Q6_K] = {ACT_Q8K, gemv_q6_k, gemm_q6_k, k_chunk_bytes},
            [QT_F32] = {ACT_F32, gemv_f32, gemm_f32, float_panel_bytes},
            [QT_F16] = {ACT_F16R, gemv_f16, gemm_f16, float_panel_bytes},
            [QT_BF16] = {ACT_BF16R, gemv_bf16, gemm_bf16, float_panel_bytes},
        },
    .attend = attend,
    .convert = {[ACT_Q8X4] = convert_q8x4,
                [ACT_Q8K] = convert_q8k,
                [ACT_F16R] = convert_rounded,
                [ACT_BF16R] = convert_rounded},
};

const kernels_ops *kernels_avx2_ops(void) {
    return &avx2_ops;
}

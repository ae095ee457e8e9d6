/* quant: the type table, half and bfloat16 conversions, the float row types and
 * the 32-weight block formats (Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q8_1). K-quants live in
 * quant_k.c.
 *
 * Every routine reproduces ggml's scalar code operation for operation, so our
 * floats are bit-identical to llama.cpp's. That is why some expressions below
 * are written in an order that looks arbitrary: float arithmetic is not
 * associative, and the order is part of the format's definition. */
#include "quant_impl.h"

#include <float.h>
#include <math.h>
#include <strings.h>

/* A fused multiply-add would change results: keep every product rounded.
 * clang obeys this pragma; gcc does not contract in ISO mode (-std=c11). */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* ---- half and bfloat16 ---- */

static inline uint32_t float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float bits_float(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Branch-free, so that its cost does not depend on the data. */
float quant_f16_to_f32(quant_f16 h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t em = h & 0x7fff;                  /* exponent and mantissa */
    uint32_t bits = (em << 13) + (112u << 23); /* a normal: re-bias the exponent 15 -> 127 */
    if (em >= 0x7c00) bits += 112u << 23;      /* inf and NaN: exponent 255 */
    if (em > 0x7c00) bits |= 0x400000;         /* NaN made quiet, as x86's vcvtph2ps does */
    if (em < 0x400) bits = float_bits((float)em * 0x1p-24f); /* zero or subnormal: exact */
    return bits_float(sign | bits);
}

/* Drops the low `shift` bits of v, rounding to nearest, ties to even. */
static inline uint32_t shift_round_even(uint32_t v, int shift) {
    uint32_t q = v >> shift;
    uint32_t rem = v & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    return q + (rem > half || (rem == half && (q & 1)));
}

quant_f16 quant_f32_to_f16(float f) {
    uint32_t x = float_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    x &= 0x7fffffff;
    if (x > 0x7f800000) /* NaN: quiet, payload truncated (as F16C's vcvtps2ph) */
        return sign | 0x7e00 | ((x >> 13) & 0x3ff);
    if (x >= 0x47800000) return sign | 0x7c00; /* 65536 and up: inf */
    if (x >= 0x38800000) {                     /* a normal half, or rounds up to inf */
        return sign | (uint16_t)shift_round_even(x - (112u << 23), 13);
    }
    /* Subnormal half: count units of 2^-24. A carry into 0x400 gives the
     * smallest normal, which is also the right encoding. */
    int exp = (int)(x >> 23);
    if (exp < 102) return sign; /* below 2^-25: rounds to zero */
    uint32_t mant = (x & 0x7fffff) | 0x800000;
    return sign | (uint16_t)shift_round_even(mant, 126 - exp);
}

float quant_bf16_to_f32(quant_bf16 h) {
    return bits_float((uint32_t)h << 16);
}

quant_bf16 quant_f32_to_bf16(float f) {
    uint32_t x = float_bits(f);
    if ((x & 0x7fffffff) > 0x7f800000) return (quant_bf16)((x >> 16) | 0x40); /* quiet NaN */
    return (quant_bf16)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

/* ---- float rows: F32, F16, BF16 ---- */

static void dequantize_f32(const void *src, float *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void dequantize_f16(const void *src, float *dst, int64_t n) {
    const quant_f16 *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = quant_f16_to_f32(h[i]);
}

static void dequantize_bf16(const void *src, float *dst, int64_t n) {
    const quant_bf16 *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = quant_bf16_to_f32(h[i]);
}

static void quantize_f32(const float *src, void *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void quantize_f16(const float *src, void *dst, int64_t n) {
    quant_f16 *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = quant_f32_to_f16(src[i]);
}

static void quantize_bf16(const float *src, void *dst, int64_t n) {
    quant_bf16 *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = quant_f32_to_bf16(src[i]);
}

/* The three float dot products round each product to float and add it to a
 * double (ggml_float), in index order; the double is rounded to float at the
 * end. Products of halves and of bfloat16s are exact in float. */
static float dot_f32(const void *w, const void *act, int64_t n) {
    const float *x = w, *y = act;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * y[i]);
    return (float)sum;
}

static float dot_f16(const void *w, const void *act, int64_t n) {
    const quant_f16 *x = w, *y = act;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(fp16(x[i]) * fp16(y[i]));
    return (float)sum;
}

static float dot_bf16(const void *w, const void *act, int64_t n) {
    const quant_bf16 *x = w, *y = act;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(quant_bf16_to_f32(x[i]) * quant_bf16_to_f32(y[i]));
    return (float)sum;
}

/* ---- the 32-weight blocks ---- */

/* Truncates toward zero like a C cast, clamped to [lo, hi]. ggml casts to
 * int8_t and then clamps from above; finite weights never go below lo, and the
 * clamp keeps NaN or inf input from being undefined behaviour. */
static inline int trunc_to_int(float v, int lo, int hi) {
    if (!(v >= (float)lo)) return lo;
    if (v >= (float)hi + 1.0f) return hi;
    return (int)v;
}

/* The fifth bits of Q5 blocks: bit j of qh is weight j's. */
static inline uint32_t load_qh(const uint8_t qh[4]) {
    uint32_t bits;
    memcpy(&bits, qh, sizeof bits);
    return bits;
}

static inline void store_qh(uint8_t qh[4], uint32_t bits) {
    memcpy(qh, &bits, sizeof bits);
}

/* The 4-bit code of weight j: the low nibble of qs[j] for j < 16,
 * the high nibble of qs[j - 16] otherwise. */
static inline int nibble_code(const uint8_t *qs, int j) {
    return j < 16 ? qs[j] & 0x0f : qs[j - 16] >> 4;
}

static inline int fifth_bit(uint32_t qh, int j) {
    return (int)((qh >> j) & 1) << 4;
}

static void dequantize_q4_0(const void *src, float *dst, int64_t nb) {
    const block_q4_0 *b = src;
    for (int64_t i = 0; i < nb; i++, b++, dst += 32) {
        const float d = fp16(b->d);
        for (int j = 0; j < 32; j++) dst[j] = (nibble_code(b->qs, j) - 8) * d;
    }
}

static void dequantize_q4_1(const void *src, float *dst, int64_t nb) {
    const block_q4_1 *b = src;
    for (int64_t i = 0; i < nb; i++, b++, dst += 32) {
        const float d = fp16(b->d), m = fp16(b->m);
        for (int j = 0; j < 32; j++) dst[j] = nibble_code(b->qs, j) * d + m;
    }
}

static void dequantize_q5_0(const void *src, float *dst, int64_t nb) {
    const block_q5_0 *b = src;
    for (int64_t i = 0; i < nb; i++, b++, dst += 32) {
        const float d = fp16(b->d);
        const uint32_t qh = load_qh(b->qh);
        for (int j = 0; j < 32; j++) dst[j] = ((nibble_code(b->qs, j) | fifth_bit(qh, j)) - 16) * d;
    }
}

static void dequantize_q5_1(const void *src, float *dst, int64_t nb) {
    const block_q5_1 *b = src;
    for (int64_t i = 0; i < nb; i++, b++, dst += 32) {
        const float d = fp16(b->d), m = fp16(b->m);
        const uint32_t qh = load_qh(b->qh);
        for (int j = 0; j < 32; j++) dst[j] = (nibble_code(b->qs, j) | fifth_bit(qh, j)) * d + m;
    }
}

static void dequantize_q8_0(const void *src, float *dst, int64_t nb) {
    const block_q8_0 *b = src;
    for (int64_t i = 0; i < nb; i++, b++, dst += 32) {
        const float d = fp16(b->d);
        for (int j = 0; j < 32; j++) dst[j] = b->qs[j] * d;
    }
}

/* ggml has no dequantizer for Q8_1 (it is only ever an activation); this is
 * the obvious one. */
static void dequantize_q8_1(const void *src, float *dst, int64_t nb) {
    const block_q8_1 *b = src;
    for (int64_t i = 0; i < nb; i++, b++, dst += 32) {
        const float d = fp16(b->d);
        for (int j = 0; j < 32; j++) dst[j] = b->qs[j] * d;
    }
}

/* The value of largest magnitude, keeping its sign; the first one on ties. */
static float signed_absmax(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    return max;
}

static void min_max(const float *x, int n, float *min, float *max) {
    *min = FLT_MAX;
    *max = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < *min) *min = x[j];
        if (x[j] > *max) *max = x[j];
    }
}

/* Symmetric 4-bit: the value of largest magnitude maps to code 0 (-8 * d), so
 * d takes its sign and the opposite end keeps all of +7. */
static void quantize_q4_0(const float *x, void *dst, int64_t nb) {
    block_q4_0 *b = dst;
    for (int64_t i = 0; i < nb; i++, b++, x += 32) {
        const float d = signed_absmax(x, 32) / -8;
        const float id = d ? 1.0f / d : 0.0f;
        b->d = quant_f32_to_f16(d);
        for (int j = 0; j < 16; j++) {
            int lo = trunc_to_int(x[j] * id + 8.5f, 0, 15);
            int hi = trunc_to_int(x[j + 16] * id + 8.5f, 0, 15);
            b->qs[j] = (uint8_t)(lo | hi << 4);
        }
    }
}

/* Affine 4-bit: 16 steps from min to max. */
static void quantize_q4_1(const float *x, void *dst, int64_t nb) {
    block_q4_1 *b = dst;
    for (int64_t i = 0; i < nb; i++, b++, x += 32) {
        float min, max;
        min_max(x, 32, &min, &max);
        const float d = (max - min) / 15;
        const float id = d ? 1.0f / d : 0.0f;
        b->d = quant_f32_to_f16(d);
        b->m = quant_f32_to_f16(min);
        for (int j = 0; j < 16; j++) {
            int lo = trunc_to_int((x[j] - min) * id + 0.5f, 0, 15);
            int hi = trunc_to_int((x[j + 16] - min) * id + 0.5f, 0, 15);
            b->qs[j] = (uint8_t)(lo | hi << 4);
        }
    }
}

/* Symmetric 5-bit, as Q4_0 with codes 0..31 around 16. */
static void quantize_q5_0(const float *x, void *dst, int64_t nb) {
    block_q5_0 *b = dst;
    for (int64_t i = 0; i < nb; i++, b++, x += 32) {
        const float d = signed_absmax(x, 32) / -16;
        const float id = d ? 1.0f / d : 0.0f;
        b->d = quant_f32_to_f16(d);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int lo = trunc_to_int(x[j] * id + 16.5f, 0, 31);
            int hi = trunc_to_int(x[j + 16] * id + 16.5f, 0, 31);
            b->qs[j] = (uint8_t)((lo & 0x0f) | (hi & 0x0f) << 4);
            qh |= (uint32_t)(lo >> 4 & 1) << j | (uint32_t)(hi >> 4 & 1) << (j + 16);
        }
        store_qh(b->qh, qh);
    }
}

/* Affine 5-bit. ggml does not clamp these codes to 31 (rounding never gets
 * there from finite input), and neither do we. */
static void quantize_q5_1(const float *x, void *dst, int64_t nb) {
    block_q5_1 *b = dst;
    for (int64_t i = 0; i < nb; i++, b++, x += 32) {
        float min, max;
        min_max(x, 32, &min, &max);
        const float d = (max - min) / 31;
        const float id = d ? 1.0f / d : 0.0f;
        b->d = quant_f32_to_f16(d);
        b->m = quant_f32_to_f16(min);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int lo = trunc_to_int((x[j] - min) * id + 0.5f, 0, 255);
            int hi = trunc_to_int((x[j + 16] - min) * id + 0.5f, 0, 255);
            b->qs[j] = (uint8_t)((lo & 0x0f) | (hi & 0x0f) << 4);
            qh |= (uint32_t)(lo >> 4 & 1) << j | (uint32_t)(hi >> 4 & 1) << (j + 16);
        }
        store_qh(b->qh, qh);
    }
}

/* The absolute maximum maps to 127; codes are rounded half away from zero. */
static float q8_scale(const float *x, float *id) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]);
    const float d = amax / 127;
    *id = d ? 1.0f / d : 0.0f;
    return d;
}

static inline int8_t q8_code(float v) {
    return (int8_t)trunc_to_int(roundf(v), -128, 127);
}

static void quantize_q8_0(const float *x, void *dst, int64_t nb) {
    block_q8_0 *b = dst;
    for (int64_t i = 0; i < nb; i++, b++, x += 32) {
        float id;
        b->d = quant_f32_to_f16(q8_scale(x, &id));
        for (int j = 0; j < 32; j++) b->qs[j] = q8_code(x[j] * id);
    }
}

/* Q8_0 plus s = d * (sum of the codes), which Q4_1 / Q5_1 dot products need
 * for their offset term. */
static void quantize_q8_1(const float *x, void *dst, int64_t nb) {
    block_q8_1 *b = dst;
    for (int64_t i = 0; i < nb; i++, b++, x += 32) {
        float id;
        const float d = q8_scale(x, &id);
        b->d = quant_f32_to_f16(d);
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            b->qs[j] = q8_code(x[j] * id);
            sum += b->qs[j];
        }
        b->s = quant_f32_to_f16(sum * d);
    }
}

/* Dot products with 8-bit activations. Each block's integer products are
 * summed exactly in an int; that sum is scaled by the two block scales and
 * added to a float accumulator, block by block. The grouping of the scaling
 * differs per type and is ggml's. */

/* Q4_0 · Q8_0: sum += (isum * dw) * da. */
static float dot_q4_0(const void *w, const void *act, int64_t nb) {
    const block_q4_0 *x = w;
    const block_q8_0 *y = act;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int isum = 0;
        for (int j = 0; j < 32; j++) isum += (nibble_code(x[i].qs, j) - 8) * y[i].qs[j];
        sum += isum * fp16(x[i].d) * fp16(y[i].d);
    }
    return sum;
}

/* Q4_1 · Q8_1: sum += (dw * da) * isum + mw * sa, where sa = da * sum(codes). */
static float dot_q4_1(const void *w, const void *act, int64_t nb) {
    const block_q4_1 *x = w;
    const block_q8_1 *y = act;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int isum = 0;
        for (int j = 0; j < 32; j++) isum += nibble_code(x[i].qs, j) * y[i].qs[j];
        sum += (fp16(x[i].d) * fp16(y[i].d)) * isum + fp16(x[i].m) * fp16(y[i].s);
    }
    return sum;
}

/* Q5_0 · Q8_0: sum += (dw * da) * isum. */
static float dot_q5_0(const void *w, const void *act, int64_t nb) {
    const block_q5_0 *x = w;
    const block_q8_0 *y = act;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const uint32_t qh = load_qh(x[i].qh);
        int isum = 0;
        for (int j = 0; j < 32; j++)
            isum += ((nibble_code(x[i].qs, j) | fifth_bit(qh, j)) - 16) * y[i].qs[j];
        sum += (fp16(x[i].d) * fp16(y[i].d)) * isum;
    }
    return sum;
}

/* Q5_1 · Q8_1: as Q4_1. */
static float dot_q5_1(const void *w, const void *act, int64_t nb) {
    const block_q5_1 *x = w;
    const block_q8_1 *y = act;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const uint32_t qh = load_qh(x[i].qh);
        int isum = 0;
        for (int j = 0; j < 32; j++)
            isum += (nibble_code(x[i].qs, j) | fifth_bit(qh, j)) * y[i].qs[j];
        sum += (fp16(x[i].d) * fp16(y[i].d)) * isum + fp16(x[i].m) * fp16(y[i].s);
    }
    return sum;
}

/* Q8_0 · Q8_0: sum += isum * (dw * da). */
static float dot_q8_0(const void *w, const void *act, int64_t nb) {
    const block_q8_0 *x = w;
    const block_q8_0 *y = act;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int isum = 0;
        for (int j = 0; j < 32; j++) isum += x[i].qs[j] * y[i].qs[j];
        sum += isum * (fp16(x[i].d) * fp16(y[i].d));
    }
    return sum;
}

/* ---- the type table ---- */

typedef void (*dequantize_fn)(const void *src, float *dst, int64_t nb);
typedef void (*quantize_fn)(const float *src, void *dst, int64_t nb);
typedef float (*dot_fn)(const void *w, const void *act, int64_t nb);

typedef struct type_entry {
    quant_type_info info; /* name NULL: not a type we know */
    dequantize_fn dequantize;
    quantize_fn quantize;
    dot_fn dot; /* NULL for the activation-only types Q8_1 and Q8_K */
} type_entry;

/* Every type we know can be read and written. */
#define ENTRY(id, nm, blck, size, act, deq, q, d)                                                  \
    [id] = {{nm, blck, size, true, true, act}, deq, q, d}

static const type_entry types[QT_COUNT] = {
    ENTRY(QT_F32, "F32", 1, 4, QT_F32, dequantize_f32, quantize_f32, dot_f32),
    ENTRY(QT_F16, "F16", 1, 2, QT_F16, dequantize_f16, quantize_f16, dot_f16),
    ENTRY(QT_BF16, "BF16", 1, 2, QT_BF16, dequantize_bf16, quantize_bf16, dot_bf16),
    ENTRY(QT_Q4_0, "Q4_0", QK4_0, sizeof(block_q4_0), QT_Q8_0, dequantize_q4_0, quantize_q4_0,
          dot_q4_0),
    ENTRY(QT_Q4_1, "Q4_1", QK4_1, sizeof(block_q4_1), QT_Q8_1, dequantize_q4_1, quantize_q4_1,
          dot_q4_1),
    ENTRY(QT_Q5_0, "Q5_0", QK5_0, sizeof(block_q5_0), QT_Q8_0, dequantize_q5_0, quantize_q5_0,
          dot_q5_0),
    ENTRY(QT_Q5_1, "Q5_1", QK5_1, sizeof(block_q5_1), QT_Q8_1, dequantize_q5_1, quantize_q5_1,
          dot_q5_1),
    ENTRY(QT_Q8_0, "Q8_0", QK8_0, sizeof(block_q8_0), QT_Q8_0, dequantize_q8_0, quantize_q8_0,
          dot_q8_0),
    ENTRY(QT_Q8_1, "Q8_1", QK8_1, sizeof(block_q8_1), QT_Q8_1, dequantize_q8_1, quantize_q8_1,
          NULL),
    ENTRY(QT_Q2_K, "Q2_K", QK_K, sizeof(block_q2_K), QT_Q8_K, quant_dequantize_q2_K,
          quant_quantize_q2_K, quant_dot_q2_K),
    ENTRY(QT_Q3_K, "Q3_K", QK_K, sizeof(block_q3_K), QT_Q8_K, quant_dequantize_q3_K,
          quant_quantize_q3_K, quant_dot_q3_K),
    ENTRY(QT_Q4_K, "Q4_K", QK_K, sizeof(block_q4_K), QT_Q8_K, quant_dequantize_q4_K,
          quant_quantize_q4_K, quant_dot_q4_K),
    ENTRY(QT_Q5_K, "Q5_K", QK_K, sizeof(block_q5_K), QT_Q8_K, quant_dequantize_q5_K,
          quant_quantize_q5_K, quant_dot_q5_K),
    ENTRY(QT_Q6_K, "Q6_K", QK_K, sizeof(block_q6_K), QT_Q8_K, quant_dequantize_q6_K,
          quant_quantize_q6_K, quant_dot_q6_K),
    ENTRY(QT_Q8_K, "Q8_K", QK_K, sizeof(block_q8_K), QT_Q8_K, quant_dequantize_q8_K,
          quant_quantize_q8_K, NULL),
};

static const type_entry *entry(uint32_t type) {
    if (type >= QT_COUNT || !types[type].info.name) return NULL;
    return &types[type];
}

const quant_type_info *quant_info(uint32_t type) {
    const type_entry *e = entry(type);
    return e ? &e->info : NULL;
}

int quant_type_from_name(const char *name) {
    for (int t = 0; name && t < QT_COUNT; t++)
        if (types[t].info.name && strcasecmp(types[t].info.name, name) == 0) return t;
    return -1;
}

size_t quant_row_size(enum quant_type type, int64_t n) {
    const type_entry *e = entry(type);
    if (!e || n < 0 || n % e->info.block_size != 0) return 0;
    return (size_t)(n / e->info.block_size) * e->info.type_size;
}

/* The number of blocks in a row of n values, or -1 when n does not fit. */
static int64_t block_count(const type_entry *e, int64_t n) {
    if (!e || n < 0 || n % e->info.block_size != 0) return -1;
    return n / e->info.block_size;
}

void quant_dequantize_row(enum quant_type type, const void *src, float *dst, int64_t n) {
    const type_entry *e = entry(type);
    int64_t nb = block_count(e, n);
    if (nb > 0) e->dequantize(src, dst, nb);
}

bool quant_quantize_row(enum quant_type type, const float *src, void *dst, int64_t n) {
    const type_entry *e = entry(type);
    int64_t nb = block_count(e, n);
    if (nb < 0 || !e->quantize) return false;
    if (nb > 0) e->quantize(src, dst, nb);
    return true;
}

float quant_vec_dot_ref(enum quant_type type, const void *w, const void *act, int64_t n) {
    const type_entry *e = entry(type);
    int64_t nb = block_count(e, n);
    if (nb < 0 || !e->dot) return NAN;
    return nb > 0 ? e->dot(w, act, nb) : 0.0f;
}

/* Internals shared by quant.c (float and 32-weight block types) and quant_k.c
 * (256-weight K-quant super-blocks). Not part of the public interface. */
#ifndef LMTERM_QUANT_IMPL_H
#define LMTERM_QUANT_IMPL_H

#include "quant.h"

#include <string.h>

/* Round to nearest, ties to even, for |v| <= 2^22: adding 1.5 * 2^23 leaves the
 * rounded integer in the low mantissa bits. ggml's K-quant code rounds this way,
 * so we must too (lrintf would agree only under the default rounding mode). */
static inline int quant_nearest_int(float v) {
    float biased = v + 12582912.f;
    int32_t bits;
    memcpy(&bits, &biased, sizeof bits);
    return (bits & 0x007fffff) - 0x00400000;
}

static inline float fp16(quant_f16 h) {
    return quant_f16_to_f32(h);
}

/* The K-quant routines work on whole blocks: nb is the number of blocks. */
void quant_dequantize_q2_K(const void *src, float *dst, int64_t nb);
void quant_dequantize_q3_K(const void *src, float *dst, int64_t nb);
void quant_dequantize_q4_K(const void *src, float *dst, int64_t nb);
void quant_dequantize_q5_K(const void *src, float *dst, int64_t nb);
void quant_dequantize_q6_K(const void *src, float *dst, int64_t nb);
void quant_dequantize_q8_K(const void *src, float *dst, int64_t nb);

void quant_quantize_q2_K(const float *src, void *dst, int64_t nb);
void quant_quantize_q3_K(const float *src, void *dst, int64_t nb);
void quant_quantize_q4_K(const float *src, void *dst, int64_t nb);
void quant_quantize_q5_K(const float *src, void *dst, int64_t nb);
void quant_quantize_q6_K(const float *src, void *dst, int64_t nb);
void quant_quantize_q8_K(const float *src, void *dst, int64_t nb);

float quant_dot_q2_K(const void *w, const void *act, int64_t nb);
float quant_dot_q3_K(const void *w, const void *act, int64_t nb);
float quant_dot_q4_K(const void *w, const void *act, int64_t nb);
float quant_dot_q5_K(const void *w, const void *act, int64_t nb);
float quant_dot_q6_K(const void *w, const void *act, int64_t nb);

#endif

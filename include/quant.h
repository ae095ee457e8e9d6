/* quant: the ggml block formats, bit-compatible with GGUF. Dequantize, quantize
 * and scalar reference dot products. No I/O, no threads. */
#ifndef LMTERM_QUANT_H
#define LMTERM_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ggml type ids as stored in GGUF tensor infos. */
enum quant_type {
    QT_F32 = 0,
    QT_F16 = 1,
    QT_Q4_0 = 2,
    QT_Q4_1 = 3,
    QT_Q5_0 = 6,
    QT_Q5_1 = 7,
    QT_Q8_0 = 8,
    QT_Q8_1 = 9,
    QT_Q2_K = 10,
    QT_Q3_K = 11,
    QT_Q4_K = 12,
    QT_Q5_K = 13,
    QT_Q6_K = 14,
    QT_Q8_K = 15,
    QT_BF16 = 30,
    QT_COUNT = 40
};

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK_K 256
#define K_SCALE_SIZE 12

typedef uint16_t quant_f16;  /* IEEE half, bit pattern */
typedef uint16_t quant_bf16; /* bfloat16, bit pattern */

/* Block layouts, exactly as in GGUF files. */
typedef struct {
    quant_f16 d;
    uint8_t qs[QK4_0 / 2];
} block_q4_0;
typedef struct {
    quant_f16 d, m;
    uint8_t qs[QK4_1 / 2];
} block_q4_1;
typedef struct {
    quant_f16 d;
    uint8_t qh[4];
    uint8_t qs[QK5_0 / 2];
} block_q5_0;
typedef struct {
    quant_f16 d, m;
    uint8_t qh[4];
    uint8_t qs[QK5_1 / 2];
} block_q5_1;
typedef struct {
    quant_f16 d;
    int8_t qs[QK8_0];
} block_q8_0;
typedef struct {
    quant_f16 d, s;
    int8_t qs[QK8_1];
} block_q8_1; /* s = d * sum(qs) */
typedef struct {
    uint8_t scales[QK_K / 16];
    uint8_t qs[QK_K / 4];
    quant_f16 d, dmin;
} block_q2_K;
typedef struct {
    uint8_t hmask[QK_K / 8];
    uint8_t qs[QK_K / 4];
    uint8_t scales[12];
    quant_f16 d;
} block_q3_K;
typedef struct {
    quant_f16 d, dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qs[QK_K / 2];
} block_q4_K;
typedef struct {
    quant_f16 d, dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_K;
typedef struct {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    quant_f16 d;
} block_q6_K;
typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
} block_q8_K;

typedef struct quant_type_info {
    const char *name;             /* "Q4_0", as llama.cpp prints it */
    uint32_t block_size;          /* weights per block (1 for float types) */
    uint32_t type_size;           /* bytes per block */
    bool can_dequantize;          /* we can read it */
    bool can_quantize;            /* we can write it from F32 */
    enum quant_type vec_dot_type; /* the activation format its dot product takes */
} quant_type_info;

/* NULL for an id we do not know. */
const quant_type_info *quant_info(uint32_t type);
/* By name, case-insensitive ("q4_0", "F16"); -1 when unknown. */
int quant_type_from_name(const char *name);
/* Bytes of a row of n weights; 0 if n is not a multiple of the block size. */
size_t quant_row_size(enum quant_type type, int64_t n);

/* Half and bfloat16 conversions, round to nearest even (bit-exact with ggml). */
float quant_f16_to_f32(quant_f16 h);
quant_f16 quant_f32_to_f16(float f);
float quant_bf16_to_f32(quant_bf16 h);
quant_bf16 quant_f32_to_bf16(float f);

/* Dequantize n values (a multiple of the block size) of src into dst. */
void quant_dequantize_row(enum quant_type type, const void *src, float *dst, int64_t n);
/* Quantize n floats into dst (quant_row_size(type, n) bytes); false when the
 * type cannot be written. Types: F32 F16 BF16 Q8_0 Q8_1 Q8_K Q4_0 Q4_1 Q5_0 Q5_1
 * (and Q4_K Q6_K when implemented: see quant_info()->can_quantize). */
bool quant_quantize_row(enum quant_type type, const float *src, void *dst, int64_t n);

/* Scalar reference dot product of a weight row (type) with an activation row
 * already converted to quant_info(type)->vec_dot_type. n values. These define
 * the arithmetic the SIMD kernels must reproduce. */
float quant_vec_dot_ref(enum quant_type type, const void *w, const void *act, int64_t n);

#endif

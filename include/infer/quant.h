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

/* The layouts above must be the bytes GGUF files hold. */
_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0");
_Static_assert(sizeof(block_q4_1) == 20, "block_q4_1");
_Static_assert(sizeof(block_q5_0) == 22, "block_q5_0");
_Static_assert(sizeof(block_q5_1) == 24, "block_q5_1");
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0");
_Static_assert(sizeof(block_q8_1) == 36, "block_q8_1");
_Static_assert(sizeof(block_q2_K) == 84, "block_q2_K");
_Static_assert(sizeof(block_q3_K) == 110, "block_q3_K");
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K");
_Static_assert(sizeof(block_q5_K) == 176, "block_q5_K");
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K");
_Static_assert(sizeof(block_q8_K) == 292, "block_q8_K");

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

/* Half and bfloat16 conversions, round to nearest even, bit-exact with ggml
 * (for f16 with its F16C path, which x86 builds use: NaN stays NaN, made
 * quiet, payload truncated; ggml's portable fallback would give 0x7e00). */
float quant_f16_to_f32(quant_f16 h);
quant_f16 quant_f32_to_f16(float f);
float quant_bf16_to_f32(quant_bf16 h);
quant_bf16 quant_f32_to_bf16(float f);

/* Dequantize n values (a multiple of the block size) of src into dst, bit-exact
 * with ggml's dequantize_row_* (to_float). Does nothing for a bad n or type. */
void quant_dequantize_row(enum quant_type type, const void *src, float *dst, int64_t n);
/* Quantize n floats into dst (quant_row_size(type, n) bytes); false for a bad n
 * or type. Every type above can be written, byte-for-byte as ggml's reference
 * quantizers (quantize_row_*_ref, what llama-quantize uses without an
 * importance matrix; Q8_0 / Q8_1 / Q8_K are also how activations are
 * quantized). One deviation: an all-zero Q8_K block gets zero bsums, where
 * ggml leaves them unset. */
bool quant_quantize_row(enum quant_type type, const float *src, void *dst, int64_t n);

/* Scalar reference dot product of a weight row (type) with an activation row
 * already converted to quant_info(type)->vec_dot_type. n values. Reproduces
 * ggml's generic (non-SIMD) vec_dot bit for bit; these define the arithmetic
 * the SIMD kernels must reproduce:
 *   F32, F16, BF16: each product rounded to float, summed in a double, in order.
 *   32-weight blocks: exact int sum per block, scaled by both block scales and
 *     added to a float (grouping per type: see quant.c).
 *   K-quants: exact int sums, scaled per block; Q3_K..Q6_K keep 8 float lanes
 *     (by weight index mod 8) as ggml does (see quant_k.c).
 * NaN for Q8_1 and Q8_K, which are activation formats only, or a bad n. */
float quant_vec_dot_ref(enum quant_type type, const void *w, const void *act, int64_t n);

#endif

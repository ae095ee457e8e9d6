/* Tests of the quant module: the type table, half / bfloat16 rounding, known
 * blocks decoded by hand, quantize round trips, reference dot products, and
 * byte-for-byte agreement with llama-quantize on the conformance models. */
#include "gguf.h"
#include "quant.h"
#include "test.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#endif

/* ---- helpers ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static void rng_seed(uint64_t seed) {
    rng_state = seed ? seed : 1;
}

static uint64_t xorshift(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Uniform in [0, 1). */
static float uniform(void) {
    return (float)(xorshift() >> 40) / 16777216.0f;
}

static float gaussian(void) {
    float u = uniform() + 1e-7f, v = uniform();
    return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

static float bits_to_float(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t float_to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* ---- the type table ---- */

TEST(quant_table_describes_every_type) {
    static const struct {
        const char *name;
        enum quant_type type;
        uint32_t block_size, type_size;
        enum quant_type vec_dot_type;
    } want[] = {
        {"F32", QT_F32, 1, 4, QT_F32},        {"F16", QT_F16, 1, 2, QT_F16},
        {"BF16", QT_BF16, 1, 2, QT_BF16},     {"Q4_0", QT_Q4_0, 32, 18, QT_Q8_0},
        {"Q4_1", QT_Q4_1, 32, 20, QT_Q8_1},   {"Q5_0", QT_Q5_0, 32, 22, QT_Q8_0},
        {"Q5_1", QT_Q5_1, 32, 24, QT_Q8_1},   {"Q8_0", QT_Q8_0, 32, 34, QT_Q8_0},
        {"Q8_1", QT_Q8_1, 32, 36, QT_Q8_1},   {"Q2_K", QT_Q2_K, 256, 84, QT_Q8_K},
        {"Q3_K", QT_Q3_K, 256, 110, QT_Q8_K}, {"Q4_K", QT_Q4_K, 256, 144, QT_Q8_K},
        {"Q5_K", QT_Q5_K, 256, 176, QT_Q8_K}, {"Q6_K", QT_Q6_K, 256, 210, QT_Q8_K},
        {"Q8_K", QT_Q8_K, 256, 292, QT_Q8_K},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const quant_type_info *qi = quant_info(want[i].type);
        CHECK_MSG(qi != NULL, "no info for %s", want[i].name);
        if (!qi) continue;
        CHECK_EQ_STR(qi->name, want[i].name);
        CHECK_EQ_INT(qi->block_size, want[i].block_size);
        CHECK_EQ_INT(qi->type_size, want[i].type_size);
        CHECK_EQ_INT(qi->vec_dot_type, want[i].vec_dot_type);
        CHECK(qi->can_dequantize);
        CHECK(qi->can_quantize);
        CHECK_EQ_INT(quant_type_from_name(want[i].name), want[i].type);
    }
    CHECK_EQ_INT(quant_type_from_name("q4_k"), QT_Q4_K);
    CHECK_EQ_INT(quant_type_from_name("bf16"), QT_BF16);
    CHECK_EQ_INT(quant_type_from_name("Q4_2"), -1);
    CHECK_EQ_INT(quant_type_from_name("Q4_K_M"), -1);
    CHECK_EQ_INT(quant_type_from_name(""), -1);
    CHECK(quant_info(4) == NULL); /* the retired Q4_2 */
    CHECK(quant_info(QT_COUNT) == NULL);
    CHECK(quant_info(0xFFFFFFFFu) == NULL);
}

TEST(quant_row_size_counts_whole_blocks) {
    CHECK_EQ_INT(quant_row_size(QT_F32, 3), 12);
    CHECK_EQ_INT(quant_row_size(QT_F16, 7), 14);
    CHECK_EQ_INT(quant_row_size(QT_Q4_0, 64), 36);
    CHECK_EQ_INT(quant_row_size(QT_Q4_0, 33), 0);
    CHECK_EQ_INT(quant_row_size(QT_Q8_0, 4096), 128 * 34);
    CHECK_EQ_INT(quant_row_size(QT_Q4_K, 4096), 16 * 144);
    CHECK_EQ_INT(quant_row_size(QT_Q6_K, 128), 0);
    CHECK_EQ_INT(quant_row_size(QT_Q4_0, -32), 0);
    CHECK_EQ_INT(quant_row_size((enum quant_type)5, 32), 0);
    float src[32] = {0};
    uint8_t dst[64];
    CHECK(!quant_quantize_row(QT_Q4_0, src, dst, 31));
    CHECK(isnan(quant_vec_dot_ref(QT_Q8_K, dst, dst, 0)));
}

/* ---- half precision ---- */

TEST(quant_f16_round_trips_every_pattern) {
    int failures = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = quant_f16_to_f32((quant_f16)h);
        bool nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        if (nan) {
            /* NaN stays NaN with its sign, and comes back quiet. */
            quant_f16 back = quant_f32_to_f16(f);
            if (!isnan(f) || (back & 0x8000) != (h & 0x8000) || (back & 0x7e00) != 0x7e00)
                failures++;
        } else if (quant_f32_to_f16(f) != h) {
            failures++;
        }
    }
    CHECK_EQ_INT(failures, 0);
}

TEST(quant_f16_decodes_known_values) {
    CHECK(quant_f16_to_f32(0x3c00) == 1.0f);
    CHECK(quant_f16_to_f32(0xc000) == -2.0f);
    CHECK(quant_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(quant_f16_to_f32(0x0400) == ldexpf(1.0f, -14)); /* smallest normal */
    CHECK(quant_f16_to_f32(0x0001) == ldexpf(1.0f, -24)); /* smallest subnormal */
    CHECK(quant_f16_to_f32(0x03ff) == ldexpf(1023.0f, -24));
    CHECK(quant_f16_to_f32(0x8001) == -ldexpf(1.0f, -24));
    CHECK(float_to_bits(quant_f16_to_f32(0x8000)) == 0x80000000u);
    CHECK(quant_f16_to_f32(0x7c00) == INFINITY);
    CHECK(quant_f16_to_f32(0xfc00) == -INFINITY);
    CHECK(isnan(quant_f16_to_f32(0x7e00)));
    CHECK(isnan(quant_f16_to_f32(0x7c01)));
}

TEST(quant_f16_rounds_to_nearest_even) {
    static const struct {
        float f;
        quant_f16 h;
    } cases[] = {
        {1.0f, 0x3c00},
        {0.1f, 0x2e66},
        {-0.0f, 0x8000},
        {1.0f + 0x1p-11f, 0x3c00},            /* halfway between 0x3c00 and 0x3c01: even */
        {1.0f + 3 * 0x1p-11f, 0x3c02},        /* halfway between 0x3c01 and 0x3c02: even */
        {1.0f + 0x1p-11f + 0x1p-20f, 0x3c01}, /* just above halfway */
        {65504.0f, 0x7bff},
        {65519.99f, 0x7bff},
        {65520.0f, 0x7c00}, /* halfway to the next binade: even is infinity */
        {1e6f, 0x7c00},
        {-1e30f, 0xfc00},
        {INFINITY, 0x7c00},
        {-INFINITY, 0xfc00},
        {0x1p-14f, 0x0400},
        {0x1p-24f, 0x0001},
        {0x1p-25f, 0x0000}, /* half a subnormal step: even is zero */
        {0x1p-25f * 1.0000001f, 0x0001},
        {3 * 0x1p-25f, 0x0002},        /* 1.5 steps: even is 2 */
        {5 * 0x1p-25f, 0x0002},        /* 2.5 steps: even is 2 */
        {0x1p-14f - 0x1p-25f, 0x0400}, /* 1023.5 steps rounds up into the normals */
        {-0x1p-26f, 0x8000},
        {1e-30f, 0x0000},
        {0x1p-149f, 0x0000}, /* a float subnormal */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        quant_f16 got = quant_f32_to_f16(cases[i].f);
        CHECK_MSG(got == cases[i].h, "f16(%a) = 0x%04x, want 0x%04x", (double)cases[i].f, got,
                  cases[i].h);
    }
    CHECK_EQ_INT(quant_f32_to_f16(bits_to_float(0x7fc00000)), 0x7e00);
    CHECK_EQ_INT(quant_f32_to_f16(bits_to_float(0xffc00000)), 0xfe00);
    CHECK_EQ_INT(quant_f32_to_f16(bits_to_float(0x7f800001)) & 0x7e00, 0x7e00); /* made quiet */
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("f16c"))) static quant_f16 f16c_encode(float f) {
    return (quant_f16)_cvtss_sh(f, 0);
}
#endif

/* The CPU's own converter (what llama.cpp's x86 builds use) as an oracle. */
TEST(quant_f16_matches_f16c_hardware) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & bit_F16C)) {
        test_skip("CPU has no F16C");
        return;
    }
    int failures = 0;
    for (uint64_t u = 0; u < (1ull << 32); u += 4093) {
        float f = bits_to_float((uint32_t)u);
        quant_f16 want = f16c_encode(f), got = quant_f32_to_f16(f);
        if (got != want && failures++ < 5)
            CHECK_MSG(0, "f16(0x%08x) = 0x%04x, F16C says 0x%04x", (uint32_t)u, got, want);
    }
    CHECK_EQ_INT(failures, 0);
#else
    test_skip("not an x86 CPU");
#endif
}

/* ---- bfloat16 ---- */

TEST(quant_bf16_round_trips_and_rounds_to_nearest_even) {
    int failures = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        bool nan = (h & 0x7f80) == 0x7f80 && (h & 0x7f);
        if (!nan && quant_f32_to_bf16(quant_bf16_to_f32((quant_bf16)h)) != h) failures++;
    }
    CHECK_EQ_INT(failures, 0);
    CHECK(quant_bf16_to_f32(0x3f80) == 1.0f);
    CHECK(quant_bf16_to_f32(0xc040) == -3.0f);
    CHECK_EQ_INT(quant_f32_to_bf16(1.0f), 0x3f80);
    CHECK_EQ_INT(quant_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);            /* tie: even */
    CHECK_EQ_INT(quant_f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);        /* tie: even */
    CHECK_EQ_INT(quant_f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81); /* above the tie */
    CHECK_EQ_INT(quant_f32_to_bf16(bits_to_float(0x7f7fffff)), 0x7f80); /* FLT_MAX: inf */
    CHECK_EQ_INT(quant_f32_to_bf16(bits_to_float(0x00008000)), 0x0000); /* subnormal tie */
    CHECK_EQ_INT(quant_f32_to_bf16(bits_to_float(0x00018000)), 0x0002);
    CHECK_EQ_INT(quant_f32_to_bf16(-INFINITY), 0xff80);
    CHECK_EQ_INT(quant_f32_to_bf16(bits_to_float(0x7f800001)), 0x7fc0); /* NaN made quiet */
    CHECK_EQ_INT(quant_f32_to_bf16(bits_to_float(0xffc12345)), 0xffc1);
}

/* ---- known blocks, decoded by hand ---- */

/* The block layouts, written out from the format description: each packs
 * codes[e] for weight e of one block. */

static void pack_q4_legacy(uint8_t qs[16], const int codes[32]) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((codes[j] & 15) | (codes[j + 16] & 15) << 4);
}

static void pack_q5_high_bits(uint8_t qh[4], const int codes[32]) {
    memset(qh, 0, 4);
    for (int e = 0; e < 32; e++)
        if (codes[e] & 16) qh[e / 8] |= (uint8_t)(1 << (e % 8)); /* little-endian bit e */
}

TEST(quant_dequantize_known_legacy_blocks) {
    int codes[32];
    float out[32];

    block_q4_0 q4_0 = {.d = 0x3800}; /* d = 0.5 */
    for (int e = 0; e < 32; e++) codes[e] = (e * 7 + 3) % 16;
    pack_q4_legacy(q4_0.qs, codes);
    quant_dequantize_row(QT_Q4_0, &q4_0, out, 32);
    for (int e = 0; e < 32; e++) CHECK(out[e] == (codes[e] - 8) * 0.5f);

    block_q4_1 q4_1 = {.d = 0x3400, .m = 0xbc00}; /* d = 0.25, m = -1 */
    pack_q4_legacy(q4_1.qs, codes);
    quant_dequantize_row(QT_Q4_1, &q4_1, out, 32);
    for (int e = 0; e < 32; e++) CHECK(out[e] == codes[e] * 0.25f - 1.0f);

    block_q5_0 q5_0 = {.d = 0x4000}; /* d = 2 */
    for (int e = 0; e < 32; e++) codes[e] = (e * 13 + 5) % 32;
    pack_q4_legacy(q5_0.qs, codes);
    pack_q5_high_bits(q5_0.qh, codes);
    quant_dequantize_row(QT_Q5_0, &q5_0, out, 32);
    for (int e = 0; e < 32; e++) CHECK(out[e] == (codes[e] - 16) * 2.0f);

    block_q5_1 q5_1 = {.d = 0x3000, .m = 0x4200}; /* d = 0.125, m = 3 */
    pack_q4_legacy(q5_1.qs, codes);
    pack_q5_high_bits(q5_1.qh, codes);
    quant_dequantize_row(QT_Q5_1, &q5_1, out, 32);
    for (int e = 0; e < 32; e++) CHECK(out[e] == codes[e] * 0.125f + 3.0f);

    block_q8_0 q8_0 = {.d = 0x3000}; /* d = 0.125 */
    for (int e = 0; e < 32; e++) q8_0.qs[e] = (int8_t)(e * 8 - 128);
    quant_dequantize_row(QT_Q8_0, &q8_0, out, 32);
    for (int e = 0; e < 32; e++) CHECK(out[e] == e - 16.0f);

    block_q8_1 q8_1 = {.d = 0xb800}; /* d = -0.5 */
    for (int e = 0; e < 32; e++) q8_1.qs[e] = (int8_t)(127 - e);
    quant_dequantize_row(QT_Q8_1, &q8_1, out, 32);
    for (int e = 0; e < 32; e++) CHECK(out[e] == (127 - e) * -0.5f);
}

TEST(quant_dequantize_known_float_rows) {
    const quant_f16 h[4] = {0x3c00, 0xc000, 0x3800, 0x7bff};
    const quant_bf16 b[4] = {0x3f80, 0xc040, 0x3f00, 0x4780};
    const float f[4] = {1.5f, -0.25f, 3e38f, -1e-40f};
    float out[4];
    quant_dequantize_row(QT_F16, h, out, 4);
    CHECK(out[0] == 1.0f && out[1] == -2.0f && out[2] == 0.5f && out[3] == 65504.0f);
    quant_dequantize_row(QT_BF16, b, out, 4);
    CHECK(out[0] == 1.0f && out[1] == -3.0f && out[2] == 0.5f && out[3] == 65536.0f);
    quant_dequantize_row(QT_F32, f, out, 4);
    CHECK(memcmp(out, f, sizeof f) == 0);
}

/* K-quant layouts. 2-bit codes (Q2_K, and Q3_K's low bits): weight e in byte
 * 32 * (e / 128) + e % 32 at bit 2 * ((e % 128) / 32). 4-bit codes (Q4_K,
 * Q5_K): byte 32 * (e / 64) + e % 32, high nibble when e / 32 is odd. The
 * extra bit of Q3_K / Q5_K: bit e / 32 of byte e % 32. */
static void pack_k_2bit(uint8_t qs[64], const int *codes) {
    memset(qs, 0, 64);
    for (int e = 0; e < 256; e++)
        qs[32 * (e / 128) + e % 32] |= (uint8_t)((codes[e] & 3) << (2 * ((e % 128) / 32)));
}

static void pack_k_4bit(uint8_t qs[128], const int *codes) {
    memset(qs, 0, 128);
    for (int e = 0; e < 256; e++)
        qs[32 * (e / 64) + e % 32] |= (uint8_t)((codes[e] & 15) << ((e / 32) % 2 ? 4 : 0));
}

static void pack_k_high_bit(uint8_t bits[32], const int *codes, int bit) {
    memset(bits, 0, 32);
    for (int e = 0; e < 256; e++)
        if (codes[e] & bit) bits[e % 32] |= (uint8_t)(1 << (e / 32));
}

/* Q4_K / Q5_K scales: 6-bit scale s[j] and min m[j] for each 32 weights. */
static void pack_k_scales(uint8_t out[12], const int *s, const int *m) {
    memset(out, 0, 12);
    for (int j = 0; j < 4; j++) {
        out[j] = (uint8_t)(s[j] | (s[j + 4] >> 4) << 6);
        out[j + 4] = (uint8_t)(m[j] | (m[j + 4] >> 4) << 6);
        out[j + 8] = (uint8_t)((s[j + 4] & 15) | (m[j + 4] & 15) << 4);
    }
}

TEST(quant_dequantize_known_k_blocks) {
    int codes[256], scale[16], min[16];
    float out[256];

    /* Q2_K: per 16 weights a 4-bit scale (low nibble) and min (high nibble). */
    block_q2_K q2 = {.d = 0x3800, .dmin = 0x3400}; /* 0.5, 0.25 */
    for (int e = 0; e < 256; e++) codes[e] = (e * 5 + e / 7) % 4;
    for (int g = 0; g < 16; g++) q2.scales[g] = (uint8_t)(g | (15 - g) << 4);
    pack_k_2bit(q2.qs, codes);
    quant_dequantize_row(QT_Q2_K, &q2, out, 256);
    for (int e = 0; e < 256; e++) {
        int g = e / 16;
        CHECK(out[e] == 0.5f * g * codes[e] - 0.25f * (15 - g));
    }

    /* Q3_K: codes -4..3 (low two bits in qs, bit 2 set in hmask for codes >= 0),
     * 6-bit scales biased by 32: low nibbles in bytes 0..7, top bits in 8..11. */
    block_q3_K q3 = {.d = 0x3000}; /* 0.125 */
    int biased[256];
    for (int e = 0; e < 256; e++) {
        codes[e] = (e * 3 + e / 16) % 8 - 4;
        biased[e] = codes[e] + 4;
    }
    pack_k_2bit(q3.qs, biased);
    pack_k_high_bit(q3.hmask, biased, 4);
    for (int g = 0; g < 16; g++) {
        scale[g] = g * 4 - 32 + (g % 3); /* -32 .. 31 */
        int s = scale[g] + 32;
        q3.scales[g % 8] |= (uint8_t)((s & 15) << (g < 8 ? 0 : 4));
        q3.scales[8 + g % 4] |= (uint8_t)((s >> 4) << (2 * (g / 4)));
    }
    quant_dequantize_row(QT_Q3_K, &q3, out, 256);
    for (int e = 0; e < 256; e++) CHECK(out[e] == 0.125f * scale[e / 16] * codes[e]);

    /* Q4_K and Q5_K: 6-bit scales and mins per 32 weights. */
    for (int j = 0; j < 8; j++) {
        scale[j] = 9 + j * 7;
        min[j] = 63 - j * 8;
    }
    block_q4_K q4 = {.d = 0x3400, .dmin = 0x2c00}; /* 0.25, 0.0625 */
    for (int e = 0; e < 256; e++) codes[e] = (e * 11 + e / 32) % 16;
    pack_k_4bit(q4.qs, codes);
    pack_k_scales(q4.scales, scale, min);
    quant_dequantize_row(QT_Q4_K, &q4, out, 256);
    for (int e = 0; e < 256; e++)
        CHECK(out[e] == 0.25f * scale[e / 32] * codes[e] - 0.0625f * min[e / 32]);

    block_q5_K q5 = {.d = 0x3400, .dmin = 0x2c00};
    for (int e = 0; e < 256; e++) codes[e] = (e * 11 + e / 32) % 32;
    pack_k_4bit(q5.qs, codes);
    pack_k_high_bit(q5.qh, codes, 16);
    pack_k_scales(q5.scales, scale, min);
    quant_dequantize_row(QT_Q5_K, &q5, out, 256);
    for (int e = 0; e < 256; e++)
        CHECK(out[e] == 0.25f * scale[e / 32] * codes[e] - 0.0625f * min[e / 32]);

    /* Q6_K: codes -32..31 biased by 32. Low nibbles: byte 64 * (e / 128) + e % 64,
     * high nibble when e % 128 >= 64. Top two bits: byte 32 * (e / 128) + e % 32 at
     * bit 2 * ((e % 128) / 32). An int8 scale per 16 weights. */
    block_q6_K q6 = {.d = 0x2c00}; /* 0.0625 */
    for (int e = 0; e < 256; e++) {
        codes[e] = (e * 29 + 7) % 64 - 32;
        int c = codes[e] + 32, r = e % 128;
        q6.ql[64 * (e / 128) + e % 64] |= (uint8_t)((c & 15) << (r >= 64 ? 4 : 0));
        q6.qh[32 * (e / 128) + e % 32] |= (uint8_t)((c >> 4) << (2 * (r / 32)));
    }
    for (int g = 0; g < 16; g++) q6.scales[g] = (int8_t)(g * 17 - 128);
    quant_dequantize_row(QT_Q6_K, &q6, out, 256);
    for (int e = 0; e < 256; e++) CHECK(out[e] == 0.0625f * (e / 16 * 17 - 128) * codes[e]);

    block_q8_K q8 = {.d = -0.25f};
    for (int e = 0; e < 256; e++) q8.qs[e] = (int8_t)(e - 128);
    quant_dequantize_row(QT_Q8_K, &q8, out, 256);
    for (int e = 0; e < 256; e++) CHECK(out[e] == (e - 128) * -0.25f);
}

/* ---- quantize ---- */

TEST(quant_quantize_known_legacy_blocks) {
    /* x = -8, -7.5, ..., 7.5: the largest magnitude is -8, so d = 1 and codes
     * run 0..15 (with +7.5 clamped to 15). */
    float x[32];
    for (int e = 0; e < 32; e++) x[e] = -8.0f + 0.5f * e;
    block_q4_0 q4;
    CHECK(quant_quantize_row(QT_Q4_0, x, &q4, 32));
    CHECK_EQ_INT(q4.d, 0x3c00);
    for (int e = 0; e < 32; e++) {
        int code = e < 16 ? q4.qs[e] & 15 : q4.qs[e - 16] >> 4;
        int want = (int)(x[e] + 8.5f); /* x / d + 8.5, truncated */
        CHECK_EQ_INT(code, want < 15 ? want : 15);
    }

    /* Q8_0: amax 127 gives d = 1; halves round away from zero. */
    for (int e = 0; e < 32; e++) x[e] = e == 0 ? 127.0f : (e % 2 ? 1 : -1) * (e + 0.5f);
    block_q8_0 q8;
    CHECK(quant_quantize_row(QT_Q8_0, x, &q8, 32));
    CHECK_EQ_INT(q8.d, 0x3c00);
    CHECK_EQ_INT(q8.qs[0], 127);
    for (int e = 1; e < 32; e++) CHECK_EQ_INT(q8.qs[e], (e % 2 ? 1 : -1) * (e + 1));

    /* Q8_1 also stores s = d * sum(codes). */
    block_q8_1 q81;
    CHECK(quant_quantize_row(QT_Q8_1, x, &q81, 32));
    int sum = 0;
    for (int e = 0; e < 32; e++) sum += q81.qs[e];
    CHECK_EQ_INT(q81.d, 0x3c00);
    CHECK(quant_f16_to_f32(q81.s) == (float)sum);

    /* Q4_1 over 0..31: min 0, d = 31/15, code = round(x / d). */
    for (int e = 0; e < 32; e++) x[e] = (float)e;
    block_q4_1 q41;
    CHECK(quant_quantize_row(QT_Q4_1, x, &q41, 32));
    CHECK_EQ_INT(q41.m, 0);
    CHECK_EQ_INT(q41.d, quant_f32_to_f16(31.0f / 15));
    for (int e = 0; e < 32; e++) {
        int code = e < 16 ? q41.qs[e] & 15 : q41.qs[e - 16] >> 4;
        CHECK_EQ_INT(code, (int)lround(e * 15.0 / 31));
    }

    /* An all-zero block: d = 0 and every code is the zero point. */
    memset(x, 0, sizeof x);
    block_q5_0 q5;
    CHECK(quant_quantize_row(QT_Q5_0, x, &q5, 32));
    CHECK(quant_f16_to_f32(q5.d) == 0.0f); /* -0: zero divided by -16 */
    for (int j = 0; j < 16; j++) CHECK_EQ_INT(q5.qs[j], 0x00);
    for (int j = 0; j < 4; j++) CHECK_EQ_INT(q5.qh[j], 0xff); /* code 16 = 0b10000 */
}

TEST(quant_quantize_q8_K_maps_extreme_to_127) {
    float x[256];
    for (int e = 0; e < 256; e++) x[e] = (float)(e % 50) - 20.0f; /* -20 .. 29 */
    x[77] = -63.5f;
    block_q8_K q;
    CHECK(quant_quantize_row(QT_Q8_K, x, &q, 256));
    CHECK(q.d == 1 / (-127.0f / -63.5f)); /* the extreme becomes code -127 */
    CHECK_EQ_INT(q.qs[77], -127);
    for (int g = 0; g < 16; g++) {
        int sum = 0;
        for (int l = 0; l < 16; l++) sum += q.qs[16 * g + l];
        CHECK_EQ_INT(q.bsums[g], sum);
    }
    for (int e = 0; e < 256; e++) CHECK(fabsf(q.qs[e] * q.d - x[e]) <= 0.5f * q.d * 1.0001f);
    memset(x, 0, sizeof x);
    memset(&q, 0x55, sizeof q);
    CHECK(quant_quantize_row(QT_Q8_K, x, &q, 256));
    block_q8_K zero;
    memset(&zero, 0, sizeof zero);
    CHECK(memcmp(&q, &zero, sizeof q) == 0);
}

/* A row of n gaussian values of standard deviation `scale`, with one outlier
 * in every 64 to exercise the search for scales. */
static void random_row(float *x, int n, float scale) {
    for (int i = 0; i < n; i++) x[i] = gaussian() * scale * (i % 64 == 17 ? 4.0f : 1.0f);
}

/* Relative RMS error of quantize + dequantize on gaussian rows with outliers,
 * bounded at about 1.25x what each format reaches here (QUANT_VERBOSE=1 prints
 * the values). */
TEST(quant_round_trip_error_is_bounded) {
    static const struct {
        enum quant_type type;
        double max_rel_rmse;
    } cases[] = {
        {QT_F16, 2.7e-4}, {QT_BF16, 2.2e-3}, {QT_Q8_0, 0.0085}, {QT_Q8_1, 0.0087}, {QT_Q8_K, 0.016},
        {QT_Q4_0, 0.14},  {QT_Q4_1, 0.11},   {QT_Q5_0, 0.07},   {QT_Q5_1, 0.053},  {QT_Q2_K, 0.40},
        {QT_Q3_K, 0.22},  {QT_Q4_K, 0.10},   {QT_Q5_K, 0.052},  {QT_Q6_K, 0.027},
    };
    enum { N = 1024 };
    static float x[N], y[N];
    static uint8_t q[N * 4];
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        rng_seed(1234 + c);
        double err2 = 0, sum2 = 0;
        for (int round = 0; round < 24; round++) {
            float scale = powf(10.0f, (float)(round % 6) - 3.0f);
            random_row(x, N, scale);
            CHECK(quant_quantize_row(cases[c].type, x, q, N));
            quant_dequantize_row(cases[c].type, q, y, N);
            for (int i = 0; i < N; i++) {
                err2 += ((double)x[i] - y[i]) * ((double)x[i] - y[i]) / ((double)scale * scale);
                sum2 += (double)x[i] * x[i] / ((double)scale * scale);
            }
        }
        double rel = sqrt(err2 / sum2);
        if (getenv("QUANT_VERBOSE")) printf("  %s %.5f\n", quant_info(cases[c].type)->name, rel);
        CHECK_MSG(rel <= cases[c].max_rel_rmse, "%s: relative rms error %.5f > %.5f",
                  quant_info(cases[c].type)->name, rel, cases[c].max_rel_rmse);
        CHECK_MSG(rel > cases[c].max_rel_rmse / 10, "%s: error %.6f is implausibly small",
                  quant_info(cases[c].type)->name, rel);
    }
}

/* Worst-case error of the 32-weight formats, from their definition: half a step
 * (d / 2), plus what rounding d and m to fp16 can add over the code range; Q4_0
 * and Q5_0 also clamp their top code, which can cost a whole step. */
TEST(quant_legacy_max_error_per_block) {
    enum { N = 32 * 64 };
    static float x[N], y[N];
    static uint8_t q[N * 2];
    const double h = 1.0 / 2048; /* fp16 relative rounding */
    rng_seed(99);
    for (int round = 0; round < 12; round++) {
        float scale = powf(10.0f, (float)(round % 4) - 2.0f);
        random_row(x, N, scale);
        static const enum quant_type types[] = {QT_Q4_0, QT_Q4_1, QT_Q5_0, QT_Q5_1, QT_Q8_0};
        for (size_t k = 0; k < sizeof types / sizeof *types; k++) {
            enum quant_type t = types[k];
            quant_quantize_row(t, x, q, N);
            quant_dequantize_row(t, q, y, N);
            const uint8_t *b = q;
            for (int blk = 0; blk < N / 32; blk++, b += quant_info(t)->type_size) {
                quant_f16 hd, hm = 0;
                memcpy(&hd, b, 2);
                if (t == QT_Q4_1 || t == QT_Q5_1) memcpy(&hm, b + 2, 2);
                double d = fabs(quant_f16_to_f32(hd)), m = fabs(quant_f16_to_f32(hm));
                double codes = t == QT_Q8_0 ? 128 : (t == QT_Q4_0 || t == QT_Q4_1) ? 16 : 32;
                double step = (t == QT_Q4_0 || t == QT_Q5_0) ? 1.0 : 0.5;
                double bound = d * (step + codes * h) + m * h + 1e-12;
                for (int i = blk * 32; i < blk * 32 + 32; i++)
                    CHECK_MSG(fabs((double)x[i] - y[i]) <= bound, "%s block %d: |%g - %g| > %g",
                              quant_info(t)->name, blk, x[i], y[i], bound);
            }
        }
    }
}

/* Quantizing what a quantized row dequantizes to gives the same bytes again for
 * the 32-weight formats (Q8_1 up to its s field, which is rounded from the
 * unrounded d). The K-quants search for scales and do not have this property. */
TEST(quant_requantize_is_idempotent) {
    static const enum quant_type types[] = {QT_Q8_0, QT_Q4_0, QT_Q4_1, QT_Q5_0, QT_Q5_1, QT_Q8_1};
    enum { N = 512 };
    static float x[N], y[N];
    static uint8_t q1[N * 2], q2[N * 2];
    for (size_t k = 0; k < sizeof types / sizeof *types; k++) {
        rng_seed(77 + k);
        enum quant_type t = types[k];
        size_t bs = quant_info(t)->type_size;
        for (int round = 0; round < 40; round++) {
            random_row(x, N, powf(10.0f, (float)(round % 5) - 2.0f));
            quant_quantize_row(t, x, q1, N);
            quant_dequantize_row(t, q1, y, N);
            quant_quantize_row(t, y, q2, N);
            if (t == QT_Q8_1) {
                for (int b = 0; b < N / 32; b++) {
                    const block_q8_1 *a = (const block_q8_1 *)q1 + b,
                                     *c = (const block_q8_1 *)q2 + b;
                    CHECK(a->d == c->d && memcmp(a->qs, c->qs, sizeof a->qs) == 0);
                }
            } else {
                CHECK_MSG(memcmp(q1, q2, N / 32 * bs) == 0, "%s round %d", quant_info(t)->name,
                          round);
            }
        }
    }
}

/* Hostile input must not crash or hit undefined behaviour (the sanitizer
 * build checks that): NaN, infinities and huge values in float rows, and
 * arbitrary bytes, NaN scales included, in quantized rows. */
TEST(quant_survives_non_finite_and_random_input) {
    enum { N = 512 };
    static float x[N], y[N];
    static uint8_t q[N * 4];
    const float specials[] = {NAN, INFINITY, -INFINITY, FLT_MAX, -FLT_MAX, 1e-45f, 0.0f};
    rng_seed(4242);
    for (enum quant_type t = 0; t < QT_COUNT; t++) {
        if (!quant_info(t)) continue;
        for (size_t k = 0; k < sizeof specials / sizeof *specials; k++) {
            for (int i = 0; i < N; i++) x[i] = i % 5 == 0 ? specials[k] : gaussian();
            CHECK(quant_quantize_row(t, x, q, N));
            quant_dequantize_row(t, q, y, N);
            for (int i = 0; i < N; i++) x[i] = specials[k];
            CHECK(quant_quantize_row(t, x, q, N));
        }
        for (size_t i = 0; i < sizeof q; i++) q[i] = (uint8_t)xorshift();
        quant_dequantize_row(t, q, y, N);
        (void)quant_vec_dot_ref(t, q, q, N); /* both rows fit in q */
    }
}

/* ---- reference dot products ---- */

/* For Q4_1 and Q5_1 the dot product uses the activation block's s (d * sum of
 * codes, rounded to fp16) for the weights' offset term: the exact value of
 * the row dot product the format defines differs from deq(w) . deq(a) by
 * m * (s - d * sum). */
static double offset_term_correction(enum quant_type t, const void *w, const void *act, int n) {
    if (t != QT_Q4_1 && t != QT_Q5_1) return 0.0;
    const block_q8_1 *a = act;
    size_t bs = quant_info(t)->type_size;
    double corr = 0;
    for (int b = 0; b < n / 32; b++) {
        quant_f16 m;
        memcpy(&m, (const uint8_t *)w + b * bs + 2, 2);
        int sum = 0;
        for (int j = 0; j < 32; j++) sum += a[b].qs[j];
        corr += quant_f16_to_f32(m) *
                ((double)quant_f16_to_f32(a[b].s) - (double)quant_f16_to_f32(a[b].d) * sum);
    }
    return corr;
}

TEST(quant_vec_dot_ref_matches_dequantized_dot) {
    static const enum quant_type types[] = {QT_F32,  QT_F16,  QT_BF16, QT_Q4_0, QT_Q4_1,
                                            QT_Q5_0, QT_Q5_1, QT_Q8_0, QT_Q2_K, QT_Q3_K,
                                            QT_Q4_K, QT_Q5_K, QT_Q6_K};
    enum { N = 2048 };
    static float x[N], a[N], xd[N], ad[N];
    static uint8_t w[N * 4], act[N * 4];
    for (size_t k = 0; k < sizeof types / sizeof *types; k++) {
        enum quant_type t = types[k], at = quant_info(t)->vec_dot_type;
        rng_seed(555 + k);
        for (int round = 0; round < 20; round++) {
            random_row(x, N, 0.02f);
            random_row(a, N, powf(10.0f, (float)(round % 5) - 2.0f));
            quant_quantize_row(t, x, w, N);
            quant_quantize_row(at, a, act, N);
            quant_dequantize_row(t, w, xd, N);
            quant_dequantize_row(at, act, ad, N);
            double want = 0, magnitude = 0;
            for (int i = 0; i < N; i++) {
                want += (double)xd[i] * ad[i];
                magnitude += fabs((double)xd[i] * ad[i]);
            }
            want += offset_term_correction(t, w, act, N);
            /* Float rounding of per-block scaling and the float accumulator:
             * a few units of 2^-24 per block, relative to the magnitude. */
            double bound = magnitude * 1e-6 + fabs(want) * 1e-7;
            float got = quant_vec_dot_ref(t, w, act, N);
            CHECK_MSG(fabs(got - want) <= bound, "%s round %d: %.9g vs %.9g (bound %g)",
                      quant_info(t)->name, round, got, want, bound);
        }
    }
}

/* The dot product of a block with itself, worked by hand, checks that the
 * integer part and both scales enter: Q8_0 codes 1..32 with d = 0.5 and 0.25. */
TEST(quant_vec_dot_ref_known_values) {
    block_q8_0 w[2] = {{.d = 0x3800}, {.d = 0x3400}}; /* 0.5, 0.25 */
    block_q8_0 a[2] = {{.d = 0x3c00}, {.d = 0x4000}}; /* 1, 2 */
    for (int j = 0; j < 32; j++) {
        w[0].qs[j] = w[1].qs[j] = (int8_t)(j + 1);
        a[0].qs[j] = a[1].qs[j] = (int8_t)(j % 2 ? -1 : 1);
    }
    /* sum over j of (j+1) * (+1, -1, ...) = -16 per block */
    CHECK(quant_vec_dot_ref(QT_Q8_0, w, a, 64) == -16 * 0.5f * 1 + -16 * 0.25f * 2);

    const float fx[3] = {1.5f, -2.0f, 0x1p-30f}, fy[3] = {2.0f, 0.25f, 0x1p30f};
    CHECK(quant_vec_dot_ref(QT_F32, fx, fy, 3) == 3.5f);
    /* Summing in double keeps the small term that a float sum would drop. */
    const float big[3] = {1e8f, 1.0f, -1e8f}, one[3] = {1.0f, 1.0f, 1.0f};
    CHECK(quant_vec_dot_ref(QT_F32, big, one, 3) == 1.0f);
    /* ...but each product is rounded to float first: (1 + 2^-12)^2 loses its
     * 2^-24 (a tie, to even), so this sum is exactly zero. */
    const float p[2] = {1.0f + 0x1p-12f, 1.0f}, r[2] = {1.0f + 0x1p-12f, -(1.0f + 0x1p-11f)};
    CHECK(quant_vec_dot_ref(QT_F32, p, r, 2) == 0.0f);
    quant_f16 hx[2] = {0x3c00, 0x4000}, hy[2] = {0x4200, 0xb800}; /* 1, 2 . 3, -0.5 */
    CHECK(quant_vec_dot_ref(QT_F16, hx, hy, 2) == 2.0f);
    CHECK(quant_vec_dot_ref(QT_Q4_0, w, a, 0) == 0.0f);
}

/* The grouping of the block scaling is part of each format's definition:
 * Q4_0 computes (isum * dw) * da, the others (dw * da) * isum. With full fp16
 * mantissas and a large odd isum the two groupings round differently. */
TEST(quant_vec_dot_ref_keeps_ggml_operation_order) {
    const quant_f16 h = 0x3bf9; /* 2041/2048 */
    const float d = quant_f16_to_f32(h);
    block_q8_0 a0 = {.d = h};
    block_q8_1 a1 = {.d = h};
    for (int j = 0; j < 32; j++) a0.qs[j] = a1.qs[j] = 127;
    a0.qs[0] = a1.qs[0] = 126; /* the codes sum to 4063 */
    block_q4_0 w40 = {.d = h};
    block_q4_1 w41 = {.d = h};
    block_q5_0 w50 = {.d = h};
    block_q5_1 w51 = {.d = h};
    block_q8_0 w80 = {.d = h};
    memset(w40.qs, 0xff, sizeof w40.qs); /* code 15: weight 7 */
    memset(w41.qs, 0xff, sizeof w41.qs); /* weight 15 (m = 0) */
    memset(w50.qs, 0xff, sizeof w50.qs);
    memset(w50.qh, 0xff, sizeof w50.qh); /* code 31: weight 15 */
    memset(w51.qs, 0xff, sizeof w51.qs);
    memset(w51.qh, 0xff, sizeof w51.qh); /* weight 31 */
    memset(w80.qs, 127, sizeof w80.qs);
    const struct {
        enum quant_type type;
        const void *w, *a;
        int isum;
        bool isum_first;
    } cases[] = {
        {QT_Q4_0, &w40, &a0, 7 * 4063, true},    {QT_Q4_1, &w41, &a1, 15 * 4063, false},
        {QT_Q5_0, &w50, &a0, 15 * 4063, false},  {QT_Q5_1, &w51, &a1, 31 * 4063, false},
        {QT_Q8_0, &w80, &a0, 127 * 4063, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        volatile float isum = (float)cases[i].isum, dw = d, da = d;
        float isum_first = (isum * dw) * da, scales_first = (dw * da) * isum;
        float want = cases[i].isum_first ? isum_first : scales_first;
        CHECK(isum_first != scales_first); /* the case can tell them apart */
        CHECK_MSG(quant_vec_dot_ref(cases[i].type, cases[i].w, cases[i].a, 32) == want,
                  "%s: %a, want %a", quant_info(cases[i].type)->name,
                  (double)quant_vec_dot_ref(cases[i].type, cases[i].w, cases[i].a, 32),
                  (double)want);
    }
}

/* ---- ggml's own answers ---- */

/* Rows built from integers and powers of two only, so every platform makes the
 * same floats: 24 random bits at a few magnitudes, an outlier in every 64, and
 * for every fourth seed coarse values that produce many exact rounding ties. */
static void golden_row(float *x, int n, uint64_t seed) {
    rng_seed(seed);
    for (int i = 0; i < n; i++) {
        uint64_t r = xorshift();
        int32_t v = (int32_t)(r >> 40) - (1 << 23);
        int shift = 28 - (int)((r >> 8) % 3) * 2;
        if (i % 64 == 17) shift -= 3;
        if (seed % 4 == 3) v &= ~0xffff;
        x[i] = (float)v * ldexpf(1.0f, -shift);
    }
}

static uint64_t fnv1a(const void *p, size_t n) {
    const uint8_t *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Produced by ggml's quantize_row_*_ref, dequantize_row_* and generic
 * ggml_vec_dot_*_q8_* at llama.cpp c392e5094, compiled without SIMD and
 * without FMA contraction: over the golden rows, a hash of the quantized bytes
 * (64 rows), of the floats those bytes dequantize to, and of the float bits of
 * 32 dot products (little-endian hashes). They pin down every rounding step of
 * the quantizers (K-quants included, which no conformance file can check) and
 * the order of every float operation in dequantization and dot products.
 * tests/tools/ggml_golden.c prints this table from a llama.cpp build (its
 * comment says how): run it by hand after changing the rows or the hashing. */
TEST(quant_matches_ggml_golden_values) {
    static const struct {
        enum quant_type type;
        uint64_t quantized, dequantized, dots;
    } golden[] = {
        {QT_Q4_0, 0x003bd31fd0153d54ull, 0xa1a1c1f19a81e967ull, 0xd4f1a19ce3f69e78ull},
        {QT_Q4_1, 0x10fd23398f0007dcull, 0xcd368714e262a906ull, 0x0512f3c6f5a964a8ull},
        {QT_Q5_0, 0xa433a8a0f04056a7ull, 0xe1d9b372924ae2dcull, 0x8588cfabd13b0256ull},
        {QT_Q5_1, 0x5e29cbaff88f9661ull, 0x97660b8ed8e6fae5ull, 0xc943b1636f2a2e74ull},
        {QT_Q8_0, 0xee60b075a505b2c0ull, 0x30f1bea296186d55ull, 0x7476659f082b5b22ull},
        {QT_Q8_1, 0x3f35cfea7f96dd02ull, 0xf4439a0e871862e4ull, 0},
        {QT_Q2_K, 0x71102cdbff621039ull, 0x492ac3285177d80aull, 0x535658cab12fcb17ull},
        {QT_Q3_K, 0xc974b586222bd069ull, 0x7241dab96bbc1bbeull, 0xdb10f214d5e1074aull},
        {QT_Q4_K, 0x93dbdaaaeb91eab9ull, 0xafe679107dc7ce09ull, 0x70fbfd0a82bf11faull},
        {QT_Q5_K, 0xa902cf8718655550ull, 0x0e8f93c18de5ec29ull, 0xbd411393b71acf98ull},
        {QT_Q6_K, 0x44fd78e3a3759ea5ull, 0xb3c28ce23a04c224ull, 0x6e5bb46fd25ac90eull},
        {QT_Q8_K, 0x30e279842f6895a3ull, 0x280643bc75c98d58ull, 0},
    };
    enum { N = 1024 };
    static float x[N], a[N], y[N];
    static uint8_t q[N * 2], act[N * 2];
    const uint64_t fnv_basis = 0xcbf29ce484222325ull, fnv_prime = 0x100000001b3ull;
    for (size_t k = 0; k < sizeof golden / sizeof *golden; k++) {
        enum quant_type t = golden[k].type;
        const char *name = quant_info(t)->name;
        size_t row = quant_row_size(t, N);
        uint64_t hq = fnv_basis, hd = fnv_basis, hdot = fnv_basis;
        for (uint64_t seed = 1; seed <= 64; seed++) {
            golden_row(x, N, seed * 1000 + t);
            quant_quantize_row(t, x, q, N);
            hq = (hq ^ fnv1a(q, row)) * fnv_prime;
            quant_dequantize_row(t, q, y, N);
            hd = (hd ^ fnv1a(y, sizeof y)) * fnv_prime;
        }
        CHECK_MSG(hq == golden[k].quantized, "%s: quantized bytes differ from ggml's", name);
        CHECK_MSG(hd == golden[k].dequantized, "%s: dequantized floats differ from ggml's", name);
        if (!golden[k].dots) continue;
        for (uint64_t seed = 1; seed <= 32; seed++) {
            golden_row(x, N, seed * 2000 + t);
            golden_row(a, N, seed * 3000 + t);
            quant_quantize_row(t, x, q, N);
            quant_quantize_row(quant_info(t)->vec_dot_type, a, act, N);
            float dot = quant_vec_dot_ref(t, q, act, N);
            hdot = (hdot ^ fnv1a(&dot, sizeof dot)) * fnv_prime;
        }
        CHECK_MSG(hdot == golden[k].dots, "%s: dot products differ from ggml's", name);
    }
}

/* ---- llama-quantize's own output ---- */

static const gguf_tensor *find_2d(const gguf_file *f, const char *name, uint32_t type) {
    const gguf_tensor *t = f ? gguf_find_tensor(f, name) : NULL;
    return t && t->n_dims == 2 && t->type == type ? t : NULL;
}

/* phi3-e64-{Q4_0,...}.gguf were made by llama-quantize (no imatrix) from
 * phi3-e64-F32.gguf: quantizing the F32 rows ourselves must give the very same
 * bytes, for every 2-D tensor. */
TEST(quant_matches_llama_quantize_bytes) {
    const char *dir = test_conformance_dir();
    if (!dir) {
        test_skip("no conformance data");
        return;
    }
    static const char *suffixes[] = {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "BF16"};
    char path[4096];
    lm_error err;
    snprintf(path, sizeof path, "%s/models/phi3-e64-F32.gguf", dir);
    gguf_file *base = gguf_open(path, &err);
    CHECK_MSG(base != NULL, "%s", err.msg);
    if (!base) return;
    for (size_t s = 0; s < sizeof suffixes / sizeof *suffixes; s++) {
        snprintf(path, sizeof path, "%s/models/phi3-e64-%s.gguf", dir, suffixes[s]);
        gguf_file *qf = gguf_open(path, &err);
        CHECK_MSG(qf != NULL, "%s", err.msg);
        if (!qf) continue;
        enum quant_type type = (enum quant_type)quant_type_from_name(suffixes[s]);
        int tensors = 0;
        for (uint64_t i = 0; i < qf->n_tensors; i++) {
            const gguf_tensor *q = &qf->tensors[i];
            const gguf_tensor *f = find_2d(base, q->name, QT_F32);
            if (q->n_dims != 2 || !f) continue;
            CHECK_EQ_INT(q->type, type);
            CHECK(f->ne[0] == q->ne[0] && f->ne[1] == q->ne[1]);
            int64_t n = q->ne[0];
            size_t row = quant_row_size(type, n);
            uint8_t *buf = malloc(row);
            int64_t bad_rows = 0, first_bad = -1;
            for (int64_t r = 0; r < q->ne[1]; r++) {
                quant_quantize_row(type, (const float *)f->data + r * n, buf, n);
                if (memcmp(buf, (const uint8_t *)q->data + r * row, row) != 0) {
                    if (first_bad < 0) first_bad = r;
                    bad_rows++;
                }
            }
            free(buf);
            CHECK_MSG(bad_rows == 0, "%s %s: %lld of %lld rows differ (first %lld)", suffixes[s],
                      q->name, (long long)bad_rows, (long long)q->ne[1], (long long)first_bad);
            tensors++;
        }
        CHECK_MSG(tensors == 10, "%s: compared %d tensors", suffixes[s], tensors);
        gguf_close(qf);
    }
    gguf_close(base);
}

/* The K-quant models' tensors cannot be re-made here (their F32 parent is not
 * shipped), but every block they hold must decode to finite, plausible values:
 * the weights were drawn from N(0, 0.02). */
TEST(quant_dequantizes_conformance_k_quants) {
    const char *dir = test_conformance_dir();
    if (!dir) {
        test_skip("no conformance data");
        return;
    }
    static const char *files[] = {"phi3-e256-Q4_K_M", "phi3-e256-Q3_K_M"};
    int seen[QT_COUNT] = {0};
    for (size_t k = 0; k < sizeof files / sizeof *files; k++) {
        char path[4096];
        lm_error err;
        snprintf(path, sizeof path, "%s/models/%s.gguf", dir, files[k]);
        gguf_file *f = gguf_open(path, &err);
        CHECK_MSG(f != NULL, "%s", err.msg);
        if (!f) continue;
        for (uint64_t i = 0; i < f->n_tensors; i++) {
            const gguf_tensor *t = &f->tensors[i];
            if (t->n_dims != 2 || strcmp(t->name, "token_embd.weight") == 0) continue;
            int64_t n = t->ne[0], rows = t->ne[1] < 64 ? t->ne[1] : 64;
            float *y = malloc((size_t)n * sizeof *y);
            double sum2 = 0;
            bool finite = true;
            for (int64_t r = 0; r < rows; r++) {
                quant_dequantize_row(
                    t->type, (const uint8_t *)t->data + r * quant_row_size(t->type, n), y, n);
                for (int64_t j = 0; j < n; j++) {
                    finite = finite && isfinite(y[j]);
                    sum2 += (double)y[j] * y[j];
                }
            }
            free(y);
            double sd = sqrt(sum2 / (double)(n * rows));
            CHECK_MSG(finite, "%s %s: non-finite values", files[k], t->name);
            CHECK_MSG(sd > 0.015 && sd < 0.025, "%s %s (%s): std %.4f, want about 0.02", files[k],
                      t->name, quant_info(t->type)->name, sd);
            if (t->type < QT_COUNT) seen[t->type]++;
        }
        gguf_close(f);
    }
    CHECK(seen[QT_Q3_K] > 0 && seen[QT_Q4_K] > 0 && seen[QT_Q5_K] > 0 && seen[QT_Q6_K] > 0);
}

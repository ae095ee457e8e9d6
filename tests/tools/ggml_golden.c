/* Regenerates the golden hashes of tests/unit/infer/test_quant.c
 * (quant_matches_ggml_golden_values) from ggml itself. Run by hand, never by
 * `make check`: it needs a llama.cpp checkout built without SIMD.
 *
 *   git clone https://github.com/ggml-org/llama.cpp && cd llama.cpp
 *   git checkout c392e5094
 *   cmake -B build-generic -DBUILD_SHARED_LIBS=ON -DGGML_NATIVE=OFF -DGGML_OPENMP=OFF \
 *       -DGGML_AVX=OFF -DGGML_AVX2=OFF -DGGML_AVX512=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF \
 *       -DGGML_LLAMAFILE=OFF -DCMAKE_C_FLAGS=-ffp-contract=off -DCMAKE_BUILD_TYPE=Release
 *   cmake --build build-generic -j --target ggml-base ggml-cpu
 *   L=$PWD; cd /path/to/lmterm
 *   cc -O2 -ffp-contract=off -I$L/ggml/include tests/tools/ggml_golden.c \
 *       -L$L/build-generic/bin -lggml-cpu -lggml-base -Wl,-rpath,$L/build-generic/bin \
 *       -o /tmp/ggml_golden && /tmp/ggml_golden
 *
 * It prints the rows of the table `golden[]` in test_quant.c; paste them in.
 * The rows (golden_row), the RNG (xorshift) and the hashes (FNV-1a of each
 * row, folded) must stay the same as in test_quant.c: change both or neither.
 * Activations are quantized with the reference quantizer of each type's
 * vec_dot_type (the generic CPU path uses the same), weights with
 * from_float_ref, floats come back through to_float, and dot products come
 * from the CPU backend's vec_dot for that type. */
#include "ggml-cpu.h"
#include "ggml.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static uint64_t rng_state;

static void rng_seed(uint64_t seed) {
    rng_state = seed ? seed : 1;
}

static uint64_t xorshift(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* As test_quant.c: integers and powers of two only. */
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

int main(void) {
    struct ggml_init_params ip = {.mem_size = 1 << 20, .mem_buffer = NULL, .no_alloc = true};
    ggml_free(ggml_init(ip)); /* fills the fp16 tables */
    ggml_cpu_init();
    static const struct {
        enum ggml_type type;
        const char *name; /* lmterm's enum */
        int dots;
    } types[] = {
        {GGML_TYPE_Q4_0, "QT_Q4_0", 1}, {GGML_TYPE_Q4_1, "QT_Q4_1", 1},
        {GGML_TYPE_Q5_0, "QT_Q5_0", 1}, {GGML_TYPE_Q5_1, "QT_Q5_1", 1},
        {GGML_TYPE_Q8_0, "QT_Q8_0", 1}, {GGML_TYPE_Q8_1, "QT_Q8_1", 0},
        {GGML_TYPE_Q2_K, "QT_Q2_K", 1}, {GGML_TYPE_Q3_K, "QT_Q3_K", 1},
        {GGML_TYPE_Q4_K, "QT_Q4_K", 1}, {GGML_TYPE_Q5_K, "QT_Q5_K", 1},
        {GGML_TYPE_Q6_K, "QT_Q6_K", 1}, {GGML_TYPE_Q8_K, "QT_Q8_K", 0},
    };
    enum { N = 1024 };
    static float x[N], a[N], y[N];
    static uint8_t q[N * 2], act[N * 2];
    const uint64_t fnv_basis = 0xcbf29ce484222325ull, fnv_prime = 0x100000001b3ull;
    for (size_t k = 0; k < sizeof types / sizeof *types; k++) {
        enum ggml_type t = types[k].type;
        const struct ggml_type_traits *tr = ggml_get_type_traits(t);
        const struct ggml_type_traits_cpu *cpu = ggml_get_type_traits_cpu(t);
        size_t row = ggml_row_size(t, N);
        uint64_t hq = fnv_basis, hd = fnv_basis, hdot = fnv_basis;
        for (uint64_t seed = 1; seed <= 64; seed++) {
            golden_row(x, N, seed * 1000 + (uint64_t)t);
            memset(q, 0, sizeof q);
            tr->from_float_ref(x, q, N);
            hq = (hq ^ fnv1a(q, row)) * fnv_prime;
            tr->to_float(q, y, N);
            hd = (hd ^ fnv1a(y, sizeof y)) * fnv_prime;
        }
        if (types[k].dots) {
            const struct ggml_type_traits *atr = ggml_get_type_traits(cpu->vec_dot_type);
            for (uint64_t seed = 1; seed <= 32; seed++) {
                golden_row(x, N, seed * 2000 + (uint64_t)t);
                golden_row(a, N, seed * 3000 + (uint64_t)t);
                tr->from_float_ref(x, q, N);
                atr->from_float_ref(a, act, N);
                float dot = 0;
                cpu->vec_dot(N, &dot, 0, q, 0, act, 0, 1);
                hdot = (hdot ^ fnv1a(&dot, sizeof dot)) * fnv_prime;
            }
        }
        printf("        {%s, 0x%016" PRIx64 "ull, 0x%016" PRIx64 "ull, %s%0*" PRIx64 "%s},\n",
               types[k].name, hq, hd, types[k].dots ? "0x" : "", types[k].dots ? 16 : 1,
               types[k].dots ? hdot : 0, types[k].dots ? "ull" : "");
    }
    return 0;
}

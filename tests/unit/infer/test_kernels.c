/* kernels: every SIMD path against quant_vec_dot_ref, for every weight type,
 * one token (the generation kernels) and batches (the packed-panel kernels).
 *
 * Two kinds of data. "Exact" data makes every float operation of the
 * reference exact (scales are powers of two, codes small), so any summation
 * order gives the same bits: a wrong integer part cannot hide in a tolerance.
 * "Random" data checks ordinary values within a tight tolerance relative to
 * the sum of the magnitudes of the products, the scale of float rounding. */
#include "../../../src/infer/kernels_impl.h" /* the activation converters */
#include "kernels.h"
#include "test.h"
#include "util.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_TOK 13 /* 8 + 4 + 1: every tile size of the panel kernels */
/* Rows longer than the 8192 columns past which generation kernels read
 * several rows at once (their activations would not stay in L1). */
#define LONG_ROW 8448

typedef struct rng {
    uint64_t s;
} rng;

static uint32_t next_u32(rng *r) {
    r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(r->s >> 33);
}

/* Uniform in [-1, 1). */
static float next_float(rng *r) {
    return (float)next_u32(r) / 1073741824.0f - 1.0f;
}

static int next_int(rng *r, int lo, int hi) {
    return lo + (int)(next_u32(r) % (uint32_t)(hi - lo + 1));
}

/* ---- test data ---- */

static void put_half(void *p, float v) {
    quant_f16 h = quant_f32_to_f16(v);
    memcpy(p, &h, sizeof h);
}

/* Weights whose scales are powers of two and whose codes are random: every
 * product in the reference is exact. Written block by block. */
static void exact_weights(enum quant_type type, uint8_t *data, int64_t rows, int64_t cols, rng *r,
                          bool extreme) {
    const quant_type_info *info = quant_info(type);
    size_t row_bytes = quant_row_size(type, cols);
    if (type == QT_F32 || type == QT_F16 || type == QT_BF16) {
        float *row = malloc((size_t)cols * sizeof *row);
        for (int64_t i = 0; i < rows; i++) {
            for (int64_t c = 0; c < cols; c++) row[c] = (float)next_int(r, -64, 64) / 16;
            quant_quantize_row(type, row, data + (size_t)i * row_bytes, cols);
        }
        free(row);
        return;
    }
    /* extreme: every code at its largest (Q8_0: -128), where 16-bit pair sums would overflow */
    for (size_t i = 0; i < row_bytes * (size_t)rows; i++)
        data[i] = extreme ? (type == QT_Q8_0 ? 0x80 : 0xFF) : (uint8_t)next_u32(r);
    for (int64_t b = 0; b < rows * cols / info->block_size; b++) {
        uint8_t *blk = data + (size_t)b * info->type_size;
        switch (type) {
        case QT_Q4_0:
        case QT_Q5_0:
        case QT_Q8_0:
            put_half(blk, 0.25f);
            break;
        case QT_Q4_1:
        case QT_Q5_1:
            put_half(blk, 0.25f);
            put_half(blk + 2, -2.0f);
            break;
        case QT_Q4_K:
        case QT_Q5_K: {
            put_half(blk, 1.0f / 16);
            put_half(blk + 2, 1.0f / 32);
            for (int k = 0; k < 12; k++) blk[4 + k] &= 0x0F; /* scales and mins up to 15 */
            break;
        }
        case QT_Q6_K: {
            block_q6_K *q = (block_q6_K *)blk;
            for (int k = 0; k < 16; k++)
                q->scales[k] = (int8_t)(extreme ? 15 : next_int(r, -15, 15));
            put_half(&q->d, 1.0f / 16);
            break;
        }
        case QT_Q2_K:
            put_half(&((block_q2_K *)blk)->d, 1.0f / 16);
            put_half(&((block_q2_K *)blk)->dmin, 1.0f / 32);
            break;
        case QT_Q3_K:
            put_half(&((block_q3_K *)blk)->d, 1.0f / 16);
            break;
        default:
            break;
        }
    }
}

/* Activations that quantize exactly: multiples of 1/64 up to 127/64, each
 * 32-weight block holding one value of the largest magnitude. */
static void exact_activations(float *x, int64_t cols, rng *r, bool extreme) {
    if (extreme) { /* every code 127 */
        for (int64_t c = 0; c < cols; c++) x[c] = 127.0f / 64;
        return;
    }
    for (int64_t c = 0; c < cols; c++) x[c] = (float)next_int(r, -127, 127) / 64;
    for (int64_t b = 0; b < cols / 32; b++)
        x[32 * b + next_int(r, 0, 31)] = next_int(r, 0, 1) ? 127.0f / 64 : -127.0f / 64;
}

static void random_weights(enum quant_type type, uint8_t *data, int64_t rows, int64_t cols,
                           rng *r) {
    size_t row_bytes = quant_row_size(type, cols);
    float *row = malloc((size_t)cols * sizeof *row);
    for (int64_t i = 0; i < rows; i++) {
        for (int64_t c = 0; c < cols; c++) row[c] = next_float(r) * 0.05f;
        quant_quantize_row(type, row, data + (size_t)i * row_bytes, cols);
    }
    free(row);
}

/* ---- the comparison ---- */

typedef struct product {
    kernels_matrix w;
    float x[MAX_TOK * LONG_ROW];
    float y[MAX_TOK * 128];
    float want[MAX_TOK * 128];
    float magnitude[MAX_TOK * 128]; /* sum of |w_i * a_i| */
} product;

/* The reference: one quant_vec_dot_ref per output, and the magnitudes. */
static void reference(product *p, int n_tok) {
    const kernels_matrix *w = &p->w;
    enum quant_type at = quant_info(w->type)->vec_dot_type;
    size_t act_bytes = quant_row_size(at, w->cols);
    uint8_t *act = malloc(act_bytes);
    float *a = malloc((size_t)w->cols * sizeof *a), *wr = malloc((size_t)w->cols * sizeof *wr);
    for (int t = 0; t < n_tok; t++) {
        quant_quantize_row(at, p->x + t * w->cols, act, w->cols);
        quant_dequantize_row(at, act, a, w->cols);
        for (int64_t r = 0; r < w->rows; r++) {
            const uint8_t *row = (const uint8_t *)w->data + r * w->row_bytes;
            p->want[t * w->rows + r] = quant_vec_dot_ref(w->type, row, act, w->cols);
            quant_dequantize_row(w->type, row, wr, w->cols);
            double m = 0;
            for (int64_t c = 0; c < w->cols; c++) m += fabs((double)wr[c] * a[c]);
            p->magnitude[t * w->rows + r] = (float)m;
        }
    }
    free(act);
    free(a);
    free(wr);
}

/* Runs kernels_matmul and compares; rel 0 asks for identical results. */
static void compare(threadpool *pool, product *p, int n_tok, double rel, const char *what) {
    const kernels_matrix *w = &p->w;
    void *scratch = lm_alloc_aligned(kernels_scratch_bytes(w, n_tok));
    memset(p->y, 0xff, sizeof p->y); /* NaNs: an output not written fails */
    kernels_matmul(pool, w, p->x, n_tok, p->y, scratch);
    lm_free_aligned(scratch);
    int bad = 0;
    for (int i = 0; i < n_tok * w->rows; i++) {
        double diff = fabs((double)p->y[i] - p->want[i]);
        if (!(diff <= rel * p->magnitude[i]) && bad++ < 3)
            CHECK_MSG(false, "%s %s %s, %d tokens: y[%d][%d] = %.9g, reference %.9g",
                      kernels_backend(), quant_info(w->type)->name, what, n_tok, i / (int)w->rows,
                      i % (int)w->rows, p->y[i], p->want[i]);
    }
}

static const enum quant_type all_types[] = {QT_F32,  QT_F16,  QT_BF16, QT_Q4_0, QT_Q4_1,
                                            QT_Q5_0, QT_Q5_1, QT_Q8_0, QT_Q2_K, QT_Q3_K,
                                            QT_Q4_K, QT_Q5_K, QT_Q6_K};

/* Row lengths: a partial last group of four blocks (or only one), floats not
 * a multiple of 16, and long rows. 85 rows: a partial last panel and chunk,
 * and a partial last group of the rows read together. */
static int test_shapes(enum quant_type t, int64_t cols[3]) {
    if (quant_info(t)->block_size == QK_K) return cols[0] = 5 * QK_K, cols[1] = 33 * QK_K, 2;
    if (quant_info(t)->block_size == 32)
        return cols[0] = 35 * 32, cols[1] = 2 * 32, cols[2] = 263 * 32, 3;
    return cols[0] = 1000, cols[1] = 24, cols[2] = LONG_ROW - 7, 3;
}

/* The same product with w's rows repacked (KERNELS_SPLIT), into new memory
 * or in place in a copy; w is as before afterwards. */
static void check_split(threadpool *pool, product *p, bool in_place, double rel) {
    const kernels_matrix kept = p->w;
    const size_t bytes = kept.row_bytes * (size_t)kept.rows;
    uint8_t *copy = in_place ? lm_alloc_aligned(bytes) : NULL;
    if (copy) p->w.data = memcpy(copy, kept.data, bytes);
    if (kernels_repack(&p->w, pool, in_place ? KERNELS_REPACK_IN_PLACE : 0)) {
        CHECK(p->w.layout == KERNELS_SPLIT);
        uint8_t *row = lm_alloc_aligned(kept.row_bytes);
        for (int64_t r = 0; r < kept.rows; r += 7) /* the stored rows come back */
            CHECK(memcmp(kernels_row(&p->w, r, row),
                         (const uint8_t *)kept.data + (size_t)r * kept.row_bytes,
                         kept.row_bytes) == 0);
        lm_free_aligned(row);
        const int n_toks[] = {1, 2, 9, MAX_TOK};
        for (size_t k = 0; k < sizeof n_toks / sizeof *n_toks; k++)
            compare(pool, p, n_toks[k], rel, in_place ? "split in place" : "split rows");
        kernels_release(&p->w);
    } else
        CHECK(kept.type != QT_Q4_0 && kept.type != QT_Q8_0);
    lm_free_aligned(copy);
    p->w = kept;
}

static void check_backend(const char *name) {
    if (kernels_set_backend(name) != 0) {
        test_skip("this CPU lacks the instruction set");
        return;
    }
    threadpool *pool = threadpool_create(2);
    product *p = malloc(sizeof *p);
    rng r = {42};
    /* 1, 2: one token at a time; then panels, with every tile size of both
     * instruction sets (8 4 2 1 and 6 4 2 1 tokens, taken largest first) */
    const int n_toks[] = {1, 2, 7, 9, 10, MAX_TOK};
    for (size_t ti = 0; ti < sizeof all_types / sizeof *all_types; ti++) {
        enum quant_type type = all_types[ti];
        int64_t shapes[3];
        int n_shapes = test_shapes(type, shapes);
        for (int run = 0; run < 3 * n_shapes; run++) {
            const bool exact = run % 3 != 1, extreme = run % 3 == 2;
            const int64_t cols = shapes[run / 3], rows = 85;
            size_t row_bytes = quant_row_size(type, cols);
            uint8_t *data = lm_alloc_aligned(row_bytes * (size_t)rows);
            p->w = (kernels_matrix){
                .data = data, .type = type, .cols = cols, .rows = rows, .row_bytes = row_bytes};
            if (exact)
                exact_weights(type, data, rows, cols, &r, extreme);
            else
                random_weights(type, data, rows, cols, &r);
            for (int t = 0; t < MAX_TOK; t++) {
                if (exact)
                    exact_activations(p->x + t * cols, cols, &r, extreme);
                else
                    for (int64_t c = 0; c < cols; c++) p->x[t * cols + c] = next_float(&r);
            }
            reference(p, MAX_TOK);
            for (size_t k = 0; k < sizeof n_toks / sizeof *n_toks; k++)
                compare(pool, p, n_toks[k], exact ? 0.0 : 1e-5,
                        extreme ? "extreme data"
                        : exact ? "exact data"
                                : "random data");
            check_split(pool, p, run % 2 == 0, exact ? 0.0 : 1e-5);
            lm_free_aligned(data);
        }
    }
    free(p);
    threadpool_free(pool);
    kernels_set_backend(NULL);
}

TEST(kernels_scalar_matches_reference) {
    check_backend("scalar");
}
TEST(kernels_avx2_matches_reference) {
    check_backend("avx2");
}
TEST(kernels_avx512_matches_reference) {
    check_backend("avx512");
}

/* kernels_matvec_batch: each token's row of y is bit for bit the row that
 * token gets alone, for 1..8 tokens (the generation kernels take tokens in
 * groups: every group size and every remainder), every weight type, both
 * row layouts, short and long rows (long ones are read several rows at a
 * time, fewer per group of tokens) and a row count that is a multiple of
 * none of the group sizes. Random data, so that a different order of the
 * float operations shows. */
#define BATCH_TOK 8
static void check_batch_bits(const char *name) {
    if (kernels_set_backend(name) != 0) {
        test_skip("this CPU lacks the instruction set");
        return;
    }
    threadpool *pool = threadpool_create(2);
    rng r = {1234};
    const int64_t rows = 77;
    for (size_t ti = 0; ti < sizeof all_types / sizeof *all_types; ti++) {
        const enum quant_type type = all_types[ti];
        int64_t shapes[4];
        int n_shapes = test_shapes(type, shapes);
        /* split rows past 2048 blocks (AVX-512's other path; the portable
         * kernel has one path only, and is slow) */
        if (quant_info(type)->block_size == 32 && strcmp(name, "scalar") != 0)
            shapes[n_shapes++] = 2050 * 32;
        for (int sh = 0; sh < n_shapes; sh++) {
            const int64_t cols = shapes[sh];
            const size_t row_bytes = quant_row_size(type, cols);
            uint8_t *data = lm_alloc_aligned(row_bytes * (size_t)rows);
            random_weights(type, data, rows, cols, &r);
            float *x = malloc((size_t)BATCH_TOK * cols * sizeof *x);
            for (int64_t i = 0; i < BATCH_TOK * cols; i++) x[i] = next_float(&r);
            float *alone = malloc((size_t)BATCH_TOK * rows * sizeof *alone);
            float *y = malloc((size_t)BATCH_TOK * rows * sizeof *y);
            for (int layout = 0; layout < 2; layout++) {
                kernels_matrix w = {
                    .data = data, .type = type, .cols = cols, .rows = rows, .row_bytes = row_bytes};
                if (layout == 1 && !kernels_repack(&w, NULL, 0)) continue;
                void *scratch = lm_alloc_aligned(kernels_scratch_bytes(&w, BATCH_TOK));
                for (int t = 0; t < BATCH_TOK; t++)
                    kernels_matvec_batch(pool, &w, x + t * cols, 1, alone + t * rows, scratch);
                for (int n = 1; n <= BATCH_TOK; n++) {
                    memset(y, 0xff, (size_t)BATCH_TOK * rows * sizeof *y);
                    kernels_matvec_batch(pool, &w, x, n, y, scratch);
                    for (int t = 0; t < n; t++) {
                        const float *a = alone + t * rows, *b = y + t * rows;
                        int64_t k = 0;
                        while (k < rows && !memcmp(&a[k], &b[k], sizeof *a)) k++;
                        CHECK_MSG(k == rows,
                                  "%s %s %s %lld cols, %d tokens: token %d row %lld = %.9g, "
                                  "alone %.9g",
                                  name, quant_info(type)->name, layout ? "split" : "rows",
                                  (long long)cols, n, t, (long long)k, b[k < rows ? k : 0],
                                  a[k < rows ? k : 0]);
                    }
                }
                lm_free_aligned(scratch);
                kernels_release(&w);
            }
            free(x);
            free(alone);
            free(y);
            lm_free_aligned(data);
        }
    }
    threadpool_free(pool);
    kernels_set_backend(NULL);
}

TEST(kernels_scalar_batch_bits) {
    check_batch_bits("scalar");
}
TEST(kernels_avx2_batch_bits) {
    check_batch_bits("avx2");
}
TEST(kernels_avx512_batch_bits) {
    check_batch_bits("avx512");
}

/* The AMX tiles compute the same integer sums as AVX-512's VNNI panels and
 * finish each block with the same float operations, so a batch's y is bit
 * for bit the same: 16-token groups through the tiles, the rest through
 * the panels' own tiles, partial panels and chunks, both row layouts. */
static void amx_product(const char *name, threadpool *pool, const kernels_matrix *w, const float *x,
                        int n, float *y) {
    CHECK(kernels_set_backend(name) == 0);
    void *scratch = lm_alloc_aligned(kernels_scratch_bytes(w, n));
    memset(y, 0xff, (size_t)n * w->rows * sizeof *y);
    kernels_matmul(pool, w, x, n, y, scratch);
    lm_free_aligned(scratch);
}

TEST(kernels_amx_matches_avx512_bits) {
    if (kernels_set_backend("amx") != 0) {
        test_skip("this CPU (or its kernel) lacks AMX");
        return;
    }
    threadpool *pool = threadpool_create(3);
    rng r = {99};
    const enum quant_type types[] = {QT_Q4_0, QT_Q4_1, QT_Q5_0, QT_Q5_1, QT_Q8_0};
    const int64_t rows = 85, shapes[] = {35 * 32, 2 * 32, 263 * 32};
    const int n_toks[] = {16, 21, 47};
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++)
        for (size_t sh = 0; sh < sizeof shapes / sizeof *shapes; sh++) {
            const int64_t cols = shapes[sh];
            const size_t row_bytes = quant_row_size(types[ti], cols);
            uint8_t *data = lm_alloc_aligned(row_bytes * (size_t)rows);
            random_weights(types[ti], data, rows, cols, &r);
            float *x = malloc((size_t)47 * cols * sizeof *x);
            for (int64_t i = 0; i < 47 * cols; i++) x[i] = next_float(&r);
            float *want = malloc((size_t)47 * rows * sizeof *want);
            float *got = malloc((size_t)47 * rows * sizeof *got);
            for (int layout = 0; layout < 2; layout++) {
                kernels_matrix w = {.data = data,
                                    .type = types[ti],
                                    .cols = cols,
                                    .rows = rows,
                                    .row_bytes = row_bytes};
                if (layout == 1 && !kernels_repack(&w, NULL, 0)) continue;
                for (size_t k = 0; k < sizeof n_toks / sizeof *n_toks; k++) {
                    const int n = n_toks[k];
                    amx_product("avx512", pool, &w, x, n, want);
                    amx_product("amx", pool, &w, x, n, got);
                    int64_t i = 0;
                    while (i < n * rows && !memcmp(&want[i], &got[i], sizeof *got)) i++;
                    CHECK_MSG(i == n * rows,
                              "amx %s %s %lld cols, %d tokens: y[%lld][%lld] = %.9g, avx512 %.9g",
                              quant_info(types[ti])->name, layout ? "split" : "rows",
                              (long long)cols, n, (long long)(i / rows), (long long)(i % rows),
                              got[i < n * rows ? i : 0], want[i < n * rows ? i : 0]);
                }
                kernels_release(&w);
            }
            free(x);
            free(want);
            free(got);
            lm_free_aligned(data);
        }
    threadpool_free(pool);
    kernels_set_backend(NULL);
}

TEST(kernels_backend_names) {
    CHECK(kernels_set_backend("scalar") == 0);
    CHECK_EQ_STR(kernels_backend(), "scalar");
    CHECK(kernels_set_backend("no-such-isa") != 0);
    kernels_set_backend(NULL);
    const char *b = kernels_backend();
    CHECK(!strcmp(b, "scalar") || !strcmp(b, "avx2") || !strcmp(b, "avx512") || !strcmp(b, "amx"));
}

/* kernels_attend against the portable version, at head sizes below, at and
 * above the 128 floats the SIMD versions hold in registers. */
static void check_attend(const char *name) {
    if (kernels_set_backend(name) != 0) {
        test_skip("this CPU lacks the instruction set");
        return;
    }
    rng r = {7};
    enum { N = 37, STRIDE = 256 };
    static float q[STRIDE], k[N * STRIDE], v[N * STRIDE], scores[N], want[STRIDE], got[STRIDE];
    for (int i = 0; i < STRIDE; i++) q[i] = next_float(&r);
    for (int i = 0; i < N * STRIDE; i++) k[i] = next_float(&r), v[i] = next_float(&r);
    const int dims[] = {96, 80, 200};
    for (int di = 0; di < 3; di++) {
        for (int n = 1; n <= N; n += 12) {
            kernels_set_backend("scalar");
            kernels_attend(q, k, v, STRIDE, n, dims[di], 0.1f, scores, want);
            kernels_set_backend(name);
            memset(got, 0xff, sizeof got);
            kernels_attend(q, k, v, STRIDE, n, dims[di], 0.1f, scores, got);
            for (int d = 0; d < dims[di]; d++)
                CHECK_MSG(fabsf(got[d] - want[d]) <= 1e-5f,
                          "%s attend dim %d n %d: out[%d] = %.9g, reference %.9g", name, dims[di],
                          n, d, got[d], want[d]);
        }
    }
    kernels_set_backend(NULL);
}

TEST(kernels_avx2_attend) {
    check_attend("avx2");
}
TEST(kernels_avx512_attend) {
    check_attend("avx512");
}

/* The SIMD activation converters give the portable converter's bytes, for
 * ordinary rows and for rows with rounding ties, zero blocks and blocks whose
 * largest magnitude appears with both signs. */
static void check_convert(const char *name, const kernels_ops *o) {
    if (kernels_set_backend(name) != 0 || !o) {
        test_skip("this CPU lacks the instruction set");
        return;
    }
    kernels_set_backend(NULL);
    rng r = {99};
    enum { COLS = 5 * QK_K + 3 * 32 }; /* a partial last group of four blocks */
    static float x[COLS];
    static uint8_t want[64 * 1024], got[64 * 1024];
    const enum quant_type wtypes[] = {QT_Q4_0, QT_Q4_1, QT_Q5_0, QT_Q8_0,
                                      QT_Q4_K, QT_Q6_K, QT_F16,  QT_BF16};
    for (int kind = 0; kind < 4; kind++) {
        for (int i = 0; i < COLS; i++) x[i] = next_float(&r) * 3;
        if (kind == 1) /* ties: the block's scale is 1, and values end in .5 */
            for (int i = 0; i < COLS; i++)
                x[i] = i % 32 == 0 ? 127.0f : (float)next_int(&r, -250, 250) / 2;
        if (kind == 2) /* zero blocks and both signs of the largest magnitude */
            for (int i = 0; i < COLS; i++)
                x[i] = (i / 32) % 3 == 0 ? 0.0f
                       : i % 7 == 0      ? ((i / 7) % 2 ? 2.0f : -2.0f)
                                         : x[i] / 4;
        if (kind == 3) /* tiny and huge values */
            for (int i = 0; i < COLS; i++)
                x[i] = x[i] * (i % 5 == 0 ? 1e-30f : i % 11 == 0 ? 1e30f : 1.0f);
        for (size_t k = 0; k < sizeof wtypes / sizeof *wtypes; k++) {
            enum quant_type t = wtypes[k];
            const int64_t cols = quant_info(t)->block_size == QK_K ? 5 * QK_K : COLS;
            enum kernels_act act = t == QT_F16                         ? ACT_F16R
                                   : t == QT_BF16                      ? ACT_BF16R
                                   : quant_info(t)->block_size == QK_K ? ACT_Q8K
                                                                       : ACT_Q8X4;
            size_t bytes = kernels_act_row_bytes(act, t, cols);
            memset(want, 0xAA, bytes);
            memset(got, 0x55, bytes);
            kernels_convert_row(act, t, x, cols, want);
            CHECK_MSG(o->convert[act], "%s has no converter for %s", name, quant_info(t)->name);
            if (!o->convert[act]) continue;
            o->convert[act](act, t, x, cols, got);
            size_t at = 0;
            while (at < bytes && want[at] == got[at]) at++;
            CHECK_MSG(at == bytes, "%s converter for %s, data %d: byte %zu differs (%u, want %u)",
                      name, quant_info(t)->name, kind, at, at < bytes ? got[at] : 0,
                      at < bytes ? want[at] : 0);
        }
    }
}

TEST(kernels_avx2_convert) {
    check_convert("avx2", kernels_avx2_ops());
}
TEST(kernels_avx512_convert) {
    check_convert("avx512", kernels_avx512_ops());
}

/* ---- the pool ---- */

typedef struct slot_count {
    atomic_int runs[8];
    atomic_int total;
} slot_count;

static void count_slot(void *arg, int ith, int nth) {
    slot_count *c = arg;
    if (nth > 8 || ith < 0 || ith >= nth) return;
    atomic_fetch_add(&c->runs[ith], 1);
    atomic_fetch_add(&c->total, 1);
}

TEST(threadpool_runs_every_slot_once) {
    for (int n = 1; n <= 4; n++) {
        threadpool *pool = threadpool_create(n);
        CHECK(pool != NULL);
        for (int rep = 0; rep < 2000; rep++) {
            slot_count c = {0};
            threadpool_run(pool, count_slot, &c);
            CHECK_EQ_INT(atomic_load(&c.total), n);
            for (int i = 0; i < n; i++) CHECK_EQ_INT(atomic_load(&c.runs[i]), 1);
            if (rep == 1000) usleep(2000); /* let the workers fall asleep once */
        }
        threadpool_free(pool);
    }
}

TEST(kernels_weight_memory) {
    const size_t sizes[] = {1, 4096, (size_t)3 << 20, ((size_t)5 << 20) + 17};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        uint8_t *p = kernels_alloc_weights(sizes[i]);
        CHECK(p != NULL);
        if (!p) continue;
        CHECK(((uintptr_t)p & (((uintptr_t)2 << 20) - 1)) == 0);
        memset(p, 0x5a, sizes[i]);
        CHECK(p[sizes[i] - 1] == 0x5a);
        kernels_free_weights(p, sizes[i]);
    }
    CHECK(kernels_alloc_weights(0) == NULL);
    kernels_free_weights(NULL, 0);
}

/* ---- speed (only when LMTERM_KBENCH is set) ----
 * Not a test: a measurement of the generation kernels on the shapes of a
 * phi3-mini layer, over a working set far larger than the caches, at each
 * thread count in LMTERM_KBENCH ("1,4,8,16"), with the read bandwidth of the
 * same buffer beside it (their ratio is what generation can gain). Also: the
 * same kernels over a set that stays in the L2 cache (what the instruction
 * mix alone allows), small 4 KiB pages (TLB), prefetch distances
 * (LMTERM_KBENCH_PF, "0,1024"), prompt batches (LMTERM_KBENCH_PP tokens) and
 * sequences decoded together (LMTERM_KBENCH_BATCH, "1,2,4,8"). */

typedef struct bench_set {
    kernels_matrix m[4 * 64];
    int n;
    uint8_t *mem;
    size_t bytes;
} bench_set;

/* Matrices of one layer: qkv, o, gate+up, down (columns, rows). */
static const int64_t layer_shape[4][2] = {{3072, 9216}, {3072, 3072}, {3072, 16384}, {8192, 3072}};

static size_t layer_bytes(enum quant_type t) {
    size_t b = 0;
    for (int i = 0; i < 4; i++) b += quant_row_size(t, layer_shape[i][0]) * layer_shape[i][1];
    return b;
}

/* n_layers layers of random rows (8 distinct ones repeated), in 2 MiB pages
 * or, small, in 4 KiB ones. */
static bool bench_set_make(bench_set *s, enum quant_type t, int n_layers, bool small) {
    memset(s, 0, sizeof *s);
    s->bytes = layer_bytes(t) * (size_t)n_layers;
    if (small) {
        s->mem = mmap(NULL, s->bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (s->mem == MAP_FAILED) return false;
        madvise(s->mem, s->bytes, MADV_NOHUGEPAGE);
    } else if (!(s->mem = kernels_alloc_weights(s->bytes)))
        return false;
    rng r = {7};
    uint8_t *p = s->mem;
    for (int l = 0; l < n_layers; l++)
        for (int i = 0; i < 4; i++) {
            const int64_t cols = layer_shape[i][0], rows = layer_shape[i][1];
            const size_t rb = quant_row_size(t, cols);
            if (l == 0)
                random_weights(t, p, 8, cols, &r);
            else
                memcpy(p, s->m[i].data, 8 * rb);
            for (int64_t k = 8; k < rows; k += 8)
                memcpy(p + k * rb, p, (size_t)(rows - k < 8 ? rows - k : 8) * rb);
            s->m[s->n++] =
                (kernels_matrix){.data = p, .type = t, .cols = cols, .rows = rows, .row_bytes = rb};
            p += rb * rows;
        }
    return true;
}

static void bench_set_free(bench_set *s, bool small) {
    if (small)
        munmap(s->mem, s->bytes);
    else
        kernels_free_weights(s->mem, s->bytes);
}

/* Seconds for one pass over the set's first n matrices, the best of reps. */
static double bench_pass(threadpool *pool, const bench_set *s, int n, int n_tok, const float *x,
                         float *y, void *scratch, int reps) {
    double best = 1e30;
    for (int rep = 0; rep < reps; rep++) {
        double t0 = lm_now();
        for (int i = 0; i < n; i++)
            if (n_tok < 0) /* -n: n sequences decoded together */
                kernels_matvec_batch(pool, &s->m[i], x, -n_tok, y, scratch);
            else
                kernels_matmul(pool, &s->m[i], x, n_tok, y, scratch);
        double dt = lm_now() - t0;
        if (dt < best) best = dt;
    }
    return best;
}

#define PF_DEFAULT INT32_MIN /* the prefetch distance kernels.c chose */

static int parse_list(const char *s, int *v, int max) {
    int n = 0;
    while (s && *s && n < max) {
        v[n++] = atoi(s);
        s = strchr(s, ',');
        if (s) s++;
    }
    return n;
}

static void bench_type(enum quant_type t, const int *threads, int n_threads, const int *pf,
                       int n_pf, int pp) {
    const double mb = getenv("LMTERM_KBENCH_MB") ? atof(getenv("LMTERM_KBENCH_MB")) : 1024;
    int n_layers = (int)(mb * 1048576 / (double)layer_bytes(t));
    if (n_layers < 1) n_layers = 1;
    if (n_layers > 64) n_layers = 64;
    int batch[8];
    const int n_batch = parse_list(getenv("LMTERM_KBENCH_BATCH"), batch, 8);
    int tok = pp > 1 ? pp : 1;
    for (int i = 0; i < n_batch; i++)
        if (batch[i] > tok) tok = batch[i];
    float *x = lm_alloc_aligned((size_t)tok * 8192 * sizeof *x);
    float *y = lm_alloc_aligned((size_t)tok * 16384 * sizeof *y);
    rng r = {3};
    for (int i = 0; i < tok * 8192; i++) x[i] = next_float(&r);
    bench_set s;
    size_t scratch_bytes = 0;
    for (int i = 0; i < 4; i++) {
        kernels_matrix w = {.type = t, .cols = layer_shape[i][0], .rows = layer_shape[i][1]};
        size_t b = kernels_scratch_bytes(&w, tok);
        if (b > scratch_bytes) scratch_bytes = b;
    }
    void *scratch = lm_alloc_aligned(scratch_bytes);
    const char *name = quant_info(t)->name;
    const char *modes = getenv("LMTERM_KBENCH_MODES"); /* default: all four */
    const char *mode_names[4] = {"2m-rows", "2m-split", "4k-rows", "4k-split"};
    int multi[4] = {kernels_gemv_multi_cols};
    int n_multi = parse_list(getenv("LMTERM_KBENCH_MULTI"), multi, 4);
    if (n_multi == 0 || (t != QT_Q4_0 && t != QT_Q8_0)) n_multi = 1;
    const int multi_kept = kernels_gemv_multi_cols;
    for (int mode = 0; mode < 4; mode++) {
        const bool small = mode >= 2, split = mode % 2;
        if (split && t != QT_Q4_0 && t != QT_Q8_0) continue;
        if (modes && !strstr(modes, mode_names[mode])) continue;
        if (!bench_set_make(&s, t, n_layers, small)) {
            printf("kbench %s: no memory\n", name);
            break;
        }
        for (int i = 0; split && i < s.n; i++)
            kernels_repack(&s.m[i], NULL, KERNELS_REPACK_IN_PLACE);
        for (int ti = 0; ti < n_threads; ti++) {
            if (small && ti > 0) break;
            threadpool *pool = threadpool_create(threads[ti]);
            const double bw = kernels_read_bandwidth(pool, s.mem, s.bytes, 3);
            for (int p = 0; p < n_pf * n_multi; p++) {
                if (small && p > 0) break;
                if (pf[p % n_pf] != PF_DEFAULT) {
                    kernels_gemv_prefetch = abs(pf[p % n_pf]); /* negative: into L2 */
                    kernels_gemv_prefetch_l2 = pf[p % n_pf] < 0;
                }
                kernels_gemv_multi_cols = n_multi > 1 ? multi[p / n_pf] : multi_kept;
                bench_pass(pool, &s, s.n, 1, x, y, scratch, 1);
                const double g = (double)s.bytes / bench_pass(pool, &s, s.n, 1, x, y, scratch, 3);
                printf("kbench %-5s %s %s %s %2d thr pf %5d multi %5d: gemv %6.2f GB/s, read %6.2f "
                       "GB/s, %3.0f%%\n",
                       name, kernels_backend(), small ? "4K" : "2M", split ? "split" : "rows ",
                       threads[ti], kernels_gemv_prefetch * (kernels_gemv_prefetch_l2 ? -1 : 1),
                       kernels_gemv_multi_cols, g / 1e9, bw / 1e9, 100 * g / bw);
            }
            kernels_gemv_multi_cols = multi_kept;
            if (!small && ti == 0) { /* in cache: the first layer's o matrix, again and again */
                kernels_matrix o = s.m[1];
                bench_set one = {.n = 1, .bytes = o.row_bytes * o.rows};
                one.m[0] = o;
                bench_pass(pool, &one, 1, 1, x, y, scratch, 1);
                double g = (double)one.bytes / bench_pass(pool, &one, 1, 1, x, y, scratch, 50);
                printf("kbench %-5s %s %s in cache (%zu KiB), 1 thr: gemv %6.2f GB/s\n", name,
                       kernels_backend(), split ? "split" : "rows ", one.bytes >> 10, g / 1e9);
            }
            for (int b = 0; !small && b < n_batch; b++) { /* sequences decoded together */
                bench_pass(pool, &s, s.n, -batch[b], x, y, scratch, 1);
                const double dt = bench_pass(pool, &s, s.n, -batch[b], x, y, scratch, 3);
                printf("kbench %-5s %s %s batch %d seq, %2d thr: %7.2f ms a pass, %6.2f GB/s\n",
                       name, kernels_backend(), split ? "split" : "rows ", batch[b], threads[ti],
                       dt * 1e3, (double)s.bytes / dt / 1e9);
            }
            if (!small && pp > 1) {
                const int nm = s.n < 4 ? s.n : 4;
                double params = 0;
                for (int i = 0; i < nm; i++) params += (double)s.m[i].cols * s.m[i].rows;
                bench_pass(pool, &s, nm, pp, x, y, scratch, 1);
                double dt = bench_pass(pool, &s, nm, pp, x, y, scratch, 2);
                printf("kbench %-5s %s %s prompt %d tok, %2d thr: %7.1f GOP/s\n", name,
                       kernels_backend(), split ? "split" : "rows ", pp, threads[ti],
                       2 * params * pp / dt / 1e9);
            }
            threadpool_free(pool);
        }
        bench_set_free(&s, small);
    }
    kernels_set_backend(kernels_backend()); /* the prefetch settings chosen again */
    lm_free_aligned(scratch);
    lm_free_aligned(x);
    lm_free_aligned(y);
}

TEST(kernels_speed) {
    const char *env = getenv("LMTERM_KBENCH");
    if (!env) {
        test_skip("LMTERM_KBENCH not set");
        return;
    }
    int threads[16], pf[8] = {0};
    const int nt = parse_list(env, threads, 16);
    int npf = parse_list(getenv("LMTERM_KBENCH_PF"), pf, 8);
    if (npf == 0) pf[npf++] = PF_DEFAULT;
    const int pp = getenv("LMTERM_KBENCH_PP") ? atoi(getenv("LMTERM_KBENCH_PP")) : 0;
    const char *types = getenv("LMTERM_KBENCH_TYPES");
    const char *backends = getenv("LMTERM_KBENCH_BACKENDS");
    const enum quant_type all[] = {QT_Q4_0, QT_Q8_0, QT_Q4_K, QT_Q6_K};
    const char *names[] = {"avx512", "avx2"};
    for (int b = 0; b < 2; b++) {
        if (backends ? !strstr(backends, names[b]) : b > 0) continue;
        if (kernels_set_backend(names[b]) != 0) continue;
        for (size_t i = 0; i < sizeof all / sizeof *all; i++)
            if (!types || strstr(types, quant_info(all[i])->name))
                bench_type(all[i], threads, nt, pf, npf, pp);
    }
    kernels_set_backend(NULL);
}

/* Split rows longer than the AVX-512 kernel's 2048 blocks, where it takes
 * the scales one group at a time, and the STREAM-style read. */
TEST(kernels_split_long_rows) {
    const int64_t cols = 2050 * 32, rows = 3;
    const enum quant_type types[] = {QT_Q4_0, QT_Q8_0};
    threadpool *pool = threadpool_create(2);
    float *x = malloc((size_t)cols * sizeof *x), y[3];
    rng r = {9};
    for (int64_t c = 0; c < cols; c++) x[c] = next_float(&r);
    for (int ti = 0; ti < 2; ti++) {
        const size_t rb = quant_row_size(types[ti], cols);
        uint8_t *data = lm_alloc_aligned(rb * rows), *act = malloc(rb * 2);
        random_weights(types[ti], data, rows, cols, &r);
        kernels_matrix w = {
            .data = data, .type = types[ti], .cols = cols, .rows = rows, .row_bytes = rb};
        float want[3];
        quant_quantize_row(QT_Q8_0, x, act, cols);
        for (int k = 0; k < rows; k++)
            want[k] = quant_vec_dot_ref(types[ti], data + k * rb, act, cols);
        CHECK(kernels_repack(&w, pool, 0) == 1);
        void *scratch = lm_alloc_aligned(kernels_scratch_bytes(&w, 1));
        kernels_matmul(pool, &w, x, 1, y, scratch);
        for (int k = 0; k < rows; k++) CHECK_NEAR(y[k], want[k], 1e-4 * (fabs(want[k]) + 1));
        kernels_release(&w);
        lm_free_aligned(scratch);
        lm_free_aligned(data);
        free(act);
    }
    const size_t bytes = (size_t)8 << 20;
    uint8_t *buf = lm_alloc_aligned(bytes);
    memset(buf, 1, bytes);
    CHECK(kernels_read_bandwidth(pool, buf, bytes, 1) > 0);
    CHECK(kernels_read_bandwidth(pool, NULL, bytes, 1) == 0);
    lm_free_aligned(buf);
    free(x);
    threadpool_free(pool);
}

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
            p->w = (kernels_matrix){data, type, cols, rows, row_bytes};
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

TEST(kernels_backend_names) {
    CHECK(kernels_set_backend("scalar") == 0);
    CHECK_EQ_STR(kernels_backend(), "scalar");
    CHECK(kernels_set_backend("no-such-isa") != 0);
    kernels_set_backend(NULL);
    const char *b = kernels_backend();
    CHECK(!strcmp(b, "scalar") || !strcmp(b, "avx2") || !strcmp(b, "avx512"));
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

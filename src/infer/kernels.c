/* kernels: see include/kernels.h. This file chooses the instruction set,
 * converts the activations, and splits the rows of each product among the
 * pool's threads; the SIMD kernels live in kernels_avx2.c and
 * kernels_avx512.c. The portable path is here too: each output is one
 * quant_vec_dot_ref, the arithmetic llama.cpp's generic code performs. */
#include "kernels_impl.h"
#include "util.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- choosing the instruction set ---- */

static bool cpu_has_f16c(void) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    return (c >> 29) & 1;
#else
    return false;
#endif
}

/* AMX: the CPU has tiles and int8 products (cpuid leaf 7, EDX bits 24 and
 * 25), and Linux lets this process use them: the tile data is saved on
 * context switches only for processes that ask (arch_prctl, Linux 5.16). */
static bool cpu_has_amx(void) {
#if defined(__x86_64__) && defined(__linux__)
    unsigned a, b, c, d;
    __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
    if (a < 7) return false;
    __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
    if (!((d >> 24) & 1) || !((d >> 25) & 1)) return false;
    enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#else
    return false;
#endif
}

static bool cpu_supports(const char *name) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (strcmp(name, "amx") == 0) return cpu_supports("avx512") && cpu_has_amx();
    if (strcmp(name, "avx2") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
    if (strcmp(name, "avx512") == 0)
        return cpu_supports("avx2") && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
#endif
    return strcmp(name, "scalar") == 0;
}

static const kernels_ops scalar_ops; /* defined at the end */

/* The best table this CPU runs, no better than `limit` ("amx" = any). */
static const kernels_ops *best_ops(const char *limit) {
    bool allow_amx = strcmp(limit, "amx") == 0;
    bool allow512 = allow_amx || strcmp(limit, "avx512") == 0;
    bool allow2 = allow512 || strcmp(limit, "avx2") == 0;
    if (allow_amx && kernels_amx_ops() && cpu_supports("amx")) return kernels_amx_ops();
    if (allow512 && kernels_avx512_ops() && cpu_supports("avx512")) return kernels_avx512_ops();
    if (allow2 && kernels_avx2_ops() && cpu_supports("avx2")) return kernels_avx2_ops();
    return &scalar_ops;
}

static _Atomic(const kernels_ops *) active_ops;

int kernels_gemv_prefetch;
int kernels_gemv_multi_cols = 8192;

bool kernels_gemv_prefetch_l2;

static bool cpu_is_intel(void) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
    return b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e; /* "GenuineIntel" */
#else
    return false;
#endif
}

/* Measured with kernels_speed (2 GiB of weights, beyond the caches) on a
 * 16-core Xeon with AVX-512 (Sapphire/Emerald Rapids class): software
 * prefetch into L1 4 KiB ahead made the generation kernels 1.6-1.8x faster
 * on one core (Q4_0 7.0 -> 12.8 GB/s, Q4_K 7.3 -> 11.9, Q6_K 7.4 -> 12.7,
 * the core's read bandwidth being 12.4) and 1.2-1.4x on 16 (73 -> 99 GB/s):
 * its hardware prefetchers alone keep too few lines in flight. 1 and 2 KiB
 * gained less, prefetching into L2 only less again. On the 2-core AMD Zen 4
 * machine it once measured even; measured again with the current kernels
 * (alternating, lmterm bench), it made phi3-mini generation 1.10-1.18x
 * faster on one core (Q4_0, Q4_K_M, Q8_0; llama3-8b Q8_0 1.12x) and
 * 0.99-1.32x on two, with F16 unchanged; so it is on for every CPU. */
#define GEMV_PREFETCH 4096

static void choose_prefetch(void) {
    const char *env = getenv("LMTERM_PREFETCH");
    kernels_gemv_prefetch = env ? atoi(env) : GEMV_PREFETCH;
    kernels_gemv_prefetch_l2 = false;
}

/* Makes o the table in use. The portable one sends F32 batches to OpenBLAS
 * (see blas_rows), whose threads are then our pool's slots alone. */
static const kernels_ops *activate(const kernels_ops *o) {
    if (o == &scalar_ops) openblas_set_num_threads(1);
    choose_prefetch();
    atomic_store_explicit(&active_ops, o, memory_order_release);
    return o;
}

static const kernels_ops *ops(void) {
    const kernels_ops *o = atomic_load_explicit(&active_ops, memory_order_acquire);
    if (o) return o;
    const char *env = getenv("LMTERM_KERNELS");
    bool known = env && (!strcmp(env, "scalar") || !strcmp(env, "avx2") || !strcmp(env, "avx512") ||
                         !strcmp(env, "amx"));
    /* AMX only when asked for: its tiles are checked against the VNNI panels
     * bit for bit, but not yet timed on an AMX machine. */
    return activate(best_ops(known ? env : "avx512"));
}

int kernels_set_backend(const char *name) {
    if (!name) {
        atomic_store(&active_ops, NULL); /* chosen again, from LMTERM_KERNELS or the CPU */
        return 0;
    }
    const kernels_ops *o = best_ops(name);
    if (strcmp(o->name, name) != 0) return -1;
    activate(o);
    return 0;
}

const char *kernels_backend(void) {
    return ops()->name;
}

/* ---- activations ---- */

/* The layout a type's SIMD kernels read (ACT_REF where they have none). */
static enum kernels_act simd_act(enum quant_type t) {
    switch (t) {
    case QT_F32:
        return ACT_F32;
    case QT_F16:
        return ACT_F16R;
    case QT_BF16:
        return ACT_BF16R;
    case QT_Q4_0:
    case QT_Q4_1:
    case QT_Q5_0:
    case QT_Q5_1:
    case QT_Q8_0:
        return ACT_Q8X4;
    case QT_Q2_K:
    case QT_Q3_K:
    case QT_Q4_K:
    case QT_Q5_K:
    case QT_Q6_K:
        return ACT_Q8K;
    default:
        return ACT_REF;
    }
}

int kernels_zero_point(enum quant_type wtype) {
    switch (wtype) {
    case QT_Q4_0:
        return 8;
    case QT_Q5_0:
        return 16;
    case QT_Q8_0:
        return 128;
    default:
        return 0;
    }
}

static size_t round_up_64(size_t n) {
    return (n + 63) & ~(size_t)63;
}

size_t kernels_act_row_bytes(enum kernels_act act, enum quant_type wtype, int64_t cols) {
    switch (act) {
    case ACT_REF:
        return round_up_64(quant_row_size(quant_info(wtype)->vec_dot_type, cols));
    case ACT_Q8X4:
        return (size_t)((cols / 32 + 3) / 4) * sizeof(kernels_q8x4);
    case ACT_Q8K:
        return (size_t)(cols / QK_K) * sizeof(kernels_q8k);
    case ACT_F32:
    case ACT_F16R:
    case ACT_BF16R:
        return round_up_64((size_t)cols * sizeof(float));
    }
    return 0;
}

/* Q8_0 or Q8_1 codes, four blocks to a kernels_q8x4. */
static void convert_q8x4(enum quant_type wtype, const float *x, int64_t cols, kernels_q8x4 *dst) {
    const int zero = kernels_zero_point(wtype);
    const bool with_sum = quant_info(wtype)->vec_dot_type == QT_Q8_1;
    const int64_t nb = cols / 32;
    memset(dst, 0, (size_t)((nb + 3) / 4) * sizeof *dst);
    for (int64_t b = 0; b < nb; b++) {
        kernels_q8x4 *q = dst + b / 4;
        const int k = (int)(b % 4);
        block_q8_1 blk; /* Q8_0 is Q8_1 without s */
        quant_quantize_row(QT_Q8_1, x + 32 * b, &blk, 32);
        memcpy(q->qs + 16 * k, blk.qs, 16);
        memcpy(q->qs + 64 + 16 * k, blk.qs + 16, 16);
        int sum = 0;
        for (int i = 0; i < 32; i++) sum += blk.qs[i];
        q->bias[4 * k] = -zero * sum;
        q->d[k] = quant_f16_to_f32(blk.d);
        q->s[k] = with_sum ? quant_f16_to_f32(blk.s) : 0.0f;
    }
}

static void convert_q8k(enum quant_type wtype, const float *x, int64_t cols, kernels_q8k *dst) {
    const bool reorder = wtype == QT_Q4_K || wtype == QT_Q5_K;
    for (int64_t i = 0; i < cols / QK_K; i++, dst++) {
        block_q8_K blk;
        quant_quantize_row(QT_Q8_K, x + QK_K * i, &blk, QK_K);
        for (int e = 0; e < QK_K; e++) dst->qs[reorder ? kernels_q8k_k4_pos(e) : e] = blk.qs[e];
        dst->d = blk.d;
        memcpy(dst->bsums, blk.bsums, sizeof dst->bsums);
        for (int j = 0; j < 8; j++)
            dst->bsum32[j] = (int16_t)(blk.bsums[2 * j] + blk.bsums[2 * j + 1]);
        memset(dst->pad, 0, sizeof dst->pad);
    }
}

void kernels_convert_row(enum kernels_act act, enum quant_type wtype, const float *x, int64_t cols,
                         void *dst) {
    switch (act) {
    case ACT_REF:
        quant_quantize_row(quant_info(wtype)->vec_dot_type, x, dst, cols);
        break;
    case ACT_Q8X4:
        convert_q8x4(wtype, x, cols, dst);
        break;
    case ACT_Q8K:
        convert_q8k(wtype, x, cols, dst);
        break;
    case ACT_F32:
        memcpy(dst, x, (size_t)cols * sizeof *x);
        break;
    case ACT_F16R: {
        float *f = dst;
        for (int64_t i = 0; i < cols; i++) f[i] = quant_f16_to_f32(quant_f32_to_f16(x[i]));
        break;
    }
    case ACT_BF16R: {
        float *f = dst;
        for (int64_t i = 0; i < cols; i++) f[i] = quant_bf16_to_f32(quant_f32_to_bf16(x[i]));
        break;
    }
    }
}

size_t kernels_scratch_bytes(const kernels_matrix *w, int n_tok) {
    size_t ref = kernels_act_row_bytes(ACT_REF, w->type, w->cols);
    size_t simd = kernels_act_row_bytes(simd_act(w->type), w->type, w->cols);
    return (ref > simd ? ref : simd) * (size_t)n_tok + 64;
}

/* ---- splitting a product among the threads ---- */

/* Batches of at least this many tokens go through the packed-panel kernels;
 * below it, packing costs more than it saves (measured with AVX-512 and AVX2). */
#define GEMM_MIN_TOKENS 4

/* The chunks are split into one run of consecutive chunks per slot. A slot
 * works through its own run first, so each thread streams one long stretch
 * of memory, then helps with the others' runs: a thread slowed by another
 * process does not hold the rest up. */
#define MAX_RUNS 64

typedef struct chunk_run {
    _Alignas(64) atomic_llong next; /* its own cache line: claimed often */
    int64_t end;
} chunk_run;

typedef struct matmul_task {
    kernels_job job;
    const kernels_type_fns *fns;
    kernels_gemv_fn gemv; /* fns's, for w's layout */
    const float *x;
    enum kernels_act act;
    threadpool *pool;
    bool batched;
    int n_runs;
    chunk_run runs[MAX_RUNS];
} matmul_task;

/* Splits the row chunks of the product into n runs. */
static void plan_runs(matmul_task *t, int n) {
    const int64_t chunks = (t->job.w->rows + KERNELS_CHUNK_ROWS - 1) / KERNELS_CHUNK_ROWS;
    t->n_runs = n < 1 ? 1 : n > MAX_RUNS ? MAX_RUNS : n;
    for (int i = 0; i < t->n_runs; i++) {
        atomic_init(&t->runs[i].next, chunks * i / t->n_runs);
        t->runs[i].end = chunks * (i + 1) / t->n_runs;
    }
}

/* The next chunk of rows for slot ith, or -1 when all are taken. */
static int64_t claim_chunk(matmul_task *t, int ith) {
    for (int k = 0; k < t->n_runs; k++) {
        chunk_run *run = &t->runs[(ith + k) % t->n_runs];
        if (atomic_load_explicit(&run->next, memory_order_relaxed) >= run->end) continue;
        int64_t c = atomic_fetch_add(&run->next, 1);
        if (c < run->end) return c;
    }
    return -1;
}

static void convert_activations(void *arg, int ith, int nth) {
    matmul_task *t = arg;
    const kernels_matrix *w = t->job.w;
    const kernels_convert_fn fast = ops()->convert[t->act];
    const kernels_convert_fn convert = fast ? fast : kernels_convert_row;
    for (int i = ith; i < t->job.n_tok; i += nth)
        convert(t->act, w->type, t->x + (size_t)i * w->cols, w->cols,
                (uint8_t *)t->job.act + (size_t)i * t->job.act_stride);
}

static void compute_rows(void *arg, int ith, int nth) {
    (void)nth;
    matmul_task *t = arg;
    const int64_t rows = t->job.w->rows;
    void *panel = NULL;
    if (t->batched) {
        panel = threadpool_scratch(t->pool, ith, t->fns->panel_bytes(t->job.w->cols));
        if (!panel) return; /* kernels_matmul checked that this cannot happen */
    }
    for (int64_t c; (c = claim_chunk(t, ith)) >= 0;) {
        const int64_t r0 = c * KERNELS_CHUNK_ROWS;
        const int64_t r1 = r0 + KERNELS_CHUNK_ROWS < rows ? r0 + KERNELS_CHUNK_ROWS : rows;
        if (t->batched)
            t->fns->gemm(&t->job, r0, r1, panel);
        else
            t->gemv(&t->job, r0, r1);
    }
}

/* The panel scratch of every thread, allocated before the workers start so
 * that a failure is seen here. */
static bool panels_ready(threadpool *pool, size_t bytes) {
    for (int i = 0; i < threadpool_size(pool); i++)
        if (!threadpool_scratch(pool, i, bytes)) return false;
    return true;
}

/* ---- F32 batches through OpenBLAS ----
 * The portable backend has no panel kernels of its own, so there the F32
 * batches (the prompt of an F32 model) go to OpenBLAS's sgemm, which has
 * vector kernels for every CPU it is built for. Each slot of our pool
 * multiplies its own share of the rows, with OpenBLAS held to one thread, so
 * the two never run more threads than the pool has. On AVX2 and AVX-512 our
 * panels measured 1.1-1.4x faster than OpenBLAS (512 tokens, 3072 and 8192
 * rows of 3072, two threads), so they serve there. */

typedef struct blas_task {
    const kernels_matrix *w;
    const float *x;
    int n_tok;
    float *y;
} blas_task;

static bool blas_serves(const kernels_type_fns *fns, const kernels_matrix *w, int n_tok) {
    return w->type == QT_F32 && !fns->gemm && n_tok >= GEMM_MIN_TOKENS &&
           w->row_bytes % sizeof(float) == 0 && w->rows <= INT32_MAX &&
           w->row_bytes / sizeof(float) <= INT32_MAX;
}

static void blas_rows(void *arg, int ith, int nth) {
    const blas_task *t = arg;
    const kernels_matrix *w = t->w;
    const int64_t r0 = w->rows * ith / nth, r1 = w->rows * (ith + 1) / nth;
    const blasint ld = (blasint)(w->row_bytes / sizeof(float));
    if (r1 > r0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, t->n_tok, (blasint)(r1 - r0),
                    (blasint)w->cols, 1.0f, t->x, (blasint)w->cols,
                    (const float *)w->data + r0 * ld, ld, 0.0f, t->y + r0, (blasint)w->rows);
}

/* The kernels for w's type and layout: the backend's, else the scalar ones. */
static const kernels_type_fns *type_fns(const kernels_matrix *w) {
    const kernels_type_fns *fns = &ops()->types[w->type];
    if (!fns->gemv || (w->layout == KERNELS_SPLIT && !fns->gemv_split))
        fns = &scalar_ops.types[w->type];
    return fns;
}

static kernels_gemv_fn gemv_of(const kernels_type_fns *fns, const kernels_matrix *w) {
    return w->layout == KERNELS_SPLIT && fns->gemv_split ? fns->gemv_split : fns->gemv;
}

/* Up to this many rows of activations (sequences decoded together) are
 * converted by the calling thread: a pass through the pool costs more. */
#define CONVERT_INLINE_TOKENS 8

/* Runs the product: activations converted once, then each thread claims
 * chunks of rows and runs the batch kernel (gemm) or the one-token kernel
 * (gemv) over them. */
static void run_product(threadpool *pool, const kernels_type_fns *fns, const kernels_matrix *w,
                        const float *x, int n_tok, float *y, void *scratch, bool allow_gemm) {
    matmul_task t = {.fns = fns, .gemv = gemv_of(fns, w), .x = x, .act = fns->act, .pool = pool};
    t.job = (kernels_job){.w = w,
                          .act = scratch,
                          .n_tok = n_tok,
                          .y = y,
                          .act_stride = kernels_act_row_bytes(fns->act, w->type, w->cols),
                          .zero = kernels_zero_point(w->type)};
    t.batched = allow_gemm && n_tok >= GEMM_MIN_TOKENS && fns->gemm &&
                panels_ready(pool, fns->panel_bytes(w->cols));
    plan_runs(&t, threadpool_size(pool));
    if (n_tok <= CONVERT_INLINE_TOKENS)
        convert_activations(&t, 0, 1); /* a few rows: not worth waking the workers */
    else
        threadpool_run(pool, convert_activations, &t);
    threadpool_run(pool, compute_rows, &t);
}

void kernels_matmul(threadpool *pool, const kernels_matrix *w, const float *x, int n_tok, float *y,
                    void *scratch) {
    const kernels_type_fns *fns = type_fns(w);
    if (blas_serves(fns, w, n_tok)) {
        threadpool_run(pool, blas_rows, &(blas_task){w, x, n_tok, y});
        return;
    }
    run_product(pool, fns, w, x, n_tok, y, scratch, true);
}

/* ---- weight memory ---- */

static size_t huge_round(size_t n) {
    return (n + LM_LARGE_PAGE - 1) & ~(LM_LARGE_PAGE - 1);
}

void *kernels_alloc_weights(size_t bytes) {
    if (bytes == 0 || bytes > SIZE_MAX - 2 * LM_LARGE_PAGE) return NULL;
    return lm_map_large(huge_round(bytes), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
}

void kernels_free_weights(void *p, size_t bytes) {
    if (p) munmap(p, huge_round(bytes));
}

/* ---- repacked rows (KERNELS_SPLIT) ---- */

/* Where block b's codes go in a split row of nb blocks: Q4_0's 16 bytes at
 * 16 b; Q8_0's codes 0..15 at `lo`, 16..31 at `hi`, the four blocks of a
 * group of 128 bytes first all their low halves, then their high halves (a
 * last group of n < 4 blocks likewise, in 32 n bytes). */
static void q8_split_at(int64_t b, int64_t nb, size_t *lo, size_t *hi) {
    const int64_t g = b / 4, k = b % 4, n = nb - 4 * g < 4 ? nb - 4 * g : 4;
    *lo = (size_t)(128 * g + 16 * k);
    *hi = (size_t)(128 * g + 16 * n + 16 * k);
}

static bool splits(const kernels_matrix *w) {
    return (w->type == QT_Q4_0 || w->type == QT_Q8_0) && w->cols % 32 == 0;
}

/* GGUF row src to split row dst: Q8_0's codes are made unsigned (plus 128),
 * as the AVX-512 kernels multiply them (kernels_impl.h). */
static void split_row(enum quant_type type, int64_t nb, const uint8_t *src, uint8_t *dst) {
    const size_t B = type == QT_Q4_0 ? 18 : 34;
    uint8_t *d = dst + (B - 2) * (size_t)nb;
    for (int64_t b = 0; b < nb; b++, src += B) {
        memcpy(d + 2 * b, src, 2);
        if (type == QT_Q4_0) {
            memcpy(dst + 16 * b, src + 2, 16);
            continue;
        }
        size_t lo, hi;
        q8_split_at(b, nb, &lo, &hi);
        for (int i = 0; i < 16; i++) {
            dst[lo + i] = src[2 + i] ^ 0x80;
            dst[hi + i] = src[18 + i] ^ 0x80;
        }
    }
}

/* Split row src back to the GGUF row dst. */
static void join_row(enum quant_type type, int64_t nb, const uint8_t *src, uint8_t *dst) {
    const size_t B = type == QT_Q4_0 ? 18 : 34;
    const uint8_t *d = src + (B - 2) * (size_t)nb;
    for (int64_t b = 0; b < nb; b++, dst += B) {
        memcpy(dst, d + 2 * b, 2);
        if (type == QT_Q4_0) {
            memcpy(dst + 2, src + 16 * b, 16);
            continue;
        }
        size_t lo, hi;
        q8_split_at(b, nb, &lo, &hi);
        for (int i = 0; i < 16; i++) {
            dst[2 + i] = src[lo + i] ^ 0x80;
            dst[18 + i] = src[hi + i] ^ 0x80;
        }
    }
}

const uint8_t *kernels_row(const kernels_matrix *w, int64_t r, uint8_t *tmp) {
    const uint8_t *row = (const uint8_t *)w->data + (size_t)r * w->row_bytes;
    if (w->layout == KERNELS_ROWS) return row;
    join_row(w->type, w->cols / 32, row, tmp);
    return tmp;
}

typedef struct repack_task {
    const kernels_matrix *w;
    const uint8_t *src;
    uint8_t *dst;
} repack_task;

/* Each slot its share of the rows; in place through a row of scratch. */
static void repack_rows(void *arg, int ith, int nth) {
    const repack_task *t = arg;
    const kernels_matrix *w = t->w;
    const int64_t r0 = w->rows * ith / nth, r1 = w->rows * (ith + 1) / nth;
    uint8_t *tmp = t->src == t->dst ? lm_xmalloc(w->row_bytes) : NULL;
    for (int64_t r = r0; r < r1; r++) {
        const size_t at = (size_t)r * w->row_bytes;
        if (tmp) memcpy(tmp, t->src + at, w->row_bytes);
        split_row(w->type, w->cols / 32, tmp ? tmp : t->src + at, t->dst + at);
    }
    free(tmp);
}

/* Gives the page cache's pages of [p, p + n) back: the copy serves now. */
static void drop_pages(const void *p, size_t n) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1),
                    hi = ((uintptr_t)p + n) & ~(page - 1);
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

static size_t page_round(size_t n) {
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return (n + page - 1) & ~(page - 1);
}

/* A matrix's own memory from a 2 MiB boundary, advised for large pages, but
 * not rounded up to one: a model has a hundred matrices or more, and their
 * last partial large pages would add a hundred MiB. */
static uint8_t *repack_alloc(size_t bytes) {
    if (bytes == 0 || bytes > SIZE_MAX - 2 * LM_LARGE_PAGE) return NULL;
    return lm_map_large(page_round(bytes), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
}

/* Measured end to end (lmterm bench, phi3-mini Q4_0): on the Xeon the split
 * layout adds 12-16% to one core's generation; on the 2-core Zen 4 machine
 * seven alternating pairs gave a median of 0.95x (0.84-1.12) against the
 * file's layout, although in the cache the split kernels read faster there:
 * so Intel only, and the copy at load is skipped where it does not pay. */
bool kernels_repack_wanted(void) {
    const char *env = getenv("LMTERM_REPACK");
    return env ? atoi(env) != 0 : cpu_is_intel();
}

int kernels_repack(kernels_matrix *w, threadpool *pool, unsigned flags) {
    if (!splits(w) || w->layout != KERNELS_ROWS) return 0;
    const size_t bytes = w->row_bytes * (size_t)w->rows;
    const bool in_place = flags & KERNELS_REPACK_IN_PLACE;
    uint8_t *dst = in_place ? (uint8_t *)w->data : repack_alloc(bytes);
    if (!dst) return 0;
    repack_task t = {w, w->data, dst};
    if (pool)
        threadpool_run(pool, repack_rows, &t);
    else
        repack_rows(&t, 0, 1);
    if (!in_place && (flags & KERNELS_REPACK_DROP_SOURCE)) drop_pages(w->data, bytes);
    if (!in_place) w->mem = dst;
    w->data = dst;
    w->layout = KERNELS_SPLIT;
    return 1;
}

void kernels_release(kernels_matrix *w) {
    if (w->mem) munmap(w->mem, page_round(w->row_bytes * (size_t)w->rows));
    w->mem = NULL;
}

/* ---- attention ---- */

float kernels_softmax(float *scores, int n) {
    float max = -INFINITY;
    for (int j = 0; j < n; j++)
        if (scores[j] > max) max = scores[j];
    double sum = 0;
    for (int j = 0; j < n; j++) {
        scores[j] = expf(scores[j] - max);
        sum += scores[j];
    }
    return (float)(1.0 / sum);
}

static void attend_ref(const float *q, const float *k, const float *v, size_t stride, int n,
                       int dim, float scale, float *scores, float *out) {
    for (int j = 0; j < n; j++) {
        const float *kj = k + (size_t)j * stride;
        float dot = 0;
        for (int d = 0; d < dim; d++) dot += q[d] * kj[d];
        scores[j] = dot * scale;
    }
    const float inv = kernels_softmax(scores, n);
    memset(out, 0, (size_t)dim * sizeof *out);
    for (int j = 0; j < n; j++) {
        const float *vj = v + (size_t)j * stride;
        const float p = scores[j] * inv;
        for (int d = 0; d < dim; d++) out[d] += p * vj[d];
    }
}

void kernels_attend(const float *q, const float *k, const float *v, size_t stride, int n, int dim,
                    float scale, float *scores, float *out) {
    ops()->attend(q, k, v, stride, n, dim, scale, scores, out);
}

/* ---- the portable path ---- */

static void gemv_ref(const kernels_job *j, int64_t r0, int64_t r1) {
    const kernels_matrix *w = j->w;
    uint8_t *tmp = w->layout == KERNELS_ROWS ? NULL : lm_xmalloc(w->row_bytes);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = kernels_row(w, r, tmp);
        for (int t = 0; t < j->n_tok; t++)
            j->y[(size_t)t * w->rows + r] = quant_vec_dot_ref(
                w->type, row, (const uint8_t *)j->act + (size_t)t * j->act_stride, w->cols);
    }
    free(tmp);
}

#define REF(type) [type] = {ACT_REF, gemv_ref, NULL, NULL, NULL}

static const kernels_ops scalar_ops = {
    .name = "scalar",
    .types = {REF(QT_F32), REF(QT_F16), REF(QT_BF16), REF(QT_Q4_0), REF(QT_Q4_1), REF(QT_Q5_0),
              REF(QT_Q5_1), REF(QT_Q8_0), REF(QT_Q2_K), REF(QT_Q3_K), REF(QT_Q4_K), REF(QT_Q5_K),
              REF(QT_Q6_K)},
    .attend = attend_ref,
};

/* ---- several tokens through the generation kernel (attn branch) ---- */

/* As kernels_matmul with the panels and OpenBLAS left out: every token goes
 * through the one-token kernel over the same chunks of rows, so its row of y
 * is bit for bit what a product of that token alone gives, while each chunk
 * of weight rows is read from memory once for all tokens. */
void kernels_matvec_batch(threadpool *pool, const kernels_matrix *w, const float *x, int n_tok,
                          float *y, void *scratch) {
    run_product(pool, type_fns(w), w, x, n_tok, y, scratch, false);
}

/* ---- read bandwidth ---- */

typedef uint64_t read_vec __attribute__((vector_size(16)));

typedef struct read_task {
    const uint8_t *buf;
    size_t bytes;
    size_t ahead;                      /* lines to prefetch ahead, 0: none */
    _Alignas(64) read_vec sums[64][4]; /* per slot, a cache line each, kept so no read is dropped */
} read_task;

/* Four independent 16-byte streams of loads per 64-byte line: the loads
 * never wait on one another, so only the memory sets the pace. With
 * `ahead` (lines), each line is also asked for that far ahead, as the
 * generation kernels do on Intel cores (see choose_prefetch). */
static void read_share(void *arg, int ith, int nth) {
    read_task *t = arg;
    const size_t lines = t->bytes / 64;
    const size_t lo = lines * (size_t)ith / (size_t)nth,
                 hi = lines * (size_t)(ith + 1) / (size_t)nth;
    const read_vec *v = (const read_vec *)t->buf;
    read_vec s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
    for (size_t i = lo; i < hi; i++) {
        if (t->ahead) __builtin_prefetch(v + 4 * (i + t->ahead), 0, 3);
        s0 += v[4 * i];
        s1 += v[4 * i + 1];
        s2 += v[4 * i + 2];
        s3 += v[4 * i + 3];
    }
    read_vec *out = t->sums[ith % 64];
    out[0] += s0;
    out[1] += s1;
    out[2] += s2;
    out[3] += s3;
}

static void wake_only(void *arg, int ith, int nth) {
    (void)arg, (void)ith, (void)nth;
}

double kernels_read_bandwidth(threadpool *pool, const void *buf, size_t bytes, int passes) {
    if (!pool || !buf || bytes < 64) return 0;
    read_task *t = lm_alloc_aligned(sizeof *t);
    if (!t) return 0;
    memset(t, 0, sizeof *t);
    t->buf = buf;
    t->bytes = bytes & ~(size_t)63;
    double best = 0;
    const size_t ahead[3] = {0, 16, 64}; /* none, 1 KiB, 4 KiB */
    for (int p = 0; p < 3 * passes; p++) {
        t->ahead = ahead[p % 3];
        /* the pool's slots go to whichever threads come first: an empty task
         * wakes every worker, so that all of them, spinning, take part */
        threadpool_run(pool, wake_only, NULL);
        double t0 = lm_now();
        threadpool_run(pool, read_share, t);
        double bw = (double)t->bytes / (lm_now() - t0);
        if (bw > best) best = bw;
    }
    lm_free_aligned(t);
    return best;
}

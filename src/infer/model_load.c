/* model: loading. Reads hyper-parameters, binds every tensor by name with its
 * exact expected shape, converts weights to the requested precision, and
 * allocates the KV cache and the work buffers. */
#include "model_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

/* Tokens per forward batch. 256 keeps the work buffers of a phi3-mini
 * prompt of 512 tokens at 54 MiB above the file and the KV cache (512 took
 * 115 MiB: issue 15); its prompt speed did not measurably change (alternating
 * runs on a noisy 2-core machine). */
#define MAX_BATCH 256

static const char *precision_names[] = {"native", "fp32", "fp16", "int8", "int4"};
static const char *cache_type_names[] = {"f16", "q8_0", "f32"};

const char *model_cache_type_name(enum model_cache_type t) {
    return (unsigned)t < 3 ? cache_type_names[t] : "?";
}

int model_cache_type_from_name(const char *name) {
    for (int i = 0; i < 3; i++)
        if (strcasecmp(name, cache_type_names[i]) == 0) return i;
    return -1;
}

const char *model_precision_name(enum model_precision p) {
    return (unsigned)p < 5 ? precision_names[p] : "?";
}

int model_precision_from_name(const char *name) {
    for (int i = 0; i < 5; i++)
        if (strcasecmp(name, precision_names[i]) == 0) return i;
    return -1;
}

/* ---- hyper-parameters ---- */

static bool get_arch_u32(const gguf_file *f, const char *arch, const char *key, uint32_t *out) {
    char full[160];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    return gguf_get_u32(f, full, out);
}

static bool get_arch_f32(const gguf_file *f, const char *arch, const char *key, float *out) {
    char full[160];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    return gguf_get_f32(f, full, out);
}

static int require_u32(const gguf_file *f, const char *arch, const char *key, uint32_t lo,
                       uint32_t hi, int *out, lm_error *err) {
    uint32_t v;
    if (!get_arch_u32(f, arch, key, &v))
        return lm_fail(err, "%s: missing metadata key %s.%s", f->path, arch, key);
    if (v < lo || v > hi)
        return lm_fail(err, "%s: %s.%s = %u is outside %u..%u", f->path, arch, key, v, lo, hi);
    *out = (int)v;
    return 0;
}

static int read_rope_params(const gguf_file *f, const char *arch, model_hparams *hp,
                            lm_error *err) {
    hp->rope_base = 10000.0f;
    get_arch_f32(f, arch, "rope.freq_base", &hp->rope_base);
    if (!(hp->rope_base > 1.0f) || !isfinite(hp->rope_base))
        return lm_fail(err, "%s: %s.rope.freq_base must be > 1", f->path, arch);
    float factor = 0;
    hp->rope_freq_scale =
        get_arch_f32(f, arch, "rope.scaling.factor", &factor) && factor > 0 ? 1.0f / factor : 1.0f;
    char full[160];
    snprintf(full, sizeof full, "%s.rope.scaling.type", arch);
    char *type = gguf_get_strdup(f, full);
    if (type && strcmp(type, "none") == 0) hp->rope_freq_scale = 1.0f;
    bool yarn = type && strcmp(type, "yarn") == 0;
    free(type);
    if (yarn) return lm_fail(err, "%s: YaRN rope scaling is not supported", f->path);
    hp->rope_attn_factor = 1.0f;
    get_arch_f32(f, arch, "rope.scaling.attn_factor", &hp->rope_attn_factor);
    uint32_t orig = (uint32_t)hp->n_ctx_train;
    get_arch_u32(f, arch, "rope.scaling.original_context_length", &orig);
    hp->n_ctx_orig = (int)orig;
    uint32_t n_rot = (uint32_t)hp->head_dim;
    get_arch_u32(f, arch, "rope.dimension_count", &n_rot);
    if (n_rot == 0 || n_rot > (uint32_t)hp->head_dim || n_rot % 2)
        return lm_fail(err, "%s: rope dimension %u does not fit head size %d", f->path, n_rot,
                       hp->head_dim);
    hp->n_rot = (int)n_rot;
    return 0;
}

int model_read_hparams(const gguf_file *f, model_hparams *hp, lm_error *err) {
    memset(hp, 0, sizeof *hp);
    gguf_str arch;
    if (!gguf_get_str(f, "general.architecture", &arch))
        return lm_fail(err, "%s: missing general.architecture", f->path);
    char a[32] = {0};
    if (arch.len == 5 && memcmp(arch.ptr, "llama", 5) == 0)
        hp->arch = MODEL_ARCH_LLAMA;
    else if (arch.len == 4 && memcmp(arch.ptr, "phi3", 4) == 0)
        hp->arch = MODEL_ARCH_PHI3;
    else
        return lm_fail(err, "%s: architecture '%.*s' is not supported (llama and phi3 are)",
                       f->path, (int)(arch.len < 40 ? arch.len : 40), arch.ptr);
    memcpy(a, arch.ptr, arch.len);
    gguf_str name;
    if (gguf_get_str(f, "general.name", &name))
        snprintf(hp->name, sizeof hp->name, "%.*s", (int)(name.len < 127 ? name.len : 127),
                 name.ptr);

    if (require_u32(f, a, "embedding_length", 1, 1 << 16, &hp->n_embd, err) ||
        require_u32(f, a, "block_count", 1, 1024, &hp->n_layer, err) ||
        require_u32(f, a, "attention.head_count", 1, 1024, &hp->n_head, err) ||
        require_u32(f, a, "feed_forward_length", 1, 1 << 20, &hp->n_ff, err) ||
        require_u32(f, a, "context_length", 1, 1 << 24, &hp->n_ctx_train, err))
        return -1;
    uint32_t v = (uint32_t)hp->n_head;
    get_arch_u32(f, a, "attention.head_count_kv", &v);
    if (v == 0 || v > (uint32_t)hp->n_head || hp->n_head % (int)v)
        return lm_fail(err, "%s: %u KV heads do not divide %d heads", f->path, v, hp->n_head);
    hp->n_head_kv = (int)v;
    v = (uint32_t)(hp->n_embd / hp->n_head);
    get_arch_u32(f, a, "attention.key_length", &v);
    uint32_t vlen = v;
    get_arch_u32(f, a, "attention.value_length", &vlen);
    if (v == 0 || v > 1024 || vlen != v)
        return lm_fail(err, "%s: unsupported head size (key %u, value %u)", f->path, v, vlen);
    hp->head_dim = (int)v;
    hp->norm_eps = 1e-5f;
    get_arch_f32(f, a, "attention.layer_norm_rms_epsilon", &hp->norm_eps);
    if (!(hp->norm_eps > 0 && hp->norm_eps < 1))
        return lm_fail(err, "%s: bad layer_norm_rms_epsilon", f->path);
    if (hp->arch == MODEL_ARCH_PHI3) {
        uint32_t swa;
        if (!get_arch_u32(f, a, "attention.sliding_window", &swa))
            return lm_fail(err, "%s: missing metadata key phi3.attention.sliding_window", f->path);
        hp->sliding_window = (int)(swa > (1u << 30) ? 1u << 30 : swa);
    }
    return read_rope_params(f, a, hp, err);
}

/* ---- weights ---- */

typedef struct loader {
    model *m;
    const model_options *opt;
    lm_error *err;
    int n_done, n_total; /* matrices, for progress */
} loader;

enum quant_type model_precision_type(enum model_precision p, enum quant_type stored) {
    switch (p) {
    case MODEL_PRECISION_FP32:
        return QT_F32;
    case MODEL_PRECISION_FP16:
        return QT_F16;
    case MODEL_PRECISION_INT8:
        return QT_Q8_0;
    case MODEL_PRECISION_INT4:
        return stored == QT_Q4_K ? QT_Q4_K : QT_Q4_0;
    default:
        return stored;
    }
}

static const gguf_tensor *find_shaped(loader *L, const char *name, int64_t ne0, int64_t ne1,
                                      bool required) {
    const gguf_tensor *t = gguf_find_tensor(L->m->file, name);
    if (!t) {
        if (required) lm_fail(L->err, "%s: missing tensor %s", L->m->file->path, name);
        return NULL;
    }
    int64_t want_dims = ne1 > 0 ? 2 : 1;
    bool ok = t->ne[0] == ne0 && (ne1 <= 0 ? t->n_dims == 1 || t->ne[1] == 1 : t->ne[1] == ne1) &&
              t->ne[2] == 1 && t->ne[3] == 1;
    if (!ok) {
        lm_fail(L->err, "%s: tensor %s has shape [%lld, %lld], expected [%lld%s%lld]",
                L->m->file->path, name, (long long)t->ne[0], (long long)t->ne[1], (long long)ne0,
                want_dims == 2 ? ", " : "", want_dims == 2 ? (long long)ne1 : 0LL);
        return NULL;
    }
    return t;
}

static int bind_vector(loader *L, const char *name, int64_t n, const float **out) {
    const gguf_tensor *t = find_shaped(L, name, n, 0, true);
    if (!t) return -1;
    if (t->type != QT_F32)
        return lm_fail(L->err, "%s: tensor %s must be F32", L->m->file->path, name);
    *out = t->data;
    return 0;
}

/* A converted matrix never reads its source again, but the file's pages it
 * was read through stay mapped and count in the resident set (a phi3-mini
 * F16 file at INT4 showed 9.3 GiB instead of about 2). So they are given
 * back while converting, every RELEASE_STEP bytes: the page cache keeps
 * them, RSS and the conversion's peak do not. The range is widened to whole
 * pages; a neighbour's page dropped that way is read again from the file on
 * its next use (the mapping is private and never written), so nothing is
 * lost. A buffer the caller owns (gguf_open_memory) is not a mapping. */
#define RELEASE_STEP ((size_t)8 << 20)

static void release_pages(const gguf_file *f, const uint8_t *lo, const uint8_t *hi) {
    if (!f->owns_mapping || hi <= lo) return;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)lo & ~(page - 1), b = ((uintptr_t)hi + page - 1) & ~(page - 1);
    madvise((void *)a, b - a, MADV_DONTNEED);
}

static int convert_matrix(loader *L, kernels_matrix *w, enum quant_type to) {
    size_t row_bytes = quant_row_size(to, w->cols);
    if (row_bytes == 0) return 0; /* cannot hold this width: keep as stored */
    uint64_t total;
    if (lm_mul_overflows(row_bytes, (uint64_t)w->rows, &total))
        return lm_fail(L->err, "converted matrix too large");
    uint8_t *dst = lm_alloc_aligned(total);
    float *row = malloc((size_t)w->cols * sizeof *row);
    if (!dst || !row) {
        lm_free_aligned(dst);
        free(row);
        return lm_fail(L->err, "not enough memory to convert the weights (%llu bytes)",
                       (unsigned long long)total);
    }
    const uint8_t *src = w->data, *released = src;
    for (int64_t r = 0; r < w->rows; r++) {
        quant_dequantize_row(w->type, src + r * w->row_bytes, row, w->cols);
        quant_quantize_row(to, row, dst + r * row_bytes, w->cols);
        if ((size_t)(src + (r + 1) * w->row_bytes - released) >= RELEASE_STEP) {
            const uint8_t *upto = src + (r + 1) * w->row_bytes;
            release_pages(L->m->file, released, upto);
            released = upto;
        }
    }
    release_pages(L->m->file, src, src + w->rows * w->row_bytes);
    free(row);
    L->m->owned = lm_xrealloc(L->m->owned, (size_t)(L->m->n_owned + 1) * sizeof(void *));
    L->m->owned[L->m->n_owned++] = dst;
    w->data = dst;
    w->type = to;
    w->row_bytes = row_bytes;
    return 0;
}

static int bind_matrix(loader *L, const char *name, int64_t cols, int64_t rows, kernels_matrix *w) {
    const gguf_tensor *t = find_shaped(L, name, cols, rows, true);
    if (!t) return -1;
    const quant_type_info *info = quant_info(t->type);
    /* Q8_1 and Q8_K are formats for activations: no weight kernel takes them */
    if (!info || !info->can_dequantize || t->type == QT_Q8_1 || t->type == QT_Q8_K)
        return lm_fail(L->err, "%s: tensor %s has type %s, which lmterm cannot compute with",
                       L->m->file->path, name, info ? info->name : "unknown");
    *w = (kernels_matrix){.data = t->data,
                          .type = (enum quant_type)t->type,
                          .cols = cols,
                          .rows = rows,
                          .row_bytes = quant_row_size(t->type, cols)};
    enum quant_type to = model_precision_type(L->opt->precision, w->type);
    const bool converted = to != w->type;
    if (converted && convert_matrix(L, w, to)) return -1;
    /* the embedding's rows are read one by one, as stored; the rest only
     * through kernels_matmul, which reads its own layout faster */
    if (strcmp(name, "token_embd.weight") != 0 && kernels_repack_wanted())
        kernels_repack(w, L->m->pool,
                       converted ? KERNELS_REPACK_IN_PLACE : KERNELS_REPACK_DROP_SOURCE);
    L->m->weight_bytes += w->row_bytes * (uint64_t)rows;
    L->m->param_count += (uint64_t)cols * (uint64_t)rows;
    L->n_done++;
    if (L->opt->progress) L->opt->progress(L->opt->progress_ctx, (float)L->n_done / L->n_total);
    if (L->opt->cancel && atomic_load(L->opt->cancel)) return lm_fail(L->err, "cancelled");
    return 0;
}

static int bind_layer(loader *L, int il) {
    model *m = L->m;
    const model_hparams *hp = &m->hp;
    model_layer *l = &m->layers[il];
    char name[96];
#define NAME(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, il), name)
    int64_t E = hp->n_embd, Q = m->q_dim, KV = m->kv_dim, F = hp->n_ff;
    if (bind_vector(L, NAME("attn_norm.weight"), E, &l->attn_norm) ||
        bind_vector(L, NAME("ffn_norm.weight"), E, &l->ffn_norm) ||
        bind_matrix(L, NAME("attn_output.weight"), Q, E, &l->wo) ||
        bind_matrix(L, NAME("ffn_down.weight"), F, E, &l->ffn_down))
        return -1;
    if (hp->arch == MODEL_ARCH_PHI3)
        return bind_matrix(L, NAME("attn_qkv.weight"), E, Q + 2 * KV, &l->wqkv) ||
               bind_matrix(L, NAME("ffn_up.weight"), E, 2 * F, &l->ffn_gate_up);
    return bind_matrix(L, NAME("attn_q.weight"), E, Q, &l->wq) ||
           bind_matrix(L, NAME("attn_k.weight"), E, KV, &l->wk) ||
           bind_matrix(L, NAME("attn_v.weight"), E, KV, &l->wv) ||
           bind_matrix(L, NAME("ffn_gate.weight"), E, F, &l->ffn_gate) ||
           bind_matrix(L, NAME("ffn_up.weight"), E, F, &l->ffn_up);
#undef NAME
}

/* LongRoPE (phi3) picks one factor set per context size; Llama-3.1 has one. */
static int bind_rope_factors(loader *L) {
    model *m = L->m;
    int64_t pairs = m->hp.n_rot / 2;
    const char *name = "rope_freqs.weight";
    if (m->hp.arch == MODEL_ARCH_PHI3 && gguf_find_tensor(m->file, "rope_factors_long.weight"))
        name =
            m->n_ctx > m->hp.n_ctx_orig ? "rope_factors_long.weight" : "rope_factors_short.weight";
    if (!gguf_find_tensor(m->file, name)) return 0;
    if (bind_vector(L, name, pairs, &m->rope_factors)) return -1;
    for (int64_t i = 0; i < pairs; i++)
        if (!(m->rope_factors[i] > 0) || !isfinite(m->rope_factors[i]))
            return lm_fail(L->err, "%s: %s holds a non-positive factor", m->file->path, name);
    return 0;
}

static int bind_weights(loader *L) {
    model *m = L->m;
    const model_hparams *hp = &m->hp;
    int per_layer = hp->arch == MODEL_ARCH_PHI3 ? 4 : 7;
    L->n_total = 2 + per_layer * hp->n_layer;
    m->layers = lm_xcalloc((size_t)hp->n_layer, sizeof *m->layers);
    if (bind_matrix(L, "token_embd.weight", hp->n_embd, hp->n_vocab, &m->tok_embd) ||
        bind_vector(L, "output_norm.weight", hp->n_embd, &m->output_norm))
        return -1;
    if (gguf_find_tensor(m->file, "output.weight")) {
        if (bind_matrix(L, "output.weight", hp->n_embd, hp->n_vocab, &m->output)) return -1;
    } else {
        m->output = m->tok_embd; /* tied embeddings (Llama-3.2) */
        L->n_done++;
    }
    for (int il = 0; il < hp->n_layer; il++)
        if (bind_layer(L, il)) return -1;
    return bind_rope_factors(L);
}

uint64_t model_estimate_weight_bytes(const gguf_file *f, enum model_precision p) {
    uint64_t total = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        if (t->n_dims < 2) continue; /* norms and rope factors stay F32 */
        size_t row = quant_row_size(model_precision_type(p, t->type), t->ne[0]);
        total += row ? row * (t->n_elements / (uint64_t)t->ne[0]) : t->nbytes;
    }
    return total;
}

/* ---- buffers ---- */

static float *alloc_floats(uint64_t n, uint64_t *total) {
    *total += n * sizeof(float);
    return lm_alloc_aligned(n * sizeof(float));
}

static size_t max_act_bytes(const model *m, int batch) {
    size_t best = kernels_scratch_bytes(&m->output, batch); /* model_eval_all, model_decode */
    for (int il = 0; il < m->hp.n_layer; il++) {
        const model_layer *l = &m->layers[il];
        const kernels_matrix *all[] = {&l->wqkv,     &l->wq,     &l->wk,
                                       &l->wv,       &l->wo,     &l->ffn_gate_up,
                                       &l->ffn_gate, &l->ffn_up, &l->ffn_down};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
            if (!all[i]->data) continue;
            size_t b = kernels_scratch_bytes(all[i], batch);
            if (b > best) best = b;
        }
    }
    return best;
}

/* ---- KV caches (sequences) ---- */

static size_t cache_row_bytes(enum model_cache_type t, int hd) {
    switch (t) {
    case MODEL_CACHE_F32:
        return (size_t)hd * 4;
    case MODEL_CACHE_F16:
        return (size_t)hd * 2;
    case MODEL_CACHE_Q8_0:
        return quant_row_size(QT_Q8_0, hd);
    }
    return 0;
}

model_seq *model_seq_create(model *m, int n_ctx, enum model_cache_type type, lm_error *err) {
    const model_hparams *hp = &m->hp;
    if ((unsigned)type > MODEL_CACHE_F32) {
        lm_fail(err, "unknown KV cache type %d", (int)type);
        return NULL;
    }
    if (type == MODEL_CACHE_Q8_0 && hp->head_dim % 32) {
        lm_fail(err,
                "a q8_0 KV cache needs a head size that is a multiple of 32 (this model's is %d)",
                hp->head_dim);
        return NULL;
    }
    if (n_ctx <= 0) n_ctx = m->n_ctx;
    if (n_ctx > hp->n_ctx_train) n_ctx = hp->n_ctx_train;
    const size_t row = cache_row_bytes(type, hp->head_dim);
    const uint64_t rows = (uint64_t)hp->n_layer * (uint64_t)hp->n_head_kv * (uint64_t)n_ctx;
    const uint64_t half = rows * row;
    const uint64_t avail = lm_mem_available_bytes();
    if (avail && 2 * half > avail) {
        char a[16], b[16];
        lm_fail(err, "a KV cache for %d positions needs %s, more than the %s available", n_ctx,
                lm_format_size(2 * half, a), lm_format_size(avail, b));
        return NULL;
    }
    model_seq *sq = lm_xcalloc(1, sizeof *sq);
    *sq = (model_seq){.m = m, .type = type, .n_ctx = n_ctx, .row_bytes = row, .bytes = 2 * half};
    sq->k = lm_alloc_aligned(half);
    sq->v = lm_alloc_aligned(half);
    if (!sq->k || !sq->v) {
        model_seq_free(sq);
        lm_fail(err, "not enough memory for a KV cache of %d positions", n_ctx);
        return NULL;
    }
    return sq;
}

void model_seq_free(model_seq *sq) {
    if (!sq) return;
    lm_free_aligned(sq->k);
    lm_free_aligned(sq->v);
    free(sq);
}

model_seq *model_default_seq(model *m) {
    return m->seq0;
}
int model_seq_n_past(const model_seq *sq) {
    return sq->n_past;
}
int model_seq_n_ctx(const model_seq *sq) {
    return sq->n_ctx;
}
enum model_cache_type model_seq_cache_type(const model_seq *sq) {
    return sq->type;
}
uint64_t model_seq_kv_bytes(const model_seq *sq) {
    return sq->bytes;
}
void model_seq_truncate(model_seq *sq, int n_keep) {
    if (n_keep < sq->n_past) sq->n_past = n_keep < 0 ? 0 : n_keep;
}

static int alloc_buffers(model *m, const model_options *opt, lm_error *err) {
    const model_hparams *hp = &m->hp;
    m->seq0 = model_seq_create(m, m->n_ctx, opt->cache_type, err);
    if (!m->seq0) return -1;
    model_scratch *s = &m->s;
    s->max_batch = m->n_ctx < MAX_BATCH ? m->n_ctx : MAX_BATCH;
    if (s->max_batch < MODEL_MAX_DECODE) s->max_batch = MODEL_MAX_DECODE;
    uint64_t B = (uint64_t)s->max_batch, total = 0;
    s->x = alloc_floats(B * hp->n_embd, &total);
    s->xn = alloc_floats(B * hp->n_embd, &total);
    s->qkv = alloc_floats(B * (m->q_dim + 2 * m->kv_dim), &total);
    s->att = alloc_floats(B * m->q_dim, &total);
    s->proj = alloc_floats(B * hp->n_embd, &total);
    s->ffn = alloc_floats(B * 2 * hp->n_ff, &total);
    s->rope = alloc_floats(B * hp->n_rot, &total);
    s->pos = lm_xcalloc(B, sizeof *s->pos);
    s->seq = lm_xcalloc(B, sizeof *s->seq);
    s->attn_slot_bytes = (attention_slot_bytes(hp) + 63) & ~(size_t)63;
    s->attn = lm_alloc_aligned(s->attn_slot_bytes * (size_t)threadpool_size(m->pool));
    s->act_bytes = max_act_bytes(m, s->max_batch);
    s->act = lm_alloc_aligned(s->act_bytes);
    if (!s->x || !s->xn || !s->qkv || !s->att || !s->proj || !s->ffn || !s->attn || !s->rope ||
        !s->act)
        return lm_fail(err, "not enough memory for the work buffers");
    return 0;
}

model *model_load(const char *path, const model_options *opt, lm_error *err) {
    model *m = lm_xcalloc(1, sizeof *m);
    m->file = gguf_open(path, err);
    if (!m->file) goto fail;
    if (model_read_hparams(m->file, &m->hp, err)) goto fail;
    m->tok = tokenizer_load(m->file, err);
    if (!m->tok) goto fail;
    m->hp.n_vocab = tokenizer_n_vocab(m->tok);
    m->q_dim = m->hp.n_head * m->hp.head_dim;
    m->kv_dim = m->hp.n_head_kv * m->hp.head_dim;
    m->precision = opt->precision;
    m->n_ctx = opt->n_ctx > 0 ? opt->n_ctx : (m->hp.n_ctx_train < 4096 ? m->hp.n_ctx_train : 4096);
    if (m->n_ctx > m->hp.n_ctx_train) m->n_ctx = m->hp.n_ctx_train;
    m->pool = threadpool_create(opt->n_threads > 0 ? opt->n_threads : threadpool_default_threads());
    if (!m->pool) {
        lm_fail(err, "cannot start worker threads");
        goto fail;
    }
    loader L = {.m = m, .opt = opt, .err = err};
    if (bind_weights(&L) || alloc_buffers(m, opt, err)) goto fail;
    return m;
fail:
    model_free(m);
    return NULL;
}

void model_free(model *m) {
    if (!m) return;
    kernels_release(&m->output);
    for (int il = 0; m->layers && il < m->hp.n_layer; il++) {
        model_layer *l = &m->layers[il];
        kernels_matrix *all[] = {&l->wqkv,        &l->wq,       &l->wk,     &l->wv,      &l->wo,
                                 &l->ffn_gate_up, &l->ffn_gate, &l->ffn_up, &l->ffn_down};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++) kernels_release(all[i]);
    }
    for (int i = 0; i < m->n_owned; i++) lm_free_aligned(m->owned[i]);
    free(m->owned);
    free(m->layers);
    model_seq_free(m->seq0);
    model_scratch *s = &m->s;
    void *bufs[] = {s->x, s->xn, s->qkv, s->att, s->proj, s->ffn, s->attn, s->rope, s->act};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) lm_free_aligned(bufs[i]);
    free(s->pos);
    free(s->seq);
    if (m->pool) threadpool_free(m->pool);
    tokenizer_free(m->tok);
    gguf_close(m->file);
    free(m);
}

const model_hparams *model_get_hparams(const model *m) {
    return &m->hp;
}
const tokenizer *model_get_tokenizer(const model *m) {
    return m->tok;
}
const gguf_file *model_get_file(const model *m) {
    return m->file;
}
enum model_precision model_get_precision(const model *m) {
    return m->precision;
}
int model_n_ctx(const model *m) {
    return m->n_ctx;
}
int model_n_threads(const model *m) {
    return threadpool_size(m->pool);
}
int model_n_past(const model *m) {
    return m->seq0->n_past;
}
uint64_t model_weight_bytes(const model *m) {
    return m->weight_bytes;
}
uint64_t model_param_count(const model *m) {
    return m->param_count;
}

uint64_t model_kv_bytes(const model *m) {
    return m->seq0->bytes;
}

enum model_cache_type model_cache_type(const model *m) {
    return m->seq0->type;
}

enum quant_type model_main_type(const model *m) {
    const model_layer *l = &m->layers[0];
    return m->hp.arch == MODEL_ARCH_PHI3 ? l->ffn_gate_up.type : l->ffn_up.type;
}

void model_kv_truncate(model *m, int n_keep) {
    model_seq_truncate(m->seq0, n_keep);
}

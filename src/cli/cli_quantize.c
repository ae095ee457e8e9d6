/* cli: `lmterm quantize IN OUT TYPE`, a GGUF file at another precision that
 * llama.cpp reads as well. Norms and other vectors stay F32; for the mixed
 * type q4_k_m the tensors that matter most get more bits, following
 * llama-quantize's recipe for that name. */
#include "cli.h"
#include "model.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* llama.cpp's llama_ftype numbers, written as general.file_type. */
typedef struct target {
    const char *name;
    enum quant_type type;
    uint32_t ftype;
    bool k_mix;
} target;

static const target targets[] = {
    {"f32", QT_F32, 0, false},    {"f16", QT_F16, 1, false},     {"bf16", QT_BF16, 32, false},
    {"q8_0", QT_Q8_0, 7, false},  {"q4_0", QT_Q4_0, 2, false},   {"q4_1", QT_Q4_1, 3, false},
    {"q5_0", QT_Q5_0, 8, false},  {"q5_1", QT_Q5_1, 9, false},   {"q4_k", QT_Q4_K, 14, false},
    {"q6_k", QT_Q6_K, 18, false}, {"q4_k_m", QT_Q4_K, 15, true},
};

typedef struct job {
    const gguf_file *in;
    enum quant_type *types; /* per input tensor */
    threadpool *pool;
    cli_progress progress;
    int n_done;
    uint64_t bytes_done, bytes_total; /* of the output */
} job;

/* One tensor, converted by the pool's slots, each a share of its rows
 * through a row of floats in its scratch. */
typedef struct convert_task {
    const gguf_tensor *t;
    enum quant_type to;
    int64_t cols, rows;
    uint8_t *out;
    threadpool *pool;
} convert_task;

static void convert_rows(void *arg, int ith, int nth) {
    const convert_task *c = arg;
    const size_t in_row = quant_row_size(c->t->type, c->cols),
                 out_row = quant_row_size(c->to, c->cols);
    float *row = threadpool_scratch(c->pool, ith, (size_t)c->cols * sizeof *row); /* fill made it */
    for (int64_t r = c->rows * ith / nth; r < c->rows * (ith + 1) / nth; r++) {
        quant_dequantize_row(c->t->type, (const uint8_t *)c->t->data + (size_t)r * in_row, row,
                             c->cols);
        quant_quantize_row(c->to, row, c->out + (size_t)r * out_row, c->cols);
    }
}

/* llama-quantize's "use more bits" layers: the first and last eighth, and
 * every third layer in between. */
static bool more_bits(int layer, int n_layer) {
    return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

static int layer_of(const char *name) {
    return strncmp(name, "blk.", 4) == 0 ? atoi(name + 4) : -1;
}

static enum quant_type choose_type(const target *t, const gguf_tensor *tn, int n_layer) {
    if (tn->n_dims < 2) return QT_F32;
    enum quant_type type = t->type;
    if (t->k_mix) {
        int il = layer_of(tn->name);
        if (strcmp(tn->name, "output.weight") == 0)
            type = QT_Q6_K;
        else if (strstr(tn->name, "attn_qkv"))
            type = QT_Q5_K;
        else if ((strstr(tn->name, "attn_v.") || strstr(tn->name, "ffn_down")) &&
                 more_bits(il, n_layer))
            type = QT_Q6_K;
    }
    /* a row that is not a whole number of blocks keeps a float type */
    if (quant_row_size(type, tn->ne[0]) == 0) type = QT_F16;
    return type;
}

static int fill(void *arg, const char *name, void *buf, uint64_t nbytes, lm_error *err) {
    job *j = arg;
    const gguf_tensor *t = gguf_find_tensor(j->in, name);
    convert_task c = {
        .t = t, .to = j->types[t - j->in->tensors], .cols = t->ne[0], .out = buf, .pool = j->pool};
    c.rows = (int64_t)(t->n_elements / (uint64_t)c.cols);
    if (quant_row_size(c.to, c.cols) * (uint64_t)c.rows != nbytes)
        return lm_fail(err, "%s: size mismatch", name);
    for (int i = 0; i < threadpool_size(j->pool); i++)
        if (!threadpool_scratch(j->pool, i, (size_t)c.cols * sizeof(float)))
            return lm_fail(err, "out of memory");
    threadpool_run(j->pool, convert_rows, &c);
    j->n_done++;
    j->bytes_done += nbytes;
    cli_progress_update(&j->progress, "tensor", j->n_done, (int)j->in->n_tensors, j->bytes_done,
                        j->bytes_total);
    return 0;
}

int cli_quantize(cli_options *o) {
    if (o->n_args != 3) return cli_usage_error("quantize takes IN OUT TYPE");
    const target *t = NULL;
    for (size_t i = 0; i < sizeof targets / sizeof *targets; i++)
        if (strcasecmp(o->args[2], targets[i].name) == 0) t = &targets[i];
    if (!t)
        return cli_error("unknown type '%s' (f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q6_k "
                         "q4_k_m)",
                         o->args[2]);
    lm_error err;
    gguf_file *in = gguf_open(o->args[0], &err);
    if (!in) return cli_error("%s", err.msg);
    uint32_t n_layer = 0;
    gguf_str arch;
    if (gguf_get_str(in, "general.architecture", &arch)) {
        char key[96];
        snprintf(key, sizeof key, "%.*s.block_count", (int)(arch.len < 32 ? arch.len : 32),
                 arch.ptr);
        gguf_get_u32(in, key, &n_layer);
    }
    for (uint64_t i = 0; i < in->n_tensors; i++) {
        const quant_type_info *qi = quant_info(in->tensors[i].type);
        if (!qi || !qi->can_dequantize) {
            gguf_close(in);
            return cli_error("%s: tensor %s has a type lmterm cannot read", o->args[0],
                             in->tensors[i].name);
        }
    }
    job j = {.in = in,
             .types = lm_xcalloc(in->n_tensors, sizeof *j.types),
             .pool = threadpool_create(o->threads > 0 ? o->threads : threadpool_default_threads())};
    cli_progress_start(&j.progress, o->args[1]);
    if (!j.pool) {
        free(j.types);
        gguf_close(in);
        return cli_error("cannot start threads");
    }
    gguf_writer *w = gguf_writer_new();
    const char *skip[] = {"general.file_type", NULL};
    gguf_writer_copy_kv(w, in, skip);
    gguf_writer_set_u32(w, "general.file_type", t->ftype);
    for (uint64_t i = 0; i < in->n_tensors; i++) {
        const gguf_tensor *tn = &in->tensors[i];
        j.types[i] = choose_type(t, tn, (int)n_layer);
        j.bytes_total += quant_row_size(j.types[i], tn->ne[0]) * (tn->n_elements / (uint64_t)tn->ne[0]);
        gguf_writer_add_tensor(w, tn->name, j.types[i], tn->n_dims, tn->ne, NULL, fill, &j);
    }
    int rc = gguf_writer_write(w, o->args[1], &err);
    cli_progress_end(&j.progress);
    rc = rc ? cli_error("%s", err.msg) : CLI_OK;
    gguf_writer_free(w);
    threadpool_free(j.pool);
    free(j.types);
    gguf_close(in);
    return rc;
}

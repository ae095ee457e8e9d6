/* gguf writer: see include/gguf.h. Metadata and the tensor directory are small
 * and kept in memory; tensor data streams through one buffer, a tensor at a
 * time, into a temporary file that replaces the target only once it is
 * complete and on disk. */
#include "gguf.h"
#include "quant.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WRITER_ALIGNMENT 32
#define OUT_BUF_BYTES (4u << 20)

/* A key and its encoded value: the type tag followed by the payload, exactly as
 * the file stores them. */
typedef struct writer_kv {
    char *key;
    lm_buf val;
} writer_kv;

typedef struct writer_tensor {
    char name[128];
    uint32_t type, n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    uint64_t nbytes, offset;
    const void *data;
    gguf_tensor_fill fill;
    void *ctx;
} writer_tensor;

struct gguf_writer {
    writer_kv *kv;
    size_t n_kv, cap_kv;
    writer_tensor *tensors;
    size_t n_tensors, cap_tensors;
    lm_error first_err; /* the setters return nothing: a bad call is reported by write */
    bool failed;
};

gguf_writer *gguf_writer_new(void) {
    return lm_xcalloc(1, sizeof(gguf_writer));
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        lm_buf_free(&w->kv[i].val);
    }
    free(w->kv);
    free(w->tensors);
    free(w);
}

__attribute__((format(printf, 2, 3))) static void writer_error(gguf_writer *w, const char *fmt,
                                                               ...) {
    if (w->failed) return; /* keep the first */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->first_err.msg, sizeof w->first_err.msg, fmt, ap);
    va_end(ap);
    w->failed = true;
}

/* ---- metadata ---- */

static void put_u32(lm_buf *b, uint32_t v) {
    lm_buf_append(b, &v, 4);
}
static void put_u64(lm_buf *b, uint64_t v) {
    lm_buf_append(b, &v, 8);
}

static void put_str(lm_buf *b, const char *s, uint64_t len) {
    put_u64(b, len);
    lm_buf_append(b, s, (size_t)len);
}

/* The value buffer for key, emptied: setting a key again replaces its value. */
static lm_buf *kv_slot(gguf_writer *w, const char *key, enum gguf_value_type type) {
    writer_kv *kv = NULL;
    for (size_t i = 0; i < w->n_kv && !kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) kv = &w->kv[i];
    if (!kv) {
        if (w->n_kv == w->cap_kv) {
            w->cap_kv = w->cap_kv ? w->cap_kv * 2 : 32;
            w->kv = lm_xrealloc(w->kv, w->cap_kv * sizeof *w->kv);
        }
        kv = &w->kv[w->n_kv++];
        kv->key = lm_xstrdup(key);
        kv->val = (lm_buf){0};
    }
    kv->val.len = 0;
    put_u32(&kv->val, (uint32_t)type);
    return &kv->val;
}

static void set_scalar(gguf_writer *w, const char *key, enum gguf_value_type type, const void *v,
                       size_t size) {
    lm_buf_append(kv_slot(w, key, type), v, size);
}

void gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v) {
    set_scalar(w, key, GGUF_UINT32, &v, 4);
}

void gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v) {
    set_scalar(w, key, GGUF_INT32, &v, 4);
}

void gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v) {
    set_scalar(w, key, GGUF_UINT64, &v, 8);
}

void gguf_writer_set_f32(gguf_writer *w, const char *key, float v) {
    set_scalar(w, key, GGUF_FLOAT32, &v, 4);
}

void gguf_writer_set_bool(gguf_writer *w, const char *key, bool v) {
    uint8_t b = v ? 1 : 0;
    set_scalar(w, key, GGUF_BOOL, &b, 1);
}

void gguf_writer_set_str(gguf_writer *w, const char *key, const char *v) {
    put_str(kv_slot(w, key, GGUF_STRING), v, strlen(v));
}

/* Starts an array value: element type and count; the elements follow. */
static lm_buf *array_slot(gguf_writer *w, const char *key, enum gguf_value_type elem, uint64_t n) {
    lm_buf *b = kv_slot(w, key, GGUF_ARRAY);
    put_u32(b, (uint32_t)elem);
    put_u64(b, n);
    return b;
}

void gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *v, uint64_t n) {
    lm_buf *b = array_slot(w, key, GGUF_STRING, n);
    for (uint64_t i = 0; i < n; i++) put_str(b, v[i], strlen(v[i]));
}

void gguf_writer_set_arr_f32(gguf_writer *w, const char *key, const float *v, uint64_t n) {
    lm_buf_append(array_slot(w, key, GGUF_FLOAT32, n), v, (size_t)n * 4);
}

void gguf_writer_set_arr_i32(gguf_writer *w, const char *key, const int32_t *v, uint64_t n) {
    lm_buf_append(array_slot(w, key, GGUF_INT32, n), v, (size_t)n * 4);
}

static bool has_prefix(const gguf_str *key, const char *const *skip) {
    for (size_t i = 0; skip && skip[i]; i++) {
        size_t n = strlen(skip[i]);
        if (key->len >= n && memcmp(key->ptr, skip[i], n) == 0) return true;
    }
    return false;
}

/* Re-encodes one decoded kv of an open file in the type the file gave it. */
static void copy_one(gguf_writer *w, const char *key, const gguf_kv *kv) {
    lm_buf *b = kv_slot(w, key, kv->type);
    switch (kv->type) {
    case GGUF_STRING:
        put_str(b, kv->v.str.ptr, kv->v.str.len);
        break;
    case GGUF_ARRAY: /* the file's bytes are already in the format we write */
        put_u32(b, (uint32_t)kv->v.arr.type);
        put_u64(b, kv->v.arr.count);
        lm_buf_append(b, kv->v.arr.data, (size_t)kv->v.arr.nbytes);
        break;
    case GGUF_FLOAT32: {
        float f = (float)kv->v.f64;
        lm_buf_append(b, &f, 4);
        break;
    }
    case GGUF_FLOAT64:
        lm_buf_append(b, &kv->v.f64, 8);
        break;
    default: {
        /* integers and bool: the low bytes of the 64-bit value, little-endian */
        static const uint8_t size[GGUF_VALUE_TYPE_COUNT] = {
            [GGUF_UINT8] = 1, [GGUF_INT8] = 1,   [GGUF_UINT16] = 2,
            [GGUF_INT16] = 2, [GGUF_UINT32] = 4, [GGUF_INT32] = 4,
            [GGUF_BOOL] = 1,  [GGUF_UINT64] = 8, [GGUF_INT64] = 8,
        };
        lm_buf_append(b, &kv->v.u64, size[kv->type]);
    }
    }
}

void gguf_writer_copy_kv(gguf_writer *w, const gguf_file *f, const char *const *skip) {
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const gguf_kv *kv = &f->kv[i];
        if (has_prefix(&kv->key, skip)) continue;
        char *key = lm_xstrndup(kv->key.ptr, (size_t)kv->key.len);
        copy_one(w, key, kv);
        free(key);
    }
}

/* The alignment the file will declare: general.alignment if set, else 32. */
static uint64_t writer_alignment(gguf_writer *w) {
    static const uint8_t int_size[GGUF_VALUE_TYPE_COUNT] = {
        [GGUF_UINT8] = 1, [GGUF_UINT16] = 2, [GGUF_UINT32] = 4, [GGUF_UINT64] = 8,
        [GGUF_INT8] = 1,  [GGUF_INT16] = 2,  [GGUF_INT32] = 4,  [GGUF_INT64] = 8,
    };
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, "general.alignment") != 0) continue;
        const lm_buf *v = &w->kv[i].val;
        uint32_t type;
        uint64_t a = 0;
        memcpy(&type, v->data, 4);
        if (type < GGUF_VALUE_TYPE_COUNT && int_size[type] && v->len == 4u + int_size[type])
            memcpy(&a, v->data + 4, int_size[type]); /* little-endian: the low bytes */
        if (a && (a & (a - 1)) == 0 && a <= (1u << 20) && (int64_t)a > 0) return a;
        writer_error(w, "general.alignment must be a power of two up to 1 MiB");
    }
    return WRITER_ALIGNMENT;
}

/* ---- tensors ---- */

/* Fills in t's name, shape and size; false (with the writer's error set) when
 * the tensor cannot be written. */
static bool check_tensor(gguf_writer *w, writer_tensor *t, const char *name, const int64_t *ne) {
    size_t len = strlen(name);
    const quant_type_info *qi = quant_info(t->type);
    if (len >= sizeof t->name)
        writer_error(w, "tensor name '%.40s...' is longer than 127 bytes", name);
    else if (!qi)
        writer_error(w, "tensor '%s' has unknown type %" PRIu32, name, t->type);
    else if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        writer_error(w, "tensor '%s' has %" PRIu32 " dimensions", name, t->n_dims);
    else if (!t->data == !t->fill)
        writer_error(w, "tensor '%s' needs exactly one of data and fill", name);
    if (w->failed) return false;
    memcpy(t->name, name, len + 1);
    uint64_t n = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        t->ne[d] = d < t->n_dims ? ne[d] : 1;
        if (t->ne[d] <= 0 || lm_mul_overflows(n, (uint64_t)t->ne[d], &n) || n > INT64_MAX) {
            writer_error(w, "tensor '%s' has a bad shape", name);
            return false;
        }
    }
    uint64_t row = (uint64_t)t->ne[0], row_bytes = row / qi->block_size * qi->type_size;
    if (row % qi->block_size)
        writer_error(w,
                     "tensor '%s' rows of %" PRIu64
                     " values are not a multiple of the %s block size %" PRIu32,
                     name, row, qi->name, qi->block_size);
    else if (lm_mul_overflows(row_bytes, n / row, &t->nbytes))
        writer_error(w, "tensor '%s' is too large", name);
    for (size_t i = 0; i < w->n_tensors && !w->failed; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            writer_error(w, "duplicate tensor name '%s'", name);
    return !w->failed;
}

void gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                            const int64_t *ne, const void *data, gguf_tensor_fill fill, void *ctx) {
    writer_tensor t = {.type = type, .n_dims = n_dims, .data = data, .fill = fill, .ctx = ctx};
    if (!check_tensor(w, &t, name, ne)) return;
    if (w->n_tensors == w->cap_tensors) {
        w->cap_tensors = w->cap_tensors ? w->cap_tensors * 2 : 64;
        w->tensors = lm_xrealloc(w->tensors, w->cap_tensors * sizeof *w->tensors);
    }
    w->tensors[w->n_tensors++] = t;
}

/* ---- output: a buffered file descriptor ---- */

typedef struct out_file {
    int fd;
    char *buf;
    size_t len;
    uint64_t written; /* bytes passed to out_write so far: the file offset */
    int err;          /* errno of the first failure */
} out_file;

static void write_all(out_file *o, const void *data, size_t n) {
    const char *p = data;
    while (n && !o->err) {
        ssize_t k = write(o->fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            o->err = k < 0 ? errno : EIO;
            break;
        }
        p += k;
        n -= (size_t)k;
    }
}

static void out_flush(out_file *o) {
    write_all(o, o->buf, o->len);
    o->len = 0;
}

static void out_write(out_file *o, const void *data, size_t n) {
    o->written += n;
    if (o->len + n > OUT_BUF_BYTES) out_flush(o);
    if (n >= OUT_BUF_BYTES) {
        write_all(o, data, n); /* big tensors skip the copy */
    } else {
        memcpy(o->buf + o->len, data, n);
        o->len += n;
    }
}

static void out_u32(out_file *o, uint32_t v) {
    out_write(o, &v, 4);
}
static void out_u64(out_file *o, uint64_t v) {
    out_write(o, &v, 8);
}

static void out_pad(out_file *o, uint64_t alignment) {
    static const char zeros[256];
    uint64_t pad = (alignment - o->written % alignment) % alignment;
    while (pad) {
        size_t k = pad < sizeof zeros ? (size_t)pad : sizeof zeros;
        out_write(o, zeros, k);
        pad -= k;
    }
}

/* ---- the file ---- */

/* Places each tensor at the next aligned offset and returns the largest size
 * a fill callback will need. */
static int layout(gguf_writer *w, uint64_t alignment, uint64_t *max_fill, const char *path,
                  lm_error *err) {
    uint64_t off = 0;
    *max_fill = 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        writer_tensor *t = &w->tensors[i];
        t->offset = off;
        if (lm_add_overflows(off, t->nbytes, &off) || lm_add_overflows(off, alignment - 1, &off))
            return lm_fail(err, "%s: tensor data is too large", path);
        off = off / alignment * alignment;
        if (t->fill && t->nbytes > *max_fill) *max_fill = t->nbytes;
    }
    if (*max_fill > SIZE_MAX) return lm_fail(err, "%s: a tensor is too large for memory", path);
    return 0;
}

static void write_directory(gguf_writer *w, out_file *o) {
    out_write(o, "GGUF", 4);
    out_u32(o, 3);
    out_u64(o, w->n_tensors);
    out_u64(o, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        size_t len = strlen(w->kv[i].key);
        out_u64(o, len);
        out_write(o, w->kv[i].key, len);
        out_write(o, w->kv[i].val.data, w->kv[i].val.len);
    }
    for (size_t i = 0; i < w->n_tensors; i++) {
        const writer_tensor *t = &w->tensors[i];
        size_t len = strlen(t->name);
        out_u64(o, len);
        out_write(o, t->name, len);
        out_u32(o, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) out_u64(o, (uint64_t)t->ne[d]);
        out_u32(o, t->type);
        out_u64(o, t->offset);
    }
}

static int write_data(gguf_writer *w, out_file *o, uint64_t alignment, uint64_t max_fill,
                      const char *path, lm_error *err) {
    void *buf = NULL;
    if (max_fill && !(buf = lm_alloc_aligned((size_t)max_fill)))
        return lm_fail(err, "%s: cannot allocate %" PRIu64 " bytes for tensor data", path,
                       max_fill);
    int rc = 0;
    uint64_t start = o->written;
    for (size_t i = 0; i < w->n_tensors && !rc && !o->err; i++) {
        const writer_tensor *t = &w->tensors[i];
        const void *data = t->data;
        if (t->fill) {
            lm_error ferr = {{0}};
            if (t->fill(t->ctx, t->name, buf, t->nbytes, &ferr) != 0)
                rc = lm_fail(err, "%s: tensor '%s': %s", path, t->name, ferr.msg);
            data = buf;
        }
        if (rc) break;
        if (o->written - start != t->offset) { /* layout() and this loop disagree */
            rc = lm_fail(err, "%s: internal error: tensor '%s' misplaced", path, t->name);
            break;
        }
        out_write(o, data, (size_t)t->nbytes);
        out_pad(o, alignment);
    }
    lm_free_aligned(buf);
    return rc;
}

static void sync_dir(const char *path) {
    char *dir = lm_xstrdup(path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd); /* makes the rename durable */
        close(dfd);
    }
    free(dir);
}

int gguf_writer_write(gguf_writer *w, const char *path, lm_error *err) {
    uint64_t alignment = writer_alignment(w), max_fill;
    if (w->failed) return lm_fail(err, "%s: %s", path, w->first_err.msg);
    if (layout(w, alignment, &max_fill, path, err)) return -1;

    size_t plen = strlen(path) + 16;
    char *tmp = lm_xmalloc(plen);
    snprintf(tmp, plen, "%s.tmpXXXXXX", path);
    out_file o = {.fd = mkstemp(tmp)};
    if (o.fd < 0) {
        int e = errno;
        free(tmp);
        return lm_fail(err, "%s: cannot create a temporary file: %s", path, strerror(e));
    }
    o.buf = lm_xmalloc(OUT_BUF_BYTES);
    write_directory(w, &o);
    out_pad(&o, alignment);
    int rc = write_data(w, &o, alignment, max_fill, path, err);
    out_flush(&o);
    if (!o.err && fchmod(o.fd, 0644) != 0) o.err = errno;
    if (!o.err && fsync(o.fd) != 0) o.err = errno;
    if (close(o.fd) != 0 && !o.err) o.err = errno;
    if (!rc && !o.err && rename(tmp, path) != 0) o.err = errno;
    if (!rc && o.err) rc = lm_fail(err, "%s: cannot write: %s", path, strerror(o.err));
    if (rc)
        unlink(tmp); /* the old file, if any, is untouched */
    else
        sync_dir(path);
    free(o.buf);
    free(tmp);
    return rc;
}

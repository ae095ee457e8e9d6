/* gguf: see include/gguf.h. The reader makes one linear pass over the header,
 * the metadata and the tensor directory. Every count, length and offset comes
 * from a file that may be hostile, so each is checked against the bytes that
 * are left before it is used, and nothing is allocated in proportion to a
 * count until the entries it counts have actually been read. */
#include "gguf.h"
#include "quant.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF reader assumes a little-endian host"
#endif

#define DEFAULT_ALIGNMENT 32
#define MAX_ALIGNMENT (1u << 20)
#define MAX_ARRAY_DEPTH 8 /* an array of arrays of ... at most this deep */
#define MAX_KEY_LEN 65535
#define MAX_NAME_LEN 127 /* gguf_tensor.name holds 128 bytes */

/* The fewest bytes an entry can take, to bound counts before reading them. */
#define MIN_KV_BYTES (8 + 4 + 1)             /* key length, value type, a 1-byte value */
#define MIN_TENSOR_BYTES (8 + 4 + 8 + 4 + 8) /* name length, n_dims, one dim, type, offset */
#define MIN_NESTED_ARRAY_BYTES (4 + 8)       /* element type, count */
#define MIN_STRING_BYTES 8                   /* length */

/* Bytes of one element of each fixed-size value type; 0 for STRING and ARRAY. */
static const uint8_t value_size[GGUF_VALUE_TYPE_COUNT] = {
    [GGUF_UINT8] = 1,  [GGUF_INT8] = 1,  [GGUF_UINT16] = 2,  [GGUF_INT16] = 2,
    [GGUF_UINT32] = 4, [GGUF_INT32] = 4, [GGUF_FLOAT32] = 4, [GGUF_BOOL] = 1,
    [GGUF_UINT64] = 8, [GGUF_INT64] = 8, [GGUF_FLOAT64] = 8,
};

const char *gguf_value_type_name(enum gguf_value_type t) {
    static const char *const names[GGUF_VALUE_TYPE_COUNT] = {
        "UINT8", "INT8",   "UINT16", "INT16",  "UINT32", "INT32",   "FLOAT32",
        "BOOL",  "STRING", "ARRAY",  "UINT64", "INT64",  "FLOAT64",
    };
    return (unsigned)t < GGUF_VALUE_TYPE_COUNT ? names[t] : "?";
}

/* ---- the cursor and its error messages ---- */

typedef struct reader {
    const uint8_t *p;
    uint64_t size, pos;
    const char *name; /* file name for messages */
    lm_error *err;
} reader;

static uint64_t left(const reader *r) {
    return r->size - r->pos;
}

/* "NAME: what is wrong (at byte AT)"; returns -1. */
__attribute__((format(printf, 3, 4))) static int bad(reader *r, uint64_t at, const char *fmt, ...) {
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    /* Tensor names come from the file: no newline or terminal escape may reach a message. */
    for (char *c = what; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f) *c = '?';
    return lm_fail(r->err, "%s: %s (at byte %" PRIu64 ")", r->name, what, at);
}

/* A printable excerpt of a string from the file, for messages. */
static const char *show(char out[72], const char *s, uint64_t len) {
    size_t n = len < 60 ? (size_t)len : 60;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    strcpy(out + n, len > n ? "..." : "");
    return out;
}

static int need(reader *r, uint64_t n, const char *what) {
    if (left(r) >= n) return 0;
    return bad(r, r->pos, "file ends inside %s (needs %" PRIu64 " bytes, %" PRIu64 " left)", what,
               n, left(r));
}

static int read_u32(reader *r, uint32_t *out, const char *what) {
    if (need(r, 4, what)) return -1;
    memcpy(out, r->p + r->pos, 4);
    r->pos += 4;
    return 0;
}

static int read_u64(reader *r, uint64_t *out, const char *what) {
    if (need(r, 8, what)) return -1;
    memcpy(out, r->p + r->pos, 8);
    r->pos += 8;
    return 0;
}

/* A length-prefixed string, as a view into the buffer. */
static int read_str(reader *r, gguf_str *out, const char *what) {
    uint64_t at = r->pos, len;
    if (read_u64(r, &len, what)) return -1;
    if (len > left(r))
        return bad(r, at,
                   "string of %" PRIu64 " bytes in %s runs past the end of the file (%" PRIu64
                   " bytes left)",
                   len, what, left(r));
    out->ptr = (const char *)r->p + r->pos;
    out->len = len;
    r->pos += len;
    return 0;
}

/* ---- metadata values ---- */

static uint64_t load_uint(const uint8_t *p, unsigned size) {
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    switch (size) {
    case 1:
        memcpy(&u8, p, 1);
        return u8;
    case 2:
        memcpy(&u16, p, 2);
        return u16;
    case 4:
        memcpy(&u32, p, 4);
        return u32;
    default:
        memcpy(&u64, p, 8);
        return u64;
    }
}

static bool type_is_signed(enum gguf_value_type t) {
    return t == GGUF_INT8 || t == GGUF_INT16 || t == GGUF_INT32 || t == GGUF_INT64;
}

static bool type_is_unsigned(enum gguf_value_type t) {
    return t == GGUF_UINT8 || t == GGUF_UINT16 || t == GGUF_UINT32 || t == GGUF_UINT64;
}

/* Sign-extends a little-endian value of size bytes. */
static int64_t load_int(const uint8_t *p, unsigned size) {
    uint64_t u = load_uint(p, size);
    if (size < 8 && (u >> (size * 8 - 1)) & 1) u |= ~(uint64_t)0 << (size * 8);
    return (int64_t)u;
}

static double load_float(const uint8_t *p, enum gguf_value_type t) {
    if (t == GGUF_FLOAT32) {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    double d;
    memcpy(&d, p, 8);
    return d;
}

/* Reads an array body (element type, count, elements) and checks every element
 * lies inside the file. depth counts the arrays enclosing this one, plus one. */
static int read_array(reader *r, gguf_kv *kv, int depth, const char *what) {
    uint64_t at = r->pos, n;
    uint32_t t;
    if (depth > MAX_ARRAY_DEPTH)
        return bad(r, at, "arrays in %s are nested deeper than %d levels", what, MAX_ARRAY_DEPTH);
    if (read_u32(r, &t, what) || read_u64(r, &n, what)) return -1;
    if (t >= GGUF_VALUE_TYPE_COUNT)
        return bad(r, at, "unknown array element type %" PRIu32 " in %s", t, what);
    uint64_t start = r->pos;
    if (value_size[t]) {
        uint64_t nbytes;
        if (lm_mul_overflows(n, value_size[t], &nbytes) || nbytes > left(r))
            return bad(r, at,
                       "array of %" PRIu64
                       " %s values in %s runs past the end of the file (%" PRIu64 " bytes left)",
                       n, gguf_value_type_name(t), what, left(r));
        for (uint64_t i = 0; t == GGUF_BOOL && i < n; i++)
            if (r->p[start + i] > 1)
                return bad(r, start + i, "bool %" PRIu64 " in %s is %u (must be 0 or 1)", i, what,
                           r->p[start + i]);
        r->pos += nbytes;
    } else if (t == GGUF_STRING) {
        if (n > left(r) / MIN_STRING_BYTES)
            return bad(r, at,
                       "array of %" PRIu64 " strings in %s runs past the end of the file (%" PRIu64
                       " bytes left)",
                       n, what, left(r));
        for (uint64_t i = 0; i < n; i++) {
            uint64_t len, sat = r->pos;
            if (read_u64(r, &len, what)) return -1;
            if (len > left(r))
                return bad(r, sat,
                           "string %" PRIu64 " of %" PRIu64
                           " bytes in %s runs past the end of the file (%" PRIu64 " bytes left)",
                           i, len, what, left(r));
            r->pos += len;
        }
    } else {
        if (n > left(r) / MIN_NESTED_ARRAY_BYTES)
            return bad(r, at,
                       "array of %" PRIu64 " arrays in %s runs past the end of the file (%" PRIu64
                       " bytes left)",
                       n, what, left(r));
        for (uint64_t i = 0; i < n; i++)
            if (read_array(r, NULL, depth + 1, what)) return -1;
    }
    if (kv) {
        kv->v.arr.type = (enum gguf_value_type)t;
        kv->v.arr.count = n;
        kv->v.arr.data = r->p + start;
        kv->v.arr.nbytes = r->pos - start;
    }
    return 0;
}

static int read_value(reader *r, gguf_kv *kv, const char *what) {
    uint64_t at = r->pos;
    uint32_t t;
    if (read_u32(r, &t, what)) return -1;
    if (t >= GGUF_VALUE_TYPE_COUNT)
        return bad(r, at, "unknown value type %" PRIu32 " in %s", t, what);
    kv->type = (enum gguf_value_type)t;
    if (t == GGUF_STRING) return read_str(r, &kv->v.str, what);
    if (t == GGUF_ARRAY) return read_array(r, kv, 1, what);
    unsigned size = value_size[t];
    if (need(r, size, what)) return -1;
    const uint8_t *p = r->p + r->pos;
    if (type_is_signed(kv->type))
        kv->v.i64 = load_int(p, size);
    else if (t == GGUF_FLOAT32 || t == GGUF_FLOAT64)
        kv->v.f64 = load_float(p, kv->type);
    else
        kv->v.u64 = load_uint(p, size);
    if (t == GGUF_BOOL && kv->v.u64 > 1)
        return bad(r, r->pos, "bool in %s is %" PRIu64 " (must be 0 or 1)", what, kv->v.u64);
    r->pos += size;
    return 0;
}

static int read_kv(reader *r, gguf_kv *kv, uint64_t index) {
    char what[160], shown[72];
    kv->file_offset = r->pos;
    snprintf(what, sizeof what, "the key of metadata entry %" PRIu64, index);
    if (read_str(r, &kv->key, what)) return -1;
    if (kv->key.len == 0 || kv->key.len > MAX_KEY_LEN)
        return bad(r, kv->file_offset,
                   "metadata entry %" PRIu64 " has a key of %" PRIu64 " bytes (1 to %d allowed)",
                   index, kv->key.len, MAX_KEY_LEN);
    if (memchr(kv->key.ptr, 0, (size_t)kv->key.len))
        return bad(r, kv->file_offset, "metadata entry %" PRIu64 " has a NUL byte in its key",
                   index);
    snprintf(what, sizeof what, "the value of '%s'", show(shown, kv->key.ptr, kv->key.len));
    return read_value(r, kv, what);
}

/* ---- lookups (used while opening, too) ---- */

static bool key_is(const gguf_kv *kv, const char *key) {
    size_t n = strlen(key);
    return kv->key.len == n && memcmp(kv->key.ptr, key, n) == 0;
}

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key) {
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (key_is(&f->kv[i], key)) return &f->kv[i];
    return NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

/* ---- duplicate detection: sort pointers, compare neighbours ---- */

static int cmp_kv_key(const void *a, const void *b) {
    const gguf_kv *x = *(const gguf_kv *const *)a, *y = *(const gguf_kv *const *)b;
    uint64_t n = x->key.len < y->key.len ? x->key.len : y->key.len;
    int c = memcmp(x->key.ptr, y->key.ptr, (size_t)n);
    if (c) return c;
    return (x->key.len > y->key.len) - (x->key.len < y->key.len);
}

static int check_duplicate_keys(reader *r, gguf_file *f) {
    if (f->n_kv < 2) return 0;
    const gguf_kv **sorted = lm_xmalloc(f->n_kv * sizeof *sorted);
    for (uint64_t i = 0; i < f->n_kv; i++) sorted[i] = &f->kv[i];
    qsort(sorted, f->n_kv, sizeof *sorted, cmp_kv_key);
    int rc = 0;
    for (uint64_t i = 1; i < f->n_kv && !rc; i++) {
        if (cmp_kv_key(&sorted[i - 1], &sorted[i]) != 0) continue;
        const gguf_kv *later =
            sorted[i]->file_offset > sorted[i - 1]->file_offset ? sorted[i] : sorted[i - 1];
        char shown[72];
        rc = bad(r, later->file_offset, "duplicate key '%s'",
                 show(shown, later->key.ptr, later->key.len));
    }
    free(sorted);
    return rc;
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp((*(const gguf_tensor *const *)a)->name, (*(const gguf_tensor *const *)b)->name);
}

static int cmp_tensor_offset(const void *a, const void *b) {
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

static const gguf_tensor *later_entry(const gguf_tensor *a, const gguf_tensor *b) {
    return a->file_offset > b->file_offset ? a : b;
}

/* Names must be unique and data ranges must not overlap. */
static int check_tensor_set(reader *r, gguf_file *f) {
    if (f->n_tensors < 2) return 0;
    const gguf_tensor **sorted = lm_xmalloc(f->n_tensors * sizeof *sorted);
    for (uint64_t i = 0; i < f->n_tensors; i++) sorted[i] = &f->tensors[i];
    int rc = 0;
    qsort(sorted, f->n_tensors, sizeof *sorted, cmp_tensor_name);
    for (uint64_t i = 1; i < f->n_tensors && !rc; i++)
        if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0)
            rc = bad(r, later_entry(sorted[i - 1], sorted[i])->file_offset,
                     "duplicate tensor name '%s'", sorted[i]->name);
    if (!rc) qsort(sorted, f->n_tensors, sizeof *sorted, cmp_tensor_offset);
    for (uint64_t i = 1; i < f->n_tensors && !rc; i++) {
        const gguf_tensor *a = sorted[i - 1], *b = sorted[i];
        if (a->offset + a->nbytes <= b->offset) continue; /* both end inside the file */
        rc = bad(r, later_entry(a, b)->file_offset,
                 "tensors '%s' [%" PRIu64 "..%" PRIu64 ") and '%s' [%" PRIu64 "..%" PRIu64
                 ") overlap",
                 a->name, f->data_offset + a->offset, f->data_offset + a->offset + a->nbytes,
                 b->name, f->data_offset + b->offset, f->data_offset + b->offset + b->nbytes);
    }
    free(sorted);
    return rc;
}

/* ---- header, tensor directory ---- */

static int read_header(reader *r, gguf_file *f) {
    if (need(r, 4, "the magic number")) return -1;
    if (memcmp(r->p, "GGUF", 4) != 0) {
        char shown[72];
        return bad(r, 0, "not a GGUF file (starts with '%s', expected 'GGUF')",
                   show(shown, (const char *)r->p, 4));
    }
    r->pos = 4;
    if (read_u32(r, &f->version, "the version")) return -1;
    if (f->version == 1)
        return bad(r, 4,
                   "GGUF version 1 is not supported (only versions 2 and 3); convert the "
                   "file again with a current llama.cpp");
    if (f->version != 2 && f->version != 3) {
        uint32_t swapped = __builtin_bswap32(f->version);
        if (swapped >= 1 && swapped <= 3)
            return bad(r, 4, "big-endian GGUF files are not supported");
        return bad(r, 4, "GGUF version %" PRIu32 " is not supported (only versions 2 and 3)",
                   f->version);
    }
    uint64_t at = r->pos;
    if (read_u64(r, &f->n_tensors, "the tensor count")) return -1;
    if (read_u64(r, &f->n_kv, "the kv count")) return -1;
    /* Entries follow, so each count is bounded by the bytes left. */
    if (f->n_kv > left(r) / MIN_KV_BYTES)
        return bad(r, at + 8, "kv count %" PRIu64 " is too large for the %" PRIu64 " bytes left",
                   f->n_kv, left(r));
    if (f->n_tensors > left(r) / MIN_TENSOR_BYTES)
        return bad(r, at, "tensor count %" PRIu64 " is too large for the %" PRIu64 " bytes left",
                   f->n_tensors, left(r));
    return 0;
}

/* Growth of an entry array: doubles, but never past the count the header gave,
 * so memory follows the entries actually read rather than the claimed count. */
static void *grow(void *arr, uint64_t *cap, uint64_t need_n, uint64_t max_n, size_t elem) {
    if (need_n <= *cap) return arr;
    uint64_t c = *cap ? *cap * 2 : 64;
    if (c > max_n) c = max_n;
    *cap = c;
    return lm_xrealloc(arr, (size_t)c * elem);
}

static int read_metadata(reader *r, gguf_file *f) {
    uint64_t n = f->n_kv, cap = 0;
    f->n_kv = 0; /* counts the entries read, so gguf_close frees the right amount */
    for (uint64_t i = 0; i < n; i++) {
        f->kv = grow(f->kv, &cap, i + 1, n, sizeof *f->kv);
        memset(&f->kv[i], 0, sizeof f->kv[i]);
        if (read_kv(r, &f->kv[i], i)) return -1;
        f->n_kv = i + 1;
    }
    return check_duplicate_keys(r, f);
}

static int read_alignment(reader *r, gguf_file *f) {
    f->alignment = DEFAULT_ALIGNMENT;
    const gguf_kv *kv = gguf_find_kv(f, "general.alignment");
    if (!kv) return 0;
    uint64_t a;
    if (type_is_unsigned(kv->type))
        a = kv->v.u64;
    else if (type_is_signed(kv->type) && kv->v.i64 >= 0)
        a = (uint64_t)kv->v.i64;
    else
        return bad(r, kv->file_offset, "general.alignment is not a non-negative integer");
    /* The spec asks for a multiple of 8; less would leave tensor data at
     * addresses too odd for its float and half-float values. */
    if (a < 8 || (a & (a - 1)) != 0 || a > MAX_ALIGNMENT)
        return bad(r, kv->file_offset,
                   "general.alignment %" PRIu64 " is not a power of two between 8 and %u", a,
                   MAX_ALIGNMENT);
    f->alignment = a;
    return 0;
}

/* Element count and data size; the product of the dimensions must not overflow. */
static int tensor_sizes(reader *r, gguf_tensor *t, uint64_t at) {
    const quant_type_info *qi = quant_info(t->type);
    if (!qi || qi->block_size == 0 || qi->type_size == 0)
        return bad(r, at, "tensor '%s' has unknown type %" PRIu32, t->name, t->type);
    uint64_t n = 1;
    for (uint32_t d = 0; d < t->n_dims; d++)
        if (lm_mul_overflows(n, (uint64_t)t->ne[d], &n) || n > INT64_MAX)
            return bad(r, at, "tensor '%s' has too many elements", t->name);
    t->n_elements = n;
    uint64_t row = (uint64_t)t->ne[0];
    if (row % qi->block_size)
        return bad(r, at,
                   "tensor '%s' rows of %" PRIu64
                   " values are not a multiple of the %s block size %" PRIu32,
                   t->name, row, qi->name, qi->block_size);
    uint64_t row_bytes;
    if (lm_mul_overflows(row / qi->block_size, qi->type_size, &row_bytes) ||
        lm_mul_overflows(row_bytes, n / row, &t->nbytes))
        return bad(r, at, "tensor '%s' is too large", t->name);
    return 0;
}

static int read_tensor_info(reader *r, gguf_tensor *t, uint64_t index) {
    char what[160];
    t->file_offset = r->pos;
    snprintf(what, sizeof what, "the name of tensor %" PRIu64, index);
    gguf_str name;
    if (read_str(r, &name, what)) return -1;
    if (name.len > MAX_NAME_LEN)
        return bad(r, t->file_offset,
                   "tensor %" PRIu64 " has a name of %" PRIu64 " bytes, longer than %d", index,
                   name.len, MAX_NAME_LEN);
    if (memchr(name.ptr, 0, (size_t)name.len))
        return bad(r, t->file_offset, "tensor %" PRIu64 " has a NUL byte in its name", index);
    memcpy(t->name, name.ptr, (size_t)name.len);
    t->name[name.len] = 0;
    snprintf(what, sizeof what, "the directory entry of tensor '%s'", t->name);

    uint64_t at = r->pos;
    if (read_u32(r, &t->n_dims, what)) return -1;
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        return bad(r, at, "tensor '%s' has %" PRIu32 " dimensions (1 to %d allowed)", t->name,
                   t->n_dims, GGUF_MAX_DIMS);
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        at = r->pos;
        uint64_t ne;
        if (read_u64(r, &ne, what)) return -1;
        t->ne[d] = (int64_t)ne;
        if (t->ne[d] <= 0)
            return bad(r, at, "tensor '%s' dimension %" PRIu32 " is %" PRId64 " (must be positive)",
                       t->name, d, t->ne[d]);
    }
    at = r->pos;
    if (read_u32(r, &t->type, what)) return -1;
    if (tensor_sizes(r, t, at)) return -1;
    return read_u64(r, &t->offset, what);
}

static uint64_t sat_add(uint64_t a, uint64_t b) {
    uint64_t s;
    return lm_add_overflows(a, b, &s) ? UINT64_MAX : s;
}

/* Offsets are known to be checkable only once the data section start is. */
static int place_tensor(reader *r, gguf_file *f, gguf_tensor *t) {
    if (t->offset % f->alignment)
        return bad(r, t->file_offset,
                   "tensor '%s' offset %" PRIu64 " is not a multiple of the alignment %" PRIu64,
                   t->name, t->offset, f->alignment);
    uint64_t start = sat_add(f->data_offset, t->offset), end = sat_add(start, t->nbytes);
    if (end > r->size)
        return bad(r, t->file_offset,
                   "tensor '%s' data [%" PRIu64 "..%" PRIu64
                   ") runs past the end of the file (size %" PRIu64 ")",
                   t->name, start, end, r->size);
    t->data = r->p + start;
    return 0;
}

static int read_tensors(reader *r, gguf_file *f) {
    uint64_t n = f->n_tensors, cap = 0;
    if (n > left(r) / MIN_TENSOR_BYTES)
        return bad(r, r->pos,
                   "tensor count %" PRIu64 " is too large for the %" PRIu64
                   " bytes left after the metadata",
                   n, left(r));
    f->n_tensors = 0;
    for (uint64_t i = 0; i < n; i++) {
        f->tensors = grow(f->tensors, &cap, i + 1, n, sizeof *f->tensors);
        memset(&f->tensors[i], 0, sizeof f->tensors[i]);
        if (read_tensor_info(r, &f->tensors[i], i)) return -1;
        f->n_tensors = i + 1;
    }
    /* The data section starts at the next multiple of the alignment. */
    f->data_offset = (r->pos + f->alignment - 1) / f->alignment * f->alignment;
    for (uint64_t i = 0; i < n; i++)
        if (place_tensor(r, f, &f->tensors[i])) return -1;
    return check_tensor_set(r, f);
}

/* ---- open / close ---- */

static gguf_file *parse(const uint8_t *base, uint64_t size, const char *name, lm_error *err) {
    reader r = {.p = base, .size = size, .name = name, .err = err};
    gguf_file *f = lm_xcalloc(1, sizeof *f);
    f->path = lm_xstrdup(name);
    f->base = base;
    f->size = size;
    if (read_header(&r, f) || read_metadata(&r, f) || read_alignment(&r, f) ||
        read_tensors(&r, f)) {
        gguf_close(f);
        return NULL;
    }
    return f;
}

gguf_file *gguf_open_memory(const void *data, size_t size, const char *name, lm_error *err) {
    static const uint8_t empty[1];
    return parse(data ? data : empty, data ? size : 0, name ? name : "(memory)", err);
}

/* ---- a file cut short while mapped ----
 *
 * Reading a page of the mapping past a file's new end raises SIGBUS. The
 * handler maps a page of zeros over it and marks the file damaged, so the
 * read goes on with zeros; the engine then sees gguf_damaged() and unloads
 * the model instead of the whole program dying. A signal handler can only
 * find the mappings through process-wide state: the table below, filled and
 * emptied by gguf_open and gguf_close. */

#define GUARD_SLOTS 16

static struct guard_slot {
    _Atomic(uintptr_t) lo, hi;
    atomic_bool *damaged;
} guard[GUARD_SLOTS];
static struct sigaction guard_previous;
static pthread_mutex_t guard_mu = PTHREAD_MUTEX_INITIALIZER;

static void on_sigbus(int sig, siginfo_t *si, void *uc) {
    uintptr_t a = (uintptr_t)si->si_addr;
    for (int i = 0; i < GUARD_SLOTS; i++) {
        if (a < atomic_load(&guard[i].lo) || a >= atomic_load(&guard[i].hi)) continue;
        uintptr_t page = a & ~(uintptr_t)(sysconf(_SC_PAGESIZE) - 1);
        mmap((void *)page, (size_t)sysconf(_SC_PAGESIZE), PROT_READ,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        atomic_store(guard[i].damaged, true);
        return;
    }
    if (guard_previous.sa_flags & SA_SIGINFO) { /* not ours: whoever was there before */
        guard_previous.sa_sigaction(sig, si, uc);
    } else if (guard_previous.sa_handler != SIG_DFL && guard_previous.sa_handler != SIG_IGN) {
        guard_previous.sa_handler(sig);
    } else {
        signal(SIGBUS, SIG_DFL);
        raise(SIGBUS);
    }
}

/* Puts the handler first in line (again, if another was installed since). */
static void guard_add(gguf_file *f) {
    pthread_mutex_lock(&guard_mu);
    struct sigaction now;
    sigaction(SIGBUS, NULL, &now);
    if (!(now.sa_flags & SA_SIGINFO) || now.sa_sigaction != on_sigbus) {
        struct sigaction sa = {0};
        sa.sa_sigaction = on_sigbus;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGBUS, &sa, &guard_previous);
    }
    for (int i = 0; i < GUARD_SLOTS; i++) {
        if (atomic_load(&guard[i].hi) != 0) continue;
        guard[i].damaged = &f->damaged;
        atomic_store(&guard[i].lo, (uintptr_t)f->base);
        atomic_store(&guard[i].hi, (uintptr_t)f->base + f->size);
        break;
    }
    pthread_mutex_unlock(&guard_mu);
}

static void guard_remove(const gguf_file *f) {
    pthread_mutex_lock(&guard_mu);
    for (int i = 0; i < GUARD_SLOTS; i++) {
        if (atomic_load(&guard[i].lo) != (uintptr_t)f->base) continue;
        atomic_store(&guard[i].hi, 0);
        atomic_store(&guard[i].lo, 0);
    }
    pthread_mutex_unlock(&guard_mu);
}

bool gguf_damaged(const gguf_file *f) {
    return atomic_load(&f->damaged);
}

/* Maps a file at a 2 MiB boundary and asks for large pages. Generation reads
 * every weight once per token; where the page cache holds the file in 2 MiB
 * folios (ext4 and xfs on recent kernels, when the pages were read in), a
 * mapping at the same 2 MiB phase lets the kernel map whole folios with one
 * TLB entry each, and the weights stream about a tenth faster. Both are
 * hints: a plain mapping works the same, only slower. */
static void *map_file(int fd, size_t size) {
    void *map = size >= LM_LARGE_PAGE ? lm_map_large(size, PROT_READ, MAP_PRIVATE, fd) : NULL;
    return map ? map : mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
}

gguf_file *gguf_open(const char *path, lm_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        lm_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        lm_fail(err, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    uint64_t size = (uint64_t)st.st_size;
    void *map = NULL;
    if (size > 0 && size <= SIZE_MAX) {
        map = map_file(fd, (size_t)size);
        if (map == MAP_FAILED) {
            lm_fail(err, "%s: cannot map %" PRIu64 " bytes: %s", path, size, strerror(errno));
            close(fd);
            return NULL;
        }
    }
    close(fd); /* the mapping keeps the file */
    gguf_file *f = gguf_open_memory(map, map ? (size_t)size : 0, path, err);
    if (f) {
        f->owns_mapping = map != NULL;
        if (map) guard_add(f);
    } else if (map) {
        munmap(map, (size_t)size);
    }
    return f;
}

void gguf_close(gguf_file *f) {
    if (!f) return;
    if (f->owns_mapping) {
        guard_remove(f);
        munmap((void *)f->base, (size_t)f->size);
    }
    free(f->kv);
    free(f->tensors);
    free(f->path);
    free(f);
}

/* ---- typed getters ---- */

bool gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return false;
    if (type_is_unsigned(kv->type))
        *out = kv->v.u64;
    else if (type_is_signed(kv->type) && kv->v.i64 >= 0)
        *out = (uint64_t)kv->v.i64;
    else
        return false;
    return true;
}

bool gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out) {
    uint64_t v;
    if (!gguf_get_u64(f, key, &v) || v > UINT32_MAX) return false;
    *out = (uint32_t)v;
    return true;
}

bool gguf_get_i64(const gguf_file *f, const char *key, int64_t *out) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return false;
    if (type_is_signed(kv->type))
        *out = kv->v.i64;
    else if (type_is_unsigned(kv->type) && kv->v.u64 <= INT64_MAX)
        *out = (int64_t)kv->v.u64;
    else
        return false;
    return true;
}

bool gguf_get_f32(const gguf_file *f, const char *key, float *out) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv || (kv->type != GGUF_FLOAT32 && kv->type != GGUF_FLOAT64)) return false;
    *out = (float)kv->v.f64;
    return true;
}

bool gguf_get_bool(const gguf_file *f, const char *key, bool *out) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv || kv->type != GGUF_BOOL) return false;
    *out = kv->v.u64 != 0;
    return true;
}

bool gguf_get_str(const gguf_file *f, const char *key, gguf_str *out) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv || kv->type != GGUF_STRING) return false;
    *out = kv->v.str;
    return true;
}

char *gguf_get_strdup(const gguf_file *f, const char *key) {
    gguf_str s;
    if (!gguf_get_str(f, key, &s)) return NULL;
    return lm_xstrndup(s.ptr, (size_t)s.len);
}

const gguf_kv *gguf_get_array(const gguf_file *f, const char *key, enum gguf_value_type elem) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv || kv->type != GGUF_ARRAY || kv->v.arr.type != elem) return NULL;
    return kv;
}

/* ---- arrays (validated at open, so no checks here) ---- */

void gguf_array_strings(const gguf_kv *kv, gguf_str *out) {
    const uint8_t *p = kv->v.arr.data;
    for (uint64_t i = 0; i < kv->v.arr.count; i++) {
        uint64_t len;
        memcpy(&len, p, 8);
        out[i].ptr = (const char *)p + 8;
        out[i].len = len;
        p += 8 + len;
    }
}

double gguf_array_f64(const gguf_kv *kv, uint64_t i) {
    enum gguf_value_type t = kv->v.arr.type;
    if ((unsigned)t >= GGUF_VALUE_TYPE_COUNT || !value_size[t] || i >= kv->v.arr.count) return 0;
    const uint8_t *p = kv->v.arr.data + i * value_size[t];
    if (t == GGUF_FLOAT32 || t == GGUF_FLOAT64) return load_float(p, t);
    if (type_is_signed(t)) return (double)load_int(p, value_size[t]);
    return (double)load_uint(p, value_size[t]);
}

int64_t gguf_array_i64(const gguf_kv *kv, uint64_t i) {
    enum gguf_value_type t = kv->v.arr.type;
    if ((unsigned)t >= GGUF_VALUE_TYPE_COUNT || !value_size[t] || i >= kv->v.arr.count) return 0;
    const uint8_t *p = kv->v.arr.data + i * value_size[t];
    if (t == GGUF_FLOAT32 || t == GGUF_FLOAT64) {
        double d = load_float(p, t); /* saturate: an out-of-range cast is undefined */
        if (!(d > -9.2e18)) return d != d ? 0 : INT64_MIN;
        return d < 9.2e18 ? (int64_t)d : INT64_MAX;
    }
    if (type_is_signed(t)) return load_int(p, value_size[t]);
    return (int64_t)load_uint(p, value_size[t]);
}

/* gguf: read a GGUF file through mmap, validating every size and offset; write one.
 * Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md (v2 and v3). */
#ifndef LMTERM_GGUF_H
#define LMTERM_GGUF_H

#include "util.h"

#include <stdatomic.h>

enum gguf_value_type {
    GGUF_UINT8 = 0,
    GGUF_INT8 = 1,
    GGUF_UINT16 = 2,
    GGUF_INT16 = 3,
    GGUF_UINT32 = 4,
    GGUF_INT32 = 5,
    GGUF_FLOAT32 = 6,
    GGUF_BOOL = 7,
    GGUF_STRING = 8,
    GGUF_ARRAY = 9,
    GGUF_UINT64 = 10,
    GGUF_INT64 = 11,
    GGUF_FLOAT64 = 12,
    GGUF_VALUE_TYPE_COUNT
};

/* A string inside the mapped file: not NUL-terminated. */
typedef struct gguf_str {
    const char *ptr;
    uint64_t len;
} gguf_str;

/* One metadata key/value. Scalars are decoded; arrays point into the mapping.
 * Array data is exactly the file's element bytes: fixed-size values packed, a
 * string array as (u64 length, bytes) pairs (walk it with gguf_array_strings),
 * a nested array as (u32 element type, u64 count, elements) records. Every
 * element, at every depth (at most 8), is checked at open. */
typedef struct gguf_kv {
    gguf_str key;
    enum gguf_value_type type;
    union {
        uint64_t u64; /* every unsigned integer type and bool */
        int64_t i64;  /* every signed integer type */
        double f64;   /* FLOAT32 and FLOAT64 */
        gguf_str str;
        struct {
            enum gguf_value_type type; /* element type */
            uint64_t count;
            const uint8_t *data; /* first element, inside the mapping */
            uint64_t nbytes;     /* bytes the elements occupy */
        } arr;
    } v;
    uint64_t file_offset; /* where the key starts, for messages */
} gguf_kv;

#define GGUF_MAX_DIMS 4

typedef struct gguf_tensor {
    char name[128];            /* NUL-terminated copy; up to 127 bytes accepted (GGUF says 64) */
    uint32_t n_dims;           /* 1..4 */
    int64_t ne[GGUF_MAX_DIMS]; /* elements per dimension, fastest first; unused = 1 */
    uint32_t type;             /* ggml type id (see quant.h) */
    uint64_t offset;           /* relative to the start of the data section */
    uint64_t n_elements;
    uint64_t nbytes;
    const void *data;     /* inside the mapping */
    uint64_t file_offset; /* where its directory entry starts, for messages */
} gguf_tensor;

typedef struct gguf_file {
    char *path;
    const uint8_t *base; /* the mapping */
    uint64_t size;
    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset; /* start of the tensor data section */
    uint64_t n_kv;
    gguf_kv *kv;
    uint64_t n_tensors;
    gguf_tensor *tensors;
    bool owns_mapping;   /* false for gguf_open_memory */
    atomic_bool damaged; /* the file was cut short while mapped (see gguf_damaged) */
} gguf_file;

/* Opens and validates path: counts, lengths and offsets against the file size,
 * value and tensor types, shapes, alignment, overlapping tensor data, duplicate
 * keys and tensor names. On error returns NULL and err says (one line)
 * "FILE: what is wrong (at byte N)", N being where the bad item starts. Tensors
 * may come in any order; general.alignment (default 32) must be a power of two
 * up to 1 MiB. */
gguf_file *gguf_open(const char *path, lm_error *err);
/* Parses a buffer the caller keeps alive (tests, fuzzing). name is used in messages. */
gguf_file *gguf_open_memory(const void *data, size_t size, const char *name, lm_error *err);
void gguf_close(gguf_file *f);
/* True once a read of the mapping found the file cut short (truncated or
 * replaced on disk): zeros were read instead, so results are garbage. */
bool gguf_damaged(const gguf_file *f);

/* Lookup (linear); NULL when absent. */
const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* Typed getters: return true and set *out when the key exists with a compatible
 * type (any integer type for the integer getters when the value fits; FLOAT32 or
 * FLOAT64 for gguf_get_f32), false otherwise. */
bool gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out);
bool gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out);
bool gguf_get_i64(const gguf_file *f, const char *key, int64_t *out);
bool gguf_get_f32(const gguf_file *f, const char *key, float *out);
bool gguf_get_bool(const gguf_file *f, const char *key, bool *out);
bool gguf_get_str(const gguf_file *f, const char *key, gguf_str *out);
/* Malloc'd NUL-terminated copy of a string value, NULL when absent. */
char *gguf_get_strdup(const gguf_file *f, const char *key);
/* Array of the given element type; NULL when absent or of another type. */
const gguf_kv *gguf_get_array(const gguf_file *f, const char *key, enum gguf_value_type elem);

/* Fills out[0..count) with views of the strings of a string array (count = kv->v.arr.count). */
void gguf_array_strings(const gguf_kv *kv, gguf_str *out);
/* Element i of a numeric array converted to double / int64. */
double gguf_array_f64(const gguf_kv *kv, uint64_t i);
int64_t gguf_array_i64(const gguf_kv *kv, uint64_t i);

const char *gguf_value_type_name(enum gguf_value_type t);

/* ---- writer ---- */

typedef struct gguf_writer gguf_writer;

/* Produces the bytes of a tensor into buf (nbytes long). Called once per tensor,
 * in the order tensors were added, while the file is written, so a multi-GiB
 * model never needs to sit in memory whole. Returns 0 or -1 with err set. */
typedef int (*gguf_tensor_fill)(void *ctx, const char *name, void *buf, uint64_t nbytes,
                                lm_error *err);

gguf_writer *gguf_writer_new(void);
void gguf_writer_free(gguf_writer *w);
void gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
void gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v);
void gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v);
void gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
void gguf_writer_set_bool(gguf_writer *w, const char *key, bool v);
void gguf_writer_set_str(gguf_writer *w, const char *key, const char *v);
void gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *v, uint64_t n);
void gguf_writer_set_arr_f32(gguf_writer *w, const char *key, const float *v, uint64_t n);
void gguf_writer_set_arr_i32(gguf_writer *w, const char *key, const int32_t *v, uint64_t n);
/* Copies every key/value of f except those whose key starts with one of the
 * NULL-terminated prefixes in skip (may be NULL). For `quantize`. */
void gguf_writer_copy_kv(gguf_writer *w, const gguf_file *f, const char *const *skip);
/* Adds a tensor: data is either a buffer of nbytes that stays valid until the
 * write (fill NULL), or NULL with fill/ctx producing it. */
void gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                            const int64_t *ne, const void *data, gguf_tensor_fill fill, void *ctx);
/* Writes a GGUF v3 file atomically (temporary file in the same folder, fsync,
 * rename; the old file survives any failure). Tensors go in the order added, at
 * offsets aligned to general.alignment if a kv sets it, else 32, with the
 * layout llama.cpp writes. A bad setter or add_tensor call (unknown type, bad
 * shape, duplicate name) is reported here. Setting a key again replaces it. */
int gguf_writer_write(gguf_writer *w, const char *path, lm_error *err);

#endif

/* gguf reader and writer: round trips, llama.cpp's own files, hostile input. */
#include "gguf.h"
#include "json.h"
#include "quant.h"
#include "test.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- a byte builder for hand-made files ---- */

static void b_raw(lm_buf *b, const void *p, size_t n) {
    lm_buf_append(b, p, n);
}
static void b_u8(lm_buf *b, uint8_t v) {
    b_raw(b, &v, 1);
}
static void b_u16(lm_buf *b, uint16_t v) {
    b_raw(b, &v, 2);
}
static void b_u32(lm_buf *b, uint32_t v) {
    b_raw(b, &v, 4);
}
static void b_u64(lm_buf *b, uint64_t v) {
    b_raw(b, &v, 8);
}
static void b_f32(lm_buf *b, float v) {
    b_raw(b, &v, 4);
}
static void b_f64(lm_buf *b, double v) {
    b_raw(b, &v, 8);
}

static void b_str(lm_buf *b, const char *s) {
    b_u64(b, strlen(s));
    b_raw(b, s, strlen(s));
}

static void b_header(lm_buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    b_raw(b, "GGUF", 4);
    b_u32(b, version);
    b_u64(b, n_tensors);
    b_u64(b, n_kv);
}

/* A key followed by its value type; the caller appends the value. */
static void b_key(lm_buf *b, const char *key, uint32_t type) {
    b_str(b, key);
    b_u32(b, type);
}

static void b_tensor(lm_buf *b, const char *name, uint32_t n_dims, const int64_t *ne, uint32_t type,
                     uint64_t offset) {
    b_str(b, name);
    b_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) b_u64(b, (uint64_t)ne[d]);
    b_u32(b, type);
    b_u64(b, offset);
}

static void b_pad(lm_buf *b, size_t align) {
    while (b->len % align) b_u8(b, 0);
}

static void b_zeros(lm_buf *b, size_t n) {
    for (size_t i = 0; i < n; i++) b_u8(b, 0);
}

/* ---- helpers ---- */

static char *tmp_path(const char *name) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    return path;
}

static bool write_bytes(const char *path, const void *data, size_t len) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return false;
    bool ok = len == 0 || fwrite(data, 1, len, fp) == len;
    return fclose(fp) == 0 && ok;
}

static bool read_bytes(const char *path, char **data, size_t *len) {
    lm_error err;
    return lm_read_file(path, (size_t)1 << 30, data, len, &err) == 0;
}

static bool str_eq(gguf_str s, const char *c) {
    return s.len == strlen(c) && memcmp(s.ptr, c, (size_t)s.len) == 0;
}

/* Opens an exact-size heap copy, so ASan sees any read past the end. */
static gguf_file *open_copy(const void *data, size_t len, lm_error *err, void **copy) {
    *copy = malloc(len ? len : 1);
    if (len) memcpy(*copy, data, len);
    return gguf_open_memory(*copy, len, "mem.gguf", err);
}

/* Everything the reader hands out must lie inside the buffer. */
static bool in_file(const gguf_file *f, const void *p, uint64_t n) {
    const uint8_t *q = p;
    return q >= f->base && (uint64_t)(q - f->base) <= f->size &&
           n <= f->size - (uint64_t)(q - f->base);
}

static bool consistent(const gguf_file *f) {
    bool ok = f->data_offset % f->alignment == 0;
    for (uint64_t i = 0; i < f->n_kv && ok; i++) {
        const gguf_kv *kv = &f->kv[i];
        ok = in_file(f, kv->key.ptr, kv->key.len);
        if (kv->type == GGUF_STRING) ok = ok && in_file(f, kv->v.str.ptr, kv->v.str.len);
        if (kv->type != GGUF_ARRAY) continue;
        ok = ok && in_file(f, kv->v.arr.data, kv->v.arr.nbytes);
        if (ok && kv->v.arr.type == GGUF_STRING) {
            gguf_str *s = malloc((size_t)kv->v.arr.count * sizeof *s + 1);
            gguf_array_strings(kv, s);
            for (uint64_t j = 0; j < kv->v.arr.count && ok; j++)
                ok = in_file(f, s[j].ptr, s[j].len);
            free(s);
        }
    }
    for (uint64_t i = 0; i < f->n_tensors && ok; i++) {
        const gguf_tensor *t = &f->tensors[i];
        ok = in_file(f, t->data, t->nbytes) && t->offset % f->alignment == 0 &&
             (const uint8_t *)t->data == f->base + f->data_offset + t->offset;
    }
    return ok;
}

/* A failure message: one line, names the file, says where. */
static bool good_message(const char *msg, const char *name) {
    size_t n = strlen(name);
    return strncmp(msg, name, n) == 0 && msg[n] == ':' && strstr(msg, " (at byte ") &&
           !strchr(msg, '\n');
}

/* The bytes must be rejected, from memory and from a file, with a message
 * containing want. Returns the byte position the message gives (or -1). */
static long long expect_bad(const lm_buf *b, const char *want) {
    lm_error err = {{0}};
    void *copy;
    gguf_file *f = open_copy(b->data, b->len, &err, &copy);
    CHECK_MSG(!f, "accepted a file that should fail with '%s'", want);
    gguf_close(f);
    free(copy);
    CHECK_MSG(strstr(err.msg, want) && good_message(err.msg, "mem.gguf"), "'%s' lacks '%s'",
              err.msg, want);

    char *path = tmp_path("bad.gguf");
    CHECK(write_bytes(path, b->data, b->len));
    lm_error ferr = {{0}};
    f = gguf_open(path, &ferr);
    CHECK_MSG(!f, "gguf_open accepted a file that should fail with '%s'", want);
    gguf_close(f);
    CHECK_MSG(strstr(ferr.msg, want) && good_message(ferr.msg, path), "'%s' lacks '%s'", ferr.msg,
              want);
    const char *at = strstr(err.msg, "(at byte ");
    return at ? atoll(at + 9) : -1;
}

static gguf_file *expect_good(const lm_buf *b, void **copy) {
    lm_error err = {{0}};
    gguf_file *f = open_copy(b->data, b->len, &err, copy);
    CHECK_MSG(f != NULL, "rejected a valid file: %s", err.msg);
    return f;
}

/* ---- 1. every value type, written by hand, read back, copied by the writer ---- */

static void build_all_types(lm_buf *b) {
    b_header(b, 3, 1, 28);
    b_key(b, "t.u8", GGUF_UINT8), b_u8(b, 200);
    b_key(b, "t.i8", GGUF_INT8), b_u8(b, (uint8_t)-100);
    b_key(b, "t.u16", GGUF_UINT16), b_u16(b, 60000);
    b_key(b, "t.i16", GGUF_INT16), b_u16(b, (uint16_t)-30000);
    b_key(b, "t.u32", GGUF_UINT32), b_u32(b, 4000000000u);
    b_key(b, "t.i32", GGUF_INT32), b_u32(b, (uint32_t)-2000000000);
    b_key(b, "t.f32", GGUF_FLOAT32), b_f32(b, 0.1f);
    b_key(b, "t.bool", GGUF_BOOL), b_u8(b, 1);
    b_key(b, "t.str", GGUF_STRING), b_str(b, "h\xc3\xa9llo");
    b_key(b, "t.u64", GGUF_UINT64), b_u64(b, (1ull << 63) + 1);
    b_key(b, "t.i64", GGUF_INT64), b_u64(b, (uint64_t)INT64_MIN);
    b_key(b, "t.f64", GGUF_FLOAT64), b_f64(b, 1e300);
    b_key(b, "a.u8", GGUF_ARRAY), b_u32(b, GGUF_UINT8), b_u64(b, 3);
    b_u8(b, 1), b_u8(b, 2), b_u8(b, 255);
    b_key(b, "a.i8", GGUF_ARRAY), b_u32(b, GGUF_INT8), b_u64(b, 2), b_u8(b, 0x80), b_u8(b, 7);
    b_key(b, "a.u16", GGUF_ARRAY), b_u32(b, GGUF_UINT16), b_u64(b, 1), b_u16(b, 65535);
    b_key(b, "a.i16", GGUF_ARRAY), b_u32(b, GGUF_INT16), b_u64(b, 1), b_u16(b, 0x8000);
    b_key(b, "a.u32", GGUF_ARRAY), b_u32(b, GGUF_UINT32), b_u64(b, 1), b_u32(b, 0xffffffffu);
    b_key(b, "a.i32", GGUF_ARRAY), b_u32(b, GGUF_INT32), b_u64(b, 2);
    b_u32(b, (uint32_t)-5), b_u32(b, 5);
    b_key(b, "a.f32", GGUF_ARRAY), b_u32(b, GGUF_FLOAT32), b_u64(b, 2), b_f32(b, 1.5f);
    b_f32(b, -0.25f);
    b_key(b, "a.bool", GGUF_ARRAY), b_u32(b, GGUF_BOOL), b_u64(b, 2), b_u8(b, 0), b_u8(b, 1);
    b_key(b, "a.str", GGUF_ARRAY), b_u32(b, GGUF_STRING), b_u64(b, 3);
    b_str(b, "a"), b_str(b, ""), b_str(b, "\xc3\xbcn\xc3\xaf");
    b_key(b, "a.u64", GGUF_ARRAY), b_u32(b, GGUF_UINT64), b_u64(b, 1), b_u64(b, UINT64_MAX);
    b_key(b, "a.i64", GGUF_ARRAY), b_u32(b, GGUF_INT64), b_u64(b, 1), b_u64(b, (uint64_t)-9);
    b_key(b, "a.f64", GGUF_ARRAY), b_u32(b, GGUF_FLOAT64), b_u64(b, 1), b_f64(b, -2.5);
    b_key(b, "a.empty", GGUF_ARRAY), b_u32(b, GGUF_INT32), b_u64(b, 0);
    /* [[1, 2], [3]] */
    b_key(b, "n.ints", GGUF_ARRAY), b_u32(b, GGUF_ARRAY), b_u64(b, 2);
    b_u32(b, GGUF_INT32), b_u64(b, 2), b_u32(b, 1), b_u32(b, 2);
    b_u32(b, GGUF_INT32), b_u64(b, 1), b_u32(b, 3);
    /* [["x", "yy"], []] */
    b_key(b, "n.strs", GGUF_ARRAY), b_u32(b, GGUF_ARRAY), b_u64(b, 2);
    b_u32(b, GGUF_STRING), b_u64(b, 2), b_str(b, "x"), b_str(b, "yy");
    b_u32(b, GGUF_STRING), b_u64(b, 0);
    b_key(b, "skip.me", GGUF_UINT32), b_u32(b, 1);
    b_tensor(b, "w", 1, (int64_t[]){4}, QT_F32, 0);
    b_pad(b, 32);
    for (int i = 0; i < 4; i++) b_f32(b, (float)(i + 1));
}

static void check_all_types(const gguf_file *f, bool with_skipped) {
    uint32_t u32;
    uint64_t u64;
    int64_t i64;
    float f32;
    bool bl;
    gguf_str s;
    CHECK_EQ_INT(f->n_kv, with_skipped ? 28 : 27);
    CHECK(gguf_get_u32(f, "t.u8", &u32) && u32 == 200);
    CHECK(gguf_get_i64(f, "t.i8", &i64) && i64 == -100);
    CHECK(gguf_get_u32(f, "t.u16", &u32) && u32 == 60000);
    CHECK(gguf_get_i64(f, "t.i16", &i64) && i64 == -30000);
    CHECK(gguf_get_u32(f, "t.u32", &u32) && u32 == 4000000000u);
    CHECK(gguf_get_i64(f, "t.i32", &i64) && i64 == -2000000000);
    CHECK(gguf_get_f32(f, "t.f32", &f32) && f32 == 0.1f);
    CHECK(gguf_get_bool(f, "t.bool", &bl) && bl);
    CHECK(gguf_get_str(f, "t.str", &s) && str_eq(s, "h\xc3\xa9llo"));
    CHECK(gguf_get_u64(f, "t.u64", &u64) && u64 == (1ull << 63) + 1);
    CHECK(gguf_get_i64(f, "t.i64", &i64) && i64 == INT64_MIN);
    CHECK(gguf_get_f32(f, "t.f32", &f32) && f32 == 0.1f);
    const gguf_kv *kv = gguf_find_kv(f, "t.f64");
    CHECK(kv && kv->type == GGUF_FLOAT64 && kv->v.f64 == 1e300);

    kv = gguf_get_array(f, "a.u8", GGUF_UINT8);
    CHECK(kv && kv->v.arr.count == 3 && gguf_array_i64(kv, 2) == 255);
    kv = gguf_get_array(f, "a.i8", GGUF_INT8);
    CHECK(kv && gguf_array_i64(kv, 0) == -128 && gguf_array_i64(kv, 1) == 7);
    kv = gguf_get_array(f, "a.u16", GGUF_UINT16);
    CHECK(kv && gguf_array_i64(kv, 0) == 65535);
    kv = gguf_get_array(f, "a.i16", GGUF_INT16);
    CHECK(kv && gguf_array_i64(kv, 0) == -32768);
    kv = gguf_get_array(f, "a.u32", GGUF_UINT32);
    CHECK(kv && gguf_array_i64(kv, 0) == 0xffffffffll);
    kv = gguf_get_array(f, "a.i32", GGUF_INT32);
    CHECK(kv && gguf_array_i64(kv, 0) == -5 && gguf_array_f64(kv, 1) == 5.0);
    kv = gguf_get_array(f, "a.f32", GGUF_FLOAT32);
    CHECK(kv && gguf_array_f64(kv, 0) == 1.5 && gguf_array_f64(kv, 1) == -0.25);
    kv = gguf_get_array(f, "a.bool", GGUF_BOOL);
    CHECK(kv && gguf_array_i64(kv, 0) == 0 && gguf_array_i64(kv, 1) == 1);
    kv = gguf_get_array(f, "a.u64", GGUF_UINT64);
    CHECK(kv && gguf_array_f64(kv, 0) == 18446744073709551615.0);
    kv = gguf_get_array(f, "a.i64", GGUF_INT64);
    CHECK(kv && gguf_array_i64(kv, 0) == -9);
    kv = gguf_get_array(f, "a.f64", GGUF_FLOAT64);
    CHECK(kv && gguf_array_f64(kv, 0) == -2.5 && gguf_array_i64(kv, 0) == -2);
    kv = gguf_get_array(f, "a.empty", GGUF_INT32);
    CHECK(kv && kv->v.arr.count == 0 && kv->v.arr.nbytes == 0);
    CHECK(gguf_get_array(f, "a.i32", GGUF_UINT32) == NULL);

    kv = gguf_get_array(f, "a.str", GGUF_STRING);
    CHECK(kv && kv->v.arr.count == 3);
    if (kv && kv->v.arr.count == 3) {
        gguf_str strs[3];
        gguf_array_strings(kv, strs);
        CHECK(str_eq(strs[0], "a") && str_eq(strs[1], "") && str_eq(strs[2], "\xc3\xbcn\xc3\xaf"));
    }
    kv = gguf_get_array(f, "n.ints", GGUF_ARRAY);
    CHECK(kv && kv->v.arr.count == 2 && kv->v.arr.nbytes == 12 + 8 + 12 + 4);
    if (kv) { /* the raw bytes: the first inner array's element type */
        uint32_t inner;
        memcpy(&inner, kv->v.arr.data, 4);
        CHECK_EQ_INT(inner, GGUF_INT32);
    }
    kv = gguf_get_array(f, "n.strs", GGUF_ARRAY);
    CHECK(kv && kv->v.arr.count == 2 && kv->v.arr.nbytes == 12 + 9 + 10 + 12);
    CHECK((gguf_find_kv(f, "skip.me") != NULL) == with_skipped);

    const gguf_tensor *t = gguf_find_tensor(f, "w");
    CHECK(t && t->n_elements == 4 && t->nbytes == 16 && ((const float *)t->data)[3] == 4.0f);
}

TEST(gguf_every_value_type) {
    lm_buf b = {0};
    build_all_types(&b);
    void *copy;
    gguf_file *f = expect_good(&b, &copy);
    if (!f) {
        free(copy);
        lm_buf_free(&b);
        return;
    }
    CHECK_EQ_INT(f->version, 3);
    CHECK_EQ_INT(f->alignment, 32);
    CHECK(consistent(f));
    check_all_types(f, true);

    /* the writer copies everything but the skipped prefix, keeping each type */
    gguf_writer *w = gguf_writer_new();
    const char *skip[] = {"skip.", NULL};
    gguf_writer_copy_kv(w, f, skip);
    gguf_writer_add_tensor(w, "w", QT_F32, 1, (int64_t[]){4}, f->tensors[0].data, NULL, NULL);
    lm_error err = {{0}};
    char *path = tmp_path("copied.gguf");
    CHECK_MSG(gguf_writer_write(w, path, &err) == 0, "%s", err.msg);
    gguf_writer_free(w);
    gguf_file *g = gguf_open(path, &err);
    CHECK_MSG(g != NULL, "%s", err.msg);
    if (g) {
        check_all_types(g, false);
        for (uint64_t i = 0, j = 0; i < f->n_kv; i++) {
            const gguf_kv *a = &f->kv[i], *c = &g->kv[j];
            if (a->key.len == 7 && memcmp(a->key.ptr, "skip.me", 7) == 0) continue;
            j++;
            CHECK(a->key.len == c->key.len && memcmp(a->key.ptr, c->key.ptr, a->key.len) == 0);
            CHECK_EQ_INT(a->type, c->type);
            if (a->type == GGUF_ARRAY)
                CHECK(a->v.arr.nbytes == c->v.arr.nbytes && a->v.arr.count == c->v.arr.count &&
                      memcmp(a->v.arr.data, c->v.arr.data, a->v.arr.nbytes) == 0);
        }
    }
    gguf_close(g);
    gguf_close(f);
    free(copy);
    lm_buf_free(&b);
}

TEST(gguf_integer_getters_convert) {
    lm_buf b = {0};
    b_header(&b, 2, 0, 7);
    b_key(&b, "i32", GGUF_INT32), b_u32(&b, 7);
    b_key(&b, "neg", GGUF_INT32), b_u32(&b, (uint32_t)-1);
    b_key(&b, "u64", GGUF_UINT64), b_u64(&b, 4096);
    b_key(&b, "big", GGUF_UINT64), b_u64(&b, 1ull << 32);
    b_key(&b, "huge", GGUF_UINT64), b_u64(&b, UINT64_MAX);
    b_key(&b, "f64", GGUF_FLOAT64), b_f64(&b, 0.5);
    b_key(&b, "s", GGUF_STRING), b_str(&b, "text");
    void *copy;
    gguf_file *f = expect_good(&b, &copy);
    if (f) {
        uint32_t u32 = 0;
        uint64_t u64 = 0;
        int64_t i64 = 0;
        float f32 = 0;
        bool bl;
        CHECK_EQ_INT(f->version, 2);
        CHECK(gguf_get_u32(f, "i32", &u32) && u32 == 7);
        CHECK(gguf_get_u32(f, "u64", &u32) && u32 == 4096);
        CHECK(!gguf_get_u32(f, "neg", &u32));
        CHECK(!gguf_get_u32(f, "big", &u32));
        CHECK(!gguf_get_u64(f, "neg", &u64));
        CHECK(gguf_get_u64(f, "big", &u64) && u64 == 1ull << 32);
        CHECK(gguf_get_i64(f, "neg", &i64) && i64 == -1);
        CHECK(!gguf_get_i64(f, "huge", &i64));
        CHECK(!gguf_get_u32(f, "s", &u32));
        CHECK(!gguf_get_u32(f, "absent", &u32));
        CHECK(gguf_get_f32(f, "f64", &f32) && f32 == 0.5f);
        CHECK(!gguf_get_f32(f, "i32", &f32));
        CHECK(!gguf_get_bool(f, "i32", &bl));
        char *s = gguf_get_strdup(f, "s");
        CHECK_EQ_STR(s, "text");
        free(s);
        CHECK(gguf_get_strdup(f, "i32") == NULL);
        CHECK_EQ_STR(gguf_value_type_name(GGUF_FLOAT32), "FLOAT32");
    }
    gguf_close(f);
    free(copy);
    lm_buf_free(&b);
}

/* ---- 1b. the writer's own setters and tensors ---- */

static void pattern(uint8_t *p, uint64_t n, unsigned seed) {
    for (uint64_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 7 + seed * 13 + 3);
}

static int fill_pattern(void *ctx, const char *name, void *buf, uint64_t nbytes, lm_error *err) {
    int *calls = ctx;
    (*calls)++;
    if (strcmp(name, "fails") == 0) return lm_fail(err, "no data for it");
    pattern(buf, nbytes, (unsigned)name[0]);
    return 0;
}

typedef struct tspec {
    const char *name;
    uint32_t type, n_dims;
    int64_t ne[4];
    uint64_t nbytes;
} tspec;

static const tspec small_tensors[] = {
    {"f32.2d", QT_F32, 2, {8, 3}, 96},       {"f16", QT_F16, 2, {32, 2}, 128},
    {"q8_0", QT_Q8_0, 2, {64, 2}, 136},      {"filled.q8", QT_Q8_0, 1, {32}, 34},
    {"four.d", QT_F32, 4, {2, 3, 1, 2}, 48}, {"filled.last", QT_F16, 1, {5}, 10},
};
#define N_SMALL (sizeof small_tensors / sizeof *small_tensors)

/* Writes the small test file; tensors named "filled.*" come from the callback. */
static int write_small(const char *path, uint8_t **bufs, int *calls, lm_error *err) {
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", "test");
    gguf_writer_set_u32(w, "t.u32", 0xdeadbeefu);
    gguf_writer_set_i32(w, "t.i32", -123456);
    gguf_writer_set_u64(w, "t.u64", (1ull << 40) + 5);
    gguf_writer_set_f32(w, "t.f32", 3.25f);
    gguf_writer_set_bool(w, "t.bool", true);
    gguf_writer_set_str(w, "t.empty", "");
    gguf_writer_set_str(w, "t.str", "first value");
    gguf_writer_set_str(w, "t.str", "h\xc3\xa9llo w\xc3\xb6rld"); /* replaces */
    const char *strs[] = {"a", "", "ccc", "\xc3\xbcn\xc3\xaf\x63ode"};
    gguf_writer_set_arr_str(w, "a.str", strs, 4);
    gguf_writer_set_arr_f32(w, "a.f32", (const float[]){1.5f, -2.0f, 1e-3f}, 3);
    gguf_writer_set_arr_i32(w, "a.i32", (const int32_t[]){1, -1, INT32_MAX, INT32_MIN}, 4);
    gguf_writer_set_arr_i32(w, "a.none", NULL, 0);
    for (size_t i = 0; i < N_SMALL; i++) {
        const tspec *t = &small_tensors[i];
        bool filled = strncmp(t->name, "filled", 6) == 0;
        bufs[i] = malloc(t->nbytes);
        pattern(bufs[i], t->nbytes, (unsigned)t->name[0]);
        gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, filled ? NULL : bufs[i],
                               filled ? fill_pattern : NULL, calls);
    }
    int rc = gguf_writer_write(w, path, err);
    gguf_writer_free(w);
    return rc;
}

static void check_small(const gguf_file *f, uint8_t *const *bufs) {
    uint32_t u32;
    uint64_t u64;
    int64_t i64;
    float f32;
    bool bl;
    gguf_str s;
    CHECK_EQ_INT(f->version, 3);
    CHECK_EQ_INT(f->n_kv, 12);
    CHECK_EQ_INT(f->n_tensors, N_SMALL);
    CHECK(consistent(f));
    CHECK(gguf_get_u32(f, "t.u32", &u32) && u32 == 0xdeadbeefu);
    CHECK(gguf_get_i64(f, "t.i32", &i64) && i64 == -123456);
    CHECK(gguf_get_u64(f, "t.u64", &u64) && u64 == (1ull << 40) + 5);
    CHECK(gguf_get_f32(f, "t.f32", &f32) && f32 == 3.25f);
    CHECK(gguf_get_bool(f, "t.bool", &bl) && bl);
    CHECK(gguf_get_str(f, "t.empty", &s) && s.len == 0);
    CHECK(gguf_get_str(f, "t.str", &s) && str_eq(s, "h\xc3\xa9llo w\xc3\xb6rld"));
    const gguf_kv *kv = gguf_get_array(f, "a.str", GGUF_STRING);
    CHECK(kv && kv->v.arr.count == 4);
    if (kv && kv->v.arr.count == 4) {
        gguf_str v[4];
        gguf_array_strings(kv, v);
        CHECK(str_eq(v[0], "a") && str_eq(v[1], "") && str_eq(v[2], "ccc") &&
              str_eq(v[3], "\xc3\xbcn\xc3\xaf\x63ode"));
    }
    kv = gguf_get_array(f, "a.f32", GGUF_FLOAT32);
    CHECK(kv && kv->v.arr.count == 3 && gguf_array_f64(kv, 2) == (double)1e-3f);
    kv = gguf_get_array(f, "a.i32", GGUF_INT32);
    CHECK(kv && gguf_array_i64(kv, 2) == INT32_MAX && gguf_array_i64(kv, 3) == INT32_MIN);
    kv = gguf_get_array(f, "a.none", GGUF_INT32);
    CHECK(kv && kv->v.arr.count == 0);
    for (size_t i = 0; i < N_SMALL; i++) {
        const tspec *want = &small_tensors[i];
        const gguf_tensor *t = &f->tensors[i]; /* the writer keeps the order */
        CHECK_EQ_STR(t->name, want->name);
        CHECK_EQ_INT(t->type, want->type);
        CHECK_EQ_INT(t->n_dims, want->n_dims);
        for (uint32_t d = 0; d < 4; d++) CHECK_EQ_INT(t->ne[d], d < want->n_dims ? want->ne[d] : 1);
        CHECK_EQ_INT(t->nbytes, want->nbytes);
        CHECK_EQ_INT(t->offset % 32, 0);
        CHECK(memcmp(t->data, bufs[i], want->nbytes) == 0);
        CHECK(gguf_find_tensor(f, want->name) == t);
    }
    CHECK(gguf_find_tensor(f, "absent") == NULL);
}

TEST(gguf_writer_round_trip) {
    uint8_t *bufs[N_SMALL];
    int calls = 0;
    lm_error err = {{0}};
    char *path = tmp_path("small.gguf");
    CHECK_MSG(write_small(path, bufs, &calls, &err) == 0, "%s", err.msg);
    CHECK_EQ_INT(calls, 2);
    gguf_file *f = gguf_open(path, &err);
    CHECK_MSG(f != NULL, "%s", err.msg);
    if (f) check_small(f, bufs);
    gguf_close(f);
    for (size_t i = 0; i < N_SMALL; i++) free(bufs[i]);
}

static bool dir_has_temp_files(const char *dir) {
    DIR *d = opendir(dir);
    bool found = false;
    for (struct dirent *e; d && (e = readdir(d));) found |= strstr(e->d_name, ".tmp") != NULL;
    if (d) closedir(d);
    return found;
}

TEST(gguf_writer_failures_keep_the_old_file) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/wfail", test_tmpdir());
    mkdir(dir, 0755);
    char path[600];
    snprintf(path, sizeof path, "%s/model.gguf", dir);
    CHECK(write_bytes(path, "old", 3));

    int calls = 0;
    float data[32] = {0};
    lm_error err = {{0}};
    gguf_writer *w = gguf_writer_new();
    gguf_writer_add_tensor(w, "ok", QT_F32, 1, (int64_t[]){32}, data, NULL, NULL);
    gguf_writer_add_tensor(w, "fails", QT_F32, 1, (int64_t[]){32}, NULL, fill_pattern, &calls);
    CHECK(gguf_writer_write(w, path, &err) != 0);
    CHECK(strstr(err.msg, "tensor 'fails': no data for it") != NULL);
    gguf_writer_free(w);
    char *text;
    size_t len;
    CHECK(read_bytes(path, &text, &len) && len == 3 && memcmp(text, "old", 3) == 0);
    free(text);
    CHECK(!dir_has_temp_files(dir));

    struct {
        uint32_t type, n_dims;
        int64_t ne[2];
        const char *name, *want;
    } bad[] = {
        {99, 1, {32, 1}, "t", "unknown type 99"},
        {QT_Q8_0, 1, {33, 1}, "t", "block size"},
        {QT_F32, 5, {1, 1}, "t", "5 dimensions"},
        {QT_F32, 2, {4, -1}, "t", "bad shape"},
        {QT_F32, 1, {4, 1}, "dup", "duplicate tensor name 'dup'"},
        {QT_F32,
         1,
         {4, 1},
         "a-name-that-is-far-too-long-a-name-that-is-far-too-long-a-name-that-is-far-too-long-"
         "a-name-that-is-far-too-long-a-name-that-is-far-too-long",
         "longer than 127"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        w = gguf_writer_new();
        gguf_writer_add_tensor(w, "dup", QT_F32, 1, (int64_t[]){32}, data, NULL, NULL);
        gguf_writer_add_tensor(w, bad[i].name, bad[i].type, bad[i].n_dims, bad[i].ne, data, NULL,
                               NULL);
        CHECK(gguf_writer_write(w, path, &err) != 0);
        CHECK_MSG(strstr(err.msg, bad[i].want) && strncmp(err.msg, path, strlen(path)) == 0,
                  "'%s' lacks '%s'", err.msg, bad[i].want);
        gguf_writer_free(w);
    }
    w = gguf_writer_new();
    gguf_writer_set_u32(w, "general.alignment", 48);
    CHECK(gguf_writer_write(w, path, &err) != 0 && strstr(err.msg, "general.alignment"));
    gguf_writer_free(w);
    CHECK(read_bytes(path, &text, &len) && len == 3);
    free(text);

    w = gguf_writer_new();
    snprintf(path, sizeof path, "%s/no/such/dir/x.gguf", dir);
    CHECK(gguf_writer_write(w, path, &err) != 0 && strstr(err.msg, "temporary file"));
    gguf_writer_free(w);
    CHECK(!dir_has_temp_files(dir));
}

TEST(gguf_writer_honours_alignment_key) {
    float data[3] = {1, 2, 3};
    lm_error err = {{0}};
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_u32(w, "general.alignment", 64);
    gguf_writer_add_tensor(w, "a", QT_F32, 1, (int64_t[]){3}, data, NULL, NULL);
    gguf_writer_add_tensor(w, "b", QT_F32, 1, (int64_t[]){3}, data, NULL, NULL);
    char *path = tmp_path("align64.gguf");
    CHECK_MSG(gguf_writer_write(w, path, &err) == 0, "%s", err.msg);
    gguf_writer_free(w);
    gguf_file *f = gguf_open(path, &err);
    CHECK_MSG(f != NULL, "%s", err.msg);
    if (f) {
        CHECK_EQ_INT(f->alignment, 64);
        CHECK_EQ_INT(f->data_offset % 64, 0);
        CHECK_EQ_INT(f->tensors[1].offset, 64);
        CHECK(consistent(f));
    }
    gguf_close(f);
}

/* ---- 2. llama.cpp's files and the facts it reported about them ---- */

static bool utf8_ok(const char *s, uint64_t n) {
    return utf8_valid(s, (size_t)n);
}

static void compare_string(const char *ctx, gguf_str s, const json_value *j) {
    if (!j || j->kind != JSON_STRING) {
        test_fail(__FILE__, __LINE__, "%s: not a JSON string", ctx);
        return;
    }
    if (!utf8_ok(s.ptr, s.len)) return; /* the JSON has U+FFFD there */
    CHECK_MSG(s.len == j->len && memcmp(s.ptr, j->str, j->len) == 0, "%s: string differs", ctx);
}

static void compare_number(const char *ctx, enum gguf_value_type t, double got,
                           const json_value *j) {
    if (!j || j->kind != JSON_NUMBER) {
        test_fail(__FILE__, __LINE__, "%s: not a JSON number", ctx);
        return;
    }
    bool same = t == GGUF_FLOAT32 ? (float)got == (float)j->num : got == j->num;
    CHECK_MSG(same, "%s: %.17g != %.17g", ctx, got, j->num);
}

/* Compares the elements listed (all, or the first and last 8) with the file's. */
static void compare_array(const char *ctx, const gguf_kv *kv, const json_value *m) {
    const json_value *all = json_get(m, "value"), *first = json_get(m, "first"),
                     *last = json_get(m, "last");
    uint64_t n = kv->v.arr.count;
    gguf_str *strs = NULL;
    if (kv->v.arr.type == GGUF_STRING) {
        strs = malloc((size_t)n * sizeof *strs + 1);
        gguf_array_strings(kv, strs);
    }
    const json_value *lists[2] = {all ? all : first, all ? NULL : last};
    for (int l = 0; l < 2; l++) {
        const json_value *list = lists[l];
        if (!list) continue;
        CHECK_MSG(list->kind == JSON_ARRAY && list->len <= n, "%s: bad list", ctx);
        if (list->kind != JSON_ARRAY || list->len > n) continue;
        uint64_t base = l == 0 ? 0 : n - list->len;
        for (size_t i = 0; i < list->len; i++) {
            char ectx[340];
            snprintf(ectx, sizeof ectx, "%s[%" PRIu64 "]", ctx, base + i);
            if (strs)
                compare_string(ectx, strs[base + i], &list->items[i]);
            else if (kv->v.arr.type != GGUF_ARRAY)
                compare_number(ectx, kv->v.arr.type, gguf_array_f64(kv, base + i), &list->items[i]);
        }
    }
    free(strs);
}

static void compare_kv(const char *model, const gguf_kv *kv, const json_value *m) {
    char ctx[300];
    snprintf(ctx, sizeof ctx, "%s %.*s", model, (int)kv->key.len, kv->key.ptr);
    const char *key = json_get_str(m, "key", "");
    CHECK_MSG(kv->key.len == strlen(key) && memcmp(kv->key.ptr, key, kv->key.len) == 0,
              "%s: key is '%s' in the JSON", ctx, key);
    CHECK_EQ_STR(gguf_value_type_name(kv->type), json_get_str(m, "type", ""));
    const json_value *v = json_get(m, "value");
    switch (kv->type) {
    case GGUF_STRING:
        compare_string(ctx, kv->v.str, v);
        break;
    case GGUF_BOOL:
        CHECK_MSG(v && v->kind == JSON_BOOL && v->b == (kv->v.u64 != 0), "%s", ctx);
        break;
    case GGUF_FLOAT32:
    case GGUF_FLOAT64:
        compare_number(ctx, kv->type, kv->v.f64, v);
        break;
    case GGUF_INT8:
    case GGUF_INT16:
    case GGUF_INT32:
    case GGUF_INT64:
        compare_number(ctx, kv->type, (double)kv->v.i64, v);
        break;
    case GGUF_ARRAY:
        CHECK_EQ_STR(gguf_value_type_name(kv->v.arr.type), json_get_str(m, "element_type", ""));
        CHECK_EQ_INT(kv->v.arr.count, json_get_num(m, "length", -1));
        compare_array(ctx, kv, m);
        break;
    default:
        compare_number(ctx, kv->type, (double)kv->v.u64, v);
    }
}

static void compare_tensor(const char *model, const gguf_file *f, const gguf_tensor *t,
                           const json_value *j) {
    CHECK_EQ_STR(t->name, json_get_str(j, "name", ""));
    const quant_type_info *qi = quant_info(t->type);
    CHECK_EQ_STR(qi ? qi->name : "?", json_get_str(j, "type", ""));
    const json_value *ne = json_get(j, "ne");
    CHECK_MSG(ne && ne->kind == JSON_ARRAY && ne->len == t->n_dims, "%s %s: ne", model, t->name);
    for (size_t d = 0; ne && ne->kind == JSON_ARRAY && d < ne->len && d < 4; d++)
        CHECK_EQ_INT(t->ne[d], ne->items[d].num);
    CHECK_EQ_INT(t->n_elements, json_get_num(j, "n_elements", -1));
    CHECK_EQ_INT(t->nbytes, json_get_num(j, "n_bytes", -1));
    CHECK_EQ_INT(t->offset, json_get_num(j, "offset", -1));
    CHECK_EQ_INT((const uint8_t *)t->data - f->base, json_get_num(j, "file_offset", -1));
}

static void compare_with_info(const char *model, const gguf_file *f, const json_value *info) {
    CHECK_EQ_INT(f->size, json_get_num(info, "file_size", -1));
    CHECK_EQ_INT(f->version, json_get_num(info, "gguf_version", -1));
    CHECK_EQ_INT(f->n_tensors, json_get_num(info, "tensor_count", -1));
    CHECK_EQ_INT(f->n_kv, json_get_num(info, "kv_count", -1));
    CHECK_EQ_INT(f->alignment, json_get_num(info, "alignment", -1));
    CHECK_EQ_INT(f->data_offset, json_get_num(info, "tensor_data_offset", -1));
    const json_value *meta = json_get(info, "metadata"), *tensors = json_get(info, "tensors");
    CHECK(meta && meta->len == f->n_kv && tensors && tensors->len == f->n_tensors);
    for (uint64_t i = 0; meta && i < meta->len && i < f->n_kv; i++)
        compare_kv(model, &f->kv[i], &meta->items[i]);
    for (uint64_t i = 0; tensors && i < tensors->len && i < f->n_tensors; i++)
        compare_tensor(model, f, &f->tensors[i], &tensors->items[i]);
}

/* Copying every kv and tensor in order must give back the same bytes. */
static void check_rewrite_identical(const gguf_file *f) {
    gguf_writer *w = gguf_writer_new();
    gguf_writer_copy_kv(w, f, NULL);
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, NULL, NULL);
    }
    lm_error err = {{0}};
    char *path = tmp_path("rewrite.gguf");
    CHECK_MSG(gguf_writer_write(w, path, &err) == 0, "%s", err.msg);
    gguf_writer_free(w);
    char *data = NULL;
    size_t len = 0;
    CHECK(read_bytes(path, &data, &len));
    /* llama.cpp pads after the last tensor too, so the sizes match exactly */
    CHECK_MSG(len == f->size && memcmp(data, f->base, len) == 0,
              "%s: rewrite differs (%zu vs %" PRIu64 " bytes)", f->path, len, f->size);
    free(data);
    unlink(path);
}

TEST(gguf_conformance_files) {
    const char *conf = test_conformance_dir();
    if (!conf) {
        test_skip("no conformance data");
        return;
    }
    char dirpath[4096];
    snprintf(dirpath, sizeof dirpath, "%s/models", conf);
    DIR *d = opendir(dirpath);
    CHECK(d != NULL);
    int seen = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".gguf") != 0) continue;
        char path[4400], info_path[4400];
        snprintf(path, sizeof path, "%s/%s", dirpath, e->d_name);
        snprintf(info_path, sizeof info_path, "%s/info/%.*s.info.json", conf, (int)(n - 5),
                 e->d_name);
        lm_error err = {{0}};
        gguf_file *f = gguf_open(path, &err);
        CHECK_MSG(f != NULL, "%s", err.msg);
        char *text = NULL;
        size_t len = 0;
        json_value *info = NULL;
        CHECK_MSG(read_bytes(info_path, &text, &len), "cannot read %s", info_path);
        if (text) info = json_parse(text, len, &err);
        CHECK_MSG(info != NULL, "%s: %s", info_path, err.msg);
        if (f && info) {
            compare_with_info(e->d_name, f, info);
            CHECK(consistent(f));
            check_rewrite_identical(f);
        }
        json_free(info);
        free(text);
        gguf_close(f);
        seen++;
    }
    if (d) closedir(d);
    /* README: 13 models ship; one missing (or unreadable folder) must show. */
    CHECK_MSG(seen == 13, "%d of the 13 conformance models seen in %s", seen, dirpath);
}

/* ---- 3. hostile input ---- */

static void read_small(char **data, size_t *len, uint64_t *data_end) {
    uint8_t *bufs[N_SMALL];
    int calls = 0;
    lm_error err = {{0}};
    char *path = tmp_path("hostile-base.gguf");
    CHECK_MSG(write_small(path, bufs, &calls, &err) == 0, "%s", err.msg);
    for (size_t i = 0; i < N_SMALL; i++) free(bufs[i]);
    *data = NULL;
    CHECK(read_bytes(path, data, len));
    gguf_file *f = gguf_open(path, &err);
    *data_end = 0;
    for (uint64_t i = 0; f && i < f->n_tensors; i++) {
        uint64_t end = f->data_offset + f->tensors[i].offset + f->tensors[i].nbytes;
        if (end > *data_end) *data_end = end;
    }
    gguf_close(f);
}

TEST(gguf_truncated_everywhere) {
    char *data;
    size_t len;
    uint64_t data_end;
    read_small(&data, &len, &data_end);
    if (!data) return;
    CHECK(data_end > 0 && data_end <= len);
    char *path = tmp_path("truncated.gguf");
    int bad_messages = 0, wrong = 0;
    for (size_t n = 0; n < len; n++) {
        lm_error err = {{0}};
        void *copy;
        gguf_file *f = open_copy(data, n, &err, &copy);
        bool ok = f != NULL;
        if (f) ok = consistent(f);
        gguf_close(f);
        free(copy);
        if (!ok && !good_message(err.msg, "mem.gguf")) bad_messages++;
        if (ok != (n >= data_end)) wrong++;

        CHECK(write_bytes(path, data, n));
        lm_error ferr = {{0}};
        f = gguf_open(path, &ferr);
        if ((f != NULL) != (n >= data_end)) wrong++;
        if (!f && !good_message(ferr.msg, path)) bad_messages++;
        gguf_close(f);
    }
    CHECK_EQ_INT(bad_messages, 0);
    CHECK_EQ_INT(wrong, 0);
    free(data);
}

TEST(gguf_flipped_bytes_never_crash) {
    char *data;
    size_t len;
    uint64_t data_end;
    read_small(&data, &len, &data_end);
    if (!data) return;
    lm_error err;
    gguf_file *f = gguf_open_memory(data, len, "x", &err);
    uint64_t header = f ? f->data_offset : 0;
    gguf_close(f);
    CHECK(header > 0);
    char *path = tmp_path("flipped.gguf");
    const uint8_t patterns[] = {0xff, 0x80, 0x01};
    int failures = 0, bad_messages = 0, inconsistent = 0;
    for (uint64_t pos = 0; pos < header; pos++) {
        for (size_t k = 0; k < sizeof patterns; k++) {
            data[pos] ^= (char)patterns[k];
            void *copy;
            err.msg[0] = 0;
            f = open_copy(data, len, &err, &copy);
            if (f && !consistent(f)) inconsistent++;
            if (!f && !good_message(err.msg, "mem.gguf")) bad_messages++;
            failures += !f;
            gguf_close(f);
            free(copy);
            if (k == 0) { /* and once per byte through a real file */
                CHECK(write_bytes(path, data, len));
                f = gguf_open(path, &err);
                if (f && !consistent(f)) inconsistent++;
                if (!f && !good_message(err.msg, path)) bad_messages++;
                gguf_close(f);
            }
            data[pos] ^= (char)patterns[k];
        }
    }
    CHECK_EQ_INT(bad_messages, 0);
    CHECK_EQ_INT(inconsistent, 0);
    CHECK(failures > 0); /* most flips break something the reader checks */
    free(data);
}

TEST(gguf_bad_headers) {
    lm_buf b = {0};
    CHECK_EQ_INT(expect_bad(&b, "file ends inside the magic number"), 0);

    b_raw(&b, "GGML", 4), b_u32(&b, 3), b_u64(&b, 0), b_u64(&b, 0);
    CHECK_EQ_INT(expect_bad(&b, "not a GGUF file"), 0);
    b.len = 0;
    b_header(&b, 1, 0, 0);
    CHECK_EQ_INT(expect_bad(&b, "GGUF version 1 is not supported"), 4);
    b.len = 0;
    b_header(&b, 4, 0, 0);
    CHECK_EQ_INT(expect_bad(&b, "GGUF version 4 is not supported"), 4);
    b.len = 0;
    b_header(&b, 0x03000000, 0, 0);
    expect_bad(&b, "big-endian");

    b.len = 0;
    b_header(&b, 3, 0, UINT64_MAX / 2);
    CHECK_EQ_INT(expect_bad(&b, "kv count 9223372036854775807 is too large"), 16);
    b.len = 0;
    b_header(&b, 3, 1ull << 40, 0);
    CHECK_EQ_INT(expect_bad(&b, "tensor count 1099511627776 is too large"), 8);
    /* a tensor count that fits the header's bytes but not those after the metadata */
    b.len = 0;
    b_header(&b, 3, 2, 1);
    b_key(&b, "k", GGUF_STRING), b_str(&b, "a string long enough for the 64-byte bound..");
    expect_bad(&b, "bytes left after the metadata");

    b.len = 0; /* a valid file with no tensors and no padding at all */
    b_header(&b, 3, 0, 0);
    void *copy;
    gguf_file *f = expect_good(&b, &copy);
    CHECK(f && f->n_kv == 0 && f->n_tensors == 0);
    gguf_close(f);
    free(copy);
    lm_buf_free(&b);

    lm_error err;
    CHECK(!gguf_open(tmp_path("does-not-exist.gguf"), &err) && strstr(err.msg, "cannot open"));
    CHECK(!gguf_open(test_tmpdir(), &err) && strstr(err.msg, "not a regular file"));
}

TEST(gguf_bad_metadata) {
    lm_buf b = {0};
    b_header(&b, 3, 0, 1);
    b_u64(&b, 1ull << 62);
    b_raw(&b, "key", 3);
    b_zeros(&b, 16);
    CHECK_EQ_INT(expect_bad(&b, "string of 4611686018427387904 bytes"), 24);

    b.len = 0;
    b_header(&b, 3, 0, 1);
    b_key(&b, "k", GGUF_STRING), b_u64(&b, UINT64_MAX), b_u64(&b, 0);
    CHECK_EQ_INT(expect_bad(&b, "string of 18446744073709551615 bytes in the value of 'k'"), 37);

    const uint32_t elem[] = {GGUF_UINT32, GGUF_STRING, GGUF_ARRAY, GGUF_UINT64};
    const uint64_t counts[] = {1ull << 61, (1ull << 62) + 1, UINT64_MAX};
    for (size_t e = 0; e < 4; e++) {
        for (size_t c = 0; c < 3; c++) {
            b.len = 0;
            b_header(&b, 3, 0, 1);
            b_key(&b, "arr", GGUF_ARRAY), b_u32(&b, elem[e]), b_u64(&b, counts[c]);
            b_zeros(&b, 64);
            CHECK_EQ_INT(expect_bad(&b, "array of"), 24 + 8 + 3 + 4);
        }
    }
    /* a string array whose strings run past the end */
    b.len = 0;
    b_header(&b, 3, 0, 1);
    b_key(&b, "arr", GGUF_ARRAY), b_u32(&b, GGUF_STRING), b_u64(&b, 2);
    b_str(&b, "ok"), b_u64(&b, 1000);
    expect_bad(&b, "string 1 of 1000 bytes in the value of 'arr'");

    /* nested arrays: 8 levels are fine, 9 are not */
    for (int depth = 8; depth <= 9; depth++) {
        b.len = 0;
        b_header(&b, 3, 0, 1);
        b_key(&b, "deep", GGUF_ARRAY);
        for (int i = 1; i < depth; i++) b_u32(&b, GGUF_ARRAY), b_u64(&b, 1);
        b_u32(&b, GGUF_UINT8), b_u64(&b, 1), b_u8(&b, 42);
        if (depth == 8) {
            void *copy;
            gguf_file *f = expect_good(&b, &copy);
            const gguf_kv *kv = f ? gguf_get_array(f, "deep", GGUF_ARRAY) : NULL;
            CHECK(kv && kv->v.arr.count == 1 && kv->v.arr.nbytes == 6 * 12 + 12 + 1);
            gguf_close(f);
            free(copy);
        } else {
            expect_bad(&b, "nested deeper than 8 levels");
        }
    }

    b.len = 0;
    b_header(&b, 3, 0, 1);
    b_key(&b, "k", 13), b_u32(&b, 0);
    CHECK_EQ_INT(expect_bad(&b, "unknown value type 13 in the value of 'k'"), 33);
    b.len = 0;
    b_header(&b, 3, 0, 1);
    b_key(&b, "k", GGUF_ARRAY), b_u32(&b, 77), b_u64(&b, 0);
    expect_bad(&b, "unknown array element type 77");
    b.len = 0;
    b_header(&b, 3, 0, 1);
    b_key(&b, "k", GGUF_BOOL), b_u8(&b, 2);
    expect_bad(&b, "must be 0 or 1");
    b.len = 0;
    b_header(&b, 3, 0, 1);
    b_key(&b, "k", GGUF_ARRAY), b_u32(&b, GGUF_BOOL), b_u64(&b, 2), b_u8(&b, 1), b_u8(&b, 9);
    expect_bad(&b, "bool 1 in the value of 'k' is 9");
    b.len = 0;
    b_header(&b, 3, 0, 1);
    b_key(&b, "", GGUF_UINT8), b_u8(&b, 1);
    expect_bad(&b, "has a key of 0 bytes");
    b.len = 0;
    b_header(&b, 3, 0, 1);
    b_u64(&b, 3), b_raw(&b, "a\0b", 3), b_u32(&b, GGUF_UINT8), b_u8(&b, 1);
    expect_bad(&b, "NUL byte in its key");

    b.len = 0;
    b_header(&b, 3, 0, 3);
    b_key(&b, "same", GGUF_UINT8), b_u8(&b, 1);
    b_key(&b, "other", GGUF_UINT8), b_u8(&b, 1);
    b_key(&b, "same", GGUF_STRING), b_str(&b, "x");
    CHECK_EQ_INT(expect_bad(&b, "duplicate key 'same'"), 24 + 17 + 18);

    const uint64_t aligns[] = {0, 3, 48, 1u << 21};
    for (size_t i = 0; i < 4; i++) {
        b.len = 0;
        b_header(&b, 3, 0, 1);
        b_key(&b, "general.alignment", GGUF_UINT32), b_u32(&b, (uint32_t)aligns[i]);
        CHECK_EQ_INT(expect_bad(&b, "is not a power of two"), 24);
    }
    b.len = 0;
    b_header(&b, 3, 0, 1);
    b_key(&b, "general.alignment", GGUF_STRING), b_str(&b, "32");
    expect_bad(&b, "general.alignment is not a non-negative integer");
    lm_buf_free(&b);
}

/* A file with one kv and the given tensors, then data_bytes of zeros after
 * the aligned directory. */
typedef struct tinfo {
    const char *name;
    uint32_t n_dims;
    int64_t ne[4];
    uint32_t type;
    uint64_t offset;
} tinfo;

static void build_tensors(lm_buf *b, const tinfo *t, size_t n, size_t data_bytes) {
    b->len = 0;
    b_header(b, 3, n, 1);
    b_key(b, "general.architecture", GGUF_STRING), b_str(b, "test");
    for (size_t i = 0; i < n; i++)
        b_tensor(b, t[i].name, t[i].n_dims, t[i].ne, t[i].type, t[i].offset);
    b_pad(b, 32);
    b_zeros(b, data_bytes);
}

#define ONE(...) ((const tinfo[]){__VA_ARGS__})

TEST(gguf_bad_tensors) {
    lm_buf b = {0};
    const size_t dir = 24 + 8 + 20 + 4 + 8 + 4; /* header and the kv: tensor 0 starts here */

    build_tensors(&b, ONE({"w", 2, {8, 2}, QT_F32, 0}), 1, 64);
    void *copy;
    gguf_file *f = expect_good(&b, &copy);
    CHECK(f && f->tensors[0].nbytes == 64 && f->tensors[0].file_offset == dir);
    gguf_close(f);
    free(copy);

    build_tensors(&b, ONE({"w", 0, {8}, QT_F32, 0}), 1, 64);
    CHECK_EQ_INT(expect_bad(&b, "tensor 'w' has 0 dimensions (1 to 4 allowed)"), dir + 9);
    build_tensors(&b, ONE({"w", 5, {8, 1, 1, 1}, QT_F32, 0}), 1, 64);
    expect_bad(&b, "tensor 'w' has 5 dimensions");
    build_tensors(&b, ONE({"w", 2, {8, 0}, QT_F32, 0}), 1, 64);
    CHECK_EQ_INT(expect_bad(&b, "tensor 'w' dimension 1 is 0 (must be positive)"), dir + 21);
    build_tensors(&b, ONE({"w", 2, {-8, 1}, QT_F32, 0}), 1, 64);
    expect_bad(&b, "dimension 0 is -8 (must be positive)");
    build_tensors(&b, ONE({"w", 2, {1ll << 32, 1ll << 32}, QT_F32, 0}), 1, 64);
    expect_bad(&b, "tensor 'w' has too many elements");
    build_tensors(&b, ONE({"w", 2, {1ll << 32, 1ll << 31}, QT_F32, 0}), 1, 64);
    expect_bad(&b, "tensor 'w' has too many elements"); /* 2^63: past int64 */
    build_tensors(&b, ONE({"w", 3, {1ll << 40, 1ll << 20, 1ll << 10}, QT_F32, 0}), 1, 64);
    expect_bad(&b, "tensor 'w' has too many elements");
    build_tensors(&b, ONE({"w", 2, {1ll << 61, 2}, QT_F32, 0}), 1, 64);
    expect_bad(&b, "tensor 'w' is too large"); /* the byte count overflows */
    build_tensors(&b, ONE({"w", 1, {32}, 99, 0}), 1, 64);
    expect_bad(&b, "tensor 'w' has unknown type 99");
    build_tensors(&b, ONE({"w", 1, {32}, 4, 0}), 1, 64); /* ids 4 and 5 were removed */
    expect_bad(&b, "tensor 'w' has unknown type 4");
    build_tensors(&b, ONE({"w", 1, {33}, QT_Q8_0, 0}), 1, 64);
    expect_bad(&b, "not a multiple of the Q8_0 block size 32");

    build_tensors(&b, ONE({"w", 1, {16}, QT_F32, 0}), 1, 63);
    CHECK_EQ_INT(expect_bad(&b, "runs past the end of the file"), dir);
    build_tensors(&b, ONE({"w", 1, {16}, QT_F32, 1ull << 40}), 1, 64);
    expect_bad(&b, "runs past the end of the file");
    build_tensors(&b, ONE({"w", 1, {16}, QT_F32, UINT64_MAX - 31}), 1, 64);
    expect_bad(&b, "runs past the end of the file"); /* offset + start wraps */
    build_tensors(&b, ONE({"w", 1, {8}, QT_F32, 4}), 1, 64);
    expect_bad(&b, "tensor 'w' offset 4 is not a multiple of the alignment 32");

    build_tensors(&b, ONE({"a", 1, {8}, QT_F32, 0}, {"b", 1, {8}, QT_F32, 0}), 2, 64);
    expect_bad(&b, "overlap");
    build_tensors(
        &b, ONE({"b", 1, {8}, QT_F32, 64}, {"a", 1, {24}, QT_F32, 0}, {"c", 1, {8}, QT_F32, 128}),
        3, 160);
    expect_bad(&b, "tensors 'a' [");
    build_tensors(&b, ONE({"b", 1, {8}, QT_F32, 32}, {"a", 1, {8}, QT_F32, 0}), 2, 64);
    f = expect_good(&b, &copy); /* out of order but apart */
    CHECK(f && f->tensors[0].offset == 32 && strcmp(f->tensors[1].name, "a") == 0);
    gguf_close(f);
    free(copy);
    build_tensors(&b, ONE({"a", 1, {8}, QT_F32, 0}, {"a", 1, {8}, QT_F32, 32}), 2, 64);
    CHECK_EQ_INT(expect_bad(&b, "duplicate tensor name 'a'"), dir + 33);

    char name[200];
    memset(name, 'n', sizeof name);
    name[128] = 0;
    build_tensors(&b, ONE({name, 1, {8}, QT_F32, 0}), 1, 64);
    expect_bad(&b, "name of 128 bytes, longer than 127");
    name[127] = 0;
    build_tensors(&b, ONE({name, 1, {8}, QT_F32, 0}), 1, 64);
    f = expect_good(&b, &copy);
    CHECK(f && strlen(f->tensors[0].name) == 127 && gguf_find_tensor(f, name));
    gguf_close(f);
    free(copy);
    lm_buf_free(&b);
}

TEST(gguf_alignment_key_is_used) {
    lm_buf b = {0};
    b_header(&b, 3, 1, 1);
    b_key(&b, "general.alignment", GGUF_UINT32), b_u32(&b, 256);
    b_tensor(&b, "w", 1, (int64_t[]){8}, QT_F32, 0);
    b_pad(&b, 256);
    b_zeros(&b, 32);
    void *copy;
    gguf_file *f = expect_good(&b, &copy);
    CHECK(f && f->alignment == 256 && f->data_offset == 256);
    gguf_close(f);
    free(copy);
    lm_buf_free(&b);
}

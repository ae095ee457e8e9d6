/* fuzz_gguf: gguf_open_memory on arbitrary bytes.
 *
 * When the file opens, everything the reader promises is exercised: every
 * key, every scalar, every string and every array element (strings through
 * gguf_array_strings, numbers through the typed readers), every tensor's
 * name, shape and data bytes, and the typed getters. Then the vocabulary is
 * loaded from it, and if that works a short fixed text is encoded and a few
 * ids decoded, as `lmterm` does right after opening a model.
 *
 * libFuzzer: -max_len=65536 -timeout=10 -rss_limit_mb=2048
 */
#include "gguf.h"
#include "quant.h"
#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A sink the compiler cannot drop, so every read really happens. */
static volatile uint64_t sink;

static void fail(const char *what) {
    fprintf(stderr, "fuzz_gguf: check failed: %s\n", what);
    abort();
}

static void touch(const void *p, uint64_t n) {
    const uint8_t *b = p;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) sum += b[i];
    sink += sum;
}

static void walk_kv(const gguf_file *f, const gguf_kv *kv) {
    touch(kv->key.ptr, kv->key.len);
    if (kv->file_offset >= f->size) fail("a key starts past the end of the file");
    (void)gguf_value_type_name(kv->type);
    switch (kv->type) {
    case GGUF_STRING: touch(kv->v.str.ptr, kv->v.str.len); break;
    case GGUF_ARRAY: {
        const uint8_t *end = f->base + f->size;
        if (kv->v.arr.data < f->base || kv->v.arr.nbytes > (uint64_t)(end - kv->v.arr.data))
            fail("array data outside the file");
        touch(kv->v.arr.data, kv->v.arr.nbytes);
        if (kv->v.arr.type == GGUF_STRING) {
            /* the header allows up to nbytes / 8 strings; ask for exactly count */
            gguf_str *s = malloc((kv->v.arr.count ? kv->v.arr.count : 1) * sizeof *s);
            gguf_array_strings(kv, s);
            for (uint64_t i = 0; i < kv->v.arr.count; i++) touch(s[i].ptr, s[i].len);
            free(s);
        } else if (kv->v.arr.type != GGUF_ARRAY) {
            for (uint64_t i = 0; i < kv->v.arr.count; i++)
                sink += (uint64_t)gguf_array_i64(kv, i) + (uint64_t)(gguf_array_f64(kv, i) != 0);
        }
        break;
    }
    default: sink += kv->v.u64;
    }
    /* the typed getters must agree with what is stored, and never crash */
    char *key = strndup(kv->key.ptr, (size_t)kv->key.len);
    if (strlen(key) == kv->key.len) { /* no NUL inside: the reader refuses those */
        if (gguf_find_kv(f, key) == NULL) fail("gguf_find_kv cannot find a key the file has");
        uint32_t u32;
        uint64_t u64;
        int64_t i64;
        float f32;
        bool b;
        gguf_str s;
        sink += gguf_get_u32(f, key, &u32) + gguf_get_u64(f, key, &u64) +
                gguf_get_i64(f, key, &i64) + gguf_get_f32(f, key, &f32) +
                gguf_get_bool(f, key, &b) + gguf_get_str(f, key, &s);
        free(gguf_get_strdup(f, key));
        sink += (uintptr_t)gguf_get_array(f, key, GGUF_STRING);
    }
    free(key);
}

static void walk_tensor(const gguf_file *f, const gguf_tensor *t) {
    if (strlen(t->name) >= sizeof t->name) fail("tensor name not terminated");
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS) fail("tensor with a bad dimension count");
    const uint8_t *p = t->data, *end = f->base + f->size;
    if (p < f->base || p > end || t->nbytes > (uint64_t)(end - p)) fail("tensor data outside the file");
    touch(p, t->nbytes);
    if (gguf_find_tensor(f, t->name) != t) fail("gguf_find_tensor finds another tensor");
    /* The first row as the engine reads it. Only from an aligned address: a
     * file with general.alignment 1 can put data anywhere, and whether the
     * model loader must refuse or copy such tensors is an open question (see
     * tests/fuzz/open/README.md); fuzz_model covers that path. */
    const quant_type_info *qi = quant_info(t->type);
    if (qi && qi->can_dequantize && t->ne[0] <= 4096 && (uintptr_t)p % 4 == 0) {
        float *row = malloc((size_t)t->ne[0] * sizeof *row);
        quant_dequantize_row((enum quant_type)t->type, p, row, t->ne[0]);
        free(row);
    }
}

/* What the chat screen does with a fresh vocabulary. */
static void use_tokenizer(const tokenizer *tok) {
    static const char text[] = "<s><|user|>\nHello wörld 123 <|end|>\n<|assistant|> \xF0\x9F\x98\x80";
    lm_tokens ids = {0};
    lm_error err;
    int n = tokenizer_n_vocab(tok);
    for (int special = 0; special < 2; special++) {
        ids.n = 0;
        if (tokenizer_encode(tok, text, sizeof text - 1, true, special, &ids, &err) == 0)
            for (size_t i = 0; i < ids.n; i++)
                if (ids.ids[i] < 0 || ids.ids[i] >= n) fail("encode gave an id outside the vocabulary");
    }
    lm_buf out = {0};
    tokenizer_stream st = {{0}, 0};
    int32_t probe[] = {-1, 0, 1, 2, 3, n / 2, n - 1, n, tokenizer_bos(tok), tokenizer_eos(tok)};
    for (size_t i = 0; i < sizeof probe / sizeof *probe; i++) {
        tokenizer_piece(tok, probe[i], true, &out);
        tokenizer_stream_push(tok, &st, probe[i], i & 1, &out);
        sink += tokenizer_is_eog(tok, probe[i]) + (uint64_t)tokenizer_token_type(tok, probe[i]);
        const char *s = tokenizer_token_text(tok, probe[i]);
        if (s) sink += strlen(s);
    }
    for (size_t i = 0; i < ids.n && i < 64; i++) tokenizer_stream_push(tok, &st, ids.ids[i], false, &out);
    tokenizer_stream_flush(&st, &out);
    sink += (uint64_t)tokenizer_find(tok, "<|end|>") + tokenizer_adds_bos(tok) +
            (uint64_t)tokenizer_kind(tok);
    lm_buf_free(&out);
    lm_tokens_free(&ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lm_error err = {{0}};
    gguf_file *f = gguf_open_memory(data, size, "fuzz.gguf", &err);
    if (!f) {
        if (!err.msg[0] || strchr(err.msg, '\n')) fail("an error must be one line");
        return 0;
    }
    for (uint64_t i = 0; i < f->n_kv; i++) walk_kv(f, &f->kv[i]);
    for (uint64_t i = 0; i < f->n_tensors; i++) walk_tensor(f, &f->tensors[i]);

    tokenizer *tok = tokenizer_load(f, &err);
    if (tok) {
        use_tokenizer(tok);
        tokenizer_free(tok);
    } else if (!err.msg[0]) {
        fail("tokenizer_load failed without a message");
    }
    gguf_close(f);
    return 0;
}

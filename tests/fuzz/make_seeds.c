/* make_seeds: writes the GGUF seed corpus of fuzz_gguf (tests/fuzz/corpus/fuzz_gguf).
 * Not a fuzz target; the seeds are committed, this says how they were made:
 *
 *   make && cc -Iinclude -D_GNU_SOURCE tests/fuzz/make_seeds.c build/release/liblmterm.a \
 *       -lm -lpthread -o /tmp/make_seeds && /tmp/make_seeds tests/fuzz/corpus/fuzz_gguf
 *
 * Each seed is small (a few KiB) and covers something the reader or the
 * tokenizer loader must handle: both vocabulary kinds with special tokens,
 * every value type, nested arrays, every tensor type, alignment, version 2.
 * Realistic files come from the gguf writer; the odd ones (types the writer
 * has no setter for) are assembled byte by byte. */
#include "gguf.h"
#include "quant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *dir;

static void check(int rc, const lm_error *err) {
    if (rc) {
        fprintf(stderr, "make_seeds: %s\n", err->msg);
        exit(1);
    }
}

static void write_seed(gguf_writer *w, const char *name) {
    char path[4096];
    lm_error err;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    check(gguf_writer_write(w, path, &err), &err);
    gguf_writer_free(w);
}

/* ---- vocabularies ---- */

typedef struct vocab {
    char *tok[600];
    float score[600];
    int32_t type[600];
    int n;
} vocab;

static int add(vocab *v, const char *text, float score, int32_t type) {
    v->tok[v->n] = strdup(text);
    v->score[v->n] = score;
    v->type[v->n] = type;
    return v->n++;
}

static void put_vocab(gguf_writer *w, vocab *v, bool scores) {
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->tok, (uint64_t)v->n);
    if (scores) gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", v->score, (uint64_t)v->n);
    gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", v->type, (uint64_t)v->n);
    for (int i = 0; i < v->n; i++) free(v->tok[i]);
}

/* Phi-3 style: <unk> <s> </s>, optionally the 256 byte tokens, some pieces
 * with "▁", Phi-3's added control and user-defined tokens. */
static void spm_seed(const char *name, bool byte_tokens) {
    vocab v = {.n = 0};
    add(&v, "<unk>", 0, 2);
    add(&v, "<s>", 0, 3);
    add(&v, "</s>", 0, 3);
    char t[16];
    for (int b = 0; byte_tokens && b < 256; b++) {
        snprintf(t, sizeof t, "<0x%02X>", b);
        add(&v, t, 0, 6);
    }
    static const char *const pieces[] = {
        "\xe2\x96\x81", "\xe2\x96\x81H", "\xe2\x96\x81He", "\xe2\x96\x81Hello", "ll", "llo", "lo",
        "\xe2\x96\x81w", "\xe2\x96\x81wor", "\xe2\x96\x81world", "or", "ld", "\xe2\x96\x81\xe2\x96\x81",
        "e", "l", "o", "r", "d", "H", "w", "1", "2", "3", "\xc3\xb6", "\xe2\x96\x81""12",
    };
    for (size_t i = 0; i < sizeof pieces / sizeof *pieces; i++) add(&v, pieces[i], -(float)i, 1);
    int eot = add(&v, "<|endoftext|>", 0, 3);
    add(&v, "<|assistant|>", 0, 4);
    add(&v, "<|end|>", 0, 3);
    add(&v, "<|user|>", 0, 4);
    add(&v, "<|system|>", 0, 4);
    add(&v, "", 0, 5); /* an empty token: llama.cpp names it [EMPTY_n] */
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", "phi3");
    gguf_writer_set_str(w, "general.name", "Phi3 seed");
    gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    gguf_writer_set_str(w, "tokenizer.ggml.pre", "default");
    put_vocab(w, &v, true);
    gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eot);
    gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", 99999); /* out of range */
    gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", true);
    write_seed(w, name);
}

/* GPT-2's byte-to-symbol table: printable bytes stand for themselves, the
 * others for U+0100 upwards. */
static void byte_symbol(int b, char out[3]) {
    int cp = b;
    if (!((b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff))) {
        int n = 0;
        for (int c = 0; c < b; c++)
            if (!((c >= 0x21 && c <= 0x7e) || (c >= 0xa1 && c <= 0xac) || (c >= 0xae && c <= 0xff))) n++;
        cp = 0x100 + n;
    }
    if (cp < 0x80) {
        out[0] = (char)cp, out[1] = 0;
    } else {
        out[0] = (char)(0xc0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3f)), out[2] = 0;
    }
}

/* Llama-3 style: the 256 byte symbols, a few merges, the header and turn tokens. */
static void bpe_seed(const char *name, const char *pre, bool all_bytes) {
    vocab v = {.n = 0};
    char s[3];
    for (int b = 0; b < 256; b++) {
        if (!all_bytes && !(b >= 'a' && b <= 'z') && b != ' ' && b != 'H') continue;
        byte_symbol(b, s);
        add(&v, s, 0, 1);
    }
    static const char *const merges[] = {"\xc4\xa0 w", "o r", "\xc4\xa0w or", "l d", "\xc4\xa0wor ld",
                                         "H e", "l l", "He ll", "Hell o", "\xc4\xa0 \xc4\xa0"};
    static const char *const merged[] = {"\xc4\xa0w", "or", "\xc4\xa0wor", "ld", "\xc4\xa0world",
                                         "He", "ll", "Hell", "Hello", "\xc4\xa0\xc4\xa0"};
    for (size_t i = 0; i < sizeof merged / sizeof *merged; i++) add(&v, merged[i], 0, 1);
    int bos = add(&v, "<|begin_of_text|>", 0, 3);
    add(&v, "<|end_of_text|>", 0, 3);
    add(&v, "<|start_header_id|>", 0, 3);
    add(&v, "<|end_header_id|>", 0, 3);
    int eot = add(&v, "<|eot_id|>", 0, 3);
    add(&v, "<|python_tag|>", 0, 4);
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    if (pre) gguf_writer_set_str(w, "tokenizer.ggml.pre", pre);
    put_vocab(w, &v, false);
    gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, sizeof merges / sizeof *merges);
    gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)bos);
    gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eot);
    write_seed(w, name);
}

/* ---- tensors of every type ---- */

static void tensor_seed(const char *name, uint32_t alignment) {
    static uint8_t bytes[4096];
    for (size_t i = 0; i < sizeof bytes; i++) bytes[i] = (uint8_t)(i * 37 + 11);
    static const struct {
        enum quant_type type;
        int64_t ne0, ne1;
    } list[] = {
        {QT_F32, 8, 1},   {QT_F16, 8, 2},   {QT_BF16, 4, 1},  {QT_Q8_0, 32, 2}, {QT_Q4_0, 64, 1},
        {QT_Q4_1, 32, 1}, {QT_Q5_0, 32, 1}, {QT_Q5_1, 32, 1}, {QT_Q2_K, 256, 1}, {QT_Q3_K, 256, 1},
        {QT_Q4_K, 256, 1}, {QT_Q5_K, 256, 1}, {QT_Q6_K, 256, 1},
    };
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", "llama");
    if (alignment) gguf_writer_set_u32(w, "general.alignment", alignment);
    for (size_t i = 0; i < sizeof list / sizeof *list; i++) {
        char tname[64];
        int64_t ne[2] = {list[i].ne0, list[i].ne1};
        snprintf(tname, sizeof tname, "blk.0.%s.weight", quant_info(list[i].type)->name);
        gguf_writer_add_tensor(w, tname, list[i].type, ne[1] > 1 ? 2 : 1, ne, bytes, NULL, NULL);
    }
    write_seed(w, name);
}

/* ---- assembled byte by byte ---- */

typedef struct raw {
    uint8_t b[4096];
    size_t n;
} raw;

static void put(raw *r, const void *p, size_t n) {
    memcpy(r->b + r->n, p, n);
    r->n += n;
}
static void u32(raw *r, uint32_t v) { put(r, &v, 4); }
static void u64(raw *r, uint64_t v) { put(r, &v, 8); }
static void str(raw *r, const char *s) {
    u64(r, strlen(s));
    put(r, s, strlen(s));
}

static void header(raw *r, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    r->n = 0;
    put(r, "GGUF", 4);
    u32(r, version);
    if (version == 1) { /* 32-bit counts: refused, with a clear message */
        u32(r, (uint32_t)n_tensors);
        u32(r, (uint32_t)n_kv);
    } else {
        u64(r, n_tensors);
        u64(r, n_kv);
    }
}

static void save(const raw *r, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(r->b, 1, r->n, f) != r->n || fclose(f)) {
        perror(path);
        exit(1);
    }
}

static void raw_seeds(void) {
    raw r;
    header(&r, 3, 0, 0);
    save(&r, "empty-v3.gguf");
    header(&r, 1, 0, 0);
    save(&r, "v1.gguf");

    /* one key of every scalar type, arrays of several, a nested array, and a tensor */
    header(&r, 2, 1, 17);
    str(&r, "u8"), u32(&r, GGUF_UINT8), put(&r, "\xff", 1);
    str(&r, "i8"), u32(&r, GGUF_INT8), put(&r, "\x80", 1);
    str(&r, "u16"), u32(&r, GGUF_UINT16), put(&r, "\xff\xff", 2);
    str(&r, "i16"), u32(&r, GGUF_INT16), put(&r, "\x00\x80", 2);
    str(&r, "u32"), u32(&r, GGUF_UINT32), u32(&r, 0xffffffffu);
    str(&r, "i32"), u32(&r, GGUF_INT32), u32(&r, 0x80000000u);
    str(&r, "f32"), u32(&r, GGUF_FLOAT32), put(&r, "\x00\x00\xc0\x7f", 4); /* NaN */
    str(&r, "bool"), u32(&r, GGUF_BOOL), put(&r, "\x01", 1);
    str(&r, "str"), u32(&r, GGUF_STRING), str(&r, "h\xc3\xa9llo");
    str(&r, "u64"), u32(&r, GGUF_UINT64), u64(&r, ~0ull);
    str(&r, "i64"), u32(&r, GGUF_INT64), u64(&r, 1ull << 63);
    str(&r, "f64"), u32(&r, GGUF_FLOAT64), put(&r, "\x00\x00\x00\x00\x00\x00\xf0\x7f", 8); /* inf */
    str(&r, "arr.f64"), u32(&r, GGUF_ARRAY), u32(&r, GGUF_FLOAT64), u64(&r, 2);
    put(&r, "\x00\x00\x00\x00\x00\x00\xf0\xff\x00\x00\x00\x00\x00\x00\xe0\x43", 16); /* -inf, 2^63 */
    str(&r, "arr.bool"), u32(&r, GGUF_ARRAY), u32(&r, GGUF_BOOL), u64(&r, 3), put(&r, "\x00\x01\x00", 3);
    str(&r, "arr.str"), u32(&r, GGUF_ARRAY), u32(&r, GGUF_STRING), u64(&r, 3);
    str(&r, "a"), str(&r, ""), str(&r, "ccc");
    str(&r, "arr.nested"), u32(&r, GGUF_ARRAY), u32(&r, GGUF_ARRAY), u64(&r, 2);
    u32(&r, GGUF_INT16), u64(&r, 2), put(&r, "\x01\x00\xff\xff", 4);
    u32(&r, GGUF_ARRAY), u64(&r, 1), u32(&r, GGUF_STRING), u64(&r, 1), str(&r, "deep");
    str(&r, "general.alignment"), u32(&r, GGUF_UINT64), u64(&r, 16);
    str(&r, "t"), u32(&r, 2), u64(&r, 4), u64(&r, 2), u32(&r, QT_F32), u64(&r, 0);
    while (r.n % 16) put(&r, "", 1);
    for (int i = 0; i < 8; i++) put(&r, "\x00\x00\x80\x3f", 4);
    save(&r, "every-type-v2.gguf");

    /* two tensors that share their data (refused: overlap) */
    header(&r, 3, 2, 0);
    str(&r, "a"), u32(&r, 1), u64(&r, 32), u32(&r, QT_Q8_0), u64(&r, 0);
    str(&r, "b"), u32(&r, 1), u64(&r, 16), u32(&r, QT_F16), u64(&r, 0);
    while (r.n % 32) put(&r, "", 1);
    for (int i = 0; i < 34; i++) put(&r, "\x3c", 1);
    save(&r, "overlap.gguf");
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds DIR\n");
        return 2;
    }
    dir = argv[1];
    spm_seed("spm-bytes.gguf", true);
    spm_seed("spm-small.gguf", false);
    bpe_seed("bpe-llama3.gguf", "llama-bpe", true);
    bpe_seed("bpe-small-nopre.gguf", NULL, false);
    bpe_seed("bpe-bad-pre.gguf", "qwen2", false);
    tensor_seed("tensors.gguf", 0);
    tensor_seed("tensors-align64.gguf", 64);
    tensor_seed("tensors-align1.gguf", 1); /* data at odd addresses */
    raw_seeds();
    return 0;
}

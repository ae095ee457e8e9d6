/* Tokenizer tests: llama.cpp's ids for the Phi-3 and Llama-3 vocabularies (the
 * conformance data), and small hand-made vocabularies written with gguf_writer. */
#include "json.h"
#include "test.h"
#include "tokenizer.h"

#include <stdlib.h>

/* ---- helpers ---- */

static tokenizer *load_path(const char *path, lm_error *err) {
    gguf_file *f = gguf_open(path, err);
    if (!f) return NULL;
    tokenizer *t = tokenizer_load(f, err);
    gguf_close(f); /* the tokenizer keeps its own copies */
    return t;
}

/* The vocabulary of a conformance model, or NULL (test skipped) without the data. */
static tokenizer *load_conformance(const char *model) {
    const char *dir = test_conformance_dir();
    if (!dir) {
        test_skip("no conformance data");
        return NULL;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/models/%s", dir, model);
    lm_error err = {{0}};
    tokenizer *t = load_path(path, &err);
    CHECK_MSG(t != NULL, "loading %s: %s", path, err.msg);
    return t;
}

static lm_tokens encode(const tokenizer *t, const char *text, size_t len, bool bos, bool special) {
    lm_tokens out = {0};
    lm_error err = {{0}};
    int rc = tokenizer_encode(t, text, len, bos, special, &out, &err);
    CHECK_MSG(rc == 0, "encode failed: %s", err.msg);
    return out;
}

/* "[1, 2, 3]", shortened after a few dozen ids. */
static void format_ids(lm_buf *b, const int32_t *ids, size_t n) {
    lm_buf_puts(b, "[");
    for (size_t i = 0; i < n && i < 40; i++) lm_buf_printf(b, "%s%d", i ? ", " : "", ids[i]);
    if (n > 40) lm_buf_puts(b, ", ...");
    lm_buf_puts(b, "]");
}

static bool ids_equal(const lm_tokens *got, const json_value *want) {
    if (!want || want->kind != JSON_ARRAY || want->len != got->n) return false;
    for (size_t i = 0; i < got->n; i++)
        if (want->items[i].kind != JSON_NUMBER || (int32_t)want->items[i].num != got->ids[i])
            return false;
    return true;
}

/* Reports a mismatch with the input and both id lists. */
static void report(const char *file, size_t line, const char *what, const char *text,
                   const lm_tokens *got, const json_value *want) {
    lm_buf g = {0}, w = {0};
    format_ids(&g, got->ids, got->n);
    int32_t wids[64];
    size_t wn = want && want->kind == JSON_ARRAY ? want->len : 0;
    for (size_t i = 0; i < wn && i < 64; i++) wids[i] = (int32_t)want->items[i].num;
    format_ids(&w, wids, wn < 64 ? wn : 64);
    test_fail(file, (int)line, "%s of \"%.80s\":\n      got  %s\n      want %s", what, text,
              lm_buf_cstr(&g), lm_buf_cstr(&w));
    lm_buf_free(&g);
    lm_buf_free(&w);
}

static void to_hex(const char *s, size_t n, lm_buf *out) {
    for (size_t i = 0; i < n; i++) lm_buf_printf(out, "%02x", (unsigned char)s[i]);
}

/* Checks one JSONL case; returns whether every comparison held. */
static bool check_case(const tokenizer *t, const char *file, size_t line, const json_value *c) {
    const json_value *text = json_get(c, "text");
    if (!text || text->kind != JSON_STRING) {
        test_fail(file, (int)line, "no text");
        return false;
    }
    bool ok = true;
    lm_tokens ids = encode(t, text->str, text->len, tokenizer_adds_bos(t), true);
    if (!ids_equal(&ids, json_get(c, "ids"))) {
        report(file, line, "ids (BOS, special)", text->str, &ids, json_get(c, "ids"));
        ok = false;
    }
    lm_tokens plain = encode(t, text->str, text->len, false, false);
    if (!ids_equal(&plain, json_get(c, "ids_nobos_nospecial"))) {
        report(file, line, "ids_nobos_nospecial", text->str, &plain,
               json_get(c, "ids_nobos_nospecial"));
        ok = false;
    }

    const json_value *hex = json_get(c, "pieces_hex");
    for (size_t i = 0; ok && hex && i < ids.n && i < hex->len; i++) {
        lm_buf piece = {0}, piece_hex = {0};
        tokenizer_piece(t, ids.ids[i], true, &piece);
        to_hex(piece.data, piece.len, &piece_hex);
        if (strcmp(lm_buf_cstr(&piece_hex), hex->items[i].str) != 0) {
            test_fail(file, (int)line, "piece of id %d: %s, want %s", ids.ids[i],
                      lm_buf_cstr(&piece_hex), hex->items[i].str);
            ok = false;
        }
        lm_buf_free(&piece);
        lm_buf_free(&piece_hex);
    }
    lm_tokens_free(&ids);
    lm_tokens_free(&plain);
    return ok;
}

static void run_conformance(const char *model, const char *jsonl) {
    tokenizer *t = load_conformance(model);
    if (!t) return;
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenize/%s", test_conformance_dir(), jsonl);
    char *data = NULL;
    size_t len = 0;
    lm_error err = {{0}};
    if (lm_read_file(path, 16 << 20, &data, &len, &err) < 0) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        tokenizer_free(t);
        return;
    }
    size_t n_cases = 0, n_pass = 0, line = 0;
    for (char *p = data; p < data + len; line++) {
        char *end = memchr(p, '\n', (size_t)(data + len - p));
        size_t n = end ? (size_t)(end - p) : (size_t)(data + len - p);
        if (n > 0) {
            json_value *c = json_parse(p, n, &err);
            if (!c) {
                test_fail(jsonl, (int)line + 1, "bad JSON: %s", err.msg);
            } else {
                n_cases++;
                n_pass += check_case(t, jsonl, line + 1, c);
                json_free(c);
            }
        }
        p += n + 1;
    }
    printf("    %s: %zu of %zu cases identical to llama.cpp\n", jsonl, n_pass, n_cases);
    CHECK(n_cases >= 64);
    CHECK_EQ_INT(n_pass, n_cases);
    free(data);
    tokenizer_free(t);
}

/* ---- conformance ---- */

TEST(tokenizer_conformance_phi3) {
    run_conformance("phi3-e64-Q4_0.gguf", "tokenize-phi3.jsonl");
}

TEST(tokenizer_conformance_llama3) {
    run_conformance("llama3-e32-Q4_0.gguf", "tokenize-llama3.jsonl");
}

static size_t count_eog(const tokenizer *t, int32_t *first) {
    size_t n = 0;
    for (int32_t id = 0; id < tokenizer_n_vocab(t); id++) {
        if (!tokenizer_is_eog(t, id)) continue;
        if (n < 4) first[n] = id;
        n++;
    }
    return n;
}

TEST(tokenizer_phi3_vocabulary) {
    tokenizer *t = load_conformance("phi3-e64-Q4_0.gguf");
    if (!t) return;
    CHECK(tokenizer_kind(t) == TOKENIZER_SPM);
    CHECK_EQ_INT(tokenizer_n_vocab(t), 32064);
    CHECK_EQ_INT(tokenizer_bos(t), 1);
    CHECK_EQ_INT(tokenizer_eos(t), 32000);
    CHECK(tokenizer_adds_bos(t));
    int32_t eog[4] = {0};
    CHECK_EQ_INT(count_eog(t, eog), 2);
    CHECK_EQ_INT(eog[0], 32000);
    CHECK_EQ_INT(eog[1], 32007);
    CHECK_EQ_INT(tokenizer_find(t, "<|end|>"), 32007);
    CHECK(tokenizer_token_type(t, 2) == TOKEN_USER_DEFINED); /* </s> */
    CHECK_EQ_STR(tokenizer_token_text(t, 15043), "\xe2\x96\x81Hello");

    /* RSTRIP: "<|user|>\nHi" is <|user|>, ▁Hi */
    lm_tokens ids = encode(t, "<|user|>\nHi", 11, false, true);
    CHECK_EQ_INT(ids.n, 2);
    if (ids.n == 2) CHECK_EQ_INT(ids.ids[0], 32010);
    lm_tokens_free(&ids);

    /* control text only when asked for */
    lm_buf b = {0};
    tokenizer_piece(t, 32007, false, &b);
    CHECK_EQ_INT(b.len, 0);
    tokenizer_piece(t, 32007, true, &b);
    CHECK_EQ_STR(lm_buf_cstr(&b), "<|end|>");
    lm_buf_free(&b);
    tokenizer_free(t);
}

TEST(tokenizer_llama3_vocabulary) {
    tokenizer *t = load_conformance("llama3-e32-Q4_0.gguf");
    if (!t) return;
    CHECK(tokenizer_kind(t) == TOKENIZER_BPE);
    CHECK_EQ_INT(tokenizer_n_vocab(t), 128256);
    CHECK_EQ_INT(tokenizer_bos(t), 128000);
    CHECK(tokenizer_adds_bos(t));
    int32_t eog[4] = {0};
    CHECK_EQ_INT(count_eog(t, eog), 1);
    CHECK_EQ_INT(eog[0], 128009);
    CHECK(!tokenizer_is_eog(t, 128001));

    lm_buf b = {0};
    tokenizer_piece(t, tokenizer_find(t, "\xc4\xa0world"), false, &b); /* "Ġworld" */
    CHECK_EQ_STR(lm_buf_cstr(&b), " world");
    lm_buf_free(&b);

    /* the empty string is BOS alone, or nothing */
    lm_tokens ids = encode(t, "", 0, true, true);
    CHECK_EQ_INT(ids.n, 1);
    lm_tokens_free(&ids);
    ids = encode(t, "", 0, false, true);
    CHECK_EQ_INT(ids.n, 0);
    lm_tokens_free(&ids);
    tokenizer_free(t);
}

/* ---- streaming ---- */

/* Decodes ids one by one: every chunk must be valid UTF-8, and all of them
 * together the expected text. */
static void check_stream(const tokenizer *t, const char *text, const char *expect) {
    lm_tokens ids = encode(t, text, strlen(text), false, false);
    tokenizer_stream s = {{0}, 0};
    lm_buf all = {0};
    size_t held_back = 0;
    for (size_t i = 0; i < ids.n; i++) {
        lm_buf chunk = {0};
        tokenizer_stream_push(t, &s, ids.ids[i], true, &chunk);
        CHECK_MSG(utf8_valid(chunk.data, chunk.len), "chunk %zu is not valid UTF-8", i);
        if (s.n_held) held_back++;
        lm_buf_append(&all, chunk.data, chunk.len);
        lm_buf_free(&chunk);
    }
    tokenizer_stream_flush(&s, &all);
    CHECK_EQ_STR(lm_buf_cstr(&all), expect);
    CHECK_MSG(held_back > 0, "no token of \"%s\" ended inside a character", text);
    lm_buf_free(&all);
    lm_tokens_free(&ids);
}

static const char stream_text[] = "caf\xc3\xa9 \xf0\x9f\xa6\x99 \xe6\x97\xa5\xe6\x9c\xac "
                                  "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd \xe0\xa4\xa8\xe0\xa4\xae";

TEST(tokenizer_stream_phi3) {
    tokenizer *t = load_conformance("phi3-e64-Q4_0.gguf");
    if (!t) return;
    /* SentencePiece adds a leading space to the text */
    char expect[128];
    snprintf(expect, sizeof expect, " %s", stream_text);
    check_stream(t, stream_text, expect);
    tokenizer_free(t);
}

TEST(tokenizer_stream_llama3) {
    tokenizer *t = load_conformance("llama3-e32-Q4_0.gguf");
    if (!t) return;
    check_stream(t, stream_text, stream_text);
    tokenizer_free(t);
}

TEST(tokenizer_stream_replaces_broken_bytes) {
    tokenizer *t = load_conformance("phi3-e64-Q4_0.gguf");
    if (!t) return;
    /* <0xE6> then <0x41>: a character that never completes */
    int32_t e6 = tokenizer_find(t, "<0xE6>"), a = tokenizer_find(t, "<0x41>");
    tokenizer_stream s = {{0}, 0};
    lm_buf out = {0};
    tokenizer_stream_push(t, &s, e6, true, &out);
    CHECK_EQ_INT(out.len, 0);
    tokenizer_stream_push(t, &s, a, true, &out);
    CHECK_EQ_STR(lm_buf_cstr(&out), "\xef\xbf\xbd"
                                    "A");
    tokenizer_stream_push(t, &s, e6, true, &out);
    tokenizer_stream_flush(&s, &out);
    CHECK_EQ_STR(lm_buf_cstr(&out), "\xef\xbf\xbd"
                                    "A\xef\xbf\xbd");
    lm_buf_free(&out);
    tokenizer_free(t);
}

/* ---- round trips over generated text ---- */

/* Deterministic text: ASCII words and punctuation, multi-byte characters and,
 * when raw, arbitrary bytes. */
static size_t make_text(uint32_t *seed, bool raw, char *out, size_t cap) {
    static const char *const parts[] = {"the",
                                        " ",
                                        "  ",
                                        "\n",
                                        "\t",
                                        "'s",
                                        "42",
                                        "1234",
                                        ".",
                                        "!?",
                                        "\xc3\xa9",
                                        "\xe6\x97\xa5",
                                        "\xf0\x9f\xa6\x99",
                                        "\xe2\x96\x81",
                                        "<|",
                                        "|>",
                                        "<s>",
                                        "\r\n",
                                        "\xc2\xa0"};
    size_t n = 0;
    for (int k = 0; k < 40; k++) {
        *seed = *seed * 1103515245u + 12345u;
        uint32_t r = *seed >> 8;
        if (raw && r % 5 == 0) {
            if (n < cap) out[n++] = (char)(r >> 8);
            continue;
        }
        const char *p = parts[r % (sizeof parts / sizeof *parts)];
        size_t len = strlen(p);
        if (n + len > cap) break;
        memcpy(out + n, p, len);
        n += len;
    }
    return n;
}

/* SentencePiece cannot tell a "▁" in the text from a space: compare with
 * every "▁" read as a space. */
static void unescape_spaces(lm_buf *b) {
    size_t k = 0;
    for (size_t i = 0; i < b->len; i++) {
        bool mark = i + 3 <= b->len && memcmp(b->data + i, "\xe2\x96\x81", 3) == 0;
        b->data[k++] = mark ? ' ' : b->data[i];
        i += mark ? 2 : 0;
    }
    b->len = k;
}

/* Decoding the ids of any text gives the text back (SentencePiece puts a space
 * in front). BPE turns invalid UTF-8 into U+FFFD, so it gets valid text only. */
static void check_round_trips(const tokenizer *t, bool raw) {
    uint32_t seed = 7;
    for (int round = 0; round < 200; round++) {
        char text[512];
        size_t n = make_text(&seed, raw, text, sizeof text);
        lm_tokens ids = encode(t, text, n, false, false);
        lm_buf back = {0}, want = {0};
        for (size_t i = 0; i < ids.n; i++) tokenizer_piece(t, ids.ids[i], true, &back);
        if (tokenizer_kind(t) == TOKENIZER_SPM) {
            lm_buf_append(&want, " ", 1);
            lm_buf_append(&want, text, n);
            unescape_spaces(&want);
            unescape_spaces(&back);
        } else {
            lm_buf_append(&want, text, n);
        }
        CHECK_MSG(back.len == want.len && memcmp(back.data, want.data, back.len) == 0,
                  "round %d: \"%.*s\" came back as \"%.*s\"", round, (int)want.len, want.data,
                  (int)back.len, back.data);
        lm_buf_free(&back);
        lm_buf_free(&want);
        lm_tokens_free(&ids);
    }
}

TEST(tokenizer_round_trip_phi3) {
    tokenizer *t = load_conformance("phi3-e64-Q4_0.gguf");
    if (!t) return;
    check_round_trips(t, true);
    tokenizer_free(t);
}

TEST(tokenizer_round_trip_llama3) {
    tokenizer *t = load_conformance("llama3-e32-Q4_0.gguf");
    if (!t) return;
    check_round_trips(t, false);
    /* any bytes at all encode without trouble */
    uint32_t seed = 99;
    for (int round = 0; round < 200; round++) {
        char text[512];
        size_t n = make_text(&seed, true, text, sizeof text);
        lm_tokens ids = encode(t, text, n, true, true);
        CHECK(ids.n >= 1);
        lm_tokens_free(&ids);
    }
    tokenizer_free(t);
}

/* ---- hand-made vocabularies ---- */

/* A SentencePiece vocabulary: <unk> <s> </s>, the 256 byte tokens, then words. */
static const char *const spm_words[] = {"\xe2\x96\x81",
                                        "a",
                                        "b",
                                        "c",
                                        "ab",
                                        "\xe2\x96\x81"
                                        "a",
                                        "\xe2\x96\x81"
                                        "ab",
                                        "bc",
                                        "<|user|>"};
static const float spm_scores[] = {-1, -2, -3, -4, -5, -6, -7, -1.5f, 0};

static void write_spm(const char *path, const char *name, bool bad_scores) {
    enum { N_WORDS = sizeof spm_words / sizeof *spm_words, N = 3 + 256 + N_WORDS };
    static char bytes[256][8];
    const char *tokens[N];
    float scores[N];
    int32_t types[N];
    tokens[0] = "<unk>", tokens[1] = "<s>", tokens[2] = "</s>";
    types[0] = TOKEN_UNKNOWN, types[1] = TOKEN_CONTROL, types[2] = TOKEN_CONTROL;
    for (int b = 0; b < 256; b++) {
        snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
        tokens[3 + b] = bytes[b];
        types[3 + b] = TOKEN_BYTE;
    }
    for (int i = 0; i < N_WORDS; i++) {
        tokens[259 + i] = spm_words[i];
        types[259 + i] = TOKEN_NORMAL;
        scores[259 + i] = spm_scores[i];
    }
    types[N - 1] = TOKEN_CONTROL;
    for (int i = 0; i < 259; i++) scores[i] = 0;

    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.name", name);
    gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tokens, N);
    gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", scores, bad_scores ? N - 1 : N);
    gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", types, N);
    lm_error err = {{0}};
    CHECK_MSG(gguf_writer_write(w, path, &err) == 0, "%s", err.msg);
    gguf_writer_free(w);
}

static void check_ids(const tokenizer *t, const char *text, bool special, const int32_t *want,
                      size_t n) {
    lm_tokens got = encode(t, text, strlen(text), false, special);
    bool same = got.n == n;
    for (size_t i = 0; same && i < n; i++) same = got.ids[i] == want[i];
    if (!same) {
        lm_buf g = {0}, w = {0};
        format_ids(&g, got.ids, got.n);
        format_ids(&w, want, n);
        test_fail(__FILE__, __LINE__, "\"%s\": got %s, want %s", text, lm_buf_cstr(&g),
                  lm_buf_cstr(&w));
        lm_buf_free(&g);
        lm_buf_free(&w);
    }
    lm_tokens_free(&got);
}

#define IDS(...) ((const int32_t[]){__VA_ARGS__}), sizeof((const int32_t[]){__VA_ARGS__}) / 4

TEST(tokenizer_spm_small) {
    char path[4096];
    snprintf(path, sizeof path, "%s/spm.gguf", test_tmpdir());
    write_spm(path, "tiny", false);
    lm_error err = {{0}};
    tokenizer *t = load_path(path, &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (!t) return;
    enum { SP = 259, A, B, C, AB, SP_A, SP_AB, BC, USER };
    /* "bc" (-1.5) outscores "ab" (-5) and "▁a" (-6); "ab" is then gone */
    check_ids(t, "abc", false, IDS(SP_A, BC));
    /* "ab" (-5) before "▁a" (-6); then "▁" + "ab" makes "▁ab" (-7) */
    check_ids(t, "ab", false, IDS(SP_AB));
    /* a character outside the vocabulary falls back to its bytes */
    check_ids(t, "a\xc3\xa9", false, IDS(SP_A, 3 + 0xC3, 3 + 0xA9));
    /* each fragment after a special token gets its own "▁" */
    check_ids(t, "a<|user|>b", true, IDS(SP_A, USER, SP, B));
    check_ids(t, "<|user|>", false,
              IDS(SP, 3 + '<', 3 + '|', 3 + 'u', 3 + 's', 3 + 'e', 3 + 'r', 3 + '|', 3 + '>'));
    lm_tokens bos = encode(t, "", 0, true, true);
    CHECK_EQ_INT(bos.n, 1);
    if (bos.n) CHECK_EQ_INT(bos.ids[0], 1);
    lm_tokens_free(&bos);

    lm_buf b = {0};
    tokenizer_piece(t, SP_AB, false, &b);
    tokenizer_piece(t, 3 + 'x', false, &b);
    tokenizer_piece(t, 1, false, &b); /* control: nothing */
    CHECK_EQ_STR(lm_buf_cstr(&b), " abx");
    lm_buf_free(&b);
    CHECK(tokenizer_is_eog(t, 2));
    CHECK(!tokenizer_is_eog(t, 1));
    tokenizer_free(t);
}

TEST(tokenizer_phi3_name_strips_spaces) {
    char path[4096];
    snprintf(path, sizeof path, "%s/spm-phi3.gguf", test_tmpdir());
    write_spm(path, "My-Phi-3-Test", false);
    lm_error err = {{0}};
    tokenizer *t = load_path(path, &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (!t) return;
    enum { SP = 259, A, B, C, AB, SP_A, SP_AB, BC, USER };
    check_ids(t, "<|user|>  \n b", true, IDS(USER, SP, B));
    tokenizer_free(t);
}

TEST(tokenizer_rejects_bad_vocabulary) {
    char path[4096];
    snprintf(path, sizeof path, "%s/spm-bad.gguf", test_tmpdir());
    write_spm(path, "tiny", true);
    lm_error err = {{0}};
    tokenizer *t = load_path(path, &err);
    CHECK(t == NULL);
    CHECK_MSG(strstr(err.msg, "tokenizer.ggml.scores") != NULL, "message: %s", err.msg);
    tokenizer_free(t);

    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "tokenizer.ggml.model", "t5");
    snprintf(path, sizeof path, "%s/t5.gguf", test_tmpdir());
    CHECK(gguf_writer_write(w, path, &err) == 0);
    gguf_writer_free(w);
    t = load_path(path, &err);
    CHECK(t == NULL);
    CHECK_MSG(strstr(err.msg, "t5") != NULL, "message: %s", err.msg);
    tokenizer_free(t);
}

/* A byte-level BPE vocabulary: the 256 byte characters, then merged words. */
static void write_bpe(const char *path) {
    static char alphabet[256][4];
    const char *tokens[256 + 7];
    int n = 0;
    for (int b = 0; b < 256; b++) {
        uint32_t cp = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE
                          ? (uint32_t)b
                      : b <= 0x20 ? 0x100u + (uint32_t)b
                      : b == 0xAD ? 0x143u
                                  : 0x121u + (uint32_t)b - 0x7F;
        alphabet[b][utf8_encode(cp, alphabet[b])] = '\0';
        tokens[n++] = alphabet[b];
    }
    const char *words[] = {"he", "ll", "hell", "hello", "\xc4\xa0w", "xyz", "<|eot_id|>"};
    for (int i = 0; i < 7; i++) tokens[n++] = words[i];
    const char *merges[] = {"l l", "h e", "he ll", "hell o", "\xc4\xa0 w"};
    int32_t types[256 + 7];
    for (int i = 0; i < n; i++) types[i] = TOKEN_NORMAL;
    types[n - 1] = TOKEN_CONTROL;

    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_writer_set_str(w, "tokenizer.ggml.pre", "llama-bpe");
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tokens, (uint64_t)n);
    gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", types, (uint64_t)n);
    gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, 5);
    gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 0);
    gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)n - 1);
    lm_error err = {{0}};
    CHECK_MSG(gguf_writer_write(w, path, &err) == 0, "%s", err.msg);
    gguf_writer_free(w);
}

TEST(tokenizer_bpe_small) {
    char path[4096];
    snprintf(path, sizeof path, "%s/bpe.gguf", test_tmpdir());
    write_bpe(path);
    lm_error err = {{0}};
    tokenizer *t = load_path(path, &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (!t) return;
    enum { HE = 256, LL, HELL, HELLO, SP_W, XYZ, EOT };
    /* byte of ' ' is U+0120 "Ġ", which is token 0x20 */
    check_ids(t, "hello world", false, IDS(HELLO, SP_W, 'o', 'r', 'l', 'd'));
    check_ids(t, "hell", false, IDS(HELL));
    /* a word that is a token is taken whole, though no merge leads to it */
    check_ids(t, "xyz xyz", false, IDS(XYZ, 0x20, 'x', 'y', 'z'));
    check_ids(t, "x<|eot_id|>", true, IDS('x', EOT));
    check_ids(t, "I'm 12345", false, IDS('I', '\'', 'm', 0x20, '1', '2', '3', '4', '5'));
    check_ids(t, "\xc3\xa9", false, IDS(0xC3, 0xA9));
    CHECK(tokenizer_is_eog(t, EOT));

    lm_buf b = {0};
    tokenizer_piece(t, SP_W, false, &b);
    tokenizer_piece(t, 0x0A, false, &b); /* the token for byte 0x0A is U+010A */
    CHECK_EQ_STR(lm_buf_cstr(&b), " w\n");
    lm_buf_free(&b);
    tokenizer_free(t);
}

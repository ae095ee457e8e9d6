/* fuzz_tokenizer: encode any bytes and decode any ids with real vocabularies.
 *
 * The vocabularies are Phi-3's (SentencePiece, 32064 tokens) and Llama-3's
 * (byte-level BPE, 128256 tokens) from the conformance models, loaded once:
 * $LMTERM_CONFORMANCE/models, else ../shared/conformance/models from the
 * current folder (run.sh runs targets from the repository root). Without
 * them, tiny synthetic models are written to a temporary folder instead.
 *
 * Input: byte 0 chooses the vocabulary (bit 0), add_bos (bit 1) and whether
 * control tokens decode to text (bit 2); byte 1 says which fragments parse
 * special tokens (bit i for fragment i); bytes 2-4 are three split points
 * (scaled to the text); the rest is the text. Checked besides crashes:
 *   - every id encode gives is in the vocabulary;
 *   - encode_fragments with every fragment parsing special tokens gives what
 *     encode gives for the joined text (the header promises it);
 *   - plain text (no fragment parses special tokens) decodes back to itself
 *     (SPM: with the space prefix, "▁" reading as a space);
 *   - the text read as ids (3 bytes each) streams out as valid UTF-8 equal
 *     to the concatenated pieces with invalid bytes replaced.
 *
 * libFuzzer: -max_len=4096 -timeout=20 -rss_limit_mb=3072
 */
#include "gguf.h"
#include "synth.h"
#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static tokenizer *vocab[2]; /* 0: SPM (Phi-3), 1: BPE (Llama-3) */

static void fail(const char *what, const uint8_t *text, size_t len) {
    fprintf(stderr, "fuzz_tokenizer: check failed: %s (text of %zu bytes: \"", what, len);
    for (size_t i = 0; i < len && i < 200; i++)
        fprintf(stderr, text[i] >= 0x20 && text[i] < 0x7f && text[i] != '"' ? "%c" : "\\x%02x", text[i]);
    fprintf(stderr, "\")\n");
    abort();
}

static tokenizer *load(const char *path) {
    lm_error err;
    gguf_file *f = gguf_open(path, &err);
    tokenizer *t = f ? tokenizer_load(f, &err) : NULL;
    gguf_close(f);
    return t;
}

static tokenizer *load_conformance(const char *name) {
    const char *dirs[] = {getenv("LMTERM_CONFORMANCE"), "../shared/conformance"};
    for (size_t i = 0; i < 2; i++) {
        if (!dirs[i] || !*dirs[i]) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/models/%s", dirs[i], name);
        if (access(path, R_OK) == 0) {
            tokenizer *t = load(path);
            if (t) fprintf(stderr, "fuzz_tokenizer: vocabulary from %s\n", path);
            return t;
        }
    }
    return NULL;
}

static tokenizer *load_synthetic(const char *arch) {
    char dir[] = "/tmp/lmterm-fuzz-vocab.XXXXXX", path[64];
    if (!mkdtemp(dir)) return NULL;
    snprintf(path, sizeof path, "%s/tiny.gguf", dir);
    synth_options o = {.arch = arch, .shape = "tiny", .type = QT_Q8_0, .output_type = QT_COUNT, .seed = 1};
    lm_error err;
    tokenizer *t = synth_write(&o, path, &err) == 0 ? load(path) : NULL;
    unlink(path);
    rmdir(dir);
    fprintf(stderr, "fuzz_tokenizer: no conformance models; synthetic %s vocabulary\n", arch);
    return t;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    vocab[0] = load_conformance("phi3-e64-Q4_0.gguf");
    vocab[1] = load_conformance("llama3-e32-Q4_0.gguf");
    if (!vocab[0]) vocab[0] = load_synthetic("phi3");
    if (!vocab[1]) vocab[1] = load_synthetic("llama");
    if (!vocab[0] || !vocab[1]) {
        fprintf(stderr, "fuzz_tokenizer: cannot load a vocabulary\n");
        exit(1);
    }
    return 0;
}

static void check_ids(const tokenizer *t, const lm_tokens *ids, const uint8_t *text, size_t len) {
    for (size_t i = 0; i < ids->n; i++)
        if (ids->ids[i] < 0 || ids->ids[i] >= tokenizer_n_vocab(t))
            fail("an id outside the vocabulary", text, len);
}

/* What a correct stream gives for bytes: whole characters, each invalid byte
 * as U+FFFD, an unfinished character at the end as one U+FFFD. */
static void expected_stream(const char *s, size_t n, lm_buf *out) {
    size_t done = utf8_complete_prefix(s, n), i = 0;
    while (i < done) {
        uint32_t cp;
        int k = utf8_decode(s + i, done - i, &cp);
        if (cp == 0xFFFD && k == 1) lm_buf_append(out, "\xef\xbf\xbd", 3);
        else lm_buf_append(out, s + i, (size_t)k);
        i += (size_t)k;
    }
    if (done < n) lm_buf_append(out, "\xef\xbf\xbd", 3);
}

static bool same_buf(const lm_buf *a, const lm_buf *b) {
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 5) return 0;
    const tokenizer *t = vocab[data[0] & 1];
    bool add_bos = data[0] & 2, special = data[0] & 4;
    unsigned mask = data[1];
    const char *text = (const char *)data + 5;
    size_t len = size - 5;
    lm_error err;

    /* whole text, with and without special tokens */
    lm_tokens whole = {0}, plain = {0}, frag = {0};
    if (tokenizer_encode(t, text, len, add_bos, true, &whole, &err)) fail(err.msg, data, size);
    if (tokenizer_encode(t, text, len, add_bos, false, &plain, &err)) fail(err.msg, data, size);
    check_ids(t, &whole, data, size);
    check_ids(t, &plain, data, size);

    /* four fragments cut at points taken from the input */
    size_t cut[5] = {0, 0, 0, 0, len};
    for (int i = 0; i < 3; i++) cut[i + 1] = data[2 + i] * len / 256;
    for (int i = 1; i < 4; i++) /* sort the three cuts */
        for (int j = i; j > 1 && cut[j] < cut[j - 1]; j--) {
            size_t x = cut[j];
            cut[j] = cut[j - 1], cut[j - 1] = x;
        }
    tokenizer_fragment fr[4];
    for (int i = 0; i < 4; i++)
        fr[i] = (tokenizer_fragment){text + cut[i], cut[i + 1] - cut[i], (mask >> i) & 1};
    if (tokenizer_encode_fragments(t, fr, 4, add_bos, &frag, &err)) fail(err.msg, data, size);
    check_ids(t, &frag, data, size);
    if ((mask & 15) == 15 &&
        (frag.n != whole.n || (whole.n && memcmp(frag.ids, whole.ids, whole.n * sizeof *whole.ids))))
        fail("encode_fragments differs from encode on the same text", data, size);

    /* plain text decodes back to itself */
    if ((mask & 15) == 0) {
        lm_buf got = {0}, want = {0};
        for (size_t i = add_bos && tokenizer_bos(t) >= 0; i < frag.n; i++)
            tokenizer_piece(t, frag.ids[i], true, &got);
        if (tokenizer_kind(t) == TOKENIZER_SPM) {
            if (len) lm_buf_append(&want, " ", 1); /* Phi-3 adds the space prefix */
            for (size_t i = 0; i < len; i++) {
                if (i + 3 <= len && memcmp(text + i, "\xe2\x96\x81", 3) == 0) {
                    lm_buf_append(&want, " ", 1);
                    i += 2;
                } else {
                    lm_buf_append(&want, text + i, 1);
                }
            }
        } else {
            lm_buf_append(&want, text, len);
        }
        if (!same_buf(&got, &want) && utf8_valid(text, len))
            fail("plain text does not decode back to itself", data, size);
        lm_buf_free(&got);
        lm_buf_free(&want);
    }

    /* the text as ids, some of them invalid */
    lm_buf streamed = {0}, pieces = {0}, want = {0};
    tokenizer_stream st = {{0}, 0};
    int32_t n_vocab = tokenizer_n_vocab(t);
    for (size_t i = 0; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)data[5 + i] | (uint32_t)data[6 + i] << 8 | (uint32_t)data[7 + i] << 16;
        int32_t id = (int32_t)(v % (uint32_t)(n_vocab + 16)) - 8;
        tokenizer_piece(t, id, special, &pieces);
        tokenizer_stream_push(t, &st, id, special, &streamed);
        const char *tt = tokenizer_token_text(t, id); /* "" for a bad id */
        if (id >= 0 && id < n_vocab && tokenizer_find(t, tt) < 0) {
            char msg[128];
            snprintf(msg, sizeof msg, "tokenizer_find cannot find the text of token %d", (int)id);
            fail(msg, data, size);
        }
        (void)tokenizer_is_eog(t, id);
        (void)tokenizer_token_type(t, id);
    }
    tokenizer_stream_flush(&st, &streamed);
    expected_stream(pieces.data, pieces.len, &want);
    if (!utf8_valid(streamed.data, streamed.len)) fail("the stream gave invalid UTF-8", data, size);
    if (!same_buf(&streamed, &want)) fail("the stream differs from the pieces", data, size);

    lm_buf_free(&streamed);
    lm_buf_free(&pieces);
    lm_buf_free(&want);
    lm_tokens_free(&whole);
    lm_tokens_free(&plain);
    lm_tokens_free(&frag);
    return 0;
}

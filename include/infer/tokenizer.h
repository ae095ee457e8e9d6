/* tokenizer: the vocabularies of GGUF files. SentencePiece-style (model "llama":
 * Phi-3, Llama-2) and byte-level BPE (model "gpt2", pre "llama-bpe": Llama-3).
 * Encodes text to ids and decodes ids to text exactly as llama.cpp does. */
#ifndef LMTERM_TOKENIZER_H
#define LMTERM_TOKENIZER_H

#include "gguf.h"
#include "util.h"

/* Token types as stored in tokenizer.ggml.token_type. */
enum token_type {
    TOKEN_UNDEFINED = 0,
    TOKEN_NORMAL = 1,
    TOKEN_UNKNOWN = 2,
    TOKEN_CONTROL = 3,
    TOKEN_USER_DEFINED = 4,
    TOKEN_UNUSED = 5,
    TOKEN_BYTE = 6
};

enum tokenizer_kind { TOKENIZER_SPM, TOKENIZER_BPE };

/* A growable list of token ids. */
typedef struct lm_tokens {
    int32_t *ids;
    size_t n, cap;
} lm_tokens;

void lm_tokens_push(lm_tokens *t, int32_t id);
void lm_tokens_free(lm_tokens *t);

typedef struct tokenizer tokenizer;

/* Reads the vocabulary from the file's tokenizer.ggml.* keys. The tokenizer
 * copies what it needs: the file may be closed afterwards. */
tokenizer *tokenizer_load(const gguf_file *f, lm_error *err);
void tokenizer_free(tokenizer *t);

enum tokenizer_kind tokenizer_kind(const tokenizer *t);
int32_t tokenizer_n_vocab(const tokenizer *t);
int32_t tokenizer_bos(const tokenizer *t); /* -1 when the vocabulary has none */
int32_t tokenizer_eos(const tokenizer *t);
bool tokenizer_adds_bos(const tokenizer *t); /* add_bos_token, or llama.cpp's default */
enum token_type tokenizer_token_type(const tokenizer *t, int32_t id);
/* End of generation: eos, eot, eom and the model family's end tokens. */
bool tokenizer_is_eog(const tokenizer *t, int32_t id);
/* The id of a token whose text is exactly s, or -1. */
int32_t tokenizer_find(const tokenizer *t, const char *s);
/* The stored text of a token (as in the vocabulary, e.g. "▁Hello" or "Ġworld"). */
const char *tokenizer_token_text(const tokenizer *t, int32_t id);

/* Appends the ids of text[0..len) to out. add_bos: prepend BOS when the
 * vocabulary has one. parse_special: control and user-defined token texts in
 * the input become those tokens; otherwise every byte is plain text. */
int tokenizer_encode(const tokenizer *t, const char *text, size_t len, bool add_bos,
                     bool parse_special, lm_tokens *out, lm_error *err);

/* A piece of a prompt: text whose special-token markup is parsed (templates)
 * or not (what a user typed). */
typedef struct tokenizer_fragment {
    const char *text;
    size_t len;
    bool parse_special;
} tokenizer_fragment;

/* Encodes the concatenation of fragments exactly as tokenizer_encode would
 * encode the joined text with parse_special, except that special-token text
 * inside a fragment with parse_special false stays plain text. */
int tokenizer_encode_fragments(const tokenizer *t, const tokenizer_fragment *frags, size_t n,
                               bool add_bos, lm_tokens *out, lm_error *err);

/* Appends the bytes a token stands for to out: SPM "▁" becomes a space, byte
 * tokens <0xNN> their byte, BPE byte-level symbols their bytes. Control tokens
 * give their text only when special is true. */
void tokenizer_piece(const tokenizer *t, int32_t id, bool special, lm_buf *out);

/* Streaming detokenizer: text comes out only as whole UTF-8 characters;
 * bytes of a character split across tokens are held back until complete. */
typedef struct tokenizer_stream {
    char held[8];
    size_t n_held;
} tokenizer_stream;

void tokenizer_stream_push(const tokenizer *t, tokenizer_stream *s, int32_t id, bool special,
                           lm_buf *out);
/* Emits whatever is held back (an incomplete sequence becomes U+FFFD). */
void tokenizer_stream_flush(tokenizer_stream *s, lm_buf *out);

#endif

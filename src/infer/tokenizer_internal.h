/* Private to the tokenizer module: the vocabulary as tokenizer.c, tokenizer_spm.c
 * and tokenizer_bpe.c share it, the string hash map, and the Unicode classes. */
#ifndef LMTERM_TOKENIZER_INTERNAL_H
#define LMTERM_TOKENIZER_INTERNAL_H

#include "tokenizer.h"

/* Token attributes, as llama.cpp keeps them: one bit for the token's type, plus
 * flags that say whether a special token swallows the white space beside it. */
enum {
    ATTR_UNKNOWN = 1 << 0,
    ATTR_UNUSED = 1 << 1,
    ATTR_NORMAL = 1 << 2,
    ATTR_CONTROL = 1 << 3,
    ATTR_USER_DEFINED = 1 << 4,
    ATTR_BYTE = 1 << 5,
    ATTR_LSTRIP = 1 << 7,
    ATTR_RSTRIP = 1 << 8,
    ATTR_EOG = 1 << 12, /* ours: ends generation */
};

/* A byte string that lives in the tokenizer's arena. */
typedef struct strref {
    const char *ptr;
    uint32_t len;
} strref;

/* An open-addressing hash map whose keys are entries of a strref array and whose
 * values are indices into that array. Keys are never copied. */
typedef struct strmap {
    uint32_t *hashes; /* 0 marks an empty slot */
    int32_t *values;
    size_t mask;
    const strref *keys;
} strmap;

/* Hashes the concatenation of a, sep (when sep >= 0) and b. */
uint32_t strmap_hash(const char *a, size_t an, int sep, const char *b, size_t bn);
/* Looks up the key a [sep b]; -1 when absent. */
int32_t strmap_find(const strmap *m, const char *a, size_t an, int sep, const char *b, size_t bn);

struct tokenizer {
    enum tokenizer_kind kind;
    int32_t n_vocab;
    char *arena;    /* every token and merge text, each NUL-terminated */
    strref *text;   /* [n_vocab] */
    float *score;   /* [n_vocab] */
    uint16_t *attr; /* [n_vocab] */
    strmap by_text; /* token text -> id (the last id when a text repeats) */

    /* BPE: merges[rank] is "left right"; by_pair finds the rank. */
    strref *merges;
    int32_t n_merges;
    strmap by_pair;

    /* Ids of control, user-defined and unknown tokens, longest text first. */
    int32_t *special;
    int32_t n_special;

    int32_t byte_token[256]; /* SPM: the token for each raw byte, or -1 */
    int32_t bos, eos, unk, eot, eom, pad;
    bool add_bos, add_space_prefix, ignore_merges;
};

/* The id of a token text, -1 when absent. */
static inline int32_t tok_lookup(const tokenizer *t, const char *s, size_t n) {
    return strmap_find(&t->by_text, s, n, -1, NULL, 0);
}

/* Sequence length from the lead byte alone, as llama.cpp counts characters
 * when it cuts text into symbols: a stray continuation byte stands alone. */
static inline uint32_t utf8_lead_len(unsigned char c) {
    return c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* Encodes one fragment of plain text (no special tokens) and appends its ids.
 * space_prefix: SentencePiece's leading "▁". */
int spm_encode(const tokenizer *t, const char *text, size_t len, bool space_prefix, lm_tokens *out,
               lm_error *err);
int bpe_encode(const tokenizer *t, const char *text, size_t len, lm_tokens *out, lm_error *err);
/* Appends the bytes a byte-level BPE token text stands for. */
void bpe_decode_text(const char *text, size_t len, lm_buf *out);

/* Unicode classes of the Llama-3 split (unicode_data.c). */
bool unicode_is_letter(uint32_t cp);
bool unicode_is_number(uint32_t cp);
bool unicode_is_whitespace(uint32_t cp);

#endif

/* Byte-level BPE encoding (tokenizer.ggml.model "gpt2", pre "llama-bpe": Llama-3).
 *
 * The text is split into words by the Llama-3 pattern
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *    ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * matched by hand over code points, as llama.cpp does; every byte of a word is
 * written as a printable character of the GPT-2 byte alphabet; then the pair of
 * neighbours with the lowest merge rank (the leftmost on a tie) is merged until
 * no pair is in the merge list. */
#include "tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- code points, read and written as llama.cpp does ---- */

static bool is_cont(unsigned char c) {
    return (c & 0xC0) == 0x80;
}

/* Decodes one code point without checking for overlong forms or surrogates;
 * a bad byte becomes U+FFFD and is skipped alone. Values past U+10FFFF (which
 * make llama.cpp throw) also become U+FFFD. */
static uint32_t decode_cp(const unsigned char *s, size_t n, size_t *used) {
    uint32_t cp;
    size_t len;
    if (s[0] < 0x80) {
        *used = 1;
        return s[0];
    }
    if (!(s[0] & 0x40))
        len = 0;
    else if (!(s[0] & 0x20))
        len = 2, cp = s[0] & 0x1Fu;
    else if (!(s[0] & 0x10))
        len = 3, cp = s[0] & 0x0Fu;
    else if (!(s[0] & 0x08))
        len = 4, cp = s[0] & 0x07u;
    else
        len = 0;
    if (len == 0 || len > n) goto bad;
    for (size_t i = 1; i < len; i++) {
        if (!is_cont(s[i])) goto bad;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if (cp > 0x10FFFF) goto bad;
    *used = len;
    return cp;
bad:
    *used = 1;
    return 0xFFFD;
}

/* utf8_encode (util) writes any value up to U+10FFFF, surrogates included. */
static size_t encode_cp(uint32_t cp, unsigned char *o) {
    return (size_t)utf8_encode(cp, (char *)o);
}

/* ---- the GPT-2 byte alphabet ---- */

/* Printable bytes stand for themselves; the 68 others (controls, space, DEL,
 * C1, NBSP, soft hyphen) are moved, in order, to U+0100..U+0143. */
static uint32_t byte_to_cp(unsigned char b) {
    if (b <= 0x20) return 0x100 + b;
    if (b >= 0x7F && b <= 0xA0) return 0x121 + (b - 0x7Fu);
    if (b == 0xAD) return 0x143;
    return b;
}

static int cp_to_byte(uint32_t cp) {
    if (cp < 0x100) return byte_to_cp((unsigned char)cp) == cp ? (int)cp : -1;
    if (cp <= 0x120) return (int)(cp - 0x100);
    if (cp <= 0x142) return (int)(cp - 0x121 + 0x7F);
    if (cp == 0x143) return 0xAD;
    return -1;
}

void bpe_decode_text(const char *text, size_t len, lm_buf *out) {
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        size_t used;
        uint32_t cp = decode_cp(s + i, len - i, &used);
        int b = cp_to_byte(cp);
        if (b >= 0) {
            char c = (char)b;
            lm_buf_append(out, &c, 1);
        } else { /* not a byte-level character: llama.cpp writes this marker */
            unsigned char u[4];
            size_t k = encode_cp(cp, u);
            lm_buf_puts(out, "[UNK_BYTE_0x");
            for (size_t j = 0; j < k; j++) lm_buf_printf(out, "%02x", u[j]);
            lm_buf_append(out, text, len);
            lm_buf_puts(out, "]");
        }
        i += used;
    }
}

/* ---- the Llama-3 split ---- */

/* [^\s\p{L}\p{N}] */
static bool is_other(uint32_t cp) {
    return !unicode_is_whitespace(cp) && !unicode_is_letter(cp) && !unicode_is_number(cp);
}

static bool is_newline(uint32_t cp) {
    return cp == '\r' || cp == '\n';
}

static uint32_t ascii_lower(uint32_t cp) {
    return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
}

/* The end of the word that starts at cp[pos]; the alternatives are tried in the
 * pattern's order. */
static size_t word_end(const uint32_t *cp, size_t n, size_t pos) {
    uint32_t c = cp[pos];

    /* (?i:'s|'t|'re|'ve|'m|'ll|'d); no code point outside ASCII lower-cases to
     * one of these letters */
    if (c == '\'' && pos + 1 < n) {
        uint32_t c1 = ascii_lower(cp[pos + 1]);
        if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return pos + 2;
        if (pos + 2 < n) {
            uint32_t c2 = ascii_lower(cp[pos + 2]);
            if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l'))
                return pos + 3;
        }
    }

    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (!is_newline(c) && !unicode_is_number(c) &&
        (unicode_is_letter(c) || (pos + 1 < n && unicode_is_letter(cp[pos + 1])))) {
        size_t end = pos + 1;
        while (end < n && unicode_is_letter(cp[end])) end++;
        return end;
    }

    /* \p{N}{1,3} */
    if (unicode_is_number(c)) {
        size_t end = pos + 1;
        while (end < n && end - pos < 3 && unicode_is_number(cp[end])) end++;
        return end;
    }

    /* " ?[^\s\p{L}\p{N}]+[\r\n]*"; a space at the very end matches here alone */
    size_t p = pos + (c == ' ');
    if (p == n || is_other(cp[p])) {
        while (p < n && is_other(cp[p])) p++;
        while (p < n && is_newline(cp[p])) p++;
        return p;
    }

    size_t end = pos, after_newline = 0;
    while (end < n && unicode_is_whitespace(cp[end])) {
        if (is_newline(cp[end])) after_newline = end + 1;
        end++;
    }
    if (after_newline) return after_newline;      /* \s*[\r\n]+ */
    if (end - pos > 1 && end < n) return end - 1; /* \s+(?!\S): leave one for the next word */
    if (end > pos) return end;                    /* \s+ */
    return pos + 1;
}

/* ---- merging ---- */

typedef struct symbol {
    int prev, next;
    uint32_t off, n;
} symbol;

typedef struct bigram {
    int left, right;
    int32_t rank;
    uint32_t size;
} bigram;

typedef struct heap {
    bigram *v;
    size_t n, cap;
} heap;

/* Best first: lower rank, then the leftmost. */
static bool before(const bigram *a, const bigram *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static void heap_push(heap *h, bigram b) {
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->v = lm_xrealloc(h->v, h->cap * sizeof *h->v);
    }
    size_t i = h->n++;
    while (i > 0 && before(&b, &h->v[(i - 1) / 2])) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = b;
}

static bigram heap_pop(heap *h) {
    bigram top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && before(&h->v[c + 1], &h->v[c])) c++;
        if (!before(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}

/* Scratch space reused from word to word. */
typedef struct session {
    const tokenizer *t;
    lm_buf word; /* the current word in the byte alphabet */
    symbol *sym;
    size_t sym_cap;
    heap queue;
} session;

static void try_merge(session *s, int left, int right) {
    if (left < 0 || right < 0) return;
    const symbol *l = &s->sym[left], *r = &s->sym[right];
    int32_t rank =
        strmap_find(&s->t->by_pair, s->word.data + l->off, l->n, ' ', s->word.data + r->off, r->n);
    if (rank >= 0) heap_push(&s->queue, (bigram){left, right, rank, l->n + r->n});
}

/* A final symbol is a token; failing that (a vocabulary whose merges make
 * strings it lacks), llama.cpp keeps those of its single bytes that are tokens. */
static void emit(const session *s, const char *p, size_t n, lm_tokens *out) {
    int32_t id = tok_lookup(s->t, p, n);
    if (id >= 0) {
        lm_tokens_push(out, id);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        id = tok_lookup(s->t, p + i, 1);
        if (id >= 0) lm_tokens_push(out, id);
    }
}

static void merge_word(session *s, lm_tokens *out) {
    const char *w = s->word.data;
    size_t len = s->word.len;
    if (s->t->ignore_merges && tok_lookup(s->t, w, len) >= 0) {
        emit(s, w, len, out); /* a whole word that is a token is taken as it is */
        return;
    }
    if (len > s->sym_cap) {
        s->sym_cap = len;
        s->sym = lm_xrealloc(s->sym, len * sizeof *s->sym);
    }
    int n = 0;
    for (uint32_t off = 0; off < len; n++) {
        uint32_t clen = utf8_lead_len((unsigned char)w[off]);
        if (clen > len - off) clen = (uint32_t)(len - off);
        s->sym[n] = (symbol){n - 1, off + clen < len ? n + 1 : -1, off, clen};
        off += clen;
    }
    s->queue.n = 0;
    for (int i = 1; i < n; i++) try_merge(s, i - 1, i);
    while (s->queue.n > 0) {
        bigram b = heap_pop(&s->queue);
        symbol *l = &s->sym[b.left], *r = &s->sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue; /* outdated */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) s->sym[r->next].prev = b.left;
        try_merge(s, l->prev, b.left);
        try_merge(s, b.left, l->next);
    }
    for (int i = 0; i != -1; i = s->sym[i].next) emit(s, w + s->sym[i].off, s->sym[i].n, out);
}

/* Writes cp[0..n) in the byte alphabet into s->word. */
static void spell_word(session *s, const uint32_t *cp, size_t n) {
    s->word.len = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char bytes[4], sym[4];
        size_t k = encode_cp(cp[i], bytes);
        for (size_t j = 0; j < k; j++)
            lm_buf_append(&s->word, sym, encode_cp(byte_to_cp(bytes[j]), sym));
    }
}

int bpe_encode(const tokenizer *t, const char *text, size_t len, lm_tokens *out, lm_error *err) {
    uint32_t *cp = malloc((len ? len : 1) * sizeof *cp);
    if (!cp) return lm_fail(err, "out of memory tokenizing %zu bytes", len);
    size_t n = 0;
    for (size_t i = 0; i < len; n++) {
        size_t used;
        cp[n] = decode_cp((const unsigned char *)text + i, len - i, &used);
        i += used;
    }
    session s = {t, {0}, NULL, 0, {0}};
    for (size_t pos = 0; pos < n;) {
        size_t end = word_end(cp, n, pos);
        spell_word(&s, cp + pos, end - pos);
        merge_word(&s, out);
        pos = end;
    }
    lm_buf_free(&s.word);
    free(s.sym);
    free(s.queue.v);
    free(cp);
    return 0;
}

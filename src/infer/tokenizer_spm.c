/* SentencePiece-style encoding (tokenizer.ggml.model "llama": Phi-3, Llama-2).
 *
 * Spaces become "▁"; the text is cut into UTF-8 characters; then, again and
 * again, the adjacent pair whose concatenation is the vocabulary entry with the
 * highest score (the leftmost on a tie) is merged. Pieces that end up outside
 * the vocabulary are written as byte tokens <0xNN>. */
#include "tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>

/* A run of text[off, off+n), linked to its neighbours; n = 0 once merged away. */
typedef struct symbol {
    int prev, next;
    uint32_t off, n;
} symbol;

/* A candidate merge of two neighbours; size tells whether it is still current. */
typedef struct bigram {
    int left, right;
    float score;
    uint32_t size;
} bigram;

typedef struct heap {
    bigram *v;
    size_t n, cap;
} heap;

/* Best first: higher score, then the leftmost. */
static bool before(const bigram *a, const bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
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

typedef struct session {
    const tokenizer *t;
    const char *text;
    symbol *sym;
    heap queue;
} session;

static void try_merge(session *s, int left, int right) {
    if (left < 0 || right < 0) return;
    uint32_t size = s->sym[left].n + s->sym[right].n;
    int32_t id = tok_lookup(s->t, s->text + s->sym[left].off, size);
    if (id < 0) return;
    heap_push(&s->queue, (bigram){left, right, s->t->score[id], size});
}

static void merge_all(session *s) {
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
}

/* A final symbol is a token, or else its bytes are. */
static int emit(const session *s, const symbol *sym, lm_tokens *out, lm_error *err) {
    const char *p = s->text + sym->off;
    int32_t id = tok_lookup(s->t, p, sym->n);
    if (id >= 0) {
        lm_tokens_push(out, id);
        return 0;
    }
    for (uint32_t i = 0; i < sym->n; i++) {
        int32_t b = s->t->byte_token[(unsigned char)p[i]];
        if (b < 0)
            return lm_fail(err, "the vocabulary has no token for byte 0x%02X", (unsigned char)p[i]);
        lm_tokens_push(out, b);
    }
    return 0;
}

/* Writes text with spaces as "▁", after a leading "▁" when space_prefix. */
static void escape_spaces(const char *text, size_t len, bool space_prefix, lm_buf *out) {
    static const char mark[] = "\xe2\x96\x81";
    if (space_prefix) lm_buf_append(out, mark, 3);
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] != ' ') continue;
        lm_buf_append(out, text + start, i - start);
        lm_buf_append(out, mark, 3);
        start = i + 1;
    }
    lm_buf_append(out, text + start, len - start);
}

int spm_encode(const tokenizer *t, const char *text, size_t len, bool space_prefix, lm_tokens *out,
               lm_error *err) {
    lm_buf buf = {0};
    escape_spaces(text, len, space_prefix, &buf);
    if (buf.len == 0) {
        lm_buf_free(&buf);
        return 0;
    }

    session s = {t, buf.data, NULL, {0}};
    s.sym = malloc(buf.len * sizeof *s.sym);
    if (!s.sym) {
        lm_buf_free(&buf);
        return lm_fail(err, "out of memory tokenizing %zu bytes", len);
    }
    int n = 0;
    for (uint32_t off = 0; off < buf.len; n++) {
        uint32_t clen = utf8_lead_len((unsigned char)buf.data[off]);
        if (clen > buf.len - off) clen = (uint32_t)(buf.len - off);
        s.sym[n] = (symbol){n - 1, off + clen < buf.len ? n + 1 : -1, off, clen};
        off += clen;
    }
    for (int i = 1; i < n; i++) try_merge(&s, i - 1, i);
    merge_all(&s);

    int rc = 0;
    for (int i = 0; i != -1 && rc == 0; i = s.sym[i].next) rc = emit(&s, &s.sym[i], out, err);

    free(s.queue.v);
    free(s.sym);
    lm_buf_free(&buf);
    return rc;
}

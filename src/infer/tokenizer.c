/* tokenizer: reading a GGUF vocabulary, special tokens, pieces and streaming.
 * The two encoding algorithms live in tokenizer_spm.c and tokenizer_bpe.c.
 *
 * Every rule here follows llama.cpp at commit c392e50 (src/llama-vocab.cpp), so
 * that lmterm gives the same ids for the same text. */
#include "tokenizer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- token lists ---- */

void lm_tokens_push(lm_tokens *t, int32_t id) {
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->ids = lm_xrealloc(t->ids, t->cap * sizeof *t->ids);
    }
    t->ids[t->n++] = id;
}

void lm_tokens_free(lm_tokens *t) {
    free(t->ids);
    t->ids = NULL;
    t->n = t->cap = 0;
}

/* ---- string hash map ---- */

static uint64_t fnv1a(uint64_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint32_t strmap_hash(const char *a, size_t an, int sep, const char *b, size_t bn) {
    uint64_t h = fnv1a(0xcbf29ce484222325ULL, a, an);
    if (sep >= 0) {
        char c = (char)sep;
        h = fnv1a(h, &c, 1);
    }
    h = fnv1a(h, b, bn);
    uint32_t folded = (uint32_t)(h ^ (h >> 32));
    return folded ? folded : 1; /* 0 marks an empty slot */
}

static bool key_equals(const strref *k, const char *a, size_t an, int sep, const char *b,
                       size_t bn) {
    size_t n_sep = sep >= 0 ? 1 : 0;
    if (k->len != an + n_sep + bn) return false;
    if (an && memcmp(k->ptr, a, an) != 0) return false;
    if (n_sep && (unsigned char)k->ptr[an] != (unsigned char)sep) return false;
    return bn == 0 || memcmp(k->ptr + an + n_sep, b, bn) == 0;
}

int32_t strmap_find(const strmap *m, const char *a, size_t an, int sep, const char *b, size_t bn) {
    if (!m->hashes) return -1;
    uint32_t h = strmap_hash(a, an, sep, b, bn);
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        if (m->hashes[i] == 0) return -1;
        if (m->hashes[i] == h && key_equals(&m->keys[m->values[i]], a, an, sep, b, bn))
            return m->values[i];
    }
}

/* Indexes keys[0..n). A repeated key maps to its last index, or to its first
 * when keep_first. Returns -1 when memory runs out. */
static int strmap_build(strmap *m, const strref *keys, int32_t n, bool keep_first) {
    size_t cap = 16;
    while (cap < (size_t)n + (size_t)n / 3 + 1) cap *= 2;
    m->hashes = calloc(cap, sizeof *m->hashes);
    m->values = malloc(cap * sizeof *m->values);
    if (!m->hashes || !m->values) return -1;
    m->mask = cap - 1;
    m->keys = keys;
    for (int32_t id = 0; id < n; id++) {
        const strref *k = &keys[id];
        uint32_t h = strmap_hash(k->ptr, k->len, -1, NULL, 0);
        size_t i = h & m->mask;
        while (m->hashes[i] != 0 &&
               !(m->hashes[i] == h && key_equals(&keys[m->values[i]], k->ptr, k->len, -1, NULL, 0)))
            i = (i + 1) & m->mask;
        if (m->hashes[i] != 0 && keep_first) continue;
        m->hashes[i] = h;
        m->values[i] = id;
    }
    return 0;
}

static void strmap_free(strmap *m) {
    free(m->hashes);
    free(m->values);
}

/* ---- loading ---- */

static const char *file_name(const gguf_file *f) {
    return f->path ? f->path : "vocabulary";
}

/* tokenizer.ggml.model and .pre decide the algorithm and its defaults. */
static int read_model(tokenizer *t, const gguf_file *f, lm_error *err) {
    gguf_str model = {0}, pre = {0};
    if (!gguf_get_str(f, "tokenizer.ggml.model", &model))
        return lm_fail(err, "%s: no tokenizer.ggml.model: the file has no vocabulary",
                       file_name(f));
    bool has_pre = gguf_get_str(f, "tokenizer.ggml.pre", &pre);

#define IS(s, lit) ((s).len == sizeof(lit) - 1 && memcmp((s).ptr, lit, sizeof(lit) - 1) == 0)
    t->eot = t->eom = t->pad = -1;
    if (IS(model, "llama")) {
        t->kind = TOKENIZER_SPM;
        t->bos = 1, t->eos = 2, t->unk = 0;
        t->add_bos = true;
        t->add_space_prefix = true;
        return 0;
    }
    if (!IS(model, "gpt2"))
        return lm_fail(err,
                       "%s: tokenizer model \"%.*s\" is not supported (lmterm reads \"llama\" "
                       "and \"gpt2\" vocabularies)",
                       file_name(f), (int)model.len, model.ptr);
    t->kind = TOKENIZER_BPE;
    t->bos = 11, t->eos = 11, t->unk = -1;
    if (has_pre &&
        (IS(pre, "llama3") || IS(pre, "llama-v3") || IS(pre, "llama-bpe") || IS(pre, "falcon3"))) {
        t->ignore_merges = true;
        t->add_bos = true;
    } else if (has_pre && !IS(pre, "dbrx") && !IS(pre, "smaug-bpe") && !IS(pre, "default")) {
        return lm_fail(err,
                       "%s: BPE pre-tokenizer \"%.*s\" is not supported (lmterm reads "
                       "Llama-3 vocabularies: \"llama-bpe\")",
                       file_name(f), (int)pre.len, pre.ptr);
    }
    /* dbrx and smaug-bpe split as Llama-3 does. Older Llama-3 conversions have no
     * pre at all; llama.cpp then uses a generic split, we use Llama-3's. */
#undef IS
    return 0;
}

/* An optional numeric array with one entry per token: *out stays NULL when the
 * key is absent. */
static int per_token_array(const gguf_file *f, const char *key, uint64_t n, bool want_float,
                           const gguf_kv **out, lm_error *err) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    *out = NULL;
    if (!kv) return 0;
    bool ok = kv->type == GGUF_ARRAY;
    if (ok) {
        enum gguf_value_type et = kv->v.arr.type;
        ok = want_float ? et == GGUF_FLOAT32
                        : (et == GGUF_INT32 || et == GGUF_UINT32 || et == GGUF_INT8 ||
                           et == GGUF_UINT8 || et == GGUF_INT16 || et == GGUF_UINT16);
    }
    if (!ok)
        return lm_fail(err, "%s: %s is not an array of %s", file_name(f), key,
                       want_float ? "float32" : "integers");
    if (kv->v.arr.count != n)
        return lm_fail(err, "%s: %s has %llu entries but tokenizer.ggml.tokens has %llu",
                       file_name(f), key, (unsigned long long)kv->v.arr.count,
                       (unsigned long long)n);
    *out = kv;
    return 0;
}

static uint16_t attr_of_type(int64_t type) {
    switch (type) {
    case TOKEN_NORMAL:
        return ATTR_NORMAL;
    case TOKEN_UNKNOWN:
        return ATTR_UNKNOWN;
    case TOKEN_CONTROL:
        return ATTR_CONTROL;
    case TOKEN_USER_DEFINED:
        return ATTR_USER_DEFINED;
    case TOKEN_UNUSED:
        return ATTR_UNUSED;
    case TOKEN_BYTE:
        return ATTR_BYTE;
    default:
        return 0; /* undefined */
    }
}

/* Views of the strings of a string array; NULL (err set) when absent or wrong. */
static gguf_str *string_array(const gguf_file *f, const char *key, bool allow_empty, uint64_t *n,
                              lm_error *err) {
    const gguf_kv *kv = gguf_get_array(f, key, GGUF_STRING);
    if (!kv) {
        lm_fail(err, "%s: no %s (or it is not an array of strings)", file_name(f), key);
        return NULL;
    }
    if ((kv->v.arr.count == 0 && !allow_empty) || kv->v.arr.count >= INT32_MAX) {
        lm_fail(err, "%s: %s has %llu entries", file_name(f), key,
                (unsigned long long)kv->v.arr.count);
        return NULL;
    }
    gguf_str *v = malloc((kv->v.arr.count ? kv->v.arr.count : 1) * sizeof *v);
    if (!v) {
        lm_fail(err, "%s: out of memory reading %s", file_name(f), key);
        return NULL;
    }
    gguf_array_strings(kv, v);
    *n = kv->v.arr.count;
    return v;
}

/* The vocabulary as the file stores it. */
typedef struct vocab_arrays {
    gguf_str *tokens, *merges; /* views into the mapping */
    uint64_t n, n_merges;
    const gguf_kv *scores, *types; /* NULL when absent */
} vocab_arrays;

static void free_arrays(vocab_arrays *a) {
    free(a->tokens);
    free(a->merges);
}

/* Finds the arrays and checks that they agree in length. */
static int read_arrays(const tokenizer *t, const gguf_file *f, vocab_arrays *a, lm_error *err) {
    if (!(a->tokens = string_array(f, "tokenizer.ggml.tokens", false, &a->n, err))) return -1;
    if (t->kind == TOKENIZER_BPE &&
        !(a->merges = string_array(f, "tokenizer.ggml.merges", true, &a->n_merges, err)))
        return -1;
    if (per_token_array(f, "tokenizer.ggml.scores", a->n, true, &a->scores, err) < 0 ||
        per_token_array(f, "tokenizer.ggml.token_type", a->n, false, &a->types, err) < 0)
        return -1;
    for (uint64_t i = 0; i < a->n; i++)
        if (a->tokens[i].len >= UINT32_MAX)
            return lm_fail(err, "%s: token %llu is too long", file_name(f), (unsigned long long)i);
    for (uint64_t i = 0; i < a->n_merges; i++)
        if (a->merges[i].len >= UINT32_MAX)
            return lm_fail(err, "%s: merge %llu is too long", file_name(f), (unsigned long long)i);
    return 0;
}

/* Copies a string into the arena at *at (NUL-terminated) and records it in *ref. */
static void arena_put(char *arena, size_t *at, const char *s, size_t n, strref *ref) {
    memcpy(arena + *at, s, n);
    arena[*at + n] = '\0';
    ref->ptr = arena + *at;
    ref->len = (uint32_t)n;
    *at += n + 1;
}

enum { EMPTY_NAME_MAX = 24 }; /* "[EMPTY_4294967295]" and its NUL */

/* Copies tokens and merges into one arena and fills text, score, attr and merges. */
static int copy_vocabulary(tokenizer *t, const vocab_arrays *a, const gguf_file *f, lm_error *err) {
    size_t size = 1;
    for (uint64_t i = 0; i < a->n; i++)
        size += (a->tokens[i].len ? a->tokens[i].len : EMPTY_NAME_MAX) + 1;
    for (uint64_t i = 0; i < a->n_merges; i++) size += a->merges[i].len + 1;

    t->n_vocab = (int32_t)a->n;
    t->n_merges = (int32_t)a->n_merges;
    t->arena = malloc(size);
    t->text = malloc(a->n * sizeof *t->text);
    t->score = malloc(a->n * sizeof *t->score);
    t->attr = malloc(a->n * sizeof *t->attr);
    t->merges = malloc((a->n_merges ? a->n_merges : 1) * sizeof *t->merges);
    if (!t->arena || !t->text || !t->score || !t->attr || !t->merges)
        return lm_fail(err, "%s: out of memory for a vocabulary of %llu tokens", file_name(f),
                       (unsigned long long)a->n);

    size_t at = 0;
    for (uint64_t i = 0; i < a->n; i++) {
        const char *s = a->tokens[i].ptr;
        size_t len = a->tokens[i].len;
        char empty[EMPTY_NAME_MAX];
        if (len == 0) { /* llama.cpp names an empty token so that no text can match it */
            len = (size_t)snprintf(empty, sizeof empty, "[EMPTY_%llu]", (unsigned long long)i);
            s = empty;
        }
        arena_put(t->arena, &at, s, len, &t->text[i]);
        t->score[i] = a->scores ? (float)gguf_array_f64(a->scores, i) : 0.0f;
        t->attr[i] = a->types ? attr_of_type(gguf_array_i64(a->types, i)) : ATTR_NORMAL;
    }
    for (uint64_t i = 0; i < a->n_merges; i++)
        arena_put(t->arena, &at, a->merges[i].ptr, a->merges[i].len, &t->merges[i]);
    return 0;
}

/* An id the file names under key, or -1. */
static int32_t key_id(const tokenizer *t, const gguf_file *f, const char *key) {
    uint32_t id;
    return gguf_get_u32(f, key, &id) && id < (uint32_t)t->n_vocab ? (int32_t)id : -1;
}

/* Special ids from the file's keys; an id out of range keeps the default. */
static void read_special_ids(tokenizer *t, const gguf_file *f) {
    const struct {
        const char *key;
        int32_t *id;
    } keys[] = {
        {"tokenizer.ggml.bos_token_id", &t->bos},     {"tokenizer.ggml.eos_token_id", &t->eos},
        {"tokenizer.ggml.eot_token_id", &t->eot},     {"tokenizer.ggml.eom_token_id", &t->eom},
        {"tokenizer.ggml.unknown_token_id", &t->unk}, {"tokenizer.ggml.padding_token_id", &t->pad},
    };
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        int32_t id = key_id(t, f, keys[i].key);
        if (id >= 0) *keys[i].id = id;
    }
    int32_t *all[] = {&t->bos, &t->eos, &t->eot, &t->eom, &t->unk, &t->pad};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (*all[i] >= t->n_vocab) *all[i] = -1; /* a default the vocabulary is too small for */

    bool b;
    if (gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &b)) t->add_bos = b;
    if (gguf_get_bool(f, "tokenizer.ggml.add_space_prefix", &b)) t->add_space_prefix = b;
}

/* llama.cpp finds end-of-turn and fill-in-the-middle tokens by their text when
 * the file does not name them, and makes each one a control token. Where
 * several texts match, llama.cpp takes whichever its hash map yields first; we
 * take the lowest id. The fim ids matter to us only as end-of-generation. */
static const char *const eot_texts[] = {"<|eot_id|>",
                                        "<|im_end|>",
                                        "<|end|>",
                                        "<end_of_turn>",
                                        "<|endoftext|>",
                                        "<EOT>",
                                        "<｜end▁of▁sentence｜>",
                                        NULL};
static const char *const eom_texts[] = {"<|eom_id|>", NULL};
static const char *const fim_pre_texts[] = {"<|fim_prefix|>", "<fim-prefix>", "<｜fim▁begin｜>",
                                            "<PRE>", NULL};
static const char *const fim_suf_texts[] = {"<|fim_suffix|>", "<fim-suffix>", "<｜fim▁hole｜>",
                                            "<SUF>", NULL};
static const char *const fim_mid_texts[] = {"<|fim_middle|>", "<fim-middle>", "<｜fim▁end｜>",
                                            "<MID>", NULL};
static const char *const fim_pad_texts[] = {"<|fim_pad|>", "<fim-pad>", "<PAD>", NULL};
static const char *const fim_rep_texts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>",
                                            NULL};
static const char *const fim_sep_texts[] = {"<|file_sep|>", NULL};
/* Texts that end generation wherever they are (note: a shorter list than eot_texts). */
static const char *const eog_texts[] = {"<|eot_id|>",    "<|im_end|>", "<|end|>", "<end_of_turn>",
                                        "<|endoftext|>", "<|eom_id|>", "<EOT>",   NULL};

static int32_t detect_by_text(tokenizer *t, int32_t id, const char *const *texts) {
    if (id >= 0) return id;
    for (; *texts; texts++) {
        int32_t found = tokenizer_find(t, *texts);
        if (found >= 0 && (id < 0 || found < id)) id = found;
    }
    if (id >= 0) t->attr[id] = ATTR_CONTROL;
    return id;
}

static void mark_eog(tokenizer *t, int32_t id) {
    if (id >= 0) t->attr[id] |= ATTR_EOG;
}

/* A fill-in-the-middle id: the key, its deprecated spelling, or found by text. */
static int32_t fim_id(tokenizer *t, const gguf_file *f, const char *key, const char *old_key,
                      const char *const *texts) {
    int32_t id = key_id(t, f, key);
    int32_t old = old_key ? key_id(t, f, old_key) : -1;
    return detect_by_text(t, old >= 0 ? old : id, texts);
}

/* The end-of-generation set, as llama.cpp computes it: fim pad/repo/separator,
 * every token with an end-of-turn text, then eos, eot and eom. */
static void find_end_tokens(tokenizer *t, const gguf_file *f) {
    t->eot = detect_by_text(t, t->eot, eot_texts);
    t->eom = detect_by_text(t, t->eom, eom_texts);
    fim_id(t, f, "tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.prefix_token_id",
           fim_pre_texts);
    fim_id(t, f, "tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.suffix_token_id",
           fim_suf_texts);
    fim_id(t, f, "tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.middle_token_id",
           fim_mid_texts);
    int32_t fim_pad = fim_id(t, f, "tokenizer.ggml.fim_pad_token_id", NULL, fim_pad_texts);
    int32_t fim_rep = fim_id(t, f, "tokenizer.ggml.fim_rep_token_id", NULL, fim_rep_texts);
    int32_t fim_sep = fim_id(t, f, "tokenizer.ggml.fim_sep_token_id", NULL, fim_sep_texts);

    mark_eog(t, fim_pad);
    mark_eog(t, fim_rep);
    mark_eog(t, fim_sep);
    for (const char *const *text = eog_texts; *text; text++) {
        int32_t id = tokenizer_find(t, *text);
        if (id >= 0) t->attr[id] = ATTR_CONTROL | ATTR_EOG;
    }
    mark_eog(t, t->eos);
    mark_eog(t, t->eot);
    mark_eog(t, t->eom);
}

struct special_entry {
    int32_t id;
    uint32_t len;
};

static int by_length_desc(const void *pa, const void *pb) {
    const struct special_entry *a = pa, *b = pb;
    if (a->len != b->len) return a->len > b->len ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* Control, user-defined and unknown tokens, longest first: the order in which
 * their texts are searched for in the input. Equal lengths go by id (llama.cpp
 * leaves their order to std::sort). */
static int list_special_tokens(tokenizer *t, lm_error *err) {
    int32_t n = 0;
    for (int32_t i = 0; i < t->n_vocab; i++)
        if (t->attr[i] & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN)) n++;
    struct special_entry *e = malloc((n ? (size_t)n : 1) * sizeof *e);
    t->special = malloc((n ? (size_t)n : 1) * sizeof *t->special);
    if (!e || !t->special) {
        free(e);
        return lm_fail(err, "out of memory listing special tokens");
    }
    int32_t k = 0;
    for (int32_t i = 0; i < t->n_vocab; i++)
        if (t->attr[i] & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN))
            e[k++] = (struct special_entry){i, t->text[i].len};
    qsort(e, (size_t)n, sizeof *e, by_length_desc);
    for (int32_t i = 0; i < n; i++) t->special[i] = e[i].id;
    t->n_special = n;
    free(e);
    return 0;
}

static char ascii_lower(char c) {
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* Whether name[0..n), lower-cased, contains what. */
static bool name_contains(const char *name, size_t n, const char *what) {
    size_t w = strlen(what);
    for (size_t i = 0; i + w <= n; i++) {
        size_t j = 0;
        while (j < w && ascii_lower(name[i + j]) == what[j]) j++;
        if (j == w) return true;
    }
    return false;
}

static void set_rstrip(tokenizer *t, const char *text, bool on) {
    int32_t id = tok_lookup(t, text, strlen(text));
    if (id < 0) return;
    if (on)
        t->attr[id] |= ATTR_RSTRIP;
    else
        t->attr[id] &= (uint16_t)~ATTR_RSTRIP;
}

/* Phi-3's special tokens swallow the white space that follows them, a rule
 * llama.cpp applies by the model's name. */
static void apply_phi3_strip(tokenizer *t, const gguf_file *f) {
    gguf_str name;
    if (!gguf_get_str(f, "general.name", &name)) return;
    if (!name_contains(name.ptr, name.len, "phi-3") && !name_contains(name.ptr, name.len, "phi3"))
        return;
    for (int32_t i = 0; i < t->n_special; i++) t->attr[t->special[i]] |= ATTR_RSTRIP;
    set_rstrip(t, "</s>", true);
    set_rstrip(t, "<unk>", false);
    set_rstrip(t, "<s>", false);
    set_rstrip(t, "<|endoftext|>", false);
}

/* SPM byte fallback: "<0xNN>", else the byte itself as a token. */
static void find_byte_tokens(tokenizer *t) {
    static const char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; b++) {
        char name[7] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>', 0};
        char raw = (char)b;
        int32_t id = tok_lookup(t, name, 6);
        t->byte_token[b] = id >= 0 ? id : tok_lookup(t, &raw, 1);
    }
}

tokenizer *tokenizer_load(const gguf_file *f, lm_error *err) {
    tokenizer *t = lm_xcalloc(1, sizeof *t);
    vocab_arrays arrays = {0};
    int rc = read_model(t, f, err);
    if (rc == 0) rc = read_arrays(t, f, &arrays, err);
    if (rc == 0) rc = copy_vocabulary(t, &arrays, f, err);
    free_arrays(&arrays);
    if (rc < 0) goto fail;
    if (strmap_build(&t->by_text, t->text, t->n_vocab, false) < 0 ||
        (t->kind == TOKENIZER_BPE && strmap_build(&t->by_pair, t->merges, t->n_merges, true) < 0)) {
        lm_fail(err, "%s: out of memory indexing the vocabulary", file_name(f));
        goto fail;
    }
    read_special_ids(t, f);
    find_end_tokens(t, f);
    if (list_special_tokens(t, err) < 0) goto fail;
    apply_phi3_strip(t, f);
    find_byte_tokens(t);
    return t;
fail:
    tokenizer_free(t);
    return NULL;
}

void tokenizer_free(tokenizer *t) {
    if (!t) return;
    strmap_free(&t->by_text);
    strmap_free(&t->by_pair);
    free(t->arena);
    free(t->text);
    free(t->score);
    free(t->attr);
    free(t->merges);
    free(t->special);
    free(t);
}

/* ---- queries ---- */

enum tokenizer_kind tokenizer_kind(const tokenizer *t) {
    return t->kind;
}
int32_t tokenizer_n_vocab(const tokenizer *t) {
    return t->n_vocab;
}
int32_t tokenizer_bos(const tokenizer *t) {
    return t->bos;
}
int32_t tokenizer_eos(const tokenizer *t) {
    return t->eos;
}
bool tokenizer_adds_bos(const tokenizer *t) {
    return t->add_bos;
}

static bool valid_id(const tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab;
}

enum token_type tokenizer_token_type(const tokenizer *t, int32_t id) {
    if (!valid_id(t, id)) return TOKEN_UNDEFINED;
    uint16_t a = t->attr[id];
    if (a & ATTR_CONTROL) return TOKEN_CONTROL;
    if (a & ATTR_USER_DEFINED) return TOKEN_USER_DEFINED;
    if (a & ATTR_UNKNOWN) return TOKEN_UNKNOWN;
    if (a & ATTR_BYTE) return TOKEN_BYTE;
    if (a & ATTR_UNUSED) return TOKEN_UNUSED;
    if (a & ATTR_NORMAL) return TOKEN_NORMAL;
    return TOKEN_UNDEFINED;
}

bool tokenizer_is_eog(const tokenizer *t, int32_t id) {
    return valid_id(t, id) && (t->attr[id] & ATTR_EOG);
}

int32_t tokenizer_find(const tokenizer *t, const char *s) {
    return tok_lookup(t, s, strlen(s));
}

const char *tokenizer_token_text(const tokenizer *t, int32_t id) {
    return valid_id(t, id) ? t->text[id].ptr : "";
}

/* ---- encoding ---- */

/* Symbol positions are ints: keep texts (and their escaped or byte-level
 * spellings, up to three times longer) well inside that range. */
#define TOKENIZER_MAX_TEXT ((size_t)INT32_MAX / 4)

/* Which special tokens may be recognised inside a piece of plain text. */
enum match_mode {
    MATCH_ALL,          /* control and user-defined tokens (parse_special) */
    MATCH_USER_DEFINED, /* llama.cpp without parse_special still splits these */
    MATCH_NONE,         /* text a user typed: never a special token */
};

/* A piece of the input: plain text [off, off+len), or a special token. */
typedef struct fragment {
    size_t off, len;
    int32_t token; /* -1 for plain text */
    enum match_mode mode;
} fragment;

typedef struct fragments {
    fragment *v;
    size_t n, cap;
} fragments;

static void frag_push(fragments *fs, size_t off, size_t len, int32_t token, enum match_mode mode) {
    if (token < 0 && len == 0) return;
    if (fs->n == fs->cap) {
        fs->cap = fs->cap ? fs->cap * 2 : 8;
        fs->v = lm_xrealloc(fs->v, fs->cap * sizeof *fs->v);
    }
    fs->v[fs->n++] = (fragment){off, len, token, mode};
}

/* C-locale isspace, as llama.cpp strips around special tokens. */
static bool ascii_space(char c) {
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Splits the plain text fragment fr at every occurrence of special token id,
 * left to right. */
static void split_fragment(const tokenizer *t, const char *text, fragment fr, int32_t id,
                           fragments *out) {
    const strref *tok = &t->text[id];
    size_t off = fr.off, len = fr.len;
    const char *hit;
    while (len > 0 && (hit = memmem(text + off, len, tok->ptr, tok->len)) != NULL) {
        size_t match = (size_t)(hit - text), end = off + len;
        frag_push(out, off, match - off, -1, fr.mode);
        frag_push(out, 0, 0, id, fr.mode);
        off = match + tok->len;
        len = end - off;
    }
    frag_push(out, off, len, -1, fr.mode);
}

static bool may_match(const tokenizer *t, int32_t id, enum match_mode mode) {
    if (mode == MATCH_NONE) return false;
    return mode == MATCH_ALL || !(t->attr[id] & (ATTR_CONTROL | ATTR_UNKNOWN));
}

/* llama.cpp's tokenizer_st_partition: each special token in turn (longest
 * first) splits every plain fragment left so far that may hold it. */
static void partition(const tokenizer *t, const char *text, size_t len, fragments *fs) {
    fragments next = {0};
    for (int32_t k = 0; k < t->n_special; k++) {
        int32_t id = t->special[k];
        if (!memmem(text, len, t->text[id].ptr, t->text[id].len)) continue; /* the common case */
        next.n = 0;
        for (size_t i = 0; i < fs->n; i++) {
            if (fs->v[i].token < 0 && may_match(t, id, fs->v[i].mode))
                split_fragment(t, text, fs->v[i], id, &next);
            else
                frag_push(&next, fs->v[i].off, fs->v[i].len, fs->v[i].token, fs->v[i].mode);
        }
        fragments swap = *fs;
        *fs = next;
        next = swap;
    }
    free(next.v);
}

/* Joins neighbouring plain fragments (text of different origins that touch),
 * then lets special tokens swallow the white space beside them, as their
 * strip flags say. Doing this after the split gives llama.cpp's result: white
 * space never contains a special token. */
static void join_and_strip(const tokenizer *t, const char *text, fragments *fs) {
    size_t n = 0;
    for (size_t i = 0; i < fs->n; i++) {
        fragment f = fs->v[i];
        if (n && f.token < 0 && fs->v[n - 1].token < 0 &&
            fs->v[n - 1].off + fs->v[n - 1].len == f.off)
            fs->v[n - 1].len += f.len;
        else
            fs->v[n++] = f;
    }
    fs->n = n;
    for (size_t i = 0; i < fs->n; i++) {
        fragment *f = &fs->v[i];
        if (f->token < 0) continue;
        uint16_t attr = t->attr[f->token];
        if ((attr & ATTR_LSTRIP) && i > 0 && fs->v[i - 1].token < 0) {
            fragment *p = &fs->v[i - 1];
            while (p->len > 0 && ascii_space(text[p->off + p->len - 1])) p->len--;
        }
        if ((attr & ATTR_RSTRIP) && i + 1 < fs->n && fs->v[i + 1].token < 0) {
            fragment *q = &fs->v[i + 1];
            while (q->len > 0 && ascii_space(text[q->off])) q->off++, q->len--;
        }
    }
}

/* Encodes the fragments in order: special tokens as they are, plain text
 * through the vocabulary's algorithm. */
static int encode_parts(const tokenizer *t, const char *text, const fragments *fs, bool add_bos,
                        lm_tokens *out, lm_error *err) {
    if (add_bos && t->bos >= 0) lm_tokens_push(out, t->bos);
    int rc = 0;
    bool after_special = true; /* SPM puts "▁" before text that starts or follows a token */
    for (size_t i = 0; i < fs->n && rc == 0; i++) {
        const fragment *fr = &fs->v[i];
        if (fr->token >= 0) {
            lm_tokens_push(out, fr->token);
            after_special = true;
        } else if (fr->len == 0) {
            continue; /* stripped away entirely */
        } else if (t->kind == TOKENIZER_SPM) {
            rc = spm_encode(t, text + fr->off, fr->len, t->add_space_prefix && after_special, out,
                            err);
            after_special = false;
        } else {
            rc = bpe_encode(t, text + fr->off, fr->len, out, err);
        }
    }
    return rc;
}

int tokenizer_encode(const tokenizer *t, const char *text, size_t len, bool add_bos,
                     bool parse_special, lm_tokens *out, lm_error *err) {
    fragments fs = {0};
    if (len > TOKENIZER_MAX_TEXT)
        return lm_fail(err, "a text of %zu bytes is too long to tokenize", len);
    frag_push(&fs, 0, len, -1, parse_special ? MATCH_ALL : MATCH_USER_DEFINED);
    partition(t, text, len, &fs);
    join_and_strip(t, text, &fs);
    int rc = encode_parts(t, text, &fs, add_bos, out, err);
    free(fs.v);
    return rc;
}

int tokenizer_encode_fragments(const tokenizer *t, const tokenizer_fragment *frags, size_t n,
                               bool add_bos, lm_tokens *out, lm_error *err) {
    lm_buf joined = {0};
    fragments fs = {0};
    for (size_t i = 0; i < n; i++) {
        /* Neighbouring fragments that both parse special tokens are one text, so
         * a token split between them is still found, as in tokenizer_encode. */
        if (frags[i].parse_special && fs.n > 0 && fs.v[fs.n - 1].mode == MATCH_ALL)
            fs.v[fs.n - 1].len += frags[i].len;
        else
            frag_push(&fs, joined.len, frags[i].len, -1,
                      frags[i].parse_special ? MATCH_ALL : MATCH_NONE);
        lm_buf_append(&joined, frags[i].text, frags[i].len);
    }
    int rc = 0;
    if (joined.len > TOKENIZER_MAX_TEXT) {
        rc = lm_fail(err, "a text of %zu bytes is too long to tokenize", joined.len);
    } else {
        const char *text = joined.data ? joined.data : "";
        partition(t, text, joined.len, &fs);
        join_and_strip(t, text, &fs);
        rc = encode_parts(t, text, &fs, add_bos, out, err);
    }
    free(fs.v);
    lm_buf_free(&joined);
    return rc;
}

/* ---- decoding ---- */

/* The byte of an SPM byte token "<0xNN>" (llama.cpp reads the two hex digits). */
static char byte_token_value(const strref *s) {
    int v = 0;
    for (uint32_t i = 3; i < 5 && i < s->len; i++) {
        char c = s->ptr[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) break;
        v = v * 16 + d;
    }
    return (char)v;
}

/* SentencePiece writes spaces as U+2581 "▁". */
static void append_unescaped(const strref *s, lm_buf *out) {
    size_t start = 0;
    for (size_t i = 0; i + 3 <= s->len; i++) {
        if (memcmp(s->ptr + i, "\xe2\x96\x81", 3) == 0) {
            lm_buf_append(out, s->ptr + start, i - start);
            lm_buf_append(out, " ", 1);
            start = i + 3;
            i += 2;
        }
    }
    lm_buf_append(out, s->ptr + start, s->len - start);
}

void tokenizer_piece(const tokenizer *t, int32_t id, bool special, lm_buf *out) {
    if (!valid_id(t, id)) return;
    uint16_t a = t->attr[id];
    const strref *s = &t->text[id];
    if (a & (ATTR_UNKNOWN | ATTR_CONTROL)) {
        if (special) lm_buf_append(out, s->ptr, s->len);
    } else if (a & ATTR_USER_DEFINED) {
        lm_buf_append(out, s->ptr, s->len);
    } else if (a & ATTR_NORMAL) {
        if (t->kind == TOKENIZER_SPM)
            append_unescaped(s, out);
        else
            bpe_decode_text(s->ptr, s->len, out);
    } else if ((a & ATTR_BYTE) && t->kind == TOKENIZER_SPM) {
        char b = byte_token_value(s);
        lm_buf_append(out, &b, 1);
    }
    /* unused and undefined tokens (and BPE byte tokens) have no text */
}

/* ---- streaming ---- */

/* Appends the complete characters of s[0..n), replacing invalid bytes by U+FFFD. */
static void append_valid(const char *s, size_t n, lm_buf *out) {
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int k = utf8_decode(s + i, n - i, &cp);
        if (cp == 0xFFFD && k == 1)
            lm_buf_append(out, "\xef\xbf\xbd", 3);
        else
            lm_buf_append(out, s + i, (size_t)k);
        i += (size_t)k;
    }
}

void tokenizer_stream_push(const tokenizer *t, tokenizer_stream *s, int32_t id, bool special,
                           lm_buf *out) {
    lm_buf b = {0};
    lm_buf_append(&b, s->held, s->n_held);
    tokenizer_piece(t, id, special, &b);
    size_t done = utf8_complete_prefix(b.data, b.len);
    append_valid(b.data, done, out);
    s->n_held = b.len - done; /* at most 3 bytes: one unfinished character */
    if (s->n_held) memcpy(s->held, b.data + done, s->n_held);
    lm_buf_free(&b);
}

void tokenizer_stream_flush(tokenizer_stream *s, lm_buf *out) {
    if (s->n_held) lm_buf_append(out, "\xef\xbf\xbd", 3);
    s->n_held = 0;
}

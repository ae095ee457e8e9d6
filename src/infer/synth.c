/* synth: see include/synth.h. */
#include "synth.h"

#include "gguf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct shape {
    const char *name;
    int n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx; /* n_vocab 0: made-up size */
} shape;

static const shape phi3_shapes[] = {
    {"tiny", 64, 2, 4, 4, 128, 0, 4096},
    {"small", 256, 4, 8, 8, 512, 0, 4096},
    {"medium", 1024, 4, 16, 16, 2816, 0, 4096}, /* ~100 MB at F16: memory tests */
    {"large", 2048, 8, 16, 16, 8192, 0, 4096},  /* 0.5 G parameters: a load to watch */
    {"phi3-mini", 3072, 32, 32, 32, 8192, 32064, 4096},
};
static const shape llama_shapes[] = {
    {"tiny", 64, 2, 4, 2, 128, 0, 8192},
    {"small", 256, 4, 8, 4, 512, 0, 8192},
    {"medium", 1024, 4, 16, 8, 2816, 0, 8192},
    {"llama3-8b", 4096, 32, 32, 8, 14336, 128256, 8192},
};

const char *synth_shapes(void) {
    return "tiny, small, medium, large (phi3), phi3-mini (phi3), llama3-8b (llama)";
}

static const char phi3_template[] =
    "{% for message in messages %}{% if message['role'] == 'system' and message['content'] "
    "%}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' "
    "%}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == "
    "'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% "
    "endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token "
    "}}{% endif %}";

static const char llama3_template[] =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | "
    "trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% "
    "endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

/* Words for the made-up vocabularies: a random-weight model then "speaks" in
 * random English words, which is what the demo shows. */
static const char *const words[] = {
    "the",       "of",       "and",     "to",       "in",       "is",      "it",       "that",
    "was",       "for",      "on",      "are",      "with",     "as",      "they",     "be",
    "at",        "one",      "have",    "this",     "from",     "by",      "hot",      "word",
    "but",       "what",     "some",    "we",       "can",      "out",     "other",    "were",
    "all",       "there",    "when",    "up",       "use",      "your",    "how",      "said",
    "an",        "each",     "she",     "which",    "do",       "their",   "time",     "if",
    "will",      "way",      "about",   "many",     "then",     "them",    "write",    "would",
    "like",      "so",       "these",   "her",      "long",     "make",    "thing",    "see",
    "him",       "two",      "has",     "look",     "more",     "day",     "could",    "go",
    "come",      "did",      "number",  "sound",    "no",       "most",    "people",   "my",
    "over",      "know",     "water",   "than",     "call",     "first",   "who",      "may",
    "down",      "side",     "been",    "now",      "find",     "any",     "new",      "work",
    "part",      "take",     "get",     "place",    "made",     "live",    "where",    "after",
    "back",      "little",   "only",    "round",    "man",      "year",    "came",     "show",
    "every",     "good",     "me",      "give",     "our",      "under",   "name",     "very",
    "through",   "just",     "form",    "sentence", "great",    "think",   "say",      "help",
    "low",       "line",     "differ",  "turn",     "cause",    "much",    "mean",     "before",
    "move",      "right",    "boy",     "old",      "too",      "same",    "tell",     "does",
    "set",       "three",    "want",    "air",      "well",     "also",    "play",     "small",
    "end",       "put",      "home",    "read",     "hand",     "port",    "large",    "spell",
    "add",       "even",     "land",    "here",     "must",     "big",     "high",     "such",
    "follow",    "act",      "why",     "ask",      "men",      "change",  "went",     "light",
    "kind",      "off",      "need",    "house",    "picture",  "try",     "us",       "again",
    "animal",    "point",    "mother",  "world",    "near",     "build",   "self",     "earth",
    "father",    "head",     "stand",   "own",      "page",     "should",  "country",  "found",
    "answer",    "school",   "grow",    "study",    "still",    "learn",   "plant",    "cover",
    "food",      "sun",      "four",    "between",  "state",    "keep",    "eye",      "never",
    "last",      "let",      "thought", "city",     "tree",     "cross",   "farm",     "hard",
    "start",     "might",    "story",   "saw",      "far",      "sea",     "draw",     "left",
    "late",      "run",      "while",   "press",    "close",    "night",   "real",     "life",
    "few",       "north",    "model",   "token",    "terminal", "random",  "weights",  "demo",
    "hello",     "chat",     "quietly", "river",    "mountain", "music",   "garden",   "window",
    "friend",    "question", "answer.", "yes",      "perhaps",  "because", "together", "always",
    "sometimes", "morning",  "evening"};
#define N_WORDS (sizeof words / sizeof *words)

/* ---- random numbers ---- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Approximately normal: the sum of four uniforms, rescaled (fast, and plenty
 * for random weights). */
static float rng_normal(rng *r) {
    uint64_t a = rng_next(r), b = rng_next(r);
    double s =
        (double)(a & 0xFFFFFFFF) + (double)(a >> 32) + (double)(b & 0xFFFFFFFF) + (double)(b >> 32);
    return (float)((s / 4294967296.0 - 2.0) * 1.7320508075688772);
}

static uint64_t hash_name(const char *s, uint64_t seed) {
    uint64_t h = 1469598103934665603ull ^ seed;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* ---- vocabularies ---- */

typedef struct vocab {
    char **tokens;
    float *scores;
    int32_t *types;
    char **merges;
    size_t n, cap, n_merges, merges_cap;
    int special_base; /* id of the first added special token */
} vocab;

static void vocab_add(vocab *v, const char *text, float score, int32_t type) {
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 1024;
        v->tokens = lm_xrealloc(v->tokens, v->cap * sizeof *v->tokens);
        v->scores = lm_xrealloc(v->scores, v->cap * sizeof *v->scores);
        v->types = lm_xrealloc(v->types, v->cap * sizeof *v->types);
    }
    v->tokens[v->n] = lm_xstrdup(text);
    v->scores[v->n] = score;
    v->types[v->n] = type;
    v->n++;
}

static bool vocab_has(const vocab *v, const char *text) {
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->tokens[i], text) == 0) return true;
    return false;
}

static void vocab_add_merge(vocab *v, const char *left, const char *right) {
    if (v->n_merges == v->merges_cap) {
        v->merges_cap = v->merges_cap ? v->merges_cap * 2 : 1024;
        v->merges = lm_xrealloc(v->merges, v->merges_cap * sizeof *v->merges);
    }
    char *m = lm_xmalloc(strlen(left) + strlen(right) + 2);
    sprintf(m, "%s %s", left, right);
    v->merges[v->n_merges++] = m;
}

static void vocab_free(vocab *v) {
    for (size_t i = 0; i < v->n; i++) free(v->tokens[i]);
    for (size_t i = 0; i < v->n_merges; i++) free(v->merges[i]);
    free(v->tokens);
    free(v->scores);
    free(v->types);
    free(v->merges);
}

/* SentencePiece: <unk> <s> </s>, 256 byte tokens, then every prefix of
 * "▁word" (so the score-driven merges can build each word), then filler, then
 * Phi-3's added tokens from id 32000 of a full vocabulary. */
static void build_spm(vocab *v, int n_vocab) {
    vocab_add(v, "<unk>", 0, 2);
    vocab_add(v, "<s>", 0, 3);
    vocab_add(v, "</s>", 0, 4);
    for (int b = 0; b < 256; b++) {
        char t[8];
        snprintf(t, sizeof t, "<0x%02X>", b);
        vocab_add(v, t, 0, 6);
    }
    const char *letters = "abcdefghijklmnopqrstuvwxyz.,!?'";
    for (const char *c = letters; *c; c++) {
        char t[2] = {*c, 0};
        vocab_add(v, t, -100.0f, 1);
    }
    vocab_add(v, "\xE2\x96\x81", -50.0f, 1);
    for (size_t w = 0; w < N_WORDS; w++) {
        char piece[64] = "\xE2\x96\x81";
        size_t len = strlen(words[w]);
        for (size_t k = 1; k <= len && k < 48; k++) {
            memcpy(piece + 3, words[w], k);
            piece[3 + k] = 0;
            if (!vocab_has(v, piece)) vocab_add(v, piece, -(float)(len - k) - (float)w * 1e-3f, 1);
        }
    }
    static const char *const added[] = {"<|endoftext|>",    "<|assistant|>",    "<|placeholder1|>",
                                        "<|placeholder2|>", "<|placeholder3|>", "<|placeholder4|>",
                                        "<|system|>",       "<|end|>",          "<|placeholder5|>",
                                        "<|placeholder6|>", "<|user|>"};
    int base = n_vocab > 32000 ? 32000 : (int)v->n;
    for (int i = (int)v->n; i < base; i++) {
        char t[32];
        snprintf(t, sizeof t, "\xE2\x96\x81x%d", i);
        vocab_add(v, t, -1e4f, 1);
    }
    v->special_base = (int)v->n;
    for (size_t i = 0; i < sizeof added / sizeof *added; i++)
        vocab_add(v, added[i], 0, 3); /* control, as in Phi-3 */
    for (int i = (int)v->n; i < n_vocab; i++) {
        char t[32];
        snprintf(t, sizeof t, "[PAD%d]", i);
        vocab_add(v, t, 0, 5);
    }
}

/* GPT-2's byte-to-symbol map: printable bytes stand for themselves, the
 * others are shifted to U+0100 and up. */
static void byte_symbol(int b, char out[4]) {
    bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    uint32_t cp = (uint32_t)b;
    if (!printable) {
        int n = 0;
        for (int c = 0; c < b; c++)
            if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255))) n++;
        cp = 256 + (uint32_t)n;
    }
    out[utf8_encode(cp, out)] = 0;
}

/* Byte-level BPE: the 256 byte symbols, then each word built letter by letter
 * through merges ("Ġ"+"t" -> "Ġt", "Ġt"+"h" -> "Ġth", ...), then Llama-3's
 * special tokens (from id 128000 in a full vocabulary). */
static void build_bpe(vocab *v, int n_vocab) {
    for (int b = 0; b < 256; b++) {
        char s[4];
        byte_symbol(b, s);
        vocab_add(v, s, 0, 1);
    }
    for (size_t w = 0; w < N_WORDS; w++) {
        char prev[64] = "\xC4\xA0"; /* Ġ: a space */
        size_t len = strlen(words[w]);
        for (size_t k = 0; k < len && k < 40; k++) {
            char next[sizeof prev + 2], ch[2] = {words[w][k], 0};
            snprintf(next, sizeof next, "%s%c", prev, words[w][k]);
            if (!vocab_has(v, next)) {
                vocab_add(v, next, 0, 1);
                vocab_add_merge(v, prev, ch);
            }
            strcpy(prev, next);
        }
    }
    int base = n_vocab > 128000 ? 128000 : (int)v->n;
    for (int i = (int)v->n; i < base; i++) {
        char t[32];
        snprintf(t, sizeof t, "\xC4\xA0x%d", i); /* unreachable filler */
        vocab_add(v, t, 0, 1);
    }
    static const char *const special[] = {"<|begin_of_text|>",
                                          "<|end_of_text|>",
                                          "<|reserved_special_token_0|>",
                                          "<|reserved_special_token_1|>",
                                          "<|reserved_special_token_2|>",
                                          "<|reserved_special_token_3|>",
                                          "<|start_header_id|>",
                                          "<|end_header_id|>",
                                          "<|reserved_special_token_4|>",
                                          "<|eot_id|>"};
    v->special_base = (int)v->n;
    for (size_t i = 0; i < sizeof special / sizeof *special; i++) vocab_add(v, special[i], 0, 3);
    for (int i = (int)v->n, r = 5; i < n_vocab; i++, r++) {
        char t[48];
        snprintf(t, sizeof t, "<|reserved_special_token_%d|>", r);
        vocab_add(v, t, 0, 3);
    }
}

static void write_vocab(gguf_writer *w, bool phi3, int n_vocab, int *out_n_vocab) {
    vocab v = {0};
    if (phi3)
        build_spm(&v, n_vocab);
    else
        build_bpe(&v, n_vocab);
    gguf_writer_set_str(w, "tokenizer.ggml.model", phi3 ? "llama" : "gpt2");
    gguf_writer_set_str(w, "tokenizer.ggml.pre", phi3 ? "default" : "llama-bpe");
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v.tokens, v.n);
    if (phi3) gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", v.scores, v.n);
    gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", v.types, v.n);
    if (!phi3)
        gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)v.merges,
                                v.n_merges);
    /* phi3: <s> and <|endoftext|>; llama3: <|begin_of_text|> and <|eot_id|> */
    gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", phi3 ? 1 : (uint32_t)v.special_base);
    gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id",
                        (uint32_t)v.special_base + (phi3 ? 0 : 9));
    if (phi3) {
        gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
        gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
        gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false);
    }
    gguf_writer_set_str(w, "tokenizer.chat_template", phi3 ? phi3_template : llama3_template);
    *out_n_vocab = (int)v.n;
    vocab_free(&v);
}

/* ---- tensors ---- */

typedef struct tensor_plan {
    char name[96];
    int64_t ne[2];
    int n_dims;
    enum quant_type type;
    float stddev, mean; /* N(mean, stddev) */
} tensor_plan;

typedef struct synth_ctx {
    const synth_options *o;
    tensor_plan *plans;
    int n_plans, n_filled;
    uint64_t bytes_filled, bytes_total;
} synth_ctx;

static int fill_tensor(void *arg, const char *name, void *buf, uint64_t nbytes, lm_error *err) {
    synth_ctx *c = arg;
    const tensor_plan *p = NULL;
    for (int i = 0; i < c->n_plans && !p; i++)
        if (strcmp(c->plans[i].name, name) == 0) p = &c->plans[i];
    if (!p) return lm_fail(err, "synth: unknown tensor %s", name);
    int64_t cols = p->ne[0], rows = p->n_dims == 2 ? p->ne[1] : 1;
    size_t row_bytes = quant_row_size(p->type, cols);
    if (row_bytes * (uint64_t)rows != nbytes)
        return lm_fail(err, "synth: size mismatch for %s", name);
    float *row = lm_xmalloc((size_t)cols * sizeof *row);
    rng r = {hash_name(name, c->o->seed)};
    for (int64_t i = 0; i < rows; i++) {
        for (int64_t j = 0; j < cols; j++) row[j] = p->mean + p->stddev * rng_normal(&r);
        quant_quantize_row(p->type, row, (uint8_t *)buf + (size_t)i * row_bytes, cols);
    }
    free(row);
    c->n_filled++;
    c->bytes_filled += nbytes;
    if (c->o->progress) c->o->progress(c->o->progress_ctx, c->n_filled, c->n_plans, c->bytes_filled, c->bytes_total);
    return 0;
}

static void plan(synth_ctx *c, const char *name, int64_t ne0, int64_t ne1, enum quant_type type) {
    tensor_plan *p = &c->plans[c->n_plans++];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ne[0] = ne0;
    p->ne[1] = ne1;
    p->n_dims = ne1 > 0 ? 2 : 1;
    p->type = ne1 > 0 ? type : QT_F32;
    p->mean = ne1 > 0 ? 0.0f : 1.0f;
    p->stddev = ne1 > 0 ? 0.02f : 0.1f;
}

static void plan_tensors(synth_ctx *c, const shape *s, bool phi3, int n_vocab) {
    enum quant_type t = c->o->type;
    enum quant_type out = c->o->output_type == QT_COUNT ? t : c->o->output_type;
    int64_t E = s->n_embd, hd = s->n_embd / s->n_head, KV = hd * s->n_head_kv, F = s->n_ff;
    c->plans = lm_xcalloc((size_t)(3 + 9 * s->n_layer), sizeof *c->plans);
    plan(c, "token_embd.weight", E, n_vocab, t);
    plan(c, "output_norm.weight", E, 0, t);
    plan(c, "output.weight", E, n_vocab, out);
    for (int il = 0; il < s->n_layer; il++) {
        char n[96];
#define P(suffix, a, b) (snprintf(n, sizeof n, "blk.%d." suffix, il), plan(c, n, a, b, t))
        P("attn_norm.weight", E, 0);
        P("ffn_norm.weight", E, 0);
        P("attn_output.weight", E, E);
        P("ffn_down.weight", F, E);
        if (phi3) {
            P("attn_qkv.weight", E, E + 2 * KV);
            P("ffn_up.weight", E, 2 * F);
        } else {
            P("attn_q.weight", E, E);
            P("attn_k.weight", E, KV);
            P("attn_v.weight", E, KV);
            P("ffn_gate.weight", E, F);
            P("ffn_up.weight", E, F);
        }
#undef P
    }
}

static void write_hparams(gguf_writer *w, const shape *s, bool phi3, const synth_options *o) {
    const char *a = phi3 ? "phi3" : "llama";
    char key[96], name[128];
#define KEY(k) (snprintf(key, sizeof key, "%s." k, a), key)
    gguf_writer_set_str(w, "general.architecture", a);
    snprintf(name, sizeof name, "%s-%s-synthetic (random weights)", a, s->name);
    gguf_writer_set_str(w, "general.name", name);
    gguf_writer_set_u32(w, "general.quantization_version", 2);
    int n_ctx = o->n_ctx_train > 0 ? o->n_ctx_train : s->n_ctx;
    gguf_writer_set_u32(w, KEY("context_length"), (uint32_t)n_ctx);
    gguf_writer_set_u32(w, KEY("embedding_length"), (uint32_t)s->n_embd);
    gguf_writer_set_u32(w, KEY("feed_forward_length"), (uint32_t)s->n_ff);
    gguf_writer_set_u32(w, KEY("block_count"), (uint32_t)s->n_layer);
    gguf_writer_set_u32(w, KEY("attention.head_count"), (uint32_t)s->n_head);
    gguf_writer_set_u32(w, KEY("attention.head_count_kv"), (uint32_t)s->n_head_kv);
    gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-5f);
    gguf_writer_set_u32(w, KEY("rope.dimension_count"), (uint32_t)(s->n_embd / s->n_head));
    gguf_writer_set_f32(w, KEY("rope.freq_base"), phi3 ? 10000.0f : 500000.0f);
    if (phi3) {
        gguf_writer_set_u32(w, KEY("rope.scaling.original_context_length"), (uint32_t)n_ctx);
        gguf_writer_set_u32(w, KEY("attention.sliding_window"), 2047);
    }
#undef KEY
}

/* A type the quantizer writes, for weights (not activations), whose blocks
 * divide the shape's rows. */
static const char *type_name(enum quant_type type) {
    const quant_type_info *ti = quant_info(type);
    return ti ? ti->name : "?";
}

static bool weight_type_fits(enum quant_type type, const shape *s) {
    const quant_type_info *ti = quant_info(type);
    return ti && ti->can_quantize && type != QT_Q8_1 && type != QT_Q8_K &&
           s->n_embd % (int)ti->block_size == 0 && s->n_ff % (int)ti->block_size == 0;
}

int synth_write(const synth_options *o, const char *path, lm_error *err) {
    bool phi3 = strcmp(o->arch, "phi3") == 0;
    if (!phi3 && strcmp(o->arch, "llama") != 0)
        return lm_fail(err, "unknown architecture '%s' (phi3 or llama)", o->arch);
    const shape *shapes = phi3 ? phi3_shapes : llama_shapes, *s = NULL;
    const size_t n_shapes = phi3 ? sizeof phi3_shapes / sizeof *phi3_shapes
                                 : sizeof llama_shapes / sizeof *llama_shapes;
    for (size_t i = 0; i < n_shapes; i++)
        if (strcmp(shapes[i].name, o->shape) == 0) s = &shapes[i];
    if (!s)
        return lm_fail(err, "unknown shape '%s' for %s (%s)", o->shape, o->arch, synth_shapes());
    if (!weight_type_fits(o->type, s))
        return lm_fail(err, "cannot write weights of type %s", type_name(o->type));
    if (o->output_type != QT_COUNT && !weight_type_fits(o->output_type, s))
        return lm_fail(err, "cannot write output.weight of type %s", type_name(o->output_type));

    gguf_writer *w = gguf_writer_new();
    write_hparams(w, s, phi3, o);
    int n_vocab;
    write_vocab(w, phi3, s->n_vocab, &n_vocab);
    synth_ctx c = {.o = o};
    plan_tensors(&c, s, phi3, n_vocab);
    for (int i = 0; i < c.n_plans; i++)
        c.bytes_total += quant_row_size(c.plans[i].type, c.plans[i].ne[0]) *
                         (uint64_t)(c.plans[i].n_dims == 2 ? c.plans[i].ne[1] : 1);
    for (int i = 0; i < c.n_plans; i++)
        gguf_writer_add_tensor(w, c.plans[i].name, c.plans[i].type, (uint32_t)c.plans[i].n_dims,
                               c.plans[i].ne, NULL, fill_tensor, &c);
    int rc = gguf_writer_write(w, path, err);
    gguf_writer_free(w);
    free(c.plans);
    return rc;
}

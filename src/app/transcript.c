/* transcript: see include/transcript.h.
 *
 * The JSON form, version 1:
 *
 *   {"format": "lmterm-transcript", "version": 1, "created": 1700000000.5,
 *    "model": {"path": "...", "name": "...", "precision": "int4"},
 *    "sampling": {"temperature": 0.8, "top_k": 40, "top_p": 0.95, "min_p": 0.05,
 *                 "repeat_penalty": 1, "repeat_last_n": 64, "seed": 24301},
 *    "template": "phi3", "system_prompt": "..." or null,
 *    "messages": [{"role": "user", "content": "...", "time": 1700000001.25},
 *                 {"role": "assistant", "content": "...", "time": ...,
 *                  "tokens_per_second": 12.5, "n_tokens": 3, "ids": [450, 20084, 526]}]}
 *
 * Numbers are written so that they read back bit for bit (floats in their
 * shortest exact form, doubles with %.17g); a seed that a double cannot hold
 * is written as a string. The loader trusts nothing: the size is bounded, every member's
 * type and range is checked, and a failure leaves the caller's chat alone.
 * Token ids are only checked to be non-negative 32-bit integers here; the
 * engine checks them against the vocabulary of the model that reads them. */
#include "transcript.h"

#include "json.h"
#include "model.h"
#include "paths.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TRANSCRIPT_FORMAT "lmterm-transcript"
#define TRANSCRIPT_VERSION 1
#define TRANSCRIPT_MAX_BYTES (64u << 20)
#define EXACT_DOUBLE_INT 9007199254740992.0 /* 2^53: larger integers lose bits */

/* ---- writing JSON ---- */

static void put_double(lm_buf *b, double v) {
    lm_buf_printf(b, "%.17g", isfinite(v) ? v : 0.0);
}

/* The shortest form that reads back as the same float: 0.8, not 0.800000012. */
static void put_float(lm_buf *b, float v) {
    char text[32];
    if (!isfinite(v)) v = 0;
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, (double)v);
        if ((float)strtod(text, NULL) == v) break; /* as the reader converts it */
    }
    lm_buf_puts(b, text);
}

static void put_key(lm_buf *b, const char *key) {
    json_write_str(b, key, strlen(key));
    lm_buf_puts(b, ": ");
}

static void put_str_or_null(lm_buf *b, const char *s) {
    if (s)
        json_write_str(b, s, strlen(s));
    else
        lm_buf_puts(b, "null");
}

static void put_sampling(lm_buf *b, const sampler_params *p) {
    lm_buf_puts(b, "{\"temperature\": ");
    put_float(b, p->temperature);
    lm_buf_printf(b, ", \"top_k\": %d, \"top_p\": ", p->top_k);
    put_float(b, p->top_p);
    lm_buf_puts(b, ", \"min_p\": ");
    put_float(b, p->min_p);
    lm_buf_puts(b, ", \"repeat_penalty\": ");
    put_float(b, p->repeat_penalty);
    lm_buf_printf(b, ", \"repeat_last_n\": %d, \"seed\": ", p->repeat_last_n);
    if ((double)p->seed < EXACT_DOUBLE_INT)
        lm_buf_printf(b, "%llu}", (unsigned long long)p->seed);
    else
        lm_buf_printf(b, "\"%llu\"}", (unsigned long long)p->seed);
}

static const char *role_name(enum chat_role r) {
    return r == CHAT_ROLE_ASSISTANT ? "assistant" : r == CHAT_ROLE_SYSTEM ? "system" : "user";
}

static void put_message(lm_buf *b, const chat_message *m) {
    lm_buf_puts(b, "    {\"role\": ");
    json_write_str(b, role_name(m->role), strlen(role_name(m->role)));
    lm_buf_puts(b, ", \"content\": ");
    json_write_str(b, m->content ? m->content : "", m->content ? strlen(m->content) : 0);
    lm_buf_puts(b, ", \"time\": ");
    put_double(b, m->time);
    if (m->role == CHAT_ROLE_ASSISTANT) {
        lm_buf_puts(b, ", \"tokens_per_second\": ");
        put_double(b, m->gen_tps);
        lm_buf_printf(b, ", \"n_tokens\": %d", m->n_tokens);
        if (m->ids) {
            lm_buf_puts(b, ", \"ids\": [");
            for (size_t i = 0; i < m->n_ids; i++)
                lm_buf_printf(b, i ? ", %d" : "%d", (int)m->ids[i]);
            lm_buf_puts(b, "]");
        }
    }
    lm_buf_puts(b, "}");
}

/* The backend, and for a server its URL and the name of its key's variable. */
static void put_remote(lm_buf *b, const transcript_meta *meta) {
    const char *fields[][2] = {{"backend", meta->backend},
                               {"server", meta->server},
                               {"api_key_env", meta->api_key_env}};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        if (!fields[i][1][0]) continue;
        lm_buf_puts(b, ", ");
        put_key(b, fields[i][0]);
        json_write_str(b, fields[i][1], strlen(fields[i][1]));
    }
}

static void json_transcript(const chat *c, const transcript_meta *meta, lm_buf *b) {
    lm_buf_printf(b, "{\n  \"format\": \"%s\",\n  \"version\": %d,\n  \"created\": ",
                  TRANSCRIPT_FORMAT, TRANSCRIPT_VERSION);
    put_double(b, meta->created);
    lm_buf_puts(b, ",\n  \"model\": {");
    put_key(b, "path");
    json_write_str(b, meta->model_path, strlen(meta->model_path));
    lm_buf_puts(b, ", ");
    put_key(b, "name");
    json_write_str(b, meta->model_name, strlen(meta->model_name));
    lm_buf_puts(b, ", ");
    put_key(b, "precision");
    json_write_str(b, meta->precision, strlen(meta->precision));
    put_remote(b, meta);
    lm_buf_puts(b, "},\n  \"sampling\": ");
    put_sampling(b, &meta->sampling);
    lm_buf_printf(b,
                  ",\n  \"template\": \"%s\",\n  \"system_prompt\": ", chat_template_name(c->tmpl));
    put_str_or_null(b, c->system_prompt && *c->system_prompt ? c->system_prompt : NULL);
    lm_buf_puts(b, ",\n  \"messages\": [");
    for (size_t i = 0; i < c->n; i++) {
        lm_buf_puts(b, i ? ",\n" : "\n");
        put_message(b, &c->msgs[i]);
    }
    lm_buf_puts(b, c->n ? "\n  ]\n}\n" : "]\n}\n");
}

int transcript_save_json(const chat *c, const transcript_meta *meta, const char *path,
                         lm_error *err) {
    lm_buf b = {0};
    json_transcript(c, meta, &b);
    int rc = lm_write_file_atomic(path, b.data, b.len, err);
    lm_buf_free(&b);
    return rc;
}

/* ---- writing Markdown ---- */

static void put_clock(lm_buf *b, double unix_seconds) {
    time_t t = (time_t)unix_seconds;
    struct tm tm;
    char text[64];
    if (unix_seconds > 0 && localtime_r(&t, &tm) &&
        strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &tm))
        lm_buf_puts(b, text);
    else
        lm_buf_puts(b, "unknown time");
}

/* Text as a block quote: every line starts with "> ". */
static void put_quoted(lm_buf *b, const char *text) {
    lm_buf_puts(b, "> ");
    for (const char *p = text; *p; p++) {
        lm_buf_append(b, p, 1);
        if (*p == '\n' && p[1]) lm_buf_puts(b, "> ");
    }
    lm_buf_puts(b, "\n");
}

static void markdown_header(const chat *c, const transcript_meta *meta, lm_buf *b) {
    const sampler_params *s = &meta->sampling;
    lm_buf_puts(b, "# lmterm conversation\n\n");
    lm_buf_printf(b, "- Model: %s (`%s`)\n", meta->model_name[0] ? meta->model_name : "unknown",
                  meta->model_path);
    if (meta->server[0])
        lm_buf_printf(b, "- Server: %s (%s)\n", meta->server, meta->backend);
    else
        lm_buf_printf(b, "- Precision: %s\n", meta->precision[0] ? meta->precision : "unknown");
    lm_buf_printf(b,
                  "- Sampling: temperature %g, top-k %d, top-p %g, min-p %g, repeat penalty %g "
                  "(last %d tokens), seed %llu\n",
                  (double)s->temperature, s->top_k, (double)s->top_p, (double)s->min_p,
                  (double)s->repeat_penalty, s->repeat_last_n, (unsigned long long)s->seed);
    lm_buf_printf(b, "- Template: %s\n- Started: ", chat_template_name(c->tmpl));
    put_clock(b, meta->created);
    lm_buf_puts(b, "\n\n## System prompt\n\n");
    if (c->system_prompt && *c->system_prompt)
        put_quoted(b, c->system_prompt);
    else
        lm_buf_puts(b, "(none)\n");
}

static void markdown_turn(const chat_message *m, lm_buf *b) {
    lm_buf_puts(b, m->role == CHAT_ROLE_ASSISTANT ? "\n## Assistant · " : "\n## User · ");
    put_clock(b, m->time);
    if (m->role == CHAT_ROLE_ASSISTANT)
        lm_buf_printf(b, " · %d tokens, %.1f tok/s", m->n_tokens, m->gen_tps);
    lm_buf_printf(b, "\n\n%s\n", m->content ? m->content : "");
}

int transcript_save_markdown(const chat *c, const transcript_meta *meta, const char *path,
                             lm_error *err) {
    lm_buf b = {0};
    markdown_header(c, meta, &b);
    for (size_t i = 0; i < c->n; i++) markdown_turn(&c->msgs[i], &b);
    int rc = lm_write_file_atomic(path, b.data, b.len, err);
    lm_buf_free(&b);
    return rc;
}

/* ---- reading JSON ---- */

typedef struct loader {
    const char *path;
    lm_error *err;
    char where[64]; /* "", "model.", "messages[3]." ...: names the member in errors */
} loader;

/* "FILE: where.key: what"; key NULL names the object itself. */
static int bad(const loader *L, const char *key, const char *what) {
    size_t n = strlen(L->where);
    if (!key && n == 0) return lm_fail(L->err, "%s: %s", L->path, what);
    if (!key) return lm_fail(L->err, "%s: %.*s: %s", L->path, (int)n - 1, L->where, what);
    return lm_fail(L->err, "%s: %s%s: %s", L->path, L->where, key, what);
}

static void descend(loader *L, const char *name, long index) {
    if (index < 0)
        snprintf(L->where, sizeof L->where, "%s.", name);
    else
        snprintf(L->where, sizeof L->where, "%s[%ld].", name, index);
}

/* A member that must be absent or of the given kind; NULL when absent (a
 * null string counts as absent). */
static int member(const loader *L, const json_value *obj, const char *key, json_kind kind,
                  const json_value **out) {
    static const char *const kind_names[] = {"null",     "a boolean", "a number",
                                             "a string", "an array",  "an object"};
    *out = json_get(obj, key);
    if (*out && (*out)->kind == JSON_NULL && kind == JSON_STRING) *out = NULL;
    if (*out && (*out)->kind != kind) {
        char what[64];
        snprintf(what, sizeof what, "should be %s", kind_names[kind]);
        return bad(L, key, what);
    }
    return 0;
}

/* A string without NUL bytes (C strings carry the text from here on). */
static int text_member(const loader *L, const json_value *obj, const char *key, const char **out) {
    const json_value *v;
    if (member(L, obj, key, JSON_STRING, &v)) return -1;
    *out = v ? v->str : NULL;
    if (v && strlen(v->str) != v->len) return bad(L, key, "contains a NUL character");
    return 0;
}

static int copy_field(const loader *L, const json_value *obj, const char *key, char *dst,
                      size_t cap) {
    const char *s;
    if (text_member(L, obj, key, &s)) return -1;
    if (s && strlen(s) >= cap) return bad(L, key, "is too long");
    snprintf(dst, cap, "%s", s ? s : "");
    return 0;
}

/* An optional number in [lo, hi]; *out keeps its value when absent. */
static int number_in(const loader *L, const json_value *obj, const char *key, double lo, double hi,
                     bool integer, double *out) {
    const json_value *v;
    if (member(L, obj, key, JSON_NUMBER, &v)) return -1;
    if (!v) return 0;
    if (!(v->num >= lo && v->num <= hi) || (integer && v->num != floor(v->num)))
        return bad(L, key, "is out of range");
    *out = v->num;
    return 0;
}

/* A number, or a string of digits for seeds a double cannot hold. */
static int read_seed(const loader *L, const json_value *obj, uint64_t *seed) {
    const json_value *v = json_get(obj, "seed");
    if (!v) return 0;
    if (v->kind == JSON_NUMBER) {
        double d = 0;
        if (number_in(L, obj, "seed", 0, EXACT_DOUBLE_INT, true, &d)) return -1;
        *seed = (uint64_t)d;
        return 0;
    }
    if (v->kind != JSON_STRING) return bad(L, "seed", "should be a number");
    char *end;
    errno = 0;
    unsigned long long s = strtoull(v->str, &end, 10);
    if (v->str[0] < '0' || v->str[0] > '9' || *end || errno)
        return bad(L, "seed", "is not a number");
    *seed = s;
    return 0;
}

static int read_sampling(loader *L, const json_value *root, sampler_params *p) {
    const json_value *s;
    *p = sampler_default_params();
    if (member(L, root, "sampling", JSON_OBJECT, &s)) return -1;
    if (!s) return 0;
    descend(L, "sampling", -1);
    double t = p->temperature, k = p->top_k, tp = p->top_p, mp = p->min_p;
    double rp = p->repeat_penalty, rn = p->repeat_last_n;
    if (number_in(L, s, "temperature", 0, 100, false, &t) ||
        number_in(L, s, "top_k", 0, INT_MAX, true, &k) ||
        number_in(L, s, "top_p", 0, 1, false, &tp) || number_in(L, s, "min_p", 0, 1, false, &mp) ||
        number_in(L, s, "repeat_penalty", 0, 100, false, &rp) ||
        number_in(L, s, "repeat_last_n", 0, INT_MAX, true, &rn) || read_seed(L, s, &p->seed))
        return -1;
    p->temperature = (float)t;
    p->top_k = (int)k;
    p->top_p = (float)tp;
    p->min_p = (float)mp;
    p->repeat_penalty = (float)rp;
    p->repeat_last_n = (int)rn;
    L->where[0] = 0;
    return 0;
}

static int read_model(loader *L, const json_value *root, transcript_meta *meta) {
    const json_value *model;
    if (member(L, root, "model", JSON_OBJECT, &model)) return -1;
    if (!model) return 0;
    descend(L, "model", -1);
    if (copy_field(L, model, "path", meta->model_path, sizeof meta->model_path) ||
        copy_field(L, model, "name", meta->model_name, sizeof meta->model_name) ||
        copy_field(L, model, "precision", meta->precision, sizeof meta->precision) ||
        copy_field(L, model, "backend", meta->backend, sizeof meta->backend) ||
        copy_field(L, model, "server", meta->server, sizeof meta->server) ||
        copy_field(L, model, "api_key_env", meta->api_key_env, sizeof meta->api_key_env))
        return -1;
    if (meta->precision[0] && model_precision_from_name(meta->precision) < 0)
        return bad(L, "precision", "is not a known precision");
    L->where[0] = 0;
    return 0;
}

static int read_meta(loader *L, const json_value *root, transcript_meta *meta) {
    memset(meta, 0, sizeof *meta);
    if (number_in(L, root, "created", 0, 1e12, false, &meta->created)) return -1;
    if (read_model(L, root, meta)) return -1;
    return read_sampling(L, root, &meta->sampling);
}

static int read_ids(const loader *L, const json_value *arr, chat_message *m) {
    m->ids = lm_xmalloc((arr->len ? arr->len : 1) * sizeof *m->ids);
    m->n_ids = arr->len;
    for (size_t i = 0; i < arr->len; i++) {
        const json_value *v = &arr->items[i];
        if (v->kind != JSON_NUMBER || !(v->num >= 0 && v->num <= INT32_MAX) ||
            v->num != floor(v->num))
            return bad(L, "ids", "holds something that is not a token id");
        m->ids[i] = (int32_t)v->num;
    }
    return 0;
}

static int read_message(const loader *L, const json_value *v, chat *c) {
    const char *role, *content;
    const json_value *ids;
    if (v->kind != JSON_OBJECT) return bad(L, NULL, "should be an object");
    if (text_member(L, v, "role", &role) || text_member(L, v, "content", &content)) return -1;
    if (!role) return bad(L, "role", "missing");
    if (!content) return bad(L, "content", "missing");
    bool assistant = strcmp(role, "assistant") == 0;
    if (!assistant && strcmp(role, "user") != 0)
        return bad(L, "role", "should be \"user\" or \"assistant\"");
    chat_message *m = chat_add(c, assistant ? CHAT_ROLE_ASSISTANT : CHAT_ROLE_USER, content);
    double n_tokens = 0;
    m->time = 0; /* unknown unless the file says */
    if (number_in(L, v, "time", 0, 1e12, false, &m->time) ||
        number_in(L, v, "tokens_per_second", 0, 1e12, false, &m->gen_tps) ||
        number_in(L, v, "n_tokens", 0, INT_MAX, true, &n_tokens) ||
        member(L, v, "ids", JSON_ARRAY, &ids))
        return -1;
    m->n_tokens = (int)n_tokens;
    if (ids && !assistant) return bad(L, "ids", "only replies have token ids");
    return ids ? read_ids(L, ids, m) : 0;
}

static int read_version(const loader *L, const json_value *root) {
    const char *format;
    if (root->kind != JSON_OBJECT) return bad(L, NULL, "not an lmterm transcript");
    if (text_member(L, root, "format", &format)) return -1;
    if (!format || strcmp(format, TRANSCRIPT_FORMAT) != 0)
        return bad(L, NULL, "not an lmterm transcript");
    const json_value *v = json_get(root, "version");
    if (!v || v->kind != JSON_NUMBER) return bad(L, "version", "missing");
    if (v->num != TRANSCRIPT_VERSION)
        return lm_fail(L->err, "%s: transcript version %g is not supported (this lmterm reads %d)",
                       L->path, v->num, TRANSCRIPT_VERSION);
    return 0;
}

static int read_chat(loader *L, const json_value *root, chat *c) {
    const char *tmpl, *system;
    const json_value *msgs;
    if (text_member(L, root, "template", &tmpl) || text_member(L, root, "system_prompt", &system) ||
        member(L, root, "messages", JSON_ARRAY, &msgs))
        return -1;
    int kind = chat_template_from_name(tmpl);
    if (kind < 0) return bad(L, "template", tmpl ? "is not a known template" : "missing");
    if (!msgs) return bad(L, "messages", "missing");
    c->tmpl = (enum chat_template_kind)kind;
    chat_set_system(c, system);
    for (size_t i = 0; i < msgs->len; i++) {
        descend(L, "messages", (long)i);
        if (read_message(L, &msgs->items[i], c)) return -1;
    }
    L->where[0] = 0;
    return 0;
}

int transcript_load_json(const char *path, chat *c, transcript_meta *meta, lm_error *err) {
    char *text;
    size_t len;
    if (lm_read_file(path, TRANSCRIPT_MAX_BYTES, &text, &len, err)) return -1;
    lm_error perr;
    json_value *root = json_parse(text, len, &perr);
    free(text);
    if (!root) return lm_fail(err, "%s: %s", path, perr.msg);
    loader L = {.path = path, .err = err};
    chat loaded;
    chat_init(&loaded, CHAT_TEMPLATE_PHI3);
    transcript_meta m;
    int rc = read_version(&L, root);
    if (rc == 0) rc = read_meta(&L, root, &m);
    if (rc == 0) rc = read_chat(&L, root, &loaded);
    json_free(root);
    if (rc) {
        chat_free(&loaded);
        return -1;
    }
    chat_free(c);
    *c = loaded;
    if (meta) *meta = m;
    return 0;
}

/* ---- where transcripts live ---- */

char *transcript_default_dir(lm_error *err) {
    char *path = paths_lmterm(PATHS_DATA, "transcripts");
    if (!path) {
        lm_fail(err, "cannot find a folder for transcripts: neither XDG_DATA_HOME nor HOME is set");
        return NULL;
    }
    if (lm_mkdir_p(path, err)) {
        free(path);
        return NULL;
    }
    return path;
}

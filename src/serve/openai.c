/* openai: see include/serve/openai.h.
 *
 * A request is checked member by member: each one has a reader that says
 * what is wrong with it (and names it as OpenAI's "param"). Members lmterm
 * does not use are ignored, as OpenAI-compatible servers do, so clients that
 * send more than this server knows keep working. */
#include "openai.h"

#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INVALID "invalid_request_error"

int openai_fail(openai_error *e, int status, const char *type, const char *param, const char *code,
                const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    e->status = status;
    e->type = type;
    e->param = param;
    e->code = code;
    return -1;
}

static int bad(openai_error *e, const char *param, const char *fmt, const char *what) {
    return openai_fail(e, 400, INVALID, param, NULL, fmt, what);
}

/* ---- members ---- */

/* Text the model may read: valid UTF-8 without NUL bytes. */
static int check_text(const json_value *v, const char *param, openai_error *e) {
    if (strlen(v->str) != v->len) return bad(e, param, "'%s' contains a NUL character", param);
    if (!utf8_valid(v->str, v->len)) return bad(e, param, "'%s' is not valid UTF-8", param);
    return 0;
}

static int read_bool(const json_value *body, const char *key, bool *out, openai_error *e) {
    const json_value *v = json_get(body, key);
    if (!v || v->kind == JSON_NULL) return 0;
    if (v->kind != JSON_BOOL) return bad(e, key, "'%s' must be a boolean", key);
    *out = v->b;
    return 0;
}

/* A number in [lo, hi]; integral when asked. Absent or null leaves *out. */
static int read_num(const json_value *body, const char *key, double lo, double hi, bool integral,
                    double *out, openai_error *e) {
    const json_value *v = json_get(body, key);
    if (!v || v->kind == JSON_NULL) return 0;
    if (v->kind != JSON_NUMBER || !isfinite(v->num))
        return bad(e, key, "'%s' must be a number", key);
    if (integral && v->num != floor(v->num)) return bad(e, key, "'%s' must be an integer", key);
    if (v->num < lo || v->num > hi)
        return openai_fail(e, 400, INVALID, key, NULL, "'%s' must be between %g and %g", key, lo,
                           hi);
    *out = v->num;
    return 0;
}

/* Message content: a string, an array of text parts, or null (an
 * assistant's message that only called tools: empty). */
static int read_content(const json_value *v, bool may_be_null, lm_buf *out, openai_error *e) {
    const char *param = "messages.content";
    if (!v || v->kind == JSON_NULL) {
        if (may_be_null) return 0;
        return bad(e, param, "'%s' is missing", param);
    }
    if (v->kind == JSON_STRING) {
        if (check_text(v, param, e)) return -1;
        lm_buf_append(out, v->str, v->len);
        return 0;
    }
    if (v->kind != JSON_ARRAY) return bad(e, param, "'%s' must be a string or an array", param);
    if (v->len > OPENAI_MAX_PARTS) return bad(e, param, "'%s' has too many parts", param);
    for (size_t i = 0; i < v->len; i++) {
        const json_value *part = &v->items[i];
        const char *type = json_get_str(part, "type", NULL);
        const json_value *text = json_get(part, "text");
        if (!type || strcmp(type, "text") != 0)
            return bad(e, param, "'%s': only parts of type \"text\" are supported", param);
        if (!text || text->kind != JSON_STRING)
            return bad(e, param, "'%s': a text part needs a string 'text'", param);
        if (check_text(text, param, e)) return -1;
        lm_buf_append(out, text->str, text->len);
    }
    return 0;
}

static int role_of(const char *name, enum chat_role *out) {
    if (!name) return -1;
    if (strcmp(name, "system") == 0 || strcmp(name, "developer") == 0)
        *out = CHAT_ROLE_SYSTEM;
    else if (strcmp(name, "user") == 0)
        *out = CHAT_ROLE_USER;
    else if (strcmp(name, "assistant") == 0)
        *out = CHAT_ROLE_ASSISTANT;
    else
        return -1;
    return 0;
}

/* The first message, when it is a system message, becomes the system prompt
 * (as the chat keeps it); later system messages stay where they are. */
static int read_messages(const json_value *body, openai_request *r, openai_error *e) {
    const json_value *msgs = json_get(body, "messages");
    if (!msgs) return bad(e, "messages", "'%s' is required", "messages");
    if (msgs->kind != JSON_ARRAY) return bad(e, "messages", "'%s' must be an array", "messages");
    if (msgs->len == 0) return bad(e, "messages", "'%s' must not be empty", "messages");
    if (msgs->len > OPENAI_MAX_MESSAGES)
        return bad(e, "messages", "'%s' has too many messages", "messages");
    lm_buf text = {0};
    int rc = 0;
    for (size_t i = 0; i < msgs->len && rc == 0; i++) {
        const json_value *m = &msgs->items[i];
        enum chat_role role;
        if (m->kind != JSON_OBJECT) {
            rc = bad(e, "messages", "each of '%s' must be an object", "messages");
        } else if (role_of(json_get_str(m, "role", NULL), &role) != 0) {
            rc = bad(e, "messages.role",
                     "'%s' must be \"system\", \"developer\", \"user\" or \"assistant\"",
                     "messages.role");
        } else {
            text.len = 0;
            rc = read_content(json_get(m, "content"), role == CHAT_ROLE_ASSISTANT, &text, e);
            const char *s = lm_buf_cstr(&text);
            if (rc == 0 && i == 0 && role == CHAT_ROLE_SYSTEM)
                chat_set_system(&r->conv, s);
            else if (rc == 0)
                chat_add(&r->conv, role, s);
        }
    }
    lm_buf_free(&text);
    return rc;
}

/* A string, or an array of exactly one string (what the SDKs send). */
static int read_prompt(const json_value *body, openai_request *r, openai_error *e) {
    const json_value *p = json_get(body, "prompt");
    if (!p) return bad(e, "prompt", "'%s' is required", "prompt");
    if (p->kind == JSON_ARRAY && p->len == 1) p = &p->items[0];
    if (p->kind != JSON_STRING)
        return bad(e, "prompt", "'%s' must be a string (or an array of one string)", "prompt");
    if (check_text(p, "prompt", e)) return -1;
    if (p->len == 0) return bad(e, "prompt", "'%s' must not be empty", "prompt");
    r->prompt = lm_xstrndup(p->str, p->len);
    return 0;
}

static int add_stop(openai_request *r, const json_value *v, openai_error *e) {
    if (v->kind != JSON_STRING) return bad(e, "stop", "'%s' must be a string or strings", "stop");
    if (check_text(v, "stop", e)) return -1;
    if (v->len > OPENAI_MAX_STOP_LEN)
        return openai_fail(e, 400, INVALID, "stop", NULL, "a stop string is longer than %d bytes",
                           OPENAI_MAX_STOP_LEN);
    if (v->len == 0) return 0; /* matches nothing */
    r->stop[r->n_stop++] = lm_xstrndup(v->str, v->len);
    return 0;
}

static int read_stop(const json_value *body, openai_request *r, openai_error *e) {
    const json_value *v = json_get(body, "stop");
    if (!v || v->kind == JSON_NULL) return 0;
    if (v->kind != JSON_ARRAY) return add_stop(r, v, e);
    if (v->len > OPENAI_MAX_STOP)
        return openai_fail(e, 400, INVALID, "stop", NULL, "'stop' takes at most %d strings",
                           OPENAI_MAX_STOP);
    for (size_t i = 0; i < v->len; i++)
        if (add_stop(r, &v->items[i], e)) return -1;
    return 0;
}

static int read_model(const json_value *body, openai_request *r, openai_error *e) {
    const json_value *v = json_get(body, "model");
    if (!v || v->kind == JSON_NULL) return 0;
    if (v->kind != JSON_STRING) return bad(e, "model", "'%s' must be a string", "model");
    if (v->len > OPENAI_MAX_NAME || strlen(v->str) != v->len)
        return bad(e, "model", "'%s' is not a model name", "model");
    r->model = lm_xstrndup(v->str, v->len);
    return 0;
}

static int read_stream(const json_value *body, openai_request *r, openai_error *e) {
    if (read_bool(body, "stream", &r->stream, e)) return -1;
    const json_value *so = json_get(body, "stream_options");
    if (!so || so->kind == JSON_NULL) return 0;
    if (so->kind != JSON_OBJECT)
        return bad(e, "stream_options", "'%s' must be an object", "stream_options");
    const json_value *iu = json_get(so, "include_usage");
    if (iu && iu->kind != JSON_BOOL && iu->kind != JSON_NULL)
        return bad(e, "stream_options.include_usage", "'%s' must be a boolean",
                   "stream_options.include_usage");
    r->include_usage = iu && iu->kind == JSON_BOOL && iu->b;
    return 0;
}

static int read_sampling(const json_value *body, openai_request *r, openai_error *e) {
    sampler_params *sp = &r->sampling;
    double v, n = 1;
    double max_tokens = -1;
    if (read_num(body, "n", 1, 1e9, true, &n, e)) return -1;
    if (n != 1) return bad(e, "n", "'%s' must be 1: this server gives one choice", "n");
    if (read_num(body, "max_tokens", 1, 1 << 24, true, &max_tokens, e)) return -1;
    if (read_num(body, "max_completion_tokens", 1, 1 << 24, true, &max_tokens, e)) return -1;
    r->max_tokens = (int)max_tokens;
    v = sp->temperature;
    if (read_num(body, "temperature", 0, 100, false, &v, e)) return -1;
    sp->temperature = (float)v;
    v = sp->top_p;
    if (read_num(body, "top_p", 0, 1, false, &v, e)) return -1;
    sp->top_p = (float)v;
    v = sp->top_k;
    if (read_num(body, "top_k", 0, 1 << 24, true, &v, e)) return -1;
    sp->top_k = (int)v;
    v = sp->min_p;
    if (read_num(body, "min_p", 0, 1, false, &v, e)) return -1;
    sp->min_p = (float)v;
    v = sp->repeat_penalty;
    if (read_num(body, "repeat_penalty", 0.01, 100, false, &v, e)) return -1;
    sp->repeat_penalty = (float)v;
    v = (double)sp->seed;
    /* JSON numbers are doubles: seeds beyond 2^53 would not survive the trip */
    if (read_num(body, "seed", -9007199254740992.0, 9007199254740992.0, true, &v, e)) return -1;
    sp->seed = (uint64_t)(int64_t)v;
    return 0;
}

int openai_parse_request(enum openai_endpoint endpoint, const char *body, size_t len,
                         enum chat_template_kind tmpl, const sampler_params *defaults,
                         openai_request *out, openai_error *err) {
    memset(out, 0, sizeof *out);
    out->endpoint = endpoint;
    out->max_tokens = -1;
    out->sampling = *defaults;
    chat_init(&out->conv, tmpl);
    if (len > OPENAI_MAX_BODY)
        return openai_fail(err, 413, INVALID, NULL, "request_too_large",
                           "the request body is larger than %zu bytes", OPENAI_MAX_BODY);
    lm_error jerr = {{0}};
    json_value *v = json_parse(body, len, &jerr);
    int rc = 0;
    if (!v)
        rc = openai_fail(err, 400, INVALID, NULL, NULL, "the body is not valid JSON: %s", jerr.msg);
    else if (v->kind != JSON_OBJECT)
        rc = openai_fail(err, 400, INVALID, NULL, NULL, "the body must be a JSON object");
    else if (endpoint == OPENAI_CHAT)
        rc = read_messages(v, out, err);
    else
        rc = read_prompt(v, out, err);
    if (rc == 0) rc = read_model(v, out, err);
    if (rc == 0) rc = read_stream(v, out, err);
    if (rc == 0) rc = read_sampling(v, out, err);
    if (rc == 0) rc = read_stop(v, out, err);
    json_free(v);
    if (rc) openai_request_free(out);
    return rc;
}

void openai_request_free(openai_request *r) {
    chat_free(&r->conv);
    free(r->prompt);
    free(r->model);
    for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
    memset(r, 0, sizeof *r);
}

void openai_engine_request(const openai_request *r, engine_request *out) {
    if (r->endpoint == OPENAI_CHAT) {
        chat_build_request(&r->conv, out);
        for (int b = 0; b < out->n_blocks; b++) out->blocks[b].droppable = false;
    } else {
        memset(out, 0, sizeof *out);
        out->add_bos = true;
        engine_request_add_block(out, false);
        engine_request_add_text(out, SEG_MARKUP, r->prompt, strlen(r->prompt));
    }
    out->max_tokens = r->max_tokens;
    out->reply_reserve = 0;
    out->sampling = r->sampling;
}

/* ---- answers ---- */

void openai_write_error(lm_buf *b, const openai_error *e) {
    lm_buf_puts(b, "{\"error\":{\"message\":");
    json_write_str(b, e->message, strlen(e->message));
    lm_buf_puts(b, ",\"type\":");
    json_write_str(b, e->type ? e->type : INVALID, strlen(e->type ? e->type : INVALID));
    lm_buf_puts(b, ",\"param\":");
    if (e->param)
        json_write_str(b, e->param, strlen(e->param));
    else
        lm_buf_puts(b, "null");
    lm_buf_puts(b, ",\"code\":");
    if (e->code)
        json_write_str(b, e->code, strlen(e->code));
    else
        lm_buf_puts(b, "null");
    lm_buf_puts(b, "}}");
}

static void write_head(lm_buf *b, const openai_reply *r, bool chunk) {
    const char *object = r->endpoint == OPENAI_COMPLETION
                             ? "text_completion"
                             : (chunk ? "chat.completion.chunk" : "chat.completion");
    lm_buf_puts(b, "{\"id\":");
    json_write_str(b, r->id, strlen(r->id));
    lm_buf_printf(b, ",\"object\":\"%s\",\"created\":%lld,\"model\":", object, r->created);
    json_write_str(b, r->model, strlen(r->model));
    lm_buf_puts(b, ",\"system_fingerprint\":\"lmterm-" LMTERM_VERSION "\"");
}

static void write_finish_reason(lm_buf *b, const char *finish) {
    lm_buf_puts(b, "\"finish_reason\":");
    if (finish)
        lm_buf_printf(b, "\"%s\"", finish);
    else
        lm_buf_puts(b, "null");
}

static void write_usage(lm_buf *b, const openai_usage *u) {
    lm_buf_printf(b,
                  "\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d,"
                  "\"prompt_tokens_details\":{\"cached_tokens\":%d}}",
                  u->prompt_tokens, u->completion_tokens, u->prompt_tokens + u->completion_tokens,
                  u->cached_tokens);
}

static double per_second(int n, double ms) {
    return ms > 0 ? n * 1000.0 / ms : 0;
}

/* llama-server's timings: prompt_n counts the tokens evaluated, cache_n those reused. */
static void write_timings(lm_buf *b, const openai_usage *u) {
    int prompt_n = u->prompt_tokens - u->cached_tokens;
    int gen_n = u->completion_tokens;
    lm_buf_printf(b,
                  "\"timings\":{\"cache_n\":%d,\"prompt_n\":%d,\"prompt_ms\":%.3f,"
                  "\"prompt_per_token_ms\":%.3f,\"prompt_per_second\":%.3f,\"predicted_n\":%d,"
                  "\"predicted_ms\":%.3f,\"predicted_per_token_ms\":%.3f,"
                  "\"predicted_per_second\":%.3f}",
                  u->cached_tokens, prompt_n, u->prompt_ms, prompt_n ? u->prompt_ms / prompt_n : 0,
                  per_second(prompt_n, u->prompt_ms), gen_n, u->predicted_ms,
                  gen_n ? u->predicted_ms / gen_n : 0, per_second(gen_n, u->predicted_ms));
}

void openai_write_full(lm_buf *b, const openai_reply *r, const char *text, size_t len,
                       const char *finish, const openai_usage *u) {
    write_head(b, r, false);
    lm_buf_puts(b, ",\"choices\":[{\"index\":0,");
    if (r->endpoint == OPENAI_CHAT) {
        lm_buf_puts(b, "\"message\":{\"role\":\"assistant\",\"content\":");
        json_write_str(b, text, len);
        lm_buf_puts(b, "},");
    } else {
        lm_buf_puts(b, "\"text\":");
        json_write_str(b, text, len);
        lm_buf_puts(b, ",");
    }
    lm_buf_puts(b, "\"logprobs\":null,");
    write_finish_reason(b, finish);
    lm_buf_puts(b, "}],");
    write_usage(b, u);
    lm_buf_puts(b, ",");
    write_timings(b, u);
    lm_buf_puts(b, "}");
}

/* One chunk with one choice; text NULL: the chat's delta is empty. */
static void write_chunk(lm_buf *b, const openai_reply *r, bool first, const char *text, size_t len,
                        const char *finish) {
    lm_buf_puts(b, "data: ");
    write_head(b, r, true);
    lm_buf_puts(b, ",\"choices\":[{\"index\":0,");
    if (r->endpoint == OPENAI_CHAT) {
        lm_buf_puts(b, "\"delta\":{");
        if (first) lm_buf_puts(b, "\"role\":\"assistant\"");
        if (text) {
            if (first) lm_buf_puts(b, ",");
            lm_buf_puts(b, "\"content\":");
            json_write_str(b, text, len);
        }
        lm_buf_puts(b, "},");
    } else {
        lm_buf_puts(b, "\"text\":");
        json_write_str(b, text ? text : "", text ? len : 0);
        lm_buf_puts(b, ",");
    }
    lm_buf_puts(b, "\"logprobs\":null,");
    write_finish_reason(b, finish);
    lm_buf_puts(b, "}]");
}

void openai_write_delta(lm_buf *b, const openai_reply *r, bool first, const char *text,
                        size_t len) {
    write_chunk(b, r, first, text, len, NULL);
    lm_buf_puts(b, "}\n\n");
}

void openai_write_finish(lm_buf *b, const openai_reply *r, const char *finish,
                         const openai_usage *u, bool include_usage) {
    write_chunk(b, r, false, NULL, 0, finish);
    lm_buf_puts(b, ",");
    write_timings(b, u);
    lm_buf_puts(b, "}\n\n");
    if (include_usage) {
        lm_buf_puts(b, "data: ");
        write_head(b, r, true);
        lm_buf_puts(b, ",\"choices\":[],");
        write_usage(b, u);
        lm_buf_puts(b, "}\n\n");
    }
    lm_buf_puts(b, "data: [DONE]\n\n");
}

void openai_write_stream_error(lm_buf *b, const openai_error *e) {
    lm_buf_puts(b, "data: ");
    openai_write_error(b, e);
    lm_buf_puts(b, "\n\ndata: [DONE]\n\n");
}

void openai_write_models(lm_buf *b, const char *const *ids, int n, int loaded, long long created,
                         int n_ctx) {
    lm_buf_puts(b, "{\"object\":\"list\",\"data\":[");
    for (int i = 0; i < n; i++) {
        lm_buf_puts(b, i ? ",{\"id\":" : "{\"id\":");
        json_write_str(b, ids[i], strlen(ids[i]));
        lm_buf_printf(b, ",\"object\":\"model\",\"created\":%lld,\"owned_by\":\"lmterm\"", created);
        if (i == loaded)
            lm_buf_printf(b, ",\"meta\":{\"n_ctx\":%d,\"loaded\":true}}", n_ctx);
        else
            lm_buf_puts(b, ",\"meta\":{\"loaded\":false}}");
    }
    lm_buf_puts(b, "]}");
}

/* ---- stop strings ---- */

/* The longest tail of s[0..n) that is a proper prefix of a stop string. */
static size_t partial_tail(const char *s, size_t n, char *const *stop, int n_stop) {
    size_t best = 0;
    for (int i = 0; i < n_stop; i++) {
        size_t sl = strlen(stop[i]);
        for (size_t k = sl - 1 < n ? sl - 1 : n; k > best; k--)
            if (memcmp(s + n - k, stop[i], k) == 0) {
                best = k;
                break;
            }
    }
    return best;
}

bool openai_stopper_feed(openai_stopper *s, char *const *stop, int n_stop, const char *text,
                         size_t len, lm_buf *out) {
    if (s->stopped) return true;
    lm_buf_append(&s->held, text, len);
    const char *h = lm_buf_cstr(&s->held);
    size_t first = s->held.len;
    for (int i = 0; i < n_stop; i++) {
        const char *at = memmem(h, s->held.len, stop[i], strlen(stop[i]));
        if (at && (size_t)(at - h) < first) first = (size_t)(at - h);
    }
    if (first < s->held.len) {
        lm_buf_append(out, h, first);
        s->held.len = 0;
        s->stopped = true;
        return true;
    }
    size_t keep = partial_tail(h, s->held.len, stop, n_stop);
    size_t send = s->held.len - keep;
    lm_buf_append(out, h, send);
    memmove(s->held.data, s->held.data + send, keep);
    s->held.len = keep;
    return false;
}

void openai_stopper_flush(openai_stopper *s, lm_buf *out) {
    if (!s->stopped) lm_buf_append(out, s->held.data, s->held.len);
    s->held.len = 0;
}

void openai_stopper_free(openai_stopper *s) {
    lm_buf_free(&s->held);
    memset(s, 0, sizeof *s);
}

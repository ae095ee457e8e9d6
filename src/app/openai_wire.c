/* openai_wire: see include/app/openai_wire.h. */
#include "openai_wire.h"

#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the request ---- */

static void put_message(lm_buf *b, const char *role, const char *content, bool first) {
    lm_buf_printf(b, "%s{\"role\": \"%s\", \"content\": ", first ? "" : ", ", role);
    json_write_str(b, content ? content : "", content ? strlen(content) : 0);
    lm_buf_puts(b, "}");
}

void openai_request_body(const chat *c, const char *model, const backend_params *p, lm_buf *out) {
    const sampler_params *s = &p->sampling;
    lm_buf_puts(out, "{\"model\": ");
    json_write_str(out, model, strlen(model));
    lm_buf_puts(out, ", \"stream\": true, \"stream_options\": {\"include_usage\": true}");
    lm_buf_printf(out, ", \"temperature\": %.9g, \"top_p\": %.9g", (double)s->temperature,
                  (double)s->top_p);
    /* llama.cpp, vLLM and lmterm serve take these; others ignore them */
    lm_buf_printf(out, ", \"top_k\": %d, \"min_p\": %.9g, \"repeat_penalty\": %.9g", s->top_k,
                  (double)s->min_p, (double)s->repeat_penalty);
    lm_buf_printf(out, ", \"seed\": %llu", (unsigned long long)(s->seed & 0x7fffffffffffffffull));
    if (p->max_tokens > 0) lm_buf_printf(out, ", \"max_tokens\": %d", p->max_tokens);
    lm_buf_puts(out, ", \"messages\": [");
    bool first = true;
    if (c->system_prompt && *c->system_prompt) {
        put_message(out, "system", c->system_prompt, first);
        first = false;
    }
    for (size_t i = 0; i < c->n; i++, first = false)
        put_message(out,
                    c->msgs[i].role == CHAT_ROLE_ASSISTANT ? "assistant"
                    : c->msgs[i].role == CHAT_ROLE_SYSTEM  ? "system"
                                                           : "user",
                    c->msgs[i].content, first);
    lm_buf_puts(out, "]}");
}

/* ---- error bodies ---- */

/* Printable, one line, at most size - 1 bytes (UTF-8 kept whole). */
static void clean_line(const char *text, size_t len, char *out, size_t size) {
    size_t o = 0, i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t')) i++;
    for (; i < len && o + 1 < size; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (ch == '\n' || ch == '\r') break;
        if (ch >= 0x80 && ch < 0xC0 && o == 0) continue;
        if (ch >= 0xC0) { /* a lead byte: its character only when it fits */
            size_t need = ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : 2;
            if (o + need >= size) break;
        }
        out[o++] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
    }
    while (o > 0 && out[o - 1] == ' ') o--;
    out[o] = 0;
}

static const char *message_of(const json_value *v) {
    const json_value *e = json_get(v, "error");
    if (e && e->kind == JSON_STRING) return e->str;
    if (e && e->kind == JSON_OBJECT) return json_get_str(e, "message", NULL);
    const char *m = json_get_str(v, "message", NULL);
    return m ? m : json_get_str(v, "detail", NULL);
}

void openai_error_message(const char *body, size_t len, char *out, size_t size) {
    out[0] = 0;
    if (!body || !len) return;
    lm_error err;
    json_value *v = json_parse(body, len, &err);
    const char *m = v ? message_of(v) : NULL;
    if (m)
        clean_line(m, strlen(m), out, size);
    else if (!v)
        clean_line(body, len, out, size);
    json_free(v);
}

/* ---- the stream ---- */

static void read_usage(openai_chunk_state *st, const json_value *v) {
    const json_value *u = json_get(v, "usage");
    if (u && u->kind == JSON_OBJECT) {
        st->prompt_tokens = (int)json_get_num(u, "prompt_tokens", st->prompt_tokens);
        st->completion_tokens = (int)json_get_num(u, "completion_tokens", st->completion_tokens);
    }
    const json_value *t = json_get(v, "timings");
    if (t && t->kind == JSON_OBJECT) {
        st->prompt_n = (int)json_get_num(t, "prompt_n", st->prompt_n);
        st->prompt_per_second = json_get_num(t, "prompt_per_second", st->prompt_per_second);
        st->predicted_per_second =
            json_get_num(t, "predicted_per_second", st->predicted_per_second);
    }
}

int openai_parse_chunk(openai_chunk_state *st, const char *data, size_t len, lm_buf *out) {
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        st->done = true;
        return 0;
    }
    lm_error err;
    json_value *v = json_parse(data, len, &err);
    if (!v || v->kind != JSON_OBJECT) {
        snprintf(st->error, sizeof st->error, "the server sent malformed JSON in its stream (%.200s)",
                 v ? "not an object" : err.msg);
        json_free(v);
        return 1;
    }
    const char *m = json_get(v, "error") ? message_of(v) : NULL;
    if (json_get(v, "error")) {
        char msg[256];
        clean_line(m ? m : "", m ? strlen(m) : 0, msg, sizeof msg);
        snprintf(st->error, sizeof st->error, "the server stopped with an error: %s",
                 msg[0] ? msg : "(no message)");
        json_free(v);
        return 1;
    }
    const json_value *choices = json_get(v, "choices");
    const json_value *c0 = choices && choices->kind == JSON_ARRAY && choices->len
                               ? &choices->items[0]
                               : NULL;
    const json_value *delta = c0 ? json_get(c0, "delta") : NULL;
    const json_value *content = delta ? json_get(delta, "content") : NULL;
    if (content && content->kind == JSON_STRING) lm_buf_append(out, content->str, content->len);
    const char *finish = c0 ? json_get_str(c0, "finish_reason", NULL) : NULL;
    if (finish) snprintf(st->finish, sizeof st->finish, "%s", finish);
    read_usage(st, v);
    json_free(v);
    return 0;
}

/* ---- the model list ---- */

int openai_parse_models(const char *body, size_t len, char ***ids, size_t *n, lm_error *err) {
    *ids = NULL;
    *n = 0;
    lm_error perr;
    json_value *v = json_parse(body, len, &perr);
    if (!v) return lm_fail(err, "the server's model list is not JSON (%s)", perr.msg);
    const json_value *data = json_get(v, "data");
    if (!data || data->kind != JSON_ARRAY) {
        json_free(v);
        return lm_fail(err, "the server's model list has no \"data\" array");
    }
    *ids = lm_xcalloc(data->len + 1, sizeof **ids);
    for (size_t i = 0; i < data->len; i++) {
        const char *id = json_get_str(&data->items[i], "id", NULL);
        if (id && *id && strlen(id) < 1000) (*ids)[(*n)++] = lm_xstrdup(id);
    }
    json_free(v);
    return 0;
}

/* fuzz_request: the server's request reader (openai_parse_request) on
 * arbitrary bodies, for both endpoints.
 *
 * Besides "no crash, no leak": a rejected body has a status (400 or 413) and
 * a message, and its error object is JSON that parses back; an accepted one
 * respects the limits (stop strings, messages), holds only valid UTF-8
 * without NUL bytes, gives an engine request, and an answer written with its
 * text parses back to that text. The stop-string holder, fed the text in
 * pieces, sends out exactly the text up to the first stop string.
 *
 * libFuzzer: -max_len=16384 -timeout=10
 */
#include "json.h"
#include "openai.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(bool ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "fuzz_request: check failed: %s\n", what);
        abort();
    }
}

static void check_error(const openai_error *e) {
    check((e->status == 400 || e->status == 413) && e->message[0],
          "an error has a status and a message");
    lm_buf b = {0};
    openai_write_error(&b, e);
    lm_error err;
    json_value *v = json_parse(b.data, b.len, &err);
    check(v && json_get(v, "error"), "the error object parses back");
    json_free(v);
    lm_buf_free(&b);
}

/* The text up to the first stop string, as the holder must send it. */
static size_t expected_cut(const char *text, size_t len, char *const *stop, int n_stop) {
    size_t cut = len;
    for (int i = 0; i < n_stop; i++) {
        const char *at = memmem(text, len, stop[i], strlen(stop[i]));
        if (at && (size_t)(at - text) < cut) cut = (size_t)(at - text);
    }
    return cut;
}

static void check_stopper(const char *text, char *const *stop, int n_stop) {
    size_t len = strlen(text), cut = expected_cut(text, len, stop, n_stop);
    openai_stopper s = {0};
    lm_buf out = {0};
    bool stopped = false;
    for (size_t at = 0; at < len && !stopped;) { /* pieces of 1..3 bytes */
        size_t n = 1 + (unsigned char)text[at] % 3;
        if (n > len - at) n = len - at;
        stopped = openai_stopper_feed(&s, stop, n_stop, text + at, n, &out);
        at += n;
    }
    if (!stopped) openai_stopper_flush(&s, &out);
    check(stopped == (cut < len), "the holder stops exactly when a stop string appears");
    check(out.len == cut && memcmp(out.data ? out.data : "", text, cut) == 0,
          "the holder sends the text up to the stop string");
    openai_stopper_free(&s);
    lm_buf_free(&out);
}

static void check_accepted(const openai_request *r) {
    check(r->n_stop >= 0 && r->n_stop <= OPENAI_MAX_STOP, "at most 4 stop strings");
    for (int i = 0; i < r->n_stop; i++)
        check(r->stop[i][0] && strlen(r->stop[i]) <= OPENAI_MAX_STOP_LEN,
              "stop strings are bounded");
    check(r->conv.n <= OPENAI_MAX_MESSAGES, "messages are bounded");
    const char *text = r->endpoint == OPENAI_CHAT
                           ? (r->conv.n ? r->conv.msgs[r->conv.n - 1].content : "")
                           : r->prompt;
    check(text && utf8_valid(text, strlen(text)), "the text is valid UTF-8");
    engine_request er;
    openai_engine_request(r, &er);
    check(er.n_blocks > 0, "the engine request has blocks");
    engine_request_free(&er);

    openai_reply rep = {r->endpoint, "x-1", r->model ? r->model : "m", 1};
    openai_usage u = {.prompt_tokens = 3, .completion_tokens = 2};
    lm_buf b = {0};
    openai_write_full(&b, &rep, text, strlen(text), "stop", &u);
    lm_error err;
    json_value *v = json_parse(b.data, b.len, &err);
    check(v != NULL, "the answer parses back");
    const json_value *ch = json_get(v, "choices");
    check(ch && ch->kind == JSON_ARRAY && ch->len == 1, "one choice");
    const json_value *c0 = &ch->items[0];
    const char *back = r->endpoint == OPENAI_CHAT
                           ? json_get_str(json_get(c0, "message"), "content", NULL)
                           : json_get_str(c0, "text", NULL);
    check(back && strcmp(back, text) == 0, "the answer's text survives the trip");
    json_free(v);
    lm_buf_free(&b);
    check_stopper(text, r->stop, r->n_stop);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sampler_params sp = sampler_default_params();
    for (int ep = 0; ep < 2; ep++) {
        openai_request r;
        openai_error e = {0};
        if (openai_parse_request((enum openai_endpoint)ep, (const char *)data, size,
                                 ep ? CHAT_TEMPLATE_LLAMA3 : CHAT_TEMPLATE_PHI3, &sp, &r,
                                 &e) != 0) {
            check_error(&e);
            continue;
        }
        check_accepted(&r);
        openai_request_free(&r);
    }
    return 0;
}

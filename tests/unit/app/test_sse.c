/* SSE reader tests: every stream is fed whole, byte by byte and in every
 * two-piece split, and must give the same events each way. */
#include "sse.h"
#include "test.h"

#include <stdlib.h>

typedef struct seen {
    lm_buf all; /* "event|data\n" per event */
    int n;
    int stop_after; /* > 0: return 7 from that event on */
} seen;

static int on_event(void *user, const char *event, const char *data, size_t len) {
    seen *s = user;
    lm_buf_printf(&s->all, "%s|", event);
    lm_buf_append(&s->all, data, len);
    lm_buf_puts(&s->all, "\n");
    s->n++;
    return s->stop_after && s->n >= s->stop_after ? 7 : 0;
}

/* Feeds text in pieces of at most step bytes (0: whole); the events as text. */
static char *feed(const char *text, size_t len, size_t step, size_t split) {
    sse_parser p;
    sse_init(&p);
    seen s = {0};
    lm_error err;
    if (split) {
        CHECK_EQ_INT(sse_feed(&p, text, split, on_event, &s, &err), 0);
        CHECK_EQ_INT(sse_feed(&p, text + split, len - split, on_event, &s, &err), 0);
    } else {
        for (size_t at = 0; at < len;) {
            size_t n = step && len - at > step ? step : len - at;
            CHECK_EQ_INT(sse_feed(&p, text + at, n, on_event, &s, &err), 0);
            at += n;
        }
    }
    sse_free(&p);
    char *out = lm_xstrdup(lm_buf_cstr(&s.all));
    lm_buf_free(&s.all);
    return out;
}

static void check_stream(const char *text, const char *want) {
    size_t len = strlen(text);
    char *whole = feed(text, len, 0, 0);
    CHECK_EQ_STR(whole, want);
    char *bytes = feed(text, len, 1, 0);
    CHECK_EQ_STR(bytes, want);
    for (size_t split = 1; split < len; split++) {
        char *two = feed(text, len, 0, split);
        CHECK_MSG(strcmp(two, want) == 0, "split at %zu: \"%s\"", split, two);
        free(two);
    }
    free(whole);
    free(bytes);
}

TEST(sse_data_lines_and_done) {
    check_stream("data: {\"a\":1}\n\ndata: [DONE]\n\n", "|{\"a\":1}\n|[DONE]\n");
}

TEST(sse_crlf_and_cr_line_endings) {
    check_stream("data: one\r\n\r\ndata: two\r\rdata:three\n\n", "|one\n|two\n|three\n");
}

TEST(sse_comments_and_unknown_fields_ignored) {
    check_stream(": keep-alive\n\nid: 4\nretry: 10\ndata: x\nfoo: bar\n\n:ping\n\n", "|x\n");
}

TEST(sse_multiline_data_and_event_type) {
    check_stream("event: error\ndata: a\ndata:\ndata:  b\n\n", "error|a\n\n b\n");
}

TEST(sse_bom_and_field_without_colon) {
    check_stream("\xEF\xBB\xBF"
                 "data\n\ndata: y\n\n",
                 "|\n|y\n");
}

TEST(sse_utf8_split_across_chunks) {
    /* "é€😀" cut inside each character comes back whole */
    check_stream("data: {\"t\":\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"}\n\n",
                 "|{\"t\":\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"}\n");
}

TEST(sse_unfinished_event_is_pending) {
    sse_parser p;
    sse_init(&p);
    seen s = {0};
    lm_error err;
    CHECK_EQ_INT(sse_feed(&p, "data: half", 10, on_event, &s, &err), 0);
    CHECK(sse_pending(&p));
    CHECK_EQ_INT(s.n, 0);
    CHECK_EQ_INT(sse_feed(&p, "\n\n", 2, on_event, &s, &err), 0);
    CHECK(!sse_pending(&p));
    CHECK_EQ_INT(s.n, 1);
    sse_free(&p);
    lm_buf_free(&s.all);
}

TEST(sse_callback_stops_the_feed) {
    sse_parser p;
    sse_init(&p);
    seen s = {.stop_after = 1};
    lm_error err;
    const char *t = "data: 1\n\ndata: 2\n\n";
    CHECK_EQ_INT(sse_feed(&p, t, strlen(t), on_event, &s, &err), 7);
    CHECK_EQ_INT(s.n, 1);
    sse_free(&p);
    lm_buf_free(&s.all);
}

/* Feeds "data: " and then up to 20 blocks of 1 MiB; the feed's result. */
static int feed_big(sse_parser *p, char *block, size_t size, seen *s, lm_error *err) {
    int rc = sse_feed(p, "data: ", 6, on_event, s, err);
    for (int i = 0; rc == 0 && i < 20; i++) rc = sse_feed(p, block, size, on_event, s, err);
    return rc;
}

TEST(sse_event_too_large_is_refused) {
    sse_parser p;
    seen s = {0};
    lm_error err = {{0}};
    size_t size = 1u << 20;
    char *big = lm_xmalloc(size);
    memset(big, 'x', size);
    sse_init(&p); /* one endless line */
    CHECK_EQ_INT(feed_big(&p, big, size, &s, &err), -1);
    CHECK(strstr(err.msg, "16 MiB") != NULL);
    sse_free(&p);
    memcpy(big, "data: ", 6); /* many data lines adding up past the limit */
    big[size - 1] = '\n';
    sse_init(&p);
    CHECK_EQ_INT(feed_big(&p, big, size, &s, &err), -1);
    CHECK_EQ_INT(s.n, 0);
    free(big);
    sse_free(&p);
    lm_buf_free(&s.all);
}

/* sse: see include/app/sse.h. The parser keeps the line it is reading and
 * the event it is building, so a chunk boundary anywhere is just a pause. */
#include "sse.h"

#include <stdio.h>
#include <string.h>

void sse_init(sse_parser *p) {
    memset(p, 0, sizeof *p);
}

void sse_free(sse_parser *p) {
    lm_buf_free(&p->line);
    lm_buf_free(&p->data);
    memset(p, 0, sizeof *p);
}

bool sse_pending(const sse_parser *p) {
    return p->line.len > 0 || p->has_data;
}

static int dispatch(sse_parser *p, sse_event_fn fn, void *user) {
    int rc = 0;
    if (p->has_data) rc = fn(user, p->event, lm_buf_cstr(&p->data), p->data.len);
    p->data.len = 0;
    p->has_data = false;
    p->event[0] = 0;
    return rc;
}

/* One whole line (without its ending). */
static int take_line(sse_parser *p, sse_event_fn fn, void *user, lm_error *err) {
    const char *line = lm_buf_cstr(&p->line);
    size_t len = p->line.len;
    if (len == 0) return dispatch(p, fn, user);
    if (line[0] == ':') return 0; /* a comment: keep-alive */
    const char *colon = memchr(line, ':', len);
    size_t name_len = colon ? (size_t)(colon - line) : len;
    const char *value = colon ? colon + 1 : line + len;
    if (colon && *value == ' ') value++;
    size_t value_len = len - (size_t)(value - line);
    if (name_len == 4 && memcmp(line, "data", 4) == 0) {
        if (p->data.len + value_len + 1 > SSE_MAX_EVENT)
            return lm_fail(err, "the server sent an event larger than %u MiB", SSE_MAX_EVENT >> 20);
        if (p->has_data) lm_buf_append(&p->data, "\n", 1);
        lm_buf_append(&p->data, value, value_len);
        p->has_data = true;
    } else if (name_len == 5 && memcmp(line, "event", 5) == 0) {
        snprintf(p->event, sizeof p->event, "%.*s", (int)value_len, value);
    } /* id, retry and unknown fields: nothing to do for a one-shot stream */
    return 0;
}

int sse_feed(sse_parser *p, const char *buf, size_t n, sse_event_fn fn, void *user, lm_error *err) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (!p->started) { /* skip a UTF-8 byte-order mark, byte by byte */
            static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
            if (p->line.len < 3 && c == bom[p->line.len]) {
                lm_buf_append(&p->line, (const char *)&c, 1);
                if (p->line.len == 3) p->line.len = 0, p->started = true;
                continue;
            }
            p->started = true;
        }
        if (c == '\n' && p->after_cr) {
            p->after_cr = false;
            continue;
        }
        p->after_cr = c == '\r';
        if (c == '\n' || c == '\r') {
            int rc = take_line(p, fn, user, err);
            p->line.len = 0;
            if (rc) return rc;
            continue;
        }
        size_t run = 1; /* the bytes up to the next line ending, in one go */
        while (i + run < n && buf[i + run] != '\n' && buf[i + run] != '\r') run++;
        if (p->line.len + run > SSE_MAX_EVENT)
            return lm_fail(err, "the server sent a line longer than %u MiB", SSE_MAX_EVENT >> 20);
        lm_buf_append(&p->line, buf + i, run);
        i += run - 1;
    }
    return 0;
}

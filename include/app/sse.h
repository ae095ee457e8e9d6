/* sse: an incremental reader of server-sent events (the text/event-stream
 * format OpenAI-compatible servers stream replies in). Bytes go in as they
 * come off the network, split anywhere, even inside a line ending or a UTF-8
 * character; whole events come out. Lines end with LF, CRLF or CR; a line
 * starting with ':' is a comment; "data:" lines are joined with '\n'; an
 * empty line ends an event; an event without data is not one. */
#ifndef LMTERM_SSE_H
#define LMTERM_SSE_H

#include "util.h"

#define SSE_MAX_EVENT (16u << 20) /* bytes of one event's data */

typedef struct sse_parser {
    lm_buf line;     /* the line being read */
    lm_buf data;     /* the event being read */
    bool has_data;   /* a data field was seen (it may be empty) */
    bool after_cr;   /* the last byte was CR: an LF next ends nothing */
    bool started;    /* past a leading byte-order mark */
    char event[64];  /* the event field, "" for the default "message" */
} sse_parser;

/* Called for each event: its type ("" when none was given) and data
 * (NUL-terminated, len bytes). Returns 0 to go on; nonzero stops the feed,
 * which returns that value. */
typedef int (*sse_event_fn)(void *user, const char *event, const char *data, size_t len);

void sse_init(sse_parser *p);
void sse_free(sse_parser *p);
/* Reads n bytes. Returns 0, the callback's nonzero value, or -1 with err
 * when an event grows past SSE_MAX_EVENT. */
int sse_feed(sse_parser *p, const char *buf, size_t n, sse_event_fn fn, void *user, lm_error *err);
/* True when bytes of an unfinished event are held (the stream ended mid-event). */
bool sse_pending(const sse_parser *p);

#endif

/* http: a small libcurl client for the app layer (the Hugging Face hub and
 * the OpenAI-compatible remote backend share it).
 *
 * One call performs one request, redirects included, on the calling thread:
 * GET, HEAD or POST with a body, extra headers, an optional bearer token,
 * connect and idle timeouts, Range resume, callbacks for the response head,
 * each piece of the body and progress, and a cancel flag that stops the
 * transfer within 100 ms. TLS is verified; proxies come from libcurl's
 * environment handling (http_proxy, https_proxy, no_proxy).
 *
 * Redirects are followed here rather than by libcurl so that the bearer token
 * (and any Authorization header among the extra headers) is dropped once a
 * redirect leaves the first scheme, host and port, as huggingface_hub does for
 * its CDN, and so that X-Linked-Etag / X-Linked-Size of the first hop reach
 * the caller. The token never appears in error text. */
#ifndef LMTERM_HTTP_H
#define LMTERM_HTTP_H

#include "util.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why a request failed; http_result.kind. */
enum http_error_kind {
    HTTP_OK = 0,
    HTTP_ERR_DNS,       /* the host name (or proxy) does not resolve */
    HTTP_ERR_CONNECT,   /* refused, unreachable */
    HTTP_ERR_TIMEOUT,   /* connect timeout, or idle longer than idle_timeout_s */
    HTTP_ERR_TLS,       /* handshake or certificate */
    HTTP_ERR_STATUS,    /* the final response was 4xx or 5xx */
    HTTP_ERR_CLOSED,    /* the connection ended before the body did */
    HTTP_ERR_TOO_LARGE, /* a buffered body went past max_body */
    HTTP_ERR_CANCELLED, /* *cancel became true */
    HTTP_ERR_CALLBACK,  /* a callback returned nonzero; its err is the message */
    HTTP_ERR_OTHER
};

/* The final response's status line and the headers the callers use. */
typedef struct http_head {
    long status;            /* 200, 206, 404 ... */
    char reason[64];        /* "Not Found" (may be empty under HTTP/2) */
    char etag[256];         /* ETag of the final response, quotes kept */
    char linked_etag[256];  /* X-Linked-Etag of any hop (the hub's sha256 for LFS files) */
    int64_t linked_size;    /* X-Linked-Size of any hop, -1 when absent */
    int64_t content_length; /* -1 when absent */
    char content_type[128];
    bool has_range; /* Content-Range: bytes START-END/TOTAL was present */
    uint64_t range_start;
    int64_t range_total; /* -1 for "*" */
    char url[1024];      /* the URL that answered (after redirects) */
    lm_buf raw;          /* every header line of the final response, "Name: value\r\n" */
} http_head;

/* Value of header name (case-insensitive) in the final response into out
 * (truncated to size); false when absent. */
bool http_head_find(const http_head *h, const char *name, char *out, size_t size);

/* Called once for the final (non-redirect) response before any body.
 * Returns 0 to go on; nonzero stops the request (fill err). */
typedef int (*http_head_fn)(void *user, const http_head *head, lm_error *err);
/* Each piece of a 2xx body as it arrives. Returns 0 to go on; nonzero stops
 * the request with err as the message (a full disk, say). */
typedef int (*http_body_fn)(void *user, const char *data, size_t n, lm_error *err);
/* Bytes of this response's body so far and its length (-1: unknown; a Range
 * response counts from its first byte). Called often: rate-limit in it. */
typedef void (*http_progress_fn)(void *user, uint64_t done, int64_t total);

typedef struct http_request {
    const char *method; /* "GET" (NULL), "HEAD", "POST", or another verb with a body */
    const char *url;
    const char *const *headers; /* "Name: value" lines, NULL-terminated; may be NULL */
    const char *bearer;         /* sent as Authorization: Bearer; NULL or "" for none */
    const char *body;           /* request body (POST) */
    size_t body_len;
    const char *content_type;  /* of the body; "application/json" when NULL */
    uint64_t range_from;       /* > 0: ask for bytes range_from.. (Range: bytes=N-) */
    long connect_timeout_ms;   /* 0: 10 s */
    long idle_timeout_s;       /* no byte for this long stops it; 0: 60 s; < 0: never */
    long total_timeout_s;      /* 0: no limit */
    int max_redirects;         /* 0: 10; < 0: none followed */
    const atomic_bool *cancel; /* checked at least every 50 ms */
    http_head_fn on_head;
    http_body_fn on_body; /* NULL: the body is buffered into http_result.body */
    http_progress_fn on_progress;
    void *user;
    size_t max_body;        /* cap on a buffered body (on_body NULL); 0: 16 MiB */
    const char *user_agent; /* NULL: "lmterm/VERSION" */
} http_request;

typedef struct http_result {
    enum http_error_kind kind;
    http_head head;    /* of the final response (status 0 when none came) */
    lm_buf body;       /* the buffered body (on_body NULL), or the first 16 KiB
                          of an error response's body (4xx/5xx) */
    uint64_t received; /* body bytes of the final response */
    double seconds;
} http_result;

/* Performs the request. 0 on a 1xx-3xx final response (3xx only when
 * redirects are off or exhausted), 2xx included; -1 otherwise with res->kind
 * and one line in err: "cannot connect to 127.0.0.1:9: Connection refused",
 * "cannot resolve host example.invalid", "no answer from host within 10 s",
 * "no data from host for 30 s", "TLS error with host: ...",
 * "HTTP 404 (Not Found) from host", "cancelled", or the callback's own error.
 * res is always filled (free it with http_result_free). */
int http_perform(const http_request *req, http_result *res, lm_error *err);
void http_result_free(http_result *res);

/* Convenience: GET url into res->body (max_body cap), bearer may be NULL. */
int http_get(const char *url, const char *bearer, const atomic_bool *cancel, http_result *res,
             lm_error *err);

/* Percent-encodes s for a URL path: unreserved characters and those in keep
 * ("/" for a path) stay. Caller frees. */
char *http_escape(const char *s, const char *keep);

/* A short name of an error kind ("timeout"), for logs and tests. */
const char *http_error_name(enum http_error_kind kind);

#endif

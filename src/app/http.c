/* http: one request at a time on libcurl's multi interface, so that the
 * cancel flag is looked at every 50 ms whatever the network does, and with
 * redirects followed here so that credentials stay with the first origin. */
#include "http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef LMTERM_VERSION
#define LMTERM_VERSION "0"
#endif

#define HTTP_DEFAULT_CONNECT_MS 10000L
#define HTTP_DEFAULT_IDLE_S 60L
#define HTTP_DEFAULT_MAX_BODY ((size_t)16 << 20)
#define HTTP_ERROR_BODY_MAX ((size_t)16 << 10)
#define HTTP_RAW_HEADERS_MAX ((size_t)64 << 10)
#define HTTP_POLL_MS 50

/* curl_global_init is not thread-safe before libcurl 7.84: run it once. */
static pthread_once_t http_once = PTHREAD_ONCE_INIT;
static void http_global_init(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

const char *http_error_name(enum http_error_kind kind) {
    static const char *const names[] = {"ok",        "dns",      "connect", "timeout",
                                        "tls",       "status",   "closed",  "too large",
                                        "cancelled", "callback", "other"};
    return (unsigned)kind < sizeof names / sizeof names[0] ? names[kind] : "?";
}

/* ---- URLs ---- */

/* "host" or "host:port" of url, without user info, path or query (which may
 * carry secrets), for error text. */
static void http_url_host(const char *url, char *out, size_t size) {
    snprintf(out, size, "the server");
    CURLU *u = curl_url();
    if (!u) return;
    char *host = NULL, *port = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK)
            snprintf(out, size, "%s:%s", host, port);
        else
            snprintf(out, size, "%s", host);
    }
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
}

/* "scheme://host:port" with the scheme's default port filled in. */
static bool http_url_origin(const char *url, char *out, size_t size) {
    CURLU *u = curl_url();
    if (!u) return false;
    char *scheme = NULL, *host = NULL, *port = NULL;
    bool ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK;
    if (ok) {
        for (char *p = host; *p; p++) *p = (char)tolower((unsigned char)*p);
        snprintf(out, size, "%s://%s:%s", scheme, host, port);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return ok;
}

char *http_escape(const char *s, const char *keep) {
    lm_buf b = {0};
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || strchr("-._~", *p) || (keep && *p && strchr(keep, *p)))
            lm_buf_append(&b, p, 1);
        else
            lm_buf_printf(&b, "%%%02X", *p);
    }
    char *out = lm_xstrdup(lm_buf_cstr(&b));
    lm_buf_free(&b);
    return out;
}

/* ---- headers ---- */

bool http_head_find(const http_head *h, const char *name, char *out, size_t size) {
    size_t nlen = strlen(name);
    const char *p = h->raw.data, *end = p ? p + h->raw.len : NULL;
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        if ((size_t)(eol - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            if (size) snprintf(out, size, "%.*s", (int)(ve - v), v);
            return true;
        }
        p = eol + 1;
    }
    return false;
}

/* State of one hop (one request/response) of a call. */
typedef struct http_hop {
    const http_request *req;
    http_result *res;
    lm_error *cb_err;  /* a callback's message */
    bool headers_done; /* the blank line of a final response was seen */
    bool head_sent;    /* on_head was called (trailers end with a blank line too) */
    bool follow;       /* this response is a redirect that will be followed */
    bool has_location;
    bool stopped; /* a callback or the body cap stopped the transfer */
    enum http_error_kind stop_kind;
    bool redirects_left;
    double last_activity; /* lm_now() of the last header or body byte */
    bool idle_expired;
} http_hop;

static void http_head_reset_response(http_head *h) {
    h->status = 0;
    h->reason[0] = h->etag[0] = h->content_type[0] = 0;
    h->content_length = -1;
    h->has_range = false;
    h->range_start = 0;
    h->range_total = -1;
    h->raw.len = 0;
}

static void http_copy_value(char *dst, size_t size, const char *v, size_t n) {
    if (n >= size) n = size - 1;
    memcpy(dst, v, n);
    dst[n] = 0;
}

static void http_parse_content_range(http_head *h, const char *v) {
    /* "bytes START-END/TOTAL", the total may be "*" */
    unsigned long long start, end;
    char total[32];
    if (strncasecmp(v, "bytes ", 6) == 0 &&
        sscanf(v + 6, "%llu-%llu/%31s", &start, &end, total) == 3) {
        h->has_range = true;
        h->range_start = start;
        h->range_total = total[0] == '*' ? -1 : strtoll(total, NULL, 10);
    }
}

static int64_t http_parse_size(const char *v) {
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    return errno || end == v || n < 0 ? -1 : (int64_t)n;
}

static void http_header_line(http_hop *hop, const char *line, size_t n) {
    http_head *h = &hop->res->head;
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        http_head_reset_response(h);
        const char *sp = memchr(line, ' ', n);
        if (sp) {
            h->status = strtol(sp + 1, NULL, 10);
            const char *rs = memchr(sp + 1, ' ', n - (size_t)(sp + 1 - line));
            if (rs)
                http_copy_value(h->reason, sizeof h->reason, rs + 1, n - (size_t)(rs + 1 - line));
        }
        hop->has_location = false;
        return;
    }
    if (n == 0) { /* the end of this response's headers */
        if (h->status >= 100 && h->status < 200) return;
        bool redirect = h->status == 301 || h->status == 302 || h->status == 303 ||
                        h->status == 307 || h->status == 308;
        hop->follow = redirect && hop->has_location && hop->redirects_left;
        hop->headers_done = true;
        return;
    }
    if (h->raw.len + n + 2 <= HTTP_RAW_HEADERS_MAX) {
        lm_buf_append(&h->raw, line, n);
        lm_buf_append(&h->raw, "\r\n", 2);
    }
    const char *colon = memchr(line, ':', n);
    if (!colon) return;
    size_t klen = (size_t)(colon - line);
    const char *v = colon + 1, *ve = line + n;
    while (v < ve && (*v == ' ' || *v == '\t')) v++;
    char val[512];
    http_copy_value(val, sizeof val, v, (size_t)(ve - v));
#define KEY(s) (klen == sizeof(s) - 1 && strncasecmp(line, s, klen) == 0)
    if (KEY("ETag"))
        http_copy_value(h->etag, sizeof h->etag, val, strlen(val));
    else if (KEY("X-Linked-Etag"))
        http_copy_value(h->linked_etag, sizeof h->linked_etag, val, strlen(val));
    else if (KEY("X-Linked-Size"))
        h->linked_size = http_parse_size(val);
    else if (KEY("Content-Length"))
        h->content_length = http_parse_size(val);
    else if (KEY("Content-Type"))
        http_copy_value(h->content_type, sizeof h->content_type, val, strlen(val));
    else if (KEY("Content-Range"))
        http_parse_content_range(h, val);
    else if (KEY("Location"))
        hop->has_location = true;
#undef KEY
}

static size_t http_on_header(char *data, size_t size, size_t nmemb, void *user) {
    http_hop *hop = user;
    size_t n = size * nmemb;
    hop->last_activity = lm_now();
    http_header_line(hop, data, n);
    /* The final response's head goes to the caller before its body. */
    if (hop->headers_done && !hop->follow && hop->req->on_head && !hop->head_sent &&
        hop->res->head.status >= 200) {
        hop->head_sent = true;
        if (hop->req->on_head(hop->req->user, &hop->res->head, hop->cb_err) != 0) {
            hop->stopped = true;
            hop->stop_kind = HTTP_ERR_CALLBACK;
            return 0;
        }
    }
    return n;
}

static size_t http_on_write(char *data, size_t size, size_t nmemb, void *user) {
    http_hop *hop = user;
    size_t n = size * nmemb;
    http_result *res = hop->res;
    hop->last_activity = lm_now();
    if (hop->follow) return n; /* a redirect's body */
    if (res->head.status >= 400) {
        if (res->body.len < HTTP_ERROR_BODY_MAX) {
            size_t room = HTTP_ERROR_BODY_MAX - res->body.len;
            lm_buf_append(&res->body, data, n < room ? n : room);
        }
        return n;
    }
    res->received += n;
    if (hop->req->on_body) {
        if (hop->req->on_body(hop->req->user, data, n, hop->cb_err) != 0) {
            hop->stopped = true;
            hop->stop_kind = HTTP_ERR_CALLBACK;
            return 0;
        }
        return n;
    }
    size_t cap = hop->req->max_body ? hop->req->max_body : HTTP_DEFAULT_MAX_BODY;
    if (res->body.len + n > cap) {
        hop->stopped = true;
        hop->stop_kind = HTTP_ERR_TOO_LARGE;
        return 0;
    }
    lm_buf_append(&res->body, data, n);
    return n;
}

static int http_on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                            curl_off_t ulnow) {
    (void)ultotal, (void)ulnow;
    http_hop *hop = user;
    const http_request *req = hop->req;
    if (req->cancel && atomic_load(req->cancel)) return 1;
    if (req->on_progress && hop->headers_done && !hop->follow && hop->res->head.status < 400)
        req->on_progress(req->user, (uint64_t)dlnow, dltotal > 0 ? (int64_t)dltotal : -1);
    return 0;
}

/* ---- one hop ---- */

static bool http_is_auth_header(const char *h) {
    return strncasecmp(h, "Authorization:", 14) == 0;
}

/* Frees a header list, wiping its lines first: one of them may be the token. */
static void http_free_headers(struct curl_slist *list) {
    for (struct curl_slist *l = list; l; l = l->next) explicit_bzero(l->data, strlen(l->data));
    curl_slist_free_all(list);
}

static struct curl_slist *http_build_headers(const http_request *req, bool with_auth,
                                             bool with_body) {
    struct curl_slist *list = NULL;
    for (const char *const *h = req->headers; h && *h; h++)
        if (with_auth || !http_is_auth_header(*h)) list = curl_slist_append(list, *h);
    if (with_auth && req->bearer && req->bearer[0]) {
        lm_buf line = {0};
        lm_buf_printf(&line, "Authorization: Bearer %s", req->bearer);
        list = curl_slist_append(list, lm_buf_cstr(&line));
        explicit_bzero(line.data, line.cap);
        lm_buf_free(&line);
    }
    if (with_body) {
        lm_buf line = {0};
        lm_buf_printf(&line, "Content-Type: %s",
                      req->content_type ? req->content_type : "application/json");
        list = curl_slist_append(list, lm_buf_cstr(&line));
        lm_buf_free(&line);
    }
    /* No "Expect: 100-continue" round trip before a body. */
    list = curl_slist_append(list, "Expect:");
    if (req->range_from > 0) {
        char range[64];
        snprintf(range, sizeof range, "Range: bytes=%" PRIu64 "-", req->range_from);
        list = curl_slist_append(list, range);
    }
    return list;
}

static bool http_is_tls_error(CURLcode rc) {
    switch (rc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_USE_SSL_FAILED:
        return true;
    default:
        return false;
    }
}

/* Turns a transfer's outcome into res->kind and one line in err. */
static int http_explain(CURL *e, CURLcode rc, const char *errbuf, const http_request *req,
                        const char *url, http_hop *hop, bool cancelled, lm_error *err) {
    http_result *res = hop->res;
    char host[300];
    http_url_host(url, host, sizeof host);
    if (cancelled || rc == CURLE_ABORTED_BY_CALLBACK) {
        res->kind = HTTP_ERR_CANCELLED;
        return lm_fail(err, "cancelled");
    }
    if (hop->stopped) {
        res->kind = hop->stop_kind;
        if (hop->stop_kind == HTTP_ERR_TOO_LARGE) {
            char sz[16];
            size_t cap = req->max_body ? req->max_body : HTTP_DEFAULT_MAX_BODY;
            return lm_fail(err, "the answer from %s is larger than %s", host,
                           lm_format_size(cap, sz));
        }
        if (err && err != hop->cb_err) *err = *hop->cb_err;
        if (!hop->cb_err->msg[0]) lm_fail(err, "the transfer from %s was stopped", host);
        return -1;
    }
    const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    long os_errno = 0;
    curl_off_t connect_us = 0;
    curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &os_errno);
    curl_easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &connect_us);
    switch (rc) {
    case CURLE_OK:
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
        res->kind = HTTP_ERR_DNS;
        return lm_fail(err, "cannot resolve host %s (DNS lookup failed)", host);
    case CURLE_COULDNT_RESOLVE_PROXY:
        res->kind = HTTP_ERR_DNS;
        return lm_fail(err, "cannot resolve the proxy for %s: %s", host, detail);
    case CURLE_COULDNT_CONNECT:
        res->kind = HTTP_ERR_CONNECT;
        return lm_fail(err, "cannot connect to %s: %s", host,
                       os_errno ? strerror((int)os_errno) : detail);
    case CURLE_OPERATION_TIMEDOUT: {
        res->kind = HTTP_ERR_TIMEOUT;
        long cms = req->connect_timeout_ms > 0 ? req->connect_timeout_ms : HTTP_DEFAULT_CONNECT_MS;
        long idle = req->idle_timeout_s ? req->idle_timeout_s : HTTP_DEFAULT_IDLE_S;
        if (hop->idle_expired)
            return lm_fail(err, "no data from %s for %ld s (timeout)", host, idle);
        if (connect_us == 0)
            return lm_fail(err, "no connection to %s within %.1f s (timeout)", host, cms / 1000.0);
        if (req->total_timeout_s > 0)
            return lm_fail(err, "%s did not finish within %ld s (timeout)", host,
                           req->total_timeout_s);
        return lm_fail(err, "no data from %s for %ld s (timeout)", host, idle);
    }
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: {
        res->kind = HTTP_ERR_CLOSED;
        if (res->head.content_length >= 0)
            return lm_fail(err,
                           "the connection to %s closed after %" PRIu64 " of %" PRId64 " bytes",
                           host, res->received, res->head.content_length);
        return lm_fail(err, "the connection to %s closed after %" PRIu64 " bytes", host,
                       res->received);
    }
    default:
        if (http_is_tls_error(rc)) {
            res->kind = HTTP_ERR_TLS;
            if (rc == CURLE_PEER_FAILED_VERIFICATION)
                return lm_fail(err,
                               "TLS error with %s: %s (to trust a private authority, name "
                               "its certificate in SSL_CERT_FILE)",
                               host, detail);
            return lm_fail(err, "TLS error with %s: %s", host, detail);
        }
        res->kind = HTTP_ERR_OTHER;
        return lm_fail(err, "request to %s failed: %s", host, detail);
    }
    if (res->head.status >= 400) {
        res->kind = HTTP_ERR_STATUS;
        if (res->head.reason[0])
            return lm_fail(err, "HTTP %ld (%s) from %s", res->head.status, res->head.reason, host);
        return lm_fail(err, "HTTP %ld from %s", res->head.status, host);
    }
    res->kind = HTTP_OK;
    return 0;
}

/* Runs the easy handle on a multi handle, looking at the cancel flag and the
 * idle time every HTTP_POLL_MS (libcurl's low-speed check averages over
 * seconds, so idleness is timed here). Returns the transfer's code;
 * *cancelled when the flag stopped it, hop->idle_expired when idleness did. */
static CURLcode http_run(CURL *e, const atomic_bool *cancel, long idle_s, http_hop *hop,
                         bool *cancelled) {
    *cancelled = false;
    hop->last_activity = lm_now();
    CURLM *m = curl_multi_init();
    if (!m) return CURLE_OUT_OF_MEMORY;
    curl_multi_add_handle(m, e);
    CURLcode rc = CURLE_OK;
    int running = 1;
    while (running) {
        if (curl_multi_perform(m, &running) != CURLM_OK) {
            rc = CURLE_FAILED_INIT;
            break;
        }
        if (!running) break;
        if (cancel && atomic_load(cancel)) {
            *cancelled = true;
            break;
        }
        if (idle_s > 0 && lm_now() - hop->last_activity > (double)idle_s) {
            hop->idle_expired = true;
            break;
        }
        curl_multi_poll(m, NULL, 0, HTTP_POLL_MS, NULL);
    }
    int left;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(m, &left)))
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == e) rc = msg->data.result;
    curl_multi_remove_handle(m, e);
    curl_multi_cleanup(m);
    if (cancel && atomic_load(cancel)) *cancelled = true;
    return rc;
}

/* Certificates to trust instead of the system's, named as curl's own tool
 * (CURL_CA_BUNDLE) or OpenSSL (SSL_CERT_FILE, SSL_CERT_DIR) takes them: a
 * server behind a company's own authority, or a test's self-signed one.
 * Verification itself stays on. */
static void http_trust_from_env(CURL *e) {
    const char *file = getenv("CURL_CA_BUNDLE");
    if (!file || !*file) file = getenv("SSL_CERT_FILE");
    const char *dir = getenv("SSL_CERT_DIR");
    if (file && *file) curl_easy_setopt(e, CURLOPT_CAINFO, file);
    if (dir && *dir) curl_easy_setopt(e, CURLOPT_CAPATH, dir);
}

static void http_setup(CURL *e, const http_request *req, const char *url, const char *method,
                       bool send_body, struct curl_slist *headers, http_hop *hop, char *errbuf) {
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    http_trust_from_env(e);
    curl_easy_setopt(e, CURLOPT_USERAGENT,
                     req->user_agent ? req->user_agent : "lmterm/" LMTERM_VERSION);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     req->connect_timeout_ms > 0 ? req->connect_timeout_ms
                                                 : HTTP_DEFAULT_CONNECT_MS);
    if (req->total_timeout_s > 0) curl_easy_setopt(e, CURLOPT_TIMEOUT, req->total_timeout_s);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, http_on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, hop);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, hop);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, http_on_progress);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, hop);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (send_body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        if (strcmp(method, "POST") != 0) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
}

int http_perform(const http_request *req, http_result *res, lm_error *err) {
    pthread_once(&http_once, http_global_init);
    memset(res, 0, sizeof *res);
    http_head_reset_response(&res->head);
    res->head.linked_size = -1;
    double t0 = lm_now();
    if (!req->url || !req->url[0]) {
        res->kind = HTTP_ERR_OTHER;
        return lm_fail(err, "no URL to fetch");
    }
    CURL *e = curl_easy_init();
    if (!e) {
        res->kind = HTTP_ERR_OTHER;
        return lm_fail(err, "cannot start a transfer (libcurl)");
    }
    char origin[512] = "", hop_origin[512];
    http_url_origin(req->url, origin, sizeof origin);
    const char *method = req->method ? req->method : "GET";
    bool send_body = req->body != NULL || strcmp(method, "POST") == 0;
    bool with_auth = true;
    int redirects_left = req->max_redirects == 0  ? 10
                         : req->max_redirects < 0 ? 0
                                                  : req->max_redirects;
    char *url = lm_xstrdup(req->url);
    lm_error cb_err = {{0}};
    int rc = -1;
    for (;;) {
        http_hop hop = {
            .req = req, .res = res, .cb_err = &cb_err, .redirects_left = redirects_left > 0};
        char errbuf[CURL_ERROR_SIZE] = "";
        struct curl_slist *headers = http_build_headers(req, with_auth, send_body);
        curl_easy_reset(e);
        http_setup(e, req, url, method, send_body, headers, &hop, errbuf);
        res->received = 0;
        res->body.len = 0;
        bool cancelled;
        long idle = req->idle_timeout_s ? req->idle_timeout_s : HTTP_DEFAULT_IDLE_S;
        CURLcode code = http_run(e, req->cancel, idle, &hop, &cancelled);
        if (hop.idle_expired) code = CURLE_OPERATION_TIMEDOUT;
        res->seconds = lm_now() - t0;
        char *eff = NULL;
        if (curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff)
            snprintf(res->head.url, sizeof res->head.url, "%s", eff);
        char *next = NULL;
        if (code == CURLE_OK && !cancelled && hop.follow)
            curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &next);
        http_free_headers(headers);
        if (!next) {
            rc = http_explain(e, code, errbuf, req, url, &hop, cancelled, err);
            break;
        }
        /* A redirect: credentials go only to the first origin. */
        free(url);
        url = lm_xstrdup(next);
        if (!http_url_origin(url, hop_origin, sizeof hop_origin) || strcmp(hop_origin, origin) != 0)
            with_auth = false;
        long st = res->head.status;
        if (st == 303 || ((st == 301 || st == 302) && strcmp(method, "POST") == 0)) {
            method = "GET";
            send_body = false;
        }
        redirects_left--;
    }
    free(url);
    curl_easy_cleanup(e);
    return rc;
}

void http_result_free(http_result *res) {
    lm_buf_free(&res->body);
    lm_buf_free(&res->head.raw);
}

int http_get(const char *url, const char *bearer, const atomic_bool *cancel, http_result *res,
             lm_error *err) {
    http_request req = {.url = url, .bearer = bearer, .cancel = cancel};
    return http_perform(&req, res, err);
}

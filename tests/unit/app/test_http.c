/* http: the libcurl client against tests/tools/hub_server.py on 127.0.0.1. */
#include "http.h"
#include "json.h"
#include "stub_server.h"
#include "test.h"
#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char *url_of(const stub_server *s, const char *path) {
    lm_buf b = {0};
    lm_buf_printf(&b, "%s%s", s->base, path);
    return (char *)lm_buf_cstr(&b);
}

/* The echo route's view of the request: header name (lower case) -> value. */
static const char *echo_header(const json_value *echo, const char *name) {
    return json_get_str(json_get(echo, "headers"), name, NULL);
}

TEST(http_get_buffers_the_body) {
    stub_server s;
    if (!stub_start(&s, NULL)) return;
    char *url = url_of(&s, "/bytes/1000");
    http_result res;
    lm_error err = {{0}};
    CHECK_EQ_INT(http_get(url, NULL, NULL, &res, &err), 0);
    CHECK_EQ_INT(res.head.status, 200);
    CHECK_EQ_INT(res.body.len, 1000);
    CHECK_EQ_INT(res.head.content_length, 1000);
    CHECK_EQ_INT(res.kind, HTTP_OK);
    http_result_free(&res);
    free(url);
    stub_stop(&s);
}

TEST(http_post_sends_body_headers_and_bearer) {
    stub_server s;
    if (!stub_start(&s, NULL)) return;
    char *url = url_of(&s, "/echo");
    const char *hdrs[] = {"X-Test: one", NULL};
    http_request req = {.method = "POST",
                        .url = url,
                        .headers = hdrs,
                        .bearer = "sekrit-token",
                        .body = "{\"a\":1}",
                        .body_len = 7};
    http_result res;
    lm_error err = {{0}};
    CHECK_EQ_INT(http_perform(&req, &res, &err), 0);
    json_value *echo = json_parse(res.body.data, res.body.len, &err);
    CHECK(echo != NULL);
    if (echo) {
        CHECK_EQ_STR(json_get_str(echo, "method", ""), "POST");
        CHECK_EQ_STR(json_get_str(echo, "body", ""), "{\"a\":1}");
        CHECK_EQ_STR(echo_header(echo, "authorization"), "Bearer sekrit-token");
        CHECK_EQ_STR(echo_header(echo, "content-type"), "application/json");
        CHECK_EQ_STR(echo_header(echo, "x-test"), "one");
        CHECK(echo_header(echo, "expect") == NULL);
    }
    CHECK_EQ_STR(res.head.etag, "\"echo-1\"");
    char ct[64];
    CHECK(http_head_find(&res.head, "content-type", ct, sizeof ct));
    CHECK_EQ_STR(ct, "application/json");
    json_free(echo);
    http_result_free(&res);
    free(url);
    stub_stop(&s);
}

/* GET path with a bearer token; the echo's Authorization header (NULL when absent). */
static char *auth_seen(const stub_server *s, const char *path, const char *const *hdrs) {
    char *url = url_of(s, path);
    http_request req = {.url = url, .bearer = "tok123", .headers = hdrs};
    http_result res;
    lm_error err = {{0}};
    char *out = NULL;
    if (http_perform(&req, &res, &err) == 0) {
        json_value *echo = json_parse(res.body.data, res.body.len, &err);
        const char *a = echo ? echo_header(echo, "authorization") : NULL;
        out = lm_xstrdup(a ? a : "(none)");
        json_free(echo);
    } else {
        test_fail(__FILE__, __LINE__, "request failed: %s", err.msg);
    }
    http_result_free(&res);
    free(url);
    return out;
}

TEST(http_redirect_keeps_token_on_same_host_drops_it_elsewhere) {
    stub_server s;
    if (!stub_start(&s, NULL)) return;
    char *same = auth_seen(&s, "/redirect?to=/echo", NULL);
    CHECK_EQ_STR(same, "Bearer tok123");
    char path[256];
    snprintf(path, sizeof path, "/redirect?to=http://localhost:%d/echo", s.port);
    char *other = auth_seen(&s, path, NULL);
    CHECK_EQ_STR(other, "(none)");
    /* An Authorization line among the extra headers is dropped too. */
    const char *hdrs[] = {"Authorization: Basic abc", NULL};
    char *other2 = auth_seen(&s, path, hdrs);
    CHECK_EQ_STR(other2, "(none)");
    free(same);
    free(other);
    free(other2);
    stub_stop(&s);
}

TEST(http_status_error_is_one_line_without_the_token) {
    stub_server s;
    if (!stub_start(&s, NULL)) return;
    char *url = url_of(&s, "/status/404");
    http_result res;
    lm_error err = {{0}};
    CHECK_EQ_INT(http_get(url, "tok-secret", NULL, &res, &err), -1);
    CHECK_EQ_INT(res.kind, HTTP_ERR_STATUS);
    CHECK_EQ_INT(res.head.status, 404);
    CHECK_MSG(strstr(err.msg, "HTTP 404") && strstr(err.msg, "127.0.0.1"), "%s", err.msg);
    CHECK(!strstr(err.msg, "tok-secret"));
    CHECK(!strchr(err.msg, '\n'));
    CHECK(res.body.len > 0 && strstr(lm_buf_cstr(&res.body), "status 404"));
    http_result_free(&res);
    free(url);
    stub_stop(&s);
}

TEST(http_connection_refused_dns_and_tls_errors) {
    char url[128];
    http_result res;
    lm_error err = {{0}};
    int port = stub_closed_port();
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", port);
    double t0 = lm_now();
    CHECK_EQ_INT(http_get(url, "tok-secret", NULL, &res, &err), -1);
    CHECK_EQ_INT(res.kind, HTTP_ERR_CONNECT);
    CHECK_MSG(strstr(err.msg, "cannot connect to 127.0.0.1:") && strstr(err.msg, "refused"), "%s",
              err.msg);
    CHECK(lm_now() - t0 < 5);
    http_result_free(&res);

    CHECK_EQ_INT(http_get("http://no-such-host.invalid/x", NULL, NULL, &res, &err), -1);
    CHECK_MSG(res.kind == HTTP_ERR_DNS, "%s: %s", http_error_name(res.kind), err.msg);
    CHECK_MSG(strstr(err.msg, "no-such-host.invalid"), "%s", err.msg);
    http_result_free(&res);

    stub_server s;
    if (!stub_start(&s, NULL)) return;
    snprintf(url, sizeof url, "https://127.0.0.1:%d/echo", s.port);
    CHECK_EQ_INT(http_get(url, "tok-secret", NULL, &res, &err), -1);
    CHECK_MSG(res.kind == HTTP_ERR_TLS, "%s: %s", http_error_name(res.kind), err.msg);
    CHECK_MSG(strstr(err.msg, "TLS error with 127.0.0.1"), "%s", err.msg);
    CHECK(!strstr(err.msg, "tok-secret"));
    http_result_free(&res);
    stub_stop(&s);
}

TEST(http_idle_timeout) {
    stub_server s;
    if (!stub_start(&s, NULL)) return;
    char *url = url_of(&s, "/stall");
    http_request req = {.url = url, .idle_timeout_s = 1};
    http_result res;
    lm_error err = {{0}};
    double t0 = lm_now();
    CHECK_EQ_INT(http_perform(&req, &res, &err), -1);
    double took = lm_now() - t0;
    CHECK_MSG(res.kind == HTTP_ERR_TIMEOUT, "%s: %s", http_error_name(res.kind), err.msg);
    CHECK_MSG(strstr(err.msg, "no data from 127.0.0.1"), "%s", err.msg);
    CHECK_MSG(took >= 0.9 && took < 5, "took %.2f s", took);
    http_result_free(&res);
    free(url);
    stub_stop(&s);
}

typedef struct canceller {
    atomic_bool *flag;
    double at;
} canceller;

static void *cancel_later(void *p) {
    canceller *c = p;
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    c->at = lm_now();
    atomic_store(c->flag, true);
    return NULL;
}

TEST(http_cancel_stops_within_100ms) {
    stub_server s;
    if (!stub_start(&s, NULL)) return;
    char *url = url_of(&s, "/stall");
    atomic_bool cancel = false;
    http_request req = {.url = url, .cancel = &cancel};
    canceller c = {.flag = &cancel};
    pthread_t t;
    pthread_create(&t, NULL, cancel_later, &c);
    http_result res;
    lm_error err = {{0}};
    CHECK_EQ_INT(http_perform(&req, &res, &err), -1);
    double after = lm_now();
    pthread_join(t, NULL);
    CHECK_EQ_INT(res.kind, HTTP_ERR_CANCELLED);
    CHECK_EQ_STR(err.msg, "cancelled");
    /* Generous for a loaded 2-core machine; the poll interval is 50 ms. */
    CHECK_MSG(after - c.at < 0.1, "stopped %.3f s after the flag", after - c.at);
    http_result_free(&res);
    free(url);
    stub_stop(&s);
}

typedef struct sink {
    lm_buf data;
    int heads;
    long status;
    int progress_calls;
    size_t stop_after; /* > 0: fail once this many bytes arrived */
} sink;

static int sink_head(void *user, const http_head *h, lm_error *err) {
    (void)err;
    sink *k = user;
    k->heads++;
    k->status = h->status;
    return 0;
}

static int sink_body(void *user, const char *data, size_t n, lm_error *err) {
    sink *k = user;
    lm_buf_append(&k->data, data, n);
    if (k->stop_after && k->data.len >= k->stop_after) return lm_fail(err, "disk full (test)");
    return 0;
}

static void sink_progress(void *user, uint64_t done, int64_t total) {
    (void)done, (void)total;
    ((sink *)user)->progress_calls++;
}

TEST(http_range_streaming_and_head_callback) {
    const char *conf = test_conformance_dir();
    if (!conf) return test_skip("no conformance models");
    char file[1024], repo[1200];
    snprintf(file, sizeof file, "%s/models/phi3-e64-Q8_0.gguf", conf);
    snprintf(repo, sizeof repo, "t/r=%s", file);
    const char *args[] = {"--repo", repo, NULL};
    stub_server s;
    if (!stub_start(&s, args)) return;
    char *whole;
    size_t whole_len;
    lm_error err = {{0}};
    CHECK_EQ_INT(lm_read_file(file, 64 << 20, &whole, &whole_len, &err), 0);
    char *url = url_of(&s, "/t/r/resolve/main/phi3-e64-Q8_0.gguf");
    sink k = {0};
    http_request req = {.url = url,
                        .range_from = 100,
                        .on_head = sink_head,
                        .on_body = sink_body,
                        .on_progress = sink_progress,
                        .user = &k};
    http_result res;
    CHECK_EQ_INT(http_perform(&req, &res, &err), 0);
    CHECK_EQ_INT(res.head.status, 206);
    CHECK(res.head.has_range);
    CHECK_EQ_INT(res.head.range_start, 100);
    CHECK_EQ_INT(res.head.range_total, whole_len);
    CHECK_EQ_INT(k.heads, 1);
    CHECK_EQ_INT(k.status, 206);
    CHECK(k.progress_calls > 0);
    CHECK_EQ_INT(k.data.len, whole_len - 100);
    CHECK(k.data.len == whole_len - 100 && memcmp(k.data.data, whole + 100, k.data.len) == 0);
    CHECK(res.head.linked_etag[0] == '"' && strlen(res.head.linked_etag) == 66);
    CHECK_EQ_INT(res.body.len, 0);
    http_result_free(&res);

    /* A body callback's error stops the transfer and is the message. */
    lm_buf_free(&k.data);
    k = (sink){.stop_after = 100000};
    req.range_from = 0;
    CHECK_EQ_INT(http_perform(&req, &res, &err), -1);
    CHECK_EQ_INT(res.kind, HTTP_ERR_CALLBACK);
    CHECK_EQ_STR(err.msg, "disk full (test)");
    http_result_free(&res);
    lm_buf_free(&k.data);
    free(whole);
    free(url);
    stub_stop(&s);
}

TEST(http_buffered_body_cap_and_sse_stream) {
    stub_server s;
    if (!stub_start(&s, NULL)) return;
    char *url = url_of(&s, "/bytes/5000");
    http_request req = {.url = url, .max_body = 1000};
    http_result res;
    lm_error err = {{0}};
    CHECK_EQ_INT(http_perform(&req, &res, &err), -1);
    CHECK_EQ_INT(res.kind, HTTP_ERR_TOO_LARGE);
    CHECK_MSG(strstr(err.msg, "larger than"), "%s", err.msg);
    http_result_free(&res);
    free(url);

    url = url_of(&s, "/sse");
    sink k = {0};
    http_request sse = {.url = url, .on_body = sink_body, .user = &k, .idle_timeout_s = -1};
    CHECK_EQ_INT(http_perform(&sse, &res, &err), 0);
    CHECK(strstr(lm_buf_cstr(&k.data), "data: {\"n\": 2}") != NULL);
    CHECK(strstr(lm_buf_cstr(&k.data), "data: [DONE]") != NULL);
    CHECK_EQ_STR(res.head.content_type, "text/event-stream");
    http_result_free(&res);
    lm_buf_free(&k.data);
    free(url);
    stub_stop(&s);
}

TEST(http_escape_path) {
    char *e = http_escape("a b/c+d.gguf", "/");
    CHECK_EQ_STR(e, "a%20b/c%2Bd.gguf");
    free(e);
}

/* A listener whose queue is full: connections neither complete nor fail. */
TEST(http_connect_timeout) {
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 0) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &len) != 0) {
        test_skip("no listening socket");
        return;
    }
    int fill[3];
    for (int i = 0; i < 3; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (connect(fill[i], (struct sockaddr *)&a, sizeof a) != 0) { /* EINPROGRESS */
        }
    }
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", ntohs(a.sin_port));
    http_request req = {.url = url, .connect_timeout_ms = 500};
    http_result res;
    lm_error err = {{0}};
    double t0 = lm_now();
    CHECK_EQ_INT(http_perform(&req, &res, &err), -1);
    double took = lm_now() - t0;
    CHECK_MSG(res.kind == HTTP_ERR_TIMEOUT, "%s: %s", http_error_name(res.kind), err.msg);
    CHECK_MSG(strstr(err.msg, "no connection to 127.0.0.1:") && strstr(err.msg, "within 0.5 s"),
              "%s", err.msg);
    CHECK_MSG(took >= 0.4 && took < 3, "took %.2f s", took);
    http_result_free(&res);
    for (int i = 0; i < 3; i++) close(fill[i]);
    close(lfd);
}

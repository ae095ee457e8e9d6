/* server: see include/serve/server.h.
 *
 * libmicrohttpd runs a thread per connection, so a request handler may
 * block: it submits a job to the scheduler and waits on it, in short waits
 * that also look at the socket, so a client that went away cancels its job
 * within a token. A streamed answer is a callback response (chunked) whose
 * reader turns the job's new text into server-sent events. */
#include "server.h"

#include <microhttpd.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WAIT_STEP 0.05 /* seconds between looks at the socket while waiting */

struct server {
    serve_options o;
    sched *sched;
    struct MHD_Daemon *d;
    int port;
    atomic_bool stopping;
    atomic_int in_flight;      /* requests holding a job */
    atomic_uint_fast64_t next; /* request counter: ids and seeds */
};

enum route { R_NONE, R_CHAT, R_COMPLETIONS, R_MODELS, R_HEALTH };

static const struct {
    const char *path, *method;
    enum route route;
} routes[] = {
    {"/v1/chat/completions", "POST", R_CHAT},
    {"/chat/completions", "POST", R_CHAT},
    {"/v1/completions", "POST", R_COMPLETIONS},
    {"/completions", "POST", R_COMPLETIONS},
    {"/v1/models", "GET", R_MODELS},
    {"/models", "GET", R_MODELS},
    {"/health", "GET", R_HEALTH},
    {"/v1/health", "GET", R_HEALTH},
};

/* One request on a connection. */
typedef struct conn {
    server *srv;
    struct MHD_Connection *mc;
    int fd;
    double t0;
    char method[16], path[128];
    enum route route;
    int status;
    lm_buf body;
    size_t received;
    bool too_large;
    /* a generation */
    sched_job *job;
    openai_reply reply;
    char id[48];
    bool include_usage, first_sent, finished;
    lm_buf text; /* taken from the job, not yet sent */
    lm_buf sse;  /* events not yet handed to the socket */
    size_t sse_off;
    int prompt_tokens, gen_tokens;
} conn;

bool serve_secret_equal(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    unsigned diff = la != lb;
    for (size_t i = 0; i < lb; i++) /* as long as the secret, whatever a is */
        diff |= (unsigned char)(i < la ? a[i] : 0) ^ (unsigned char)b[i];
    return diff == 0;
}

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A number per request, different across requests and runs. */
static uint64_t fresh_number(server *s) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t n = atomic_fetch_add(&s->next, 1);
    return mix64(n * 0x9E3779B97F4A7C15ull ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32));
}

/* The client closed its end (or the socket failed). */
static bool peer_gone(const conn *c) {
    if (c->fd < 0) return false;
    struct pollfd p = {c->fd, POLLRDHUP, 0};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* ---- plain answers ---- */

static enum MHD_Result reply(conn *c, int status, const char *body, size_t len) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (status == 503) MHD_add_response_header(r, "Retry-After", "1");
    if (status == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    c->status = status;
    enum MHD_Result rc = MHD_queue_response(c->mc, (unsigned)status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result reply_buf(conn *c, int status, lm_buf *b) {
    enum MHD_Result rc = reply(c, status, b->data ? b->data : "", b->len);
    lm_buf_free(b);
    return rc;
}

static enum MHD_Result reply_error(conn *c, const openai_error *e) {
    lm_buf b = {0};
    openai_write_error(&b, e);
    return reply_buf(c, e->status, &b);
}

static enum MHD_Result fail(conn *c, int status, const char *type, const char *param,
                            const char *code, const char *msg) {
    openai_error e;
    openai_fail(&e, status, type, param, code, "%s", msg);
    return reply_error(c, &e);
}

/* ---- generation ---- */

static void record_usage(conn *c, const sched_outcome *o) {
    c->prompt_tokens = o->usage.prompt_tokens;
    c->gen_tokens = o->usage.completion_tokens;
}

/* Waits until the job has read its prompt (stream) or finished; false when
 * the client went away (the job is cancelled then). */
static bool wait_job(conn *c, bool until_done, sched_outcome *o) {
    for (;;) {
        sched_job_take(c->job, &c->text, WAIT_STEP, o);
        if (o->done || (!until_done && o->started)) return true;
        if (peer_gone(c)) {
            sched_job_cancel(c->job);
            return false;
        }
    }
}

/* The next events of a stream into c->sse; -1 when the client is gone. */
static int fill_sse(conn *c) {
    if (!c->first_sent) {
        c->first_sent = true;
        if (c->reply.endpoint == OPENAI_CHAT) openai_write_delta(&c->sse, &c->reply, true, "", 0);
        if (c->text.len) openai_write_delta(&c->sse, &c->reply, false, c->text.data, c->text.len);
        c->text.len = 0;
        return 0;
    }
    sched_outcome o;
    sched_job_take(c->job, &c->text, WAIT_STEP, &o);
    if (c->text.len) openai_write_delta(&c->sse, &c->reply, false, c->text.data, c->text.len);
    bool had_text = c->text.len > 0;
    c->text.len = 0;
    if (o.done) {
        if (o.failed)
            openai_write_stream_error(&c->sse, &o.error);
        else
            openai_write_finish(&c->sse, &c->reply, o.finish, &o.usage, c->include_usage);
        record_usage(c, &o);
        c->finished = true;
    } else if (!had_text && peer_gone(c)) {
        sched_job_cancel(c->job);
        return -1;
    }
    return 0;
}

static ssize_t sse_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    conn *c = cls;
    while (c->sse_off >= c->sse.len) {
        if (c->finished) return MHD_CONTENT_READER_END_OF_STREAM;
        c->sse.len = c->sse_off = 0;
        if (fill_sse(c) < 0) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = c->sse.len - c->sse_off < max ? c->sse.len - c->sse_off : max;
    memcpy(buf, c->sse.data + c->sse_off, n);
    c->sse_off += n;
    return (ssize_t)n;
}

static enum MHD_Result start_stream(conn *c) {
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, sse_reader, c, NULL);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    c->status = 200;
    enum MHD_Result rc = MHD_queue_response(c->mc, 200, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result answer_whole(conn *c) {
    sched_outcome o;
    if (!wait_job(c, true, &o)) return MHD_NO;
    record_usage(c, &o);
    if (o.failed) return reply_error(c, &o.error);
    lm_buf b = {0};
    openai_write_full(&b, &c->reply, c->text.data ? c->text.data : "", c->text.len, o.finish,
                      &o.usage);
    return reply_buf(c, 200, &b);
}

static enum MHD_Result answer_stream(conn *c) {
    sched_outcome o;
    if (!wait_job(c, false, &o)) return MHD_NO;
    if (o.failed) { /* before the first token: a plain error with its status */
        record_usage(c, &o);
        return reply_error(c, &o.error);
    }
    return start_stream(c);
}

static enum MHD_Result handle_generate(conn *c, enum openai_endpoint ep) {
    server *s = c->srv;
    if (c->too_large)
        return fail(c, 413, "invalid_request_error", NULL, "request_too_large",
                    "the request body is larger than 8 MiB");
    sampler_params defaults = s->o.sampling;
    if (s->o.seed_random) defaults.seed = fresh_number(s);
    openai_request req;
    openai_error err;
    int model = sched_default_model(s->sched);
    if (openai_parse_request(ep, c->body.data ? c->body.data : "", c->body.len,
                             sched_model_template(s->sched, model), &defaults, &req, &err))
        return reply_error(c, &err);
    if (req.model && (model = sched_find_model(s->sched, req.model)) < 0) {
        openai_fail(&err, 404, "invalid_request_error", "model", "model_not_found",
                    "the model '%.200s' does not exist (GET /v1/models lists them)", req.model);
        openai_request_free(&req);
        return reply_error(c, &err);
    }
    req.conv.tmpl = sched_model_template(s->sched, model); /* the named model's own */
    if (req.max_tokens < 0) req.max_tokens = s->o.max_tokens;
    engine_request er;
    openai_engine_request(&req, &er);
    c->job = sched_submit(s->sched, model, &er, req.stop, req.n_stop, &err);
    bool stream = req.stream;
    c->include_usage = req.include_usage;
    openai_request_free(&req);
    if (!c->job) return reply_error(c, &err);
    atomic_fetch_add(&s->in_flight, 1);
    snprintf(c->id, sizeof c->id, "%s%016llx", ep == OPENAI_CHAT ? "chatcmpl-" : "cmpl-",
             (unsigned long long)fresh_number(s));
    c->reply = (openai_reply){ep, c->id, sched_model_id(s->sched, model), (long long)time(NULL)};
    return stream ? answer_stream(c) : answer_whole(c);
}

static enum MHD_Result handle_models(conn *c) {
    sched *sc = c->srv->sched;
    int n = sched_n_models(sc), n_ctx;
    int loaded = sched_loaded_model(sc, &n_ctx);
    const char **ids = lm_xcalloc((size_t)n, sizeof *ids);
    for (int i = 0; i < n; i++) ids[i] = sched_model_id(sc, i);
    lm_buf b = {0};
    openai_write_models(&b, ids, n, loaded, (long long)time(NULL), n_ctx);
    free(ids);
    return reply_buf(c, 200, &b);
}

static enum MHD_Result handle_health(conn *c) {
    if (atomic_load(&c->srv->stopping))
        return fail(c, 503, "unavailable_error", NULL, "shutting_down", "the server is stopping");
    static const char ok[] = "{\"status\":\"ok\"}";
    return reply(c, 200, ok, sizeof ok - 1);
}

/* ---- the request's life ---- */

static enum route find_route(const char *path, const char *method, bool *wrong_method) {
    *wrong_method = false;
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        if (strcmp(routes[i].path, path) != 0) continue;
        if (strcmp(routes[i].method, method) == 0) return routes[i].route;
        *wrong_method = true;
    }
    return R_NONE;
}

static bool authorized(conn *c) {
    const char *key = c->srv->o.api_key;
    if (!key || c->route == R_HEALTH) return true;
    const char *h = MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7) != 0) return false;
    return serve_secret_equal(h + 7, key);
}

/* The first call, with the headers only: everything that can be refused
 * before the body is refused here. */
static enum MHD_Result on_headers(conn *c) {
    bool wrong_method;
    c->route = find_route(c->path, c->method, &wrong_method);
    if (c->route == R_NONE && wrong_method)
        return fail(c, 405, "invalid_request_error", NULL, "method_not_allowed",
                    "this method is not allowed on this path");
    if (c->route == R_NONE)
        return fail(c, 404, "invalid_request_error", NULL, "not_found", "no such endpoint");
    if (!authorized(c))
        return fail(c, 401, "invalid_request_error", NULL, "invalid_api_key",
                    "a valid API key is needed: Authorization: Bearer KEY");
    const char *cl = MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > OPENAI_MAX_BODY)
        return fail(c, 413, "invalid_request_error", NULL, "request_too_large",
                    "the request body is larger than 8 MiB");
    if (c->route == R_MODELS) return handle_models(c);
    if (c->route == R_HEALTH) return handle_health(c);
    return MHD_YES; /* the body comes next */
}

/* A copy fit for the log: no control characters from the client reach it. */
static void copy_printable(char *dst, size_t cap, const char *src) {
    snprintf(dst, cap, "%s", src);
    for (char *p = dst; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
}

static conn *conn_new(server *s, struct MHD_Connection *mc, const char *url, const char *method) {
    conn *c = lm_xcalloc(1, sizeof *c);
    c->srv = s;
    c->mc = mc;
    c->t0 = lm_now();
    copy_printable(c->method, sizeof c->method, method);
    copy_printable(c->path, sizeof c->path, url);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    c->fd = ci ? ci->connect_fd : -1;
    return c;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    (void)version;
    conn *c = *con_cls;
    if (!c) {
        *con_cls = c = conn_new(cls, mc, url, method);
        return on_headers(c);
    }
    if (c->status) return MHD_YES; /* answered already: the rest of the body is dropped */
    if (*upload_data_size) {
        c->received += *upload_data_size;
        if (c->received > 2 * OPENAI_MAX_BODY) return MHD_NO; /* not worth reading on */
        if (c->received > OPENAI_MAX_BODY)
            c->too_large = true;
        else
            lm_buf_append(&c->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return handle_generate(c, c->route == R_CHAT ? OPENAI_CHAT : OPENAI_COMPLETION);
}

/* One line per request: time, method, path, status, tokens, duration. */
static void log_request(server *s, const conn *c, bool complete) {
    if (s->o.quiet) return;
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char line[512];
    snprintf(line, sizeof line, "%s %s %s %d prompt=%d gen=%d %.1fms%s\n", when, c->method, c->path,
             c->status, c->prompt_tokens, c->gen_tokens, (lm_now() - c->t0) * 1000,
             complete ? "" : " (connection lost)");
    fputs(line, s->o.log ? s->o.log : stderr);
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)mc;
    server *s = cls;
    conn *c = *con_cls;
    if (!c) return;
    *con_cls = NULL;
    if (c->job) {
        sched_job_cancel(c->job); /* nothing left to do when it is done */
        sched_job_release(c->job);
        atomic_fetch_sub(&s->in_flight, 1);
    }
    log_request(s, c, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
    lm_buf_free(&c->body);
    lm_buf_free(&c->text);
    lm_buf_free(&c->sse);
    free(c);
}

/* ---- the daemon ---- */

static int parse_address(const char *host, int port, struct sockaddr_storage *addr, bool *v6,
                         lm_error *err) {
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_PASSIVE, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
        return lm_fail(err, "--host %s is not a numeric IPv4 or IPv6 address", host);
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    if (*v6)
        ((struct sockaddr_in6 *)addr)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)addr)->sin_port = htons((uint16_t)port);
    return 0;
}

static int listen_on(server *s, lm_error *err) {
    const char *host = s->o.host ? s->o.host : "127.0.0.1";
    struct sockaddr_storage addr;
    bool v6;
    if (parse_address(host, s->o.port, &addr, &v6, err)) return -1;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
                     (v6 ? MHD_USE_IPv6 : 0);
    /* the queue, the slots and room for quick requests (health, models) */
    unsigned limit = (unsigned)(s->o.sched.queue + s->o.sched.parallel + 32);
    s->d =
        MHD_start_daemon(flags, (uint16_t)s->o.port, NULL, NULL, on_request, s,
                         MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_LIMIT,
                         limit, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
    if (!s->d) return lm_fail(err, "cannot listen on %s port %d (in use?)", host, s->o.port);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : s->o.port;
    return 0;
}

server *serve_start(const serve_options *o, lm_error *err) {
    server *s = lm_xcalloc(1, sizeof *s);
    s->o = *o;
    s->sched = sched_create(&o->sched, err);
    if (!s->sched || listen_on(s, err) != 0) {
        sched_free(s->sched);
        free(s);
        return NULL;
    }
    return s;
}

int serve_port(const server *s) {
    return s->port;
}

const sched_info *serve_info(const server *s) {
    return sched_get_info(s->sched);
}

void serve_stop(server *s) {
    if (!s) return;
    atomic_store(&s->stopping, true);
    MHD_socket listener = MHD_quiesce_daemon(s->d);
    sched_cancel_all(s->sched);
    /* streams end with their final chunk once their job stops (a token) */
    double t0 = lm_now();
    while (atomic_load(&s->in_flight) > 0 && lm_now() - t0 < 1.5) usleep(10000);
    MHD_stop_daemon(s->d);
    if (listener != MHD_INVALID_SOCKET) close(listener);
    sched_free(s->sched);
    free(s);
}

/* backend_openai: an OpenAI-compatible server (llama-server, vLLM, ollama,
 * lmterm serve ...) behind include/app/backend.h.
 *
 * A transfer thread runs one command at a time from a queue: select (GET
 * /models: the server answers, lists its models, and has the one asked for)
 * and generate (POST /chat/completions with stream: true). The streamed
 * server-sent events are read as they arrive (sse.c) and become the same
 * events the local engine gives, through a queue whose pipe wakes the UI's
 * poll(). Stopping sets a flag the transfer loop checks every 50 ms.
 *
 * The API key is read from the variable the user named and goes nowhere but
 * the Authorization header: not into errors, transcripts, config or argv. */
#include "backend.h"

#include "json.h"
#include "openai_wire.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_BODY (16u << 20) /* bytes of any answer */
#define RATE_WINDOW 16       /* pieces of text the rolling speed looks at */

enum command_kind { CMD_SELECT, CMD_GENERATE, CMD_QUIT };

typedef struct command {
    enum command_kind kind;
    int id;
    char *model; /* SELECT: the id asked for, NULL: the first */
    char *body;  /* GENERATE: the request's JSON */
    struct command *next;
} command;

typedef struct event_node {
    backend_event ev;
    struct event_node *next;
} event_node;

typedef struct openai_backend {
    backend base;
    char *url;  /* base URL without a trailing slash */
    char *name; /* what menus call the server */
    char *key_env, *key;
    long connect_ms, idle_s;

    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cmd_ready;
    command *cmd_head, *cmd_tail;
    event_node *ev_head, *ev_tail;
    int wake[2];
    int next_id;
    atomic_bool cancel;

    /* under mu */
    backend_stats stats;
    char **listed; /* the server's model ids, from the transfer thread */
    size_t n_listed;
    char *model; /* the selected id */

    /* the main thread's copy of the list, for backend_models */
    char **shown;
    size_t n_shown;
} openai_backend;

static char *format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *format(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = lm_xvasprintf(fmt, ap);
    va_end(ap);
    return s;
}

static openai_backend *ob_of(backend *b) {
    return (openai_backend *)b;
}

/* ---- events ---- */

static void push_event(openai_backend *ob, const backend_event *ev) {
    event_node *n = lm_xcalloc(1, sizeof *n);
    n->ev = *ev;
    pthread_mutex_lock(&ob->mu);
    n->ev.stats = ob->stats;
    if (ob->ev_tail)
        ob->ev_tail->next = n;
    else
        ob->ev_head = n;
    ob->ev_tail = n;
    pthread_mutex_unlock(&ob->mu);
    char byte = 1;
    ssize_t w = write(ob->wake[1], &byte, 1); /* a full pipe has the news already */
    (void)w;
}

static bool openai_poll(backend *b, backend_event *ev) {
    openai_backend *ob = ob_of(b);
    char drain[64];
    while (read(ob->wake[0], drain, sizeof drain) > 0) {
    }
    pthread_mutex_lock(&ob->mu);
    event_node *n = ob->ev_head;
    if (n) {
        ob->ev_head = n->next;
        if (!ob->ev_head) ob->ev_tail = NULL;
    }
    pthread_mutex_unlock(&ob->mu);
    if (!n) return false;
    *ev = n->ev;
    free(n);
    return true;
}

static void set_state(openai_backend *ob, enum backend_state st) {
    pthread_mutex_lock(&ob->mu);
    ob->stats.state = st;
    pthread_mutex_unlock(&ob->mu);
}

/* ---- one transfer ---- */

typedef struct transfer {
    openai_backend *ob;
    long status;
    bool streaming;  /* a 2xx answer: the body goes to the sink */
    lm_buf body;     /* otherwise (and for GET): buffered, up to MAX_BODY */
    size_t received; /* body bytes */
    double last_byte; /* when the last byte came (or the request went) */
    bool too_large;
    int (*sink)(void *user, const char *data, size_t n, lm_error *err);
    void *user;
    bool sink_failed;
    lm_error sink_err;
} transfer;

static size_t on_write(char *data, size_t size, size_t n, void *arg) {
    transfer *t = arg;
    size_t len = size * n;
    t->received += len;
    t->last_byte = lm_now();
    if (t->received > MAX_BODY) {
        t->too_large = true;
        return 0;
    }
    if (t->streaming && t->sink) {
        if (t->sink(t->user, data, len, &t->sink_err)) {
            t->sink_failed = true;
            return 0;
        }
        return len;
    }
    lm_buf_append(&t->body, data, len);
    return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg) {
    transfer *t = arg;
    t->last_byte = lm_now();
    if (size * n > 5 && memcmp(data, "HTTP/", 5) == 0) { /* a status line: a new response */
        long status = 0;
        const char *sp = memchr(data, ' ', size * n);
        if (sp) status = strtol(sp + 1, NULL, 10);
        t->status = status;
        t->streaming = status >= 200 && status < 300;
        t->body.len = 0;
        t->received = 0;
    }
    return size * n;
}

/* "host:port" of the base URL, for messages. */
static void host_of(const char *url, char *out, size_t size) {
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = strcspn(p, "/?#");
    snprintf(out, size, "%.*s", (int)n, p);
}

/* A libcurl failure as one line. */
static int transfer_error(openai_backend *ob, CURLcode rc, const transfer *t, const char *detail,
                          long os_errno, lm_error *err) {
    char host[256];
    host_of(ob->url, host, sizeof host);
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        return lm_fail(err, "cannot connect to %s: %s", host,
                       os_errno ? strerror((int)os_errno) : "no server answers there");
    case CURLE_COULDNT_RESOLVE_HOST:
        return lm_fail(err, "cannot resolve host %s", host);
    case CURLE_COULDNT_RESOLVE_PROXY:
        return lm_fail(err, "cannot resolve the proxy for %s", host);
    case CURLE_OPERATION_TIMEDOUT: /* only the connect timeout is libcurl's */
        (void)t;
        return lm_fail(err, "no connection to %s within %.3g s", host, ob->connect_ms / 1000.0);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CACERT_BADFILE:
        return lm_fail(err, "TLS error with %s: %s", host, detail[0] ? detail : "handshake failed");
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
        return lm_fail(err, "%s closed the connection mid-answer", host);
    default:
        return lm_fail(err, "%s: %s", host, detail[0] ? detail : curl_easy_strerror(rc));
    }
}

/* Performs a request on this thread; the cancel flag is checked every 50 ms.
 * Returns 0 when an answer came (any status: t->status), 1 when cancelled,
 * -1 with err otherwise. */
static int perform(openai_backend *ob, const char *path, const char *body, transfer *t,
                   lm_error *err) {
    char *url = format("%s%s", ob->url, path);
    CURL *c = curl_easy_init();
    CURLM *m = curl_multi_init();
    if (!c || !m) {
        free(url);
        curl_easy_cleanup(c);
        curl_multi_cleanup(m);
        return lm_fail(err, "cannot start an HTTP transfer");
    }
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json, text/event-stream");
    char *auth = ob->key ? format("Authorization: Bearer %s", ob->key) : NULL;
    if (auth) h = curl_slist_append(h, auth);
    if (body) h = curl_slist_append(h, "Content-Type: application/json");
    char detail[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, detail);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ob->connect_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "lmterm");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_multi_add_handle(m, c);
    int running = 1, rc = 0;
    CURLcode result = CURLE_OK;
    t->last_byte = lm_now();
    bool idle = false;
    while (running) {
        if (atomic_load(&ob->cancel)) {
            rc = 1;
            break;
        }
        /* libcurl's low-speed check averages over seconds: timed here instead */
        if ((idle = lm_now() - t->last_byte > (double)ob->idle_s)) break;
        if (curl_multi_perform(m, &running) != CURLM_OK) break;
        if (running) curl_multi_poll(m, NULL, 0, 50, NULL);
    }
    int left;
    for (CURLMsg *msg; (msg = curl_multi_info_read(m, &left));)
        if (msg->msg == CURLMSG_DONE) result = msg->data.result;
    long os_errno = 0;
    curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
    char host[256];
    host_of(ob->url, host, sizeof host);
    if (rc == 0 && idle)
        rc = lm_fail(err, "no %s from %s for %ld s", t->status ? "data" : "answer", host, ob->idle_s);
    else if (rc == 0 && t->too_large)
        rc = lm_fail(err, "the server's answer is larger than %u MiB", MAX_BODY >> 20);
    else if (rc == 0 && t->sink_failed)
        rc = lm_fail(err, "%s", t->sink_err.msg);
    else if (rc == 0 && result != CURLE_OK)
        rc = transfer_error(ob, result, t, detail, os_errno, err);
    curl_multi_remove_handle(m, c);
    curl_easy_cleanup(c);
    curl_multi_cleanup(m);
    curl_slist_free_all(h);
    if (auth) memset(auth, 0, strlen(auth));
    free(auth);
    free(url);
    return rc;
}

/* A 4xx or 5xx answer as one line, with the server's own message. */
static int status_error(openai_backend *ob, transfer *t, const char *what, lm_error *err) {
    char msg[300];
    openai_error_message(lm_buf_cstr(&t->body), t->body.len, msg, sizeof msg);
    const char *sep = msg[0] ? ": " : "";
    if (t->status == 401 || t->status == 403) {
        if (ob->key_env)
            return lm_fail(err, "HTTP %ld from %s%s%s (set %s to a valid API key)", t->status,
                           ob->name, sep, msg, ob->key_env);
        return lm_fail(err,
                       "HTTP %ld from %s%s%s (it wants an API key: put it in a variable and name "
                       "that with --api-key-env VAR)",
                       t->status, ob->name, sep, msg);
    }
    if (t->status == 404)
        return lm_fail(err, "HTTP 404 from %s for %s%s%s (is the model id right, and does the URL "
                            "end in /v1?)",
                       ob->name, what, sep, msg);
    return lm_fail(err, "HTTP %ld from %s%s%s", t->status, ob->name, sep, msg);
}

/* ---- select: GET /models ---- */

static void set_listed(openai_backend *ob, char **ids, size_t n) {
    pthread_mutex_lock(&ob->mu);
    for (size_t i = 0; i < ob->n_listed; i++) free(ob->listed[i]);
    free(ob->listed);
    ob->listed = ids;
    ob->n_listed = n;
    pthread_mutex_unlock(&ob->mu);
}

static int fetch_models(openai_backend *ob, char ***ids, size_t *n, lm_error *err) {
    transfer t = {.ob = ob};
    int rc = perform(ob, "/models", NULL, &t, err);
    *ids = NULL;
    *n = 0;
    if (rc == 0 && t.status == 404) rc = 2; /* no list here: take the model on trust */
    else if (rc == 0 && (t.status < 200 || t.status >= 300))
        rc = status_error(ob, &t, "/models", err);
    else if (rc == 0 && openai_parse_models(lm_buf_cstr(&t.body), t.body.len, ids, n, err))
        rc = -1;
    lm_buf_free(&t.body);
    return rc;
}

static void run_select(openai_backend *ob, command *c) {
    lm_error err;
    char **ids;
    size_t n;
    set_state(ob, BACKEND_LOADING);
    int rc = fetch_models(ob, &ids, &n, &err);
    const char *chosen = c->model;
    if (rc == 0 && !chosen && n) chosen = ids[0];
    if (rc == 0 && !chosen) rc = lm_fail(&err, "%s lists no models", ob->name);
    if (rc == 2 && !chosen)
        rc = lm_fail(&err, "%s does not list its models: name one with -m MODEL_ID", ob->name);
    bool found = rc != 0;
    for (size_t i = 0; rc == 0 && i < n && !found; i++) found = strcmp(ids[i], chosen) == 0;
    if (!found) {
        lm_buf have = {0};
        for (size_t i = 0; i < n && i < 8; i++) lm_buf_printf(&have, "%s%s", i ? ", " : "", ids[i]);
        if (n > 8) lm_buf_printf(&have, " and %zu more", n - 8);
        rc = lm_fail(&err, "model '%s' is not on %s (it has: %s)", chosen, ob->name,
                     lm_buf_cstr(&have));
        lm_buf_free(&have);
    }
    backend_event ev = {.request_id = c->id, .token = -1};
    if (rc == 1 || rc == -1) {
        ev.kind = BACKEND_EV_LOAD_FAILED;
        ev.text = lm_xstrdup(rc == 1 ? "cancelled" : err.msg);
        for (size_t i = 0; i < n; i++) free(ids[i]);
        free(ids);
        set_state(ob, ob->model ? BACKEND_IDLE : BACKEND_EMPTY);
        push_event(ob, &ev);
        return;
    }
    ev.kind = BACKEND_EV_LOADED;
    ev.info.remote = true;
    snprintf(ev.info.path, sizeof ev.info.path, "%s", chosen);
    snprintf(ev.info.name, sizeof ev.info.name, "%s", chosen);
    snprintf(ev.info.server, sizeof ev.info.server, "%s", ob->name);
    pthread_mutex_lock(&ob->mu);
    free(ob->model);
    ob->model = lm_xstrdup(chosen);
    ob->stats.state = BACKEND_IDLE;
    pthread_mutex_unlock(&ob->mu);
    set_listed(ob, ids, n);
    push_event(ob, &ev);
}

/* ---- generate: POST /chat/completions, streamed ---- */

typedef struct reply {
    openai_backend *ob;
    int id;
    sse_parser sse;
    openai_chunk_state st;
    double t_sent, t_first, t_window[RATE_WINDOW];
    int n_pieces;
} reply;

static void note_piece(reply *r) {
    double now = lm_now();
    if (!r->t_first) r->t_first = now;
    r->t_window[r->n_pieces % RATE_WINDOW] = now;
    r->n_pieces++;
    int k = r->n_pieces < RATE_WINDOW ? r->n_pieces : RATE_WINDOW;
    double oldest = r->t_window[(r->n_pieces - k) % RATE_WINDOW];
    pthread_mutex_lock(&r->ob->mu);
    r->ob->stats.state = BACKEND_GENERATING;
    r->ob->stats.first_token = r->t_first - r->t_sent;
    r->ob->stats.n_generated = r->n_pieces;
    if (k > 1 && now > oldest) r->ob->stats.gen_tps = (k - 1) / (now - oldest);
    pthread_mutex_unlock(&r->ob->mu);
}

static int on_sse(void *user, const char *event, const char *data, size_t len) {
    (void)event;
    reply *r = user;
    lm_buf text = {0};
    int rc = openai_parse_chunk(&r->st, data, len, &text);
    if (text.len) {
        note_piece(r);
        backend_event ev = {.kind = BACKEND_EV_TOKEN,
                            .request_id = r->id,
                            .token = -1,
                            .text = lm_xstrdup(lm_buf_cstr(&text))};
        push_event(r->ob, &ev);
    }
    lm_buf_free(&text);
    return rc;
}

static int on_stream(void *user, const char *data, size_t n, lm_error *err) {
    reply *r = user;
    int rc = sse_feed(&r->sse, data, n, on_sse, r, err);
    if (rc > 0) lm_fail(err, "%s", r->st.error);
    return rc;
}

/* The server's own figures, where it gave them, over the stream's. */
static void final_stats(reply *r) {
    const openai_chunk_state *s = &r->st;
    pthread_mutex_lock(&r->ob->mu);
    backend_stats *st = &r->ob->stats;
    if (s->completion_tokens > 0) st->n_generated = s->completion_tokens;
    if (s->prompt_tokens > 0) st->n_prompt_tokens = st->n_prompt_evaluated = s->prompt_tokens;
    if (s->prompt_n > 0) st->n_prompt_evaluated = s->prompt_n;
    if (s->prompt_per_second > 0) st->prompt_tps = s->prompt_per_second;
    double span = r->n_pieces > 1 ? lm_now() - r->t_first : 0;
    if (s->predicted_per_second > 0)
        st->gen_tps = s->predicted_per_second;
    else if (span > 0)
        st->gen_tps = (st->n_generated > 1 ? st->n_generated - 1 : 1) / span;
    st->state = BACKEND_IDLE;
    pthread_mutex_unlock(&r->ob->mu);
}

static enum backend_stop_reason finish(reply *r, int rc, transfer *t, lm_error *err) {
    if (rc == 1) return BACKEND_STOP_USER;
    if (rc < 0) return BACKEND_STOP_ERROR;
    if (t->status < 200 || t->status >= 300) {
        status_error(r->ob, t, "/chat/completions", err);
        return BACKEND_STOP_ERROR;
    }
    if (!t->streaming || (!r->st.done && !r->st.finish[0] && !r->n_pieces && t->body.len)) {
        lm_fail(err, "the server did not stream its answer");
        return BACKEND_STOP_ERROR;
    }
    if (!r->st.done && !r->st.finish[0]) {
        lm_fail(err, "%s ended the stream mid-reply; the reply so far is kept", r->ob->name);
        return BACKEND_STOP_ERROR;
    }
    if (strcmp(r->st.finish, "length") == 0) return BACKEND_STOP_MAX_TOKENS;
    return BACKEND_STOP_EOG;
}

/* A stream that broke after some text: say that the text stays. */
static void note_kept(const reply *r, lm_error *err) {
    if (r->n_pieces && !strstr(err->msg, "kept"))
        snprintf(err->msg + strlen(err->msg), sizeof err->msg - strlen(err->msg),
                 "; the reply so far is kept");
}

static void run_generate(openai_backend *ob, command *c) {
    reply r = {.ob = ob, .id = c->id, .t_sent = lm_now()};
    sse_init(&r.sse);
    pthread_mutex_lock(&ob->mu);
    ob->stats = (backend_stats){.state = BACKEND_PROMPT};
    pthread_mutex_unlock(&ob->mu);
    transfer t = {.ob = ob, .sink = on_stream, .user = &r};
    lm_error err;
    int rc = perform(ob, "/chat/completions", c->body, &t, &err);
    backend_event ev = {.kind = BACKEND_EV_DONE, .request_id = c->id, .token = -1};
    ev.reason = finish(&r, rc, &t, &err);
    if (ev.reason == BACKEND_STOP_ERROR) {
        note_kept(&r, &err);
        ev.text = lm_xstrdup(err.msg);
    }
    final_stats(&r);
    push_event(ob, &ev);
    sse_free(&r.sse);
    lm_buf_free(&t.body);
}

/* ---- the thread and its queue ---- */

static command *next_command(openai_backend *ob) {
    pthread_mutex_lock(&ob->mu);
    while (!ob->cmd_head) pthread_cond_wait(&ob->cmd_ready, &ob->mu);
    command *c = ob->cmd_head;
    ob->cmd_head = c->next;
    if (!ob->cmd_head) ob->cmd_tail = NULL;
    pthread_mutex_unlock(&ob->mu);
    return c;
}

static void free_command(command *c) {
    free(c->model);
    free(c->body);
    free(c);
}

static void *transfer_main(void *arg) {
    openai_backend *ob = arg;
    for (;;) {
        command *c = next_command(ob);
        if (c->kind == CMD_QUIT) {
            free_command(c);
            return NULL;
        }
        atomic_store(&ob->cancel, false);
        if (c->kind == CMD_SELECT) run_select(ob, c);
        if (c->kind == CMD_GENERATE) run_generate(ob, c);
        free_command(c);
    }
}

static int enqueue(openai_backend *ob, command *c) {
    pthread_mutex_lock(&ob->mu);
    c->id = c->id ? c->id : ++ob->next_id;
    if (ob->cmd_tail)
        ob->cmd_tail->next = c;
    else
        ob->cmd_head = c;
    ob->cmd_tail = c;
    pthread_cond_signal(&ob->cmd_ready);
    pthread_mutex_unlock(&ob->mu);
    return c->id;
}

/* ---- the calls ---- */

static int openai_fd(const backend *b) {
    return ((const openai_backend *)b)->wake[0];
}

static int openai_select(backend *b, const char *model, const model_options *opt) {
    (void)opt; /* the server decides precision, threads and context */
    command *c = lm_xcalloc(1, sizeof *c);
    c->kind = CMD_SELECT;
    c->model = model && *model ? lm_xstrdup(model) : NULL;
    return enqueue(ob_of(b), c);
}

static int openai_generate(backend *b, const chat *ch, const backend_params *p) {
    openai_backend *ob = ob_of(b);
    command *c = lm_xcalloc(1, sizeof *c);
    c->kind = CMD_GENERATE;
    pthread_mutex_lock(&ob->mu);
    lm_buf body = {0};
    openai_request_body(ch, ob->model ? ob->model : "", p, &body);
    pthread_mutex_unlock(&ob->mu);
    c->body = (char *)lm_buf_cstr(&body);
    return enqueue(ob, c);
}

static void openai_stop(backend *b) {
    atomic_store(&ob_of(b)->cancel, true);
}

static int openai_reset(backend *b) {
    (void)b; /* the server keeps nothing of ours between requests */
    return 0;
}

static backend_stats openai_stats(backend *b) {
    openai_backend *ob = ob_of(b);
    pthread_mutex_lock(&ob->mu);
    backend_stats s = ob->stats;
    pthread_mutex_unlock(&ob->mu);
    return s;
}

static size_t openai_models(backend *b, const char *const **ids) {
    openai_backend *ob = ob_of(b);
    pthread_mutex_lock(&ob->mu);
    for (size_t i = 0; i < ob->n_shown; i++) free(ob->shown[i]);
    ob->shown = lm_xrealloc(ob->shown, (ob->n_listed + 1) * sizeof *ob->shown);
    for (size_t i = 0; i < ob->n_listed; i++) ob->shown[i] = lm_xstrdup(ob->listed[i]);
    ob->n_shown = ob->n_listed;
    pthread_mutex_unlock(&ob->mu);
    *ids = (const char *const *)ob->shown;
    return ob->n_shown;
}

static void openai_close(backend *b) {
    openai_backend *ob = ob_of(b);
    atomic_store(&ob->cancel, true);
    command *quit = lm_xcalloc(1, sizeof *quit);
    quit->kind = CMD_QUIT;
    pthread_mutex_lock(&ob->mu); /* ahead of anything queued */
    for (command *c = ob->cmd_head, *next; c; c = next) {
        next = c->next;
        free_command(c);
    }
    ob->cmd_head = ob->cmd_tail = quit;
    pthread_cond_signal(&ob->cmd_ready);
    pthread_mutex_unlock(&ob->mu);
    pthread_join(ob->thread, NULL);
    backend_event ev;
    while (openai_poll(b, &ev)) backend_event_free(&ev);
    set_listed(ob, NULL, 0);
    for (size_t i = 0; i < ob->n_shown; i++) free(ob->shown[i]);
    free(ob->shown);
    close(ob->wake[0]);
    close(ob->wake[1]);
    pthread_mutex_destroy(&ob->mu);
    pthread_cond_destroy(&ob->cmd_ready);
    if (ob->key) memset(ob->key, 0, strlen(ob->key));
    free(ob->key);
    free(ob->key_env);
    free(ob->url);
    free(ob->name);
    free(ob->model);
    free(ob);
}

static const backend_ops openai_ops = {
    .close = openai_close,
    .fd = openai_fd,
    .poll = openai_poll,
    .select = openai_select,
    .generate = openai_generate,
    .stop = openai_stop,
    .reset = openai_reset,
    .stats = openai_stats,
    .models = openai_models,
};

static void global_init(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* The key from its variable; 0 when none is asked for. */
static int read_key(openai_backend *ob, const char *var, lm_error *err) {
    if (!var || !*var) return 0;
    const char *v = getenv(var);
    if (!v || !*v) return lm_fail(err, "%s is not set: it should hold the server's API key", var);
    ob->key_env = lm_xstrdup(var);
    ob->key = lm_xstrdup(v);
    return 0;
}

backend *backend_openai_create(const backend_openai_options *o, lm_error *err) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    const char *url = o->base_url ? o->base_url : "";
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        lm_fail(err, "'%s' is not a server URL (http://HOST:PORT/v1 or https://...)", url);
        return NULL;
    }
    pthread_once(&once, global_init);
    openai_backend *ob = lm_xcalloc(1, sizeof *ob);
    ob->base = (backend){.ops = &openai_ops, .kind = "openai"};
    size_t len = strlen(url);
    while (len > 0 && url[len - 1] == '/') len--;
    ob->url = lm_xstrndup(url, len);
    ob->name = lm_xstrdup(o->name && *o->name ? o->name : ob->url);
    ob->connect_ms = o->connect_timeout > 0 ? (long)(o->connect_timeout * 1000) : 10000;
    ob->idle_s = o->idle_timeout > 0 ? (long)(o->idle_timeout + 0.5) : 60;
    if (ob->idle_s < 1) ob->idle_s = 1;
    bool no_key = read_key(ob, o->api_key_env, err) != 0;
    if (no_key || pipe2(ob->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        if (!no_key) lm_fail(err, "cannot create a pipe");
        free(ob->key);
        free(ob->key_env);
        free(ob->url);
        free(ob->name);
        free(ob);
        return NULL;
    }
    pthread_mutex_init(&ob->mu, NULL);
    pthread_cond_init(&ob->cmd_ready, NULL);
    if (pthread_create(&ob->thread, NULL, transfer_main, ob) != 0) {
        lm_fail(err, "cannot start the transfer thread");
        ob->thread = pthread_self();
        close(ob->wake[0]);
        close(ob->wake[1]);
        free(ob->key);
        free(ob->key_env);
        free(ob->url);
        free(ob->name);
        free(ob);
        return NULL;
    }
    return &ob->base;
}

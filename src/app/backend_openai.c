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

#include "http.h"
#include "json.h"
#include "queue.h"
#include "openai_wire.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BODY (16u << 20) /* bytes of any answer */
#define RATE_WINDOW 16       /* pieces of text the rolling speed looks at */

enum command_kind { CMD_SELECT, CMD_GENERATE, CMD_QUIT };

typedef struct command {
    enum command_kind kind;
    int id;
    char *model; /* SELECT: the id asked for, NULL: the first */
    char *body;  /* GENERATE: the request's JSON */
} command;

typedef struct openai_backend {
    backend base;
    char *url;  /* base URL without a trailing slash */
    char *name; /* what menus call the server */
    char *key_env, *key;
    long connect_ms, idle_s;

    pthread_t thread;
    lm_queue commands, events; /* to the transfer thread, and back */
    atomic_bool cancel;

    pthread_mutex_t mu; /* over what follows */
    int next_id;
    int stop_upto; /* commands up to this id are stopped, run or queued */
    backend_stats stats;
    char **listed; /* the server's model ids, from the transfer thread */
    size_t n_listed;
    char *model; /* the selected id */

    /* the main thread's copy of the list, for backend_models */
    backend_model *shown;
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

/* Queues a copy of ev, with the statistics as they are now. */
static void push_event(openai_backend *ob, const backend_event *ev) {
    backend_event *copy = lm_xmalloc(sizeof *copy);
    *copy = *ev;
    pthread_mutex_lock(&ob->mu);
    copy->stats = ob->stats;
    pthread_mutex_unlock(&ob->mu);
    lm_queue_push(&ob->events, copy);
}

static bool openai_poll(backend *b, backend_event *ev) {
    backend_event *e = lm_queue_pop(&ob_of(b)->events);
    if (!e) return false;
    *ev = *e;
    free(e);
    return true;
}

static void free_event(void *ev) {
    backend_event_free(ev);
    free(ev);
}

static void set_state(openai_backend *ob, enum backend_state st) {
    pthread_mutex_lock(&ob->mu);
    ob->stats.state = st;
    pthread_mutex_unlock(&ob->mu);
}

/* ---- one transfer ---- */

typedef struct transfer {
    long status;
    lm_buf body;     /* a buffered body (GET), or an error's first 16 KiB */
    size_t received; /* streamed bytes */
    int (*sink)(void *user, const char *data, size_t n, lm_error *err);
    void *user;
} transfer;

static int on_head(void *arg, const http_head *h, lm_error *err) {
    (void)err;
    ((transfer *)arg)->status = h->status;
    return 0;
}

static int on_body(void *arg, const char *data, size_t n, lm_error *err) {
    transfer *t = arg;
    t->received += n;
    if (t->received > MAX_BODY)
        return lm_fail(err, "the server's answer is larger than %u MiB", MAX_BODY >> 20);
    return t->sink(t->user, data, n, err);
}

/* "host:port" of the base URL, for messages. */
static void host_of(const char *url, char *out, size_t size) {
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = strcspn(p, "/?#");
    snprintf(out, size, "%.*s", (int)n, p);
}

/* Performs a request on this thread (http.c looks at the cancel flag every
 * 50 ms and times the idle stream). Returns 0 when an answer came (any
 * status: t->status), 1 when cancelled, -1 with err otherwise. */
static int perform(openai_backend *ob, const char *path, const char *body, transfer *t,
                   lm_error *err) {
    char *url = format("%s%s", ob->url, path);
    static const char *const headers[] = {"Accept: application/json, text/event-stream", NULL};
    http_request req = {.method = body ? "POST" : "GET",
                        .url = url,
                        .headers = headers,
                        .bearer = ob->key,
                        .body = body,
                        .body_len = body ? strlen(body) : 0,
                        .connect_timeout_ms = ob->connect_ms,
                        .idle_timeout_s = ob->idle_s,
                        .cancel = &ob->cancel,
                        .on_head = on_head,
                        .on_body = t->sink ? on_body : NULL,
                        .user = t,
                        .max_body = MAX_BODY};
    http_result res;
    int rc = http_perform(&req, &res, err);
    if (!t->status) t->status = res.head.status;
    if (res.body.len) lm_buf_append(&t->body, res.body.data, res.body.len);
    char host[256];
    host_of(ob->url, host, sizeof host);
    if (res.kind == HTTP_ERR_CANCELLED)
        rc = 1;
    else if (res.kind == HTTP_ERR_STATUS)
        rc = 0; /* the caller words it, with the server's message */
    else if (res.kind == HTTP_ERR_CLOSED)
        rc = lm_fail(err, "%s closed the connection mid-answer", host);
    else if (res.kind == HTTP_ERR_TOO_LARGE)
        rc = lm_fail(err, "the server's answer is larger than %u MiB", MAX_BODY >> 20);
    http_result_free(&res);
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
    transfer t = {0};
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
    int n_pieces, n_events;
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
    r->n_events++;
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
    if (!r->n_events && t->received) {
        lm_fail(err, "the server did not stream its answer");
        return BACKEND_STOP_ERROR;
    }
    if (!r->st.done && !r->st.finish[0]) {
        lm_fail(err, "%s ended the stream before the reply's end", r->ob->name);
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
    transfer t = {.sink = on_stream, .user = &r};
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

static void free_command(void *arg) {
    command *c = arg;
    free(c->model);
    free(c->body);
    free(c);
}

static void *transfer_main(void *arg) {
    openai_backend *ob = arg;
    for (;;) {
        command *c = lm_queue_wait(&ob->commands);
        if (c->kind == CMD_QUIT) {
            free_command(c);
            return NULL;
        }
        /* a stop that came while the command waited stops it too */
        pthread_mutex_lock(&ob->mu);
        atomic_store(&ob->cancel, c->id <= ob->stop_upto);
        pthread_mutex_unlock(&ob->mu);
        if (c->kind == CMD_SELECT) run_select(ob, c);
        if (c->kind == CMD_GENERATE) run_generate(ob, c);
        free_command(c);
    }
}

static int enqueue(openai_backend *ob, command *c) {
    pthread_mutex_lock(&ob->mu);
    int id = c->id = ++ob->next_id;
    pthread_mutex_unlock(&ob->mu);
    lm_queue_push(&ob->commands, c); /* c is the thread's from here */
    return id;
}

/* ---- the calls ---- */

static int openai_fd(const backend *b) {
    return lm_queue_fd(&((const openai_backend *)b)->events);
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
    openai_backend *ob = ob_of(b);
    pthread_mutex_lock(&ob->mu);
    ob->stop_upto = ob->next_id;
    atomic_store(&ob->cancel, true);
    pthread_mutex_unlock(&ob->mu);
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

/* All a client knows of a server's model before using it: that it is one. */
static const backend_model_meta on_server = {.ok = true, .arch = "remote"};

static size_t openai_models(backend *b, const backend_model **rows, char notice[256]) {
    (void)notice;
    openai_backend *ob = ob_of(b);
    pthread_mutex_lock(&ob->mu);
    ob->shown = lm_xrealloc(ob->shown, (ob->n_listed + 1) * sizeof *ob->shown);
    for (size_t i = 0; i < ob->n_listed; i++) {
        backend_model *r = memset(&ob->shown[i], 0, sizeof *ob->shown);
        snprintf(r->name, sizeof r->name, "%s", ob->listed[i]);
        snprintf(r->id, sizeof r->id, "%s", ob->listed[i]);
        r->meta = &on_server;
    }
    ob->n_shown = ob->n_listed;
    pthread_mutex_unlock(&ob->mu);
    *rows = ob->shown;
    return ob->n_shown;
}

static const backend_model_meta *openai_describe(backend *b, const char *model) {
    (void)b;
    (void)model;
    return &on_server;
}

/* What create allocates before the thread starts. */
static void free_fields(openai_backend *ob) {
    if (ob->key) memset(ob->key, 0, strlen(ob->key));
    free(ob->key);
    free(ob->key_env);
    free(ob->url);
    free(ob->name);
    free(ob->model);
    free(ob);
}

static void openai_close(backend *b) {
    openai_backend *ob = ob_of(b);
    openai_stop(b);
    command *quit = lm_xcalloc(1, sizeof *quit);
    quit->kind = CMD_QUIT;
    lm_queue_push_front(&ob->commands, quit); /* ahead of anything queued, which is dropped */
    pthread_join(ob->thread, NULL);
    lm_queue_destroy(&ob->commands, free_command);
    lm_queue_destroy(&ob->events, free_event);
    set_listed(ob, NULL, 0);
    free(ob->shown);
    pthread_mutex_destroy(&ob->mu);
    free_fields(ob);
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
    .describe = openai_describe,
};

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
    const char *url = o->base_url ? o->base_url : "";
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        lm_fail(err, "'%s' is not a server URL (http://HOST:PORT/v1 or https://...)", url);
        return NULL;
    }
    openai_backend *ob = lm_xcalloc(1, sizeof *ob);
    ob->base = (backend){.ops = &openai_ops, .kind = "openai"};
    size_t len = strlen(url);
    while (len > 0 && url[len - 1] == '/') len--;
    ob->url = lm_xstrndup(url, len);
    ob->name = lm_xstrdup(o->name && *o->name ? o->name : ob->url);
    ob->connect_ms = o->connect_timeout > 0 ? (long)(o->connect_timeout * 1000) : 10000;
    ob->idle_s = o->idle_timeout > 0 ? (long)(o->idle_timeout + 0.5) : 60;
    if (ob->idle_s < 1) ob->idle_s = 1;
    if (read_key(ob, o->api_key_env, err) || lm_queue_init(&ob->commands, err)) {
        free_fields(ob);
        return NULL;
    }
    if (lm_queue_init(&ob->events, err)) {
        lm_queue_destroy(&ob->commands, NULL);
        free_fields(ob);
        return NULL;
    }
    pthread_mutex_init(&ob->mu, NULL);
    if (pthread_create(&ob->thread, NULL, transfer_main, ob) != 0) {
        lm_fail(err, "cannot start the transfer thread");
        lm_queue_destroy(&ob->commands, NULL);
        lm_queue_destroy(&ob->events, NULL);
        pthread_mutex_destroy(&ob->mu);
        free_fields(ob);
        return NULL;
    }
    return &ob->base;
}

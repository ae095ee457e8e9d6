/* scheduler: see include/serve/scheduler.h.
 *
 * One thread drives the engine: it moves waiting jobs into free slots,
 * passes each engine event to its job, and turns a cancelled job into a stop
 * of its request. It sleeps in poll() on the engine's wake-up descriptor and
 * on a pipe that submit and cancel write to, so it reacts within a token.
 *
 * Switching models happens on that thread too, between jobs: the engine is
 * freed (the old model unloaded before the new one is read, so two models
 * never need to fit at once) and a fresh one loads the asked model. */
#include "scheduler.h"
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct sched_job {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs; /* under mu */
    sched *s;
    engine_request req;
    char *stop[OPENAI_MAX_STOP];
    int n_stop;
    int model;              /* index into the scheduler's models */
    openai_stopper stopper; /* scheduler thread only */
    lm_buf out;             /* under mu: text not yet taken */
    sched_outcome o;        /* under mu */
    atomic_bool cancel;
    bool stop_sent;           /* scheduler thread only */
    int engine_id, slot;      /* scheduler thread only */
    int n_gen, n_gen_at_stop; /* scheduler thread only */
    double t_submit, t_prompt;
    struct sched_job *next; /* the waiting list, under the scheduler's mu */
};

/* A model the server may load. */
typedef struct sched_model {
    char *path;
    char id[256]; /* the file's name without .gguf */
    enum chat_template_kind tmpl;
} sched_model;

struct sched {
    engine *e; /* written under mu (by the thread); NULL only when a fresh one could not be made */
    sched_info info;
    model_options model_opt;
    int parallel;
    sched_model *models;
    int n_models;
    int loaded, last_loaded; /* under mu; loaded -1: none */
    int loaded_ctx;          /* under mu */
    bool loading;            /* under mu: a switch is reading a model */
    int queue_cap;
    pthread_t thread;
    pthread_mutex_t mu;
    sched_job *wait_head, *wait_tail;
    int n_waiting;
    sched_job **active; /* one per slot; the scheduler thread only */
    atomic_int n_active;
    bool stopping, quit; /* under mu */
    int kick[2];
};

/* ---- jobs ---- */

static void kick(sched *s) {
    char byte = 1;
    ssize_t w = write(s->kick[1], &byte, 1); /* a full pipe is awake already */
    (void)w;
}

static void job_free(sched_job *j) {
    engine_request_free(&j->req);
    for (int i = 0; i < j->n_stop; i++) free(j->stop[i]);
    openai_stopper_free(&j->stopper);
    lm_buf_free(&j->out);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

void sched_job_release(sched_job *j) {
    if (!j) return;
    pthread_mutex_lock(&j->mu);
    int left = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (left == 0) job_free(j);
}

void sched_job_cancel(sched_job *j) {
    atomic_store(&j->cancel, true);
    kick(j->s);
}

static void job_signal(sched_job *j) {
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

/* Ends a job that never reached the engine (or failed there). */
static void job_fail(sched_job *j, int status, const char *code, const char *msg) {
    pthread_mutex_lock(&j->mu);
    j->o.started = j->o.done = j->o.failed = true;
    openai_fail(&j->o.error, status, status >= 500 ? "server_error" : "invalid_request_error", NULL,
                code, "%s", msg);
    job_signal(j);
}

void sched_job_take(sched_job *j, lm_buf *out, double timeout, sched_outcome *o) {
    pthread_mutex_lock(&j->mu);
    if (j->out.len == 0 && !j->o.done && timeout > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long long ns = ts.tv_nsec + (long long)(timeout * 1e9);
        ts.tv_sec += (time_t)(ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&j->cv, &j->mu, &ts);
    }
    lm_buf_append(out, j->out.data, j->out.len);
    j->out.len = 0;
    *o = j->o;
    pthread_mutex_unlock(&j->mu);
}

sched_job *sched_submit(sched *s, int model, engine_request *req, char *const *stop, int n_stop,
                        openai_error *err) {
    pthread_mutex_lock(&s->mu);
    bool full = s->n_waiting >= s->queue_cap, stopping = s->stopping;
    if (full || stopping) {
        pthread_mutex_unlock(&s->mu);
        engine_request_free(req);
        openai_fail(err, 503, "server_error", NULL, stopping ? "shutting_down" : "queue_full",
                    stopping ? "the server is shutting down"
                             : "the server is busy: %d requests are waiting; try again later",
                    s->n_waiting);
        return NULL;
    }
    sched_job *j = lm_xcalloc(1, sizeof *j);
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->refs = 2; /* the caller and the scheduler */
    j->s = s;
    j->model = model >= 0 && model < s->n_models ? model : 0;
    j->req = *req;
    memset(req, 0, sizeof *req);
    for (int i = 0; i < n_stop && i < OPENAI_MAX_STOP; i++)
        j->stop[j->n_stop++] = lm_xstrdup(stop[i]);
    j->slot = -1;
    if (s->wait_tail)
        s->wait_tail->next = j;
    else
        s->wait_head = j;
    s->wait_tail = j;
    s->n_waiting++;
    pthread_mutex_unlock(&s->mu);
    kick(s);
    return j;
}

/* ---- the thread ---- */

static int free_slot(const sched *s) {
    for (int i = 0; i < s->info.n_slots; i++)
        if (!s->active[i]) return i;
    return -1;
}

/* Takes j (the head of the waiting list, under mu) out of the list. */
static void pop_head(sched *s) {
    sched_job *j = s->wait_head;
    s->wait_head = j->next;
    if (!s->wait_head) s->wait_tail = NULL;
    s->n_waiting--;
}

/* Ends every waiting job for model m: it could not be loaded. */
static void fail_waiting_for(sched *s, int m, const char *why) {
    char msg[1024];
    snprintf(msg, sizeof msg, "model '%s' could not be loaded: %s", s->models[m].id, why);
    pthread_mutex_lock(&s->mu);
    sched_job **link = &s->wait_head, *prev = NULL;
    while (*link) {
        sched_job *j = *link;
        if (j->model != m) {
            prev = j;
            link = &j->next;
            continue;
        }
        *link = j->next;
        if (s->wait_tail == j) s->wait_tail = prev;
        s->n_waiting--;
        job_fail(j, 500, "model_load_failed", msg);
        sched_job_release(j);
    }
    pthread_mutex_unlock(&s->mu);
}

static int load_model(sched *s, int m, lm_error *err);

/* The slots being idle: unloads the model and loads model m. Without mu. */
static void switch_model(sched *s, int m) {
    pthread_mutex_lock(&s->mu);
    engine *old = s->e;
    s->e = NULL;
    s->loaded = -1;
    pthread_mutex_unlock(&s->mu);
    engine_free(old);
    lm_error err = {{0}};
    engine *fresh = engine_create(&err);
    pthread_mutex_lock(&s->mu);
    s->e = fresh;
    s->loading = fresh != NULL; /* a stop from now on cancels the load */
    pthread_mutex_unlock(&s->mu);
    int rc = fresh ? load_model(s, m, &err) : -1;
    pthread_mutex_lock(&s->mu);
    s->loading = false;
    bool stopping = s->stopping; /* then the waiting jobs end as "shutting down" */
    pthread_mutex_unlock(&s->mu);
    if (rc != 0 && !stopping)
        fail_waiting_for(s, m, err.msg[0] ? err.msg : "the model did not load");
}

/* Hands waiting jobs to free slots, in order; a job for another model than
 * the loaded one waits for the slots to be idle, then has its model loaded.
 * A job cancelled while waiting ends here. */
static void start_waiting(sched *s) {
    pthread_mutex_lock(&s->mu);
    int slot;
    while (s->wait_head) {
        sched_job *j = s->wait_head;
        if (atomic_load(&j->cancel)) {
            pop_head(s);
            job_fail(j, 503, "cancelled", "the request was cancelled before it started");
            sched_job_release(j);
            continue;
        }
        if (j->model != s->loaded) {
            if (atomic_load(&s->n_active) > 0 || s->stopping) break;
            pthread_mutex_unlock(&s->mu);
            switch_model(s, j->model);
            pthread_mutex_lock(&s->mu);
            continue;
        }
        if ((slot = free_slot(s)) < 0) break;
        pop_head(s);
        s->active[slot] = j;
        atomic_fetch_add(&s->n_active, 1);
        j->slot = slot;
        j->t_submit = lm_now();
        j->engine_id = engine_generate_slot(s->e, slot, &j->req);
    }
    pthread_mutex_unlock(&s->mu);
}

static sched_job *job_of(const sched *s, int engine_id) {
    for (int i = 0; i < s->info.n_slots; i++)
        if (s->active[i] && s->active[i]->engine_id == engine_id) return s->active[i];
    return NULL;
}

static void stop_job(sched *s, sched_job *j) {
    if (j->stop_sent) return;
    j->stop_sent = true;
    engine_stop_id(s->e, j->engine_id);
}

static void prompt_read(sched_job *j) {
    if (j->t_prompt == 0) j->t_prompt = lm_now();
    j->o.started = true;
}

static void on_token(sched *s, sched_job *j, const engine_event *ev) {
    lm_buf text = {0};
    bool stopped = j->stopper.stopped;
    if (!stopped) {
        if (ev->token >= 0) j->n_gen++;
        stopped = openai_stopper_feed(&j->stopper, j->stop, j->n_stop, ev->text ? ev->text : "",
                                      ev->text ? strlen(ev->text) : 0, &text);
        if (stopped) j->n_gen_at_stop = j->n_gen;
    }
    pthread_mutex_lock(&j->mu);
    prompt_read(j);
    if (j->o.t_first == 0) j->o.t_first = lm_now();
    lm_buf_append(&j->out, text.data, text.len);
    j->o.usage.completion_tokens = j->n_gen;
    job_signal(j);
    lm_buf_free(&text);
    if (stopped) stop_job(s, j);
}

/* A prompt the context cannot hold is the client's error, not the server's. */
static bool prompt_error(const char *msg) {
    return msg &&
           (strncmp(msg, "the prompt needs", 16) == 0 || strcmp(msg, "the prompt is empty") == 0);
}

static void on_done(sched *s, sched_job *j, const engine_event *ev) {
    lm_buf text = {0};
    openai_stopper_flush(&j->stopper, &text);
    double now = lm_now();
    pthread_mutex_lock(&j->mu);
    lm_buf_append(&j->out, text.data, text.len);
    sched_outcome *o = &j->o;
    o->started = o->done = true;
    if (ev->reason == STOP_ERROR) {
        o->failed = true;
        bool client = prompt_error(ev->text);
        openai_fail(&o->error, client ? 400 : 500,
                    client ? "invalid_request_error" : "server_error", client ? "messages" : NULL,
                    client ? "context_length_exceeded" : NULL, "%s",
                    ev->text ? ev->text : "generation failed");
    } else {
        bool length = ev->reason == STOP_MAX_TOKENS || ev->reason == STOP_CONTEXT_FULL;
        o->finish = length && !j->stopper.stopped ? "length" : "stop";
        o->usage.prompt_tokens = ev->stats.n_prompt_tokens;
        o->usage.cached_tokens = ev->stats.n_prompt_tokens - ev->stats.n_prompt_evaluated;
        o->usage.completion_tokens = j->stopper.stopped ? j->n_gen_at_stop : j->n_gen;
        /* the engine timed the prompt; events may reach this thread in bursts */
        int evaluated = ev->stats.n_prompt_evaluated;
        double total_ms = (now - j->t_submit) * 1000;
        double prompt_ms = ev->stats.prompt_tps > 0
                               ? evaluated * 1000.0 / ev->stats.prompt_tps
                               : (j->t_prompt ? j->t_prompt - j->t_submit : 0) * 1000;
        if (prompt_ms > total_ms) prompt_ms = total_ms;
        o->usage.prompt_ms = prompt_ms;
        o->usage.predicted_ms = total_ms - prompt_ms;
    }
    job_signal(j);
    lm_buf_free(&text);
    s->active[j->slot] = NULL;
    atomic_fetch_sub(&s->n_active, 1);
    sched_job_release(j);
}

static void on_event(sched *s, engine_event *ev) {
    sched_job *j = job_of(s, ev->request_id);
    if (!j) return;
    if (ev->kind == EV_PROMPT_PROGRESS && ev->progress >= 1) {
        pthread_mutex_lock(&j->mu);
        prompt_read(j);
        job_signal(j);
    } else if (ev->kind == EV_TOKEN) {
        on_token(s, j, ev);
    } else if (ev->kind == EV_DONE) {
        on_done(s, j, ev);
    }
}

static void stop_cancelled(sched *s) {
    for (int i = 0; i < s->info.n_slots; i++)
        if (s->active[i] && atomic_load(&s->active[i]->cancel)) stop_job(s, s->active[i]);
}

static void drain(int fd) {
    char buf[256];
    while (read(fd, buf, sizeof buf) > 0) {
    }
}

/* Stopping: waiting jobs end at once, running ones are stopped. */
static void cancel_everything(sched *s) {
    pthread_mutex_lock(&s->mu);
    while (s->wait_head) {
        sched_job *j = s->wait_head;
        s->wait_head = j->next;
        s->n_waiting--;
        job_fail(j, 503, "shutting_down", "the server is shutting down");
        sched_job_release(j);
    }
    s->wait_tail = NULL;
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->info.n_slots; i++)
        if (s->active[i]) atomic_store(&s->active[i]->cancel, true);
}

static void *sched_main(void *arg) {
    sched *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        bool quit = s->quit, stopping = s->stopping;
        pthread_mutex_unlock(&s->mu);
        if (stopping) cancel_everything(s);
        if (quit && atomic_load(&s->n_active) == 0) return NULL;
        start_waiting(s);
        stop_cancelled(s);
        struct pollfd fds[2] = {{s->kick[0], POLLIN, 0},
                                {s->e ? engine_wakeup_fd(s->e) : -1, POLLIN, 0}};
        poll(fds, s->e ? 2 : 1, 100);
        drain(s->kick[0]);
        engine_event ev;
        while (s->e && engine_poll(s->e, &ev)) {
            on_event(s, &ev);
            engine_event_free(&ev);
        }
    }
}

/* ---- creation ---- */

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Loads model m into the (fresh) engine and waits for the outcome. */
static int load_model(sched *s, int m, lm_error *err) {
    engine_set_slots(s->e, s->parallel);
    engine_load(s->e, s->models[m].path, &s->model_opt);
    for (;;) {
        engine_event ev;
        engine_wait(s->e, &ev);
        if (ev.kind == EV_LOADED) {
            pthread_mutex_lock(&s->mu);
            s->models[m].tmpl = chat_template_detect(ev.info.chat_template, ev.info.arch);
            s->loaded = s->last_loaded = m;
            s->loaded_ctx = ev.info.n_ctx;
            pthread_mutex_unlock(&s->mu);
            if (!s->active) { /* the first load: what the server announces */
                s->info.tmpl = s->models[m].tmpl;
                s->info.n_ctx = ev.info.n_ctx;
                s->info.n_slots = ev.info.n_slots;
            }
            engine_event_free(&ev);
            return 0;
        }
        if (ev.kind == EV_LOAD_FAILED) {
            lm_fail(err, "%s", ev.text ? ev.text : "the model did not load");
            engine_event_free(&ev);
            return -1;
        }
        engine_event_free(&ev);
    }
}

/* The chat template a model's file names, read from its header alone (a
 * file that cannot be read gets the default: its load will say why). */
static enum chat_template_kind header_template(const char *path) {
    lm_error err;
    gguf_file *f = gguf_open(path, &err);
    if (!f) return chat_template_detect(NULL, MODEL_ARCH_PHI3);
    gguf_str arch = {0};
    enum model_arch a = MODEL_ARCH_PHI3;
    if (gguf_get_str(f, "general.architecture", &arch) && arch.len == 5 &&
        memcmp(arch.ptr, "llama", 5) == 0)
        a = MODEL_ARCH_LLAMA;
    char *tmpl = gguf_get_strdup(f, "tokenizer.chat_template");
    enum chat_template_kind k = chat_template_detect(tmpl, a);
    free(tmpl);
    gguf_close(f);
    return k;
}

/* The models' list: the paths given, ids unique (a later duplicate is left out). */
static void add_models(sched *s, const sched_options *o) {
    int n = o->model_paths && o->n_models > 0 ? o->n_models : 1;
    if (n > SCHED_MAX_MODELS) n = SCHED_MAX_MODELS;
    s->models = lm_xcalloc((size_t)n, sizeof *s->models);
    for (int i = 0; i < n; i++) {
        const char *path = o->model_paths && o->n_models > 0 ? o->model_paths[i] : o->model_path;
        sched_model *m = &s->models[s->n_models];
        snprintf(m->id, sizeof m->id, "%s", base_name(path));
        size_t len = strlen(m->id);
        if (len > 5 && strcmp(m->id + len - 5, ".gguf") == 0) m->id[len - 5] = 0;
        if (sched_find_model(s, m->id) >= 0) continue;
        m->path = lm_xstrdup(path);
        m->tmpl = i == 0 ? 0 : header_template(path); /* the first: from its load */
        s->n_models++;
    }
}

static void models_free(sched *s) {
    for (int i = 0; i < s->n_models; i++) free(s->models[i].path);
    free(s->models);
}

/* Everything sched_create made, once the thread has ended (or never ran). */
static void release(sched *s) {
    engine_free(s->e);
    close(s->kick[0]);
    close(s->kick[1]);
    pthread_mutex_destroy(&s->mu);
    free(s->active);
    models_free(s);
    free(s);
}

sched *sched_create(const sched_options *o, lm_error *err) {
    sched *s = lm_xcalloc(1, sizeof *s);
    if (pipe2(s->kick, O_NONBLOCK | O_CLOEXEC) != 0) {
        free(s);
        lm_fail(err, "cannot create a pipe: %s", strerror(errno));
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    s->queue_cap = o->queue;
    s->info.batched = true; /* the engine decodes its slots in one step */
    s->model_opt = o->model;
    s->parallel = o->parallel;
    s->loaded = -1;
    add_models(s, o);
    snprintf(s->info.name, sizeof s->info.name, "%s", s->models[0].id);
    s->info.n_models = s->n_models;
    s->e = engine_create(err);
    if (s->e && load_model(s, 0, err) == 0)
        s->active = lm_xcalloc((size_t)s->info.n_slots, sizeof *s->active);
    if (!s->active || pthread_create(&s->thread, NULL, sched_main, s) != 0) {
        if (s->e && !err->msg[0]) lm_fail(err, "cannot start the scheduler thread");
        release(s);
        return NULL;
    }
    return s;
}

int sched_n_models(const sched *s) {
    return s->n_models;
}

const char *sched_model_id(const sched *s, int model) {
    return model >= 0 && model < s->n_models ? s->models[model].id : "";
}

int sched_find_model(const sched *s, const char *name) {
    size_t n = strlen(name);
    for (int i = 0; i < s->n_models; i++) {
        const char *id = s->models[i].id;
        size_t len = strlen(id);
        if (strcmp(id, name) == 0 ||
            (n == len + 5 && strncmp(name, id, len) == 0 && strcmp(name + len, ".gguf") == 0))
            return i;
    }
    return -1;
}

int sched_default_model(sched *s) {
    pthread_mutex_lock(&s->mu);
    int m = s->loaded >= 0 ? s->loaded : s->last_loaded;
    pthread_mutex_unlock(&s->mu);
    return m;
}

enum chat_template_kind sched_model_template(sched *s, int model) {
    pthread_mutex_lock(&s->mu);
    enum chat_template_kind k = s->models[model >= 0 && model < s->n_models ? model : 0].tmpl;
    pthread_mutex_unlock(&s->mu);
    return k;
}

int sched_loaded_model(sched *s, int *n_ctx) {
    pthread_mutex_lock(&s->mu);
    int m = s->loaded;
    *n_ctx = s->loaded_ctx;
    pthread_mutex_unlock(&s->mu);
    return m;
}

const sched_info *sched_get_info(const sched *s) {
    return &s->info;
}

/* Under mu: stopping, and a model being loaded for a switch is given up
 * (a big one could take longer than a graceful stop may). */
static void set_stopping(sched *s) {
    s->stopping = true;
    if (s->loading && s->e) engine_stop(s->e);
}

void sched_cancel_all(sched *s) {
    pthread_mutex_lock(&s->mu);
    set_stopping(s);
    pthread_mutex_unlock(&s->mu);
    kick(s);
}

void sched_free(sched *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    set_stopping(s);
    s->quit = true;
    pthread_mutex_unlock(&s->mu);
    kick(s);
    pthread_join(s->thread, NULL);
    release(s);
}

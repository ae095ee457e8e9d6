/* engine: see include/engine.h.
 *
 * One thread runs commands from a queue, one at a time. Events go the other
 * way through a second queue; each push writes a byte to a pipe so that the
 * UI's poll() wakes up. Stopping is a flag the running command checks between
 * tokens (and the model between layers); engine_stop also cancels commands
 * still queued, by id. */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/select.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RATE_WINDOW 16   /* tokens the rolling generation speed looks at */
#define PROMPT_CHUNK 128 /* prompt tokens per model_eval call, for progress */

enum command_kind { CMD_LOAD, CMD_GENERATE, CMD_RESET, CMD_QUIT };

typedef struct command {
    enum command_kind kind;
    int id;
    char *path;
    model_options opt;
    engine_request req;
    struct command *next;
} command;

typedef struct event_node {
    engine_event ev;
    struct event_node *next;
} event_node;

struct engine {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cmd_ready;
    command *cmd_head, *cmd_tail;
    event_node *ev_head, *ev_tail;
    int wake[2];
    int next_id, stop_upto;
    atomic_bool cancel;

    /* owned by the engine thread */
    model *m;
    sampler *smp;
    lm_tokens cached; /* the tokens whose keys and values are in the cache */
    float *logits;

    pthread_mutex_t stats_mu;
    engine_stats stats;
    lm_tokens last_prompt; /* under stats_mu */
};

/* ---- requests ---- */

void engine_request_add_block(engine_request *r, bool droppable) {
    r->blocks = lm_xrealloc(r->blocks, (size_t)(r->n_blocks + 1) * sizeof *r->blocks);
    r->blocks[r->n_blocks++] = (engine_block){NULL, 0, droppable};
}

static engine_segment *add_segment(engine_request *r) {
    if (r->n_blocks == 0) engine_request_add_block(r, false);
    engine_block *b = &r->blocks[r->n_blocks - 1];
    b->segs = lm_xrealloc(b->segs, (size_t)(b->n_segs + 1) * sizeof *b->segs);
    engine_segment *s = &b->segs[b->n_segs++];
    memset(s, 0, sizeof *s);
    return s;
}

void engine_request_add_text(engine_request *r, enum engine_segment_kind kind, const char *text,
                             size_t len) {
    engine_segment *s = add_segment(r);
    s->kind = kind;
    s->text = lm_xstrndup(text, len);
    s->len = len;
}

void engine_request_add_tokens(engine_request *r, const int32_t *ids, size_t n) {
    engine_segment *s = add_segment(r);
    s->kind = SEG_TOKENS;
    s->ids = lm_xmalloc((n ? n : 1) * sizeof *ids);
    if (n) memcpy(s->ids, ids, n * sizeof *ids);
    s->n_ids = n;
}

void engine_request_free(engine_request *r) {
    for (int b = 0; b < r->n_blocks; b++) {
        for (int i = 0; i < r->blocks[b].n_segs; i++) {
            free(r->blocks[b].segs[i].text);
            free(r->blocks[b].segs[i].ids);
        }
        free(r->blocks[b].segs);
    }
    free(r->blocks);
    r->blocks = NULL;
    r->n_blocks = 0;
}

/* ---- events ---- */

static void push_event(engine *e, const engine_event *ev) {
    event_node *n = lm_xmalloc(sizeof *n);
    n->ev = *ev;
    n->next = NULL;
    pthread_mutex_lock(&e->mu);
    if (e->ev_tail)
        e->ev_tail->next = n;
    else
        e->ev_head = n;
    e->ev_tail = n;
    char byte = 1;
    ssize_t w = write(e->wake[1], &byte, 1); /* a full pipe is fine: it is readable already */
    (void)w;
    pthread_mutex_unlock(&e->mu);
}

static void push_simple(engine *e, enum engine_event_kind kind, int id, const char *text) {
    engine_event ev = {.kind = kind, .request_id = id, .text = text ? lm_xstrdup(text) : NULL};
    ev.stats = engine_get_stats(e);
    push_event(e, &ev);
}

bool engine_poll(engine *e, engine_event *ev) {
    pthread_mutex_lock(&e->mu);
    event_node *n = e->ev_head;
    if (n) {
        e->ev_head = n->next;
        if (!e->ev_head) e->ev_tail = NULL;
    }
    if (!e->ev_head) { /* drain the wake-up bytes while no event can slip in */
        char buf[256];
        while (read(e->wake[0], buf, sizeof buf) > 0) {
        }
    }
    pthread_mutex_unlock(&e->mu);
    if (!n) return false;
    *ev = n->ev;
    free(n);
    return true;
}

void engine_wait(engine *e, engine_event *ev) {
    for (;;) {
        if (engine_poll(e, ev)) return;
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(e->wake[0], &fds);
        select(e->wake[0] + 1, &fds, NULL, NULL, NULL);
    }
}

void engine_event_free(engine_event *ev) {
    free(ev->text);
    free(ev->info.chat_template);
    ev->text = NULL;
    ev->info.chat_template = NULL;
}

int engine_wakeup_fd(const engine *e) {
    return e->wake[0];
}

/* ---- statistics ---- */

engine_stats engine_get_stats(engine *e) {
    pthread_mutex_lock(&e->stats_mu);
    engine_stats s = e->stats;
    pthread_mutex_unlock(&e->stats_mu);
    return s;
}

static void set_state(engine *e, enum engine_state st) {
    pthread_mutex_lock(&e->stats_mu);
    e->stats.state = st;
    e->stats.rss_bytes = lm_rss_bytes();
    if (e->m) {
        e->stats.n_past = model_n_past(e->m);
        e->stats.n_ctx = model_n_ctx(e->m);
        e->stats.weight_bytes = model_weight_bytes(e->m);
        e->stats.kv_bytes = model_kv_bytes(e->m);
        e->stats.kv_type = model_cache_type(e->m);
    }
    pthread_mutex_unlock(&e->stats_mu);
}

/* ---- loading ---- */

typedef struct load_progress {
    engine *e;
    int id, last_percent;
} load_progress;

static void on_load_progress(void *arg, float fraction) {
    load_progress *p = arg;
    int percent = (int)(fraction * 100);
    if (percent == p->last_percent) return;
    p->last_percent = percent;
    engine_event ev = {.kind = EV_LOAD_PROGRESS, .request_id = p->id, .progress = fraction};
    push_event(p->e, &ev);
}

static void fill_info(const model *m, const char *path, engine_model_info *info) {
    const model_hparams *hp = model_get_hparams(m);
    snprintf(info->path, sizeof info->path, "%s", path);
    snprintf(info->name, sizeof info->name, "%s", hp->name);
    info->arch = hp->arch;
    info->precision = model_get_precision(m);
    info->main_type = model_main_type(m);
    info->n_ctx = model_n_ctx(m);
    info->n_ctx_train = hp->n_ctx_train;
    info->n_vocab = hp->n_vocab;
    info->n_threads = model_n_threads(m);
    info->param_count = model_param_count(m);
    info->file_bytes = model_get_file(m)->size;
    info->weight_bytes = model_weight_bytes(m);
    info->kv_bytes = model_kv_bytes(m);
    info->chat_template = gguf_get_strdup(model_get_file(m), "tokenizer.chat_template");
}

/* The new model replaces the old one only once it has loaded. */
static void run_load(engine *e, command *c) {
    set_state(e, ENGINE_LOADING);
    load_progress lp = {e, c->id, -1};
    c->opt.progress = on_load_progress;
    c->opt.progress_ctx = &lp;
    c->opt.cancel = &e->cancel;
    lm_error err;
    model *m = model_load(c->path, &c->opt, &err);
    if (!m) {
        set_state(e, e->m ? ENGINE_IDLE : ENGINE_EMPTY);
        push_simple(e, EV_LOAD_FAILED, c->id, err.msg);
        return;
    }
    model_free(e->m);
    sampler_free(e->smp);
    free(e->logits);
    e->m = m;
    e->cached.n = 0;
    int n_vocab = model_get_hparams(m)->n_vocab;
    sampler_params sp = sampler_default_params();
    e->smp = sampler_create(&sp, n_vocab);
    e->logits = lm_xmalloc((size_t)n_vocab * sizeof *e->logits);
    set_state(e, ENGINE_IDLE);
    engine_event ev = {.kind = EV_LOADED, .request_id = c->id};
    fill_info(m, c->path, &ev.info);
    ev.stats = engine_get_stats(e);
    push_event(e, &ev);
}

/* ---- generation ---- */

/* Tokens of one block. Runs of text segments are encoded together, so the
 * result equals encoding the joined text (markup parsed, user text not). */
static int tokenize_block(const tokenizer *tok, const engine_block *b, lm_tokens *out,
                          lm_error *err) {
    tokenizer_fragment *frags = lm_xmalloc((size_t)(b->n_segs + 1) * sizeof *frags);
    size_t n = 0;
    int rc = 0;
    for (int i = 0; i <= b->n_segs && rc == 0; i++) {
        const engine_segment *s = i < b->n_segs ? &b->segs[i] : NULL;
        if (s && s->kind != SEG_TOKENS) {
            frags[n++] = (tokenizer_fragment){s->text, s->len, s->kind == SEG_MARKUP};
            continue;
        }
        if (n) rc = tokenizer_encode_fragments(tok, frags, n, false, out, err);
        n = 0;
        for (size_t k = 0; s && k < s->n_ids; k++) lm_tokens_push(out, s->ids[k]);
    }
    free(frags);
    return rc;
}

/* Builds the prompt, dropping the earliest droppable blocks until it fits. */
static int build_prompt(engine *e, const engine_request *r, lm_tokens *prompt, int *n_dropped,
                        lm_error *err) {
    const tokenizer *tok = model_get_tokenizer(e->m);
    int n_blocks = r->n_blocks;
    lm_tokens *blocks = lm_xcalloc((size_t)n_blocks + 1, sizeof *blocks);
    bool *dropped = lm_xcalloc((size_t)n_blocks + 1, sizeof *dropped);
    bool bos = r->add_bos && tokenizer_adds_bos(tok) && tokenizer_bos(tok) >= 0;
    size_t total = bos ? 1 : 0;
    int rc = 0;
    for (int b = 0; b < n_blocks && rc == 0; b++) {
        rc = tokenize_block(tok, &r->blocks[b], &blocks[b], err);
        total += blocks[b].n;
    }
    size_t limit = (size_t)model_n_ctx(e->m);
    size_t reserve = r->reply_reserve > 0 ? (size_t)r->reply_reserve : 0;
    if (reserve >= limit) reserve = limit / 2;
    *n_dropped = 0;
    /* When blocks must go, free a quarter of the context at once: dropping
     * just enough would change the prompt's start, and so re-read the whole
     * cache, on every following turn. */
    size_t target =
        total + reserve > limit ? limit - (reserve > limit / 4 ? reserve : limit / 4) : limit;
    for (int b = 0; b < n_blocks && rc == 0 && total + reserve > target; b++) {
        if (!r->blocks[b].droppable) continue;
        dropped[b] = true;
        total -= blocks[b].n;
        (*n_dropped)++;
    }
    if (rc == 0 && total == 0) rc = lm_fail(err, "the prompt is empty");
    if (rc == 0 && total + 1 > limit)
        rc =
            lm_fail(err, "the prompt needs %zu tokens, more than the context of %zu", total, limit);
    if (rc == 0 && bos) lm_tokens_push(prompt, tokenizer_bos(tok));
    for (int b = 0; b < n_blocks; b++) {
        for (size_t i = 0; rc == 0 && !dropped[b] && i < blocks[b].n; i++)
            lm_tokens_push(prompt, blocks[b].ids[i]);
        lm_tokens_free(&blocks[b]);
    }
    free(blocks);
    free(dropped);
    return rc;
}

static bool cancelled(engine *e) {
    return atomic_load(&e->cancel);
}

/* Evaluates what follows the longest common prefix of the cache and the
 * prompt. Returns 0, 1 when stopped, -1 on error. */
static int read_prompt(engine *e, int id, const lm_tokens *prompt, lm_error *err) {
    size_t common = 0;
    while (common < e->cached.n && common < prompt->n &&
           e->cached.ids[common] == prompt->ids[common])
        common++;
    if (common == prompt->n) common--; /* the last token must run again to give logits */
    model_kv_truncate(e->m, (int)common);
    e->cached.n = common;
    int todo = (int)(prompt->n - common);
    pthread_mutex_lock(&e->stats_mu);
    e->stats.n_prompt_tokens = (int)prompt->n;
    e->stats.n_prompt_evaluated = todo;
    e->stats.n_generated = 0;
    e->stats.gen_tps = 0;
    pthread_mutex_unlock(&e->stats_mu);
    set_state(e, ENGINE_PROMPT);
    double t0 = lm_now();
    for (int done = 0; done < todo;) {
        int n = todo - done < PROMPT_CHUNK ? todo - done : PROMPT_CHUNK;
        bool last = done + n == todo;
        int rc = model_eval(e->m, prompt->ids + common + done, n, last ? e->logits : NULL,
                            &e->cancel, err);
        for (size_t i = e->cached.n; i < (size_t)model_n_past(e->m); i++)
            lm_tokens_push(&e->cached, prompt->ids[i]);
        if (rc) return rc;
        done += n;
        engine_event ev = {
            .kind = EV_PROMPT_PROGRESS, .request_id = id, .progress = (float)done / todo};
        push_event(e, &ev);
    }
    pthread_mutex_lock(&e->stats_mu);
    e->stats.prompt_tps = todo / (lm_now() - t0 + 1e-9);
    pthread_mutex_unlock(&e->stats_mu);
    return 0;
}

typedef struct rate_window {
    double t[RATE_WINDOW];
    int n;
} rate_window;

/* Tokens per second over the last RATE_WINDOW tokens. */
static double rate_add(rate_window *w, double now) {
    w->t[w->n % RATE_WINDOW] = now;
    w->n++;
    int k = w->n < RATE_WINDOW ? w->n : RATE_WINDOW;
    double oldest = w->t[(w->n - k) % RATE_WINDOW];
    return k > 1 && now > oldest ? (k - 1) / (now - oldest) : 0;
}

static enum engine_stop_reason generate_tokens(engine *e, int id, const engine_request *r,
                                               double t_start, lm_error *err) {
    const tokenizer *tok = model_get_tokenizer(e->m);
    tokenizer_stream stream = {0};
    lm_buf text = {0};
    rate_window rw = {.t = {t_start}, .n = 1};
    enum engine_stop_reason reason = STOP_MAX_TOKENS;
    set_state(e, ENGINE_GENERATING);
    for (int i = 0; r->max_tokens < 0 || i < r->max_tokens; i++) {
        if (cancelled(e)) {
            reason = STOP_USER;
            break;
        }
        int32_t tk = sampler_sample(e->smp, e->logits, e->cached.ids, e->cached.n);
        if (tokenizer_is_eog(tok, tk)) {
            reason = STOP_EOG;
            break;
        }
        text.len = 0;
        tokenizer_stream_push(tok, &stream, tk, r->special_text, &text);
        engine_event ev = {.kind = EV_TOKEN,
                           .request_id = id,
                           .token = tk,
                           .text = lm_xstrndup(text.data ? text.data : "", text.len)};
        pthread_mutex_lock(&e->stats_mu);
        e->stats.n_generated++;
        e->stats.gen_tps = rate_add(&rw, lm_now());
        pthread_mutex_unlock(&e->stats_mu);
        ev.stats = engine_get_stats(e);
        push_event(e, &ev);
        if (model_n_past(e->m) >= model_n_ctx(e->m)) {
            reason = STOP_CONTEXT_FULL;
            break;
        }
        int rc = model_eval(e->m, &tk, 1, e->logits, &e->cancel, err);
        if (rc == 0 && gguf_damaged(model_get_file(e->m))) rc = -1;
        if (rc < 0) {
            reason = STOP_ERROR;
            break;
        }
        if (rc > 0) {
            reason = STOP_USER;
            break;
        }
        lm_tokens_push(&e->cached, tk);
        if (i % 8 == 0) set_state(e, ENGINE_GENERATING); /* refreshes RSS and n_past */
    }
    text.len = 0;
    tokenizer_stream_flush(&stream, &text);
    if (text.len) {
        engine_event ev = {.kind = EV_TOKEN,
                           .request_id = id,
                           .token = -1,
                           .text = lm_xstrndup(text.data, text.len)};
        push_event(e, &ev);
    }
    lm_buf_free(&text);
    return reason;
}

static void remember_prompt(engine *e, const lm_tokens *prompt) {
    pthread_mutex_lock(&e->stats_mu);
    e->last_prompt.n = 0;
    for (size_t i = 0; i < prompt->n; i++) lm_tokens_push(&e->last_prompt, prompt->ids[i]);
    pthread_mutex_unlock(&e->stats_mu);
}

void engine_last_prompt(engine *e, lm_tokens *out) {
    pthread_mutex_lock(&e->stats_mu);
    for (size_t i = 0; i < e->last_prompt.n; i++) lm_tokens_push(out, e->last_prompt.ids[i]);
    pthread_mutex_unlock(&e->stats_mu);
}

static void unload(engine *e) {
    model_free(e->m);
    e->m = NULL;
    e->cached.n = 0;
}

static void run_generate(engine *e, command *c) {
    lm_error err;
    lm_tokens prompt = {0};
    int n_dropped = 0;
    enum engine_stop_reason reason = STOP_ERROR;
    if (!e->m) {
        lm_fail(&err, "no model is loaded");
    } else if (build_prompt(e, &c->req, &prompt, &n_dropped, &err) == 0) {
        remember_prompt(e, &prompt);
        sampler_set_params(e->smp, &c->req.sampling);
        int rc = read_prompt(e, c->id, &prompt, &err);
        reason = rc > 0 ? STOP_USER : STOP_ERROR;
        if (rc == 0) reason = generate_tokens(e, c->id, &c->req, lm_now(), &err);
    }
    lm_tokens_free(&prompt);
    if (e->m && gguf_damaged(model_get_file(e->m))) {
        reason = STOP_ERROR;
        lm_fail(&err,
                "%s was cut short on disk while in use: the model is unloaded (load it again)",
                model_get_file(e->m)->path);
        unload(e);
    }
    set_state(e, e->m ? ENGINE_IDLE : ENGINE_EMPTY);
    engine_event ev = {
        .kind = EV_DONE, .request_id = c->id, .reason = reason, .n_dropped = n_dropped};
    if (reason == STOP_ERROR) ev.text = lm_xstrdup(err.msg);
    ev.stats = engine_get_stats(e);
    push_event(e, &ev);
}

/* ---- the thread and its queue ---- */

static command *next_command(engine *e) {
    pthread_mutex_lock(&e->mu);
    while (!e->cmd_head) pthread_cond_wait(&e->cmd_ready, &e->mu);
    command *c = e->cmd_head;
    e->cmd_head = c->next;
    if (!e->cmd_head) e->cmd_tail = NULL;
    bool skip = c->kind != CMD_QUIT && c->id <= e->stop_upto;
    if (!skip) atomic_store(&e->cancel, false);
    pthread_mutex_unlock(&e->mu);
    if (skip) { /* stopped before it started */
        engine_event ev = {.kind = c->kind == CMD_LOAD ? EV_LOAD_FAILED : EV_DONE,
                           .request_id = c->id,
                           .reason = STOP_USER};
        if (c->kind == CMD_LOAD) ev.text = lm_xstrdup("cancelled");
        ev.stats = engine_get_stats(e);
        push_event(e, &ev);
        c->kind = CMD_RESET + 100; /* nothing to run */
    }
    return c;
}

static void free_command(command *c) {
    free(c->path);
    engine_request_free(&c->req);
    free(c);
}

static void *engine_main(void *arg) {
    engine *e = arg;
    for (;;) {
        command *c = next_command(e);
        enum command_kind kind = c->kind;
        if (kind == CMD_LOAD)
            run_load(e, c);
        else if (kind == CMD_GENERATE)
            run_generate(e, c);
        else if (kind == CMD_RESET && e->m) {
            model_kv_truncate(e->m, 0);
            e->cached.n = 0;
            set_state(e, ENGINE_IDLE);
        }
        free_command(c);
        if (kind == CMD_QUIT) return NULL;
    }
}

static int enqueue(engine *e, command *c) {
    pthread_mutex_lock(&e->mu);
    c->id = ++e->next_id;
    if (e->cmd_tail)
        e->cmd_tail->next = c;
    else
        e->cmd_head = c;
    e->cmd_tail = c;
    pthread_cond_signal(&e->cmd_ready);
    int id = c->id;
    pthread_mutex_unlock(&e->mu);
    return id;
}

engine *engine_create(lm_error *err) {
    engine *e = lm_xcalloc(1, sizeof *e);
    if (pipe2(e->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        free(e);
        lm_fail(err, "cannot create a pipe: %s", strerror(errno));
        return NULL;
    }
    pthread_mutex_init(&e->mu, NULL);
    pthread_mutex_init(&e->stats_mu, NULL);
    pthread_cond_init(&e->cmd_ready, NULL);
    if (pthread_create(&e->thread, NULL, engine_main, e) != 0) {
        close(e->wake[0]);
        close(e->wake[1]);
        free(e);
        lm_fail(err, "cannot start the engine thread");
        return NULL;
    }
    return e;
}

void engine_free(engine *e) {
    if (!e) return;
    engine_stop(e);
    command *q = lm_xcalloc(1, sizeof *q);
    q->kind = CMD_QUIT;
    enqueue(e, q);
    pthread_join(e->thread, NULL);
    engine_event ev;
    while (engine_poll(e, &ev)) engine_event_free(&ev);
    for (command *c = e->cmd_head; c;) {
        command *next = c->next;
        free_command(c);
        c = next;
    }
    model_free(e->m);
    sampler_free(e->smp);
    free(e->logits);
    lm_tokens_free(&e->cached);
    lm_tokens_free(&e->last_prompt);
    close(e->wake[0]);
    close(e->wake[1]);
    pthread_mutex_destroy(&e->mu);
    pthread_mutex_destroy(&e->stats_mu);
    pthread_cond_destroy(&e->cmd_ready);
    free(e);
}

int engine_load(engine *e, const char *path, const model_options *opt) {
    command *c = lm_xcalloc(1, sizeof *c);
    c->kind = CMD_LOAD;
    c->path = lm_xstrdup(path);
    c->opt = *opt;
    return enqueue(e, c);
}

int engine_generate(engine *e, engine_request *r) {
    command *c = lm_xcalloc(1, sizeof *c);
    c->kind = CMD_GENERATE;
    c->req = *r;
    memset(r, 0, sizeof *r);
    return enqueue(e, c);
}

int engine_reset(engine *e) {
    command *c = lm_xcalloc(1, sizeof *c);
    c->kind = CMD_RESET;
    return enqueue(e, c);
}

void engine_stop(engine *e) {
    pthread_mutex_lock(&e->mu);
    e->stop_upto = e->next_id;
    atomic_store(&e->cancel, true);
    pthread_mutex_unlock(&e->mu);
}

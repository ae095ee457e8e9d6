/* engine: see include/engine.h.
 *
 * One thread runs commands from a queue and steps the generations of its
 * slots. Between steps it takes the next command: a generation joins its
 * slot (its prompt read a chunk per step), a load, reset or quit waits until
 * no slot is busy, and a generation for a busy slot waits for that slot, so
 * one caller's commands still run in order. Each step reads one prompt chunk
 * (of the earliest request still reading its prompt), then decodes the next
 * token of every generating slot in one model_decode (one pass over the
 * weights for all).
 * Events go the other way through a second queue; each push writes a byte
 * to a pipe so that the UI's poll() wakes up. Stopping is a flag per slot
 * that the slot checks between tokens (and the model between layers of a
 * prompt chunk); engine_stop also cancels commands still queued, by id. */
#include "engine.h"

#include "queue.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RATE_WINDOW 16   /* tokens the rolling generation speed looks at */
#define PROMPT_CHUNK 128 /* prompt tokens per model_eval call, for progress */
#define MAX_SLOTS MODEL_MAX_DECODE

enum command_kind { CMD_LOAD, CMD_GENERATE, CMD_RESET, CMD_QUIT, CMD_NONE };

typedef struct command {
    enum command_kind kind;
    int id, slot;
    bool cancelled; /* engine_stop_id before it started (under mu) */
    char *path;
    model_options opt;
    engine_request req;
    struct command *next;
} command;

typedef struct rate_window {
    double t[RATE_WINDOW];
    int n;
} rate_window;

/* One sequence of the model and the request it is working on. */
typedef struct slot {
    model_seq *seq;
    sampler *smp;
    float *logits;       /* of the last token in the cache */
    lm_tokens cached;    /* the tokens whose keys and values are in the cache */
    atomic_bool *cancel; /* the engine's flag for this slot */
    /* the request (busy) */
    bool busy, generating;
    int id, n_dropped, n_gen;
    engine_request req;
    lm_tokens prompt;
    size_t evaluated_from; /* the prompt's first token not taken from the cache */
    double t_prompt;
    tokenizer_stream stream;
    rate_window rw;
    engine_stats st; /* the request's own counts and speeds */
} slot;

struct engine {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cmd_ready;
    command *cmd_head, *cmd_tail;
    lm_queue events; /* engine_event *, heap copies */
    int next_id, stop_upto;
    atomic_bool cancel;     /* a load in progress */
    int running[MAX_SLOTS]; /* under mu: the request id each slot works on, 0: none */
    atomic_bool slot_cancel[MAX_SLOTS];
    int want_slots; /* under mu: slots of the next load */

    /* owned by the engine thread */
    model *m;
    slot slots[MAX_SLOTS];
    int n_slots;
    unsigned n_steps;
    float *batch_logits; /* n_slots rows for model_decode */

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
    engine_event *copy = lm_xmalloc(sizeof *copy);
    *copy = *ev;
    lm_queue_push(&e->events, copy);
}

static void push_simple(engine *e, enum engine_event_kind kind, int id, const char *text) {
    engine_event ev = {.kind = kind, .request_id = id, .text = text ? lm_xstrdup(text) : NULL};
    ev.stats = engine_get_stats(e);
    push_event(e, &ev);
}

static void take_event(engine_event *item, engine_event *ev) {
    *ev = *item;
    free(item);
}

bool engine_poll(engine *e, engine_event *ev) {
    engine_event *item = lm_queue_pop(&e->events);
    if (item) take_event(item, ev);
    return item != NULL;
}

void engine_wait(engine *e, engine_event *ev) {
    take_event(lm_queue_wait(&e->events), ev);
}

void engine_event_free(engine_event *ev) {
    free(ev->text);
    free(ev->info.chat_template);
    ev->text = NULL;
    ev->info.chat_template = NULL;
}

int engine_wakeup_fd(const engine *e) {
    return lm_queue_fd(&e->events);
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

static bool any_busy(const engine *e) {
    for (int i = 0; i < e->n_slots; i++)
        if (e->slots[i].busy) return true;
    return false;
}

/* What the slots are doing, the busiest first. */
static enum engine_state slots_state(const engine *e) {
    enum engine_state st = e->m ? ENGINE_IDLE : ENGINE_EMPTY;
    for (int i = 0; i < e->n_slots; i++) {
        if (e->slots[i].busy && e->slots[i].generating) return ENGINE_GENERATING;
        if (e->slots[i].busy) st = ENGINE_PROMPT;
    }
    return st;
}

/* A request's counts become the engine's (what a status bar shows). */
static void publish(engine *e, const slot *s) {
    pthread_mutex_lock(&e->stats_mu);
    e->stats.n_prompt_tokens = s->st.n_prompt_tokens;
    e->stats.n_prompt_evaluated = s->st.n_prompt_evaluated;
    e->stats.n_generated = s->st.n_generated;
    e->stats.prompt_tps = s->st.prompt_tps;
    e->stats.gen_tps = s->st.gen_tps;
    pthread_mutex_unlock(&e->stats_mu);
}

/* The engine's statistics with the counts of the slot's own request. */
static engine_stats slot_stats(engine *e, const slot *s) {
    engine_stats st = engine_get_stats(e);
    st.n_prompt_tokens = s->st.n_prompt_tokens;
    st.n_prompt_evaluated = s->st.n_prompt_evaluated;
    st.n_generated = s->st.n_generated;
    st.prompt_tps = s->st.prompt_tps;
    st.gen_tps = s->st.gen_tps;
    if (s->seq) {
        st.n_past = model_seq_n_past(s->seq);
        st.n_ctx = model_seq_n_ctx(s->seq);
    }
    return st;
}

/* ---- slots ---- */

static void slot_free(slot *s, bool own_seq) {
    if (own_seq) model_seq_free(s->seq);
    sampler_free(s->smp);
    free(s->logits);
    lm_tokens_free(&s->cached);
    lm_tokens_free(&s->prompt);
    engine_request_free(&s->req);
    memset(s, 0, sizeof *s);
}

/* Slot 0 is the model's own sequence; the others are made for it. */
static void slots_free(slot *slots, int n) {
    for (int i = 0; i < n; i++) slot_free(&slots[i], i > 0);
}

static int slots_create(engine *e, model *m, int n, slot *out, lm_error *err) {
    int n_vocab = model_get_hparams(m)->n_vocab;
    sampler_params sp = sampler_default_params();
    for (int i = 0; i < n; i++) {
        slot *s = &out[i];
        memset(s, 0, sizeof *s);
        s->seq = i == 0 ? model_default_seq(m)
                        : model_seq_create(m, model_n_ctx(m), model_cache_type(m), err);
        if (!s->seq) {
            slots_free(out, i);
            return -1;
        }
        s->cancel = &e->slot_cancel[i];
        s->smp = sampler_create(&sp, n_vocab);
        s->logits = lm_xmalloc((size_t)n_vocab * sizeof *s->logits);
    }
    return 0;
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

/* The new model replaces the old one only once it and its slots are there. */
static void run_load(engine *e, command *c) {
    set_state(e, ENGINE_LOADING);
    load_progress lp = {e, c->id, -1};
    c->opt.progress = on_load_progress;
    c->opt.progress_ctx = &lp;
    c->opt.cancel = &e->cancel;
    lm_error err;
    pthread_mutex_lock(&e->mu);
    int n = e->want_slots;
    pthread_mutex_unlock(&e->mu);
    slot *fresh = lm_xcalloc((size_t)n, sizeof *fresh);
    model *m = model_load(c->path, &c->opt, &err);
    if (m && slots_create(e, m, n, fresh, &err) != 0) {
        model_free(m);
        m = NULL;
    }
    if (!m) {
        free(fresh);
        set_state(e, e->m ? ENGINE_IDLE : ENGINE_EMPTY);
        push_simple(e, EV_LOAD_FAILED, c->id, err.msg);
        return;
    }
    slots_free(e->slots, e->n_slots);
    model_free(e->m);
    free(e->batch_logits);
    e->m = m;
    memcpy(e->slots, fresh, (size_t)n * sizeof *fresh);
    free(fresh);
    e->n_slots = n;
    int n_vocab = model_get_hparams(m)->n_vocab;
    e->batch_logits = lm_xmalloc((size_t)n * (size_t)n_vocab * sizeof *e->batch_logits);
    set_state(e, ENGINE_IDLE);
    engine_event ev = {.kind = EV_LOADED, .request_id = c->id};
    fill_info(m, c->path, &ev.info);
    ev.info.n_slots = n;
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
static int build_prompt(engine *e, const engine_request *r, int n_ctx, lm_tokens *prompt,
                        int *n_dropped, lm_error *err) {
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
    size_t limit = (size_t)n_ctx;
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

/* Tokens per second over the last RATE_WINDOW tokens. */
static double rate_add(rate_window *w, double now) {
    w->t[w->n % RATE_WINDOW] = now;
    w->n++;
    int k = w->n < RATE_WINDOW ? w->n : RATE_WINDOW;
    double oldest = w->t[(w->n - k) % RATE_WINDOW];
    return k > 1 && now > oldest ? (k - 1) / (now - oldest) : 0;
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
    slots_free(e->slots, e->n_slots);
    e->n_slots = 0;
    model_free(e->m);
    e->m = NULL;
}

static bool file_damaged(const engine *e) {
    return e->m && gguf_damaged(model_get_file(e->m));
}

/* Ends the slot's request: the text the tokenizer still held, then EV_DONE. */
static void finish(engine *e, slot *s, enum engine_stop_reason reason, const char *msg) {
    char damaged[1200];
    if (file_damaged(e)) {
        reason = STOP_ERROR;
        snprintf(damaged, sizeof damaged,
                 "%s was cut short on disk while in use: the model is unloaded (load it again)",
                 model_get_file(e->m)->path);
        msg = damaged;
    }
    lm_buf text = {0};
    if (s->generating) tokenizer_stream_flush(&s->stream, &text);
    if (text.len) {
        engine_event ev = {.kind = EV_TOKEN,
                           .request_id = s->id,
                           .token = -1,
                           .text = lm_xstrndup(text.data, text.len)};
        push_event(e, &ev);
    }
    lm_buf_free(&text);
    int id = s->id;
    s->busy = s->generating = false;
    engine_request_free(&s->req);
    s->prompt.n = 0;
    pthread_mutex_lock(&e->mu);
    e->running[s - e->slots] = 0;
    pthread_mutex_unlock(&e->mu);
    set_state(e, slots_state(e));
    engine_event ev = {
        .kind = EV_DONE, .request_id = id, .reason = reason, .n_dropped = s->n_dropped};
    if (reason == STOP_ERROR) ev.text = lm_xstrdup(msg ? msg : "generation failed");
    ev.stats = slot_stats(e, s);
    push_event(e, &ev);
}

/* A request that cannot start: EV_DONE with the error at once. */
static void refuse(engine *e, int id, int n_dropped, const char *msg) {
    engine_event ev = {.kind = EV_DONE,
                       .request_id = id,
                       .reason = STOP_ERROR,
                       .n_dropped = n_dropped,
                       .text = lm_xstrdup(msg)};
    ev.stats = engine_get_stats(e);
    push_event(e, &ev);
}

static void release_slot_id(engine *e, int slot_index) {
    if (slot_index < 0 || slot_index >= MAX_SLOTS) return;
    pthread_mutex_lock(&e->mu);
    e->running[slot_index] = 0;
    pthread_mutex_unlock(&e->mu);
}

/* The request joins its slot: its prompt is built, and only what follows the
 * longest common prefix of the slot's cache and the prompt is to be read. */
static void start_generate(engine *e, command *c) {
    lm_error err;
    if (!e->m || c->slot < 0 || c->slot >= e->n_slots) {
        release_slot_id(e, c->slot);
        refuse(e, c->id, 0, e->m ? "no such slot" : "no model is loaded");
        return;
    }
    slot *s = &e->slots[c->slot];
    lm_tokens prompt = {0};
    int n_dropped = 0;
    if (build_prompt(e, &c->req, model_seq_n_ctx(s->seq), &prompt, &n_dropped, &err) != 0) {
        lm_tokens_free(&prompt);
        release_slot_id(e, c->slot);
        refuse(e, c->id, n_dropped, err.msg);
        return;
    }
    remember_prompt(e, &prompt);
    sampler_set_params(s->smp, &c->req.sampling);
    s->req = c->req;
    memset(&c->req, 0, sizeof c->req);
    lm_tokens_free(&s->prompt);
    s->prompt = prompt;
    size_t common = 0;
    while (common < s->cached.n && common < prompt.n && s->cached.ids[common] == prompt.ids[common])
        common++;
    if (common == prompt.n) common--; /* the last token must run again to give logits */
    model_seq_truncate(s->seq, (int)common);
    s->cached.n = common;
    s->evaluated_from = common;
    s->busy = true;
    s->generating = false;
    s->id = c->id;
    s->n_dropped = n_dropped;
    s->n_gen = 0;
    memset(&s->stream, 0, sizeof s->stream);
    memset(&s->st, 0, sizeof s->st);
    s->st.n_prompt_tokens = (int)prompt.n;
    s->st.n_prompt_evaluated = (int)(prompt.n - common);
    s->t_prompt = lm_now();
    publish(e, s);
    set_state(e, slots_state(e));
}

/* Reads the next chunk of a slot's prompt; the last one gives its logits. */
static void prompt_step(engine *e, slot *s) {
    size_t at = s->cached.n, left = s->prompt.n - at, total = s->prompt.n - s->evaluated_from;
    int n = left < PROMPT_CHUNK ? (int)left : PROMPT_CHUNK;
    bool last = (size_t)n == left;
    lm_error err;
    int rc = model_seq_eval(e->m, s->seq, s->prompt.ids + at, n, last ? s->logits : NULL, false,
                            s->cancel, &err);
    for (size_t i = s->cached.n; i < (size_t)model_seq_n_past(s->seq); i++)
        lm_tokens_push(&s->cached, s->prompt.ids[i]);
    if (rc != 0) {
        finish(e, s, rc > 0 ? STOP_USER : STOP_ERROR, rc < 0 ? err.msg : NULL);
        return;
    }
    size_t done = s->cached.n - s->evaluated_from;
    engine_event ev = {
        .kind = EV_PROMPT_PROGRESS, .request_id = s->id, .progress = (float)done / (float)total};
    push_event(e, &ev);
    if (!last) return;
    double now = lm_now();
    s->st.prompt_tps = (double)total / (now - s->t_prompt + 1e-9);
    s->generating = true;
    s->rw = (rate_window){.t = {now}, .n = 1};
    publish(e, s);
    set_state(e, ENGINE_GENERATING);
}

/* Samples a generating slot's next token and sends it out; false when the
 * slot's request has ended instead. */
static bool sample_step(engine *e, slot *s, int32_t *out) {
    const tokenizer *tok = model_get_tokenizer(e->m);
    if (s->req.max_tokens >= 0 && s->n_gen >= s->req.max_tokens) {
        finish(e, s, STOP_MAX_TOKENS, NULL);
        return false;
    }
    if (atomic_load(s->cancel)) {
        finish(e, s, STOP_USER, NULL);
        return false;
    }
    int32_t tk = sampler_sample(s->smp, s->logits, s->cached.ids, s->cached.n);
    if (tokenizer_is_eog(tok, tk)) {
        finish(e, s, STOP_EOG, NULL);
        return false;
    }
    lm_buf text = {0};
    tokenizer_stream_push(tok, &s->stream, tk, s->req.special_text, &text);
    engine_event ev = {.kind = EV_TOKEN,
                       .request_id = s->id,
                       .token = tk,
                       .text = lm_xstrndup(text.data ? text.data : "", text.len)};
    lm_buf_free(&text);
    s->n_gen++;
    s->st.n_generated = s->n_gen;
    s->st.gen_tps = rate_add(&s->rw, lm_now());
    publish(e, s);
    ev.stats = slot_stats(e, s);
    push_event(e, &ev);
    if (model_seq_n_past(s->seq) >= model_seq_n_ctx(s->seq)) {
        finish(e, s, STOP_CONTEXT_FULL, NULL);
        return false;
    }
    *out = tk;
    return true;
}

/* The next token of every generating slot, decoded together: one pass over
 * the weights, each slot's logits as if it were alone. */
static void decode_step(engine *e) {
    model_seq *seqs[MAX_SLOTS];
    int32_t tokens[MAX_SLOTS];
    slot *who[MAX_SLOTS];
    int n = 0;
    for (int i = 0; i < e->n_slots; i++) {
        slot *s = &e->slots[i];
        if (s->busy && s->generating && sample_step(e, s, &tokens[n])) {
            seqs[n] = s->seq;
            who[n++] = s;
        }
    }
    if (n == 0) return;
    lm_error err;
    int rc = model_decode(e->m, seqs, tokens, n, e->batch_logits, &err);
    size_t n_vocab = (size_t)model_get_hparams(e->m)->n_vocab;
    for (int i = 0; i < n; i++) {
        if (rc != 0) {
            finish(e, who[i], STOP_ERROR, err.msg);
            continue;
        }
        memcpy(who[i]->logits, e->batch_logits + (size_t)i * n_vocab, n_vocab * sizeof(float));
        lm_tokens_push(&who[i]->cached, tokens[i]);
    }
}

/* One step of every busy slot. A model file cut short on disk ends them all. */
static void step(engine *e) {
    /* one prompt chunk a step, for the request that came first: it starts
     * generating soonest, and the generating slots wait one chunk at most */
    slot *first = NULL;
    for (int i = 0; i < e->n_slots; i++) {
        slot *s = &e->slots[i];
        if (s->busy && !s->generating && (!first || s->id < first->id)) first = s;
    }
    if (first) prompt_step(e, first);
    decode_step(e);
    if (file_damaged(e)) {
        for (int i = 0; i < e->n_slots; i++)
            if (e->slots[i].busy) finish(e, &e->slots[i], STOP_ERROR, NULL);
        unload(e);
        set_state(e, ENGINE_EMPTY);
        return;
    }
    if (++e->n_steps % 8 == 0) set_state(e, slots_state(e)); /* refreshes RSS and n_past */
}

static void reset_slots(engine *e) {
    for (int i = 0; i < e->n_slots; i++) {
        model_seq_truncate(e->slots[i].seq, 0);
        e->slots[i].cached.n = 0;
    }
    set_state(e, ENGINE_IDLE);
}

/* ---- the thread and its queue ---- */

/* A command waits while it cannot run: a generation for a busy slot, or a
 * load, reset or quit while any slot is busy. A cancelled one can always go. */
static bool runnable(const engine *e, const command *c, bool busy) {
    if (c->kind != CMD_QUIT && (c->id <= e->stop_upto || c->cancelled)) return true;
    if (c->kind == CMD_GENERATE)
        return c->slot < 0 || c->slot >= e->n_slots || !e->slots[c->slot].busy;
    return !busy;
}

/* The next command that can run; NULL when none can while slots are busy.
 * Blocks only when no slot is busy. */
static command *take_command(engine *e) {
    bool busy = any_busy(e);
    pthread_mutex_lock(&e->mu);
    while (!e->cmd_head && !busy) pthread_cond_wait(&e->cmd_ready, &e->mu);
    command *c = e->cmd_head;
    if (!c || !runnable(e, c, busy)) {
        pthread_mutex_unlock(&e->mu);
        return NULL;
    }
    e->cmd_head = c->next;
    if (!e->cmd_head) e->cmd_tail = NULL;
    bool skip = c->kind != CMD_QUIT && (c->id <= e->stop_upto || c->cancelled);
    if (!skip) atomic_store(&e->cancel, false);
    if (!skip && c->kind == CMD_GENERATE && c->slot >= 0 && c->slot < MAX_SLOTS) {
        e->running[c->slot] = c->id; /* from here engine_stop_id finds it */
        atomic_store(&e->slot_cancel[c->slot], false);
    }
    pthread_mutex_unlock(&e->mu);
    if (skip) { /* stopped before it started */
        engine_event ev = {.kind = c->kind == CMD_LOAD ? EV_LOAD_FAILED : EV_DONE,
                           .request_id = c->id,
                           .reason = STOP_USER};
        if (c->kind == CMD_LOAD) ev.text = lm_xstrdup("cancelled");
        ev.stats = engine_get_stats(e);
        push_event(e, &ev);
        c->kind = CMD_NONE; /* nothing to run */
    }
    return c;
}

static void free_command(command *c) {
    free(c->path);
    engine_request_free(&c->req);
    free(c);
}

/* Commands first (new requests join between steps), then a step. */
static void *engine_main(void *arg) {
    engine *e = arg;
    for (;;) {
        command *c = take_command(e);
        if (!c) {
            step(e);
            continue;
        }
        enum command_kind kind = c->kind;
        if (kind == CMD_LOAD)
            run_load(e, c);
        else if (kind == CMD_GENERATE)
            start_generate(e, c);
        else if (kind == CMD_RESET && e->m)
            reset_slots(e);
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
    if (lm_queue_init(&e->events, err) != 0) {
        free(e);
        return NULL;
    }
    e->want_slots = 1;
    pthread_mutex_init(&e->mu, NULL);
    pthread_mutex_init(&e->stats_mu, NULL);
    pthread_cond_init(&e->cmd_ready, NULL);
    if (pthread_create(&e->thread, NULL, engine_main, e) != 0) {
        lm_queue_destroy(&e->events, NULL);
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
    slots_free(e->slots, e->n_slots);
    model_free(e->m);
    free(e->batch_logits);
    lm_tokens_free(&e->last_prompt);
    lm_queue_destroy(&e->events, NULL);
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

void engine_set_slots(engine *e, int n) {
    pthread_mutex_lock(&e->mu);
    e->want_slots = n < 1 ? 1 : n > MAX_SLOTS ? MAX_SLOTS : n;
    pthread_mutex_unlock(&e->mu);
}

int engine_generate_slot(engine *e, int slot, engine_request *r) {
    command *c = lm_xcalloc(1, sizeof *c);
    c->kind = CMD_GENERATE;
    c->slot = slot;
    c->req = *r;
    memset(r, 0, sizeof *r);
    return enqueue(e, c);
}

int engine_generate(engine *e, engine_request *r) {
    return engine_generate_slot(e, 0, r);
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
    for (int i = 0; i < MAX_SLOTS; i++) atomic_store(&e->slot_cancel[i], true);
    pthread_mutex_unlock(&e->mu);
}

void engine_stop_id(engine *e, int id) {
    pthread_mutex_lock(&e->mu);
    for (int i = 0; i < MAX_SLOTS; i++)
        if (e->running[i] == id) atomic_store(&e->slot_cancel[i], true);
    for (command *c = e->cmd_head; c; c = c->next)
        if (c->id == id) c->cancelled = true;
    pthread_mutex_unlock(&e->mu);
}

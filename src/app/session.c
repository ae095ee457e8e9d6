/* session: one conversation with one model at a time (see include/app/session.h).
 *
 * The session owns a backend (include/app/backend.h: lmterm's own engine,
 * or an OpenAI-compatible server) and the chat. A message the user sends
 * joins the chat, the backend turns the chat into a reply that streams back
 * as events, which session_pump turns into view callbacks. When the reply is
 * done it joins the chat too, with its token ids where the backend gives
 * them, so that the next prompt starts with exactly the tokens the local
 * engine has cached, and the conversation is saved (autosave).
 *
 * Another model, precision, thread count or context size is a new load: the
 * model in use answers until the new one is ready, a failed or cancelled
 * load leaves it in place, and the conversation carries over, under the new
 * model's template. The menus' side of this is in choices.c, the slash
 * commands in commands.c. */
#include "session_impl.h"

#include "transcript.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_REPLY_RESERVE 256 /* positions kept free for a reply of unknown length */
#define MAX_CONVERSATIONS 200     /* listed in the conversations menu */

/* ---- telling the view ---- */

void session_notice(session *s, enum session_notice kind, const char *fmt, ...) {
    if (!s->view.notice) return;
    va_list ap;
    va_start(ap, fmt);
    char *text = lm_xvasprintf(fmt, ap);
    va_end(ap);
    s->view.notice(s->view.ctx, kind, text);
    free(text);
}

void session_status_changed(session *s) {
    if (s->view.status_changed) s->view.status_changed(s->view.ctx);
}

void session_conversation_reset(session *s) {
    if (s->view.conversation_reset) s->view.conversation_reset(s->view.ctx);
}

/* ---- the demo model ---- */

char *session_demo_model_path(void) {
    return backend_local_demo_path();
}

/* A tiny Llama with random weights, so the interface can be tried at once. */
static int write_demo_model(const char *path, lm_error *err) {
    return backend_local_make_demo(path, err);
}

static bool is_remote(const session *s) {
    return !s->be->caps.local_files;
}

static bool is_demo_path(const char *path) {
    char *demo = session_demo_model_path();
    bool same = strcmp(demo, path) == 0;
    free(demo);
    return same;
}

/* ---- loading ---- */

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static void clear_pending(session *s) {
    free(s->pending.path);
    memset(&s->pending, 0, sizeof s->pending);
}

/* Queues the load; the checks are the caller's. */
static void queue_load(session *s, const char *path, const model_options *opt) {
    clear_pending(s);
    s->pending.path = path ? lm_xstrdup(path) : NULL;
    s->pending.opt = *opt;
    if (is_remote(s)) {
        snprintf(s->pending.name, sizeof s->pending.name, "%s", path ? path : "the server's model");
    } else {
        s->pending.demo = is_demo_path(path);
        s->pending.same_file = s->loaded && strcmp(path, s->model_path) == 0;
        const backend_model_meta *m = backend_describe(s->be, path);
        snprintf(s->pending.name, sizeof s->pending.name, "%s",
                 s->pending.demo       ? "the demo model"
                 : m->ok && m->name[0] ? m->name
                                       : base_name(path));
    }
    s->state = SESSION_LOADING;
    s->progress = 0;
    s->load_id = backend_select(s->be, path, opt);
    session_status_changed(s);
}

static void tell_loaded(session *s, bool switched) {
    if (s->info.remote) {
        session_notice(s, NOTICE_INFO, "Using %s on %s; the server applies its own template.%s",
                       s->info.name, s->info.server,
                       switched && s->conv.n ? " The conversation goes on with it." : "");
        return;
    }
    const quant_type_info *qi = quant_info(s->info.main_type);
    session_notice(s, NOTICE_INFO,
                   "Loaded %s: %s, %.2f M parameters, %s %s, context %d, %s template.%s",
                   s->demo ? "the demo model" : s->info.name,
                   s->info.arch == MODEL_ARCH_PHI3 ? "phi3" : "llama",
                   (double)s->info.param_count / 1e6, session_precision_label(s->info.precision),
                   qi ? qi->name : "?", s->info.n_ctx, chat_template_name(s->conv.tmpl),
                   switched && s->conv.n ? " The conversation goes on with it." : "");
    if (s->demo)
        session_notice(s, NOTICE_INFO,
                       "This is the demo model: its weights are random, so its replies are "
                       "gibberish. Get a real one with F2, Download a model (or `lmterm pull "
                       "bartowski/Llama-3.2-1B-Instruct-GGUF`); F1 says more.");
}

static void on_loaded(session *s, backend_event *ev) {
    bool switched = s->loaded, same_file = s->pending.same_file;
    s->info = ev->info;
    free(s->model_path);
    s->model_path = lm_xstrdup(ev->info.path); /* remote: the id the server chose */
    free(s->pending.path);
    s->pending.path = NULL;
    s->opt.model = s->pending.opt;
    s->demo = s->pending.demo;
    clear_pending(s);
    s->loaded = true;
    s->load_id = 0;
    s->state = SESSION_IDLE;
    /* ids belong to the vocabulary that made them */
    if (switched && !same_file) chat_forget_ids(&s->conv);
    if (!s->info.remote) s->conv.tmpl = s->info.tmpl;
    s->n_dropped_told = 0;
    tell_loaded(s, switched);
}

static void on_load_failed(session *s, const backend_event *ev) {
    s->load_id = 0;
    bool cancelled = s->pending.cancelled, demo = s->pending.demo;
    char name[128];
    snprintf(name, sizeof name, "%s", s->pending.name);
    lm_error err;
    if (demo && !cancelled && !s->loaded && !s->demo_remade && !is_remote(s)) {
        /* a stale demo file from an older version: make it again */
        s->demo_remade = true;
        unlink(s->pending.path);
        if (write_demo_model(s->pending.path, &err) == 0) {
            char *path = lm_xstrdup(s->pending.path);
            queue_load(s, path, &s->pending.opt);
            free(path);
            return;
        }
    }
    clear_pending(s);
    s->state = s->loaded ? SESSION_IDLE : SESSION_NO_MODEL;
    const char *still = s->loaded ? s->info.name : NULL;
    if (cancelled && still)
        session_notice(s, NOTICE_INFO, "Loading %s cancelled; %s stays in use.", name, still);
    else if (cancelled)
        session_notice(s, NOTICE_INFO, "Loading %s cancelled; no model is loaded (F2 picks one).",
                       name);
    else
        session_notice(s, NOTICE_ERROR, "%s%s%s", ev->text ? ev->text : "the model did not load",
                       still ? "; still using " : "", still ? still : "");
}

int session_begin_load(session *s, const char *path, const model_options *opt, lm_error *err) {
    if (s->gen_id) return lm_fail(err, "A reply is being written: stop it (Esc) first.");
    if (s->load_id) return lm_fail(err, "A model is loading: wait for it, or cancel it with Esc.");
    if (is_remote(s)) {
        queue_load(s, path, opt);
        return 0;
    }
    if (access(path, R_OK) != 0) return lm_fail(err, "%s: %s", path, strerror(errno));
    const backend_model_meta *m = backend_describe(s->be, path);
    if (!m->ok) return lm_fail(err, "%s", m->error);
    uint64_t avail = session_memory_available(s), need = m->weight_bytes[opt->precision];
    if (avail && need > avail) {
        char a[16], b[16];
        return lm_fail(err,
                       "%s at %s needs %s for its weights, more than the %s of memory available; "
                       "choose a smaller precision (F3).",
                       m->name[0] ? m->name : base_name(path),
                       session_precision_label(opt->precision), lm_format_size(need, a),
                       lm_format_size(avail, b));
    }
    queue_load(s, path, opt);
    return 0;
}

/* ---- transcripts ---- */

char *session_transcripts_dir(session *s, lm_error *err) {
    const char *dir = s->cfg->transcripts_dir;
    if (!dir) return transcript_default_dir(err);
    if (lm_mkdir_p(dir, err)) return NULL;
    return lm_xstrdup(dir);
}

int session_save_to(session *s, const char *base, lm_error *err) {
    transcript_meta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.model_path, sizeof meta.model_path, "%s", s->model_path);
    snprintf(meta.model_name, sizeof meta.model_name, "%s",
             s->demo     ? "demo model (random weights)"
             : s->loaded ? s->info.name
                         : "");
    snprintf(meta.backend, sizeof meta.backend, "%s", s->be->kind);
    if (is_remote(s)) {
        snprintf(meta.server, sizeof meta.server, "%s", s->opt.remote.base_url);
        if (s->opt.remote.api_key_env)
            snprintf(meta.api_key_env, sizeof meta.api_key_env, "%s", s->opt.remote.api_key_env);
    } else {
        snprintf(meta.precision, sizeof meta.precision, "%s",
                 model_precision_name(s->loaded ? s->info.precision : s->opt.model.precision));
    }
    meta.sampling = s->opt.sampling;
    meta.created = (double)time(NULL);
    lm_buf json = {0}, md = {0};
    lm_buf_printf(&json, "%s.json", base);
    lm_buf_printf(&md, "%s.md", base);
    int rc = transcript_save_json(&s->conv, &meta, lm_buf_cstr(&json), err);
    if (rc == 0) rc = transcript_save_markdown(&s->conv, &meta, lm_buf_cstr(&md), err);
    lm_buf_free(&json);
    lm_buf_free(&md);
    return rc;
}

/* DIR/lmterm-YYYYmmdd-HHMMSS, with -2, -3 ... when that is taken. */
static char *new_transcript_base(session *s, lm_error *err) {
    char *dir = session_transcripts_dir(s, err);
    if (!dir) return NULL;
    char stamp[32];
    time_t now = time(NULL);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime(&now));
    lm_buf b = {0};
    for (int n = 1; n < 1000; n++) {
        b.len = 0;
        lm_buf_printf(&b, "%s/lmterm-%s", dir, stamp);
        if (n > 1) lm_buf_printf(&b, "-%d", n);
        lm_buf_puts(&b, ".json");
        if (access(b.data, F_OK) != 0) break;
    }
    b.len -= 5;
    free(dir);
    return (char *)lm_buf_cstr(&b);
}

const char *session_transcript_base(session *s, lm_error *err) {
    if (!s->transcript_base) s->transcript_base = new_transcript_base(s, err);
    return s->transcript_base;
}

void session_new_transcript(session *s) {
    free(s->transcript_base);
    s->transcript_base = NULL;
}

/* A conversation resumed from the transcripts folder goes on in its own
 * file; one from elsewhere gets a new one there (the user's file is not
 * written behind their back). */
static void adopt_transcript(session *s, const char *path) {
    session_new_transcript(s);
    lm_error err;
    char *dir = session_transcripts_dir(s, &err);
    char *real_dir = dir ? realpath(dir, NULL) : NULL;
    char *copy = lm_xstrdup(path);
    char *file_dir = realpath(dirname(copy), NULL);
    size_t len = strlen(path);
    if (real_dir && file_dir && strcmp(real_dir, file_dir) == 0 && len > 5 &&
        strcmp(path + len - 5, ".json") == 0)
        s->transcript_base = lm_xstrndup(path, len - 5);
    free(dir);
    free(real_dir);
    free(copy);
    free(file_dir);
}

void session_autosave(session *s) {
    if (!s->cfg->autosave || s->conv.n == 0) return;
    lm_error err;
    if (session_transcript_base(s, &err) && session_save_to(s, s->transcript_base, &err) == 0) {
        s->autosave_failed = false;
        return;
    }
    if (!s->autosave_failed) session_notice(s, NOTICE_WARNING, "Autosave failed: %s", err.msg);
    s->autosave_failed = true;
}

/* ---- replies ---- */

void session_start_reply(session *s) {
    backend_params req = {0};
    req.max_tokens = s->opt.max_tokens;
    req.reply_reserve = s->opt.max_tokens > 0 ? s->opt.max_tokens : DEFAULT_REPLY_RESERVE;
    req.sampling = s->opt.sampling;
    req.sampling.seed = s->opt.sampling.seed + s->n_requests++;
    s->reply.len = 0;
    s->n_ids = 0;
    s->t_sent = lm_now();
    s->state = SESSION_READING_PROMPT;
    s->progress = 0;
    s->gen_id = backend_generate(s->be, &s->conv, &req);
    if (s->view.reply_begin) s->view.reply_begin(s->view.ctx);
    session_status_changed(s);
}

static void on_token(session *s, const backend_event *ev) {
    if (s->state == SESSION_READING_PROMPT) s->state = SESSION_GENERATING;
    if (ev->token >= 0) {
        if (s->n_ids == s->cap_ids) {
            s->cap_ids = s->cap_ids ? 2 * s->cap_ids : 256;
            s->ids = lm_xrealloc(s->ids, s->cap_ids * sizeof *s->ids);
        }
        s->ids[s->n_ids++] = ev->token;
    }
    if (ev->text && ev->text[0]) {
        size_t len = strlen(ev->text);
        lm_buf_append(&s->reply, ev->text, len);
        if (s->view.reply_text) s->view.reply_text(s->view.ctx, ev->text, len);
    }
}

/* The reply joins the conversation with the ids it was generated as. */
static void keep_reply(session *s, const session_reply *r) {
    chat_message *m = chat_add(&s->conv, CHAT_ROLE_ASSISTANT, lm_buf_cstr(&s->reply));
    chat_message_set_ids(m, s->ids, s->n_ids);
    m->time = (double)time(NULL);
    m->gen_tps = r->gen_tps;
    m->n_tokens = r->n_tokens;
}

static void tell_dropped(session *s, const backend_event *ev) {
    if (ev->n_dropped > 0 && ev->n_dropped != s->n_dropped_told)
        session_notice(s, NOTICE_WARNING,
                       "%d earlier turn%s no longer fit%s the context of %d tokens and %s left out "
                       "(the system prompt stays).",
                       ev->n_dropped, ev->n_dropped == 1 ? "" : "s", ev->n_dropped == 1 ? "s" : "",
                       ev->stats.n_ctx, ev->n_dropped == 1 ? "is" : "are");
    s->n_dropped_told = ev->n_dropped;
}

static void on_done(session *s, const backend_event *ev) {
    /* a server gives text without ids, and counts its tokens itself */
    int n = s->n_ids ? (int)s->n_ids : ev->stats.n_generated;
    session_reply r = {.reason = ev->reason,
                       .n_tokens = n,
                       .n_prompt_evaluated = ev->stats.n_prompt_evaluated,
                       .prompt_tps = ev->stats.prompt_tps,
                       .gen_tps = ev->stats.gen_tps,
                       .first_token = ev->stats.first_token,
                       .error = ev->text};
    /* The engine's rate covers its last 16 tokens: the whole of a short reply.
     * For a longer one: the time from request to done, less the prompt's. */
    double prompt_s = r.prompt_tps > 0 ? r.n_prompt_evaluated / r.prompt_tps : 0;
    double gen_s = lm_now() - s->t_sent - prompt_s;
    if (n > 16 && gen_s > 0 && s->be->caps.token_ids) r.gen_tps = n / gen_s;
    bool kept = n > 0 || s->reply.len > 0;
    if (kept) keep_reply(s, &r);
    s->gen_id = 0;
    s->state = SESSION_IDLE;
    if (s->view.reply_end) s->view.reply_end(s->view.ctx, &r);
    tell_dropped(s, ev);
    if (ev->reason == BACKEND_STOP_CONTEXT_FULL)
        session_notice(s, NOTICE_WARNING, "The reply reached the end of the context (%d tokens).",
                       ev->stats.n_ctx);
    if (ev->reason == BACKEND_STOP_ERROR)
        session_notice(s, NOTICE_ERROR, "%s", ev->text ? ev->text : "failed");
    if (kept) session_autosave(s);
}

/* ---- events ---- */

static void on_event(session *s, backend_event *ev) {
    bool load = ev->request_id == s->load_id, gen = ev->request_id == s->gen_id;
    switch (ev->kind) {
    case BACKEND_EV_LOAD_PROGRESS:
        if (load) s->progress = ev->progress;
        break;
    case BACKEND_EV_LOADED:
        if (load) on_loaded(s, ev);
        break;
    case BACKEND_EV_LOAD_FAILED:
        if (load) on_load_failed(s, ev);
        break;
    case BACKEND_EV_PROMPT_PROGRESS:
        if (gen) s->progress = ev->progress;
        break;
    case BACKEND_EV_TOKEN:
        if (gen) on_token(s, ev);
        break;
    case BACKEND_EV_DONE:
        if (gen) on_done(s, ev);
        break;
    case BACKEND_EV_ERROR:
        session_notice(s, NOTICE_ERROR, "%s", ev->text ? ev->text : "engine error");
        break;
    }
}

void session_pump(session *s) {
    backend_event ev;
    bool any = false;
    while (backend_poll(s->be, &ev)) {
        on_event(s, &ev);
        backend_event_free(&ev);
        any = true;
    }
    if (!any) return;
    s->stats = backend_get_stats(s->be);
    session_status_changed(s);
}

/* ---- life ---- */

/* A conversation written against a server goes back to it (and its model)
 * unless the command line names a model or a server of its own. */
static void resume_remote(session *s, const session_options *o, const transcript_meta *meta) {
    if (o->remote.base_url || o->model_path || !meta->server[0]) return;
    s->resume_server = lm_xstrdup(meta->server);
    s->resume_key_env = meta->api_key_env[0] ? lm_xstrdup(meta->api_key_env) : NULL;
    s->resume_model = meta->model_path[0] ? lm_xstrdup(meta->model_path) : NULL;
    s->opt.remote.base_url = s->resume_server;
    s->opt.remote.api_key_env = s->resume_key_env;
}

/* The transcript to resume and the model it names (unless -m says another). */
static int open_resume(session *s, const session_options *o, char **path, lm_error *err) {
    transcript_meta meta = {0};
    if (o->resume_path && transcript_load_json(o->resume_path, &s->conv, &meta, err)) return -1;
    if (o->resume_path) adopt_transcript(s, o->resume_path);
    resume_remote(s, o, &meta);
    if (s->opt.remote.base_url) {
        const char *id = o->model_path ? o->model_path : s->resume_model;
        *path = id ? lm_xstrdup(id) : NULL;
        return 0;
    }
    const char *p = o->model_path;
    if (!p && meta.model_path[0] && access(meta.model_path, R_OK) == 0) p = meta.model_path;
    if (p && access(p, R_OK) != 0) return lm_fail(err, "%s: %s", p, strerror(errno));
    *path = p ? lm_xstrdup(p) : NULL;
    return 0;
}

session *session_create(const session_options *o, const session_view *v, lm_error *err) {
    session *s = lm_xcalloc(1, sizeof *s);
    s->opt = *o;
    s->seed_random = o->seed_random;
    if (v) s->view = *v;
    if (!o->cfg) config_init_defaults(&s->own_cfg);
    s->cfg = o->cfg ? o->cfg : &s->own_cfg;
    chat_init(&s->conv, CHAT_TEMPLATE_LLAMA3);
    char *path = NULL;
    if (open_resume(s, o, &path, err)) goto fail;
    if (o->system_prompt) chat_set_system(&s->conv, o->system_prompt);
    if (s->opt.remote.base_url) {
        if (!(s->be = backend_openai_create(&s->opt.remote, err))) goto fail;
        s->model_path = lm_xstrdup(path ? path : ""); /* until the server answers */
        queue_load(s, path, &s->opt.model);
        free(path);
        return s;
    }
    if (!path) {
        path = session_demo_model_path();
        if (access(path, R_OK) != 0 && write_demo_model(path, err)) goto fail;
    }
    if (!(s->be = backend_local_create(s->cfg, err))) goto fail;
    s->model_path = lm_xstrdup(path); /* until a model loads: what the title shows */
    s->demo = is_demo_path(path);
    queue_load(s, path, &s->opt.model);
    free(path);
    return s;
fail:
    free(path);
    session_free(s);
    return NULL;
}

void session_free(session *s) {
    if (!s) return;
    session_measure_end(s);
    download_free(s->download);
    backend_close(s->be);
    chat_free(&s->conv);
    free(s->model_path);
    free(s->resume_server);
    free(s->resume_key_env);
    free(s->resume_model);
    clear_pending(s);
    lm_buf_free(&s->reply);
    free(s->ids);
    free(s->models);
    conversations_free(s->convs, s->n_convs);
    free(s->transcript_base);
    if (s->cfg == &s->own_cfg) config_free(&s->own_cfg);
    free(s);
}

int session_fd(const session *s) {
    return backend_fd(s->be);
}

bool session_busy(const session *s) {
    return s->load_id || s->gen_id;
}

void session_stop(session *s) {
    if (s->load_id && !s->pending.cancelled) {
        s->pending.cancelled = true;
        backend_stop(s->be);
        return;
    }
    if (!s->gen_id || s->state == SESSION_STOPPING) return;
    backend_stop(s->be);
    s->state = SESSION_STOPPING;
    session_status_changed(s);
}

void session_get_status(const session *s, session_status *st) {
    st->state = s->state;
    st->progress = s->progress;
    st->stats = s->stats;
    st->model = s->loaded ? &s->info : NULL;
    st->caps = backend_get_caps(s->be);
    st->demo = s->demo;
    st->model_path = s->model_path;
    st->load_name = s->load_id ? s->pending.name : NULL;
    st->load_precision = s->pending.opt.precision;
    st->download_name = !s->download             ? NULL
                        : s->dl_state.file[0]    ? s->dl_state.file
                                                 : s->dl_state.ref;
    st->download_progress = s->download && s->dl_state.progress.total
                                ? (float)s->dl_state.progress.done / (float)s->dl_state.progress.total
                                : 0;
}

const chat *session_get_chat(const session *s) {
    return &s->conv;
}

config *session_config(const session *s) {
    return s->cfg;
}

/* ---- the conversation ---- */

bool session_refuse_if_busy(session *s) {
    if (!s->gen_id) return false;
    session_notice(s, NOTICE_WARNING,
                   "A reply is being written: wait for it, or stop it with Esc.");
    return true;
}

void session_set_system(session *s, const char *text) {
    chat_set_system(&s->conv, text && *text ? text : NULL);
    session_conversation_reset(s);
    if (text && *text)
        session_notice(s, NOTICE_OUTPUT, "System prompt set; it takes effect with the next reply.");
    else
        session_notice(s, NOTICE_OUTPUT, "System prompt removed; the next reply goes without one.");
}

size_t session_conversations(session *s, const saved_conversation **rows) {
    conversations_free(s->convs, s->n_convs);
    s->convs = NULL;
    s->n_convs = 0;
    lm_error err;
    char *dir = session_transcripts_dir(s, &err);
    if (dir) s->n_convs = conversations_list(dir, MAX_CONVERSATIONS, &s->convs);
    free(dir);
    *rows = s->convs;
    return s->n_convs;
}

int session_resume(session *s, const char *path, lm_error *err) {
    if (s->gen_id) return lm_fail(err, "A reply is being written: stop it (Esc) first.");
    transcript_meta meta;
    if (transcript_load_json(path, &s->conv, &meta, err) != 0) return -1;
    if (s->loaded && !s->info.remote) s->conv.tmpl = s->info.tmpl;
    s->n_dropped_told = 0;
    adopt_transcript(s, path);
    session_conversation_reset(s);
    session_notice(s, NOTICE_INFO, "Loaded %zu message%s from %s.", s->conv.n,
                   s->conv.n == 1 ? "" : "s", path);
    if (meta.model_name[0] && s->loaded && strcmp(meta.model_name, s->info.name) != 0)
        session_notice(s, NOTICE_INFO, "It was written with %s; %s goes on with it (F2 to change).",
                       meta.model_name, s->demo ? "the demo model" : s->info.name);
    return 0;
}

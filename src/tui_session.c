/* session: one conversation with one model (see include/tui.h).
 *
 * The session owns the engine and the chat. A message the user sends joins
 * the chat, the chat becomes an engine request, and the reply streams back
 * as events that session_pump turns into view callbacks. When the reply is
 * done it joins the chat too, with its token ids, so that the next prompt
 * starts with exactly the tokens the engine has cached. */
#include "tui.h"

#include "synth.h"
#include "transcript.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_REPLY_RESERVE 256 /* positions kept free for a reply of unknown length */

struct session {
    session_options opt;
    session_view view;
    engine *eng;
    chat conv;
    char *model_path;
    bool demo, demo_remade;

    enum session_state state;
    float progress;
    engine_stats stats;
    engine_model_info info;
    bool loaded;
    int load_id, gen_id; /* requests in flight, 0: none */
    uint64_t n_requests; /* varies the seed from one reply to the next */

    /* the reply being written */
    lm_buf reply;
    int32_t *ids;
    size_t n_ids, cap_ids;
    double t_sent; /* when the request went to the engine */
    int n_dropped_told;
};

/* ---- telling the view ---- */

static void notice(session *s, enum session_notice kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void notice(session *s, enum session_notice kind, const char *fmt, ...) {
    if (!s->view.notice) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *text = lm_xmalloc((size_t)(n > 0 ? n : 0) + 1);
    va_start(ap, fmt);
    vsnprintf(text, (size_t)(n > 0 ? n : 0) + 1, fmt, ap);
    va_end(ap);
    s->view.notice(s->view.ctx, kind, text);
    free(text);
}

static void status_changed(session *s) {
    if (s->view.status_changed) s->view.status_changed(s->view.ctx);
}

static void conversation_reset(session *s) {
    if (s->view.conversation_reset) s->view.conversation_reset(s->view.ctx);
}

/* ---- the model ---- */

char *session_demo_model_path(void) {
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    lm_buf b = {0};
    if (xdg && xdg[0] == '/')
        lm_buf_printf(&b, "%s/lmterm/demo-model.gguf", xdg);
    else
        lm_buf_printf(&b, "%s/.cache/lmterm/demo-model.gguf", home && *home ? home : ".");
    return (char *)lm_buf_cstr(&b);
}

/* A tiny Llama with random weights, so the interface can be tried at once. */
static int write_demo_model(const char *path, lm_error *err) {
    char *dir = lm_xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    int rc = slash ? lm_mkdir_p(dir, err) : 0;
    free(dir);
    synth_options so = {
        .arch = "llama", .shape = "tiny", .type = QT_Q8_0, .output_type = QT_COUNT, .seed = 1};
    return rc ? rc : synth_write(&so, path, err);
}

static void start_load(session *s) {
    s->state = SESSION_LOADING;
    s->progress = 0;
    s->load_id = engine_load(s->eng, s->model_path, &s->opt.model);
}

static void on_loaded(session *s, engine_event *ev) {
    free(s->info.chat_template);
    s->info = ev->info;
    ev->info.chat_template = NULL; /* ours now */
    s->loaded = true;
    s->load_id = 0;
    s->state = SESSION_IDLE;
    s->conv.tmpl = chat_template_detect(s->info.chat_template, s->info.arch);
    const quant_type_info *qi = quant_info(s->info.main_type);
    notice(s, NOTICE_INFO, "Loaded %s: %s, %.2f M parameters, %s, context %d, %s template.",
           s->info.name, s->info.arch == MODEL_ARCH_PHI3 ? "phi3" : "llama",
           (double)s->info.param_count / 1e6, qi ? qi->name : "?", s->info.n_ctx,
           chat_template_name(s->conv.tmpl));
    if (s->demo)
        notice(s, NOTICE_INFO,
               "This is the demo model: its weights are random, so its replies are gibberish. "
               "Start lmterm with -m FILE.gguf to chat with a real model.");
}

static void on_load_failed(session *s, const engine_event *ev) {
    s->load_id = 0;
    lm_error err;
    if (s->demo && !s->demo_remade) { /* a stale demo file from an older version: make it again */
        s->demo_remade = true;
        unlink(s->model_path);
        if (write_demo_model(s->model_path, &err) == 0) {
            start_load(s);
            return;
        }
    }
    s->state = s->loaded ? SESSION_IDLE : SESSION_NO_MODEL;
    notice(s, NOTICE_ERROR, "%s", ev->text ? ev->text : "the model did not load");
}

/* ---- replies ---- */

static void start_reply(session *s) {
    engine_request req = {0};
    chat_build_request(&s->conv, &req);
    req.max_tokens = s->opt.max_tokens;
    req.reply_reserve = s->opt.max_tokens > 0 ? s->opt.max_tokens : DEFAULT_REPLY_RESERVE;
    req.sampling = s->opt.sampling;
    req.sampling.seed = s->opt.sampling.seed + s->n_requests++;
    s->reply.len = 0;
    s->n_ids = 0;
    s->t_sent = lm_now();
    s->state = SESSION_READING_PROMPT;
    s->progress = 0;
    s->gen_id = engine_generate(s->eng, &req);
    if (s->view.reply_begin) s->view.reply_begin(s->view.ctx);
    status_changed(s);
}

static void on_token(session *s, const engine_event *ev) {
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

static void on_done(session *s, const engine_event *ev) {
    int n = (int)s->n_ids;
    session_reply r = {.reason = ev->reason,
                       .n_tokens = n,
                       .n_prompt_evaluated = ev->stats.n_prompt_evaluated,
                       .prompt_tps = ev->stats.prompt_tps,
                       .gen_tps = ev->stats.gen_tps,
                       .error = ev->text};
    /* The engine's rate covers its last 16 tokens: the whole of a short reply.
     * For a longer one: the time from request to done, less the prompt's. */
    double prompt_s = r.prompt_tps > 0 ? r.n_prompt_evaluated / r.prompt_tps : 0;
    double gen_s = lm_now() - s->t_sent - prompt_s;
    if (n > 16 && gen_s > 0) r.gen_tps = n / gen_s;
    if (n > 0 || s->reply.len > 0) keep_reply(s, &r);
    s->gen_id = 0;
    s->state = SESSION_IDLE;
    if (s->view.reply_end) s->view.reply_end(s->view.ctx, &r);
    if (ev->n_dropped > 0 && ev->n_dropped != s->n_dropped_told)
        notice(s, NOTICE_WARNING,
               "%d earlier turn%s no longer fit%s the context of %d tokens and %s left out "
               "(the system prompt stays).",
               ev->n_dropped, ev->n_dropped == 1 ? "" : "s", ev->n_dropped == 1 ? "s" : "",
               ev->stats.n_ctx, ev->n_dropped == 1 ? "is" : "are");
    s->n_dropped_told = ev->n_dropped;
    if (ev->reason == STOP_CONTEXT_FULL)
        notice(s, NOTICE_WARNING, "The reply reached the end of the context (%d tokens).",
               ev->stats.n_ctx);
    if (ev->reason == STOP_ERROR) notice(s, NOTICE_ERROR, "%s", ev->text ? ev->text : "failed");
}

/* ---- events ---- */

static void on_event(session *s, engine_event *ev) {
    bool load = ev->request_id == s->load_id, gen = ev->request_id == s->gen_id;
    switch (ev->kind) {
    case EV_LOAD_PROGRESS:
        if (load) s->progress = ev->progress;
        break;
    case EV_LOADED:
        if (load) on_loaded(s, ev);
        break;
    case EV_LOAD_FAILED:
        if (load) on_load_failed(s, ev);
        break;
    case EV_PROMPT_PROGRESS:
        if (gen) s->progress = ev->progress;
        break;
    case EV_TOKEN:
        if (gen) on_token(s, ev);
        break;
    case EV_DONE:
        if (gen) on_done(s, ev);
        break;
    case EV_ERROR:
        notice(s, NOTICE_ERROR, "%s", ev->text ? ev->text : "engine error");
        break;
    }
}

void session_pump(session *s) {
    engine_event ev;
    bool any = false;
    while (engine_poll(s->eng, &ev)) {
        on_event(s, &ev);
        engine_event_free(&ev);
        any = true;
    }
    if (!any) return;
    s->stats = engine_get_stats(s->eng);
    status_changed(s);
}

/* ---- life ---- */

session *session_create(const session_options *o, const session_view *v, lm_error *err) {
    session *s = lm_xcalloc(1, sizeof *s);
    s->opt = *o;
    if (v) s->view = *v;
    chat_init(&s->conv, CHAT_TEMPLATE_LLAMA3);
    transcript_meta meta = {0};
    if (o->resume_path && transcript_load_json(o->resume_path, &s->conv, &meta, err)) goto fail;
    if (o->system_prompt) chat_set_system(&s->conv, o->system_prompt);
    const char *path = o->model_path;
    if (!path && meta.model_path[0] && access(meta.model_path, R_OK) == 0) path = meta.model_path;
    if (path && access(path, R_OK) != 0) {
        lm_fail(err, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (path) {
        s->model_path = lm_xstrdup(path);
    } else {
        s->model_path = session_demo_model_path();
        s->demo = true;
        if (access(s->model_path, R_OK) != 0 && write_demo_model(s->model_path, err)) goto fail;
    }
    if (!(s->eng = engine_create(err))) goto fail;
    start_load(s);
    return s;
fail:
    session_free(s);
    return NULL;
}

void session_free(session *s) {
    if (!s) return;
    engine_free(s->eng);
    chat_free(&s->conv);
    free(s->model_path);
    free(s->info.chat_template);
    lm_buf_free(&s->reply);
    free(s->ids);
    free(s);
}

int session_fd(const session *s) {
    return engine_wakeup_fd(s->eng);
}

bool session_busy(const session *s) {
    return s->load_id || s->gen_id;
}

void session_stop(session *s) {
    if (!s->gen_id || s->state == SESSION_STOPPING) return;
    engine_stop(s->eng);
    s->state = SESSION_STOPPING;
    status_changed(s);
}

void session_get_status(const session *s, session_status *st) {
    st->state = s->state;
    st->progress = s->progress;
    st->stats = s->stats;
    st->model = s->loaded ? &s->info : NULL;
    st->demo = s->demo;
    st->model_path = s->model_path;
}

const chat *session_get_chat(const session *s) {
    return &s->conv;
}

/* ---- slash commands ---- */

typedef enum session_action (*command_fn)(session *s, const char *args, char **edit_text);

/* Refuses what would change the conversation under a reply being written. */
static bool refuse_if_busy(session *s) {
    if (!s->gen_id) return false;
    notice(s, NOTICE_WARNING, "A reply is being written: wait for it, or stop it with Esc.");
    return true;
}

static enum session_action cmd_help(session *s, const char *args, char **edit) {
    (void)s, (void)args, (void)edit;
    return SESSION_HELP;
}

static enum session_action cmd_quit(session *s, const char *args, char **edit) {
    (void)s, (void)args, (void)edit;
    return SESSION_QUIT;
}

static enum session_action cmd_system(session *s, const char *args, char **edit) {
    (void)edit;
    if (!*args) {
        const char *sp = s->conv.system_prompt;
        if (sp && *sp)
            notice(s, NOTICE_OUTPUT, "System prompt: %s", sp);
        else
            notice(s, NOTICE_OUTPUT, "No system prompt. Set one with /system TEXT.");
    } else if (strcmp(args, "--clear") == 0) {
        chat_set_system(&s->conv, NULL);
        notice(s, NOTICE_OUTPUT, "System prompt removed; the next reply goes without one.");
    } else {
        chat_set_system(&s->conv, args);
        notice(s, NOTICE_OUTPUT, "System prompt set; it takes effect with the next reply.");
    }
    return SESSION_CONTINUE;
}

static enum session_action cmd_later(session *s, const char *args, char **edit) {
    (void)args, (void)edit;
    notice(s, NOTICE_OUTPUT,
           "Not yet available: the model and precision menus come in a later version. For now "
           "start lmterm with -m FILE and --precision native|fp32|fp16|int8|int4.");
    return SESSION_CONTINUE;
}

static enum session_action cmd_clear(session *s, const char *args, char **edit) {
    (void)args, (void)edit;
    if (refuse_if_busy(s)) return SESSION_CONTINUE;
    chat_clear(&s->conv);
    engine_reset(s->eng);
    s->stats.n_past = 0; /* the engine says so only with its next event */
    s->n_dropped_told = 0;
    status_changed(s);
    conversation_reset(s);
    notice(s, NOTICE_OUTPUT, "Conversation cleared (the system prompt stays).");
    return SESSION_CONTINUE;
}

static enum session_action cmd_regen(session *s, const char *args, char **edit) {
    (void)args, (void)edit;
    if (refuse_if_busy(s)) return SESSION_CONTINUE;
    if (s->conv.n && s->conv.msgs[s->conv.n - 1].role == CHAT_ROLE_ASSISTANT) chat_pop(&s->conv);
    if (!s->conv.n || s->conv.msgs[s->conv.n - 1].role != CHAT_ROLE_USER) {
        notice(s, NOTICE_OUTPUT, "There is no reply to regenerate yet.");
        return SESSION_CONTINUE;
    }
    if (!s->loaded) {
        notice(s, NOTICE_WARNING, "No model is loaded.");
        return SESSION_CONTINUE;
    }
    conversation_reset(s);
    start_reply(s);
    return SESSION_CONTINUE;
}

static enum session_action cmd_edit(session *s, const char *args, char **edit) {
    (void)args;
    if (refuse_if_busy(s)) return SESSION_CONTINUE;
    size_t last = s->conv.n;
    while (last > 0 && s->conv.msgs[last - 1].role != CHAT_ROLE_USER) last--;
    if (last == 0) {
        notice(s, NOTICE_OUTPUT, "There is no message to edit yet.");
        return SESSION_CONTINUE;
    }
    char *text = lm_xstrdup(s->conv.msgs[last - 1].content);
    while (s->conv.n >= last) chat_pop(&s->conv);
    conversation_reset(s);
    if (edit) {
        *edit = text;
        return SESSION_EDIT;
    }
    notice(s, NOTICE_OUTPUT, "Your last message was taken back: %s", text);
    free(text);
    return SESSION_CONTINUE;
}

/* "name" or "name.json" in the transcripts folder when it is not a path. */
static char *transcript_path(const char *arg, bool for_load) {
    lm_error err;
    char *dir = transcript_default_dir(&err);
    lm_buf b = {0};
    if (!*arg) {
        char stamp[32];
        time_t now = time(NULL);
        strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime(&now));
        lm_buf_printf(&b, "%s/lmterm-%s", dir ? dir : ".", stamp);
    } else if (strchr(arg, '/') || !dir || (for_load && access(arg, R_OK) == 0)) {
        lm_buf_puts(&b, arg);
    } else {
        lm_buf_printf(&b, "%s/%s", dir, arg);
    }
    if (for_load && access(lm_buf_cstr(&b), R_OK) != 0) lm_buf_puts(&b, ".json");
    free(dir);
    return (char *)lm_buf_cstr(&b);
}

static void fill_meta(const session *s, transcript_meta *meta) {
    memset(meta, 0, sizeof *meta);
    snprintf(meta->model_path, sizeof meta->model_path, "%s", s->model_path);
    snprintf(meta->model_name, sizeof meta->model_name, "%s", s->loaded ? s->info.name : "");
    snprintf(meta->precision, sizeof meta->precision, "%s",
             model_precision_name(s->loaded ? s->info.precision : s->opt.model.precision));
    meta->sampling = s->opt.sampling;
    meta->created = (double)time(NULL);
}

/* Writes BASE.json (to resume) and BASE.md (to read). */
static enum session_action cmd_save(session *s, const char *args, char **edit) {
    (void)edit;
    char *base = transcript_path(args, false);
    size_t len = strlen(base);
    if (len > 5 && strcmp(base + len - 5, ".json") == 0)
        base[len - 5] = 0;
    else if (len > 3 && strcmp(base + len - 3, ".md") == 0)
        base[len - 3] = 0;
    lm_buf json = {0}, md = {0};
    lm_buf_printf(&json, "%s.json", base);
    lm_buf_printf(&md, "%s.md", base);
    transcript_meta meta;
    fill_meta(s, &meta);
    lm_error err;
    if (transcript_save_json(&s->conv, &meta, lm_buf_cstr(&json), &err) ||
        transcript_save_markdown(&s->conv, &meta, lm_buf_cstr(&md), &err))
        notice(s, NOTICE_ERROR, "%s", err.msg);
    else
        notice(s, NOTICE_INFO, "Saved to %s (and .md to read).", json.data);
    lm_buf_free(&json);
    lm_buf_free(&md);
    free(base);
    return SESSION_CONTINUE;
}

static enum session_action cmd_load(session *s, const char *args, char **edit) {
    (void)edit;
    if (refuse_if_busy(s)) return SESSION_CONTINUE;
    if (!*args) {
        notice(s, NOTICE_OUTPUT, "Which conversation? /load PATH (a .json transcript).");
        return SESSION_CONTINUE;
    }
    char *path = transcript_path(args, true);
    transcript_meta meta;
    lm_error err;
    if (transcript_load_json(path, &s->conv, &meta, &err) == 0) {
        if (s->loaded) s->conv.tmpl = chat_template_detect(s->info.chat_template, s->info.arch);
        s->n_dropped_told = 0;
        conversation_reset(s);
        notice(s, NOTICE_INFO, "Loaded %zu messages from %s.", s->conv.n, path);
    } else {
        notice(s, NOTICE_ERROR, "%s", err.msg);
    }
    free(path);
    return SESSION_CONTINUE;
}

/* ---- /set ---- */

static void list_settings(session *s) {
    const sampler_params *p = &s->opt.sampling;
    notice(s, NOTICE_OUTPUT,
           "temp %g, top-k %d, top-p %g, min-p %g, repeat-penalty %g, seed %llu, max-tokens %d",
           p->temperature, p->top_k, p->top_p, p->min_p, p->repeat_penalty,
           (unsigned long long)p->seed, s->opt.max_tokens);
}

static bool parse_number(const char *text, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v >= lo && v <= hi)) return false;
    *out = v;
    return true;
}

static enum session_action cmd_set(session *s, const char *args, char **edit) {
    (void)edit;
    char name[32];
    int used = 0;
    if (sscanf(args, "%31s %n", name, &used) < 1) {
        list_settings(s);
        return SESSION_CONTINUE;
    }
    const char *value = args + used;
    sampler_params *p = &s->opt.sampling;
    double v;
    bool ok = true;
    if (strcmp(name, "temp") == 0 && (ok = parse_number(value, 0, 100, &v)))
        p->temperature = (float)v;
    else if (strcmp(name, "top-k") == 0 && (ok = parse_number(value, 0, 1 << 24, &v)))
        p->top_k = (int)v;
    else if (strcmp(name, "top-p") == 0 && (ok = parse_number(value, 0, 1, &v)))
        p->top_p = (float)v;
    else if (strcmp(name, "min-p") == 0 && (ok = parse_number(value, 0, 1, &v)))
        p->min_p = (float)v;
    else if (strcmp(name, "repeat-penalty") == 0 && (ok = parse_number(value, 0.01, 100, &v)))
        p->repeat_penalty = (float)v;
    else if (strcmp(name, "seed") == 0 && (ok = parse_number(value, 0, 1e18, &v))) {
        p->seed = (uint64_t)v;
        s->n_requests = 0;
    } else if (strcmp(name, "max-tokens") == 0 && (ok = parse_number(value, -1, 1 << 24, &v)))
        s->opt.max_tokens = (int)v;
    else if (ok) {
        notice(s, NOTICE_OUTPUT,
               "Unknown setting '%s' (temp, top-k, top-p, min-p, repeat-penalty, seed, "
               "max-tokens; threads and context come with the settings menu).",
               name);
        return SESSION_CONTINUE;
    }
    if (!ok)
        notice(s, NOTICE_OUTPUT, "'%s' is not a valid value for %s.", value, name);
    else
        list_settings(s);
    return SESSION_CONTINUE;
}

static const session_command command_list[] = {
    {"/help", "", "this help: every key and command"},
    {"/system", "[TEXT|--clear]", "show, set or remove the system prompt"},
    {"/model", "", "choose another model (not yet available)"},
    {"/precision", "", "choose the weights' precision (not yet available)"},
    {"/save", "[PATH]", "save the conversation (.json to resume, .md to read)"},
    {"/load", "PATH", "continue a saved conversation"},
    {"/clear", "", "start a new conversation (the system prompt stays)"},
    {"/regen", "", "write the last reply again"},
    {"/edit", "", "take back your last message to edit and resend it"},
    {"/set", "[NAME VALUE]", "show or change temp, top-k, top-p, min-p, seed, max-tokens ..."},
    {"/quit", "", "quit (also Ctrl-D)"},
};

static const command_fn command_fns[] = {
    cmd_help,  cmd_system, cmd_later, cmd_later, cmd_save, cmd_load,
    cmd_clear, cmd_regen,  cmd_edit,  cmd_set,   cmd_quit,
};

const session_command *session_commands(size_t *n) {
    *n = sizeof command_list / sizeof *command_list;
    return command_list;
}

static enum session_action run_command(session *s, const char *line, char **edit) {
    size_t name_len = strcspn(line, " \t\n");
    const char *args = line + name_len;
    while (*args == ' ' || *args == '\t' || *args == '\n') args++;
    for (size_t i = 0; i < sizeof command_list / sizeof *command_list; i++)
        if (strlen(command_list[i].name) == name_len &&
            strncmp(command_list[i].name, line, name_len) == 0)
            return command_fns[i](s, args, edit);
    notice(s, NOTICE_OUTPUT, "Unknown command %.*s (try /help; start with // to send a '/').",
           (int)name_len, line);
    return SESSION_CONTINUE;
}

/* ---- messages ---- */

static void send_message(session *s, const char *text) {
    if (s->gen_id) {
        notice(s, NOTICE_WARNING, "A reply is being written: wait for it, or stop it with Esc.");
        return;
    }
    if (!s->loaded) {
        notice(s, NOTICE_WARNING,
               s->state == SESSION_LOADING ? "The model is still loading." : "No model is loaded.");
        return;
    }
    chat_add(&s->conv, CHAT_ROLE_USER, text)->time = (double)time(NULL);
    if (s->view.user_message) s->view.user_message(s->view.ctx, text);
    start_reply(s);
}

enum session_action session_submit(session *s, const char *line, char **edit_text) {
    if (edit_text) *edit_text = NULL;
    while (*line == '\n' || *line == '\r') line++;
    size_t len = strlen(line);
    while (len > 0 && strchr(" \t\r\n", line[len - 1])) len--;
    if (len == 0) return SESSION_CONTINUE;
    char *text = lm_xstrndup(line, len);
    enum session_action a = SESSION_CONTINUE;
    if (text[0] == '/' && text[1] != '/')
        a = run_command(s, text, edit_text);
    else
        send_message(s, text[0] == '/' ? text + 1 : text);
    free(text);
    return a;
}

/* commands: what a line the user types does. A message starts a reply; a
 * slash command changes the conversation or the session. The answers go
 * out as notices, so the full-screen and the plain chat show the same. The
 * full-screen chat opens menus for some commands given without arguments
 * (the session_action values say which); the plain chat prints the same
 * choices as numbered lists (session_list). No curses here. */
#include "session_impl.h"

#include "transcript.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef enum session_action (*command_fn)(session *s, const char *args, char **text);

/* ---- lists, for /model, /precision and /load without arguments ---- */

static void list_models(session *s) {
    const session_model *rows;
    size_t n = session_models(s, &rows);
    if (session_server_name(s)) {
        session_notice(s, NOTICE_OUTPUT, "Models on %s (/model N uses one; * is in use):",
                       session_server_name(s));
        for (size_t i = 0; i < n; i++)
            session_notice(s, NOTICE_OUTPUT, " %c%zu. %s", rows[i].current ? '*' : ' ', i + 1,
                           rows[i].name);
        return;
    }
    session_notice(s, NOTICE_OUTPUT, "Models (/model N loads one; * is in use):");
    for (size_t i = 0; i < n; i++) {
        const backend_model_meta *m = rows[i].meta;
        char params[16], size[16];
        if (!m->ok) {
            session_notice(s, NOTICE_OUTPUT, " %c%zu. %s: %s", rows[i].current ? '*' : ' ', i + 1,
                           rows[i].name, m->error);
            continue;
        }
        lm_format_count(m->params, params);
        const quant_type_info *qi = quant_info(m->type);
        session_notice(s, NOTICE_OUTPUT, " %c%zu. %s: %s, %s parameters, %s, %s, context %d",
                       rows[i].current ? '*' : ' ', i + 1, rows[i].name, m->arch, params,
                       lm_format_size(m->file_bytes, size), qi ? qi->name : "?", m->n_ctx_train);
    }
}

static void list_precisions(session *s) {
    session_precision rows[SESSION_N_PRECISIONS];
    uint64_t avail;
    size_t n = session_precisions(s, rows, &avail);
    if (!n) {
        session_notice(s, NOTICE_OUTPUT, session_server_name(s)
                                             ? "The server decides the precision of its models."
                                             : "No model is loaded.");
        return;
    }
    char a[16];
    session_notice(s, NOTICE_OUTPUT, "Precisions (/precision P switches; * is in use; %s free):",
                   avail ? lm_format_size(avail, a) : "unknown");
    for (size_t i = 0; i < n; i++) {
        char b[16];
        const quant_type_info *qi = quant_info(rows[i].type);
        session_notice(s, NOTICE_OUTPUT, " %c %-6s %-5s %10s%s", rows[i].current ? '*' : ' ',
                       session_precision_label(rows[i].precision), qi ? qi->name : "?",
                       lm_format_size(rows[i].bytes, b), rows[i].fits ? "" : "  (does not fit)");
    }
}

static void list_conversations(session *s) {
    const saved_conversation *rows;
    size_t n = session_conversations(s, &rows);
    if (!n) {
        session_notice(s, NOTICE_OUTPUT, "No saved conversations yet.");
        return;
    }
    session_notice(s, NOTICE_OUTPUT, "Saved conversations (/load N resumes one):");
    for (size_t i = 0; i < n; i++) {
        char when[32];
        strftime(when, sizeof when, "%Y-%m-%d %H:%M", localtime(&rows[i].mtime));
        if (rows[i].error[0])
            session_notice(s, NOTICE_OUTPUT, "  %zu. %s  %s", i + 1, when, rows[i].error);
        else
            session_notice(s, NOTICE_OUTPUT, "  %zu. %s  %s  %s", i + 1, when,
                           rows[i].model[0] ? rows[i].model : "?", rows[i].first);
    }
}

void session_list(session *s, enum session_action what) {
    if (what == SESSION_MODEL_MENU)
        list_models(s);
    else if (what == SESSION_PRECISION_MENU)
        list_precisions(s);
    else if (what == SESSION_CONVERSATIONS)
        list_conversations(s);
}

long session_list_index(const char *arg, size_t n) {
    char *end;
    long i = strtol(arg, &end, 10);
    return *arg && !*end && i >= 1 && (size_t)i <= n ? i - 1 : -1;
}

/* ---- commands ---- */

static enum session_action cmd_help(session *s, const char *args, char **text) {
    (void)s, (void)args, (void)text;
    return SESSION_HELP;
}

static enum session_action cmd_quit(session *s, const char *args, char **text) {
    (void)s, (void)args, (void)text;
    return SESSION_QUIT;
}

static enum session_action cmd_system(session *s, const char *args, char **text) {
    (void)text;
    if (!*args) {
        const char *sp = s->conv.system_prompt;
        if (sp && *sp)
            session_notice(s, NOTICE_OUTPUT, "System prompt: %s", sp);
        else
            session_notice(s, NOTICE_OUTPUT, "No system prompt. Set one with /system TEXT.");
    } else if (strcmp(args, "--clear") == 0) {
        session_set_system(s, NULL);
    } else if (strncmp(args, "--preset", 8) == 0 && (!args[8] || args[8] == ' ')) {
        const char *name = args + 8 + strspn(args + 8, " ");
        const char *preset = config_find_preset(s->cfg, name);
        if (preset) {
            session_set_system(s, preset);
            return SESSION_CONTINUE;
        }
        lm_buf names = {0};
        for (size_t i = 0; i < s->cfg->n_presets; i++)
            lm_buf_printf(&names, "%s%s", i ? ", " : "", s->cfg->presets[i].name);
        session_notice(s, NOTICE_OUTPUT, "No preset '%s' (the config has: %s).", name,
                       names.len ? lm_buf_cstr(&names) : "none");
        lm_buf_free(&names);
    } else {
        session_set_system(s, args);
    }
    return SESSION_CONTINUE;
}

/* /model N (from the list), NAME (configured or found), or PATH. */
static enum session_action cmd_model(session *s, const char *args, char **text) {
    (void)text;
    if (!*args) return SESSION_MODEL_MENU;
    const session_model *rows;
    size_t n = session_models(s, &rows);
    long i = session_list_index(args, n);
    const config_model *m = config_find_model(s->cfg, args);
    const char *path = i >= 0 ? rows[i].path : m ? m->path : args;
    lm_error err;
    if (session_load_model(s, path, &err) != 0) session_notice(s, NOTICE_ERROR, "%s", err.msg);
    return SESSION_CONTINUE;
}

static enum session_action cmd_precision(session *s, const char *args, char **text) {
    (void)text;
    if (!*args) return SESSION_PRECISION_MENU;
    int p = model_precision_from_name(args);
    lm_error err;
    if (p < 0)
        session_notice(s, NOTICE_OUTPUT,
                       "Unknown precision '%s' (native, fp32, fp16, int8 or int4).", args);
    else if (session_set_precision(s, (enum model_precision)p, &err) != 0)
        session_notice(s, NOTICE_ERROR, "%s", err.msg);
    return SESSION_CONTINUE;
}

static enum session_action cmd_clear(session *s, const char *args, char **text) {
    (void)args, (void)text;
    if (session_refuse_if_busy(s)) return SESSION_CONTINUE;
    chat_clear(&s->conv);
    backend_reset(s->be);
    s->stats.n_past = 0; /* the engine says so only with its next event */
    s->n_dropped_told = 0;
    session_new_transcript(s);
    session_status_changed(s);
    session_conversation_reset(s);
    session_notice(s, NOTICE_OUTPUT, "Conversation cleared (the system prompt stays).");
    return SESSION_CONTINUE;
}

static enum session_action cmd_regen(session *s, const char *args, char **text) {
    (void)args, (void)text;
    if (session_refuse_if_busy(s)) return SESSION_CONTINUE;
    if (s->conv.n && s->conv.msgs[s->conv.n - 1].role == CHAT_ROLE_ASSISTANT) chat_pop(&s->conv);
    if (!s->conv.n || s->conv.msgs[s->conv.n - 1].role != CHAT_ROLE_USER) {
        session_notice(s, NOTICE_OUTPUT, "There is no reply to regenerate yet.");
        return SESSION_CONTINUE;
    }
    if (!s->loaded || s->load_id) {
        session_notice(s, NOTICE_WARNING,
                       s->load_id ? "A model is loading: wait for it." : "No model is loaded.");
        return SESSION_CONTINUE;
    }
    session_conversation_reset(s);
    session_start_reply(s);
    return SESSION_CONTINUE;
}

static enum session_action cmd_edit(session *s, const char *args, char **text) {
    (void)args;
    if (session_refuse_if_busy(s)) return SESSION_CONTINUE;
    size_t last = s->conv.n;
    while (last > 0 && s->conv.msgs[last - 1].role != CHAT_ROLE_USER) last--;
    if (last == 0) {
        session_notice(s, NOTICE_OUTPUT, "There is no message to edit yet.");
        return SESSION_CONTINUE;
    }
    char *msg = lm_xstrdup(s->conv.msgs[last - 1].content);
    while (s->conv.n >= last) chat_pop(&s->conv);
    session_conversation_reset(s);
    if (text) {
        *text = msg;
        return SESSION_EDIT;
    }
    session_notice(s, NOTICE_OUTPUT, "Your last message was taken back: %s", msg);
    free(msg);
    return SESSION_CONTINUE;
}

/* "name" or "name.json" in the transcripts folder when it is not a path. */
static char *transcript_path(session *s, const char *arg, bool for_load) {
    lm_error err;
    char *dir = session_transcripts_dir(s, &err);
    lm_buf b = {0};
    if (strchr(arg, '/') || !dir || (for_load && access(arg, R_OK) == 0))
        lm_buf_puts(&b, arg);
    else
        lm_buf_printf(&b, "%s/%s", dir, arg);
    if (for_load && access(lm_buf_cstr(&b), R_OK) != 0) lm_buf_puts(&b, ".json");
    free(dir);
    return (char *)lm_buf_cstr(&b);
}

/* Without a path: the conversation's own transcript (which autosave keeps
 * up to date). With one: BASE.json (to resume) and BASE.md (to read). */
static enum session_action cmd_save(session *s, const char *args, char **text) {
    (void)text;
    lm_error err;
    char *base = NULL;
    if (*args) {
        base = transcript_path(s, args, false);
        size_t len = strlen(base);
        if (len > 5 && strcmp(base + len - 5, ".json") == 0)
            base[len - 5] = 0;
        else if (len > 3 && strcmp(base + len - 3, ".md") == 0)
            base[len - 3] = 0;
    } else if (session_transcript_base(s, &err)) {
        base = lm_xstrdup(s->transcript_base);
    }
    if (!base || session_save_to(s, base, &err))
        session_notice(s, NOTICE_ERROR, "%s", err.msg);
    else
        session_notice(s, NOTICE_INFO, "Saved to %s.json (and .md to read).", base);
    free(base);
    return SESSION_CONTINUE;
}

static enum session_action cmd_load(session *s, const char *args, char **text) {
    (void)text;
    if (session_refuse_if_busy(s)) return SESSION_CONTINUE;
    if (!*args) return SESSION_CONVERSATIONS;
    char *path;
    long i = s->n_convs ? session_list_index(args, s->n_convs) : -1;
    if (i < 0 && !s->n_convs && session_list_index(args, SIZE_MAX) >= 0) {
        const saved_conversation *rows; /* a number before any list: list now */
        i = session_list_index(args, session_conversations(s, &rows));
    }
    path = i >= 0 ? lm_xstrdup(s->convs[i].path) : transcript_path(s, args, true);
    lm_error err;
    if (session_resume(s, path, &err) != 0) session_notice(s, NOTICE_ERROR, "%s", err.msg);
    free(path);
    return SESSION_CONTINUE;
}

static void list_settings(session *s) {
    session_setting rows[SESSION_N_SETTINGS];
    session_settings(s, rows);
    lm_buf b = {0};
    for (int i = 0; i < SESSION_N_SETTINGS; i++)
        lm_buf_printf(&b, "%s%s %s", i ? ", " : "", rows[i].name, rows[i].value);
    session_notice(s, NOTICE_OUTPUT, "%s", lm_buf_cstr(&b));
    lm_buf_free(&b);
}

static enum session_action cmd_set(session *s, const char *args, char **text) {
    (void)text;
    char name[32];
    int used = 0;
    if (sscanf(args, "%31s %n", name, &used) < 1) {
        list_settings(s);
        return SESSION_CONTINUE;
    }
    lm_error err;
    if (session_set(s, name, args + used, &err) != 0)
        session_notice(s, NOTICE_OUTPUT, "%s", err.msg);
    else
        list_settings(s);
    return SESSION_CONTINUE;
}

static enum session_action cmd_theme(session *s, const char *args, char **text) {
    (void)s;
    if (text) *text = *args ? lm_xstrdup(args) : NULL;
    return SESSION_THEME;
}

static const session_command command_list[] = {
    {"/help", "", "this help: every key and command"},
    {"/system", "[TEXT|--preset NAME|--clear]", "show, set or remove the system prompt"},
    {"/model", "[N|NAME|PATH]", "choose another model (a menu, or load one directly)"},
    {"/precision", "[P]", "weights as native, fp32, fp16, int8 or int4 (a menu without P)"},
    {"/save", "[PATH]", "save the conversation (.json to resume, .md to read)"},
    {"/load", "[N|PATH]", "continue a saved conversation (a list without PATH)"},
    {"/clear", "", "start a new conversation (the system prompt stays)"},
    {"/regen", "", "write the last reply again"},
    {"/edit", "", "take back your last message to edit and resend it"},
    {"/set", "[NAME VALUE]",
     "show or change temp, top-k, top-p, min-p, repeat-penalty, seed, "
     "max-tokens, threads, context"},
    {"/theme", "[NAME]", "colour theme (a picker without NAME)"},
    {"/quit", "", "quit (also Ctrl-D)"},
};

static const command_fn command_fns[] = {
    cmd_help,  cmd_system, cmd_model, cmd_precision, cmd_save,  cmd_load,
    cmd_clear, cmd_regen,  cmd_edit,  cmd_set,       cmd_theme, cmd_quit,
};

const session_command *session_commands(size_t *n) {
    *n = sizeof command_list / sizeof *command_list;
    return command_list;
}

static enum session_action run_command(session *s, const char *line, char **text) {
    size_t name_len = strcspn(line, " \t\n");
    const char *args = line + name_len;
    while (*args == ' ' || *args == '\t' || *args == '\n') args++;
    for (size_t i = 0; i < sizeof command_list / sizeof *command_list; i++)
        if (strlen(command_list[i].name) == name_len &&
            strncmp(command_list[i].name, line, name_len) == 0)
            return command_fns[i](s, args, text);
    session_notice(s, NOTICE_OUTPUT,
                   "Unknown command %.*s (try /help; start with // to send a '/').", (int)name_len,
                   line);
    return SESSION_CONTINUE;
}

/* ---- messages ---- */

static void send_message(session *s, const char *text) {
    if (s->gen_id) {
        session_notice(s, NOTICE_WARNING,
                       "A reply is being written: wait for it, or stop it with Esc.");
        return;
    }
    if (!s->loaded || s->load_id) {
        session_notice(s, NOTICE_WARNING,
                       s->load_id ? "A model is loading: wait for it (Esc cancels the load)."
                                  : "No model is loaded.");
        return;
    }
    chat_add(&s->conv, CHAT_ROLE_USER, text)->time = (double)time(NULL);
    if (s->view.user_message) s->view.user_message(s->view.ctx, text);
    session_start_reply(s);
}

enum session_action session_submit(session *s, const char *line, char **text) {
    if (text) *text = NULL;
    while (*line == '\n' || *line == '\r') line++;
    size_t len = strlen(line);
    while (len > 0 && strchr(" \t\r\n", line[len - 1])) len--;
    if (len == 0) return SESSION_CONTINUE;
    char *copy = lm_xstrndup(line, len);
    enum session_action a = SESSION_CONTINUE;
    if (copy[0] == '/' && copy[1] != '/')
        a = run_command(s, copy, text);
    else
        send_message(s, copy[0] == '/' ? copy + 1 : copy);
    free(copy);
    return a;
}

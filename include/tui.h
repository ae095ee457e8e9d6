/* tui: the chat a person sees.
 *
 * Two layers. The session is one conversation with one model: it turns the
 * lines a user types into messages or slash commands, drives the engine and
 * reports what happens through the callbacks of a session_view. It knows
 * nothing of terminals, so the full-screen chat (tui_run) and the plain
 * line-by-line chat (cli_chat.c) share it. Everything with curses lives in
 * src/tui*.c behind tui_run. */
#ifndef LMTERM_TUI_H
#define LMTERM_TUI_H

#include "chat.h"
#include "engine.h"

/* ---- the session ---- */

typedef struct session_options {
    const char *model_path; /* NULL: the demo model (made on first use) */
    model_options model;    /* context, threads, precision */
    sampler_params sampling;
    int max_tokens; /* per reply; < 0: until the model stops */
    const char *system_prompt;
    const char *resume_path; /* a JSON transcript to continue */
} session_options;

enum session_notice {
    NOTICE_OUTPUT,  /* the answer to a command the user typed */
    NOTICE_INFO,    /* something happened: the model loaded, a file was saved */
    NOTICE_WARNING, /* turns dropped from the context, a reply cut short */
    NOTICE_ERROR,
};

/* How a reply ended, for the view and for --stats. */
typedef struct session_reply {
    enum engine_stop_reason reason;
    int n_tokens;
    int n_prompt_evaluated;
    double prompt_tps;
    double gen_tps;    /* average over the reply */
    const char *error; /* reason == STOP_ERROR */
} session_reply;

/* What the session tells its view. Any callback may be NULL. */
typedef struct session_view {
    void *ctx;
    void (*notice)(void *ctx, enum session_notice kind, const char *text);
    void (*user_message)(void *ctx, const char *text);
    void (*reply_begin)(void *ctx);
    void (*reply_text)(void *ctx, const char *text, size_t len);
    void (*reply_end)(void *ctx, const session_reply *r);
    /* The conversation was replaced (clear, load, regen, edit): show
     * session_get_chat() again from the start. */
    void (*conversation_reset)(void *ctx);
    /* The model, the engine state or the statistics changed. */
    void (*status_changed)(void *ctx);
} session_view;

enum session_state {
    SESSION_NO_MODEL, /* loading failed */
    SESSION_LOADING,
    SESSION_IDLE,
    SESSION_READING_PROMPT,
    SESSION_GENERATING,
    SESSION_STOPPING,
};

/* What the title and status bars show. */
typedef struct session_status {
    enum session_state state;
    float progress; /* loading, reading the prompt: 0..1 */
    engine_stats stats;
    const engine_model_info *model; /* NULL until a model has loaded */
    bool demo;                      /* the demo model: random weights */
    const char *model_path;
} session_status;

/* What session_submit asks of the caller. */
enum session_action {
    SESSION_CONTINUE,
    SESSION_QUIT,
    SESSION_HELP,
    SESSION_EDIT, /* put *edit_text (caller frees) back into the input */
};

typedef struct session session;

/* Opens the transcript to resume, makes the demo model when no model is
 * given, and starts loading. No callback runs before session_pump. */
session *session_create(const session_options *o, const session_view *v, lm_error *err);
void session_free(session *s);

/* Readable when the engine has news; session_pump handles it. */
int session_fd(const session *s);
void session_pump(session *s);

/* A line the user typed: a message, or a slash command. */
enum session_action session_submit(session *s, const char *line, char **edit_text);
/* Stops the reply (or the prompt) being computed. */
void session_stop(session *s);
bool session_busy(const session *s); /* loading or replying */

void session_get_status(const session *s, session_status *st);
const chat *session_get_chat(const session *s);

/* The slash commands, for completion and help. */
typedef struct session_command {
    const char *name; /* "/save" */
    const char *args; /* "[PATH]" */
    const char *help;
} session_command;
const session_command *session_commands(size_t *n);

/* The demo model's path: $XDG_CACHE_HOME/lmterm/demo-model.gguf. Caller frees. */
char *session_demo_model_path(void);

/* ---- input history (readline), shared by both chats ---- */

/* Reads $XDG_STATE_HOME/lmterm/history (or ~/.local/state/...). */
void tui_history_open(void);
/* Adds a line and appends it to the file. */
void tui_history_add(const char *line);

/* ---- the full-screen chat ---- */

/* LC_CTYPE from the environment, or C.UTF-8 when the environment sets none
 * (wide characters and readline's multibyte input need a UTF-8 locale). */
void tui_locale(void);

/* Why the full-screen chat cannot run on this terminal, or NULL. */
const char *tui_unavailable(void);
/* Runs the full-screen chat until the user quits. Returns the exit status;
 * a failure to start is in err (the terminal is already restored). */
int tui_run(const session_options *o, lm_error *err);

#endif

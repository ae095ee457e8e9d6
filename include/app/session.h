/* session: one conversation with one model. It turns the lines a user types
 * into messages or slash commands, drives a backend (the local engine or a
 * server, include/app/backend.h) and reports what happens
 * through the callbacks of a session_view. It knows nothing of terminals, so
 * the full-screen chat (tui_run) and the plain line-by-line chat (cli_chat.c)
 * share it. */
#ifndef LMTERM_SESSION_H
#define LMTERM_SESSION_H

#include "backend.h"
#include "chat.h"
#include "config.h"
#include "conversations.h"
#include "download.h"
#include "measure.h"

#include <time.h>

#define SESSION_N_PRECISIONS BACKEND_N_PRECISIONS

typedef struct session_options {
    const char *model_path; /* NULL: the demo model (made on first use) */
    model_options model;    /* context, threads, precision */
    sampler_params sampling;
    bool seed_random; /* the seed was drawn at start ("save as default" keeps "random") */
    int max_tokens;   /* per reply; < 0: until the model stops */
    const char *system_prompt;
    const char *resume_path; /* a JSON transcript to continue */
    /* remote.base_url set: talk to that OpenAI-compatible server, model_path
     * being the server's model id (NULL: its first). A resumed transcript
     * written against a server goes back to it unless model_path is given. */
    backend_openai_options remote;
    /* Models and folders for the model menu, presets, transcripts_dir,
     * autosave, "save as default". NULL: the built-in defaults. The session
     * rescans its model folders, so it is not const. */
    config *cfg;
} session_options;

enum session_notice {
    NOTICE_OUTPUT,  /* the answer to a command the user typed */
    NOTICE_INFO,    /* something happened: the model loaded, a file was saved */
    NOTICE_WARNING, /* turns dropped from the context, a reply cut short */
    NOTICE_ERROR,
};

/* How a reply ended, for the view and for --stats. */
typedef struct session_reply {
    enum backend_stop_reason reason;
    int n_tokens;
    int n_prompt_evaluated;
    double prompt_tps;
    double gen_tps;    /* average over the reply */
    double first_token; /* seconds from the request to the first text */
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
    backend_stats stats;
    const backend_model_info *model; /* NULL until a model has loaded */
    const backend_caps *caps;
    bool demo;                      /* the demo model: random weights */
    const char *model_path;
    /* while loading: what, and at which precision (the model above, if
     * any, stays in use until the new one is ready) */
    const char *load_name;
    enum model_precision load_precision;
    /* a download running in the background: its file (or repository), 0..1 */
    const char *download_name;
    float download_progress;
} session_status;

/* What session_submit asks of the caller. */
enum session_action {
    SESSION_CONTINUE,
    SESSION_QUIT,
    SESSION_HELP,
    SESSION_EDIT,           /* put *edit_text (caller frees) back into the input */
    SESSION_MODEL_MENU,     /* /model alone: show the models (session_list prints them) */
    SESSION_PRECISION_MENU, /* /precision alone */
    SESSION_CONVERSATIONS,  /* /load alone: the saved conversations */
    SESSION_THEME,          /* /theme [NAME]: *edit_text is the name, or NULL for a picker */
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
/* Stops the reply (or the prompt) being computed, or cancels a model load
 * (the model in use, if any, stays). */
void session_stop(session *s);
bool session_busy(const session *s); /* loading or replying */

void session_get_status(const session *s, session_status *st);
const chat *session_get_chat(const session *s);

/* Writes the list a *_MENU action stands for as NOTICE_OUTPUT lines,
 * numbered for /model N and /load N (the plain chat has no menus). */
void session_list(session *s, enum session_action what);

/* Saves the conversation to its transcript when autosave is on (after each
 * reply it is done already; this is for a SIGTERM or SIGHUP). */
void session_autosave(session *s);

/* The configuration the session runs with (never NULL). */
config *session_config(const session *s);

/* ---- what the menus and dialogs show and do ---- */

/* A row of the model menu. */
typedef struct session_model {
    char name[128];
    char path[1024];
    bool current, demo, configured;
    bool remote;                    /* a model id of the server: meta says nothing */
    const backend_model_meta *meta; /* never NULL */
} session_model;

/* The server's name (its URL unless configured) when the session talks to
 * one; NULL for lmterm's own engine. */
const char *session_server_name(const session *s);

/* The models the backend offers (backend_models: configured models, the
 * files the model folders hold, found ones; a server's ids) and the model
 * in use (marked current). Rescans the folders; valid until the next call. */
size_t session_models(session *s, const session_model **rows);
/* Loads a model file in place of the current one (which stays until the new
 * one is ready). The conversation stays. -1 with err when refused: busy,
 * unreadable, or too big for the memory available. */
int session_load_model(session *s, const char *path, lm_error *err);

/* ---- downloads from Hugging Face (the model menu's "Download a model") ---- */

/* Starts pulling ref (ORG/NAME[:QUANT]) in the background; one at a time.
 * When it ends the session says so and loads the file (unless busy). */
int session_download_start(session *s, const char *ref, lm_error *err);
/* Stops the running download; its part file stays for a resume. */
void session_download_cancel(session *s);
/* The running or the last download; false when there was none. */
bool session_download_state(const session *s, download_state *out);
bool session_download_running(const session *s);
/* Readable when the running download has news (-1: none runs); then call
 * session_download_pump. */
int session_download_fd(const session *s);
void session_download_pump(session *s);

/* A row of the precision menu. */
typedef struct session_precision {
    enum model_precision precision;
    enum quant_type type; /* what the layer matrices become */
    uint64_t bytes;       /* the weights at this precision; 0: unknown */
    uint64_t kv_bytes;    /* the KV cache, which a switch keeps as it is */
    bool current, fits;
} session_precision;

/* The five precisions for the current model file; *available: the memory
 * a choice may take (MemAvailable, plus the current weights when they are a
 * converted copy that a switch frees). 0 when no model is in use. */
size_t session_precisions(session *s, session_precision rows[SESSION_N_PRECISIONS],
                          uint64_t *available);
/* Reloads the model at precision p. -1 with err when refused. */
int session_set_precision(session *s, enum model_precision p, lm_error *err);

/* The precision menu's measurements (see session_measure.c): the figures
 * last measured for each precision of the model in use, kept in the state
 * folder (false when none), and "Measure all", a comparison of every
 * precision that runs in the background while the chat goes on. */
bool session_measured(session *s, measure_row rows[SESSION_N_PRECISIONS]);
int session_measure_start(session *s, lm_error *err);
void session_measure_cancel(session *s);
/* True while a measurement runs, with what it does and how far. When it
 * has ended, its results are kept and the conversation says so, once. */
bool session_measure_progress(session *s, char *step, size_t size, double *fraction);

/* What menus and the title call a precision: "native", "FP32", "FP16", "INT8", "INT4". */
const char *session_precision_label(enum model_precision p);

/* A setting of the settings screen and /set. */
typedef struct session_setting {
    const char *name;  /* for /set: "temp", "top-k", ... */
    const char *label; /* "Temperature" */
    const char *help;  /* what it does, allowed values */
    char value[48];    /* as text */
    bool reload;       /* changing it reloads the model */
} session_setting;

#define SESSION_N_SETTINGS 9
/* The name /set knows setting i by ("temp", "top-k", ...). */
const char *session_setting_name(int i);
void session_settings(const session *s, session_setting rows[SESSION_N_SETTINGS]);
/* Changes a setting (names as in session_setting, '_' for '-' and
 * "temperature" accepted). Threads and context reload the model. -1 with
 * err for an unknown name or a bad value. */
int session_set(session *s, const char *name, const char *value, lm_error *err);
/* Writes the settings to the user's config file ("save as default"); the
 * file's name goes into path_out. */
int session_save_defaults(session *s, char *path_out, size_t size, lm_error *err);

/* Sets (or with NULL or "" removes) the system prompt for the next reply. */
void session_set_system(session *s, const char *text);

/* The saved conversations, newest first (re-read each call; valid until
 * the next one). */
size_t session_conversations(session *s, const saved_conversation **rows);
/* Continues a saved conversation (the model in use stays). */
int session_resume(session *s, const char *path, lm_error *err);

/* The slash commands, for completion and help. */
typedef struct session_command {
    const char *name; /* "/save" */
    const char *args; /* "[PATH]" */
    const char *help;
} session_command;
const session_command *session_commands(size_t *n);

/* The demo model's path: $XDG_CACHE_HOME/lmterm/demo-model.gguf. Caller frees. */
char *session_demo_model_path(void);

#endif

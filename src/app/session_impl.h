/* The session's insides, shared by session.c (the conversation, the
 * engine, models and settings) and commands.c (the slash commands).
 * No curses here. */
#ifndef LMTERM_TUI_SESSION_IMPL_H
#define LMTERM_TUI_SESSION_IMPL_H

#include "download.h"
#include "session.h"

/* A model being loaded: it becomes the session's once the engine says so. */
typedef struct pending_load {
    char *path;
    model_options opt;
    bool demo;
    bool same_file; /* a new precision, threads or context: token ids stay valid */
    bool cancelled; /* the user cancelled it */
    char name[128]; /* what the progress box calls it */
} pending_load;

struct session {
    session_options opt;
    session_view view;
    config own_cfg; /* the defaults, when the caller gave no configuration */
    config *cfg;
    backend *be;
    chat conv;
    char *model_path;
    bool demo, demo_remade;
    bool seed_random;

    enum session_state state;
    float progress;
    backend_stats stats;
    backend_model_info info;
    bool loaded;
    int load_id, gen_id; /* requests in flight, 0: none */
    pending_load pending;
    uint64_t n_requests; /* varies the seed from one reply to the next */

    /* the reply being written */
    lm_buf reply;
    int32_t *ids;
    size_t n_ids, cap_ids;
    double t_sent; /* when the request went to the engine */
    int n_dropped_told;

    /* menus */
    session_model *models;
    size_t n_models;
    saved_conversation *convs;
    size_t n_convs;

    /* the conversation's own transcript (BASE.json and BASE.md), chosen at
     * its first save; NULL: not saved yet */
    char *transcript_base;
    bool autosave_failed; /* told once, not after every reply */

    /* the precision menu's measurements (session_measure.c) */
    measure_job *measure;
    char *measure_path;     /* the model the job measures */
    measure_row measured[SESSION_N_PRECISIONS];
    char *measured_path;    /* the model measured[] is for; NULL: not read yet */
    bool measured_known;

    /* the server a resumed transcript names (opt.remote points here) */
    char *resume_server, *resume_key_env, *resume_model;

    /* a download from the hub (session_pull.c) */
    struct download *download; /* running, or NULL */
    download_state dl_state;   /* of the running or the last one */
    bool dl_any;
    bool stores_told; /* the notice about unreadable store entries was given */
};

void session_notice(session *s, enum session_notice kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void session_status_changed(session *s);
void session_conversation_reset(session *s);
/* Writes the conversation to BASE.json and BASE.md. */
int session_save_to(session *s, const char *base, lm_error *err);
/* The transcripts folder (created). Caller frees; NULL with err. */
char *session_transcripts_dir(session *s, lm_error *err);
/* The memory a new model may take: MemAvailable, plus the weights in use
 * when they are a converted copy that the switch frees. 0: unknown. */
uint64_t session_memory_available(session *s);
/* Loads path with opt in place of the model in use (see session_load_model). */
int session_begin_load(session *s, const char *path, const model_options *opt, lm_error *err);
/* Starts a reply to the conversation as it is. */
void session_start_reply(session *s);
/* The conversation's transcript (s->transcript_base), chosen now if it
 * has none yet; NULL with err when the transcripts folder is unusable. */
const char *session_transcript_base(session *s, lm_error *err);
/* A new conversation: its next save goes to a new transcript. */
void session_new_transcript(session *s);
/* Refuses (with a notice) what would change the conversation under a reply. */
bool session_refuse_if_busy(session *s);
/* Cancels a running measurement and waits for it (session_free). */
void session_measure_end(session *s);
/* "/model 2", "/load 1": the number's row in the last list (1-based), or -1. */
long session_list_index(const char *arg, size_t n);

#endif

/* backend: the session's only view of an engine. An engine lists models,
 * selects (loads) one, writes a reply to a chat with given sampling, stops
 * it, and reports what happens as events on a queue whose file descriptor
 * becomes readable when events wait, so one poll() loop serves any engine.
 *
 * Two engines stand behind it: backend_local (lmterm's own engine thread,
 * the chat templates, the demo model and the KV prefix reuse; "models" are
 * GGUF files) and backend_openai (an OpenAI-compatible server over HTTP;
 * "models" are the server's model ids, it applies its own template).
 * Callers never learn which one they have beyond backend_caps. */
#ifndef LMTERM_BACKEND_H
#define LMTERM_BACKEND_H

#include "chat.h"
#include "config.h"

enum backend_state { BACKEND_EMPTY, BACKEND_LOADING, BACKEND_IDLE, BACKEND_PROMPT,
                     BACKEND_GENERATING };

enum backend_stop_reason {
    BACKEND_STOP_EOG,          /* the model ended its reply */
    BACKEND_STOP_MAX_TOKENS,   /* max_tokens reached */
    BACKEND_STOP_CONTEXT_FULL, /* the context window is full */
    BACKEND_STOP_USER,         /* backend_stop() */
    BACKEND_STOP_ERROR,        /* text says why; the reply so far is kept */
};

typedef struct backend_stats {
    enum backend_state state;
    int n_prompt_tokens;    /* tokens of the last prompt (0: not known) */
    int n_prompt_evaluated; /* of those, evaluated (the rest came from a cache) */
    int n_generated;
    double prompt_tps;  /* last prompt */
    double gen_tps;     /* generation speed, rolling */
    double first_token; /* seconds from request to first text; 0: none yet */
    int n_past, n_ctx;
    uint64_t rss_bytes, weight_bytes, kv_bytes; /* 0 unless caps.memory */
    enum model_cache_type kv_type;              /* local: how the KV cache stores keys */
} backend_stats;

#define BACKEND_N_PRECISIONS 5 /* enum model_precision: native, fp32, fp16, int8, int4 */

/* What the model menu shows of a model before it loads: for a local file,
 * what its header says (catalog.h reads it); for a server's model, nothing
 * but that it is one (arch "remote"). */
typedef struct backend_model_meta {
    bool ok;
    char error[512]; /* !ok: why the file cannot be read */
    char name[128];  /* general.name, may be empty */
    char arch[24];   /* general.architecture; "remote" */
    uint64_t params; /* elements of the matrices */
    uint64_t file_bytes;
    enum quant_type type; /* the type most layer matrices are stored as */
    int n_ctx_train;
    uint64_t weight_bytes[BACKEND_N_PRECISIONS]; /* the matrices at each precision */
} backend_model_meta;

/* A model the engine offers, as the model menu lists it. */
typedef struct backend_model {
    char name[192];  /* configured name, a store's label, a file's stem; remote: the id */
    char id[4096];   /* what backend_select takes: a file's path, a server's model id */
    bool configured; /* listed under models: in the configuration */
    const backend_model_meta *meta; /* never NULL */
} backend_model;

/* What the UI shows about the selected model. */
typedef struct backend_model_info {
    char path[1024]; /* local: the file; remote: the model id */
    char name[128];
    bool remote;
    char server[256]; /* remote: the server's name (config) or base URL */
    enum model_arch arch;
    enum model_precision precision;
    enum quant_type main_type;
    int n_ctx, n_ctx_train, n_vocab, n_threads;
    uint64_t param_count, file_bytes, weight_bytes, kv_bytes;
    enum chat_template_kind tmpl; /* local: the template its chat is written in */
} backend_model_info;

/* What an engine can do, for the menus and the status bar. */
typedef struct backend_caps {
    bool local_files;   /* models are GGUF files (backend_describe reads their headers) */
    bool precisions;    /* can switch precision (else: the server decides) */
    bool memory;        /* stats carry RSS, weights and KV sizes */
    bool prompt_tokens; /* counts prompt tokens and reuses cached ones */
    bool token_ids;     /* replies come with token ids */
} backend_caps;

enum backend_event_kind {
    BACKEND_EV_LOAD_PROGRESS,   /* progress */
    BACKEND_EV_LOADED,          /* info */
    BACKEND_EV_LOAD_FAILED,     /* text: why; the previous model (if any) stays */
    BACKEND_EV_PROMPT_PROGRESS, /* progress */
    BACKEND_EV_TOKEN,           /* text (may be empty), token (-1: none) */
    BACKEND_EV_DONE,            /* reason, stats, n_dropped, text (why, for ERROR) */
    BACKEND_EV_ERROR,           /* text */
};

typedef struct backend_event {
    enum backend_event_kind kind;
    int request_id;
    char *text;
    int32_t token;
    float progress;
    enum backend_stop_reason reason;
    int n_dropped;
    backend_stats stats;
    backend_model_info info;
} backend_event;

/* A reply's parameters. */
typedef struct backend_params {
    sampler_params sampling;
    int max_tokens;    /* < 0: until the model stops */
    int reply_reserve; /* local: positions kept free for the reply */
} backend_params;

typedef struct backend backend;

/* The calls each engine implements (see the functions below). */
typedef struct backend_ops {
    void (*close)(backend *b);
    int (*fd)(const backend *b);
    bool (*poll)(backend *b, backend_event *ev);
    int (*select)(backend *b, const char *model, const model_options *opt);
    int (*generate)(backend *b, const chat *c, const backend_params *p);
    void (*stop)(backend *b);
    int (*reset)(backend *b);
    backend_stats (*stats)(backend *b);
    size_t (*models)(backend *b, const backend_model **rows, char notice[256]);
    const backend_model_meta *(*describe)(backend *b, const char *model);
} backend_ops;

/* Every engine's struct starts with this. */
struct backend {
    const backend_ops *ops;
    backend_caps caps;
    const char *kind; /* "local", "openai" */
};

/* Frees the engine (stops what runs first). NULL is fine. */
void backend_close(backend *b);
/* Readable when events are waiting; backend_poll drains it. */
int backend_fd(const backend *b);
/* Pops one event without blocking; false when none. Free it with backend_event_free. */
bool backend_poll(backend *b, backend_event *ev);
void backend_event_free(backend_event *ev);
/* Selects a model (local: loads a file with opt; remote: a model id, NULL
 * for the server's first). Returns the request id its events carry. */
int backend_select(backend *b, const char *model, const model_options *opt);
/* Starts a reply to the chat (its last message is the user's). */
int backend_generate(backend *b, const chat *c, const backend_params *p);
/* Stops the reply or the load under way as soon as possible. */
void backend_stop(backend *b);
/* A new conversation: forget cached state. */
int backend_reset(backend *b);
/* A snapshot of the statistics, safe from any thread. */
backend_stats backend_get_stats(backend *b);
/* The models the engine offers. Local: the configured models, the GGUF
 * files of the configured model folders (rescanned each call), pulled files
 * and other tools' stores (ollama, the Hugging Face cache, llama.cpp's), each
 * file once; remote: the server's list from the last select. notice gets
 * one line about entries that could not be read, or "". Valid until the
 * next call on b. */
size_t backend_models(backend *b, const backend_model **rows, char notice[256]);
/* What is known of a model before it loads (local: the file's header, read
 * again only when the file changes; remote: arch "remote"). Never NULL;
 * valid until backend_close. */
const backend_model_meta *backend_describe(backend *b, const char *model);
const backend_caps *backend_get_caps(const backend *b);

/* ---- the engines ---- */

/* lmterm's own engine. cfg (kept, may be NULL) gives the models to list and
 * templates set per model; backend_models rescans its model folders. */
backend *backend_local_create(config *cfg, lm_error *err);
/* The demo model: $XDG_CACHE_HOME/lmterm/demo-model.gguf. Caller frees. */
char *backend_local_demo_path(void);
/* Writes the demo model (a tiny Llama with random weights) at path. */
int backend_local_make_demo(const char *path, lm_error *err);

/* An OpenAI-compatible server. */
typedef struct backend_openai_options {
    const char *base_url;    /* ends in /v1 */
    const char *name;        /* what menus call the server; NULL: the URL */
    const char *api_key_env; /* the variable holding the key; NULL: none */
    double connect_timeout;  /* seconds; 0: 10 */
    double idle_timeout;     /* seconds without a byte mid-stream; 0: 60 */
} backend_openai_options;

backend *backend_openai_create(const backend_openai_options *o, lm_error *err);

#endif

/* engine: the inference thread. It owns the model, the KV cache and the
 * sampler; the UI talks to it only through commands (functions below, which
 * never block) and events (engine_poll), with a file descriptor that becomes
 * readable when events are waiting, so a poll() loop can watch it.
 *
 * A prompt is a list of blocks (a system prompt, one turn each ...), each a
 * list of segments: text whose special-token markup is parsed, plain text
 * (user input: never parsed as special tokens) or token ids (replies as they
 * were generated). When the prompt does not fit the context, the engine drops
 * the earliest droppable blocks and says how many. Between requests it keeps
 * the tokens in its KV cache and evaluates only what follows the longest
 * common prefix.
 *
 * Slots: the engine can hold several sequences of the model (engine_set_slots
 * before loading), each with its own KV cache of the model's context. A
 * generation runs on one slot; those on different slots run at the same
 * time, the next token of each decoded together in one pass over the
 * weights, each exactly as it would be alone. engine_generate uses slot 0
 * (the chat's); a generation for a busy slot waits for it. */
#ifndef LMTERM_ENGINE_H
#define LMTERM_ENGINE_H

#include "model.h"
#include "sampler.h"

enum engine_segment_kind { SEG_MARKUP, SEG_TEXT, SEG_TOKENS };

typedef struct engine_segment {
    enum engine_segment_kind kind;
    char *text; /* MARKUP, TEXT */
    size_t len;
    int32_t *ids; /* TOKENS */
    size_t n_ids;
} engine_segment;

typedef struct engine_block {
    engine_segment *segs;
    int n_segs;
    bool droppable;
} engine_block;

typedef struct engine_request {
    engine_block *blocks;
    int n_blocks;
    bool add_bos;      /* prepend BOS when the vocabulary wants one */
    int max_tokens;    /* < 0: until end of generation or a full context */
    int reply_reserve; /* positions kept free for the reply when fitting */
    bool special_text; /* special tokens in the reply come as their text (run) */
    sampler_params sampling;
} engine_request;

/* Builders for requests: append a block, then segments to the last block. */
void engine_request_add_block(engine_request *r, bool droppable);
void engine_request_add_text(engine_request *r, enum engine_segment_kind kind, const char *text,
                             size_t len);
void engine_request_add_tokens(engine_request *r, const int32_t *ids, size_t n);
void engine_request_free(engine_request *r);

enum engine_state { ENGINE_EMPTY, ENGINE_LOADING, ENGINE_IDLE, ENGINE_PROMPT, ENGINE_GENERATING };

enum engine_stop_reason {
    STOP_EOG,          /* the model ended its reply */
    STOP_MAX_TOKENS,   /* max_tokens reached */
    STOP_CONTEXT_FULL, /* the context window is full */
    STOP_USER,         /* engine_stop() */
    STOP_ERROR,
};

typedef struct engine_stats {
    enum engine_state state;
    int n_prompt_tokens;    /* tokens of the last prompt */
    int n_prompt_evaluated; /* of those, evaluated (the rest came from the cache) */
    int n_generated;
    double prompt_tps; /* last prompt */
    double gen_tps;    /* rolling, over the last tokens */
    int n_past, n_ctx;
    uint64_t rss_bytes, weight_bytes, kv_bytes;
    enum model_cache_type kv_type;
} engine_stats;

/* What the UI shows about the loaded model. */
typedef struct engine_model_info {
    char path[1024];
    char name[128];
    enum model_arch arch;
    enum model_precision precision;
    enum quant_type main_type;
    int n_ctx, n_ctx_train, n_vocab, n_threads;
    int n_slots; /* sequences held, each of n_ctx positions */
    uint64_t param_count, file_bytes, weight_bytes, kv_bytes;
    char *chat_template; /* from the file, may be NULL */
} engine_model_info;

enum engine_event_kind {
    EV_LOAD_PROGRESS,   /* progress */
    EV_LOADED,          /* info */
    EV_LOAD_FAILED,     /* text: why; the previous model (if any) stays */
    EV_PROMPT_PROGRESS, /* progress of reading the prompt */
    EV_TOKEN,           /* text (may be empty while a UTF-8 character is incomplete), token */
    EV_DONE,            /* reason, stats, n_dropped */
    EV_ERROR,           /* text */
};

typedef struct engine_event {
    enum engine_event_kind kind;
    int request_id;
    char *text;
    int32_t token;
    float progress;
    enum engine_stop_reason reason;
    int n_dropped; /* blocks dropped to fit the context */
    engine_stats stats;
    engine_model_info info; /* EV_LOADED; info.chat_template is owned by the event */
} engine_event;

typedef struct engine engine;

engine *engine_create(lm_error *err);
/* Stops the thread and frees everything. */
void engine_free(engine *e);
/* Readable when events are waiting; engine_poll drains it. */
int engine_wakeup_fd(const engine *e);
/* Pops one event without blocking; false when none. Free it with engine_event_free. */
bool engine_poll(engine *e, engine_event *ev);
void engine_event_free(engine_event *ev);
/* Blocks until an event arrives (for scripts and tests). */
void engine_wait(engine *e, engine_event *ev);

/* Commands. Each returns a request id that its events carry. */
int engine_load(engine *e, const char *path, const model_options *opt);
/* Takes ownership of the request. */
int engine_generate(engine *e, engine_request *r);
/* Slots the next load makes (1 to 64; default 1). */
void engine_set_slots(engine *e, int n);
/* engine_generate on slot (0 .. n_slots-1). */
int engine_generate_slot(engine *e, int slot, engine_request *r);
/* Stops every generation, prompt or load as soon as possible, and the
 * commands queued so far. */
void engine_stop(engine *e);
/* Stops one generation (running or queued) by its id; the others go on. */
void engine_stop_id(engine *e, int id);
/* Empties the KV cache (a new conversation). */
int engine_reset(engine *e);

/* A snapshot of the statistics, safe from any thread. */
engine_stats engine_get_stats(engine *e);
/* Appends to out the tokens of the last prompt the engine read (after
 * dropping blocks, BOS included): for tests and diagnostics. */
void engine_last_prompt(engine *e, lm_tokens *out);

#endif

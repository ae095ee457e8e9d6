/* openai: the wire format of OpenAI's HTTP API as lmterm serves it. Reading
 * and validating a request body (chat completions and completions), writing
 * the answers (whole, or as server-sent-event chunks ending "data: [DONE]"),
 * OpenAI's error object, and holding back generated text that may be the
 * start of a stop string. No sockets and no threads here: the server calls
 * these, and so do the unit tests and the fuzzer. Bodies are hostile: sizes,
 * counts and types are checked before anything is kept. */
#ifndef LMTERM_OPENAI_H
#define LMTERM_OPENAI_H

#include "chat_request.h"

#define OPENAI_MAX_BODY ((size_t)8 << 20) /* bytes of a request body */
#define OPENAI_MAX_MESSAGES 4096
#define OPENAI_MAX_PARTS 256    /* text parts of one message */
#define OPENAI_MAX_STOP 4       /* stop strings, as OpenAI allows */
#define OPENAI_MAX_STOP_LEN 256 /* bytes of one stop string */
#define OPENAI_MAX_NAME 256     /* bytes of the model name */

enum openai_endpoint { OPENAI_CHAT, OPENAI_COMPLETION };

/* An error as OpenAI sends it: {"error": {"message", "type", "param", "code"}}
 * with an HTTP status. type, param and code are static strings or NULL (null). */
typedef struct openai_error {
    int status;
    char message[512];
    const char *type;
    const char *param;
    const char *code;
} openai_error;

/* Fills e and returns -1. */
int openai_fail(openai_error *e, int status, const char *type, const char *param, const char *code,
                const char *fmt, ...) __attribute__((format(printf, 6, 7)));

typedef struct openai_request {
    enum openai_endpoint endpoint;
    chat conv;    /* CHAT: the messages; a first system message is the system prompt */
    char *prompt; /* COMPLETION: the raw prompt (special tokens parsed) */
    char *model;  /* as asked, NULL when absent */
    bool stream, include_usage;
    int max_tokens; /* -1: until the end of the reply or a full context */
    sampler_params sampling;
    char *stop[OPENAI_MAX_STOP];
    int n_stop;
} openai_request;

/* Parses body (len bytes) for endpoint. defaults are the sampling settings a
 * request does not name; seed is used when it gives none. Returns 0, or -1
 * with err filled (status 400) and *out freed. */
int openai_parse_request(enum openai_endpoint endpoint, const char *body, size_t len,
                         enum chat_template_kind tmpl, const sampler_params *defaults,
                         openai_request *out, openai_error *err);
void openai_request_free(openai_request *r);

/* The engine request: the chat template applied as the chat applies it (the
 * prompt tokens equal the chat's) or the raw prompt; nothing is droppable, so
 * a prompt that does not fit is an error rather than a shortened prompt. */
void openai_engine_request(const openai_request *r, engine_request *out);

/* ---- answers ---- */

typedef struct openai_usage {
    int prompt_tokens, completion_tokens;
    int cached_tokens;              /* of prompt_tokens, taken from the KV cache */
    double prompt_ms, predicted_ms; /* llama-server's timings */
} openai_usage;

typedef struct openai_reply {
    enum openai_endpoint endpoint;
    const char *id;    /* "chatcmpl-..." / "cmpl-..." */
    const char *model; /* the model's name */
    long long created; /* Unix seconds */
} openai_reply;

/* The error object (no trailing newline). */
void openai_write_error(lm_buf *b, const openai_error *e);
/* A whole answer (stream false). finish: "stop" or "length". */
void openai_write_full(lm_buf *b, const openai_reply *r, const char *text, size_t len,
                       const char *finish, const openai_usage *u);
/* One event "data: {chunk}\n\n" carrying text; first: the chat's first chunk,
 * which also names the role. */
void openai_write_delta(lm_buf *b, const openai_reply *r, bool first, const char *text, size_t len);
/* The last events: the chunk with finish_reason (and timings), the usage
 * chunk when include_usage, then "data: [DONE]". */
void openai_write_finish(lm_buf *b, const openai_reply *r, const char *finish,
                         const openai_usage *u, bool include_usage);
/* An error in the middle of a stream: "data: {error}\n\n" then [DONE]. */
void openai_write_stream_error(lm_buf *b, const openai_error *e);
/* GET /v1/models: every model served; ids[loaded] (when 0 <= loaded < n) is
 * the one in memory, with its context per slot. */
void openai_write_models(lm_buf *b, const char *const *ids, int n, int loaded, long long created,
                         int n_ctx);

/* ---- stop strings ---- */

/* Text on its way out: what might be the start of a stop string waits in
 * held until the next text settles it. */
typedef struct openai_stopper {
    lm_buf held;
    bool stopped;
} openai_stopper;

/* Adds text; appends to out what can go out now. True once a stop string
 * has appeared: out then ends just before it, and nothing more goes out. */
bool openai_stopper_feed(openai_stopper *s, char *const *stop, int n_stop, const char *text,
                         size_t len, lm_buf *out);
/* The end of generation: whatever was held goes out (when not stopped). */
void openai_stopper_flush(openai_stopper *s, lm_buf *out);
void openai_stopper_free(openai_stopper *s);

#endif

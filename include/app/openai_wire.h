/* openai_wire: the JSON of the OpenAI chat completions API, both ways: the
 * request for a chat, the pieces of a streamed answer, the model list and
 * error bodies. No I/O here (backend_openai.c moves the bytes), so each can
 * be tested on its own; every answer is treated as hostile. */
#ifndef LMTERM_OPENAI_WIRE_H
#define LMTERM_OPENAI_WIRE_H

#include "backend.h"
#include "sse.h"

/* POST /chat/completions for the chat, streamed: the system prompt and the
 * messages, the model id, sampling, max_tokens (when > 0). */
void openai_request_body(const chat *c, const char *model, const backend_params *p, lm_buf *out);

/* What a streamed answer said so far. */
typedef struct openai_chunk_state {
    bool done;        /* data: [DONE] */
    char finish[16];  /* finish_reason: "stop", "length" ... */
    char error[320];  /* why the stream cannot go on */
    int prompt_tokens, completion_tokens;       /* usage */
    int prompt_n;                               /* llama.cpp timings */
    double prompt_per_second, predicted_per_second;
} openai_chunk_state;

/* One event's data: appends its text to out. Returns 0, or 1 with
 * st->error when the data is not JSON or is an error object. */
int openai_parse_chunk(openai_chunk_state *st, const char *data, size_t len, lm_buf *out);

/* The ids of GET /models ({"data": [{"id": ...}]}). Caller frees. */
int openai_parse_models(const char *body, size_t len, char ***ids, size_t *n, lm_error *err);

/* The message of an error body ({"error": {"message": ...}}, {"error":
 * "..."}, {"message": ...}, {"detail": ...}, or the text's first line),
 * printable and short, into out ("" when none). */
void openai_error_message(const char *body, size_t len, char *out, size_t size);

#endif

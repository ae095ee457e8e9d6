/* chat: a conversation (system prompt, user and assistant messages) and
 * the chat templates that turn it into a prompt, turn by turn. Templates are
 * llama.cpp's built-in formatters for Phi-3 and Llama-3. Nothing here knows
 * an engine: chat_request.h turns a chat into lmterm's own engine's request
 * (for backend_local, `lmterm serve` and the tests, not for the session). */
#ifndef LMTERM_CHAT_H
#define LMTERM_CHAT_H

#include "util.h"

enum chat_template_kind { CHAT_TEMPLATE_PHI3, CHAT_TEMPLATE_LLAMA3 };

enum chat_role { CHAT_ROLE_SYSTEM, CHAT_ROLE_USER, CHAT_ROLE_ASSISTANT };

typedef struct chat_message {
    enum chat_role role;
    char *content;
    /* assistant: the reply's token ids as generated, so the next prompt
     * reuses them exactly (NULL when unknown, e.g. typed in a transcript) */
    int32_t *ids;
    size_t n_ids;
    double time;    /* when it was written (Unix seconds) */
    double gen_tps; /* assistant: generation speed */
    int n_tokens;   /* assistant: tokens generated */
} chat_message;

typedef struct chat {
    char *system_prompt; /* NULL or "" for none */
    chat_message *msgs;  /* user and assistant messages, oldest first */
    size_t n, cap;
    enum chat_template_kind tmpl;
} chat;

const char *chat_template_name(enum chat_template_kind k); /* "phi3", "llama3" */
int chat_template_from_name(const char *name);             /* -1 when unknown */

void chat_init(chat *c, enum chat_template_kind tmpl);
void chat_free(chat *c);
void chat_clear(chat *c); /* drops the messages, keeps the system prompt */
void chat_set_system(chat *c, const char *text);
chat_message *chat_add(chat *c, enum chat_role role, const char *content);
/* Removes the last message (regenerate, edit). */
void chat_pop(chat *c);
/* Gives an assistant message the ids it was generated as (copied; n may be 0). */
void chat_message_set_ids(chat_message *m, const int32_t *ids, size_t n);
/* Drops every reply's ids, so the next prompt tokenizes their text: for a
 * model with another vocabulary (ids belong to the model that made them). */
void chat_forget_ids(chat *c);

/* The template's text for messages (system message included when msgs has
 * one), exactly as llama.cpp's llama_chat_apply_template writes it. */
void chat_render(enum chat_template_kind k, const chat_message *msgs, size_t n, bool add_assistant,
                 lm_buf *out);

/* The pieces a template writes a conversation as, handed to whoever puts
 * them together: the template's own text (markup), a message's content, a
 * reply's token ids, and where each turn starts. */
typedef struct chat_sink {
    void (*block)(void *ctx, bool droppable); /* a new turn starts */
    void (*markup)(void *ctx, const char *text, size_t len);
    void (*content)(void *ctx, const char *text, size_t len);
    void (*ids)(void *ctx, const int32_t *ids, size_t n);
    bool use_ids; /* a reply with known ids goes out as ids, not as text */
    void *ctx;
} chat_sink;

/* Writes the conversation followed by the assistant's generation prompt, in
 * turns: one for the system prompt (none when it is empty), one droppable
 * turn per earlier exchange (a user message and the replies after it), and
 * the last user message's turn (kept). */
void chat_write_turns(const chat *c, const chat_sink *s);

#endif

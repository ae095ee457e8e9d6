/* chat: a conversation (system prompt, user and assistant messages), the
 * chat templates that turn it into a prompt, and the request the engine
 * evaluates. Templates are llama.cpp's built-in formatters for Phi-3 and
 * Llama-3, recognised from the GGUF tokenizer.chat_template. */
#ifndef LMTERM_CHAT_H
#define LMTERM_CHAT_H

#include "engine.h"

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

/* By content, as llama.cpp detects it; falls back on the architecture. */
enum chat_template_kind chat_template_detect(const char *tmpl, enum model_arch arch);
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

/* The engine request for the conversation followed by the assistant's
 * generation prompt: one block for the system prompt (kept; none when the
 * prompt is empty), one droppable block per earlier turn (a user message and
 * the reply after it), and the last user message's block (kept). Template
 * markup is parsed for special tokens; message text never is; a reply with
 * ids goes in as those ids. Sets add_bos (BOS comes from the engine, never
 * from the template), max_tokens -1 and the default sampling: the caller
 * adjusts those and reply_reserve. *r is overwritten, not freed. */
void chat_build_request(const chat *c, engine_request *r);

#endif

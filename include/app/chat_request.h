/* chat_request: a chat as lmterm's own engine takes it. The template a
 * model's metadata names, and the engine request for a conversation. For
 * the engine's drivers (backend_local, `lmterm serve`, the tests); the
 * session and the front ends go through backend.h and never see this. */
#ifndef LMTERM_CHAT_REQUEST_H
#define LMTERM_CHAT_REQUEST_H

#include "chat.h"
#include "engine.h"

/* By content, as llama.cpp detects it; falls back on the architecture. */
enum chat_template_kind chat_template_detect(const char *tmpl, enum model_arch arch);

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

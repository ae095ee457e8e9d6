/* chat_request: see include/app/chat_request.h. The turns come from chat.c's
 * template walk (chat_write_turns); this sink cuts them into engine blocks
 * and segments. */
#include "chat_request.h"

#include <string.h>

/* llama.cpp's llm_chat_detect_template: a bare template name first, then
 * marker strings, Phi-3's before Llama-3's. */
enum chat_template_kind chat_template_detect(const char *tmpl, enum model_arch arch) {
    if (tmpl) {
        int named = chat_template_from_name(tmpl);
        if (named >= 0) return (enum chat_template_kind)named;
        if (strstr(tmpl, "<|assistant|>") && strstr(tmpl, "<|end|>")) return CHAT_TEMPLATE_PHI3;
        if (strstr(tmpl, "<|start_header_id|>") && strstr(tmpl, "<|end_header_id|>"))
            return CHAT_TEMPLATE_LLAMA3;
    }
    return arch == MODEL_ARCH_PHI3 ? CHAT_TEMPLATE_PHI3 : CHAT_TEMPLATE_LLAMA3;
}

/* ---- the engine request ---- */

static void req_block(void *ctx, bool droppable) {
    engine_request_add_block(ctx, droppable);
}

/* Consecutive markup joins one segment; empty text makes none. */
static void req_markup(void *ctx, const char *text, size_t len) {
    engine_request *r = ctx;
    engine_block *b = &r->blocks[r->n_blocks - 1];
    engine_segment *last = b->n_segs ? &b->segs[b->n_segs - 1] : NULL;
    if (last && last->kind == SEG_MARKUP) {
        last->text = lm_xrealloc(last->text, last->len + len + 1);
        memcpy(last->text + last->len, text, len);
        last->len += len;
        last->text[last->len] = 0;
    } else if (len > 0) {
        engine_request_add_text(r, SEG_MARKUP, text, len);
    }
}

static void req_content(void *ctx, const char *text, size_t len) {
    if (len > 0) engine_request_add_text(ctx, SEG_TEXT, text, len);
}

static void req_ids(void *ctx, const int32_t *ids, size_t n) {
    if (n > 0) engine_request_add_tokens(ctx, ids, n);
}

void chat_build_request(const chat *c, engine_request *r) {
    memset(r, 0, sizeof *r);
    r->add_bos = true;
    r->max_tokens = -1;
    r->sampling = sampler_default_params();
    chat_sink s = {req_block, req_markup, req_content, req_ids, true, r};
    chat_write_turns(c, &s);
}

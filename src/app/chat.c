/* chat: see include/app/chat.h.
 *
 * One writer walks a conversation through a template and hands each piece to
 * a sink: the template's own text (markup), a message's content, or a reply's
 * token ids. chat_render's sink joins everything into one string;
 * chat_build_request's (chat_request.c) cuts the same pieces into engine
 * segments and blocks. Both come from the same walk, so they cannot disagree. */
#include "chat.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- templates ---- */

static const char *const template_names[] = {"phi3", "llama3"};

const char *chat_template_name(enum chat_template_kind k) {
    return k == CHAT_TEMPLATE_LLAMA3 ? template_names[1] : template_names[0];
}

int chat_template_from_name(const char *name) {
    if (!name) return -1;
    if (strcmp(name, "phi3") == 0) return CHAT_TEMPLATE_PHI3;
    if (strcmp(name, "llama3") == 0) return CHAT_TEMPLATE_LLAMA3;
    return -1;
}

/* ---- the conversation ---- */

static double wall_clock(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void chat_init(chat *c, enum chat_template_kind tmpl) {
    memset(c, 0, sizeof *c);
    c->tmpl = tmpl;
}

static void message_free(chat_message *m) {
    free(m->content);
    free(m->ids);
    memset(m, 0, sizeof *m);
}

void chat_clear(chat *c) {
    for (size_t i = 0; i < c->n; i++) message_free(&c->msgs[i]);
    c->n = 0;
}

void chat_free(chat *c) {
    chat_clear(c);
    free(c->msgs);
    free(c->system_prompt);
    memset(c, 0, sizeof *c);
}

void chat_set_system(chat *c, const char *text) {
    free(c->system_prompt);
    c->system_prompt = text && *text ? lm_xstrdup(text) : NULL;
}

chat_message *chat_add(chat *c, enum chat_role role, const char *content) {
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->msgs = lm_xrealloc(c->msgs, c->cap * sizeof *c->msgs);
    }
    chat_message *m = &c->msgs[c->n++];
    memset(m, 0, sizeof *m);
    m->role = role;
    m->content = lm_xstrdup(content ? content : "");
    m->time = wall_clock();
    return m;
}

void chat_pop(chat *c) {
    if (c->n > 0) message_free(&c->msgs[--c->n]);
}

void chat_message_set_ids(chat_message *m, const int32_t *ids, size_t n) {
    free(m->ids);
    m->ids = lm_xmalloc((n ? n : 1) * sizeof *ids);
    if (n) memcpy(m->ids, ids, n * sizeof *ids);
    m->n_ids = n;
}

void chat_forget_ids(chat *c) {
    for (size_t i = 0; i < c->n; i++) {
        free(c->msgs[i].ids);
        c->msgs[i].ids = NULL;
        c->msgs[i].n_ids = 0;
    }
}

/* ---- the template walk ---- */

static const char *role_name(enum chat_role r) {
    switch (r) {
    case CHAT_ROLE_SYSTEM:
        return "system";
    case CHAT_ROLE_USER:
        return "user";
    case CHAT_ROLE_ASSISTANT:
        return "assistant";
    }
    return "user";
}

static void put_markup(const chat_sink *s, const char *text) {
    s->markup(s->ctx, text, strlen(text));
}

/* C's isspace in the "C" locale, which llama.cpp's trim uses: ASCII only. */
static bool ascii_space(char ch) {
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\v' || ch == '\f' || ch == '\r';
}

static void trim(const char **text, size_t *len) {
    while (*len > 0 && ascii_space(**text)) (*text)++, (*len)--;
    while (*len > 0 && ascii_space((*text)[*len - 1])) (*len)--;
}

static const char *content_of(const chat_message *m) {
    return m->content ? m->content : "";
}

static bool has_ids(const chat_sink *s, const chat_message *m) {
    return s->use_ids && m->role == CHAT_ROLE_ASSISTANT && m->ids != NULL;
}

/* Phi-3: <|role|>\n content <|end|>\n, nothing trimmed. */
static void phi3_message(const chat_sink *s, const chat_message *m) {
    put_markup(s, "<|");
    put_markup(s, role_name(m->role));
    put_markup(s, "|>\n");
    if (has_ids(s, m))
        s->ids(s->ctx, m->ids, m->n_ids);
    else
        s->content(s->ctx, content_of(m), strlen(content_of(m)));
    put_markup(s, "<|end|>\n");
}

/* Llama-3: a header, then the content without ASCII whitespace at its ends.
 * A reply's ids are what the model generated: they go in untrimmed. */
static void llama3_message(const chat_sink *s, const chat_message *m) {
    put_markup(s, "<|start_header_id|>");
    put_markup(s, role_name(m->role));
    put_markup(s, "<|end_header_id|>\n\n");
    if (has_ids(s, m)) {
        s->ids(s->ctx, m->ids, m->n_ids);
    } else {
        const char *text = content_of(m);
        size_t len = strlen(text);
        trim(&text, &len);
        s->content(s->ctx, text, len);
    }
    put_markup(s, "<|eot_id|>");
}

static void write_message(enum chat_template_kind k, const chat_sink *s, const chat_message *m) {
    if (k == CHAT_TEMPLATE_LLAMA3)
        llama3_message(s, m);
    else
        phi3_message(s, m);
}

static void write_generation_prompt(enum chat_template_kind k, const chat_sink *s) {
    put_markup(s, k == CHAT_TEMPLATE_LLAMA3 ? "<|start_header_id|>assistant<|end_header_id|>\n\n"
                                            : "<|assistant|>\n");
}

/* ---- rendering to one string ---- */

static void buf_block(void *ctx, bool droppable) {
    (void)ctx;
    (void)droppable;
}

static void buf_text(void *ctx, const char *text, size_t len) {
    lm_buf_append(ctx, text, len);
}

static void buf_ids(void *ctx, const int32_t *ids, size_t n) {
    (void)ctx;
    (void)ids;
    (void)n;
}

void chat_render(enum chat_template_kind k, const chat_message *msgs, size_t n, bool add_assistant,
                 lm_buf *out) {
    chat_sink s = {buf_block, buf_text, buf_text, buf_ids, false, out};
    for (size_t i = 0; i < n; i++) write_message(k, &s, &msgs[i]);
    if (add_assistant) write_generation_prompt(k, &s);
    lm_buf_cstr(out);
}

/* ---- the turns ---- */

void chat_write_turns(const chat *c, const chat_sink *s) {
    if (c->system_prompt && *c->system_prompt) {
        chat_message sys = {.role = CHAT_ROLE_SYSTEM, .content = c->system_prompt};
        s->block(s->ctx, false);
        write_message(c->tmpl, s, &sys);
    }
    size_t last_turn = c->n;
    while (last_turn > 0 && c->msgs[last_turn - 1].role != CHAT_ROLE_USER) last_turn--;
    if (last_turn > 0) last_turn--; /* the last user message starts the last turn */
    for (size_t i = 0; i < c->n; i++) {
        bool starts_turn = i == 0 || c->msgs[i].role == CHAT_ROLE_USER;
        if (starts_turn) s->block(s->ctx, i < last_turn);
        write_message(c->tmpl, s, &c->msgs[i]);
    }
    if (c->n == 0) s->block(s->ctx, false);
    write_generation_prompt(c->tmpl, s);
}

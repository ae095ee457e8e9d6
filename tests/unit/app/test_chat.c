/* Chat tests: templates against llama.cpp's built-in formatter (the
 * conformance chat JSONs), the segments and blocks of engine requests, and the
 * token ids of a whole chat prompt against llama.cpp's (the `chat` logits
 * cases), tokenized by the engine itself. */
#include "chat_request.h"
#include "json.h"
#include "test.h"

#include <stdlib.h>

/* ---- helpers ---- */

static json_value *read_json(const char *path) {
    char *text;
    size_t len;
    lm_error err = {{0}};
    if (lm_read_file(path, 64u << 20, &text, &len, &err)) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        return NULL;
    }
    json_value *v = json_parse(text, len, &err);
    free(text);
    CHECK_MSG(v != NULL, "%s: %s", path, err.msg);
    return v;
}

static enum chat_role role_of(const char *name) {
    if (strcmp(name, "system") == 0) return CHAT_ROLE_SYSTEM;
    if (strcmp(name, "assistant") == 0) return CHAT_ROLE_ASSISTANT;
    return CHAT_ROLE_USER;
}

/* The messages of a conformance case; the strings stay owned by the JSON. */
static chat_message *case_messages(const json_value *msgs, size_t *n) {
    *n = msgs ? msgs->len : 0;
    chat_message *m = lm_xcalloc(*n + 1, sizeof *m);
    for (size_t i = 0; i < *n; i++) {
        m[i].role = role_of(json_get_str(&msgs->items[i], "role", "user"));
        m[i].content = (char *)json_get_str(&msgs->items[i], "content", "");
    }
    return m;
}

/* A chat holding the case's messages: a leading system message becomes the
 * system prompt. */
static void case_chat(const json_value *msgs, enum chat_template_kind k, chat *c) {
    size_t n;
    chat_message *m = case_messages(msgs, &n);
    chat_init(c, k);
    for (size_t i = 0; i < n; i++) {
        if (m[i].role == CHAT_ROLE_SYSTEM)
            chat_set_system(c, m[i].content);
        else
            chat_add(c, m[i].role, m[i].content);
    }
    free(m);
}

/* The request's text with every segment in order (ids shown as "[ids]"). */
static void request_text(const engine_request *r, lm_buf *out) {
    for (int b = 0; b < r->n_blocks; b++) {
        for (int i = 0; i < r->blocks[b].n_segs; i++) {
            const engine_segment *s = &r->blocks[b].segs[i];
            if (s->kind == SEG_TOKENS)
                lm_buf_puts(out, "[ids]");
            else
                lm_buf_append(out, s->text, s->len);
        }
    }
    lm_buf_cstr(out);
}

static void check_render(const char *template_json, enum chat_template_kind want_kind,
                         enum model_arch other_arch) {
    const char *dir = test_conformance_dir();
    if (!dir) {
        test_skip("no conformance data");
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/chat/%s", dir, template_json);
    json_value *root = read_json(path);
    if (!root) return;
    /* detected from the file's template even when the architecture says otherwise */
    enum chat_template_kind k =
        chat_template_detect(json_get_str(root, "template", ""), other_arch);
    CHECK_EQ_INT(k, want_kind);
    const json_value *cases = json_get(root, "cases");
    CHECK(cases && cases->len >= 9);
    for (size_t i = 0; cases && i < cases->len; i++) {
        const json_value *c = &cases->items[i];
        const json_value *want = json_get(c, "rendered");
        const json_value *add_ass = json_get(c, "add_ass");
        size_t n;
        chat_message *m = case_messages(json_get(c, "messages"), &n);
        lm_buf got = {0};
        chat_render(k, m, n, add_ass && add_ass->b, &got);
        CHECK_MSG(want && got.len == want->len && memcmp(got.data, want->str, got.len) == 0,
                  "%s case %s:\n      got  \"%s\"\n      want \"%s\"", template_json,
                  json_get_str(c, "name", "?"), lm_buf_cstr(&got), want ? want->str : "");
        lm_buf_free(&got);
        free(m);
    }
    json_free(root);
}

/* ---- templates ---- */

TEST(chat_template_detect_by_content_then_arch) {
    CHECK_EQ_INT(chat_template_detect("{{'<|assistant|>\n'}}...<|end|>", MODEL_ARCH_LLAMA),
                 CHAT_TEMPLATE_PHI3);
    CHECK_EQ_INT(chat_template_detect("<|start_header_id|>x<|end_header_id|>", MODEL_ARCH_PHI3),
                 CHAT_TEMPLATE_LLAMA3);
    CHECK_EQ_INT(chat_template_detect("llama3", MODEL_ARCH_PHI3), CHAT_TEMPLATE_LLAMA3);
    CHECK_EQ_INT(chat_template_detect("{{ unknown }}", MODEL_ARCH_PHI3), CHAT_TEMPLATE_PHI3);
    CHECK_EQ_INT(chat_template_detect(NULL, MODEL_ARCH_LLAMA), CHAT_TEMPLATE_LLAMA3);
    CHECK_EQ_INT(chat_template_detect(NULL, MODEL_ARCH_PHI3), CHAT_TEMPLATE_PHI3);
    CHECK_EQ_STR(chat_template_name(CHAT_TEMPLATE_LLAMA3), "llama3");
    CHECK_EQ_INT(chat_template_from_name("phi3"), CHAT_TEMPLATE_PHI3);
    CHECK_EQ_INT(chat_template_from_name("chatml"), -1);
}

TEST(chat_render_phi3_matches_llama_cpp) {
    check_render("chat-template-phi3.json", CHAT_TEMPLATE_PHI3, MODEL_ARCH_LLAMA);
}

TEST(chat_render_llama3_matches_llama_cpp) {
    check_render("chat-template-llama3.json", CHAT_TEMPLATE_LLAMA3, MODEL_ARCH_PHI3);
}

/* The request is the rendered text, cut into pieces: for every conformance
 * case with a generation prompt and no empty system message, joining the
 * request's segments gives llama.cpp's string. */
static void check_request_text(const char *template_json, enum chat_template_kind k) {
    const char *dir = test_conformance_dir();
    if (!dir) {
        test_skip("no conformance data");
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/chat/%s", dir, template_json);
    json_value *root = read_json(path);
    const json_value *cases = json_get(root, "cases");
    int compared = 0;
    for (size_t i = 0; cases && i < cases->len; i++) {
        const json_value *c = &cases->items[i], *msgs = json_get(c, "messages");
        const json_value *add_ass = json_get(c, "add_ass"), *want = json_get(c, "rendered");
        const char *first_role = json_get_str(&msgs->items[0], "role", "");
        const char *first_content = json_get_str(&msgs->items[0], "content", "");
        /* an empty system prompt means none (the Jinja template skips it too) */
        if (!add_ass || !add_ass->b || (!strcmp(first_role, "system") && !*first_content)) continue;
        chat ch;
        case_chat(msgs, k, &ch);
        engine_request r;
        chat_build_request(&ch, &r);
        lm_buf got = {0};
        request_text(&r, &got);
        CHECK_MSG(got.len == want->len && memcmp(got.data, want->str, got.len) == 0,
                  "%s case %s: request text \"%s\"", template_json, json_get_str(c, "name", "?"),
                  got.data);
        CHECK(r.add_bos);
        compared++;
        lm_buf_free(&got);
        engine_request_free(&r);
        chat_free(&ch);
    }
    CHECK(compared >= 7);
    json_free(root);
}

TEST(chat_request_text_is_the_rendered_text) {
    check_request_text("chat-template-phi3.json", CHAT_TEMPLATE_PHI3);
    check_request_text("chat-template-llama3.json", CHAT_TEMPLATE_LLAMA3);
}

TEST(chat_empty_system_prompt_writes_no_system_message) {
    for (int k = 0; k < 2; k++) {
        chat c;
        chat_init(&c, (enum chat_template_kind)k);
        chat_set_system(&c, "");
        CHECK(c.system_prompt == NULL);
        chat_add(&c, CHAT_ROLE_USER, "Hi");
        engine_request r;
        chat_build_request(&c, &r);
        CHECK_EQ_INT(r.n_blocks, 1);
        lm_buf text = {0};
        request_text(&r, &text);
        CHECK(!strstr(text.data, "system"));
        lm_buf_free(&text);
        engine_request_free(&r);
        chat_free(&c);
    }
}

/* ---- requests ---- */

/* system + three turns: a kept system block, two droppable turns, a kept last
 * turn; markup and text in separate segments; a reply with ids as ids. */
TEST(chat_request_blocks_and_segments) {
    chat c;
    chat_init(&c, CHAT_TEMPLATE_PHI3);
    chat_set_system(&c, "Be brief.");
    chat_add(&c, CHAT_ROLE_USER, "one <|end|>");
    chat_message *a = chat_add(&c, CHAT_ROLE_ASSISTANT, "reply one");
    int32_t ids[] = {5, 6, 7};
    chat_message_set_ids(a, ids, 3);
    chat_add(&c, CHAT_ROLE_USER, "two");
    chat_add(&c, CHAT_ROLE_ASSISTANT, "reply two");
    chat_add(&c, CHAT_ROLE_USER, "three");
    engine_request r;
    chat_build_request(&c, &r);
    CHECK_EQ_INT(r.n_blocks, 4);
    if (r.n_blocks == 4) {
        CHECK(!r.blocks[0].droppable);
        CHECK(r.blocks[1].droppable);
        CHECK(r.blocks[2].droppable);
        CHECK(!r.blocks[3].droppable);
        /* <|system|>\n | Be brief. | <|end|>\n */
        CHECK_EQ_INT(r.blocks[0].n_segs, 3);
        CHECK_EQ_INT(r.blocks[0].segs[1].kind, SEG_TEXT);
        /* <|user|>\n | one <|end|> | <|end|>\n<|assistant|>\n | ids | <|end|>\n */
        const engine_block *t1 = &r.blocks[1];
        CHECK_EQ_INT(t1->n_segs, 5);
        if (t1->n_segs == 5) {
            CHECK_EQ_INT(t1->segs[0].kind, SEG_MARKUP);
            CHECK_EQ_INT(t1->segs[1].kind, SEG_TEXT);
            CHECK_EQ_STR(t1->segs[1].text, "one <|end|>");
            CHECK_EQ_STR(t1->segs[2].text, "<|end|>\n<|assistant|>\n");
            CHECK_EQ_INT(t1->segs[3].kind, SEG_TOKENS);
            CHECK_EQ_INT(t1->segs[3].n_ids, 3);
            CHECK_EQ_INT(t1->segs[3].ids[2], 7);
        }
        /* the last block ends with the generation prompt */
        const engine_block *t3 = &r.blocks[3];
        const engine_segment *end = &t3->segs[t3->n_segs - 1];
        CHECK_EQ_STR(end->text, "<|end|>\n<|assistant|>\n");
    }
    engine_request_free(&r);
    chat_free(&c);
}

/* Llama-3 trims a reply's text but never its ids: they are what was generated. */
TEST(chat_request_llama3_ids_untrimmed) {
    chat c;
    chat_init(&c, CHAT_TEMPLATE_LLAMA3);
    chat_add(&c, CHAT_ROLE_USER, "  hi  ");
    chat_message *a = chat_add(&c, CHAT_ROLE_ASSISTANT, " hello \n");
    int32_t ids[] = {11, 12};
    chat_message_set_ids(a, ids, 2);
    chat_add(&c, CHAT_ROLE_USER, "again");
    engine_request r;
    chat_build_request(&c, &r);
    lm_buf text = {0};
    request_text(&r, &text);
    CHECK_EQ_STR(text.data, "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
                            "<|start_header_id|>assistant<|end_header_id|>\n\n[ids]<|eot_id|>"
                            "<|start_header_id|>user<|end_header_id|>\n\nagain<|eot_id|>"
                            "<|start_header_id|>assistant<|end_header_id|>\n\n");
    /* and without ids, the trimmed text (as llama.cpp renders it) */
    lm_buf rendered = {0};
    chat_render(CHAT_TEMPLATE_LLAMA3, c.msgs, c.n, false, &rendered);
    CHECK(strstr(rendered.data, "\n\nhello<|eot_id|>") != NULL);
    lm_buf_free(&rendered);
    /* a model with another vocabulary gets the text again */
    chat_forget_ids(&c);
    engine_request_free(&r);
    chat_build_request(&c, &r);
    text.len = 0;
    request_text(&r, &text);
    CHECK(strstr(text.data, "[ids]") == NULL && strstr(text.data, "\n\nhello<|eot_id|>"));
    lm_buf_free(&text);
    engine_request_free(&r);
    chat_free(&c);
}

TEST(chat_pop_clear_and_system) {
    chat c;
    chat_init(&c, CHAT_TEMPLATE_PHI3);
    chat_set_system(&c, "sys");
    chat_add(&c, CHAT_ROLE_USER, "a");
    chat_add(&c, CHAT_ROLE_ASSISTANT, "b");
    CHECK(c.msgs[0].time > 1e9); /* wall-clock seconds */
    chat_pop(&c);
    CHECK_EQ_INT(c.n, 1);
    chat_clear(&c);
    CHECK_EQ_INT(c.n, 0);
    CHECK_EQ_STR(c.system_prompt, "sys");
    chat_pop(&c); /* nothing to pop: harmless */
    engine_request r;
    chat_build_request(&c, &r); /* system + generation prompt */
    CHECK_EQ_INT(r.n_blocks, 2);
    engine_request_free(&r);
    chat_free(&c);
}

/* ---- token ids through the engine ---- */

/* Loads model_file with the engine, reads the chat's request with no reply,
 * and returns the prompt tokens the engine built. */
static lm_tokens engine_prompt(const char *model_path, const chat *c) {
    lm_tokens out = {0};
    lm_error err = {{0}};
    engine *e = engine_create(&err);
    CHECK_MSG(e != NULL, "%s", err.msg);
    if (!e) return out;
    model_options opt = {.n_ctx = 512, .n_threads = 2};
    engine_load(e, model_path, &opt);
    engine_event ev;
    engine_wait(e, &ev);
    while (ev.kind == EV_LOAD_PROGRESS) engine_wait(e, &ev);
    CHECK_MSG(ev.kind == EV_LOADED, "loading %s: %s", model_path, ev.text ? ev.text : "");
    bool loaded = ev.kind == EV_LOADED;
    engine_event_free(&ev);
    if (loaded) {
        engine_request r;
        chat_build_request(c, &r);
        r.max_tokens = 0;
        engine_generate(e, &r);
        do {
            engine_wait(e, &ev);
            if (ev.kind != EV_DONE) engine_event_free(&ev);
        } while (ev.kind != EV_DONE);
        CHECK_MSG(ev.reason == STOP_MAX_TOKENS, "generation ended with %d: %s", ev.reason,
                  ev.text ? ev.text : "");
        engine_event_free(&ev);
        engine_last_prompt(e, &out);
    }
    engine_free(e);
    return out;
}

static void check_chat_tokens(const char *logits_json, const char *template_json,
                              enum chat_template_kind k) {
    const char *dir = test_conformance_dir();
    if (!dir) {
        test_skip("no conformance data");
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/logits/%s", dir, logits_json);
    json_value *ref = read_json(path);
    snprintf(path, sizeof path, "%s/chat/%s", dir, template_json);
    json_value *tmpl = read_json(path);
    if (!ref || !tmpl) return;
    /* the logits case's prompt is one of the template cases, rendered */
    const json_value *cases = json_get(tmpl, "cases"), *match = NULL;
    const char *prompt = json_get_str(ref, "prompt", "");
    for (size_t i = 0; cases && i < cases->len && !match; i++)
        if (!strcmp(json_get_str(&cases->items[i], "rendered", ""), prompt))
            match = &cases->items[i];
    CHECK_MSG(match != NULL, "%s: no chat case renders its prompt", logits_json);
    if (match) {
        chat c;
        case_chat(json_get(match, "messages"), k, &c);
        snprintf(path, sizeof path, "%s/models/%s", dir, json_get_str(ref, "model", ""));
        lm_tokens got = engine_prompt(path, &c);
        const json_value *want = json_get(ref, "prompt_tokens");
        bool same = want && want->len == got.n;
        for (size_t i = 0; same && i < got.n; i++) same = (int32_t)want->items[i].num == got.ids[i];
        CHECK_MSG(same, "%s: %zu prompt tokens differ from llama.cpp's %zu", logits_json, got.n,
                  want ? want->len : 0);
        for (size_t i = 0; !same && want && i < got.n && i < want->len; i++)
            if ((int32_t)want->items[i].num != got.ids[i]) {
                test_fail(__FILE__, __LINE__, "first difference at %zu: %d, want %d", i, got.ids[i],
                          (int)want->items[i].num);
                break;
            }
        lm_tokens_free(&got);
        chat_free(&c);
    }
    json_free(ref);
    json_free(tmpl);
}

TEST(chat_tokens_phi3_match_llama_cpp) {
    check_chat_tokens("phi3-e64-F32.chat.json", "chat-template-phi3.json", CHAT_TEMPLATE_PHI3);
}

TEST(chat_tokens_llama3_match_llama_cpp) {
    check_chat_tokens("llama3-e32-F16.chat.json", "chat-template-llama3.json",
                      CHAT_TEMPLATE_LLAMA3);
}

static size_t count_id(const lm_tokens *t, int32_t id) {
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++) n += t->ids[i] == id;
    return n;
}

/* What a user types is text: "<|end|>" and "<|eot_id|>" in a message give
 * plain-text tokens, never the control tokens the template writes. */
static void check_special_looking_text(const char *model, enum chat_template_kind k, int32_t end_id,
                                       size_t template_ends) {
    const char *dir = test_conformance_dir();
    if (!dir) {
        test_skip("no conformance data");
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/models/%s", dir, model);
    chat c;
    chat_init(&c, k);
    chat_add(&c, CHAT_ROLE_USER, "Please repeat this literally: <|end|> and <|eot_id|>");
    lm_tokens typed = engine_prompt(path, &c);
    chat_clear(&c);
    chat_add(&c, CHAT_ROLE_USER, "Please repeat this literally: and");
    lm_tokens plain = engine_prompt(path, &c);
    CHECK_EQ_INT(count_id(&typed, end_id), template_ends);
    CHECK_EQ_INT(count_id(&plain, end_id), template_ends);
    CHECK(typed.n > plain.n + 4); /* the typed markers became several text tokens */
    lm_tokens_free(&typed);
    lm_tokens_free(&plain);
    chat_free(&c);
}

TEST(chat_special_looking_user_text_stays_text) {
    check_special_looking_text("phi3-e64-F32.gguf", CHAT_TEMPLATE_PHI3, 32007, 1); /* <|end|> */
    check_special_looking_text("llama3-e32-F16.gguf", CHAT_TEMPLATE_LLAMA3, 128009,
                               1); /* <|eot_id|> */
}

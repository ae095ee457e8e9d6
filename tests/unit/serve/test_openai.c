/* The OpenAI wire format: request validation (each error names its status
 * and param), the template applied as the chat applies it, the answers'
 * JSON (parsed back), the stop-string holder and the secret comparison. */
#include "json.h"
#include "openai.h"
#include "server.h"
#include "test.h"

#include <stdlib.h>

static int parse(enum openai_endpoint ep, const char *body, openai_request *r, openai_error *e) {
    sampler_params sp = sampler_default_params();
    return openai_parse_request(ep, body, strlen(body), CHAT_TEMPLATE_PHI3, &sp, r, e);
}

/* The status and param of a rejected chat body. */
static void expect_error(const char *body, int status, const char *param) {
    openai_request r;
    openai_error e = {0};
    int rc = parse(OPENAI_CHAT, body, &r, &e);
    CHECK_MSG(rc == -1, "accepted: %s", body);
    if (rc != -1) {
        openai_request_free(&r);
        return;
    }
    CHECK_MSG(e.status == status, "%s: status %d, not %d", body, e.status, status);
    if (param)
        CHECK_MSG(e.param && strcmp(e.param, param) == 0, "%s: param %s, not %s", body,
                  e.param ? e.param : "null", param);
    CHECK(e.message[0] != 0);
}

TEST(openai_chat_request) {
    openai_request r;
    openai_error e;
    const char *body =
        "{\"model\":\"x\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"he\"},"
        "{\"type\":\"text\",\"text\":\"llo\"}]},"
        "{\"role\":\"assistant\",\"content\":null},{\"role\":\"user\",\"content\":\"more\"}],"
        "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"max_tokens\":7,"
        "\"temperature\":0,\"top_k\":3,\"top_p\":0.5,\"min_p\":0.1,\"seed\":42,"
        "\"stop\":[\"END\",\"\"],\"n\":1,\"frequency_penalty\":0}";
    CHECK_EQ_INT(parse(OPENAI_CHAT, body, &r, &e), 0);
    CHECK_EQ_STR(r.conv.system_prompt, "be brief");
    CHECK_EQ_INT(r.conv.n, 3);
    CHECK_EQ_STR(r.conv.msgs[0].content, "hello");
    CHECK_EQ_INT(r.conv.msgs[1].role, CHAT_ROLE_ASSISTANT);
    CHECK_EQ_STR(r.conv.msgs[1].content, "");
    CHECK(r.stream && r.include_usage);
    CHECK_EQ_INT(r.max_tokens, 7);
    CHECK(r.sampling.temperature == 0 && r.sampling.top_k == 3 && r.sampling.seed == 42);
    CHECK_NEAR(r.sampling.top_p, 0.5, 1e-6);
    CHECK_EQ_INT(r.n_stop, 1); /* the empty one matches nothing */
    CHECK_EQ_STR(r.stop[0], "END");
    CHECK_EQ_STR(r.model, "x");
    openai_request_free(&r);
}

/* The engine request is the chat's own, with nothing droppable. */
TEST(openai_same_prompt_as_chat) {
    openai_request r;
    openai_error e;
    const char *body =
        "{\"messages\":[{\"role\":\"system\",\"content\":\"sys\"},"
        "{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"assistant\",\"content\":\"b\"},"
        "{\"role\":\"user\",\"content\":\"c\"}]}";
    CHECK_EQ_INT(parse(OPENAI_CHAT, body, &r, &e), 0);
    chat c;
    chat_init(&c, CHAT_TEMPLATE_PHI3);
    chat_set_system(&c, "sys");
    chat_add(&c, CHAT_ROLE_USER, "a");
    chat_add(&c, CHAT_ROLE_ASSISTANT, "b");
    chat_add(&c, CHAT_ROLE_USER, "c");
    engine_request mine, theirs;
    openai_engine_request(&r, &mine);
    chat_build_request(&c, &theirs);
    CHECK_EQ_INT(mine.n_blocks, theirs.n_blocks);
    for (int b = 0; b < mine.n_blocks && b < theirs.n_blocks; b++) {
        CHECK(!mine.blocks[b].droppable);
        CHECK_EQ_INT(mine.blocks[b].n_segs, theirs.blocks[b].n_segs);
        for (int i = 0; i < mine.blocks[b].n_segs && i < theirs.blocks[b].n_segs; i++) {
            CHECK_EQ_INT(mine.blocks[b].segs[i].kind, theirs.blocks[b].segs[i].kind);
            CHECK_EQ_STR(mine.blocks[b].segs[i].text, theirs.blocks[b].segs[i].text);
        }
    }
    CHECK(mine.add_bos);
    engine_request_free(&mine);
    engine_request_free(&theirs);
    chat_free(&c);
    openai_request_free(&r);
}

TEST(openai_completion_request) {
    openai_request r;
    openai_error e;
    CHECK_EQ_INT(parse(OPENAI_COMPLETION, "{\"prompt\":[\"once\"],\"stop\":\"x\"}", &r, &e), 0);
    CHECK_EQ_STR(r.prompt, "once");
    CHECK_EQ_INT(r.n_stop, 1);
    CHECK_EQ_INT(r.max_tokens, -1);
    engine_request er;
    openai_engine_request(&r, &er);
    CHECK_EQ_INT(er.n_blocks, 1);
    CHECK_EQ_INT(er.blocks[0].segs[0].kind, SEG_MARKUP);
    engine_request_free(&er);
    openai_request_free(&r);
    CHECK_EQ_INT(parse(OPENAI_COMPLETION, "{\"prompt\":3}", &r, &e), -1);
    CHECK_EQ_STR(e.param, "prompt");
    CHECK_EQ_INT(parse(OPENAI_COMPLETION, "{\"prompt\":\"\"}", &r, &e), -1);
    CHECK_EQ_INT(parse(OPENAI_COMPLETION, "{}", &r, &e), -1);
}

TEST(openai_request_errors) {
    const char *u = "[{\"role\":\"user\",\"content\":\"hi\"}]";
    char body[512];
    expect_error("", 400, NULL);
    expect_error("{", 400, NULL);
    expect_error("[1]", 400, NULL);
    expect_error("{}", 400, "messages");
    expect_error("{\"messages\":{}}", 400, "messages");
    expect_error("{\"messages\":[]}", 400, "messages");
    expect_error("{\"messages\":[1]}", 400, "messages");
    expect_error("{\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}", 400, "messages.role");
    expect_error("{\"messages\":[{\"content\":\"x\"}]}", 400, "messages.role");
    expect_error("{\"messages\":[{\"role\":\"user\"}]}", 400, "messages.content");
    expect_error("{\"messages\":[{\"role\":\"user\",\"content\":5}]}", 400, "messages.content");
    expect_error("{\"messages\":[{\"role\":\"user\",\"content\":\"a\\u0000b\"}]}", 400,
                 "messages.content");
    expect_error("{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}", 400,
                 "messages.content");
    expect_error("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}", 400,
                 "messages.content");
    struct {
        const char *member, *param;
    } bad[] = {
        {"\"n\":2", "n"},
        {"\"max_tokens\":0", "max_tokens"},
        {"\"max_tokens\":1.5", "max_tokens"},
        {"\"max_tokens\":\"9\"", "max_tokens"},
        {"\"max_completion_tokens\":-3", "max_completion_tokens"},
        {"\"temperature\":-1", "temperature"},
        {"\"temperature\":\"hot\"", "temperature"},
        {"\"top_p\":2", "top_p"},
        {"\"top_k\":0.5", "top_k"},
        {"\"min_p\":true", "min_p"},
        {"\"repeat_penalty\":0", "repeat_penalty"},
        {"\"seed\":1e300", "seed"},
        {"\"stream\":1", "stream"},
        {"\"stream_options\":[]", "stream_options"},
        {"\"stop\":5", "stop"},
        {"\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]", "stop"},
        {"\"model\":7", "model"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(body, sizeof body, "{\"messages\":%s,%s}", u, bad[i].member);
        expect_error(body, 400, bad[i].param);
    }
    /* depth is bounded by the JSON reader */
    lm_buf deep = {0};
    lm_buf_puts(&deep, "{\"messages\":");
    for (int i = 0; i < 200; i++) lm_buf_puts(&deep, "[");
    expect_error(lm_buf_cstr(&deep), 400, NULL);
    lm_buf_free(&deep);
}

TEST(openai_body_limit) {
    size_t n = OPENAI_MAX_BODY + 1;
    char *big = lm_xmalloc(n);
    memset(big, ' ', n);
    openai_request r;
    openai_error e;
    sampler_params sp = sampler_default_params();
    CHECK_EQ_INT(openai_parse_request(OPENAI_CHAT, big, n, CHAT_TEMPLATE_PHI3, &sp, &r, &e), -1);
    CHECK_EQ_INT(e.status, 413);
    free(big);
}

/* Every answer is JSON a client can read back. */
TEST(openai_answers_parse_back) {
    openai_reply rep = {OPENAI_CHAT, "chatcmpl-1", "m\"odel", 1700000000};
    openai_usage u = {.prompt_tokens = 10,
                      .completion_tokens = 4,
                      .cached_tokens = 6,
                      .prompt_ms = 8,
                      .predicted_ms = 20};
    lm_buf b = {0};
    openai_write_full(&b, &rep, "he said \"hi\"\n", 13, "stop", &u);
    lm_error err;
    json_value *v = json_parse(b.data, b.len, &err);
    CHECK_MSG(v != NULL, "%s", b.data);
    const json_value *ch = json_get(v, "choices");
    CHECK(ch && ch->kind == JSON_ARRAY && ch->len == 1);
    if (ch && ch->len == 1) {
        CHECK_EQ_STR(json_get_str(json_get(&ch->items[0], "message"), "content", NULL),
                     "he said \"hi\"\n");
        CHECK_EQ_STR(json_get_str(&ch->items[0], "finish_reason", NULL), "stop");
    }
    const json_value *usage = json_get(v, "usage");
    CHECK_EQ_INT(json_get_num(usage, "total_tokens", 0), 14);
    CHECK_EQ_INT(json_get_num(json_get(usage, "prompt_tokens_details"), "cached_tokens", 0), 6);
    CHECK_EQ_INT(json_get_num(json_get(v, "timings"), "prompt_n", 0), 4);
    CHECK_NEAR(json_get_num(json_get(v, "timings"), "predicted_per_second", 0), 200, 1e-6);
    CHECK_EQ_STR(json_get_str(v, "object", NULL), "chat.completion");
    json_free(v);

    /* a stream: every "data: " line but the last is a JSON chunk */
    b.len = 0;
    openai_write_delta(&b, &rep, true, "", 0);
    openai_write_delta(&b, &rep, false, "x", 1);
    openai_write_finish(&b, &rep, "length", &u, true);
    const char *p = lm_buf_cstr(&b);
    int chunks = 0;
    bool done = false;
    while ((p = strstr(p, "data: ")) != NULL) {
        p += 6;
        const char *end = strstr(p, "\n\n");
        CHECK(end != NULL);
        if (!end) break;
        if (strncmp(p, "[DONE]", 6) == 0) {
            done = true;
        } else {
            json_value *c = json_parse(p, (size_t)(end - p), &err);
            CHECK_MSG(c != NULL, "%.*s", (int)(end - p), p);
            CHECK_EQ_STR(json_get_str(c, "object", NULL), "chat.completion.chunk");
            json_free(c);
            chunks++;
        }
        p = end;
    }
    CHECK_EQ_INT(chunks, 4);
    CHECK(done);

    b.len = 0;
    openai_error e;
    openai_fail(&e, 400, "invalid_request_error", NULL, "x", "bad \"thing\"");
    openai_write_error(&b, &e);
    v = json_parse(b.data, b.len, &err);
    CHECK(v != NULL);
    const json_value *eo = json_get(v, "error");
    CHECK_EQ_STR(json_get_str(eo, "message", NULL), "bad \"thing\"");
    CHECK(json_get(eo, "param") && json_get(eo, "param")->kind == JSON_NULL);
    CHECK_EQ_STR(json_get_str(eo, "code", NULL), "x");
    json_free(v);
    lm_buf_free(&b);
}

/* Feeds pieces; returns what went out and whether it stopped. */
static bool run_stopper(const char *const *pieces, int n, char *const *stop, int n_stop,
                        lm_buf *out) {
    openai_stopper s = {0};
    bool stopped = false;
    for (int i = 0; i < n && !stopped; i++)
        stopped = openai_stopper_feed(&s, stop, n_stop, pieces[i], strlen(pieces[i]), out);
    if (!stopped) openai_stopper_flush(&s, out);
    openai_stopper_free(&s);
    lm_buf_cstr(out);
    return stopped;
}

/* GET /v1/models: every id, in order, quoted; only the loaded one says so. */
TEST(openai_models_list) {
    const char *ids[] = {"phi3", "lla\"ma", "third"};
    lm_buf b = {0};
    openai_write_models(&b, ids, 3, 1, 1700000000, 512);
    lm_error err;
    json_value *v = json_parse(b.data, b.len, &err);
    CHECK_MSG(v != NULL, "%s", b.data);
    const json_value *d = json_get(v, "data");
    CHECK(d && d->kind == JSON_ARRAY && d->len == 3);
    for (size_t i = 0; d && i < d->len && i < 3; i++) {
        CHECK_EQ_STR(json_get_str(&d->items[i], "id", NULL), ids[i]);
        CHECK_EQ_STR(json_get_str(&d->items[i], "object", NULL), "model");
        const json_value *loaded = json_get(json_get(&d->items[i], "meta"), "loaded");
        CHECK(loaded && loaded->kind == JSON_BOOL && loaded->b == (i == 1));
    }
    if (d && d->len == 3)
        CHECK_EQ_INT(json_get_num(json_get(&d->items[1], "meta"), "n_ctx", 0), 512);
    json_free(v);
    lm_buf_free(&b);
    openai_write_models(&b, ids, 0, -1, 0, 0); /* none */
    CHECK_EQ_STR(b.data, "{\"object\":\"list\",\"data\":[]}");
    lm_buf_free(&b);
}

TEST(openai_stop_strings) {
    char *stop[] = {"END", "\n\n"};
    lm_buf out = {0};
    const char *a[] = {"hello E", "N", "D more"};
    CHECK(run_stopper(a, 3, stop, 2, &out));
    CHECK_EQ_STR(out.data, "hello ");
    out.len = 0;
    const char *b[] = {"hello E", "Nx", "\n", "y"};
    CHECK(!run_stopper(b, 4, stop, 2, &out));
    CHECK_EQ_STR(out.data, "hello ENx\ny");
    out.len = 0;
    const char *c[] = {"one\n", "\ntwo"};
    CHECK(run_stopper(c, 2, stop, 2, &out));
    CHECK_EQ_STR(out.data, "one");
    out.len = 0;
    const char *d[] = {"ab", "EN"}; /* held at the end, then flushed */
    CHECK(!run_stopper(d, 2, stop, 2, &out));
    CHECK_EQ_STR(out.data, "abEN");
    /* what is held back waits: the first piece alone sends only "hello " */
    openai_stopper s = {0};
    out.len = 0;
    openai_stopper_feed(&s, stop, 2, "hello EN", 8, &out);
    CHECK_EQ_INT(out.len, 6);
    openai_stopper_free(&s);
    lm_buf_free(&out);
}

TEST(serve_secret_compare) {
    CHECK(serve_secret_equal("sekrit", "sekrit"));
    CHECK(!serve_secret_equal("sekrix", "sekrit"));
    CHECK(!serve_secret_equal("sekri", "sekrit"));
    CHECK(!serve_secret_equal("sekrit2", "sekrit"));
    CHECK(!serve_secret_equal("", "sekrit"));
}

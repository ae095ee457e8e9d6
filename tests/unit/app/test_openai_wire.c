/* OpenAI wire format tests: the request a chat becomes, the pieces of a
 * streamed answer (text, finish, usage, timings, errors, malformed data),
 * model lists and error bodies, each treated as hostile input. */
#include "json.h"
#include "openai_wire.h"
#include "test.h"

#include <stdlib.h>

TEST(openai_request_has_messages_and_sampling) {
    chat c;
    chat_init(&c, CHAT_TEMPLATE_LLAMA3);
    chat_set_system(&c, "be \"brief\"");
    chat_add(&c, CHAT_ROLE_USER, "hi\n");
    chat_add(&c, CHAT_ROLE_ASSISTANT, "hello");
    chat_add(&c, CHAT_ROLE_USER, "é😀");
    backend_params p = {.sampling = sampler_default_params(), .max_tokens = 12};
    p.sampling.temperature = 0.25f;
    p.sampling.seed = 7;
    lm_buf b = {0};
    openai_request_body(&c, "m-1", &p, &b);
    lm_error err;
    json_value *v = json_parse(b.data, b.len, &err);
    CHECK(v != NULL);
    if (v) {
        CHECK_EQ_STR(json_get_str(v, "model", ""), "m-1");
        CHECK(json_get(v, "stream") && json_get(v, "stream")->b);
        CHECK_NEAR(json_get_num(v, "temperature", -1), 0.25, 1e-6);
        CHECK_EQ_INT(json_get_num(v, "seed", -1), 7);
        CHECK_EQ_INT(json_get_num(v, "max_tokens", -1), 12);
        const json_value *m = json_get(v, "messages");
        CHECK(m && m->len == 4);
        if (m && m->len == 4) {
            CHECK_EQ_STR(json_get_str(&m->items[0], "role", ""), "system");
            CHECK_EQ_STR(json_get_str(&m->items[0], "content", ""), "be \"brief\"");
            CHECK_EQ_STR(json_get_str(&m->items[1], "content", ""), "hi\n");
            CHECK_EQ_STR(json_get_str(&m->items[2], "role", ""), "assistant");
            CHECK_EQ_STR(json_get_str(&m->items[3], "content", ""), "é😀");
        }
    }
    json_free(v);
    /* no max_tokens when the reply is unlimited */
    p.max_tokens = -1;
    b.len = 0;
    openai_request_body(&c, "m-1", &p, &b);
    CHECK(strstr(lm_buf_cstr(&b), "max_tokens") == NULL);
    lm_buf_free(&b);
    chat_free(&c);
}

TEST(openai_chunk_text_finish_usage_timings) {
    openai_chunk_state st = {0};
    lm_buf out = {0};
    const char *a = "{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}";
    const char *b = "{\"choices\":[{\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}";
    const char *c =
        "{\"choices\":[{\"delta\":{\"content\":\"lo \\u00e9\"},\"finish_reason\":\"length\"}]}";
    const char *d = "{\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2},"
                    "\"timings\":{\"prompt_n\":3,\"prompt_per_second\":10.5,"
                    "\"predicted_per_second\":20.25}}";
    CHECK_EQ_INT(openai_parse_chunk(&st, a, strlen(a), &out), 0);
    CHECK_EQ_INT(openai_parse_chunk(&st, b, strlen(b), &out), 0);
    CHECK_EQ_INT(openai_parse_chunk(&st, c, strlen(c), &out), 0);
    CHECK_EQ_INT(openai_parse_chunk(&st, d, strlen(d), &out), 0);
    CHECK_EQ_STR(lm_buf_cstr(&out), "Hello é");
    CHECK_EQ_STR(st.finish, "length");
    CHECK_EQ_INT(st.prompt_tokens, 5);
    CHECK_EQ_INT(st.completion_tokens, 2);
    CHECK_EQ_INT(st.prompt_n, 3);
    CHECK_NEAR(st.prompt_per_second, 10.5, 1e-9);
    CHECK_NEAR(st.predicted_per_second, 20.25, 1e-9);
    CHECK(!st.done);
    CHECK_EQ_INT(openai_parse_chunk(&st, "[DONE]", 6, &out), 0);
    CHECK(st.done);
    lm_buf_free(&out);
}

TEST(openai_chunk_hostile) {
    const char *bad[] = {"{\"choices\": [tru", "[1,2]", "", "nul", "\"text\""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        openai_chunk_state st = {0};
        lm_buf out = {0};
        CHECK_EQ_INT(openai_parse_chunk(&st, bad[i], strlen(bad[i]), &out), 1);
        CHECK_MSG(strstr(st.error, "malformed JSON") != NULL, "%zu: %s", i, st.error);
        lm_buf_free(&out);
    }
    /* members of the wrong type are ignored, not trusted */
    const char *odd[] = {"{\"choices\": 3}", "{\"choices\": [{\"delta\": {\"content\": 5}}]}",
                         "{\"choices\": [{\"delta\": \"x\"}], \"usage\": 4}", "{}",
                         "{\"choices\": [{\"finish_reason\": 1}], \"timings\": []}"};
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) {
        openai_chunk_state st = {0};
        lm_buf out = {0};
        CHECK_EQ_INT(openai_parse_chunk(&st, odd[i], strlen(odd[i]), &out), 0);
        CHECK_EQ_INT(out.len, 0);
        CHECK_EQ_STR(st.finish, "");
        lm_buf_free(&out);
    }
    openai_chunk_state st = {0};
    lm_buf out = {0};
    const char *e = "{\"error\": {\"message\": \"out of\\nmemory\", \"code\": 500}}";
    CHECK_EQ_INT(openai_parse_chunk(&st, e, strlen(e), &out), 1);
    CHECK_EQ_STR(st.error, "the server stopped with an error: out of");
    lm_buf_free(&out);
}

TEST(openai_models_list) {
    char **ids;
    size_t n;
    lm_error err;
    const char *body =
        "{\"object\":\"list\",\"data\":[{\"id\":\"a\"},{\"x\":1},{\"id\":7},{\"id\":\"b\"}]}";
    CHECK_EQ_INT(openai_parse_models(body, strlen(body), &ids, &n, &err), 0);
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        CHECK_EQ_STR(ids[0], "a");
        CHECK_EQ_STR(ids[1], "b");
    }
    for (size_t i = 0; i < n; i++) free(ids[i]);
    free(ids);
    CHECK_EQ_INT(openai_parse_models("<html>", 6, &ids, &n, &err), -1);
    CHECK(strstr(err.msg, "not JSON") != NULL);
    CHECK_EQ_INT(openai_parse_models("{\"data\": 1}", 11, &ids, &n, &err), -1);
    CHECK(strstr(err.msg, "\"data\"") != NULL);
}

TEST(openai_error_messages) {
    static const char *const cases[][2] = {
        {"{\"error\": {\"message\": \"Rate limit reached\", \"type\": \"x\"}}", "Rate limit reached"},
        {"{\"error\": \"plain string\"}", "plain string"},
        {"{\"detail\": \"Not Found\"}", "Not Found"},
        {"\n  <html>Bad Gateway</html>\nmore", "<html>Bad Gateway</html>"},
        {"{\"message\": \"a\\u0007b\"}", "a b"}, /* control characters become spaces */
        {"{\"error\": {\"code\": 3}}", ""},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char msg[64];
        openai_error_message(cases[i][0], strlen(cases[i][0]), msg, sizeof msg);
        CHECK_EQ_STR(msg, cases[i][1]);
    }
    /* a long message is cut, UTF-8 characters kept whole */
    char tiny[6];
    const char *f = "{\"message\": \"abcd\\u00e9\"}";
    openai_error_message(f, strlen(f), tiny, sizeof tiny);
    CHECK_EQ_STR(tiny, "abcd");
}

#include "json.h"
#include "test.h"
#include "util.h"

#include <stdlib.h>
#include <sys/stat.h>

TEST(utf8_decode_encode) {
    const char *s = "a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80";
    uint32_t want[] = {'a', 0xE9, 0x4E2D, 0x1F600};
    size_t i = 0, k = 0;
    while (s[i]) {
        uint32_t cp;
        int n = utf8_decode(s + i, strlen(s + i), &cp);
        CHECK_EQ_INT(cp, want[k]);
        char enc[4];
        CHECK_EQ_INT(utf8_encode(cp, enc), n);
        CHECK(memcmp(enc, s + i, (size_t)n) == 0);
        i += (size_t)n;
        k++;
    }
    CHECK_EQ_INT(k, 4);
}

TEST(utf8_rejects_invalid) {
    uint32_t cp;
    CHECK_EQ_INT(utf8_decode("\xC0\x80", 2, &cp), 1); /* overlong */
    CHECK_EQ_INT(cp, 0xFFFD);
    CHECK_EQ_INT(utf8_decode("\xED\xA0\x80", 3, &cp), 1); /* surrogate */
    CHECK_EQ_INT(utf8_decode("\xE4\xB8", 2, &cp), 1);     /* truncated */
    CHECK(!utf8_valid("\xFF", 1));
    CHECK(utf8_valid("\xEF\xBF\xBD", 3)); /* U+FFFD itself is valid */
    CHECK(utf8_valid("plain", 5));
}

TEST(utf8_complete_prefix_holds_back_partial) {
    CHECK_EQ_INT(utf8_complete_prefix("ab\xE4\xB8", 4), 2);
    CHECK_EQ_INT(utf8_complete_prefix("ab\xE4\xB8\xAD", 5), 5);
    CHECK_EQ_INT(utf8_complete_prefix("\xF0\x9F\x98", 3), 0);
    CHECK_EQ_INT(utf8_complete_prefix("abc", 3), 3);
}

TEST(buf_printf_and_append) {
    lm_buf b = {0};
    lm_buf_printf(&b, "%d-%s", 42, "x");
    lm_buf_puts(&b, "yz");
    CHECK_EQ_STR(lm_buf_cstr(&b), "42-xyz");
    CHECK_EQ_INT(b.len, 6);
    lm_buf_free(&b);
}

TEST(atomic_write_replaces_and_keeps_old_on_failure) {
    char path[512];
    snprintf(path, sizeof path, "%s/atomic.txt", test_tmpdir());
    lm_error err;
    CHECK(lm_write_file_atomic(path, "one", 3, &err) == 0);
    CHECK(lm_write_file_atomic(path, "two!", 4, &err) == 0);
    char *data;
    size_t len;
    CHECK(lm_read_file(path, 1 << 20, &data, &len, &err) == 0);
    CHECK_EQ_STR(data, "two!");
    free(data);
    /* a folder that does not exist: fails, with a message naming the file */
    CHECK(lm_write_file_atomic("/nonexistent-dir/x.txt", "z", 1, &err) != 0);
    CHECK(strstr(err.msg, "/nonexistent-dir/x.txt") != NULL);
}

TEST(json_parses_nested_values) {
    const char *text = "{\"a\": [1, 2.5, -3e2], \"s\": \"x\\u00e9\\n\\ud83d\\ude00\", "
                       "\"t\": true, \"n\": null, \"o\": {}}";
    lm_error err;
    json_value *v = json_parse(text, strlen(text), &err);
    CHECK(v != NULL);
    if (!v) return;
    const json_value *a = json_get(v, "a");
    CHECK(a && a->kind == JSON_ARRAY && a->len == 3);
    if (a && a->len == 3) {
        CHECK_NEAR(a->items[1].num, 2.5, 0);
        CHECK_NEAR(a->items[2].num, -300, 0);
    }
    CHECK_EQ_STR(json_get_str(v, "s", NULL), "x\xC3\xA9\n\xF0\x9F\x98\x80");
    CHECK(json_get(v, "t")->b);
    CHECK(json_get(v, "n")->kind == JSON_NULL);
    CHECK(json_get(v, "o")->kind == JSON_OBJECT);
    CHECK(json_get(v, "missing") == NULL);
    json_free(v);
}

TEST(json_rejects_bad_input_with_position) {
    const char *bad[] = {"{", "[1,]", "{\"a\" 1}", "\"abc", "[1] x", "nul", "[\"\x01\"]", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        lm_error err = {{0}};
        json_value *v = json_parse(bad[i], strlen(bad[i]), &err);
        CHECK_MSG(v == NULL, "accepted bad JSON: %s", bad[i]);
        CHECK_MSG(strstr(err.msg, "line 1, column") != NULL, "no position for %s: %s", bad[i],
                  err.msg);
        json_free(v);
    }
    /* depth bound: no stack overflow on deep nesting */
    char deep[4001];
    memset(deep, '[', 4000);
    deep[4000] = 0;
    lm_error err;
    CHECK(json_parse(deep, 4000, &err) == NULL);
    CHECK(strstr(err.msg, "nested too deeply") != NULL);
}

TEST(json_write_str_round_trips) {
    const char raw[] = "q\"b\\n\n\x01\xC3\xA9";
    lm_buf b = {0};
    json_write_str(&b, raw, sizeof raw - 1);
    lm_error err;
    json_value *v = json_parse(b.data, b.len, &err);
    CHECK(v && v->kind == JSON_STRING && v->len == sizeof raw - 1 &&
          memcmp(v->str, raw, v->len) == 0);
    json_free(v);
    lm_buf_free(&b);
}

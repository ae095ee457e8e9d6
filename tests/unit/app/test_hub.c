/* hub: names, quant choice, the listing against the stand-in server
 * (hostile answers included). Downloads are tested end to end by
 * tests/cli/pull.sh. */
#include "hub.h"
#include "stub_server.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

TEST(hub_parse_ref_forms) {
    char *repo, *quant;
    lm_error err;
    CHECK_EQ_INT(hub_parse_ref("bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M", &repo, &quant, &err),
                 0);
    CHECK_EQ_STR(repo, "bartowski/Llama-3.2-3B-Instruct-GGUF");
    CHECK_EQ_STR(quant, "Q4_K_M");
    free(repo);
    free(quant);
    CHECK_EQ_INT(hub_parse_ref("https://huggingface.co/org/name", &repo, &quant, &err), 0);
    CHECK_EQ_STR(repo, "org/name");
    CHECK(quant == NULL);
    free(repo);
    CHECK_EQ_INT(hub_parse_ref("hf.co/org/name:q4", &repo, &quant, &err), 0);
    CHECK_EQ_STR(repo, "org/name");
    CHECK_EQ_STR(quant, "q4");
    free(repo);
    free(quant);
    const char *bad[] = {"name",   "/name", "org/",      "org/na me", "../x",
                         "org/..", "a/b/c", "org/name:", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_MSG(hub_parse_ref(bad[i], &repo, &quant, &err) == -1, "accepted '%s'", bad[i]);
        CHECK(repo == NULL && quant == NULL);
    }
}

static hub_file file_of(const char *path, uint64_t size) {
    return (hub_file){.path = (char *)path, .size = size};
}

TEST(hub_pick_quant_rules) {
    hub_file files[] = {
        file_of("README.md", 10),
        file_of("Model-Q8_0.gguf", 800),
        file_of("Model-Q4_K_S.gguf", 420),
        file_of("Model-Q4_K_M.gguf", 450),
        file_of("Model-Q4_0.gguf", 400),
        file_of("Model-Q4_K_L.gguf", 470),
        file_of("mmproj-Model-f16.gguf", 100),
    };
    hub_list l = {files, sizeof files / sizeof *files};
    lm_error err;
    char note[256];
    const hub_file *f = hub_pick(&l, "o/r", NULL, note, &err);
    CHECK(f && strcmp(f->path, "Model-Q4_K_M.gguf") == 0);
    f = hub_pick(&l, "o/r", "q8", note, &err);
    CHECK(f && strcmp(f->path, "Model-Q8_0.gguf") == 0);
    f = hub_pick(&l, "o/r", "q4_k", note, &err); /* three match: the smallest, said */
    CHECK(f && strcmp(f->path, "Model-Q4_K_S.gguf") == 0);
    CHECK(strstr(note, "3 files match") != NULL);
    f = hub_pick(&l, "o/r", "Q4_0", note, &err);
    CHECK(f && strcmp(f->path, "Model-Q4_0.gguf") == 0);
    f = hub_pick(&l, "o/r", "IQ2", note, &err);
    CHECK(f == NULL);
    CHECK(strstr(err.msg, "no file of o/r matches 'IQ2'; it has: Model-Q8_0.gguf") != NULL);
    CHECK(strstr(err.msg, "mmproj") == NULL && strstr(err.msg, "README") == NULL);
    /* without Q4_K_M: the smallest Q4 */
    files[3].path = "Model-Q5_K_M.gguf";
    f = hub_pick(&l, "o/r", NULL, note, &err);
    CHECK(f && strcmp(f->path, "Model-Q4_0.gguf") == 0);
    /* no Q4 at all and several files: a list */
    hub_file two[] = {file_of("a-Q8_0.gguf", 1), file_of("a-F16.gguf", 2)};
    hub_list l2 = {two, 2};
    CHECK(hub_pick(&l2, "o/r", NULL, note, &err) == NULL);
    CHECK(strstr(err.msg, "a-Q8_0.gguf") && strstr(err.msg, "a-F16.gguf"));
    hub_list l3 = {two, 1};
    f = hub_pick(&l3, "o/r", NULL, note, &err);
    CHECK(f && strcmp(f->path, "a-Q8_0.gguf") == 0);
    hub_list none = {files, 1};
    CHECK(hub_pick(&none, "o/r", NULL, note, &err) == NULL);
    CHECK(strstr(err.msg, "no GGUF files") != NULL);
}

TEST(hub_quant_tag_of_names) {
    char tag[64];
    CHECK_EQ_STR(hub_quant_tag("dir/Phi-3-mini-4k-instruct-Q4_K_M.gguf", tag, sizeof tag),
                 "Q4_K_M");
    CHECK_EQ_STR(hub_quant_tag("Phi-3-mini-4k-instruct-q4.gguf", tag, sizeof tag), "q4");
    CHECK_EQ_STR(hub_quant_tag("model.Q8_0.gguf", tag, sizeof tag), "Q8_0");
}

TEST(hub_list_against_stand_in_and_hostile_answers) {
    const char *conf = test_conformance_dir();
    if (!conf) return test_skip("no conformance models");
    char repo[1200];
    snprintf(repo, sizeof repo, "t/r=%s/models/phi3-e64-Q8_0.gguf", conf);
    const char *args[] = {"--repo", repo, NULL};
    stub_server s;
    if (!stub_start(&s, args)) return;
    hub_options o = {.endpoint = s.base, .token = ""};
    hub_list l;
    lm_error err;
    CHECK_EQ_INT(hub_list_files(&o, "t/r", &l, &err), 0);
    CHECK_EQ_INT(l.n, 2);
    const hub_file *f = hub_find(&l, "t/r", "phi3-e64-Q8_0.gguf", &err);
    CHECK(f && f->size > 1000 && strlen(f->sha256) == 64);
    CHECK(hub_find(&l, "t/r", "nope.gguf", &err) == NULL);
    CHECK(strstr(err.msg, "t/r has no file nope.gguf; it has: phi3-e64-Q8_0.gguf") != NULL);
    hub_list_free(&l);
    CHECK_EQ_INT(hub_list_files(&o, "t/none", &l, &err), -1);
    CHECK(strstr(err.msg, "repository t/none not found") != NULL);
    /* an endpoint that answers something else than a file list */
    char bad[128];
    snprintf(bad, sizeof bad, "%s/echo?", s.base);
    hub_options o2 = {.endpoint = bad, .token = ""};
    CHECK_EQ_INT(hub_list_files(&o2, "t/r", &l, &err), -1);
    CHECK(strstr(err.msg, "not a JSON array") != NULL);
    stub_stop(&s);
}

TEST(hub_token_sources) {
    hub_options o = {.token = NULL};
    char path[512];
    snprintf(path, sizeof path, "%s/tok", test_tmpdir());
    FILE *f = fopen(path, "w");
    fputs("  hf_from_file \n", f);
    fclose(f);
    setenv("HF_TOKEN_PATH", path, 1);
    unsetenv("HF_TOKEN");
    unsetenv("HUGGING_FACE_HUB_TOKEN");
    char *t = hub_token(&o);
    CHECK_EQ_STR(t, "hf_from_file");
    free(t);
    setenv("HF_TOKEN", "hf_env", 1);
    t = hub_token(&o);
    CHECK_EQ_STR(t, "hf_env");
    free(t);
    o.token = "";
    CHECK(hub_token(&o) == NULL);
    unsetenv("HF_TOKEN");
    unsetenv("HF_TOKEN_PATH");
    setenv("HF_ENDPOINT", "http://mirror.example/", 1);
    char *e = hub_endpoint(NULL);
    CHECK_EQ_STR(e, "http://mirror.example");
    free(e);
    unsetenv("HF_ENDPOINT");
    e = hub_endpoint(NULL);
    CHECK_EQ_STR(e, "https://huggingface.co");
    free(e);
}

TEST(hub_list_refuses_hostile_entries) {
    const char *text =
        "[{\"type\":\"file\",\"size\":1,\"path\":\"../etc/passwd.gguf\"},"
        "{\"type\":\"file\",\"size\":1,\"path\":\"a/../../b.gguf\"},"
        "{\"type\":\"file\",\"size\":-1,\"path\":\"a.gguf\"},"
        "{\"type\":\"file\",\"size\":1e300,\"path\":\"b.gguf\"},"
        "{\"type\":\"file\",\"size\":3,\"path\":\"/abs.gguf\"},"
        "{\"type\":\"file\",\"size\":3,\"path\":\"new\\nline.gguf\"},"
        "{\"type\":\"directory\",\"size\":0,\"path\":\"dir\"},"
        "{\"type\":\"file\",\"size\":3,\"path\":\"ok..name-Q4_0.gguf\","
        "\"lfs\":{\"oid\":\"ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789\","
        "\"size\":4}}]";
    hub_list l = {0};
    lm_error err;
    CHECK_EQ_INT(hub_parse_list(text, strlen(text), &l, &err), 0);
    CHECK_EQ_INT(l.n, 1);
    if (l.n == 1) {
        CHECK_EQ_STR(l.files[0].path, "ok..name-Q4_0.gguf");
        CHECK_EQ_INT(l.files[0].size, 4);
        CHECK_EQ_STR(l.files[0].sha256,
                     "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
    }
    hub_list_free(&l);
    CHECK_EQ_INT(hub_parse_list("{\"a\":1}", 7, &l, &err), -1);
    CHECK_EQ_INT(hub_parse_list("[1,", 3, &l, &err), -1);
    hub_list_free(&l);
}

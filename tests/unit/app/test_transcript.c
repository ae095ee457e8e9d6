/* Transcript tests: JSON round trips bit for bit, hostile and truncated files
 * give one clear line and leave the chat alone, saves are atomic, Markdown
 * holds what a reader needs, and the default folder follows XDG. */
#include "chat_request.h"
#include "test.h"
#include "transcript.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ---- */

static void path_in_tmp(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", test_tmpdir(), name);
}

static void write_text(const char *path, const char *text, size_t len) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(text, 1, len, f) == len);
    fclose(f);
}

static char *read_text(const char *path, size_t *len) {
    char *text = NULL;
    lm_error err = {{0}};
    CHECK_MSG(lm_read_file(path, 1u << 26, &text, len, &err) == 0, "%s", err.msg);
    return text;
}

/* A conversation with everything a transcript holds, including text that
 * needs escaping, a reply without ids, a reply with none generated and a
 * seed too large for a double. */
static void sample_chat(chat *c, transcript_meta *meta) {
    chat_init(c, CHAT_TEMPLATE_LLAMA3);
    chat_set_system(c, "Be \"brief\".\n\tTabs, \\ and \x01 and ünïcødé ✓.");
    chat_message *m = chat_add(c, CHAT_ROLE_USER, "Hello <|eot_id|>\r\n  ");
    m->time = 1700000000.123456789;
    m = chat_add(c, CHAT_ROLE_ASSISTANT, " Hi there. ");
    m->time = 1700000003.987654321;
    m->gen_tps = 12.3456789012345;
    m->n_tokens = 4;
    int32_t ids[] = {0, 128009, 2147483647, 42};
    chat_message_set_ids(m, ids, 4);
    chat_add(c, CHAT_ROLE_USER, "")->time = 1700000010.5;
    m = chat_add(c, CHAT_ROLE_ASSISTANT, "");
    chat_message_set_ids(m, NULL, 0); /* known: nothing was generated */
    chat_add(c, CHAT_ROLE_USER, "typed, no ids follow");
    chat_add(c, CHAT_ROLE_ASSISTANT, "a reply typed by hand");
    memset(meta, 0, sizeof *meta);
    snprintf(meta->model_path, sizeof meta->model_path, "/models/llama 3 \"8b\".gguf");
    snprintf(meta->model_name, sizeof meta->model_name, "Meta-Llama-3-8B-Instruct");
    snprintf(meta->precision, sizeof meta->precision, "int4");
    meta->sampling = sampler_default_params();
    meta->sampling.temperature = 0.7f;
    meta->sampling.top_p = 0.9f;
    meta->sampling.seed = 0x8000000000000005ull;
    meta->created = 1699999999.25;
}

static bool same_message(const chat_message *a, const chat_message *b) {
    if (a->role != b->role || strcmp(a->content, b->content) != 0 || a->time != b->time ||
        a->gen_tps != b->gen_tps || a->n_tokens != b->n_tokens ||
        (a->ids == NULL) != (b->ids == NULL) || a->n_ids != b->n_ids)
        return false;
    return a->n_ids == 0 || memcmp(a->ids, b->ids, a->n_ids * sizeof *a->ids) == 0;
}

static bool same_chat(const chat *a, const chat *b) {
    if (a->tmpl != b->tmpl || a->n != b->n) return false;
    if ((a->system_prompt == NULL) != (b->system_prompt == NULL)) return false;
    if (a->system_prompt && strcmp(a->system_prompt, b->system_prompt) != 0) return false;
    for (size_t i = 0; i < a->n; i++)
        if (!same_message(&a->msgs[i], &b->msgs[i])) return false;
    return true;
}

static bool same_meta(const transcript_meta *a, const transcript_meta *b) {
    const sampler_params *x = &a->sampling, *y = &b->sampling;
    return !strcmp(a->model_path, b->model_path) && !strcmp(a->model_name, b->model_name) &&
           !strcmp(a->precision, b->precision) && a->created == b->created &&
           x->temperature == y->temperature && x->top_k == y->top_k && x->top_p == y->top_p &&
           x->min_p == y->min_p && x->repeat_penalty == y->repeat_penalty &&
           x->repeat_last_n == y->repeat_last_n && x->seed == y->seed;
}

/* A small chat that a failed load must leave exactly as it was. */
static void sentinel_chat(chat *c) {
    chat_init(c, CHAT_TEMPLATE_PHI3);
    chat_set_system(c, "sentinel system");
    chat_add(c, CHAT_ROLE_USER, "sentinel question");
}

/* Loads text written to a file; expects a failure whose one-line message
 * names the file and contains `want` (when not NULL), with the chat intact. */
static void expect_load_failure(const char *text, size_t len, const char *want) {
    char path[512];
    path_in_tmp(path, sizeof path, "bad.json");
    write_text(path, text, len);
    chat c, before;
    sentinel_chat(&c);
    sentinel_chat(&before);
    c.msgs[0].time = before.msgs[0].time;
    transcript_meta meta = {.precision = "fp16"};
    lm_error err = {{0}};
    int rc = transcript_load_json(path, &c, &meta, &err);
    CHECK_MSG(rc != 0, "loading \"%.60s\" (%zu bytes) succeeded", text, len);
    CHECK_MSG(strncmp(err.msg, path, strlen(path)) == 0 && !strchr(err.msg, '\n'),
              "error does not name the file on one line: %s", err.msg);
    CHECK_MSG(!want || strstr(err.msg, want), "error \"%s\" lacks \"%s\"", err.msg, want);
    CHECK(same_chat(&c, &before));
    CHECK_EQ_STR(meta.precision, "fp16");
    chat_free(&c);
    chat_free(&before);
}

/* ---- round trip ---- */

TEST(transcript_json_round_trip_is_identical) {
    chat c, loaded;
    transcript_meta meta, meta2;
    sample_chat(&c, &meta);
    char path[512], path2[512];
    path_in_tmp(path, sizeof path, "round.json");
    path_in_tmp(path2, sizeof path2, "round2.json");
    lm_error err = {{0}};
    CHECK_MSG(transcript_save_json(&c, &meta, path, &err) == 0, "%s", err.msg);
    sentinel_chat(&loaded);
    CHECK_MSG(transcript_load_json(path, &loaded, &meta2, &err) == 0, "%s", err.msg);
    CHECK(same_chat(&c, &loaded));
    CHECK(same_meta(&meta, &meta2));
    CHECK(loaded.msgs[3].ids != NULL && loaded.msgs[3].n_ids == 0);
    CHECK(loaded.msgs[5].ids == NULL);
    /* and saving what was loaded writes the same bytes */
    CHECK_MSG(transcript_save_json(&loaded, &meta2, path2, &err) == 0, "%s", err.msg);
    size_t n1 = 0, n2 = 0;
    char *t1 = read_text(path, &n1), *t2 = read_text(path2, &n2);
    CHECK(t1 && t2 && n1 == n2 && memcmp(t1, t2, n1) == 0);
    /* the same conversation gives the same request */
    engine_request r1, r2;
    chat_build_request(&c, &r1);
    chat_build_request(&loaded, &r2);
    CHECK_EQ_INT(r1.n_blocks, r2.n_blocks);
    engine_request_free(&r1);
    engine_request_free(&r2);
    free(t1);
    free(t2);
    chat_free(&c);
    chat_free(&loaded);
}

TEST(transcript_json_without_system_prompt_or_messages) {
    chat c, loaded;
    chat_init(&c, CHAT_TEMPLATE_PHI3);
    transcript_meta meta = {0};
    meta.sampling = sampler_default_params();
    char path[512];
    path_in_tmp(path, sizeof path, "empty.json");
    lm_error err = {{0}};
    CHECK_MSG(transcript_save_json(&c, &meta, path, &err) == 0, "%s", err.msg);
    sentinel_chat(&loaded);
    CHECK_MSG(transcript_load_json(path, &loaded, NULL, &err) == 0, "%s", err.msg);
    CHECK(same_chat(&c, &loaded));
    chat_free(&c);
    chat_free(&loaded);
}

/* ---- hostile files ---- */

TEST(transcript_truncated_json_is_refused) {
    chat c;
    transcript_meta meta;
    sample_chat(&c, &meta);
    char path[512];
    path_in_tmp(path, sizeof path, "whole.json");
    lm_error err = {{0}};
    CHECK(transcript_save_json(&c, &meta, path, &err) == 0);
    size_t len = 0;
    char *text = read_text(path, &len);
    size_t close = text ? (size_t)(strrchr(text, '}') - text) : 0;
    /* every cut before the closing brace is refused */
    for (size_t cut = 0; text && cut <= close; cut++) expect_load_failure(text, cut, NULL);
    free(text);
    chat_free(&c);
}

TEST(transcript_bad_contents_are_refused) {
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"", "unexpected end"},
        {"[]", "not an lmterm transcript"},
        {"{\"format\": \"other\", \"version\": 1}", "not an lmterm transcript"},
        {"{\"format\": \"lmterm-transcript\"}", "version"},
        {"{\"format\": \"lmterm-transcript\", \"version\": 2, \"template\": \"phi3\", "
         "\"messages\": []}",
         "version 2 is not supported"},
        {"{\"format\": \"lmterm-transcript\", \"version\": 1, \"messages\": []}", "template"},
        {"{\"format\": \"lmterm-transcript\", \"version\": 1, \"template\": \"chatml\", "
         "\"messages\": []}",
         "template"},
        {"{\"format\": \"lmterm-transcript\", \"version\": 1, \"template\": \"phi3\"}", "messages"},
        {"{\"format\": \"lmterm-transcript\", \"version\": 1, \"template\": \"phi3\", "
         "\"messages\": {}}",
         "messages: should be an array"},
        {"{\"format\": \"lmterm-transcript\", \"version\": 1, \"template\": \"phi3\", "
         "\"messages\": [{\"role\": \"system\", \"content\": \"x\"}]}",
         "messages[0].role"},
        {"{\"format\": \"lmterm-transcript\", \"version\": 1, \"template\": \"phi3\", "
         "\"messages\": [{\"role\": \"user\"}]}",
         "messages[0].content: missing"},
        {"{\"format\": \"lmterm-transcript\", \"version\": 1, \"template\": \"phi3\", "
         "\"messages\": [{\"role\": \"user\", \"content\": \"a\\u0000b\"}]}",
         "NUL"},
        {"{\"format\": \"lmterm-transcript\", \"version\": 1, \"template\": \"phi3\", "
         "\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, 7]}",
         "messages[1]: should be an object"},
        {"{\"format\": \"lmterm-transcript\", \"version\": 1, \"template\": \"phi3\", "
         "\"messages\": [{\"role\": \"assistant\", \"content\": \"a\", \"ids\": [1, -1]}]}",
         "messages[0].ids"},
        {"{\"format\": \"lmterm-transcript\", \"version\": 1, \"template\": \"phi3\", "
         "\"messages\": [{\"role\": \"assistant\", \"content\": \"a\", \"ids\": [1.5]}]}",
         "ids"},
        {"{\"format\": \"lmterm-transcript\", \"version\": 1, \"template\": \"phi3\", "
         "\"messages\": [{\"role\": \"assistant\", \"content\": \"a\", \"ids\": [4294967296]}]}",
         "ids"},
        {"{\"format\": \"lmterm-transcript\", \"version\": 1, \"template\": \"phi3\", "
         "\"messages\": [{\"role\": \"user\", \"content\": \"a\", \"ids\": [1]}]}",
         "only replies"},
        {"{\"format\": \"lmterm-transcript\", \"version\": 1, \"template\": \"phi3\", "
         "\"messages\": [{\"role\": \"assistant\", \"content\": \"a\", \"n_tokens\": \"3\"}]}",
         "n_tokens: should be a number"},
        {"{\"format\": \"lmterm-transcript\", \"version\": 1, \"template\": \"phi3\", "
         "\"messages\": [], \"sampling\": {\"top_p\": 1e999}}",
         "sampling.top_p: is out of range"},
        {"{\"format\": \"lmterm-transcript\", \"version\": 1, \"template\": \"phi3\", "
         "\"messages\": [], \"sampling\": {\"seed\": \"12x\"}}",
         "sampling.seed"},
        {"{\"format\": \"lmterm-transcript\", \"version\": 1, \"template\": \"phi3\", "
         "\"messages\": [], \"model\": {\"precision\": \"int3\"}}",
         "model.precision"},
        {"{\"format\": \"lmterm-transcript\", \"version\": 1, \"template\": \"phi3\", "
         "\"messages\": [], \"system_prompt\": 5}",
         "system_prompt: should be a string"},
        {"{\"format\": \"lmterm-transcript\", \"version\": 1, \"template\": \"phi3\", "
         "\"messages\": []} trailing",
         "unexpected text"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        expect_load_failure(cases[i].json, strlen(cases[i].json), cases[i].want);
    /* a model path longer than the field */
    lm_buf long_path = {0};
    lm_buf_puts(&long_path, "{\"format\": \"lmterm-transcript\", \"version\": 1, \"template\": "
                            "\"phi3\", \"messages\": [], \"model\": {\"path\": \"");
    for (int i = 0; i < 2000; i++) lm_buf_puts(&long_path, "a");
    lm_buf_puts(&long_path, "\"}}");
    expect_load_failure(long_path.data, long_path.len, "model.path: is too long");
    lm_buf_free(&long_path);
}

TEST(transcript_huge_file_is_refused) {
    char path[512];
    path_in_tmp(path, sizeof path, "huge.json");
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(ftruncate(fileno(f), (off_t)65 << 20) == 0); /* sparse: no disk used */
    fclose(f);
    chat c;
    sentinel_chat(&c);
    lm_error err = {{0}};
    CHECK(transcript_load_json(path, &c, NULL, &err) != 0);
    CHECK_MSG(strstr(err.msg, "larger than") != NULL, "%s", err.msg);
    CHECK_EQ_INT(c.n, 1);
    chat_free(&c);
    unlink(path);
}

TEST(transcript_missing_file_names_it) {
    chat c;
    sentinel_chat(&c);
    lm_error err = {{0}};
    char path[512];
    path_in_tmp(path, sizeof path, "no-such-file.json");
    CHECK(transcript_load_json(path, &c, NULL, &err) != 0);
    CHECK(strncmp(err.msg, path, strlen(path)) == 0);
    CHECK_EQ_INT(c.n, 1);
    chat_free(&c);
}

/* ---- atomic saves ---- */

/* Saving into a folder we may not write to fails and keeps the old file. The
 * save runs in a child that drops root (root writes anywhere). */
static void check_readonly_save(bool markdown) {
    char dir[512], path[600];
    path_in_tmp(dir, sizeof dir, markdown ? "ro-md" : "ro-json");
    snprintf(path, sizeof path, "%s/chat.%s", dir, markdown ? "md" : "json");
    CHECK(mkdir(dir, 0755) == 0);
    write_text(path, "previous", 8);
    chmod(test_tmpdir(), 0711);
    CHECK(chmod(dir, 0555) == 0);
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(3);
        chat c;
        transcript_meta meta;
        sample_chat(&c, &meta);
        lm_error err = {{0}};
        int rc = markdown ? transcript_save_markdown(&c, &meta, path, &err)
                          : transcript_save_json(&c, &meta, path, &err);
        ssize_t w = write(fds[1], err.msg, strlen(err.msg));
        (void)w;
        _exit(rc == 0 ? 0 : 1); /* _exit: the parent owns the temporary folder */
    }
    close(fds[1]);
    char msg[600] = {0};
    ssize_t n = read(fds[0], msg, sizeof msg - 1);
    (void)n;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 1, "save into a read-only folder: %d",
              status);
    CHECK_MSG(strncmp(msg, path, strlen(path)) == 0 && strstr(msg, "ermission denied"),
              "unclear message: %s", msg);
    size_t len = 0;
    char *text = read_text(path, &len);
    CHECK(text && len == 8 && memcmp(text, "previous", 8) == 0);
    free(text);
    chmod(dir, 0755);
}

TEST(transcript_save_to_readonly_folder_keeps_old_file) {
    check_readonly_save(false);
    check_readonly_save(true);
}

TEST(transcript_save_replaces_file) {
    chat c;
    transcript_meta meta;
    sample_chat(&c, &meta);
    char path[512];
    path_in_tmp(path, sizeof path, "replace.json");
    write_text(path, "old", 3);
    lm_error err = {{0}};
    CHECK(transcript_save_json(&c, &meta, path, &err) == 0);
    chat loaded;
    chat_init(&loaded, CHAT_TEMPLATE_PHI3);
    CHECK(transcript_load_json(path, &loaded, NULL, &err) == 0);
    CHECK(same_chat(&c, &loaded));
    chat_free(&loaded);
    chat_free(&c);
}

/* ---- Markdown ---- */

TEST(transcript_markdown_has_what_a_reader_needs) {
    chat c;
    transcript_meta meta;
    sample_chat(&c, &meta);
    char path[512];
    path_in_tmp(path, sizeof path, "chat.md");
    lm_error err = {{0}};
    CHECK_MSG(transcript_save_markdown(&c, &meta, path, &err) == 0, "%s", err.msg);
    size_t len = 0;
    char *md = read_text(path, &len);
    if (!md) return;
    static const char *const want[] = {"Meta-Llama-3-8B-Instruct",
                                       "/models/llama 3 \"8b\".gguf",
                                       "Precision: int4",
                                       "temperature 0.7",
                                       "top-p 0.9",
                                       "seed 9223372036854775813",
                                       "Template: llama3",
                                       "## System prompt",
                                       "> Be \"brief\".\n> \tTabs",
                                       "## User · ",
                                       "Hello <|eot_id|>",
                                       "## Assistant · ",
                                       "4 tokens, 12.3 tok/s",
                                       "a reply typed by hand"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        CHECK_MSG(strstr(md, want[i]) != NULL, "Markdown lacks \"%s\"", want[i]);
    /* a time of day on each turn */
    CHECK(strstr(md, "## User · 2023-11-1") != NULL);
    free(md);
    chat_free(&c);
}

/* ---- the default folder ---- */

static void restore_env(const char *name, char *saved) {
    if (saved)
        setenv(name, saved, 1);
    else
        unsetenv(name);
    free(saved);
}

static char *save_env(const char *name) {
    const char *v = getenv(name);
    return v ? lm_xstrdup(v) : NULL;
}

TEST(transcript_default_dir_follows_xdg) {
    char *xdg = save_env("XDG_DATA_HOME"), *home = save_env("HOME");
    char base[512], want[600];
    lm_error err = {{0}};
    struct stat st;

    path_in_tmp(base, sizeof base, "xdg-data");
    setenv("XDG_DATA_HOME", base, 1);
    char *dir = transcript_default_dir(&err);
    snprintf(want, sizeof want, "%s/lmterm/transcripts", base);
    CHECK_EQ_STR(dir, want);
    CHECK(dir && stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
    free(dir);

    path_in_tmp(base, sizeof base, "home");
    setenv("HOME", base, 1);
    setenv("XDG_DATA_HOME", "relative/ignored", 1);
    dir = transcript_default_dir(&err);
    snprintf(want, sizeof want, "%s/.local/share/lmterm/transcripts", base);
    CHECK_EQ_STR(dir, want);
    CHECK(dir && stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
    free(dir);

    restore_env("XDG_DATA_HOME", xdg);
    restore_env("HOME", home);
}

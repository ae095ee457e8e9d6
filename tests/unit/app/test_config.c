/* config: defaults, layers key by key, every kind of bad file, limits,
 * paths, key bindings, model scanning and "save as default". */
#include "config.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers ---- */

/* Sets an environment variable for one test and puts the old value back. */
typedef struct saved_env {
    const char *name;
    char *old;
} saved_env;

static saved_env env_set(const char *name, const char *value) {
    const char *old = getenv(name);
    saved_env s = {name, old ? strdup(old) : NULL};
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
    return s;
}

static void env_restore(saved_env s) {
    if (s.old)
        setenv(s.name, s.old, 1);
    else
        unsetenv(s.name);
    free(s.old);
}

static int apply(config *c, const char *text, lm_error *err) {
    return config_apply_text(c, "/cfg/test.yaml", text, strlen(text), err);
}

/* Applies text to the defaults and returns the error ("" when it applied). */
static const char *error_of(const char *text) {
    static lm_error err;
    config c;
    config_init_defaults(&c);
    err.msg[0] = 0;
    if (apply(&c, text, &err) == 0) err.msg[0] = 0;
    config_free(&c);
    return err.msg;
}

static bool contains(const char *hay, const char *needle) {
    return strstr(hay, needle) != NULL;
}

#define CHECK_ERROR(text, expect)                                                                  \
    do {                                                                                           \
        const char *m_ = error_of(text);                                                           \
        CHECK_MSG(contains(m_, expect), "for %s: got \"%s\", want \"%s\"", #text, m_, expect);     \
    } while (0)

static void write_file(const char *path, const char *text) {
    lm_error err;
    CHECK(lm_write_file_atomic(path, text, strlen(text), &err) == 0);
}

static char *tmp_path(const char *name) {
    static char paths[8][512];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 512, "%s/%s", test_tmpdir(), name);
    return p;
}

/* The source tree's data folder (config/, themes/), found as the installed
 * program would find it. */
static char *source_data_dir(void) {
    saved_env e = env_set("LMTERM_DATADIR", NULL);
    char *d = config_data_dir();
    env_restore(e);
    if (!d && access("config/lmterm.yaml", R_OK) == 0) d = realpath(".", NULL);
    return d;
}

static bool same_settings(const config_settings *a, const config_settings *b) {
    const sampler_params *x = &a->sampling, *y = &b->sampling;
    return x->temperature == y->temperature && x->top_k == y->top_k && x->top_p == y->top_p &&
           x->min_p == y->min_p && x->repeat_penalty == y->repeat_penalty &&
           x->repeat_last_n == y->repeat_last_n && a->seed_random == b->seed_random &&
           (a->seed_random || x->seed == y->seed) && a->n_predict == b->n_predict &&
           a->threads == b->threads && a->n_ctx == b->n_ctx;
}

static bool same_config(const config *a, const config *b) {
    if (a->n_models != b->n_models || a->n_model_dirs != b->n_model_dirs ||
        a->n_presets != b->n_presets || a->precision != b->precision ||
        a->cache_type != b->cache_type ||
        a->autosave != b->autosave || !same_settings(&a->settings, &b->settings))
        return false;
    for (size_t i = 0; i < a->n_model_dirs; i++)
        if (strcmp(a->model_dirs[i], b->model_dirs[i]) != 0) return false;
    for (size_t i = 0; i < a->n_presets; i++)
        if (strcmp(a->presets[i].name, b->presets[i].name) ||
            strcmp(a->presets[i].text, b->presets[i].text))
            return false;
    if ((a->default_model == NULL) != (b->default_model == NULL)) return false;
    if ((a->system_prompt == NULL) != (b->system_prompt == NULL)) return false;
    if (a->system_prompt && strcmp(a->system_prompt, b->system_prompt)) return false;
    return strcmp(a->theme, b->theme) == 0 && strcmp(a->transcripts_dir, b->transcripts_dir) == 0 &&
           memcmp(a->keys, b->keys, sizeof a->keys) == 0;
}

/* ---- defaults ---- */

TEST(config_defaults) {
    config c;
    config_init_defaults(&c);
    sampler_params d = sampler_default_params();
    CHECK(c.settings.sampling.temperature == d.temperature);
    CHECK_EQ_INT(c.settings.sampling.top_k, d.top_k);
    CHECK(c.settings.seed_random);
    CHECK_EQ_INT(c.settings.n_predict, -1);
    CHECK_EQ_INT(c.settings.threads, 0);
    CHECK_EQ_INT(c.precision, MODEL_PRECISION_NATIVE);
    CHECK_EQ_STR(c.theme, "default");
    CHECK_EQ_STR(config_system_prompt_text(&c), "You are a helpful assistant.");
    CHECK(c.autosave);
    CHECK(c.transcripts_dir && contains(c.transcripts_dir, "lmterm/transcripts"));
    CHECK_EQ_INT(config_action_for_key(&c, CONFIG_KEY_F(1)), CONFIG_ACTION_HELP);
    CHECK_EQ_INT(config_action_for_key(&c, CONFIG_KEY_ESC), CONFIG_ACTION_STOP);
    CHECK_EQ_INT(config_action_for_key(&c, 3 /* Ctrl-C */), CONFIG_ACTION_STOP);
    CHECK_EQ_INT(config_action_for_key(&c, 19 /* Ctrl-S */), CONFIG_ACTION_SAVE);
    CHECK(config_default_model(&c) == NULL);
    config_free(&c);
}

/* The shipped config/lmterm.yaml documents the defaults: loading it changes
 * nothing and warns of nothing. */
TEST(config_shipped_file_is_the_defaults) {
    char *dir = source_data_dir();
    if (!dir) {
        test_skip("source tree not found");
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/config/lmterm.yaml", dir);
    config builtin, shipped;
    config_init_defaults(&builtin);
    config_init_defaults(&shipped);
    lm_error err = {{0}};
    CHECK_MSG(config_apply_file(&shipped, path, &err) == 0, "%s", err.msg);
    CHECK(same_config(&builtin, &shipped));
    CHECK_EQ_INT(shipped.warnings.n, 0);
    config_free(&builtin);
    config_free(&shipped);
    free(dir);
}

/* ---- layers ---- */

TEST(config_overrides_key_by_key) {
    config c;
    config_init_defaults(&c);
    lm_error err;
    CHECK(apply(&c, "sampling: {top_k: 10}\nthreads: 3\n", &err) == 0);
    CHECK(apply(&c, "sampling:\n  temperature: 0.25\ntheme: light\n", &err) == 0);
    CHECK_EQ_INT(c.settings.sampling.top_k, 10);
    CHECK_NEAR(c.settings.sampling.temperature, 0.25, 1e-6);
    CHECK_NEAR(c.settings.sampling.top_p, 0.95, 1e-6); /* untouched */
    CHECK_EQ_INT(c.settings.threads, 3);
    CHECK_EQ_STR(c.theme, "light");
    CHECK(apply(&c, "theme: themes/mine.yaml\n", &err) == 0);
    CHECK_EQ_STR(c.theme, "/cfg/themes/mine.yaml"); /* relative to the file */
    CHECK(apply(&c, "sampling: {seed: 1234}\nprecision: int8\nautosave: no\n", &err) == 0);
    CHECK(!c.settings.seed_random);
    CHECK(c.settings.sampling.seed == 1234);
    CHECK_EQ_INT(c.precision, MODEL_PRECISION_INT8);
    CHECK(!c.autosave);
    CHECK_EQ_INT(c.cache_type, MODEL_CACHE_F16); /* the default */
    CHECK(apply(&c, "cache_type: q8_0\n", &err) == 0);
    CHECK_EQ_INT(c.cache_type, MODEL_CACHE_Q8_0);
    CHECK(apply(&c, "sampling: {seed: 18446744073709551615}\n", &err) == 0);
    CHECK(c.settings.sampling.seed == UINT64_MAX);
    config_free(&c);
}

TEST(config_empty_files_change_nothing) {
    config a, b;
    config_init_defaults(&a);
    config_init_defaults(&b);
    lm_error err;
    CHECK(apply(&b, "", &err) == 0);
    CHECK(apply(&b, "# only a comment\n", &err) == 0);
    CHECK(apply(&b, "~\n", &err) == 0);
    CHECK(same_config(&a, &b));
    config_free(&a);
    config_free(&b);
}

TEST(config_presets_merge_by_name) {
    config c;
    config_init_defaults(&c);
    lm_error err;
    CHECK(apply(&c,
                "system_prompts:\n  pirate: Talk like a pirate.\n  concise: ~\n"
                "  poem: |\n    Answer in verse.\n    Always.\nsystem_prompt: pirate\n",
                &err) == 0);
    CHECK_EQ_STR(config_find_preset(&c, "pirate"), "Talk like a pirate.");
    CHECK(config_find_preset(&c, "concise") == NULL);
    CHECK_EQ_STR(config_find_preset(&c, "poem"), "Answer in verse.\nAlways.\n");
    CHECK_EQ_STR(config_find_preset(&c, "assistant"), "You are a helpful assistant.");
    CHECK_EQ_STR(config_system_prompt_text(&c), "Talk like a pirate.");
    CHECK(apply(&c, "system_prompt: ''\n", &err) == 0);
    CHECK(config_system_prompt_text(&c) == NULL);
    /* removing the preset in use leaves no system prompt, with a warning */
    CHECK(apply(&c, "system_prompt: pirate\n", &err) == 0);
    CHECK(apply(&c, "system_prompts: {pirate: null}\n", &err) == 0);
    CHECK(c.system_prompt == NULL);
    CHECK(c.warnings.n == 1);
    config_free(&c);
}

TEST(config_models_merge_by_name) {
    config c;
    config_init_defaults(&c);
    lm_error err = {{0}};
    CHECK_MSG(apply(&c,
                    "models:\n"
                    "  - {name: a, path: /m/a.gguf, precision: int4, context: 2048}\n"
                    "  - path: /m/Phi-3-mini.Q4_0.gguf\n"
                    "    template: llama3\n",
                    &err) == 0,
              "%s", err.msg);
    CHECK_EQ_INT(c.n_models, 2);
    CHECK_EQ_STR(c.models[1].name, "Phi-3-mini.Q4_0");
    CHECK_EQ_STR(c.models[1].template_name, "llama3");
    CHECK_EQ_INT(c.models[1].precision, -1);
    CHECK_MSG(
        apply(&c,
              "models:\n  - {name: a, path: models/new.gguf}\n  - {name: c, path: /m/c.gguf}\n"
              "default_model: c\n",
              &err) == 0,
        "%s", err.msg);
    CHECK_EQ_INT(c.n_models, 3);
    const config_model *a = config_find_model(&c, "a");
    CHECK(a && strcmp(a->path, "/cfg/models/new.gguf") == 0); /* relative to the file */
    CHECK(a && a->precision == -1 && a->n_ctx == 0);          /* replaced whole */
    CHECK_EQ_STR(config_default_model(&c)->name, "c");
    config_free(&c);
    CHECK_ERROR("models:\n  - {name: x, path: /a}\n  - {name: x, path: /b}\n",
                "test.yaml:3:5: models[2]: a second model named 'x'");
    CHECK_ERROR("models:\n  - {name: x}\n", "test.yaml:2:5: models[1]: a model needs a path");
    CHECK_ERROR("models: [{path: /a, template: chatml}]\n",
                "template: expected auto, phi3 or llama3");
    CHECK_ERROR("models: [{path: /a, precision: int3}]\n",
                "expected native, fp32, fp16, int8 or int4");
    CHECK_ERROR("models: {a: /b}\n", "test.yaml:1:9: models: expected a list of models");
    CHECK_ERROR("cache_type: q4_0\n", "test.yaml:1:13: cache_type: expected f16, q8_0 or f32");
}

TEST(config_key_bindings) {
    CHECK_EQ_INT(config_key_parse("F1"), CONFIG_KEY_F(1));
    CHECK_EQ_INT(config_key_parse("f12"), CONFIG_KEY_F(12));
    CHECK_EQ_INT(config_key_parse("F25"), -1);
    CHECK_EQ_INT(config_key_parse("Ctrl-S"), 19);
    CHECK_EQ_INT(config_key_parse("C-s"), 19);
    CHECK_EQ_INT(config_key_parse("^S"), 19);
    CHECK_EQ_INT(config_key_parse("Ctrl-@"), -1);
    CHECK_EQ_INT(config_key_parse("Alt-R"), CONFIG_KEY_ALT | 'r');
    CHECK_EQ_INT(config_key_parse("M-r"), CONFIG_KEY_ALT | 'r');
    CHECK_EQ_INT(config_key_parse("escape"), CONFIG_KEY_ESC);
    CHECK_EQ_INT(config_key_parse("a"), -1);
    CHECK_EQ_INT(config_key_parse(""), -1);
    char buf[16];
    CHECK_EQ_STR(config_key_name(19, buf), "Ctrl-S");
    CHECK_EQ_STR(config_key_name(CONFIG_KEY_F(5), buf), "F5");
    CHECK_EQ_STR(config_key_name(CONFIG_KEY_ALT | 'r', buf), "Alt-R");
    CHECK_EQ_STR(config_key_name(CONFIG_KEY_ESC, buf), "Esc");
    for (int a = 0; a < CONFIG_N_ACTIONS; a++)
        CHECK_EQ_INT(config_action_from_name(config_action_name((enum config_action)a)), a);

    config c;
    config_init_defaults(&c);
    lm_error err = {{0}};
    /* a later file's key is taken from the action an earlier file gave it */
    CHECK_MSG(apply(&c, "keys:\n  save: [F1, C-w]\n  regenerate: ~\n", &err) == 0, "%s", err.msg);
    CHECK_EQ_INT(config_action_for_key(&c, CONFIG_KEY_F(1)), CONFIG_ACTION_SAVE);
    CHECK_EQ_INT(config_action_for_key(&c, 23), CONFIG_ACTION_SAVE);
    CHECK_EQ_INT(config_action_for_key(&c, 19), -1); /* Ctrl-S no longer bound */
    CHECK_EQ_INT(c.keys[CONFIG_ACTION_HELP][0], 0);
    CHECK_EQ_INT(c.keys[CONFIG_ACTION_REGENERATE][0], 0);
    CHECK_EQ_INT(config_action_for_key(&c, CONFIG_KEY_F(2)), CONFIG_ACTION_MODEL_MENU);
    CHECK(apply(&c, "keys: {frobnicate: F9}\n", &err) == 0);
    CHECK(c.warnings.n == 1 && contains(c.warnings.items[0], "unknown key 'keys.frobnicate'"));
    config_free(&c);
    CHECK_ERROR("keys: {help: F9, save: F9}\n", "keys: F9 is bound to both help and save");
    CHECK_ERROR("keys: {help: A}\n", "test.yaml:1:14: keys.help: 'A' is not a key name");
    CHECK_ERROR("keys: {help: Ctrl-M}\n", "keys.help: Ctrl-M is needed for typing");
    CHECK_ERROR("keys: {help: [F1, F2, F3, F4, F5]}\n", "expected a key or a list of up to 4 keys");
    CHECK_ERROR("keys: {help: F1, help: F2}\n", "keys.help: key given twice");
}

/* ---- bad files ---- */

TEST(config_bad_yaml_keeps_defaults) {
    config c, d;
    config_init_defaults(&c);
    config_init_defaults(&d);
    lm_error err;
    /* valid keys before the error must not be applied either */
    CHECK(apply(&c, "threads: 4\ntheme: light\nsampling: [1, 2\n", &err) == -1);
    CHECK_MSG(strncmp(err.msg, "/cfg/test.yaml:", 15) == 0, "%s", err.msg);
    CHECK_MSG(contains(err.msg, ":4:1: did not find expected ',' or ']'"), "%s", err.msg);
    CHECK(same_config(&c, &d));
    CHECK(apply(&c, "threads: 4\n  bad indent: 1\n", &err) == -1);
    CHECK_MSG(contains(err.msg, "test.yaml:2:"), "%s", err.msg);
    CHECK(apply(&c, "a: \"unterminated\n", &err) == -1);
    CHECK(apply(&c, "\xff\xfe bad utf-8: \xc3\x28\n", &err) == -1);
    CHECK_MSG(contains(err.msg, "test.yaml:1:"), "%s", err.msg);
    CHECK(apply(&c, "a: 1\n---\nb: 2\n", &err) == -1);
    CHECK_MSG(contains(err.msg, "only one YAML document"), "%s", err.msg);
    CHECK(same_config(&c, &d));
    config_free(&c);
    config_free(&d);
}

TEST(config_wrong_types) {
    CHECK_ERROR("threads: four\n",
                "test.yaml:1:10: threads: expected a whole number from 0 to 1024, not 'four'");
    CHECK_ERROR("threads: '4'\n", "threads: expected a whole number from 0 to 1024, not '4'");
    CHECK_ERROR("threads: [4]\n",
                "test.yaml:1:10: threads: expected a whole number from 0 to 1024, found a list");
    CHECK_ERROR("threads: 2000\n", "threads: expected a whole number from 0 to 1024, not '2000'");
    CHECK_ERROR("threads: 99999999999999999999999\n", "threads: expected");
    CHECK_ERROR("context: 8\n", "context: expected 0 (automatic) or at least 16");
    CHECK_ERROR("max_tokens: -2\n", "max_tokens: expected a whole number from -1");
    CHECK_ERROR("sampling: 3\n", "test.yaml:1:11: sampling: expected a map of keys");
    CHECK_ERROR("sampling: {top_p: 2}\n", "sampling.top_p: expected a number from 0 to 1, not '2'");
    CHECK_ERROR("sampling: {temperature: nan}\n", "sampling.temperature: expected a number");
    CHECK_ERROR("sampling: {temperature: .inf}\n", "sampling.temperature: expected a number");
    CHECK_ERROR("sampling: {temperature: 0x1p3}\n", "sampling.temperature: expected a number");
    CHECK_ERROR("sampling: {seed: -1}\n", "sampling.seed: expected random or a whole number");
    CHECK_ERROR("sampling: {seed: 18446744073709551616}\n", "sampling.seed: expected random");
    CHECK_ERROR("autosave: maybe\n", "autosave: expected true or false, not 'maybe'");
    CHECK_ERROR("autosave: 'yes'\n", "autosave: expected true or false");
    CHECK_ERROR("theme: {a: 1}\n", "theme: expected text, found a map");
    CHECK_ERROR("theme: ''\n", "theme: must not be empty");
    CHECK_ERROR("theme: \"a\\tb\"\n", "theme: control character in the text");
    CHECK_ERROR("system_prompt: nope\n", "system_prompt: no preset named 'nope' in system_prompts");
    CHECK_ERROR("model_dirs: /a\n", "model_dirs: expected a list of folders");
    CHECK_ERROR("model_dirs: [$LMTERM_SURELY_UNSET_VAR/x]\n",
                "model_dirs: environment variable LMTERM_SURELY_UNSET_VAR is not set");
    CHECK_ERROR("precision: q4\n", "precision: expected native, fp32, fp16, int8 or int4");
    CHECK_ERROR("[1, 2]\n", "test.yaml:1:1: the file: expected a map of keys");
    CHECK_ERROR("threads: 1\nthreads: 2\n", "test.yaml:2:1: threads: key given twice");
    CHECK_ERROR("? [a, b]\n: 1\n", "a key must be a plain name");
}

TEST(config_unknown_keys_warn) {
    config c;
    config_init_defaults(&c);
    lm_error err;
    CHECK(apply(&c, "temprature: 0.1\nsampling: {top_q: 1, top_k: 7}\n", &err) == 0);
    CHECK_EQ_INT(c.settings.sampling.top_k, 7);
    CHECK_EQ_INT(c.warnings.n, 2);
    if (c.warnings.n == 2) {
        CHECK_EQ_STR(c.warnings.items[0], "/cfg/test.yaml:1:1: unknown key 'temprature' (ignored)");
        CHECK_EQ_STR(c.warnings.items[1],
                     "/cfg/test.yaml:2:12: unknown key 'sampling.top_q' (ignored)");
    }
    /* the list is bounded */
    lm_buf b = {0};
    for (int i = 0; i < 100; i++) lm_buf_printf(&b, "k%d: 1\n", i);
    CHECK(apply(&c, lm_buf_cstr(&b), &err) == 0);
    CHECK_EQ_INT(c.warnings.n, CONFIG_MAX_MESSAGES);
    CHECK(c.warnings.dropped == 102 - CONFIG_MAX_MESSAGES);
    lm_buf_free(&b);
    config_free(&c);
}

TEST(config_hostile_files) {
    lm_buf b = {0};
    /* nesting */
    for (int i = 0; i < 100000; i++) lm_buf_puts(&b, "[");
    CHECK_ERROR(lm_buf_cstr(&b), "test.yaml:1:33: nested too deeply (the limit is 32 levels)");
    b.len = 0;
    for (int i = 0; i < 40; i++) lm_buf_printf(&b, "%*sk:\n", i * 2, "");
    CHECK_ERROR(lm_buf_cstr(&b), "nested too deeply");
    /* aliases: "billion laughs" */
    CHECK_ERROR("a: &x [1, 2]\nb: [*x, *x]\n", "test.yaml:1:4: anchors (&name) are not supported");
    CHECK_ERROR("a: *x\n", "aliases");
    CHECK_ERROR("a: !!str 1\n", "test.yaml:1:4: tags (!name) are not supported");
    /* too many nodes */
    b.len = 0;
    lm_buf_puts(&b, "model_dirs: [");
    for (int i = 0; i < 70000; i++) lm_buf_puts(&b, "a,");
    lm_buf_puts(&b, "]\n");
    CHECK_ERROR(lm_buf_cstr(&b), "too many entries (the limit is 65536)");
    /* too big */
    b.len = 0;
    lm_buf_puts(&b, "a: \"");
    while (b.len <= CONFIG_YAML_MAX_BYTES) lm_buf_puts(&b, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    lm_buf_puts(&b, "\"\n");
    CHECK_ERROR(lm_buf_cstr(&b), "file is larger than 1048576 bytes");
    /* long values and many entries */
    b.len = 0;
    lm_buf_puts(&b, "theme: ");
    for (int i = 0; i < 200; i++) lm_buf_puts(&b, "x");
    CHECK_ERROR(lm_buf_cstr(&b), "theme: longer than 128 bytes");
    b.len = 0;
    lm_buf_puts(&b, "models:\n");
    for (int i = 0; i < 300; i++) lm_buf_printf(&b, "  - {path: /m/%d.gguf}\n", i);
    CHECK_ERROR(lm_buf_cstr(&b), "models: more than 256 models");
    b.len = 0;
    lm_buf_puts(&b, "system_prompts:\n  big: \"");
    for (int i = 0; i < 70 * 1024; i++) lm_buf_puts(&b, "y");
    lm_buf_puts(&b, "\"\n");
    CHECK_ERROR(lm_buf_cstr(&b), "system_prompts.big: longer than 65536 bytes");
    /* a NUL byte written as an escape */
    CHECK_ERROR("theme: \"a\\0b\"\n", "theme: control character");
    lm_buf_free(&b);
}

/* Text from the file is never printed raw: a message is always one line. */
TEST(config_messages_are_one_line) {
    config c;
    config_init_defaults(&c);
    lm_error err;
    CHECK(apply(&c, "\"a\\nb\": 1\nkeys: {\"x\\ry\": F1}\nsampling: {\"\\t\": 1}\n", &err) == 0);
    CHECK_EQ_INT(c.warnings.n, 3);
    for (size_t i = 0; i < c.warnings.n; i++)
        CHECK_MSG(!strpbrk(c.warnings.items[i], "\r\n"), "%s", c.warnings.items[i]);
    if (c.warnings.n == 3)
        CHECK_EQ_STR(c.warnings.items[0], "/cfg/test.yaml:1:1: unknown key 'a?b' (ignored)");
    config_free(&c);
    CHECK_ERROR("threads: \"1\\n2\"\n",
                "threads: expected a whole number from 0 to 1024, not '1?2'");
}

TEST(config_hostile_file_types) {
    config c;
    config_init_defaults(&c);
    lm_error err;
    CHECK(config_apply_file(&c, "/dev/zero", &err) == -1);
    CHECK_MSG(contains(err.msg, "not a regular file"), "%s", err.msg);
    CHECK(config_apply_file(&c, test_tmpdir(), &err) == -1);
    CHECK(config_apply_file(&c, "/nonexistent/lmterm.yaml", &err) == -1);
    CHECK_MSG(contains(err.msg, "No such file"), "%s", err.msg);
    config_free(&c);
}

/* ---- paths ---- */

TEST(config_paths) {
    saved_env home = env_set("HOME", "/home/someone");
    saved_env data = env_set("XDG_DATA_HOME", NULL);
    saved_env cfg = env_set("XDG_CONFIG_HOME", "/xdg/config");
    lm_error err;
    char *p = config_expand_path("~/models", NULL, &err);
    CHECK_EQ_STR(p, "/home/someone/models");
    free(p);
    p = config_expand_path("${XDG_DATA_HOME}/lmterm/x", NULL, &err);
    CHECK_EQ_STR(p, "/home/someone/.local/share/lmterm/x");
    free(p);
    p = config_expand_path("$HOME/a$/b${HOME", NULL, &err);
    CHECK_EQ_STR(p, "/home/someone/a$/b${HOME");
    free(p);
    p = config_expand_path("rel/a.gguf", "/base", &err);
    CHECK_EQ_STR(p, "/base/rel/a.gguf");
    free(p);
    CHECK(config_expand_path("~bob/x", NULL, &err) == NULL);
    CHECK(config_expand_path("$LMTERM_SURELY_UNSET_VAR", NULL, &err) == NULL);
    p = config_xdg_path(CONFIG_XDG_CONFIG, "config.yaml");
    CHECK_EQ_STR(p, "/xdg/config/lmterm/config.yaml");
    free(p);
    saved_env rel = env_set("XDG_STATE_HOME", "relative/ignored");
    p = config_xdg_path(CONFIG_XDG_STATE, "history");
    CHECK_EQ_STR(p, "/home/someone/.local/state/lmterm/history");
    free(p);
    env_restore(rel);
    env_restore(cfg);
    env_restore(data);
    env_restore(home);
}

TEST(config_data_dir_search) {
    char *src = source_data_dir();
    if (!src) {
        test_skip("source tree not found");
        return;
    }
    saved_env e = env_set("LMTERM_DATADIR", src);
    char *d = config_data_dir();
    CHECK_EQ_STR(d, src);
    free(d);
    /* an explicit LMTERM_DATADIR without the files is not second-guessed */
    setenv("LMTERM_DATADIR", test_tmpdir(), 1);
    CHECK(config_data_dir() == NULL);
    env_restore(e);
    free(src);
}

/* ---- the three layers ---- */

TEST(config_load_layers) {
    char *src = source_data_dir();
    if (!src) {
        test_skip("source tree not found");
        return;
    }
    char *xdg = tmp_path("xdg-load");
    char dir[600], user[700];
    snprintf(dir, sizeof dir, "%s/lmterm", xdg);
    snprintf(user, sizeof user, "%s/config.yaml", dir);
    lm_error err = {{0}};
    CHECK(lm_mkdir_p(dir, &err) == 0);
    write_file(user, "threads: 5\nsampling: {temperature: 0.5}\n");
    saved_env e1 = env_set("LMTERM_DATADIR", src), e2 = env_set("XDG_CONFIG_HOME", xdg);

    config c;
    CHECK_MSG(config_load(&c, NULL, &err) == 0, "%s", err.msg);
    CHECK_EQ_INT(c.settings.threads, 5);
    CHECK_NEAR(c.settings.sampling.temperature, 0.5, 1e-6);
    CHECK_EQ_INT(c.settings.sampling.top_k, 40);
    CHECK_EQ_STR(c.data_dir, src);
    CHECK_EQ_STR(c.user_file, user);
    config_free(&c);

    /* --config replaces the user file; a missing one is an error */
    char *other = tmp_path("other.yaml");
    write_file(other, "threads: 7\n");
    CHECK(config_load(&c, other, &err) == 0);
    CHECK_EQ_INT(c.settings.threads, 7);
    config_free(&c);
    CHECK(config_load(&c, tmp_path("missing.yaml"), &err) == -1);
    CHECK_MSG(contains(err.msg, "missing.yaml"), "%s", err.msg);
    CHECK_EQ_INT(c.settings.threads, 0);
    config_free(&c);

    /* a bad user file: its error, and the installed defaults in effect */
    write_file(user, "threads: 5\nsampling: {temperature: hot}\n");
    CHECK(config_load(&c, NULL, &err) == -1);
    CHECK_MSG(contains(err.msg, "config.yaml:2:25: sampling.temperature: expected a number"), "%s",
              err.msg);
    CHECK_EQ_INT(c.settings.threads, 0);
    config_free(&c);

    /* no data folder and no user file: the built-in defaults */
    setenv("LMTERM_DATADIR", test_tmpdir(), 1);
    setenv("XDG_CONFIG_HOME", tmp_path("nowhere"), 1);
    CHECK(config_load(&c, NULL, &err) == 0);
    CHECK(c.data_dir == NULL);
    CHECK_EQ_STR(c.theme, "default");
    config_free(&c);
    env_restore(e2);
    env_restore(e1);
    free(src);
}

/* ---- models on disk ---- */

static void touch(const char *dir, const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    write_file(path, "GGUF");
}

TEST(config_scan_models) {
    char *root = tmp_path("scan");
    char d[700];
    lm_error err;
    snprintf(d, sizeof d, "%s/sub/deeper", root);
    CHECK(lm_mkdir_p(d, &err) == 0);
    snprintf(d, sizeof d, "%s/.hidden", root);
    CHECK(lm_mkdir_p(d, &err) == 0);
    snprintf(d, sizeof d, "%s/1/2/3/4", root);
    CHECK(lm_mkdir_p(d, &err) == 0);
    touch(root, "a.gguf");
    touch(root, "notes.txt");
    snprintf(d, sizeof d, "%s/sub", root);
    touch(d, "B.GGUF");
    touch(d, "a.gguf"); /* a second "a" */
    snprintf(d, sizeof d, "%s/sub/deeper", root);
    touch(d, "c.gguf");
    snprintf(d, sizeof d, "%s/.hidden", root);
    touch(d, "h.gguf");
    snprintf(d, sizeof d, "%s/1/2/3/4", root);
    touch(d, "too-deep.gguf");

    config c;
    config_init_defaults(&c);
    char text[2048];
    snprintf(text, sizeof text,
             "models: [{name: listed, path: %s/a.gguf}]\nmodel_dirs: [%s, %s, /nonexistent]\n",
             root, root, root);
    CHECK(apply(&c, text, &err) == 0);
    CHECK_EQ_INT(config_scan_models(&c), 3); /* sub/a, B, c; not root/a twice */
    CHECK_EQ_INT(c.n_models, 4);
    if (c.n_models == 4) {
        CHECK_EQ_STR(c.models[0].name, "listed");
        CHECK(!c.models[0].scanned);
        CHECK_EQ_STR(c.models[1].name, "B");
        CHECK_EQ_STR(c.models[2].name, "a");
        CHECK_EQ_STR(c.models[3].name, "c");
        CHECK(c.models[3].scanned && contains(c.models[3].path, "sub/deeper/c.gguf"));
    }
    /* scanning again replaces the last scan */
    CHECK_EQ_INT(config_scan_models(&c), 3);
    CHECK_EQ_INT(c.n_models, 4);
    CHECK(config_find_model(&c, "c") != NULL);
    CHECK(config_find_model(&c, "h") == NULL);
    CHECK(config_find_model(&c, "too-deep") == NULL);
    config_free(&c);
}

/* ---- save as default ---- */

TEST(config_save_then_load) {
    char *path = tmp_path("save/lmterm/config.yaml");
    lm_error err = {{0}};
    config c;
    config_init_defaults(&c);
    config_settings s = c.settings;
    s.sampling.temperature = 0.7f;
    s.sampling.top_k = 12;
    s.sampling.top_p = 0.9f;
    s.sampling.min_p = 0.1f;
    s.sampling.repeat_penalty = 1.1f;
    s.seed_random = false;
    s.sampling.seed = 42;
    s.n_predict = 256;
    s.threads = 6;
    s.n_ctx = 2048;
    /* a new file, in a folder that does not exist yet */
    CHECK_MSG(config_save_settings(&c, path, &s, &err) == 0, "%s", err.msg);
    config back;
    config_init_defaults(&back);
    CHECK_MSG(config_apply_file(&back, path, &err) == 0, "%s", err.msg);
    CHECK(same_settings(&back.settings, &s));
    CHECK_EQ_INT(back.warnings.n, 0);
    config_free(&back);

    /* an existing file keeps its other keys */
    write_file(path, "# mine\ntheme: light\nsampling: {temperature: 0.1, top_k: 3}\n"
                     "system_prompts:\n  long: |\n    line one\n    line two\n"
                     "keys: {help: F9}\nfuture_key: [1, {a: b}]\n");
    s.seed_random = true;
    CHECK_MSG(config_save_settings(&c, path, &s, &err) == 0, "%s", err.msg);
    config_init_defaults(&back);
    CHECK_MSG(config_apply_file(&back, path, &err) == 0, "%s", err.msg);
    CHECK(same_settings(&back.settings, &s));
    CHECK_EQ_STR(back.theme, "light");
    CHECK_EQ_STR(config_find_preset(&back, "long"), "line one\nline two\n");
    CHECK_EQ_INT(config_action_for_key(&back, CONFIG_KEY_F(9)), CONFIG_ACTION_HELP);
    CHECK_EQ_INT(back.warnings.n, 1); /* future_key kept, and still unknown */
    config_free(&back);

    /* a file that does not parse is left alone */
    const char *broken = "theme: [light\n";
    write_file(path, broken);
    CHECK(config_save_settings(&c, path, &s, &err) == -1);
    CHECK_MSG(contains(err.msg, "the file was not changed"), "%s", err.msg);
    char *text;
    size_t len;
    CHECK(lm_read_file(path, 1 << 20, &text, &len, &err) == 0);
    CHECK_EQ_STR(text, broken);
    free(text);
    config_free(&c);
}

/* ---- the YAML writer ---- */

/* Parses text, writes it, parses that: the same tree, and no scalar written
 * plain becomes quoted unless it could not have been a number, bool or null. */
static void check_round_trip(const char *text) {
    lm_error err = {{0}};
    config_yaml_node *a, *b = NULL;
    CHECK_MSG(config_yaml_parse("in.yaml", text, strlen(text), &a, &err) == 0, "%s", err.msg);
    lm_buf out = {0};
    CHECK(config_yaml_emit(a, &out, &err) == 0);
    CHECK_MSG(config_yaml_parse("out.yaml", lm_buf_cstr(&out), out.len, &b, &err) == 0, "%s\n%s",
              err.msg, out.data);
    lm_buf again = {0};
    if (b) CHECK(config_yaml_emit(b, &again, &err) == 0);
    CHECK_MSG(b && strcmp(lm_buf_cstr(&again), out.data) == 0, "not stable:\n%s", out.data);
    lm_buf_free(&out);
    lm_buf_free(&again);
    config_yaml_free(a);
    config_yaml_free(b);
}

TEST(config_yaml_round_trip) {
    check_round_trip("?\n"); /* found by fuzz_config: an empty key came out as "! ''" */
    check_round_trip("- ? \n  : x\n");
    check_round_trip("a: b\n  c\n\n  d\n"); /* plain text with a line break */
    check_round_trip("a:\nb: ~\nc: \"1\"\nd: 1\ne: |\n  x\n  y\nf: [1, {g: h}]\n");
    check_round_trip("\"a b\": 'c''d'\n\"\": x\n");
    check_round_trip("a: \"\\u00e9\\t\\x01\"\n");
    check_round_trip("a: \"1\\n2\"\nb: \"it's\"\nk: |\n  trailing  \n");
    check_round_trip("a: --- b\nc: x:y\nd: -1\n");
    check_round_trip("---\n"); /* fuzz_config: an empty document came back as none */
    check_round_trip("--- x\n");
    check_round_trip("a: ----------------\n");
}

TEST(config_servers) {
    config c;
    config_init_defaults(&c);
    lm_error err = {{0}};
    CHECK_MSG(apply(&c,
                    "servers:\n"
                    "  - name: box\n"
                    "    url: http://gpu-box:8080/v1\n"
                    "    api_key_env: BOX_KEY\n"
                    "    model: llama-3-70b\n"
                    "    connect_timeout: 2.5\n"
                    "    idle_timeout: 30\n"
                    "  - {name: local, url: 'https://127.0.0.1/v1'}\n",
                    &err) == 0,
              "%s", err.msg);
    CHECK_EQ_INT(c.n_servers, 2);
    const config_server *s = config_find_server(&c, "box");
    CHECK(s != NULL);
    if (s) {
        CHECK_EQ_STR(s->url, "http://gpu-box:8080/v1");
        CHECK_EQ_STR(s->api_key_env, "BOX_KEY");
        CHECK_EQ_STR(s->model, "llama-3-70b");
        CHECK_NEAR(s->connect_timeout, 2.5, 1e-6);
        CHECK_NEAR(s->idle_timeout, 30, 1e-6);
    }
    s = config_find_server(&c, "local");
    CHECK(s && !s->api_key_env && !s->model && s->connect_timeout == 0);
    CHECK(config_find_server(&c, "nope") == NULL);
    /* a later layer's list replaces the earlier one */
    CHECK_MSG(apply(&c, "servers: [{name: other, url: 'http://h/v1'}]\n", &err) == 0, "%s", err.msg);
    CHECK_EQ_INT(c.n_servers, 1);
    CHECK(config_find_server(&c, "box") == NULL);
    config_free(&c);
    CHECK_ERROR("servers: [{name: a}]\n", "servers[1]: a server needs a name and a url");
    CHECK_ERROR("servers: [{name: a, url: 'ftp://x/v1'}]\n",
                "servers[1].url: expected http://... or https://...");
    CHECK_ERROR("servers: [{name: a, url: 'http://x/v1', idle_timeout: 0}]\n", "idle_timeout");
    CHECK_ERROR("servers: {a: 1}\n", "servers: expected a list of servers");
}

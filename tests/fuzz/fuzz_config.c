/* fuzz_config: the YAML config on arbitrary text.
 *
 * Three layers of checks, all on the same input:
 *   1. config_yaml_parse (the reader the config and themes share): a tree
 *      that parses is written with config_yaml_emit and parsed again, giving
 *      the same tree. "Save as default" rewrites the user's file this way, so
 *      a difference is a corrupted config.
 *   2. config_apply_text onto the defaults: it either applies or fails with
 *      one line, and then the config is left exactly as it was.
 *   3. For a config that applies: "save as default" over that very file, then
 *      loading the saved file gives the settings that were saved.
 *
 * libFuzzer: -max_len=16384 -timeout=10
 */
#include "config.h"
#include "fuzz_scratch.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[4200];

static void fail(const char *what) {
    fprintf(stderr, "fuzz_config: check failed: %s\n", what);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_scratch_make("fuzz-config");
    fuzz_scratch_path(path, sizeof path, "config.yaml");
    /* paths in a config may name these; keep them fixed */
    setenv("HOME", fuzz_dir, 1);
    setenv("XDG_CONFIG_HOME", fuzz_dir, 1);
    setenv("XDG_DATA_HOME", fuzz_dir, 1);
    return 0;
}

/* A scalar as the config reads it: null, bool, integer, float or text. */
static bool same_meaning(const config_yaml_node *a, const config_yaml_node *b) {
    lm_error e;
    bool ba, bb;
    long long ia, ib;
    double fa, fb;
    if (config_yaml_is_null(a) != config_yaml_is_null(b)) return false;
    bool ra = config_yaml_bool("", "", a, &ba, &e), rb = config_yaml_bool("", "", b, &bb, &e);
    if (ra != rb || (ra && ba != bb)) return false;
    ra = config_yaml_int("", "", a, LLONG_MIN, LLONG_MAX, &ia, &e);
    rb = config_yaml_int("", "", b, LLONG_MIN, LLONG_MAX, &ib, &e);
    if (ra != rb || (ra && ia != ib)) return false;
    ra = config_yaml_float("", "", a, -HUGE_VAL, HUGE_VAL, &fa, &e);
    rb = config_yaml_float("", "", b, -HUGE_VAL, HUGE_VAL, &fb, &e);
    return ra == rb && (!ra || fa == fb || (isnan(fa) && isnan(fb)));
}

/* Same structure, same texts, values of the same meaning: quotes may come
 * and go only where they change nothing (around "--- x", text of several
 * lines, any key: a key is a name, never a number or null). */
static bool same_tree(const config_yaml_node *a, const config_yaml_node *b, bool is_key) {
    if (!a || !b) return a == b;
    if (a->kind != b->kind || a->n != b->n) return false;
    if (a->kind == CONFIG_YAML_SCALAR)
        return a->len == b->len && memcmp(a->text, b->text, a->len) == 0 &&
               (is_key || same_meaning(a, b));
    for (size_t i = 0; i < a->n; i++)
        if (!same_tree(a->items[i], b->items[i], a->kind == CONFIG_YAML_MAP && i % 2 == 0))
            return false;
    return true;
}

static void yaml_round_trip(const char *text, size_t len) {
    config_yaml_node *root;
    lm_error err = {{0}};
    if (config_yaml_parse("fuzz.yaml", text, len, &root, &err) != 0) {
        if (!err.msg[0] || strchr(err.msg, '\n')) fail("a YAML error must be one line");
        return;
    }
    if (root) {
        lm_buf out = {0};
        config_yaml_node *again = NULL;
        if (config_yaml_emit(root, &out, &err) != 0) fail(err.msg);
        if (config_yaml_parse("emitted.yaml", out.data, out.len, &again, &err) != 0) {
            fprintf(stderr, "%s\n---\n%s---\n", err.msg, lm_buf_cstr(&out));
            fail("emitted YAML does not parse");
        }
        if (!same_tree(root, again, false)) {
            fprintf(stderr, "---\n%s---\n", lm_buf_cstr(&out));
            fail("emit then parse changed the tree");
        }
        config_yaml_free(again);
        lm_buf_free(&out);
    }
    config_yaml_free(root);
}

static bool same_float(float a, float b) {
    return a == b || (isnan(a) && isnan(b));
}

static bool same_settings(const config_settings *a, const config_settings *b) {
    const sampler_params *p = &a->sampling, *q = &b->sampling;
    return same_float(p->temperature, q->temperature) && p->top_k == q->top_k &&
           same_float(p->top_p, q->top_p) && same_float(p->min_p, q->min_p) &&
           same_float(p->repeat_penalty, q->repeat_penalty) &&
           p->repeat_last_n == q->repeat_last_n && a->seed_random == b->seed_random &&
           (a->seed_random || p->seed == q->seed) && a->n_predict == b->n_predict &&
           a->threads == b->threads && a->n_ctx == b->n_ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    yaml_round_trip(text, size);

    config c;
    config_init_defaults(&c);
    lm_error err = {{0}};
    if (config_apply_text(&c, "fuzz.yaml", text, size, &err) != 0) {
        if (!err.msg[0] || strchr(err.msg, '\n')) fail("an error must be one line");
        config fresh;
        config_init_defaults(&fresh);
        if (!same_settings(&c.settings, &fresh.settings) || c.n_models != fresh.n_models ||
            c.n_presets != fresh.n_presets || strcmp(c.theme, fresh.theme) != 0)
            fail("a config that did not apply changed the settings");
        config_free(&fresh);
        config_free(&c);
        return 0;
    }
    /* what start-up asks of it */
    (void)config_default_model(&c);
    (void)config_system_prompt_text(&c);
    for (size_t i = 0; i < c.n_models; i++)
        if (config_find_model(&c, c.models[i].name) == NULL)
            fail("a model cannot be found by its name");
    for (size_t i = 0; i < c.n_presets; i++)
        if (config_find_preset(&c, c.presets[i].name) == NULL)
            fail("a preset cannot be found by its name");
    for (int key = -1; key < 600; key += 7) (void)config_action_for_key(&c, key);
    for (size_t i = 0; i < c.warnings.n; i++)
        if (strchr(c.warnings.items[i], '\n')) fail("a warning must be one line");

    /* save as default over the file itself, then read it back */
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f))
        fail("cannot write the input file");
    if (config_save_settings(&c, path, &c.settings, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        fail("save as default refused a file that applied");
    }
    config back;
    config_init_defaults(&back);
    if (config_apply_file(&back, path, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        fail("the saved file does not apply");
    }
    if (!same_settings(&c.settings, &back.settings))
        fail("the saved settings read back differently");
    config_free(&back);
    config_free(&c);
    return 0;
}

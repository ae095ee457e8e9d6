/* The model menu's source, backend_models and backend_describe: lmterm's own
 * engine lists the configured models, then the files of the model folders,
 * then the files of other tools' stores, each file once, with what their
 * headers say; a file that does not read says why; a server's models say
 * only that they are remote. The stores are pointed at an empty home so
 * the tester's own models stay out. */
#include "backend.h"
#include "synth.h"
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

static const char *const store_vars[] = {
    "HOME",    "XDG_DATA_HOME", "XDG_CACHE_HOME",        "OLLAMA_MODELS",
    "HF_HOME", "HF_HUB_CACHE",  "HUGGINGFACE_HUB_CACHE", "LLAMA_CACHE"};
#define N_STORE_VARS (sizeof store_vars / sizeof *store_vars)

/* Points every store at root (home, data, cache), remembering the old values. */
static void stores_at(const char *root, char *old[N_STORE_VARS]) {
    for (size_t i = 0; i < N_STORE_VARS; i++) {
        const char *v = getenv(store_vars[i]);
        old[i] = v ? lm_xstrdup(v) : NULL;
        unsetenv(store_vars[i]);
    }
    char p[1024];
    snprintf(p, sizeof p, "%s/home", root);
    setenv("HOME", p, 1);
    snprintf(p, sizeof p, "%s/data", root);
    setenv("XDG_DATA_HOME", p, 1);
    snprintf(p, sizeof p, "%s/cache", root);
    setenv("XDG_CACHE_HOME", p, 1);
}

static void stores_back(char *old[N_STORE_VARS]) {
    for (size_t i = 0; i < N_STORE_VARS; i++) {
        if (old[i])
            setenv(store_vars[i], old[i], 1);
        else
            unsetenv(store_vars[i]);
        free(old[i]);
    }
}

static void write_model(const char *dir, const char *name, char *path, size_t size) {
    lm_error err;
    CHECK(lm_mkdir_p(dir, &err) == 0);
    snprintf(path, size, "%s/%s", dir, name);
    synth_options so = {
        .arch = "llama", .shape = "tiny", .type = QT_Q8_0, .output_type = QT_COUNT, .seed = 1};
    CHECK_MSG(synth_write(&so, path, &err) == 0, "%s", err.msg);
}

static const backend_model *row_named(const backend_model *rows, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].name, name) == 0) return &rows[i];
    return NULL;
}

TEST(backend_local_models_configured_folders_stores) {
    char root[700], dir[800], cfg_dir[800], cache[800], listed[900], scanned[900], found[900];
    snprintf(root, sizeof root, "%s/backend-models", test_tmpdir());
    snprintf(dir, sizeof dir, "%s/folder", root);
    snprintf(cfg_dir, sizeof cfg_dir, "%s/configured", root);
    snprintf(cache, sizeof cache, "%s/cache/llama.cpp", root);
    char *old[N_STORE_VARS];
    stores_at(root, old);
    write_model(cfg_dir, "listed.gguf", listed, sizeof listed);
    write_model(dir, "scanned.gguf", scanned, sizeof scanned);
    write_model(cache, "found.gguf", found, sizeof found);
    char twin[900]; /* the configured file again, in a store: listed once */
    snprintf(twin, sizeof twin, "%s/twin.gguf", cache);
    CHECK(symlink(listed, twin) == 0);

    config cfg;
    config_init_defaults(&cfg);
    char text[3000];
    snprintf(text, sizeof text, "models: [{name: mine, path: %s}]\nmodel_dirs: [%s]\n", listed,
             dir);
    lm_error err;
    CHECK_MSG(config_apply_text(&cfg, "/cfg/test.yaml", text, strlen(text), &err) == 0, "%s",
              err.msg);
    backend *b = backend_local_create(&cfg, &err);
    CHECK_MSG(b != NULL, "%s", err.msg);
    if (b) {
        const backend_model *rows;
        char notice[256];
        size_t n = backend_models(b, &rows, notice);
        CHECK_EQ_INT((int)n, 3);
        CHECK_EQ_STR(notice, "");
        if (n == 3) {
            CHECK_EQ_STR(rows[0].name, "mine");
            CHECK_EQ_STR(rows[0].id, listed);
            CHECK(rows[0].configured);
            CHECK_EQ_STR(rows[1].name, "scanned");
            CHECK(!rows[1].configured);
            CHECK_EQ_STR(rows[2].name, "llama.cpp: found");
            CHECK_EQ_STR(rows[2].id, found);
        }
        const backend_model *mine = row_named(rows, n, "mine");
        CHECK(mine && mine->meta->ok && strcmp(mine->meta->arch, "llama") == 0);
        CHECK(mine && mine->meta->type == QT_Q8_0 && mine->meta->params > 0);
        CHECK(mine && mine->meta->weight_bytes[MODEL_PRECISION_FP32] >
                          mine->meta->weight_bytes[MODEL_PRECISION_INT8]);
        CHECK(row_named(rows, n, "llama.cpp: twin") == NULL);

        /* describe: the same header, and why a file does not read */
        const backend_model_meta *m = backend_describe(b, listed);
        CHECK(m->ok && m->params == (mine ? mine->meta->params : 0));
        char missing[900];
        snprintf(missing, sizeof missing, "%s/missing.gguf", root);
        m = backend_describe(b, missing);
        CHECK(!m->ok && m->error[0]);
        backend_close(b);
    }
    config_free(&cfg);
    stores_back(old);
}

TEST(backend_openai_models_are_remote) {
    backend_openai_options o = {.base_url = "http://127.0.0.1:9/v1"}; /* never contacted */
    lm_error err;
    backend *b = backend_openai_create(&o, &err);
    CHECK_MSG(b != NULL, "%s", err.msg);
    if (!b) return;
    const backend_model *rows;
    char notice[256];
    CHECK_EQ_INT((int)backend_models(b, &rows, notice), 0); /* none until a select */
    CHECK_EQ_STR(notice, "");
    const backend_model_meta *m = backend_describe(b, "some-model");
    CHECK(m->ok && strcmp(m->arch, "remote") == 0);
    CHECK(!backend_get_caps(b)->local_files);
    backend_close(b);
}

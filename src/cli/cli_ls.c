/* cli: `lmterm ls`, every model lmterm can open: the configured ones, those
 * in model_dirs, pulled ones and those of ollama and the Hugging Face and
 * llama.cpp caches, with what their headers say. */
#include "catalog.h"
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static void ls_row(model_catalog *cat, const char *name, const char *path) {
    const backend_model_meta *m = catalog_model(cat, path);
    char sz[16], params[16];
    if (!m->ok) {
        printf("%-40s  %s  (cannot read: %s)\n", name, path, m->error);
        return;
    }
    bool supported = strcmp(m->arch, "phi3") == 0 || strcmp(m->arch, "llama") == 0;
    printf("%-40s  %9s  %-6s %-7s %9s  %s%s\n", name, lm_format_size(m->file_bytes, sz), m->arch,
           quant_info(m->type)->name, lm_format_count(m->params, params), path,
           supported ? "" : "  (unsupported architecture)");
}

static bool ls_seen(char **real, size_t n, const char *r) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(real[i], r) == 0) return true;
    return false;
}

int cli_ls(cli_options *o) {
    model_catalog *cat = catalog_create();
    char **real = NULL;
    size_t n_real = 0, shown = 0;
    if (o->cfg) config_scan_models(o->cfg);
    for (size_t i = 0; o->cfg && i < o->cfg->n_models; i++) {
        const config_model *m = &o->cfg->models[i];
        char *r = realpath(m->path, NULL);
        if (r) {
            real = lm_xrealloc(real, (n_real + 1) * sizeof *real);
            real[n_real++] = r;
        }
        ls_row(cat, m->name, m->path);
        shown++;
    }
    catalog_found *found;
    char notice[256];
    size_t n = catalog_found_models(&found, notice);
    for (size_t i = 0; i < n; i++) {
        char *r = realpath(found[i].path, NULL);
        bool dup = r && ls_seen(real, n_real, r);
        free(r);
        if (dup) continue;
        ls_row(cat, found[i].name, found[i].path);
        shown++;
    }
    if (!shown)
        fprintf(stderr, "no models found: get one with `lmterm pull "
                        "bartowski/Llama-3.2-1B-Instruct-GGUF` or put .gguf files in ~/models\n");
    if (notice[0]) fprintf(stderr, "lmterm: %s\n", notice);
    free(found);
    for (size_t i = 0; i < n_real; i++) free(real[i]);
    free(real);
    catalog_free(cat);
    return CLI_OK;
}

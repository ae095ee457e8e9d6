/* backend_local: lmterm's own engine behind include/app/backend.h. The
 * engine thread does the work; this file turns a chat into an engine request
 * in the model's template (chat_request.h), and engine events into backend
 * events. The engine keeps the tokens of the last prompt in its KV cache,
 * and a chat whose replies carry their token ids gives back the same
 * tokens, so only what is new gets evaluated. Its models are GGUF files:
 * the configured ones and those the catalog finds, described from their
 * headers (catalog.h). */
#include "backend.h"

#include "catalog.h"
#include "chat_request.h"
#include "engine.h"
#include "paths.h"
#include "synth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct local_backend {
    backend base;
    engine *eng;
    config *cfg;                  /* may be NULL */
    enum chat_template_kind tmpl; /* the loaded model's */
    model_catalog *catalog;
    backend_model *rows; /* the last backend_models answer */
    size_t n_rows;
} local_backend;

static local_backend *local_of(backend *b) {
    return (local_backend *)b;
}

/* ---- the demo model ---- */

char *backend_local_demo_path(void) {
    char *p = paths_lmterm(PATHS_CACHE, "demo-model.gguf");
    return p ? p : lm_xstrdup("demo-model.gguf");
}

int backend_local_make_demo(const char *path, lm_error *err) {
    char *dir = lm_xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    int rc = slash ? lm_mkdir_p(dir, err) : 0;
    free(dir);
    synth_options so = {
        .arch = "llama", .shape = "tiny", .type = QT_Q8_0, .output_type = QT_COUNT, .seed = 1};
    return rc ? rc : synth_write(&so, path, err);
}

/* ---- events ---- */

/* The template a model's conversation is written in: the configured
 * override, else what the file's metadata says. */
static enum chat_template_kind template_for(const local_backend *lb, const engine_model_info *in) {
    int kind = -1;
    for (size_t i = 0; lb->cfg && kind < 0 && i < lb->cfg->n_models; i++) {
        const config_model *m = &lb->cfg->models[i];
        if (m->template_name && lm_same_file(m->path, in->path))
            kind = chat_template_from_name(m->template_name);
    }
    return kind >= 0 ? (enum chat_template_kind)kind
                     : chat_template_detect(in->chat_template, in->arch);
}

static backend_stats stats_from(const engine_stats *s) {
    return (backend_stats){.state = (enum backend_state)s->state,
                           .n_prompt_tokens = s->n_prompt_tokens,
                           .n_prompt_evaluated = s->n_prompt_evaluated,
                           .n_generated = s->n_generated,
                           .prompt_tps = s->prompt_tps,
                           .gen_tps = s->gen_tps,
                           .n_past = s->n_past,
                           .n_ctx = s->n_ctx,
                           .rss_bytes = s->rss_bytes,
                           .weight_bytes = s->weight_bytes,
                           .kv_bytes = s->kv_bytes,
                           .kv_type = s->kv_type};
}

static void info_from(const local_backend *lb, const engine_model_info *in,
                      backend_model_info *out) {
    memset(out, 0, sizeof *out);
    snprintf(out->path, sizeof out->path, "%s", in->path);
    snprintf(out->name, sizeof out->name, "%s", in->name);
    out->arch = in->arch;
    out->precision = in->precision;
    out->main_type = in->main_type;
    out->n_ctx = in->n_ctx;
    out->n_ctx_train = in->n_ctx_train;
    out->n_vocab = in->n_vocab;
    out->n_threads = in->n_threads;
    out->param_count = in->param_count;
    out->file_bytes = in->file_bytes;
    out->weight_bytes = in->weight_bytes;
    out->kv_bytes = in->kv_bytes;
    out->tmpl = template_for(lb, in);
}

static enum backend_stop_reason reason_from(enum engine_stop_reason r) {
    switch (r) {
    case STOP_EOG: return BACKEND_STOP_EOG;
    case STOP_MAX_TOKENS: return BACKEND_STOP_MAX_TOKENS;
    case STOP_CONTEXT_FULL: return BACKEND_STOP_CONTEXT_FULL;
    case STOP_USER: return BACKEND_STOP_USER;
    case STOP_ERROR: break;
    }
    return BACKEND_STOP_ERROR;
}

static const enum backend_event_kind kinds[] = {
    [EV_LOAD_PROGRESS] = BACKEND_EV_LOAD_PROGRESS, [EV_LOADED] = BACKEND_EV_LOADED,
    [EV_LOAD_FAILED] = BACKEND_EV_LOAD_FAILED,     [EV_PROMPT_PROGRESS] = BACKEND_EV_PROMPT_PROGRESS,
    [EV_TOKEN] = BACKEND_EV_TOKEN,                 [EV_DONE] = BACKEND_EV_DONE,
    [EV_ERROR] = BACKEND_EV_ERROR,
};

static bool local_poll(backend *b, backend_event *out) {
    local_backend *lb = local_of(b);
    engine_event ev;
    if (!engine_poll(lb->eng, &ev)) return false;
    memset(out, 0, sizeof *out);
    out->kind = kinds[ev.kind];
    out->request_id = ev.request_id;
    out->text = ev.text;
    ev.text = NULL; /* the caller's now */
    out->token = ev.token;
    out->progress = ev.progress;
    out->reason = reason_from(ev.reason);
    out->n_dropped = ev.n_dropped;
    out->stats = stats_from(&ev.stats);
    if (ev.kind == EV_LOADED) {
        info_from(lb, &ev.info, &out->info);
        lb->tmpl = out->info.tmpl;
    }
    engine_event_free(&ev);
    return true;
}

/* ---- commands ---- */

static void local_close(backend *b) {
    local_backend *lb = local_of(b);
    engine_free(lb->eng);
    catalog_free(lb->catalog);
    free(lb->rows);
    free(lb);
}

static int local_fd(const backend *b) {
    return engine_wakeup_fd(((const local_backend *)b)->eng);
}

static int local_select(backend *b, const char *model, const model_options *opt) {
    return engine_load(local_of(b)->eng, model, opt);
}

static int local_generate(backend *b, const chat *c, const backend_params *p) {
    local_backend *lb = local_of(b);
    chat in_template = *c; /* a shallow copy, read only: the model's template */
    in_template.tmpl = lb->tmpl;
    engine_request req = {0};
    chat_build_request(&in_template, &req);
    req.max_tokens = p->max_tokens;
    req.reply_reserve = p->reply_reserve;
    req.sampling = p->sampling;
    return engine_generate(lb->eng, &req);
}

static void local_stop(backend *b) {
    engine_stop(local_of(b)->eng);
}

static int local_reset(backend *b) {
    return engine_reset(local_of(b)->eng);
}

static backend_stats local_stats(backend *b) {
    engine_stats s = engine_get_stats(local_of(b)->eng);
    return stats_from(&s);
}

/* ---- models ---- */

static void add_row(local_backend *lb, const char *name, const char *path, bool configured) {
    lb->rows = lm_xrealloc(lb->rows, (lb->n_rows + 1) * sizeof *lb->rows);
    backend_model *r = memset(&lb->rows[lb->n_rows++], 0, sizeof *lb->rows);
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->id, sizeof r->id, "%s", path);
    r->configured = configured;
    r->meta = catalog_model(lb->catalog, path);
}

/* Pulled files and other tools' stores not listed yet. */
static void add_found_rows(local_backend *lb, char notice[256]) {
    catalog_found *found;
    size_t n = catalog_found_models(&found, notice), first = lb->n_rows;
    for (size_t i = 0; i < n; i++) {
        bool dup = false;
        for (size_t k = 0; k < first && !dup; k++)
            dup = lm_same_file(lb->rows[k].id, found[i].path);
        if (!dup) add_row(lb, found[i].name, found[i].path, false);
    }
    free(found);
}

/* Configured models first, in the configuration's order, then the files of
 * the model folders, then the stores. */
static size_t local_models(backend *b, const backend_model **rows, char notice[256]) {
    local_backend *lb = local_of(b);
    free(lb->rows);
    lb->rows = NULL;
    lb->n_rows = 0;
    if (lb->cfg) config_scan_models(lb->cfg);
    for (size_t i = 0; lb->cfg && i < lb->cfg->n_models; i++) {
        const config_model *m = &lb->cfg->models[i];
        add_row(lb, m->name, m->path, !m->scanned);
    }
    add_found_rows(lb, notice);
    *rows = lb->rows;
    return lb->n_rows;
}

static const backend_model_meta *local_describe(backend *b, const char *model) {
    return catalog_model(local_of(b)->catalog, model);
}

static const backend_ops local_ops = {
    .close = local_close,
    .fd = local_fd,
    .poll = local_poll,
    .select = local_select,
    .generate = local_generate,
    .stop = local_stop,
    .reset = local_reset,
    .stats = local_stats,
    .models = local_models,
    .describe = local_describe,
};

backend *backend_local_create(config *cfg, lm_error *err) {
    local_backend *lb = lm_xcalloc(1, sizeof *lb);
    lb->base = (backend){.ops = &local_ops,
                         .kind = "local",
                         .caps = {.local_files = true,
                                  .precisions = true,
                                  .memory = true,
                                  .prompt_tokens = true,
                                  .token_ids = true}};
    lb->cfg = cfg;
    lb->tmpl = CHAT_TEMPLATE_LLAMA3;
    if (!(lb->eng = engine_create(err))) {
        free(lb);
        return NULL;
    }
    lb->catalog = catalog_create();
    return &lb->base;
}

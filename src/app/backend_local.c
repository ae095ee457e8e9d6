/* backend_local: lmterm's own engine behind include/app/backend.h. The
 * engine thread does the work; this file turns a chat into an engine request
 * in the model's template, and engine events into backend events. The
 * engine keeps the tokens of the last prompt in its KV cache, and a chat
 * whose replies carry their token ids gives back the same tokens, so only
 * what is new gets evaluated. */
#include "backend.h"

#include "engine.h"
#include "paths.h"
#include "synth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct local_backend {
    backend base;
    engine *eng;
    const config *cfg;
    enum chat_template_kind tmpl; /* the loaded model's */
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
    char *real = realpath(in->path, NULL);
    int kind = -1;
    for (size_t i = 0; lb->cfg && real && kind < 0 && i < lb->cfg->n_models; i++) {
        const config_model *m = &lb->cfg->models[i];
        char *other = m->template_name ? realpath(m->path, NULL) : NULL;
        if (other && strcmp(other, real) == 0) kind = chat_template_from_name(m->template_name);
        free(other);
    }
    free(real);
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

static size_t local_models(backend *b, const char *const **ids) {
    (void)b;
    *ids = NULL;
    return 0;
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
};

backend *backend_local_create(const config *cfg, lm_error *err) {
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
    return &lb->base;
}

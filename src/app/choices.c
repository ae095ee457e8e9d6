/* choices: the session's side of the model menu, the precision menu and
 * the settings screen: what each offers, and doing what the user picks.
 * Each change that needs another model in the engine (a model, a
 * precision, threads, context size) goes through session_begin_load, which
 * checks that it fits in memory and keeps the model in use until the new
 * one is ready. No curses here. */
#include "session_impl.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *session_precision_label(enum model_precision p) {
    static const char *const labels[SESSION_N_PRECISIONS] = {"native", "FP32", "FP16", "INT8",
                                                             "INT4"};
    return (unsigned)p < SESSION_N_PRECISIONS ? labels[p] : "?";
}

/* ---- memory ---- */

uint64_t session_memory_available(session *s) {
    /* LMTERM_TEST_MEM_AVAILABLE (bytes) stands in for MemAvailable in tests
     * of the "does not fit" refusal */
    const char *fake = getenv("LMTERM_TEST_MEM_AVAILABLE");
    uint64_t avail = fake && *fake ? strtoull(fake, NULL, 10) : lm_mem_available_bytes();
    if (!avail || !s->loaded) return avail;
    const backend_model_meta *m = backend_describe(s->be, s->model_path);
    /* weights used from the file's mapping are page cache, which
     * MemAvailable counts already; a converted copy is ours to free */
    if (m->ok && model_precision_type(s->info.precision, m->type) != m->type)
        avail += s->info.weight_bytes;
    return avail;
}

/* ---- models ---- */

static bool is_current(const session *s, const char *id) {
    if (s->be->caps.local_files) return lm_same_file(id, s->model_path);
    return s->loaded && strcmp(id, s->info.path) == 0;
}

static session_model *add_model_row(session *s, const char *name, const char *id,
                                    const backend_model_meta *meta) {
    s->models = lm_xrealloc(s->models, (s->n_models + 1) * sizeof *s->models);
    session_model *r = &s->models[s->n_models++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->path, sizeof r->path, "%s", id);
    r->current = is_current(s, id);
    r->remote = !s->be->caps.local_files;
    r->meta = meta ? meta : backend_describe(s->be, id);
    return r;
}

/* The model in use when no row names it: a file given with -m, the demo
 * model (first, where the cursor starts), or a model the server no longer
 * lists (last). */
static void add_current_row(session *s) {
    if (!s->be->caps.local_files) {
        if (s->loaded) add_model_row(s, s->info.path, s->info.path, NULL)->current = true;
        return;
    }
    const char *slash = strrchr(s->model_path, '/');
    const char *name = s->demo                        ? "demo model (random weights)"
                       : s->loaded && s->info.name[0] ? s->info.name
                       : slash                        ? slash + 1
                                                      : s->model_path;
    session_model *r = add_model_row(s, name, s->model_path, NULL);
    r->current = true;
    r->demo = s->demo;
    session_model cur = *r;
    memmove(s->models + 1, s->models, (s->n_models - 1) * sizeof *s->models);
    s->models[0] = cur;
}

const char *session_server_name(const session *s) {
    return s->be->caps.local_files ? NULL : s->loaded ? s->info.server : s->opt.remote.base_url;
}

size_t session_models(session *s, const session_model **rows) {
    free(s->models);
    s->models = NULL;
    s->n_models = 0;
    const backend_model *offered;
    char notice[256];
    size_t n = backend_models(s->be, &offered, notice);
    bool listed = false;
    for (size_t i = 0; i < n; i++) {
        session_model *r = add_model_row(s, offered[i].name, offered[i].id, offered[i].meta);
        r->configured = offered[i].configured;
        listed |= r->current;
    }
    /* unreadable store entries: said once, not at each opening of the menu */
    if (notice[0] && !s->stores_told) session_notice(s, NOTICE_WARNING, "%s", notice);
    s->stores_told |= notice[0] != 0;
    if (!listed) add_current_row(s);
    *rows = s->models;
    return s->n_models;
}

int session_load_model(session *s, const char *path, lm_error *err) {
    model_options opt = s->opt.model;
    if (!s->be->caps.local_files) return session_begin_load(s, path, &opt, err);
    for (size_t i = 0; i < s->cfg->n_models; i++) { /* a configured model's own settings */
        const config_model *m = &s->cfg->models[i];
        if (!lm_same_file(m->path, path)) continue;
        if (m->precision >= 0) opt.precision = (enum model_precision)m->precision;
        if (m->n_ctx > 0) opt.n_ctx = m->n_ctx;
        break;
    }
    return session_begin_load(s, path, &opt, err);
}

/* ---- precisions ---- */

size_t session_precisions(session *s, session_precision rows[SESSION_N_PRECISIONS],
                          uint64_t *available) {
    *available = 0;
    if (!s->loaded || !s->be->caps.precisions) return 0;
    const backend_model_meta *m = backend_describe(s->be, s->model_path);
    if (!m->ok) return 0;
    uint64_t avail = session_memory_available(s);
    for (int p = 0; p < SESSION_N_PRECISIONS; p++) {
        bool current = (int)s->info.precision == p;
        rows[p] = (session_precision){
            .precision = (enum model_precision)p,
            .type = model_precision_type((enum model_precision)p, m->type),
            .bytes = m->weight_bytes[p],
            .kv_bytes = s->info.kv_bytes,
            .current = current,
            /* the new model's KV cache is made before the old one goes */
            .fits = current || !avail || m->weight_bytes[p] + s->info.kv_bytes <= avail,
        };
    }
    *available = avail;
    return SESSION_N_PRECISIONS;
}

int session_set_precision(session *s, enum model_precision p, lm_error *err) {
    if ((unsigned)p >= SESSION_N_PRECISIONS) return lm_fail(err, "unknown precision");
    if (!s->be->caps.precisions)
        return lm_fail(err, "The server decides the precision of its models.");
    if (!s->loaded) {
        if (s->load_id)
            return lm_fail(err, "A model is loading: wait for it, or cancel it with Esc.");
        s->opt.model.precision = p;
        session_notice(s, NOTICE_OUTPUT, "The next model loads at %s.", session_precision_label(p));
        return 0;
    }
    if (s->info.precision == p && !s->load_id) {
        session_notice(s, NOTICE_OUTPUT, "The model is at %s already.", session_precision_label(p));
        return 0;
    }
    model_options opt = s->opt.model;
    opt.precision = p;
    return session_begin_load(s, s->model_path, &opt, err);
}

/* ---- settings ---- */

typedef struct setting_def {
    const char *name, *label, *help;
    bool reload;
} setting_def;

static const setting_def setting_defs[SESSION_N_SETTINGS] = {
    {"temp", "Temperature", "0 to 100; 0 always takes the most likely token", false},
    {"top-k", "Top-k", "keep the k most likely tokens; 0: off", false},
    {"top-p", "Top-p", "keep the likeliest tokens up to this probability, 0 to 1; 1: off", false},
    {"min-p", "Min-p", "drop tokens below this share of the best one's probability; 0: off", false},
    {"repeat-penalty", "Repetition penalty", "make recent tokens less likely; 1: off", false},
    {"seed", "Seed", "a whole number for repeatable replies, or random", false},
    {"max-tokens", "Max reply tokens", "the longest reply; -1: until the model stops", false},
    {"threads", "Threads", "worker threads; 0: one per core (reloads the model)", true},
    {"context", "Context size", "tokens; 0: the model's own, at most 4096 (reloads the model)",
     true},
};

const char *session_setting_name(int i) {
    return i >= 0 && i < SESSION_N_SETTINGS ? setting_defs[i].name : NULL;
}

static void auto_value(char *buf, size_t size, int set, int actual, bool known) {
    if (set > 0)
        snprintf(buf, size, "%d", set);
    else if (known)
        snprintf(buf, size, "auto (%d)", actual);
    else
        snprintf(buf, size, "auto");
}

void session_settings(const session *s, session_setting rows[SESSION_N_SETTINGS]) {
    const sampler_params *p = &s->opt.sampling;
    for (int i = 0; i < SESSION_N_SETTINGS; i++)
        rows[i] = (session_setting){.name = setting_defs[i].name,
                                    .label = setting_defs[i].label,
                                    .help = setting_defs[i].help,
                                    .reload = setting_defs[i].reload};
    snprintf(rows[0].value, sizeof rows[0].value, "%g", (double)p->temperature);
    snprintf(rows[1].value, sizeof rows[1].value, "%d", p->top_k);
    snprintf(rows[2].value, sizeof rows[2].value, "%g", (double)p->top_p);
    snprintf(rows[3].value, sizeof rows[3].value, "%g", (double)p->min_p);
    snprintf(rows[4].value, sizeof rows[4].value, "%g", (double)p->repeat_penalty);
    snprintf(rows[5].value, sizeof rows[5].value, "%llu%s", (unsigned long long)p->seed,
             s->seed_random ? " (random)" : "");
    snprintf(rows[6].value, sizeof rows[6].value, "%d", s->opt.max_tokens);
    /* while a reload for new threads or context runs: the new values */
    const model_options *mo = s->load_id ? &s->pending.opt : &s->opt.model;
    auto_value(rows[7].value, sizeof rows[7].value, mo->n_threads, s->info.n_threads, s->loaded);
    auto_value(rows[8].value, sizeof rows[8].value, mo->n_ctx, s->info.n_ctx, s->loaded);
}

/* "Top_K", "temperature" -> "top-k", "temp". */
static void canonical_name(const char *name, char *out, size_t size) {
    static const char *const aliases[][2] = {
        {"temperature", "temp"},     {"repetition-penalty", "repeat-penalty"},
        {"n-predict", "max-tokens"}, {"max-reply-tokens", "max-tokens"},
        {"ctx", "context"},          {"ctx-size", "context"},
        {"context-size", "context"},
    };
    size_t i = 0;
    for (; name[i] && i + 1 < size; i++)
        out[i] = name[i] == '_' ? '-' : (char)tolower((unsigned char)name[i]);
    out[i] = 0;
    for (size_t a = 0; a < sizeof aliases / sizeof *aliases; a++)
        if (strcmp(out, aliases[a][0]) == 0) snprintf(out, size, "%s", aliases[a][1]);
}

static bool parse_number(const char *text, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v >= lo && v <= hi)) return false;
    *out = v;
    return true;
}

static bool parse_whole(const char *text, double lo, double hi, double *out) {
    return parse_number(text, lo, hi, out) && *out == (double)(long long)*out;
}

static int set_seed(session *s, const char *value) {
    double v;
    if (strcmp(value, "random") == 0) {
        s->opt.sampling.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
        s->seed_random = true;
    } else if (parse_whole(value, 0, 1e18, &v)) {
        s->opt.sampling.seed = (uint64_t)v;
        s->seed_random = false;
    } else {
        return -1;
    }
    s->n_requests = 0;
    return 0;
}

/* Threads and context: a reload with the new value (none when unchanged). */
static int set_reload_value(session *s, bool threads, int v, lm_error *err) {
    model_options opt = s->opt.model;
    int *field = threads ? &opt.n_threads : &opt.n_ctx;
    if (*field == v) return 0;
    *field = v;
    if (!s->be->caps.local_files) return lm_fail(err, "The server decides %s.",
                                                 threads ? "its threads" : "its context size");
    if (!s->loaded && !s->load_id) {
        s->opt.model = opt;
        return 0;
    }
    return session_begin_load(s, s->model_path, &opt, err);
}

static int set_sampling(session *s, const char *name, const char *value, bool *known) {
    sampler_params *p = &s->opt.sampling;
    double v;
    *known = true;
    if (strcmp(name, "temp") == 0 && parse_number(value, 0, 100, &v))
        p->temperature = (float)v;
    else if (strcmp(name, "top-k") == 0 && parse_whole(value, 0, 1 << 24, &v))
        p->top_k = (int)v;
    else if (strcmp(name, "top-p") == 0 && parse_number(value, 0, 1, &v))
        p->top_p = (float)v;
    else if (strcmp(name, "min-p") == 0 && parse_number(value, 0, 1, &v))
        p->min_p = (float)v;
    else if (strcmp(name, "repeat-penalty") == 0 && parse_number(value, 0.01, 100, &v))
        p->repeat_penalty = (float)v;
    else if (strcmp(name, "seed") == 0)
        return set_seed(s, value);
    else if (strcmp(name, "max-tokens") == 0 && parse_whole(value, -1, 1 << 24, &v))
        s->opt.max_tokens = (int)v;
    else {
        *known = false;
        for (int i = 0; i < SESSION_N_SETTINGS; i++)
            if (strcmp(name, setting_defs[i].name) == 0) *known = true;
        return -1;
    }
    return 0;
}

int session_set(session *s, const char *name, const char *value, lm_error *err) {
    char key[32];
    canonical_name(name, key, sizeof key);
    bool threads = strcmp(key, "threads") == 0, context = strcmp(key, "context") == 0;
    if (threads || context) {
        double v = 0;
        bool ok = strcmp(value, "auto") == 0 ||
                  (threads ? parse_whole(value, 0, 1024, &v)
                           : parse_whole(value, 0, 1 << 24, &v) && (v == 0 || v >= 16));
        if (!ok)
            return lm_fail(err, "'%s' is not a valid value for %s (%s).", value, key,
                           threads ? "0 to 1024, or auto" : "16 or more, or 0 for auto");
        return set_reload_value(s, threads, (int)v, err);
    }
    bool known;
    if (set_sampling(s, key, value, &known) == 0) return 0;
    if (!known)
        return lm_fail(err,
                       "Unknown setting '%s' (temp, top-k, top-p, min-p, repeat-penalty, seed, "
                       "max-tokens, threads, context).",
                       name);
    for (int i = 0; i < SESSION_N_SETTINGS; i++)
        if (strcmp(key, setting_defs[i].name) == 0)
            return lm_fail(err, "'%s' is not a valid value for %s (%s).", value, key,
                           setting_defs[i].help);
    return -1;
}

int session_save_defaults(session *s, char *path_out, size_t size, lm_error *err) {
    config_settings cs = {
        .sampling = s->opt.sampling,
        .seed_random = s->seed_random,
        .n_predict = s->opt.max_tokens,
        .threads = s->opt.model.n_threads,
        .n_ctx = s->opt.model.n_ctx,
    };
    if (config_save_settings(s->cfg, NULL, &cs, err) != 0) return -1;
    snprintf(path_out, size, "%s", s->cfg->user_file ? s->cfg->user_file : "");
    return 0;
}

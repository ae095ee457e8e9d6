/* config: see include/config.h. The order of this file: messages, places
 * (XDG folders, path expansion, the data folder), keys, the built-in
 * defaults, applying a file (one small function per key), loading the
 * layers, models (finding and scanning) and "save as default". */
#include "config.h"

#include "paths.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- messages ---- */

void config_messages_add(config_messages *m, const char *fmt, ...) {
    if (m->n >= CONFIG_MAX_MESSAGES) {
        m->dropped++;
        return;
    }
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    m->items = lm_xrealloc(m->items, (m->n + 1) * sizeof *m->items);
    m->items[m->n++] = lm_xstrdup(line);
}

void config_messages_free(config_messages *m) {
    for (size_t i = 0; i < m->n; i++) free(m->items[i]);
    free(m->items);
    *m = (config_messages){0};
}

static void messages_copy(config_messages *dst, const config_messages *src) {
    *dst = (config_messages){.dropped = src->dropped};
    for (size_t i = 0; i < src->n; i++) config_messages_add(dst, "%s", src->items[i]);
}

/* ---- places ---- */

static char *str_or_null(const char *s) {
    return s ? lm_xstrdup(s) : NULL;
}

char *config_xdg_path(enum config_xdg kind, const char *rel) {
    return paths_lmterm((enum paths_kind)kind, rel);
}

/* The value of $name for a path; XDG base folders get their defaults. */
static char *env_for_path(const char *name) {
    for (int k = 0; k < PATHS_N_KINDS; k++)
        if (strcmp(name, paths_xdg_var((enum paths_kind)k)) == 0)
            return paths_xdg_base((enum paths_kind)k);
    const char *v = getenv(name);
    return v ? lm_xstrdup(v) : NULL;
}

/* Expands one $NAME or ${NAME} at s (just past the '$'); returns the bytes
 * consumed, 0 when s does not start a name (the '$' is then literal), -1
 * for an unset variable. */
static int expand_var(const char *s, lm_buf *out, lm_error *err) {
    bool braced = s[0] == '{';
    const char *name = s + braced;
    size_t n = 0;
    while (isalnum((unsigned char)name[n]) || name[n] == '_') n++;
    if (n == 0 || isdigit((unsigned char)name[0]) || n > 64 || (braced && name[n] != '}')) return 0;
    char var[65];
    memcpy(var, name, n);
    var[n] = 0;
    char *value = env_for_path(var);
    if (!value) return lm_fail(err, "environment variable %s is not set", var);
    lm_buf_puts(out, value);
    free(value);
    return (int)(n + 2 * braced);
}

char *config_expand_path(const char *path, const char *base_dir, lm_error *err) {
    lm_buf b = {0};
    const char *s = path;
    if (s[0] == '~') {
        const char *home = paths_home();
        if (s[1] != '/' && s[1] != 0) {
            lm_fail(err, "~user paths are not supported");
            return NULL;
        }
        if (!home) {
            lm_fail(err, "~: no home folder (HOME is not set)");
            return NULL;
        }
        lm_buf_puts(&b, home);
        s++;
    }
    for (; *s; s++) {
        int k = *s == '$' ? expand_var(s + 1, &b, err) : 0;
        if (k < 0) {
            lm_buf_free(&b);
            return NULL;
        }
        if (k > 0)
            s += k;
        else
            lm_buf_append(&b, s, 1);
    }
    lm_buf_cstr(&b);
    if (b.data[0] != '/' && base_dir) {
        lm_buf abs = {0};
        lm_buf_printf(&abs, "%s/%s", base_dir, b.data);
        lm_buf_free(&b);
        b = abs;
    }
    if (b.len >= PATH_MAX) {
        lm_buf_free(&b);
        lm_fail(err, "path longer than %d bytes", PATH_MAX);
        return NULL;
    }
    return b.data;
}

static bool has_default_config(const char *dir) {
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/config/lmterm.yaml", dir);
    return n > 0 && (size_t)n < sizeof path && access(path, R_OK) == 0;
}

/* dir if it holds the data files (as a canonical path), else NULL. */
static char *data_dir_at(const char *dir) {
    if (!dir || !has_default_config(dir)) return NULL;
    char *real = realpath(dir, NULL);
    return real ? real : lm_xstrdup(dir);
}

char *config_data_dir(void) {
    /* an explicit setting is the only candidate, so a test (or a relocated
     * install) gets exactly what it names */
    const char *env = getenv("LMTERM_DATADIR");
    if (env && *env) return data_dir_at(env);

    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char *found = NULL;
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        /* installed: PREFIX/bin/lmterm beside PREFIX/share/lmterm, which also
         * holds for a DESTDIR staging copy; then the source tree, for
         * ./lmterm and build/release/lmterm, which must see its own files
         * rather than an older install's */
        const char *rel[] = {"/../share/lmterm", "", "/../.."};
        for (size_t i = 0; i < 3 && !found; i++) {
            char cand[PATH_MAX + 32];
            snprintf(cand, sizeof cand, "%s%s", exe, rel[i]);
            found = data_dir_at(cand);
        }
    }
#ifdef LMTERM_DATADIR
    if (!found) found = data_dir_at(LMTERM_DATADIR);
#endif
    return found;
}

/* ---- keys ---- */

static const char *const action_names[CONFIG_N_ACTIONS] = {
    "stop",     "help",          "model_menu", "precision_menu", "system_prompt",
    "settings", "conversations", "save",       "regenerate",
};

const char *config_action_name(enum config_action a) {
    return (unsigned)a < CONFIG_N_ACTIONS ? action_names[a] : "?";
}

int config_action_from_name(const char *name) {
    for (int a = 0; a < CONFIG_N_ACTIONS; a++)
        if (strcmp(name, action_names[a]) == 0) return a;
    return -1;
}

/* The part of a key name after one of the prefixes, or NULL. */
static const char *after_prefix(const char *name, const char *const *prefixes) {
    for (; *prefixes; prefixes++) {
        size_t n = strlen(*prefixes);
        if (strncasecmp(name, *prefixes, n) == 0) return name + n;
    }
    return NULL;
}

int config_key_parse(const char *name) {
    static const char *const ctrl[] = {"Ctrl-", "Ctrl+", "C-", "^", NULL};
    static const char *const alt[] = {"Alt-", "Alt+", "M-", "Meta-", NULL};
    const char *rest;
    if (strcasecmp(name, "Esc") == 0 || strcasecmp(name, "Escape") == 0) return CONFIG_KEY_ESC;
    if ((name[0] == 'F' || name[0] == 'f') && isdigit((unsigned char)name[1])) {
        char *end;
        long n = strtol(name + 1, &end, 10);
        return *end == 0 && n >= 1 && n <= 24 ? CONFIG_KEY_F(n) : -1;
    }
    if ((rest = after_prefix(name, ctrl)) && rest[0] && !rest[1]) {
        int c = toupper((unsigned char)rest[0]);
        return c >= 'A' && c <= '_' ? c & 0x1f : -1; /* not Ctrl-@: 0 ends a list */
    }
    if ((rest = after_prefix(name, alt)) && rest[0] && !rest[1]) {
        unsigned char c = (unsigned char)rest[0];
        return c > 0x20 && c < 0x7f ? CONFIG_KEY_ALT | tolower(c) : -1;
    }
    return -1;
}

const char *config_key_name(int key, char buf[16]) {
    if (key == CONFIG_KEY_ESC)
        snprintf(buf, 16, "Esc");
    else if (key > 0 && key < 0x20)
        snprintf(buf, 16, "Ctrl-%c", key | 0x40);
    else if (key > CONFIG_KEY_F(0) && key <= CONFIG_KEY_F(24))
        snprintf(buf, 16, "F%d", key - CONFIG_KEY_F(0));
    else if ((key & CONFIG_KEY_ALT) && (key & ~CONFIG_KEY_ALT) > 0x20 &&
             (key & ~CONFIG_KEY_ALT) < 0x7f)
        snprintf(buf, 16, "Alt-%c", toupper(key & ~CONFIG_KEY_ALT));
    else
        snprintf(buf, 16, "?");
    return buf;
}

int config_action_for_key(const config *c, int key) {
    for (int a = 0; a < CONFIG_N_ACTIONS; a++)
        for (int k = 0; k < CONFIG_MAX_KEYS && c->keys[a][k]; k++)
            if (c->keys[a][k] == key) return a;
    return -1;
}

/* ---- defaults, copy, free ---- */

static void set_keys(config *c, enum config_action a, int k1, int k2) {
    memset(c->keys[a], 0, sizeof c->keys[a]);
    c->keys[a][0] = k1;
    c->keys[a][1] = k2;
}

static void default_keys(config *c) {
    set_keys(c, CONFIG_ACTION_STOP, CONFIG_KEY_ESC, 'C' & 0x1f);
    set_keys(c, CONFIG_ACTION_HELP, CONFIG_KEY_F(1), 0);
    set_keys(c, CONFIG_ACTION_MODEL_MENU, CONFIG_KEY_F(2), 0);
    set_keys(c, CONFIG_ACTION_PRECISION_MENU, CONFIG_KEY_F(3), 0);
    set_keys(c, CONFIG_ACTION_SYSTEM_PROMPT, CONFIG_KEY_F(4), 0);
    set_keys(c, CONFIG_ACTION_SETTINGS, CONFIG_KEY_F(5), 0);
    set_keys(c, CONFIG_ACTION_CONVERSATIONS, CONFIG_KEY_F(6), 0);
    set_keys(c, CONFIG_ACTION_SAVE, 'S' & 0x1f, 0);
    set_keys(c, CONFIG_ACTION_REGENERATE, CONFIG_KEY_F(7), 0);
}

static void add_preset(config *c, const char *name, const char *text) {
    c->presets = lm_xrealloc(c->presets, (c->n_presets + 1) * sizeof *c->presets);
    c->presets[c->n_presets++] = (config_preset){lm_xstrdup(name), lm_xstrdup(text)};
}

static void add_model_dir(config *c, char *owned_path) {
    c->model_dirs = lm_xrealloc(c->model_dirs, (c->n_model_dirs + 1) * sizeof *c->model_dirs);
    c->model_dirs[c->n_model_dirs++] = owned_path;
}

/* $XDG_DATA_HOME/lmterm/transcripts; without a home folder, a relative
 * "transcripts" (the only choice left, and a visible one). */
static char *default_transcripts_dir(void) {
    char *d = config_xdg_path(CONFIG_XDG_DATA, "transcripts");
    return d ? d : lm_xstrdup("transcripts");
}

void config_init_defaults(config *c) {
    *c = (config){0};
    c->precision = MODEL_PRECISION_NATIVE;
    c->cache_type = MODEL_CACHE_F16;
    c->settings = (config_settings){
        .sampling = sampler_default_params(), .seed_random = true, .n_predict = -1};
    char *models = config_expand_path("~/models", NULL, NULL);
    if (models) add_model_dir(c, models);
    char *own = config_xdg_path(CONFIG_XDG_DATA, "models");
    if (own) add_model_dir(c, own);
    add_preset(c, "assistant", "You are a helpful assistant.");
    add_preset(c, "concise", "You are a helpful assistant. Answer briefly and plainly.");
    add_preset(c, "coder",
               "You are an expert programmer. Answer with correct, idiomatic code and a short "
               "explanation.");
    c->system_prompt = lm_xstrdup("assistant");
    c->theme = lm_xstrdup("default");
    default_keys(c);
    c->transcripts_dir = default_transcripts_dir();
    c->autosave = true;
}

static void free_model(config_model *m) {
    free(m->name);
    free(m->path);
    free(m->template_name);
}

static void free_server(config_server *s) {
    free(s->name);
    free(s->url);
    free(s->api_key_env);
    free(s->model);
}

static void copy_model(config_model *dst, const config_model *src) {
    *dst = *src;
    dst->name = lm_xstrdup(src->name);
    dst->path = lm_xstrdup(src->path);
    dst->template_name = str_or_null(src->template_name);
}

void config_free(config *c) {
    for (size_t i = 0; i < c->n_models; i++) free_model(&c->models[i]);
    free(c->models);
    for (size_t i = 0; i < c->n_model_dirs; i++) free(c->model_dirs[i]);
    free(c->model_dirs);
    for (size_t i = 0; i < c->n_presets; i++) {
        free(c->presets[i].name);
        free(c->presets[i].text);
    }
    free(c->presets);
    for (size_t i = 0; i < c->n_servers; i++) free_server(&c->servers[i]);
    free(c->servers);
    free(c->default_model);
    free(c->system_prompt);
    free(c->theme);
    free(c->transcripts_dir);
    free(c->data_dir);
    free(c->user_file);
    config_messages_free(&c->warnings);
    *c = (config){0};
}

/* A deep copy: a file is applied to a copy, which replaces the original
 * only when the whole file was good. */
static void config_copy(config *dst, const config *src) {
    *dst = *src;
    dst->models = lm_xcalloc(src->n_models, sizeof *dst->models);
    for (size_t i = 0; i < src->n_models; i++) copy_model(&dst->models[i], &src->models[i]);
    dst->model_dirs = lm_xcalloc(src->n_model_dirs, sizeof *dst->model_dirs);
    for (size_t i = 0; i < src->n_model_dirs; i++)
        dst->model_dirs[i] = lm_xstrdup(src->model_dirs[i]);
    dst->presets = lm_xcalloc(src->n_presets, sizeof *dst->presets);
    for (size_t i = 0; i < src->n_presets; i++)
        dst->presets[i] =
            (config_preset){lm_xstrdup(src->presets[i].name), lm_xstrdup(src->presets[i].text)};
    dst->servers = lm_xcalloc(src->n_servers + 1, sizeof *dst->servers);
    for (size_t i = 0; i < src->n_servers; i++) {
        const config_server *s = &src->servers[i];
        dst->servers[i] = *s;
        dst->servers[i].name = lm_xstrdup(s->name);
        dst->servers[i].url = lm_xstrdup(s->url);
        dst->servers[i].api_key_env = str_or_null(s->api_key_env);
        dst->servers[i].model = str_or_null(s->model);
    }
    dst->default_model = str_or_null(src->default_model);
    dst->system_prompt = str_or_null(src->system_prompt);
    dst->theme = str_or_null(src->theme);
    dst->transcripts_dir = str_or_null(src->transcripts_dir);
    dst->data_dir = str_or_null(src->data_dir);
    dst->user_file = str_or_null(src->user_file);
    messages_copy(&dst->warnings, &src->warnings);
}

/* ---- applying a file ---- */

#define MAX_MODELS 256
#define MAX_MODEL_DIRS 64
#define MAX_PRESETS 256
#define MAX_NAME 128
#define MAX_PROMPT (64 * 1024)

/* The state while one file is applied to a copy of the configuration. */
typedef struct applier {
    config *c;
    const char *path;     /* the file, for messages */
    const char *base_dir; /* relative paths in the file are relative to this */
    lm_error *err;
    bool keys_set[CONFIG_N_ACTIONS];            /* actions this file binds */
    const config_yaml_node *system_prompt_node; /* where this file set system_prompt */
} applier;

/* One known key of a map and the function that reads its value. */
typedef bool (*key_reader)(applier *a, const char *key, const config_yaml_node *v, void *ctx);
typedef struct key_entry {
    const char *name;
    key_reader read;
} key_entry;

/* Reads each pair of map with the table: a key twice is an error, an
 * unknown key a warning. prefix names the map in messages ("sampling"). */
static bool walk_map(applier *a, const config_yaml_node *map, const char *prefix,
                     const key_entry *table, size_t n_table, void *ctx) {
    if (map->kind != CONFIG_YAML_MAP)
        return config_yaml_fail(a->err, a->path, map, "%s: expected a map of keys",
                                prefix[0] ? prefix : "the file");
    uint64_t seen = 0;
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        const config_yaml_node *k = map->items[i], *v = map->items[i + 1];
        char full[160], name[CONFIG_PRINTABLE_SIZE];
        snprintf(full, sizeof full, "%s%s%s", prefix, prefix[0] ? "." : "",
                 config_yaml_printable(k->text, k->len, name));
        size_t t = 0;
        while (t < n_table && strcmp(table[t].name, k->text) != 0) t++;
        if (t == n_table) {
            config_messages_add(&a->c->warnings, "%s:%d:%d: unknown key '%s' (ignored)", a->path,
                                k->line, k->col, full);
            continue;
        }
        if (seen & (1ull << t))
            return config_yaml_fail(a->err, a->path, k, "%s: key given twice", full);
        seen |= 1ull << t;
        if (!table[t].read(a, full, v, ctx)) return false;
    }
    return true;
}

/* -- scalar helpers -- */

static bool read_int(applier *a, const char *key, const config_yaml_node *v, long long lo,
                     long long hi, int *out) {
    long long x;
    if (!config_yaml_int(a->path, key, v, lo, hi, &x, a->err)) return false;
    *out = (int)x;
    return true;
}

static bool read_float(applier *a, const char *key, const config_yaml_node *v, double lo, double hi,
                       float *out) {
    double x;
    if (!config_yaml_float(a->path, key, v, lo, hi, &x, a->err)) return false;
    *out = (float)x;
    return true;
}

/* A context size: 0 (automatic) or 16 .. 2^24 tokens. */
static bool read_context(applier *a, const char *key, const config_yaml_node *v, int *out) {
    if (!read_int(a, key, v, 0, 1 << 24, out)) return false;
    if (*out != 0 && *out < 16)
        return config_yaml_fail(a->err, a->path, v, "%s: expected 0 (automatic) or at least 16",
                                key);
    return true;
}

/* A one-line name; null gives NULL when allow_null. */
static bool read_name(applier *a, const char *key, const config_yaml_node *v, bool allow_null,
                      char **out) {
    const char *s;
    if (allow_null && config_yaml_is_null(v)) {
        free(*out);
        *out = NULL;
        return true;
    }
    if (!config_yaml_string(a->path, key, v, MAX_NAME, false, &s, a->err)) return false;
    if (!s[0]) return config_yaml_fail(a->err, a->path, v, "%s: must not be empty", key);
    free(*out);
    *out = lm_xstrdup(s);
    return true;
}

static bool read_path(applier *a, const char *key, const config_yaml_node *v, char **out) {
    const char *s;
    if (!config_yaml_string(a->path, key, v, PATH_MAX, false, &s, a->err)) return false;
    if (!s[0]) return config_yaml_fail(a->err, a->path, v, "%s: must not be empty", key);
    lm_error e;
    char *p = config_expand_path(s, a->base_dir, &e);
    if (!p) return config_yaml_fail(a->err, a->path, v, "%s: %s", key, e.msg);
    free(*out);
    *out = p;
    return true;
}

static bool read_precision(applier *a, const char *key, const config_yaml_node *v, int *out) {
    int p = v->kind == CONFIG_YAML_SCALAR ? model_precision_from_name(v->text) : -1;
    if (p < 0)
        return config_yaml_fail(a->err, a->path, v, "%s: expected native, fp32, fp16, int8 or int4",
                                key);
    *out = p;
    return true;
}

/* -- sampling -- */

static bool read_temperature(applier *a, const char *k, const config_yaml_node *v, void *ctx) {
    (void)ctx;
    return read_float(a, k, v, 0, 100, &a->c->settings.sampling.temperature);
}
static bool read_top_k(applier *a, const char *k, const config_yaml_node *v, void *ctx) {
    (void)ctx;
    return read_int(a, k, v, 0, 1 << 24, &a->c->settings.sampling.top_k);
}
static bool read_top_p(applier *a, const char *k, const config_yaml_node *v, void *ctx) {
    (void)ctx;
    return read_float(a, k, v, 0, 1, &a->c->settings.sampling.top_p);
}
static bool read_min_p(applier *a, const char *k, const config_yaml_node *v, void *ctx) {
    (void)ctx;
    return read_float(a, k, v, 0, 1, &a->c->settings.sampling.min_p);
}
static bool read_repeat_penalty(applier *a, const char *k, const config_yaml_node *v, void *ctx) {
    (void)ctx;
    return read_float(a, k, v, 0.01, 100, &a->c->settings.sampling.repeat_penalty);
}
static bool read_repeat_last_n(applier *a, const char *k, const config_yaml_node *v, void *ctx) {
    (void)ctx;
    return read_int(a, k, v, 0, 1 << 20, &a->c->settings.sampling.repeat_last_n);
}

/* seed: random, or a whole number 0 .. 2^64-1 */
static bool read_seed(applier *a, const char *k, const config_yaml_node *v, void *ctx) {
    (void)ctx;
    if (v->kind == CONFIG_YAML_SCALAR && strcmp(v->text, "random") == 0) {
        a->c->settings.seed_random = true;
        return true;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long s = 0;
    bool ok = v->kind == CONFIG_YAML_SCALAR && v->style == CONFIG_YAML_PLAIN &&
              isdigit((unsigned char)v->text[0]);
    if (ok) s = strtoull(v->text, &end, 10);
    if (!ok || errno || *end)
        return config_yaml_fail(a->err, a->path, v, "%s: expected random or a whole number", k);
    a->c->settings.seed_random = false;
    a->c->settings.sampling.seed = s;
    return true;
}

static const key_entry sampling_keys[] = {
    {"temperature", read_temperature},
    {"top_k", read_top_k},
    {"top_p", read_top_p},
    {"min_p", read_min_p},
    {"repeat_penalty", read_repeat_penalty},
    {"repeat_last_n", read_repeat_last_n},
    {"seed", read_seed},
};

static bool read_sampling(applier *a, const char *k, const config_yaml_node *v, void *ctx) {
    return walk_map(a, v, k, sampling_keys, sizeof sampling_keys / sizeof *sampling_keys, ctx);
}

/* -- models -- */

static bool read_model_name(applier *a, const char *k, const config_yaml_node *v, void *m) {
    return read_name(a, k, v, false, &((config_model *)m)->name);
}
static bool read_model_path(applier *a, const char *k, const config_yaml_node *v, void *m) {
    return read_path(a, k, v, &((config_model *)m)->path);
}
static bool read_model_precision(applier *a, const char *k, const config_yaml_node *v, void *m) {
    return read_precision(a, k, v, &((config_model *)m)->precision);
}
static bool read_model_context(applier *a, const char *k, const config_yaml_node *v, void *m) {
    return read_context(a, k, v, &((config_model *)m)->n_ctx);
}

/* template: auto (or null), phi3 or llama3, the names chat_template_from_name knows */
static bool read_model_template(applier *a, const char *k, const config_yaml_node *v, void *ctx) {
    config_model *m = ctx;
    if (config_yaml_is_null(v) || (v->kind == CONFIG_YAML_SCALAR && strcmp(v->text, "auto") == 0)) {
        free(m->template_name);
        m->template_name = NULL;
        return true;
    }
    if (v->kind != CONFIG_YAML_SCALAR || (strcmp(v->text, "phi3") && strcmp(v->text, "llama3")))
        return config_yaml_fail(a->err, a->path, v, "%s: expected auto, phi3 or llama3", k);
    free(m->template_name);
    m->template_name = lm_xstrdup(v->text);
    return true;
}

static const key_entry model_keys[] = {
    {"name", read_model_name},           {"path", read_model_path},
    {"precision", read_model_precision}, {"template", read_model_template},
    {"context", read_model_context},
};

/* The name a model gets from its file: the base name without ".gguf". */
static char *name_from_path(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 5 && strcasecmp(base + n - 5, ".gguf") == 0) n -= 5;
    if (n > MAX_NAME) n = MAX_NAME;
    return lm_xstrndup(base, n);
}

static bool read_one_model(applier *a, const char *k, const config_yaml_node *v, config_model *m) {
    *m = (config_model){.precision = -1};
    if (!walk_map(a, v, k, model_keys, sizeof model_keys / sizeof *model_keys, m)) return false;
    if (!m->path) return config_yaml_fail(a->err, a->path, v, "%s: a model needs a path", k);
    if (!m->name) m->name = name_from_path(m->path);
    return true;
}

static config_model *find_model(config *c, const char *name) {
    for (size_t i = 0; i < c->n_models; i++)
        if (strcmp(c->models[i].name, name) == 0) return &c->models[i];
    return NULL;
}

/* Puts m (owned) in c: it replaces a model of the same name, else it is added. */
static void merge_model(config *c, config_model *m) {
    config_model *old = find_model(c, m->name);
    if (old) {
        free_model(old);
        *old = *m;
        return;
    }
    c->models = lm_xrealloc(c->models, (c->n_models + 1) * sizeof *c->models);
    c->models[c->n_models++] = *m;
}

/* models: a list of maps. An entry replaces the earlier layers' entry of the
 * same name; two entries of one name in one file are an error. */
static bool read_models(applier *a, const char *k, const config_yaml_node *v, void *ctx) {
    (void)ctx;
    if (config_yaml_is_null(v)) return true;
    if (v->kind != CONFIG_YAML_LIST)
        return config_yaml_fail(a->err, a->path, v, "%s: expected a list of models", k);
    if (v->n > MAX_MODELS)
        return config_yaml_fail(a->err, a->path, v, "%s: more than %d models", k, MAX_MODELS);
    const char *names[MAX_MODELS]; /* the names this file gave so far */
    for (size_t i = 0; i < v->n; i++) {
        char key[48];
        snprintf(key, sizeof key, "%s[%zu]", k, i + 1);
        config_model m;
        if (!read_one_model(a, key, v->items[i], &m)) {
            free_model(&m);
            return false;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(names[j], m.name) != 0) continue;
            config_yaml_fail(a->err, a->path, v->items[i], "%s: a second model named '%s'", key,
                             m.name);
            free_model(&m);
            return false;
        }
        merge_model(a->c, &m);
        names[i] = m.name; /* now owned by a->c->models */
    }
    return true;
}

/* model_dirs: a list of folders; it replaces the earlier layers' list. */
static bool read_model_dirs(applier *a, const char *k, const config_yaml_node *v, void *ctx) {
    (void)ctx;
    if (!config_yaml_is_null(v) && v->kind != CONFIG_YAML_LIST)
        return config_yaml_fail(a->err, a->path, v, "%s: expected a list of folders", k);
    if (v->n > MAX_MODEL_DIRS)
        return config_yaml_fail(a->err, a->path, v, "%s: more than %d folders", k, MAX_MODEL_DIRS);
    for (size_t i = 0; i < a->c->n_model_dirs; i++) free(a->c->model_dirs[i]);
    a->c->n_model_dirs = 0;
    for (size_t i = 0; i < v->n; i++) {
        char *dir = NULL;
        if (!read_path(a, k, v->items[i], &dir)) return false;
        add_model_dir(a->c, dir);
    }
    return true;
}

static bool read_default_model(applier *a, const char *k, const config_yaml_node *v, void *ctx) {
    (void)ctx;
    return read_name(a, k, v, true, &a->c->default_model);
}

static bool read_global_precision(applier *a, const char *k, const config_yaml_node *v, void *ctx) {
    (void)ctx;
    int p = 0;
    if (!read_precision(a, k, v, &p)) return false;
    a->c->precision = (enum model_precision)p;
    return true;
}

static bool read_cache_type(applier *a, const char *k, const config_yaml_node *v, void *ctx) {
    (void)ctx;
    int t = v->kind == CONFIG_YAML_SCALAR ? model_cache_type_from_name(v->text) : -1;
    if (t < 0) return config_yaml_fail(a->err, a->path, v, "%s: expected f16, q8_0 or f32", k);
    a->c->cache_type = (enum model_cache_type)t;
    return true;
}

/* -- settings -- */

static bool read_threads(applier *a, const char *k, const config_yaml_node *v, void *ctx) {
    (void)ctx;
    return read_int(a, k, v, 0, 1024, &a->c->settings.threads);
}
static bool read_global_context(applier *a, const char *k, const config_yaml_node *v, void *ctx) {
    (void)ctx;
    return read_context(a, k, v, &a->c->settings.n_ctx);
}
static bool read_max_tokens(applier *a, const char *k, const config_yaml_node *v, void *ctx) {
    (void)ctx;
    return read_int(a, k, v, -1, 1 << 24, &a->c->settings.n_predict);
}

/* -- system prompts -- */

static void remove_preset(config *c, const char *name) {
    for (size_t i = 0; i < c->n_presets; i++) {
        if (strcmp(c->presets[i].name, name) != 0) continue;
        free(c->presets[i].name);
        free(c->presets[i].text);
        memmove(&c->presets[i], &c->presets[i + 1], (c->n_presets - i - 1) * sizeof *c->presets);
        c->n_presets--;
        return;
    }
}

/* system_prompts: name -> text, merged name by name; null removes one. */
static bool read_presets(applier *a, const char *k, const config_yaml_node *v, void *ctx) {
    (void)ctx;
    if (config_yaml_is_null(v)) return true;
    if (v->kind != CONFIG_YAML_MAP)
        return config_yaml_fail(a->err, a->path, v, "%s: expected a map of name: text", k);
    if (v->n / 2 > MAX_PRESETS)
        return config_yaml_fail(a->err, a->path, v, "%s: more than %d presets", k, MAX_PRESETS);
    for (size_t i = 0; i + 1 < v->n; i += 2) {
        const config_yaml_node *name = v->items[i], *text = v->items[i + 1];
        const char *n, *t;
        if (!config_yaml_string(a->path, k, name, MAX_NAME, false, &n, a->err)) return false;
        for (size_t j = 0; j < i; j += 2)
            if (strcmp(v->items[j]->text, n) == 0)
                return config_yaml_fail(a->err, a->path, name, "%s.%s: key given twice", k, n);
        remove_preset(a->c, n);
        if (config_yaml_is_null(text)) continue;
        char key[160];
        snprintf(key, sizeof key, "%s.%s", k, n);
        if (!config_yaml_string(a->path, key, text, MAX_PROMPT, true, &t, a->err)) return false;
        add_preset(a->c, n, t);
    }
    return true;
}

static bool read_system_prompt(applier *a, const char *k, const config_yaml_node *v, void *ctx) {
    (void)ctx;
    a->system_prompt_node = v;
    if (v->kind == CONFIG_YAML_SCALAR && v->len == 0) { /* "" as well as null: none */
        free(a->c->system_prompt);
        a->c->system_prompt = NULL;
        return true;
    }
    return read_name(a, k, v, true, &a->c->system_prompt);
}

/* The preset named by system_prompt must exist once the file is applied. */
static bool check_system_prompt(applier *a) {
    config *c = a->c;
    if (!c->system_prompt || config_find_preset(c, c->system_prompt)) return true;
    if (a->system_prompt_node)
        return config_yaml_fail(a->err, a->path, a->system_prompt_node,
                                "system_prompt: no preset named '%s' in system_prompts",
                                c->system_prompt);
    config_messages_add(&c->warnings, "%s: system_prompt '%s' was removed; none is used", a->path,
                        c->system_prompt);
    free(c->system_prompt);
    c->system_prompt = NULL;
    return true;
}

/* -- theme, transcripts -- */

/* A theme's name, or (with a '/') the path of a theme file. */
static bool read_theme(applier *a, const char *k, const config_yaml_node *v, void *ctx) {
    (void)ctx;
    if (v->kind == CONFIG_YAML_SCALAR && strchr(v->text, '/'))
        return read_path(a, k, v, &a->c->theme);
    return read_name(a, k, v, false, &a->c->theme);
}

static bool read_transcripts_dir(applier *a, const char *k, const config_yaml_node *v, void *ctx) {
    (void)ctx;
    if (config_yaml_is_null(v)) {
        free(a->c->transcripts_dir);
        a->c->transcripts_dir = default_transcripts_dir();
        return true;
    }
    return read_path(a, k, v, &a->c->transcripts_dir);
}

static bool read_autosave(applier *a, const char *k, const config_yaml_node *v, void *ctx) {
    (void)ctx;
    return config_yaml_bool(a->path, k, v, &a->c->autosave, a->err);
}

/* -- keys -- */

/* One key name of a binding; Enter, Tab and Ctrl-J are the input box's. */
static bool read_key(applier *a, const char *k, const config_yaml_node *v, int *out) {
    const char *s;
    if (!config_yaml_string(a->path, k, v, 32, false, &s, a->err)) return false;
    int key = config_key_parse(s);
    if (key < 0)
        return config_yaml_fail(a->err, a->path, v,
                                "%s: '%s' is not a key name (F1..F24, Ctrl-X, Alt-X or Esc)", k, s);
    if (key == '\r' || key == '\n' || key == '\t')
        return config_yaml_fail(a->err, a->path, v, "%s: %s is needed for typing", k, s);
    *out = key;
    return true;
}

/* An action's binding: one key name, a list of up to 4, or null for none. */
static bool read_binding(applier *a, const char *k, const config_yaml_node *v, int keys[]) {
    memset(keys, 0, CONFIG_MAX_KEYS * sizeof *keys);
    if (config_yaml_is_null(v)) return true;
    if (v->kind == CONFIG_YAML_SCALAR) return read_key(a, k, v, &keys[0]);
    if (v->kind != CONFIG_YAML_LIST || v->n > CONFIG_MAX_KEYS)
        return config_yaml_fail(a->err, a->path, v, "%s: expected a key or a list of up to %d keys",
                                k, CONFIG_MAX_KEYS);
    for (size_t i = 0; i < v->n; i++)
        if (!read_key(a, k, v->items[i], &keys[i])) return false;
    return true;
}

/* A key this file binds to action is taken away from the other actions of
 * earlier layers; within the file, one key for two actions is an error. */
static bool claim_keys(applier *a, enum config_action action, const config_yaml_node *v) {
    for (int k = 0; k < CONFIG_MAX_KEYS && a->c->keys[action][k]; k++) {
        int key = a->c->keys[action][k];
        for (int other = 0; other < CONFIG_N_ACTIONS; other++) {
            if (other == (int)action) continue;
            int *list = a->c->keys[other];
            for (int j = 0; j < CONFIG_MAX_KEYS && list[j]; j++) {
                if (list[j] != key) continue;
                char name[16];
                if (a->keys_set[other])
                    return config_yaml_fail(
                        a->err, a->path, v, "keys: %s is bound to both %s and %s",
                        config_key_name(key, name), action_names[other], action_names[action]);
                memmove(&list[j], &list[j + 1], (CONFIG_MAX_KEYS - j - 1) * sizeof *list);
                list[CONFIG_MAX_KEYS - 1] = 0;
                j--;
            }
        }
    }
    return true;
}

static bool read_keys(applier *a, const char *k, const config_yaml_node *v, void *ctx) {
    (void)ctx;
    if (config_yaml_is_null(v)) return true;
    if (v->kind != CONFIG_YAML_MAP)
        return config_yaml_fail(a->err, a->path, v, "%s: expected a map of action: key", k);
    for (size_t i = 0; i + 1 < v->n; i += 2) {
        const config_yaml_node *name = v->items[i];
        int action = config_action_from_name(name->text);
        if (action < 0) {
            char shown[CONFIG_PRINTABLE_SIZE];
            config_messages_add(&a->c->warnings, "%s:%d:%d: unknown key '%s.%s' (ignored)", a->path,
                                name->line, name->col, k,
                                config_yaml_printable(name->text, name->len, shown));
            continue;
        }
        char key[64];
        snprintf(key, sizeof key, "%s.%s", k, name->text);
        if (a->keys_set[action])
            return config_yaml_fail(a->err, a->path, name, "%s: key given twice", key);
        if (!read_binding(a, key, v->items[i + 1], a->c->keys[action])) return false;
        a->keys_set[action] = true;
        if (!claim_keys(a, (enum config_action)action, v->items[i + 1])) return false;
    }
    return true;
}

/* -- servers -- */

#define MAX_SERVERS 64

static bool read_server_name(applier *a, const char *k, const config_yaml_node *v, void *s) {
    return read_name(a, k, v, false, &((config_server *)s)->name);
}
static bool read_server_model(applier *a, const char *k, const config_yaml_node *v, void *s) {
    return read_name(a, k, v, true, &((config_server *)s)->model);
}
static bool read_server_key_env(applier *a, const char *k, const config_yaml_node *v, void *s) {
    return read_name(a, k, v, true, &((config_server *)s)->api_key_env);
}
static bool read_server_url(applier *a, const char *k, const config_yaml_node *v, void *ctx) {
    config_server *s = ctx;
    const char *u;
    if (!config_yaml_string(a->path, k, v, 2048, false, &u, a->err)) return false;
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
        return config_yaml_fail(a->err, a->path, v, "%s: expected http://... or https://...", k);
    free(s->url);
    s->url = lm_xstrdup(u);
    return true;
}
static bool read_server_connect(applier *a, const char *k, const config_yaml_node *v, void *s) {
    return read_float(a, k, v, 0.1, 3600, &((config_server *)s)->connect_timeout);
}
static bool read_server_idle(applier *a, const char *k, const config_yaml_node *v, void *s) {
    return read_float(a, k, v, 1, 86400, &((config_server *)s)->idle_timeout);
}

static const key_entry server_keys[] = {
    {"name", read_server_name},       {"url", read_server_url},
    {"api_key_env", read_server_key_env}, {"model", read_server_model},
    {"connect_timeout", read_server_connect}, {"idle_timeout", read_server_idle},
};

/* servers: a list of maps (name, url, api_key_env, model, timeouts); it
 * replaces the earlier layers' list. */
static bool read_servers(applier *a, const char *k, const config_yaml_node *v, void *ctx) {
    (void)ctx;
    if (!config_yaml_is_null(v) && v->kind != CONFIG_YAML_LIST)
        return config_yaml_fail(a->err, a->path, v, "%s: expected a list of servers", k);
    if (v->n > MAX_SERVERS)
        return config_yaml_fail(a->err, a->path, v, "%s: more than %d servers", k, MAX_SERVERS);
    config *c = a->c;
    for (size_t i = 0; i < c->n_servers; i++) free_server(&c->servers[i]);
    c->n_servers = 0;
    c->servers = lm_xrealloc(c->servers, (v->n + 1) * sizeof *c->servers);
    for (size_t i = 0; !config_yaml_is_null(v) && i < v->n; i++) {
        char key[48];
        snprintf(key, sizeof key, "%s[%zu]", k, i + 1);
        config_server s = {0};
        bool good = walk_map(a, v->items[i], key, server_keys,
                             sizeof server_keys / sizeof *server_keys, &s);
        if (good && (!s.name || !s.url))
            good = config_yaml_fail(a->err, a->path, v->items[i], "%s: a server needs a name and a url",
                                    key);
        if (!good) {
            free_server(&s);
            return false;
        }
        c->servers[c->n_servers++] = s;
    }
    return true;
}

const config_server *config_find_server(const config *c, const char *name) {
    for (size_t i = 0; name && i < c->n_servers; i++)
        if (strcmp(c->servers[i].name, name) == 0) return &c->servers[i];
    return NULL;
}

/* -- the whole file -- */

static const key_entry top_keys[] = {
    {"models", read_models},
    {"model_dirs", read_model_dirs},
    {"default_model", read_default_model},
    {"precision", read_global_precision},
    {"cache_type", read_cache_type},
    {"threads", read_threads},
    {"context", read_global_context},
    {"max_tokens", read_max_tokens},
    {"sampling", read_sampling},
    {"system_prompts", read_presets},
    {"system_prompt", read_system_prompt},
    {"theme", read_theme},
    {"keys", read_keys},
    {"transcripts_dir", read_transcripts_dir},
    {"autosave", read_autosave},
    {"servers", read_servers},
};

static bool apply_root(applier *a, const config_yaml_node *root) {
    if (!root || config_yaml_is_null(root)) return true; /* an empty file changes nothing */
    if (!walk_map(a, root, "", top_keys, sizeof top_keys / sizeof *top_keys, NULL)) return false;
    return check_system_prompt(a);
}

/* The folder of path, absolute, for relative paths inside the file. */
static char *folder_of(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir =
        slash ? lm_xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : lm_xstrdup(".");
    char *real = realpath(dir, NULL);
    if (!real) return dir;
    free(dir);
    return real;
}

static int apply_tree(config *c, const char *path, const config_yaml_node *root, lm_error *err) {
    config next;
    config_copy(&next, c);
    char *base = folder_of(path);
    applier a = {.c = &next, .path = path, .base_dir = base, .err = err};
    bool ok = apply_root(&a, root);
    free(base);
    if (!ok) {
        config_free(&next);
        return -1;
    }
    config_free(c);
    *c = next;
    return 0;
}

int config_apply_text(config *c, const char *path, const char *text, size_t len, lm_error *err) {
    config_yaml_node *root;
    if (config_yaml_parse(path, text, len, &root, err) != 0) return -1;
    int rc = apply_tree(c, path, root, err);
    config_yaml_free(root);
    return rc;
}

int config_apply_file(config *c, const char *path, lm_error *err) {
    config_yaml_node *root;
    if (config_yaml_read(path, CONFIG_YAML_MAX_BYTES, &root, err) != 0) return -1;
    int rc = apply_tree(c, path, root, err);
    config_yaml_free(root);
    return rc;
}

/* ---- loading the layers ---- */

/* Applies one layer; the first failure goes to err, later ones to the
 * warnings, so nothing is lost and the caller has one line to show. */
static void apply_layer(config *c, const char *path, int *rc, lm_error *err) {
    lm_error e;
    if (config_apply_file(c, path, &e) == 0) return;
    if (*rc == 0) {
        if (err) *err = e;
        *rc = -1;
    } else {
        config_messages_add(&c->warnings, "%s", e.msg);
    }
}

int config_load(config *c, const char *user_file, lm_error *err) {
    config_init_defaults(c);
    c->data_dir = config_data_dir();
    c->user_file =
        user_file ? lm_xstrdup(user_file) : config_xdg_path(CONFIG_XDG_CONFIG, "config.yaml");
    int rc = 0;
    if (c->data_dir) {
        lm_buf installed = {0};
        lm_buf_printf(&installed, "%s/config/lmterm.yaml", c->data_dir);
        apply_layer(c, installed.data, &rc, err);
        lm_buf_free(&installed);
    }
    /* --config FILE must exist; the XDG file is optional */
    if (c->user_file && (user_file || access(c->user_file, F_OK) == 0))
        apply_layer(c, c->user_file, &rc, err);
    return rc;
}

/* ---- models ---- */

const config_model *config_find_model(const config *c, const char *name) {
    for (size_t i = 0; name && i < c->n_models; i++)
        if (strcmp(c->models[i].name, name) == 0) return &c->models[i];
    return NULL;
}

const config_model *config_default_model(const config *c) {
    const config_model *m = config_find_model(c, c->default_model);
    return m ? m : c->n_models ? &c->models[0] : NULL;
}

const char *config_find_preset(const config *c, const char *name) {
    for (size_t i = 0; name && i < c->n_presets; i++)
        if (strcmp(c->presets[i].name, name) == 0) return c->presets[i].text;
    return NULL;
}

const char *config_system_prompt_text(const config *c) {
    return config_find_preset(c, c->system_prompt);
}

#define SCAN_MAX_FILES 1024
#define SCAN_MAX_ENTRIES 65536 /* directory entries looked at, in all */
#define SCAN_MAX_DEPTH 3

typedef struct scan {
    config *c;
    char **real; /* real paths of the models already in c, then of those found */
    size_t n_real;
    size_t entries, found;
} scan;

static bool scan_seen(scan *s, const char *real) {
    for (size_t i = 0; i < s->n_real; i++)
        if (strcmp(s->real[i], real) == 0) return true;
    return false;
}

static void scan_remember(scan *s, char *real) {
    s->real = lm_xrealloc(s->real, (s->n_real + 1) * sizeof *s->real);
    s->real[s->n_real++] = real;
}

static bool has_gguf_suffix(const char *name) {
    size_t n = strlen(name);
    return n > 5 && strcasecmp(name + n - 5, ".gguf") == 0;
}

/* A name not yet taken: the file's name, else with -2, -3, ... */
static char *unique_name(const config *c, const char *path) {
    char *base = name_from_path(path);
    if (!config_find_model(c, base)) return base;
    for (int i = 2;; i++) {
        char cand[MAX_NAME + 16];
        snprintf(cand, sizeof cand, "%s-%d", base, i);
        if (!config_find_model(c, cand)) {
            free(base);
            return lm_xstrdup(cand);
        }
    }
}

static void scan_add(scan *s, const char *path) {
    char *real = realpath(path, NULL);
    if (!real) return;
    if (scan_seen(s, real)) {
        free(real);
        return;
    }
    config *c = s->c;
    c->models = lm_xrealloc(c->models, (c->n_models + 1) * sizeof *c->models);
    c->models[c->n_models] = (config_model){
        .name = unique_name(c, path), .path = lm_xstrdup(path), .precision = -1, .scanned = true};
    c->n_models++;
    s->found++;
    scan_remember(s, real);
}

static void scan_dir(scan *s, const char *dir, int depth) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) && s->found < SCAN_MAX_FILES && ++s->entries <= SCAN_MAX_ENTRIES) {
        if (e->d_name[0] == '.') continue; /* hidden, . and .. */
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
        struct stat st;
        if (stat(path, &st) != 0) continue;
        if (S_ISREG(st.st_mode) && has_gguf_suffix(e->d_name))
            scan_add(s, path);
        else if (S_ISDIR(st.st_mode) && depth < SCAN_MAX_DEPTH)
            scan_dir(s, path, depth + 1);
    }
    closedir(d);
}

static int by_name(const void *x, const void *y) {
    return strcmp(((const config_model *)x)->name, ((const config_model *)y)->name);
}

size_t config_scan_models(config *c) {
    /* forget the last scan */
    size_t kept = 0;
    for (size_t i = 0; i < c->n_models; i++) {
        if (c->models[i].scanned)
            free_model(&c->models[i]);
        else
            c->models[kept++] = c->models[i];
    }
    c->n_models = kept;
    scan s = {.c = c};
    for (size_t i = 0; i < c->n_models; i++) {
        char *real = realpath(c->models[i].path, NULL);
        if (real) scan_remember(&s, real);
    }
    for (size_t i = 0; i < c->n_model_dirs; i++) scan_dir(&s, c->model_dirs[i], 1);
    qsort(c->models + kept, c->n_models - kept, sizeof *c->models, by_name);
    for (size_t i = 0; i < s.n_real; i++) free(s.real[i]);
    free(s.real);
    return s.found;
}

/* ---- save as default ---- */

static config_yaml_node *int_node(long long v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", v);
    return config_yaml_new_scalar(buf, CONFIG_YAML_PLAIN);
}

/* The shortest text that reads back as the same float. */
static config_yaml_node *float_node(float v) {
    char buf[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v) break;
    }
    return config_yaml_new_scalar(buf, CONFIG_YAML_PLAIN);
}

static void put_settings(config_yaml_node *root, const config_settings *s) {
    config_yaml_put(root, "threads", int_node(s->threads));
    config_yaml_put(root, "context", int_node(s->n_ctx));
    config_yaml_put(root, "max_tokens", int_node(s->n_predict));
    config_yaml_node *smp = config_yaml_get(root, "sampling");
    if (!smp || smp->kind != CONFIG_YAML_MAP) {
        smp = config_yaml_new_map();
        config_yaml_put(root, "sampling", smp);
    }
    const sampler_params *p = &s->sampling;
    config_yaml_put(smp, "temperature", float_node(p->temperature));
    config_yaml_put(smp, "top_k", int_node(p->top_k));
    config_yaml_put(smp, "top_p", float_node(p->top_p));
    config_yaml_put(smp, "min_p", float_node(p->min_p));
    config_yaml_put(smp, "repeat_penalty", float_node(p->repeat_penalty));
    config_yaml_put(smp, "repeat_last_n", int_node(p->repeat_last_n));
    if (s->seed_random) {
        config_yaml_put(smp, "seed", config_yaml_new_scalar("random", CONFIG_YAML_PLAIN));
    } else {
        char buf[32];
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)p->seed);
        config_yaml_put(smp, "seed", config_yaml_new_scalar(buf, CONFIG_YAML_PLAIN));
    }
}

/* The user's file as a tree to update: empty when it does not exist yet. */
static int read_for_update(const char *path, config_yaml_node **root, lm_error *err) {
    *root = NULL;
    if (access(path, F_OK) == 0) {
        lm_error e;
        if (config_yaml_read(path, CONFIG_YAML_MAX_BYTES, root, &e) != 0)
            return lm_fail(err, "%s (the file was not changed)", e.msg);
        if (*root && !config_yaml_is_null(*root) && (*root)->kind != CONFIG_YAML_MAP) {
            lm_fail(err, "%s:%d:%d: not a map of keys (the file was not changed)", path,
                    (*root)->line, (*root)->col);
            config_yaml_free(*root);
            return -1;
        }
    }
    if (!*root || (*root)->kind != CONFIG_YAML_MAP) {
        config_yaml_free(*root);
        *root = config_yaml_new_map();
    }
    return 0;
}

static const char save_header[] =
    "# lmterm user configuration, rewritten by \"save as default\" (comments are not kept).\n"
    "# Every key is described in lmterm(1) and in the installed lmterm.yaml.\n";

int config_save_settings(const config *c, const char *path, const config_settings *s,
                         lm_error *err) {
    const char *file = path ? path : c->user_file;
    if (!file) return lm_fail(err, "no user configuration file (HOME is not set)");
    config_yaml_node *root;
    if (read_for_update(file, &root, err) != 0) return -1;
    put_settings(root, s);
    lm_buf out = {0};
    lm_buf_puts(&out, save_header);
    int rc = config_yaml_emit(root, &out, err);
    config_yaml_free(root);
    char *dir = folder_of(file);
    if (rc == 0) rc = lm_mkdir_p(dir, err);
    free(dir);
    if (rc == 0) rc = lm_write_file_atomic(file, out.data, out.len, err);
    lm_buf_free(&out);
    return rc;
}

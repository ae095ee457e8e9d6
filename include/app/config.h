/* config: the settings lmterm starts with, read from YAML files.
 *
 * Three layers, each overriding the one before key by key:
 *   1. built-in defaults (config_init_defaults),
 *   2. the installed default, DATADIR/config/lmterm.yaml (config_data_dir),
 *   3. the user's file, $XDG_CONFIG_HOME/lmterm/config.yaml, or the file
 *      given with --config instead.
 *
 * Every file is treated as hostile: at most 1 MiB, 32 levels deep and 65536
 * nodes; no anchors, aliases or tags; every value is checked for its type and
 * range. A file is applied whole or not at all: the first error rejects it,
 * is returned as "FILE:LINE:COL: what is wrong", and the earlier layers stay
 * in effect. Unknown keys are not errors (a file written for a newer lmterm
 * still works) but each is reported in the warnings list as
 * "FILE:LINE:COL: unknown key 'x' (ignored)", so a typo does not go unseen.
 *
 * The YAML reader at the end of this header is shared with the theme loader. */
#ifndef LMTERM_CONFIG_H
#define LMTERM_CONFIG_H

#include "model_options.h"
#include "sampler.h"
#include "util.h"

#include <stdbool.h>
#include <stddef.h>

/* ---- messages (warnings) ---- */

/* A bounded list of messages: after CONFIG_MAX_MESSAGES, further ones are
 * only counted in `dropped`. */
#define CONFIG_MAX_MESSAGES 32

typedef struct config_messages {
    char **items;
    size_t n;
    size_t dropped;
} config_messages;

void config_messages_add(config_messages *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void config_messages_free(config_messages *m);

/* ---- key bindings ---- */

/* The actions a key can be bound to in the `keys:` section. */
enum config_action {
    CONFIG_ACTION_STOP,
    CONFIG_ACTION_HELP,
    CONFIG_ACTION_MODEL_MENU,
    CONFIG_ACTION_PRECISION_MENU,
    CONFIG_ACTION_SYSTEM_PROMPT,
    CONFIG_ACTION_SETTINGS,
    CONFIG_ACTION_CONVERSATIONS,
    CONFIG_ACTION_SAVE,
    CONFIG_ACTION_REGENERATE,
    CONFIG_N_ACTIONS
};

/* A key, without curses: a control character is its code (Ctrl-S is 19, Esc
 * is 27), Alt-x is CONFIG_KEY_ALT | 'x', and function key n is CONFIG_KEY_F(n).
 * Keys that would type text (a bare letter) cannot be bound. */
#define CONFIG_KEY_ESC 27
#define CONFIG_KEY_ALT 0x200000
#define CONFIG_KEY_F(n) (0x110000 + (n)) /* n = 1..24 */
#define CONFIG_MAX_KEYS 4                /* keys per action */

/* "F1", "Ctrl-S" (also "C-s", "^S"), "Alt-R" (also "M-r"), "Esc"; the
 * names are case-insensitive. Returns the key, or -1 when the name is not one
 * of these. */
int config_key_parse(const char *name);
/* The canonical name ("Ctrl-S", "F2", "Alt-R", "Esc") into buf. */
const char *config_key_name(int key, char buf[16]);
/* The YAML name of an action ("model_menu") and back (-1 when unknown). */
const char *config_action_name(enum config_action a);
int config_action_from_name(const char *name);

/* ---- the configuration ---- */

typedef struct config_model {
    char *name;          /* shown in menus and used by default_model and -m NAME */
    char *path;          /* absolute, ~ and $VARS expanded */
    int precision;       /* enum model_precision, or -1: the global `precision` */
    char *template_name; /* "phi3" or "llama3"; NULL: from the file's metadata */
    int n_ctx;           /* 0: the global `context` */
    bool scanned;        /* found in a model folder, not listed in `models:` */
} config_model;

/* An OpenAI-compatible server (servers: in the file), for --remote NAME. */
typedef struct config_server {
    char *name;
    char *url;         /* base URL, ending in /v1 */
    char *api_key_env; /* the variable holding its key; NULL: none */
    char *model;       /* the model id used by default; NULL: the server's first */
    float connect_timeout, idle_timeout; /* seconds; 0: 10 and 60 */
} config_server;

typedef struct config_preset {
    char *name, *text;
} config_preset;

/* What the settings screen shows and "save as default" writes back. */
typedef struct config_settings {
    sampler_params sampling;
    bool seed_random; /* draw a new seed at start-up instead of sampling.seed */
    int n_predict;    /* most tokens in a reply; -1: until the model ends it */
    int threads;      /* 0: one per physical core */
    int n_ctx;        /* 0: the model's training context, at most 4096 */
} config_settings;

typedef struct config {
    config_model *models; /* listed first, in file order, then scanned ones */
    size_t n_models;
    char **model_dirs; /* folders searched for *.gguf */
    size_t n_model_dirs;
    char *default_model; /* a model's name; NULL: the first model */
    enum model_precision precision;
    enum model_cache_type cache_type; /* KV cache storage (`cache_type`, --cache-type) */
    config_settings settings;
    config_preset *presets; /* system prompt presets */
    size_t n_presets;
    char *system_prompt; /* name of the preset used at start; NULL: none */
    char *theme;         /* a theme name, or a theme file's absolute path (for theme_load) */
    int keys[CONFIG_N_ACTIONS][CONFIG_MAX_KEYS]; /* 0 ends a shorter list */
    char *transcripts_dir;                       /* absolute */
    bool autosave;
    config_server *servers;
    size_t n_servers;

    /* where things came from */
    char *data_dir;  /* installed data (themes, default config); NULL: not found */
    char *user_file; /* the user's file (read if it exists, written by save) */
    config_messages warnings;
} config;

/* The server of that name, or NULL. */
const config_server *config_find_server(const config *c, const char *name);

/* The action key is bound to, or -1. */
int config_action_for_key(const config *c, int key);

/* Built-in defaults (no file read). Free with config_free. */
void config_init_defaults(config *c);
void config_free(config *c);

/* Loads the three layers into c (which need not be initialised); user_file is
 * the --config file or NULL for the XDG one. A missing installed or XDG file
 * is not an error; a missing --config file is. Returns 0, or -1 with the
 * first rejected file's error in err (and any second one in c->warnings);
 * either way c holds a valid configuration and must be freed. */
int config_load(config *c, const char *user_file, lm_error *err);

/* One layer: applies a YAML file (or text, for tests and fuzzing) onto c.
 * On error c is unchanged. path is used in messages and to resolve relative
 * paths in the file. */
int config_apply_file(config *c, const char *path, lm_error *err);
int config_apply_text(config *c, const char *path, const char *text, size_t len, lm_error *err);

/* A model by name (listed or scanned), or NULL. */
const config_model *config_find_model(const config *c, const char *name);
/* default_model, else the first model, else NULL. */
const config_model *config_default_model(const config *c);
/* The text of a preset, or NULL. */
const char *config_find_preset(const config *c, const char *name);
/* The start-up system prompt's text (preset `system_prompt`), or NULL. */
const char *config_system_prompt_text(const config *c);

/* Replaces the scanned entries of c->models with the *.gguf files found in
 * c->model_dirs (sub-folders 3 levels down, at most 1024 files, hidden ones
 * skipped), sorted by name. A file already listed (same real path) is left
 * out; a name already taken gets "-2", "-3", ... Folders that do not exist
 * are skipped silently. Returns the number of models found. */
size_t config_scan_models(config *c);

/* "Save as default": writes s into path (NULL: c->user_file) atomically. The
 * keys threads, context, max_tokens and sampling.* are replaced or added;
 * every other key the file has is kept with its value (comments are lost:
 * the file is rewritten from its parsed form). A file that does not parse is
 * not overwritten: the error says why. */
int config_save_settings(const config *c, const char *path, const config_settings *s,
                         lm_error *err);

/* ---- places ---- */

/* The folder holding themes/ and config/lmterm.yaml: $LMTERM_DATADIR if set,
 * else ../share/lmterm beside the running executable (an install, also one
 * staged with DESTDIR), else the compiled-in LMTERM_DATADIR, else the source
 * tree the executable was built in. NULL when none of them has
 * config/lmterm.yaml. Caller frees. */
char *config_data_dir(void);

/* The kinds match paths.h's paths_kind. */
enum config_xdg { CONFIG_XDG_CONFIG, CONFIG_XDG_DATA, CONFIG_XDG_STATE, CONFIG_XDG_CACHE };
/* $XDG_..._HOME/lmterm/rel (with the spec's ~/.config, ~/.local/share and
 * ~/.local/state when unset or relative); rel may be NULL. NULL when there is
 * no home folder. Caller frees. */
char *config_xdg_path(enum config_xdg kind, const char *rel);

/* Expands a leading ~ and $NAME / ${NAME} (unset XDG_*_HOME variables take
 * their defaults), then makes a relative result relative to base_dir (NULL:
 * leave it relative). Returns NULL and sets err for an unset variable or a
 * result longer than PATH_MAX. Caller frees. */
char *config_expand_path(const char *path, const char *base_dir, lm_error *err);

/* ---- YAML reading (shared with theme.c) ---- */

#define CONFIG_YAML_MAX_BYTES (1u << 20)
#define CONFIG_YAML_MAX_DEPTH 32
#define CONFIG_YAML_MAX_NODES 65536

enum config_yaml_kind { CONFIG_YAML_SCALAR, CONFIG_YAML_LIST, CONFIG_YAML_MAP };
enum config_yaml_style { CONFIG_YAML_PLAIN, CONFIG_YAML_QUOTED, CONFIG_YAML_BLOCK };

typedef struct config_yaml_node config_yaml_node;
struct config_yaml_node {
    enum config_yaml_kind kind;
    int line, col;                /* 1-based, where the node starts */
    char *text;                   /* scalar: NUL-terminated */
    size_t len;                   /* scalar: bytes in text */
    enum config_yaml_style style; /* scalar: only a plain one can be a number, bool or null */
    config_yaml_node **items;     /* list: items; map: key, value, key, value, ... */
    size_t n;                     /* entries in items */
};

/* Parses one YAML document into a tree; *root is NULL for an empty document.
 * Map keys are always scalars; an empty key is the empty name (QUOTED), not
 * null. Errors name path, line and column. */
int config_yaml_parse(const char *path, const char *text, size_t len, config_yaml_node **root,
                      lm_error *err);
void config_yaml_free(config_yaml_node *n);
/* Reads a file of at most max_bytes and parses it. */
int config_yaml_read(const char *path, size_t max_bytes, config_yaml_node **root, lm_error *err);

/* Scalar readers: false (and an error "path:line:col: key: expected ...")
 * when the node is not of the type or not in [lo, hi]. */
bool config_yaml_is_null(const config_yaml_node *n);
bool config_yaml_bool(const char *path, const char *key, const config_yaml_node *n, bool *out,
                      lm_error *err);
bool config_yaml_int(const char *path, const char *key, const config_yaml_node *n, long long lo,
                     long long hi, long long *out, lm_error *err);
bool config_yaml_float(const char *path, const char *key, const config_yaml_node *n, double lo,
                       double hi, double *out, lm_error *err);
/* A scalar string of at most max_len bytes with no control characters
 * (newlines and tabs allowed when multiline). */
bool config_yaml_string(const char *path, const char *key, const config_yaml_node *n,
                        size_t max_len, bool multiline, const char **out, lm_error *err);
/* Building and writing a tree ("save as default"). The new nodes have line 0. */
config_yaml_node *config_yaml_new_scalar(const char *text, enum config_yaml_style style);
config_yaml_node *config_yaml_new_map(void);
/* The value of key in map, or NULL. */
config_yaml_node *config_yaml_get(const config_yaml_node *map, const char *key);
/* Sets key to value (which map then owns), replacing an earlier value in place. */
void config_yaml_put(config_yaml_node *map, const char *key, config_yaml_node *value);
/* Appends the tree as a YAML document (block style) to out. */
int config_yaml_emit(const config_yaml_node *root, lm_buf *out, lm_error *err);

/* Text from a file made fit for a one-line message: at most 40 bytes (then
 * "..."), control characters shown as '?'. Returns buf. */
#define CONFIG_PRINTABLE_SIZE 48
const char *config_yaml_printable(const char *text, size_t len, char buf[CONFIG_PRINTABLE_SIZE]);

/* Formats "path:line:col: " + message into err; returns false. */
bool config_yaml_fail(lm_error *err, const char *path, const config_yaml_node *n, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));

#endif

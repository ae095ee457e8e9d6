/* theme: see include/theme.h. The order of this file: colours (names,
 * palettes, reduction to what a terminal shows), reading a theme file, the
 * built-in themes, finding and listing theme files. */
#include "theme.h"

#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define THEME_MAX_BYTES (256 * 1024)
#define THEME_MAX_LISTED 256

/* ---- elements ---- */

static const char *const element_names[THEME_N_ELEMENTS] = {
    "title", "status", "user",   "assistant", "notice", "body",
    "code",  "input",  "border", "selection", "error",  "marker",
};

const char *theme_element_name(enum theme_element e) {
    return (unsigned)e < THEME_N_ELEMENTS ? element_names[e] : "?";
}

int theme_element_from_name(const char *name) {
    for (int e = 0; e < THEME_N_ELEMENTS; e++)
        if (strcmp(name, element_names[e]) == 0) return e;
    return -1;
}

/* ---- colours ---- */

static const char *const basic_names[8] = {"black", "red",     "green", "yellow",
                                           "blue",  "magenta", "cyan",  "white"};

/* xterm's default values for the 16 basic colours: what "nearest" means. */
static const uint8_t basic_rgb[16][3] = {
    {0, 0, 0},     {205, 0, 0},     {0, 205, 0},     {205, 205, 0},   {0, 0, 238}, {205, 0, 205},
    {0, 205, 205}, {229, 229, 229}, {127, 127, 127}, {255, 0, 0},     {0, 255, 0}, {255, 255, 0},
    {92, 92, 255}, {255, 0, 255},   {0, 255, 255},   {255, 255, 255},
};

/* The six levels of each channel in xterm's 6x6x6 colour cube (16-231). */
static const uint8_t cube_levels[6] = {0, 95, 135, 175, 215, 255};

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool parse_hex(const char *s, theme_color *out) {
    if (strlen(s) != 7) return false;
    int v[6];
    for (int i = 0; i < 6; i++)
        if ((v[i] = hex_digit(s[i + 1])) < 0) return false;
    *out = (theme_color){.kind = THEME_COLOR_RGB,
                         .r = (uint8_t)(v[0] * 16 + v[1]),
                         .g = (uint8_t)(v[2] * 16 + v[3]),
                         .b = (uint8_t)(v[4] * 16 + v[5])};
    return true;
}

static bool parse_index(const char *s, theme_color *out) {
    size_t n = strlen(s);
    if (n == 0 || n > 3 || strspn(s, "0123456789") != n) return false;
    int v = atoi(s);
    if (v > 255) return false;
    *out = (theme_color){.kind = THEME_COLOR_INDEX, .index = (uint8_t)v};
    return true;
}

/* "red", "bright-red" (also "brightred", "bright_red"), "gray"/"grey". */
static bool parse_name(const char *s, theme_color *out) {
    int base = 0;
    if (strncasecmp(s, "bright", 6) == 0) {
        s += 6;
        if (*s == '-' || *s == '_') s++;
        base = 8;
    }
    for (int i = 0; i < 8; i++) {
        if (strcasecmp(s, basic_names[i]) == 0) {
            *out = (theme_color){.kind = THEME_COLOR_INDEX, .index = (uint8_t)(base + i)};
            return true;
        }
    }
    if (!base && (strcasecmp(s, "gray") == 0 || strcasecmp(s, "grey") == 0)) {
        *out = (theme_color){.kind = THEME_COLOR_INDEX, .index = 8};
        return true;
    }
    return false;
}

bool theme_color_parse(const char *text, theme_color *out) {
    if (strcasecmp(text, "default") == 0) {
        *out = (theme_color){.kind = THEME_COLOR_DEFAULT};
        return true;
    }
    if (text[0] == '#') return parse_hex(text, out);
    if (isdigit((unsigned char)text[0])) return parse_index(text, out);
    return parse_name(text, out);
}

void theme_index_rgb(uint8_t index, uint8_t *r, uint8_t *g, uint8_t *b) {
    if (index < 16) {
        *r = basic_rgb[index][0];
        *g = basic_rgb[index][1];
        *b = basic_rgb[index][2];
    } else if (index < 232) {
        int i = index - 16;
        *r = cube_levels[i / 36];
        *g = cube_levels[i / 6 % 6];
        *b = cube_levels[i % 6];
    } else {
        *r = *g = *b = (uint8_t)(8 + 10 * (index - 232));
    }
}

static int dist2(int r1, int g1, int b1, int r2, int g2, int b2) {
    return (r1 - r2) * (r1 - r2) + (g1 - g2) * (g1 - g2) + (b1 - b2) * (b1 - b2);
}

static int nearest_level(uint8_t v) {
    int best = 0;
    for (int i = 1; i < 6; i++)
        if (abs(v - cube_levels[i]) < abs(v - cube_levels[best])) best = i;
    return best;
}

/* The cube's nearest colour or the grey ramp's, whichever is closer; the 16
 * basic colours are left out because terminals change them. */
uint8_t theme_rgb_to_256(uint8_t r, uint8_t g, uint8_t b) {
    int ri = nearest_level(r), gi = nearest_level(g), bi = nearest_level(b);
    int cube = 16 + 36 * ri + 6 * gi + bi;
    int cube_d = dist2(r, g, b, cube_levels[ri], cube_levels[gi], cube_levels[bi]);
    int avg = (r + g + b) / 3;
    int gi2 = avg < 8 ? 0 : avg > 238 ? 23 : (avg - 8 + 5) / 10;
    int grey = 8 + 10 * gi2;
    int grey_d = dist2(r, g, b, grey, grey, grey);
    return (uint8_t)(grey_d < cube_d ? 232 + gi2 : cube);
}

uint8_t theme_rgb_to_basic(uint8_t r, uint8_t g, uint8_t b, int n) {
    int best = 0, best_d = INT_MAX;
    for (int i = 0; i < (n >= 16 ? 16 : 8); i++) {
        int d = dist2(r, g, b, basic_rgb[i][0], basic_rgb[i][1], basic_rgb[i][2]);
        if (d < best_d) {
            best = i;
            best_d = d;
        }
    }
    return (uint8_t)best;
}

theme_color theme_color_reduce(theme_color c, int colors) {
    if (colors < 8 || c.kind == THEME_COLOR_DEFAULT)
        return (theme_color){.kind = THEME_COLOR_DEFAULT};
    if (c.kind == THEME_COLOR_INDEX) {
        if (c.index < colors) return c;
        theme_index_rgb(c.index, &c.r, &c.g, &c.b);
    } else if (colors >= 1 << 24) {
        return c;
    }
    uint8_t idx =
        colors >= 256 ? theme_rgb_to_256(c.r, c.g, c.b) : theme_rgb_to_basic(c.r, c.g, c.b, colors);
    return (theme_color){.kind = THEME_COLOR_INDEX, .index = idx};
}

static bool color_fits(theme_color c, int colors) {
    switch (c.kind) {
    case THEME_COLOR_DEFAULT:
        return true;
    case THEME_COLOR_INDEX:
        return c.index < colors;
    default:
        return colors >= 1 << 24;
    }
}

/* The first alternative the terminal shows as written, else the richest one
 * reduced. */
static theme_color pick(const theme_color *alts, int n, int colors) {
    if (n == 0 || colors < 8) return (theme_color){.kind = THEME_COLOR_DEFAULT};
    for (int i = 0; i < n; i++)
        if (color_fits(alts[i], colors)) return alts[i];
    return theme_color_reduce(alts[0], colors);
}

theme_style theme_style_for(const theme *t, enum theme_element e, int colors) {
    const theme_spec *s = &t->spec[(unsigned)e < THEME_N_ELEMENTS ? e : THEME_BODY];
    return (theme_style){
        .fg = pick(s->fg, s->n_fg, colors), .bg = pick(s->bg, s->n_bg, colors), .attrs = s->attrs};
}

/* ---- reading a theme ---- */

typedef struct reader {
    const char *path;
    config_messages *warnings;
    lm_error *err;
} reader;

static void warn_unknown(reader *r, const config_yaml_node *k, const char *prefix) {
    char name[CONFIG_PRINTABLE_SIZE];
    if (r->warnings)
        config_messages_add(r->warnings, "%s:%d:%d: unknown key '%s%s' (ignored)", r->path, k->line,
                            k->col, prefix, config_yaml_printable(k->text, k->len, name));
}

static bool read_color(reader *r, const char *key, const config_yaml_node *v, theme_color *out) {
    if (config_yaml_is_null(v))
        return config_yaml_fail(r->err, r->path, v,
                                "%s: no colour given (a bare # starts a comment: write \"#rrggbb\" "
                                "in quotes)",
                                key);
    const char *s;
    if (!config_yaml_string(r->path, key, v, 16, false, &s, r->err)) return false;
    if (!theme_color_parse(s, out))
        return config_yaml_fail(r->err, r->path, v,
                                "%s: '%s' is not a colour (a name, 0-255 or \"#rrggbb\")", key, s);
    return true;
}

/* One colour or a list of up to THEME_MAX_ALTS, richest first. */
static bool read_colors(reader *r, const char *key, const config_yaml_node *v, theme_color *alts,
                        uint8_t *n) {
    if (v->kind != CONFIG_YAML_LIST) {
        *n = 1;
        return read_color(r, key, v, &alts[0]);
    }
    if (v->n == 0 || v->n > THEME_MAX_ALTS)
        return config_yaml_fail(r->err, r->path, v, "%s: expected 1 to %d colours", key,
                                THEME_MAX_ALTS);
    for (size_t i = 0; i < v->n; i++)
        if (!read_color(r, key, v->items[i], &alts[i])) return false;
    *n = (uint8_t)v->n;
    return true;
}

static bool read_attr(reader *r, const char *key, const config_yaml_node *v, unsigned flag,
                      unsigned *attrs) {
    bool on;
    if (!config_yaml_bool(r->path, key, v, &on, r->err)) return false;
    *attrs = on ? *attrs | flag : *attrs & ~flag;
    return true;
}

/* The keys of an element's map; attributes have a flag. */
static const struct {
    const char *name;
    unsigned attr;
} style_keys[] = {
    {"fg", 0},
    {"bg", 0},
    {"bold", THEME_BOLD},
    {"underline", THEME_UNDERLINE},
    {"reverse", THEME_REVERSE},
};

static int style_key(const char *name) {
    for (int i = 0; i < (int)(sizeof style_keys / sizeof *style_keys); i++)
        if (strcmp(name, style_keys[i].name) == 0) return i;
    return -1;
}

static bool read_element(reader *r, const char *elem, const config_yaml_node *v, theme_spec *s) {
    if (v->kind != CONFIG_YAML_MAP)
        return config_yaml_fail(r->err, r->path, v,
                                "elements.%s: expected a map of fg, bg, bold, underline, reverse",
                                elem);
    *s = (theme_spec){0};
    unsigned seen = 0;
    for (size_t i = 0; i + 1 < v->n; i += 2) {
        const config_yaml_node *k = v->items[i], *val = v->items[i + 1];
        char key[64];
        snprintf(key, sizeof key, "elements.%s.%.16s", elem, k->text);
        int slot = style_key(k->text);
        if (slot < 0) {
            char prefix[48];
            snprintf(prefix, sizeof prefix, "elements.%s.", elem);
            warn_unknown(r, k, prefix);
            continue;
        }
        if (seen & (1u << slot))
            return config_yaml_fail(r->err, r->path, k, "%s: key given twice", key);
        seen |= 1u << slot;
        bool ok = slot == 0   ? read_colors(r, key, val, s->fg, &s->n_fg)
                  : slot == 1 ? read_colors(r, key, val, s->bg, &s->n_bg)
                              : read_attr(r, key, val, style_keys[slot].attr, &s->attrs);
        if (!ok) return false;
    }
    return true;
}

static bool read_elements(reader *r, const config_yaml_node *v, theme *t) {
    if (v->kind != CONFIG_YAML_MAP)
        return config_yaml_fail(r->err, r->path, v, "elements: expected a map of element: style");
    bool seen[THEME_N_ELEMENTS] = {0};
    for (size_t i = 0; i + 1 < v->n; i += 2) {
        const config_yaml_node *k = v->items[i];
        int e = theme_element_from_name(k->text);
        if (e < 0) {
            warn_unknown(r, k, "elements.");
            continue;
        }
        if (seen[e])
            return config_yaml_fail(r->err, r->path, k, "elements.%s: key given twice", k->text);
        seen[e] = true;
        if (!read_element(r, k->text, v->items[i + 1], &t->spec[e])) return false;
    }
    return true;
}

static bool read_description(reader *r, const config_yaml_node *v, theme *t) {
    const char *s;
    if (!config_yaml_string(r->path, "description", v, sizeof t->description - 1, false, &s,
                            r->err))
        return false;
    snprintf(t->description, sizeof t->description, "%s", s);
    return true;
}

static bool read_theme_root(reader *r, const config_yaml_node *root, theme *t) {
    if (!root || config_yaml_is_null(root)) return true;
    if (root->kind != CONFIG_YAML_MAP)
        return config_yaml_fail(r->err, r->path, root, "a theme is a map with an elements key");
    bool seen_description = false, seen_elements = false;
    for (size_t i = 0; i + 1 < root->n; i += 2) {
        const config_yaml_node *k = root->items[i], *v = root->items[i + 1];
        bool is_description = strcmp(k->text, "description") == 0;
        bool is_elements = strcmp(k->text, "elements") == 0;
        if (!is_description && !is_elements) {
            warn_unknown(r, k, "");
            continue;
        }
        bool *seen = is_description ? &seen_description : &seen_elements;
        if (*seen) return config_yaml_fail(r->err, r->path, k, "%s: key given twice", k->text);
        *seen = true;
        bool ok = is_description ? read_description(r, v, t) : read_elements(r, v, t);
        if (!ok) return false;
    }
    return true;
}

/* Reads a parsed file into *t (emptied first); *t is undefined on failure. */
static int tree_into(theme *t, const char *path, const config_yaml_node *root,
                     config_messages *warnings, lm_error *err) {
    *t = (theme){0};
    reader r = {.path = path, .warnings = warnings, .err = err};
    return read_theme_root(&r, root, t) ? 0 : -1;
}

static int parse_into(theme *t, const char *path, const char *text, size_t len,
                      config_messages *warnings, lm_error *err) {
    if (len > THEME_MAX_BYTES)
        return lm_fail(err, "%s:1:1: file is larger than %d bytes", path, THEME_MAX_BYTES);
    config_yaml_node *root;
    if (config_yaml_parse(path, text, len, &root, err) != 0) return -1;
    int rc = tree_into(t, path, root, warnings, err);
    config_yaml_free(root);
    return rc;
}

/* ---- built-in themes (the same as themes/default.yaml and mono.yaml) ---- */

static const char builtin_default[] =
    "description: dark background, 256 colours (true colour where the terminal has it)\n"
    "elements:\n"
    "  title:     { fg: [\"#ffffff\", 231, white], bg: [\"#005f87\", 24, blue], bold: true }\n"
    "  status:    { fg: [\"#d0d0d0\", 252, white], bg: [\"#303030\", 236, blue] }\n"
    "  user:      { fg: [\"#5fd7ff\", 81, cyan], bold: true }\n"
    "  assistant: { fg: [\"#afd75f\", 149, green], bold: true }\n"
    "  notice:    { fg: [\"#949494\", 246, yellow] }\n"
    "  body:      { fg: default }\n"
    "  code:      { fg: [\"#ffd787\", 222, yellow], bg: [\"#262626\", 235, default] }\n"
    "  input:     { fg: default, bg: [\"#1c1c1c\", 234, default] }\n"
    "  border:    { fg: [\"#5f5f87\", 60, blue] }\n"
    "  selection: { fg: [\"#000000\", 16, black], bg: [\"#87afd7\", 110, cyan], bold: true }\n"
    "  error:     { fg: [\"#ff5f5f\", 203, red], bold: true }\n"
    "  marker:    { fg: [\"#ffaf00\", 214, yellow], bold: true }\n";

static const char builtin_mono[] =
    "description: no colours, only bold, underline and reverse (used when NO_COLOR is set)\n"
    "elements:\n"
    "  title:     { reverse: true, bold: true }\n"
    "  status:    { reverse: true }\n"
    "  user:      { bold: true }\n"
    "  assistant: { bold: true, underline: true }\n"
    "  notice:    {}\n"
    "  body:      {}\n"
    "  code:      { bold: true }\n"
    "  input:     {}\n"
    "  border:    {}\n"
    "  selection: { reverse: true }\n"
    "  error:     { bold: true, reverse: true }\n"
    "  marker:    { reverse: true, bold: true }\n";

/* The built-in texts are tested to parse; a failure here would be a bug. */
static void builtin(theme *t, const char *name, const char *text) {
    parse_into(t, name, text, strlen(text), NULL, NULL);
    snprintf(t->name, sizeof t->name, "%s", name);
}

void theme_default(theme *t) {
    builtin(t, "default", builtin_default);
}
void theme_mono(theme *t) {
    builtin(t, "mono", builtin_mono);
}

int theme_parse(theme *t, const char *path, const char *text, size_t len, config_messages *warnings,
                lm_error *err) {
    theme next;
    if (parse_into(&next, path, text, len, warnings, err) != 0) {
        theme_default(t);
        return -1;
    }
    *t = next;
    return 0;
}

/* ---- finding theme files ---- */

/* A theme name is a file name without ".yaml": letters, digits, - _ . */
static bool valid_name(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n >= sizeof((theme *)0)->name || name[0] == '.') return false;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n;
}

/* DIR/NAME.yaml if it exists, else NULL. */
static char *theme_file_in(const char *dir, const char *name) {
    if (!dir) return NULL;
    lm_buf b = {0};
    lm_buf_printf(&b, "%s/%s.yaml", dir, name);
    if (access(b.data, F_OK) == 0) return b.data;
    lm_buf_free(&b);
    return NULL;
}

static char *data_themes_dir(const char *data_dir) {
    if (!data_dir) return NULL;
    lm_buf b = {0};
    lm_buf_printf(&b, "%s/themes", data_dir);
    return b.data;
}

/* Where theme `name` lives: the user's folder first, then the data folder. */
static char *find_theme(const char *name, const char *data_dir) {
    char *user_dir = config_xdg_path(CONFIG_XDG_CONFIG, "themes");
    char *data = data_themes_dir(data_dir);
    char *file = theme_file_in(user_dir, name);
    if (!file) file = theme_file_in(data, name);
    free(user_dir);
    free(data);
    return file;
}

/* The name a file path gives: its base name without ".yaml". */
static void name_from_path(const char *path, char *out, size_t n) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (len > 5 && strcmp(base + len - 5, ".yaml") == 0) len -= 5;
    snprintf(out, n, "%.*s", (int)len, base);
}

/* Reads a theme file; on failure *t is the built-in default. */
static int load_file(theme *t, const char *path, config_messages *warnings, lm_error *err) {
    config_yaml_node *root;
    int rc = config_yaml_read(path, THEME_MAX_BYTES, &root, err);
    theme next;
    if (rc == 0) rc = tree_into(&next, path, root, warnings, err);
    config_yaml_free(root);
    if (rc == 0)
        *t = next;
    else
        theme_default(t);
    return rc;
}

int theme_load(theme *t, const char *name, const char *data_dir, config_messages *warnings,
               lm_error *err) {
    const char *no_color = getenv("NO_COLOR");
    if (no_color && no_color[0]) {
        theme_mono(t);
        t->no_color = true;
        return 0;
    }
    char *file;
    char label[64];
    if (strchr(name, '/')) {
        file = lm_xstrdup(name);
        name_from_path(name, label, sizeof label);
    } else {
        if (!valid_name(name)) {
            char shown[CONFIG_PRINTABLE_SIZE];
            theme_default(t);
            return lm_fail(err, "theme '%s': a name has only letters, digits, '-', '_' and '.'",
                           config_yaml_printable(name, strlen(name), shown));
        }
        file = find_theme(name, data_dir);
        snprintf(label, sizeof label, "%s", name);
    }
    if (!file) {
        /* the two built-in themes need no file */
        if (strcmp(name, "mono") == 0)
            theme_mono(t);
        else
            theme_default(t);
        if (strcmp(name, "default") == 0 || strcmp(name, "mono") == 0) return 0;
        return lm_fail(
            err, "theme '%s' not found (looked in the user and installed themes folders)", name);
    }
    int rc = load_file(t, file, warnings, err);
    free(file);
    if (rc == 0) snprintf(t->name, sizeof t->name, "%s", label);
    return rc;
}

/* ---- listing ---- */

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_add(char ***names, size_t *n, const char *name) {
    if (*n >= THEME_MAX_LISTED || !valid_name(name)) return;
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*names)[i], name) == 0) return;
    *names = lm_xrealloc(*names, (*n + 1) * sizeof **names);
    (*names)[(*n)++] = lm_xstrdup(name);
}

static void list_dir(const char *dir, char ***names, size_t *n) {
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d) return;
    struct dirent *e;
    size_t looked = 0;
    while ((e = readdir(d)) && looked++ < 4096) {
        size_t len = strlen(e->d_name);
        if (len <= 5 || strcmp(e->d_name + len - 5, ".yaml") != 0) continue;
        char name[64];
        name_from_path(e->d_name, name, sizeof name);
        list_add(names, n, name);
    }
    closedir(d);
}

size_t theme_list(const char *data_dir, char ***names) {
    *names = NULL;
    size_t n = 0;
    list_add(names, &n, "default");
    list_add(names, &n, "mono");
    char *user_dir = config_xdg_path(CONFIG_XDG_CONFIG, "themes");
    char *data = data_themes_dir(data_dir);
    list_dir(user_dir, names, &n);
    list_dir(data, names, &n);
    free(user_dir);
    free(data);
    qsort(*names, n, sizeof **names, compare_names);
    return n;
}

void theme_list_free(char **names, size_t n) {
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

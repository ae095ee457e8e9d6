/* theme: the colours and attributes of each part of the screen, as data.
 *
 * A theme is a YAML file, NAME.yaml, looked up in the user's themes folder
 * ($XDG_CONFIG_HOME/lmterm/themes/) and then in DATADIR/themes/:
 *
 *     name: solarized-dark
 *     description: Ethan Schoonover's palette, dark
 *     elements:
 *       title:  { fg: "#fdf6e3", bg: ["#268bd2", 33, blue], bold: true }
 *       body:   { fg: default }
 *
 * A colour is a name (black red green yellow blue magenta cyan white, their
 * bright- forms, default), an index 0-255, or "#rrggbb" (quoted: a bare # starts
 * a YAML comment), or a list of up to 3 of these, richest first, of which the
 * terminal gets the first it can show. Attributes: bold, underline, reverse.
 * An element the file leaves out keeps the terminal's own colours. The
 * body's background is meant as the conversation pane's background.
 *
 * No curses here: the TUI asks theme_style() for an element's colours as the
 * terminal can show them and maps those to curses pairs. */
#ifndef LMTERM_THEME_H
#define LMTERM_THEME_H

#include "config.h"

#include <stdbool.h>
#include <stdint.h>

enum theme_element {
    THEME_TITLE,     /* title bar: model, precision, context */
    THEME_STATUS,    /* status bar: tok/s, memory, state */
    THEME_USER,      /* the header above a user message */
    THEME_ASSISTANT, /* the header above a reply */
    THEME_NOTICE,    /* system prompt and notices ("older turns dropped") */
    THEME_BODY,      /* message text */
    THEME_CODE,      /* fenced code blocks */
    THEME_INPUT,     /* the input box */
    THEME_BORDER,    /* lines around boxes, menus and dialogs */
    THEME_SELECTION, /* the highlighted row of a menu */
    THEME_ERROR,     /* error messages */
    THEME_MARKER,    /* "new text below", the current item's mark */
    THEME_N_ELEMENTS
};

enum theme_color_kind { THEME_COLOR_DEFAULT, THEME_COLOR_INDEX, THEME_COLOR_RGB };

typedef struct theme_color {
    enum theme_color_kind kind;
    uint8_t index;   /* THEME_COLOR_INDEX: 0-7 basic, 8-15 bright, 16-255 xterm */
    uint8_t r, g, b; /* THEME_COLOR_RGB */
} theme_color;

enum { THEME_BOLD = 1, THEME_UNDERLINE = 2, THEME_REVERSE = 4 };

#define THEME_MAX_ALTS 3

/* An element as written: colour alternatives, richest first. */
typedef struct theme_spec {
    theme_color fg[THEME_MAX_ALTS], bg[THEME_MAX_ALTS];
    uint8_t n_fg, n_bg; /* 0: the terminal's default colour */
    unsigned attrs;     /* THEME_BOLD | ... */
} theme_spec;

/* An element as the terminal shows it. */
typedef struct theme_style {
    theme_color fg, bg;
    unsigned attrs;
} theme_style;

typedef struct theme {
    char name[64];         /* what it was loaded by ("solarized-dark") */
    char description[128]; /* from the file, may be empty */
    bool no_color;         /* NO_COLOR was set: this is the mono theme */
    theme_spec spec[THEME_N_ELEMENTS];
} theme;

/* The built-in themes: "default" (dark) and "mono" (attributes only); the
 * files themes/default.yaml and themes/mono.yaml say the same. */
void theme_default(theme *t);
void theme_mono(theme *t);

/* Loads theme `name` (or a file, when name contains a '/'); data_dir as
 * config_data_dir() gives it (may be NULL). With NO_COLOR set (and not empty)
 * the mono theme is returned instead, with no_color set. Always leaves a
 * usable theme in *t: on error, the built-in default, and -1 with
 * "FILE:LINE:COL: what is wrong" in err. Unknown keys go to warnings (may be
 * NULL), as in the config. */
int theme_load(theme *t, const char *name, const char *data_dir, config_messages *warnings,
               lm_error *err);
/* Parses theme text (tests, fuzzing); path is for messages. */
int theme_parse(theme *t, const char *path, const char *text, size_t len, config_messages *warnings,
                lm_error *err);

/* The names of the themes a picker can offer, from both folders, sorted,
 * each once. Caller frees with theme_list_free. */
size_t theme_list(const char *data_dir, char ***names);
void theme_list_free(char **names, size_t n);

/* An element as a terminal with `colors` colours shows it (8, 16, 256, or
 * 1 << 24 for true colour; below 8: no colour, attributes only). */
theme_style theme_style_for(const theme *t, enum theme_element e, int colors);

/* Colours */
const char *theme_element_name(enum theme_element e); /* "title", "status", ... */
int theme_element_from_name(const char *name);        /* -1 when unknown */
/* One colour word: "red", "bright-blue", "default", "42", "#1e90ff".
 * Returns false when it is none of these. */
bool theme_color_parse(const char *text, theme_color *out);
/* The colour reduced to what the terminal can show (see theme_style_for). */
theme_color theme_color_reduce(theme_color c, int colors);
/* The nearest xterm 256-colour index (16-255: the cube and the greys). */
uint8_t theme_rgb_to_256(uint8_t r, uint8_t g, uint8_t b);
/* The nearest of the first n (8 or 16) terminal colours, by xterm's palette. */
uint8_t theme_rgb_to_basic(uint8_t r, uint8_t g, uint8_t b, int n);
/* The RGB value of an xterm palette index. */
void theme_index_rgb(uint8_t index, uint8_t *r, uint8_t *g, uint8_t *b);

#endif

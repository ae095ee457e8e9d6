/* style: what each part of the screen looks like, for the terminal at hand.
 * NO_COLOR (https://no-color.org) or a terminal without colours gets
 * attributes only (bold, reverse, dim); 8-colour terminals get the basic
 * palette; 256-colour terminals get softer shades. Themes (a later issue)
 * will replace the tables below. */
#include "tui_internal.h"

#include <langinfo.h>
#include <stdlib.h>
#include <string.h>

typedef struct style_spec {
    short fg, bg; /* -1: the terminal's default */
    attr_t attr;
} style_spec;

/* attributes alone, for NO_COLOR and monochrome terminals */
static const attr_t mono[STYLE_COUNT] = {
    [STYLE_TITLE] = A_REVERSE | A_BOLD,
    [STYLE_TITLE_DEMO] = A_REVERSE | A_BOLD,
    [STYLE_STATUS] = A_REVERSE,
    [STYLE_STATUS_BUSY] = A_REVERSE | A_BOLD,
    [STYLE_USER] = A_BOLD,
    [STYLE_ASSISTANT] = A_BOLD | A_UNDERLINE,
    [STYLE_SYSTEM] = A_BOLD,
    [STYLE_META] = A_DIM,
    [STYLE_NOTICE] = A_DIM,
    [STYLE_WARNING] = A_BOLD,
    [STYLE_ERROR] = A_BOLD,
    [STYLE_CODE_FRAME] = A_DIM,
    [STYLE_MARKER] = A_REVERSE,
    [STYLE_SEPARATOR] = A_DIM,
    [STYLE_HINT] = A_BOLD,
    [STYLE_HELP_KEY] = A_BOLD,
};

static const style_spec colors8[STYLE_COUNT] = {
    [STYLE_NORMAL] = {-1, -1, 0},
    [STYLE_TITLE] = {COLOR_WHITE, COLOR_BLUE, A_BOLD},
    [STYLE_TITLE_DEMO] = {COLOR_BLACK, COLOR_YELLOW, 0},
    [STYLE_STATUS] = {COLOR_BLACK, COLOR_CYAN, 0},
    [STYLE_STATUS_BUSY] = {COLOR_BLACK, COLOR_GREEN, 0},
    [STYLE_USER] = {COLOR_GREEN, -1, A_BOLD},
    [STYLE_ASSISTANT] = {COLOR_CYAN, -1, A_BOLD},
    [STYLE_SYSTEM] = {COLOR_MAGENTA, -1, A_BOLD},
    [STYLE_META] = {COLOR_BLUE, -1, 0},
    [STYLE_NOTICE] = {COLOR_BLUE, -1, A_BOLD},
    [STYLE_WARNING] = {COLOR_YELLOW, -1, A_BOLD},
    [STYLE_ERROR] = {COLOR_RED, -1, A_BOLD},
    [STYLE_CODE] = {COLOR_YELLOW, -1, 0},
    [STYLE_CODE_FRAME] = {COLOR_BLUE, -1, 0},
    [STYLE_MARKER] = {COLOR_BLACK, COLOR_YELLOW, 0},
    [STYLE_SEPARATOR] = {COLOR_BLUE, -1, 0},
    [STYLE_HINT] = {COLOR_YELLOW, -1, A_BOLD},
    [STYLE_HELP] = {-1, -1, 0},
    [STYLE_HELP_KEY] = {COLOR_CYAN, -1, A_BOLD},
};

static const style_spec colors256[STYLE_COUNT] = {
    [STYLE_NORMAL] = {-1, -1, 0},         [STYLE_TITLE] = {255, 24, A_BOLD},
    [STYLE_TITLE_DEMO] = {16, 214, 0},    [STYLE_STATUS] = {252, 237, 0},
    [STYLE_STATUS_BUSY] = {16, 108, 0},   [STYLE_USER] = {114, -1, A_BOLD},
    [STYLE_ASSISTANT] = {75, -1, A_BOLD}, [STYLE_SYSTEM] = {176, -1, A_BOLD},
    [STYLE_META] = {244, -1, 0},          [STYLE_NOTICE] = {109, -1, 0},
    [STYLE_WARNING] = {214, -1, 0},       [STYLE_ERROR] = {203, -1, A_BOLD},
    [STYLE_CODE] = {223, 235, 0},         [STYLE_CODE_FRAME] = {242, 235, 0},
    [STYLE_MARKER] = {16, 214, 0},        [STYLE_SEPARATOR] = {240, -1, 0},
    [STYLE_HINT] = {214, -1, 0},          [STYLE_HELP] = {252, -1, 0},
    [STYLE_HELP_KEY] = {75, -1, A_BOLD},
};

static attr_t attrs[STYLE_COUNT];
static short pairs[STYLE_COUNT];

static bool no_color(void) {
    const char *nc = getenv("NO_COLOR");
    return nc && *nc;
}

void style_init(void) {
    memcpy(attrs, mono, sizeof attrs);
    memset(pairs, 0, sizeof pairs);
    if (no_color() || !has_colors() || start_color() == ERR) return;
    bool defaults = use_default_colors() == OK;
    const style_spec *spec = COLORS >= 256 && COLOR_PAIRS > STYLE_COUNT ? colors256 : colors8;
    if (COLORS < 8 || COLOR_PAIRS <= STYLE_COUNT) return;
    for (int i = 1; i < STYLE_COUNT; i++) {
        short fg = spec[i].fg, bg = spec[i].bg;
        if (!defaults) { /* no "default" colour: white on black it is */
            if (fg < 0) fg = COLOR_WHITE;
            if (bg < 0) bg = COLOR_BLACK;
        }
        init_pair((short)i, fg, bg);
        pairs[i] = (short)i;
        attrs[i] = spec[i].attr;
    }
}

attr_t style_attr(enum tui_style s, short *pair) {
    *pair = pairs[s];
    return attrs[s];
}

void style_set(WINDOW *w, enum tui_style s) {
    wattr_set(w, attrs[s], pairs[s], NULL);
}

/* ---- glyphs ---- */

tui_glyphs glyphs;

void glyphs_init(void) {
    static const tui_glyphs utf8 = {"─", "│", "┌", "└", "↓", "·", "…", "› ", " │ ", "—"};
    static const tui_glyphs ascii = {"-", "|", "+", "+", "v", "*", "...", "> ", " | ", "-"};
    glyphs = strcmp(nl_langinfo(CODESET), "UTF-8") == 0 ? utf8 : ascii;
}

/* ---- drawing text ---- */

int tui_put(WINDOW *w, const char *s, size_t n, int max_cols) {
    wchar_t buf[128];
    int nb = 0, cols = 0;
    for (size_t i = 0; i < n;) {
        wchar_t wc;
        int wd;
        size_t len = text_next(s + i, n - i, &wc, &wd);
        if (cols + wd > max_cols) break;
        if (wc == L'\t') {
            for (int k = 0; k < wd; k++) buf[nb++] = L' ';
        } else if (wd > 0 || cols > 0) { /* a combining mark needs a character before it */
            buf[nb++] = wc;
        }
        cols += wd;
        i += len;
        if (nb > (int)(sizeof buf / sizeof *buf) - 8) {
            waddnwstr(w, buf, nb);
            nb = 0;
        }
    }
    if (nb) waddnwstr(w, buf, nb);
    return cols;
}

int tui_puts(WINDOW *w, const char *s, int max_cols) {
    return tui_put(w, s, strlen(s), max_cols);
}

void tui_fill_line(WINDOW *w) {
    int y, x, maxx = getmaxx(w);
    getyx(w, y, x);
    (void)y;
    for (; x < maxx; x++) waddch(w, ' ');
}

/* style: what each part of the screen looks like, from the colour theme
 * (theme.h), for the terminal at hand. This is the one place where the
 * theme's elements become the screen's styles.
 *
 * The theme says what it wants per element, in up to three forms (true
 * colour, 256, 8); theme_style_for picks the form the terminal can show,
 * from COLORS: 8, 16, 256, or 2^24 on a direct-colour terminal (TERM=
 * xterm-direct and the like), where ncurses takes 0xRRGGBB values. We do not
 * redefine the palette of a 256-colour terminal (can_change_color): that
 * would change the colours of every other program in the terminal, after
 * lmterm too; the 256-colour form of a theme is close enough.
 *
 * NO_COLOR (https://no-color.org), which theme_load answers with the mono
 * theme, and terminals without colours get attributes only. */
#include "tui_internal.h"

#include <langinfo.h>
#include <stdlib.h>
#include <string.h>

/* What a style is made of: an element's colours and attributes, plus
 * attributes of its own. A style whose element leaves the background to the
 * terminal takes the body's, so that themes with a background colour for
 * the conversation have no holes in it. */
typedef struct style_map {
    enum theme_element element;
    attr_t add;      /* attributes on top of the element's */
    attr_t add_mono; /* ... when the terminal shows no colour: what tells it apart */
    bool own_bg;     /* keeps a default background (bars, which have their own) */
} style_map;

static const style_map map[STYLE_COUNT] = {
    [STYLE_NORMAL] = {THEME_BODY, 0, 0, false},
    [STYLE_TITLE] = {THEME_TITLE, 0, 0, true},
    [STYLE_TITLE_DEMO] = {THEME_MARKER, A_REVERSE, A_REVERSE, false},
    [STYLE_STATUS] = {THEME_STATUS, 0, 0, true},
    [STYLE_STATUS_BUSY] = {THEME_SELECTION, 0, A_BOLD, true},
    [STYLE_USER] = {THEME_USER, 0, 0, false},
    [STYLE_ASSISTANT] = {THEME_ASSISTANT, 0, 0, false},
    [STYLE_SYSTEM] = {THEME_NOTICE, A_BOLD, A_BOLD, false},
    [STYLE_META] = {THEME_NOTICE, 0, A_DIM, false},
    [STYLE_NOTICE] = {THEME_NOTICE, 0, A_DIM, false},
    [STYLE_WARNING] = {THEME_MARKER, 0, A_BOLD, false},
    [STYLE_ERROR] = {THEME_ERROR, 0, A_BOLD, false},
    [STYLE_CODE] = {THEME_CODE, 0, 0, false},
    [STYLE_CODE_FRAME] = {THEME_BORDER, 0, A_DIM, false},
    [STYLE_MARKER] = {THEME_MARKER, A_REVERSE, A_REVERSE, false},
    [STYLE_SEPARATOR] = {THEME_BORDER, 0, A_DIM, false},
    [STYLE_HINT] = {THEME_MARKER, 0, A_BOLD, false},
    [STYLE_HELP] = {THEME_BODY, 0, 0, false},
    [STYLE_HELP_KEY] = {THEME_USER, 0, A_BOLD, false},
    [STYLE_INPUT] = {THEME_INPUT, 0, 0, true},
    [STYLE_BORDER] = {THEME_BORDER, 0, 0, false},
    [STYLE_SELECTION] = {THEME_SELECTION, 0, A_REVERSE, true},
    [STYLE_CURRENT] = {THEME_MARKER, 0, A_BOLD, false},
    /* A reply's Markdown in the theme's own elements: headings like the
     * reply's header, inline code like code blocks, quotes like notices;
     * **strong** and *emphasis* add bold and italic to whatever they are in. */
    [STYLE_MD_HEADING] = {THEME_ASSISTANT, A_BOLD, A_UNDERLINE, false},
    [STYLE_MD_CODE] = {THEME_CODE, 0, A_UNDERLINE, false},
    [STYLE_MD_QUOTE] = {THEME_NOTICE, 0, A_DIM, false},
    [STYLE_MD_MARKER] = {THEME_ASSISTANT, 0, A_BOLD, false},
};

static attr_t attrs[STYLE_COUNT];
static short pairs[STYLE_COUNT];
static int style_colors; /* what the theme was reduced to: 0 (none), 8, 16, 256, 1 << 24 */

/* COLORS as theme_style_for understands it. */
static int terminal_colors(void) {
    if (COLORS < 8) return 0;
    if (COLORS >= 1 << 24) return 1 << 24;
    return COLORS >= 256 ? 256 : COLORS >= 16 ? 16 : 8;
}

/* A theme colour as a curses colour number; -1: the terminal's default. */
static int curses_color(theme_color c, bool fg, bool defaults) {
    if (c.kind == THEME_COLOR_DEFAULT) return defaults ? -1 : fg ? COLOR_WHITE : COLOR_BLACK;
    if (style_colors >= 1 << 24) { /* direct colour: 0-7 are the basic ones, the rest RGB */
        if (c.kind == THEME_COLOR_INDEX && c.index < 8) return c.index;
        if (c.kind == THEME_COLOR_INDEX) theme_index_rgb(c.index, &c.r, &c.g, &c.b);
        return c.r << 16 | c.g << 8 | c.b;
    }
    return c.kind == THEME_COLOR_INDEX ? c.index : fg ? COLOR_WHITE : COLOR_BLACK;
}

static attr_t theme_attrs(unsigned a) {
    return (a & THEME_BOLD ? A_BOLD : 0) | (a & THEME_UNDERLINE ? A_UNDERLINE : 0) |
           (a & THEME_REVERSE ? A_REVERSE : 0);
}

static void set_pair(int i, const theme *t, bool defaults) {
    theme_style st = theme_style_for(t, map[i].element, style_colors);
    if (st.bg.kind == THEME_COLOR_DEFAULT && !map[i].own_bg)
        st.bg = theme_style_for(t, THEME_BODY, style_colors).bg;
    /* pair 0 is the terminal's own and cannot be changed: style i uses i + 1 */
    init_extended_pair(i + 1, curses_color(st.fg, true, defaults),
                       curses_color(st.bg, false, defaults));
    pairs[i] = (short)(i + 1);
    attrs[i] = theme_attrs(st.attrs) | map[i].add;
}

/* Attributes alone: the theme's where it has them (NO_COLOR: mono), else mono's. */
static void init_mono(const theme *t) {
    theme mono;
    theme_mono(&mono);
    const theme *use = t->no_color ? t : &mono;
    style_colors = 0;
    for (int i = 0; i < STYLE_COUNT; i++)
        attrs[i] = theme_attrs(theme_style_for(use, map[i].element, 0).attrs) | map[i].add |
                   map[i].add_mono;
}

void style_init(const theme *t) {
    static bool started; /* start_color once: COLORS and COLOR_PAIRS are known after it */
    memset(pairs, 0, sizeof pairs);
    if (t->no_color || !has_colors() || (!started && start_color() == ERR)) {
        init_mono(t);
        return;
    }
    started = true;
    style_colors = terminal_colors();
    if (!style_colors || COLOR_PAIRS <= STYLE_COUNT + 1) {
        init_mono(t);
        return;
    }
    bool defaults = use_default_colors() == OK;
    for (int i = 0; i < STYLE_COUNT; i++) set_pair(i, t, defaults);
}

int style_colors_used(void) {
    return style_colors;
}

attr_t style_attr(enum tui_style s, short *pair) {
    *pair = pairs[s];
    return attrs[s];
}

void style_set(WINDOW *w, enum tui_style s) {
    wattr_set(w, attrs[s], pairs[s], NULL);
}

void style_background(WINDOW *w, enum tui_style s) {
    wbkgdset(w, (chtype)COLOR_PAIR(pairs[s]) | ' ');
}

/* ---- glyphs ---- */

tui_glyphs glyphs;

void glyphs_init(void) {
    static const tui_glyphs utf8 = {"─",  "│",   "┌", "└", "↓", "·", "…",
                                    "› ", " │ ", "—", "●", "█", "░"};
    static const tui_glyphs ascii = {"-",  "|",   "+", "+", "v", "*", "...",
                                     "> ", " | ", "-", "*", "#", "-"};
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

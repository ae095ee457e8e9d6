/* The full-screen chat's parts, shared by src/tui*.c only.
 *
 *   tui.c         the terminal, signals, layout and the one poll() loop
 *   tui_keys.c    bytes from the terminal -> keys, pastes, mouse wheel
 *   tui_input.c   the input box: readline's callback interface, drawn by us
 *   tui_view.c    the conversation pane: entries, wrapping, scrolling
 *   tui_bars.c    the title and status bars
 *   tui_help.c    the help screen
 *   tui_text.c    UTF-8 text by display width (no curses)
 *   tui_style.c   colours and attributes, glyphs, drawing text in a window
 *
 * (tui_session.c and tui_history.c, which know no curses, are declared in
 * include/tui.h: the plain chat uses them too.) */
#ifndef LMTERM_TUI_INTERNAL_H
#define LMTERM_TUI_INTERNAL_H

#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#include <curses.h>
#include <wchar.h>

#include "tui.h"

/* ---- text by display width ---- */

/* Decodes the character at s (n > 0 bytes): returns the bytes it takes,
 * the character to draw in *wc and its columns in *width. Tabs, control
 * characters and invalid bytes come back as something printable. */
size_t text_next(const char *s, size_t n, wchar_t *wc, int *width);
int text_width(const char *s, size_t n);

/* One line of wrapped text: bytes [off, off + len) of the paragraph. */
typedef void (*text_line_fn)(void *ctx, size_t off, size_t len);
/* Wraps one paragraph (no '\n') into lines of at most `width` columns,
 * between words when `words` is set (a word longer than a line is cut
 * between characters), else between characters. Never splits a character. */
void text_wrap(const char *s, size_t n, int width, bool words, text_line_fn fn, void *ctx);

/* ---- styles ---- */

enum tui_style {
    STYLE_NORMAL,
    STYLE_TITLE,
    STYLE_TITLE_DEMO,
    STYLE_STATUS,
    STYLE_STATUS_BUSY,
    STYLE_USER,
    STYLE_ASSISTANT,
    STYLE_SYSTEM,
    STYLE_META,
    STYLE_NOTICE,
    STYLE_WARNING,
    STYLE_ERROR,
    STYLE_CODE,
    STYLE_CODE_FRAME,
    STYLE_MARKER,
    STYLE_SEPARATOR,
    STYLE_HINT,
    STYLE_HELP,
    STYLE_HELP_KEY,
    STYLE_COUNT
};

/* Picks colours for the terminal: none with NO_COLOR or a monochrome
 * terminal, 8 colours, or 256. */
void style_init(void);
attr_t style_attr(enum tui_style s, short *pair);
void style_set(WINDOW *w, enum tui_style s);

/* Box-drawing characters, or ASCII where the locale has no UTF-8. */
typedef struct tui_glyphs {
    const char *hline, *vline, *top_left, *bottom_left, *arrow_down, *bullet, *ellipsis, *prompt,
        *sep, *dash;
} tui_glyphs;
extern tui_glyphs glyphs;
void glyphs_init(void);

/* Draws UTF-8 text at the cursor, at most max_cols columns (never half a
 * wide character). Returns the columns used. */
int tui_put(WINDOW *w, const char *s, size_t n, int max_cols);
int tui_puts(WINDOW *w, const char *s, int max_cols);
/* Fills the rest of the line with spaces in the current attributes. */
void tui_fill_line(WINDOW *w);

/* ---- keys ---- */

enum key_kind {
    TK_TEXT,  /* bytes for readline: characters, Alt-x, arrows, Delete */
    TK_PASTE, /* a bracketed paste, as one piece of text */
    TK_ESC,
    TK_CTRL_C,
    TK_CTRL_L,
    TK_CTRL_Z,
    TK_CTRL_S,
    TK_PGUP,
    TK_PGDN,
    TK_HOME,
    TK_END,
    TK_CTRL_HOME,
    TK_CTRL_END,
    TK_UP,
    TK_DOWN,
    TK_WHEEL_UP,
    TK_WHEEL_DOWN,
    TK_FN, /* F1..F12 in n */
};

typedef struct tui_key {
    enum key_kind kind;
    const char *data; /* TEXT, PASTE */
    size_t len;
    int n; /* FN */
} tui_key;

typedef void (*key_fn)(void *ctx, const tui_key *k);

typedef struct key_decoder {
    unsigned char seq[64]; /* an escape sequence not yet complete */
    size_t n_seq;
    double seq_since;
    bool in_paste;
    lm_buf paste;
} key_decoder;

/* Feeds bytes read from the terminal; calls fn for each key. */
void keys_feed(key_decoder *d, const unsigned char *b, size_t n, key_fn fn, void *ctx);
/* Milliseconds until a lone Esc counts as the Esc key; -1: nothing waits. */
int keys_timeout(const key_decoder *d, double now);
/* Delivers what waited (a lone Esc, a cut sequence) once its time is up. */
void keys_expire(key_decoder *d, double now, key_fn fn, void *ctx);
void keys_free(key_decoder *d);

/* ---- the input box ---- */

typedef void (*input_line_fn)(void *ctx, char *line); /* NULL line: Ctrl-D on an empty box */

void input_init(input_line_fn fn, void *ctx);
void input_end(void);
/* Bytes for readline (a TK_TEXT). */
void input_feed(const char *bytes, size_t n);
/* Text inserted at the cursor as it is (a paste, newlines included). */
void input_insert(const char *text);
/* Replaces the whole text (/edit). */
void input_set(const char *text);
void input_clear(void);
bool input_empty(void);
/* Esc in the input: leaves a history search. False when there was none. */
bool input_cancel(void);
/* A one-line note over the box (hints, completions); NULL clears it. */
void input_hint(const char *text);
bool input_dirty(void);
/* Rows the box wants at this width (separator included), at most max_rows. */
int input_rows(int width, int max_rows);
/* Draws the box and leaves the window's cursor where readline's is. */
void input_draw(WINDOW *w, bool busy);

/* ---- the conversation pane ---- */

enum entry_kind {
    ENTRY_USER,
    ENTRY_ASSISTANT,
    ENTRY_SYSTEM, /* the system prompt */
    ENTRY_NOTICE,
    ENTRY_WARNING,
    ENTRY_ERROR,
};

typedef struct view view;

view *view_create(void);
void view_free(view *v);
void view_clear(view *v);
void view_add(view *v, enum entry_kind kind, const char *text);
/* Appends to the last entry (a reply being written). */
void view_append(view *v, const char *text, size_t len);
/* The note in the last reply's header: "writing", "42 tokens, 512 tok/s". */
void view_set_note(view *v, const char *note);
/* Scrolling, in lines (positive: back in time) or pages. */
void view_scroll(view *v, int lines);
void view_page(view *v, int pages);
void view_top(view *v);
void view_bottom(view *v);
bool view_dirty(const view *v);
void view_draw(view *v, WINDOW *w);

/* ---- bars and help ---- */

void bars_draw_title(WINDOW *w, const session_status *st);
void bars_draw_status(WINDOW *w, const session_status *st);

typedef struct help_screen {
    bool open;
    int top, page, max_top; /* scrolling, as the last drawing found it */
} help_screen;

/* Handles a key while the help is open; returns false when it closes. */
bool help_key(help_screen *h, const tui_key *k);
void help_draw(help_screen *h, int rows, int cols);

#endif

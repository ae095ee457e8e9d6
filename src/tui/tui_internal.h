/* The full-screen chat's parts, shared by src/tui/ only.
 *
 *   tui.c         the terminal, signals, layout and the one poll() loop
 *   tui_keys.c    bytes from the terminal -> keys, pastes, mouse wheel
 *   tui_input.c   the input box: readline's callback interface, drawn by us
 *   tui_view.c    the conversation pane: entries, wrapping, scrolling
 *   tui_bars.c    the title and status bars
 *   tui_help.c    the help screen
 *   tui_menu.c    a list box over the chat: rows, columns, a selection
 *   tui_dialogs.c the menus and dialogs built on it (models, precision,
 *                 settings, system prompt, conversations, themes) and the
 *                 loading box
 *   tui_text.c    UTF-8 text by display width (no curses)
 *   tui_style.c   colours and attributes from the theme, glyphs, drawing text
 *
 * (The session, its commands and choices, the saved conversations and the
 * input history know no curses: they live in src/app/, and the plain chat
 * uses them too. None of this folder sees an engine but through the
 * session and app/backend.h: tests/cli/layers.sh checks.) */
#ifndef LMTERM_TUI_INTERNAL_H
#define LMTERM_TUI_INTERNAL_H

#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#include <curses.h>
#include <wchar.h>

#include "theme.h"
#include "history.h"
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
    STYLE_INPUT,     /* the text in the input box */
    STYLE_BORDER,    /* frames of menus and dialogs */
    STYLE_SELECTION, /* the highlighted row of a menu */
    STYLE_CURRENT,   /* the mark of the item in use */

    /* a reply's Markdown */
    STYLE_MD_HEADING, /* # headings */
    STYLE_MD_CODE,    /* `inline code` */
    STYLE_MD_QUOTE,   /* > block quotes */
    STYLE_MD_MARKER,  /* list bullets and numbers, the quote bar */
    STYLE_COUNT
};

/* Makes the styles from theme t for this terminal: colours as it can show
 * them (8, 16, 256 or direct colour), or attributes alone (NO_COLOR, a
 * monochrome terminal). Again for another theme: redraw everything after. */
void style_init(const theme *t);
/* The colours the styles use: 0 (attributes only), 8, 16, 256 or 1 << 24. */
int style_colors_used(void);
attr_t style_attr(enum tui_style s, short *pair);
void style_set(WINDOW *w, enum tui_style s);
/* The colours werase() and scrolling fill a window with. */
void style_background(WINDOW *w, enum tui_style s);

/* Box-drawing characters, or ASCII where the locale has no UTF-8. */
typedef struct tui_glyphs {
    const char *hline, *vline, *top_left, *bottom_left, *arrow_down, *bullet, *ellipsis, *prompt,
        *sep, *dash, *current, *bar_full, *bar_empty;
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
/* The keys the reminder over the box names for help and stop ("F1", "Esc"). */
void input_set_keys(const char *help, const char *stop);
/* Where Tab finds the installed themes (for /theme NAME); may be NULL. */
void input_set_data_dir(const char *dir);
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
/* The text of the last reply, as the model wrote it; false when none. */
bool view_last_reply(const view *v, const char **text, size_t *len);
/* The code of the lowest fenced code block with a line in the pane. */
bool view_code_in_pane(view *v, const char **text, size_t *len);

/* ---- copy ---- */

/* Sends text to the terminal's clipboard (OSC 52). False, with why filled,
 * when the terminal is not known to take it. */
bool copy_osc52(const char *text, size_t len, char *why, size_t why_size);

/* ---- bars and help ---- */

void bars_draw_title(WINDOW *w, const session_status *st);
void bars_draw_status(WINDOW *w, const session_status *st);

typedef struct help_screen {
    bool open;
    int top, page, max_top; /* scrolling, as the last drawing found it */
    const config *cfg;      /* the key bindings it lists, files it names */
    bool demo;              /* the demo model is in use: say how to get a real one */
} help_screen;

/* Handles a key while the help is open; returns false when it closes. */
bool help_key(help_screen *h, const tui_key *k);
void help_draw(help_screen *h, int rows, int cols);

/* ---- menus ---- */

typedef struct menu_row {
    char *cells;  /* columns, separated by '\t' */
    bool current; /* marked: the item in use */
    bool dim;     /* shown, but not a good choice now (does not fit) */
} menu_row;

typedef struct menu {
    char title[64];
    char *intro;       /* text above the rows, wrapped; may be NULL */
    char *header;      /* column titles, '\t'-separated; may be NULL */
    const char *align; /* 'l' or 'r' per column; NULL: all left */
    menu_row *rows;
    int n, sel, top;
    int page; /* rows shown, as the last drawing found */
    char footer[160];
    char message[512];
    enum tui_style message_style;
    bool editing; /* the selected row's last cell is being typed */
    char field[64];
} menu;

enum menu_result {
    MENU_NONE,    /* the key meant nothing to the menu */
    MENU_HANDLED, /* it did something inside the menu */
    MENU_MOVED,   /* another row is selected */
    MENU_CHOSEN,  /* Enter on a row */
    MENU_CLOSED,  /* Esc */
    MENU_EDITED,  /* Enter in the field: m->field holds the text */
    MENU_EDIT_CANCELLED,
};

void menu_init(menu *m, const char *title);
void menu_free(menu *m);
/* Drops the rows, keeps the title and the selection. */
void menu_clear_rows(menu *m);
void menu_add(menu *m, bool current, bool dim, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void menu_set_intro(menu *m, const char *text);
void menu_message(menu *m, enum tui_style style, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Starts typing a value in place of the selected row's last cell. */
void menu_edit(menu *m, const char *value);
enum menu_result menu_key(menu *m, const tui_key *k);
void menu_draw(menu *m, int rows, int cols);

/* ---- dialogs ---- */

enum dialog_kind {
    DIALOG_NONE,
    DIALOG_MODELS,
    DIALOG_PRECISION,
    DIALOG_SYSTEM,
    DIALOG_SETTINGS,
    DIALOG_CONVERSATIONS,
    DIALOG_THEMES,
    DIALOG_DOWNLOAD,
};

/* What a dialog may ask of the chat beyond the session. */
typedef struct dialog_host {
    session *s;
    void *ctx;
    /* Shows theme `name` (a preview too). -1 with err when it does not load. */
    int (*set_theme)(void *ctx, const char *name, lm_error *err);
    const char *(*theme_name)(void *ctx);
    /* Puts text into the input box to be edited and sent. */
    void (*edit_input)(void *ctx, const char *text);
} dialog_host;

typedef struct dialog {
    enum dialog_kind kind;
    menu m;
    dialog_host host;
    char **themes; /* the theme picker's names */
    size_t n_themes;
    char saved_theme[64];      /* what Esc in the picker goes back to */
    bool themes_from_settings; /* Esc in the picker goes back to settings */
} dialog;

/* Opens a dialog (closing one that is open). */
void dialog_open(dialog *d, enum dialog_kind kind, const dialog_host *h);
void dialog_close(dialog *d);
/* Handles a key; false when the dialog closed. */
bool dialog_key(dialog *d, const tui_key *k);
void dialog_draw(dialog *d, int rows, int cols);
/* The download dialog (tui_download.c): the model menu's "Download a model". */
void download_dialog_fill(dialog *d);
bool download_dialog_key(dialog *d, enum menu_result r);
/* "Downloading NAME  42%  1.2/2.4 GB  5.1 MB/s  ETA 3:10" into buf, or "" when none runs. */
const char *download_progress_text(session *s, char *buf, size_t size);
/* Fills the open dialog again (a download made progress). */
void dialog_refresh(dialog *d);
/* The box over the chat while a model loads: what, how far, how to cancel. */
void progress_draw(const session_status *st, int rows, int cols);

#endif

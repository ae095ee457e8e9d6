/* help: the F1 screen, a framed box over the chat listing every key and
 * slash command. It scrolls when the terminal is small. */
#include "tui_internal.h"

#include <stdlib.h>
#include <string.h>

#define KEY_COLUMN 20

typedef struct help_item {
    const char *key, *what; /* key NULL: a heading */
} help_item;

static const help_item keys[] = {
    {NULL, "Keys"},
    {"Enter", "send the message"},
    {"Alt-Enter, Ctrl-J", "new line in the message (a paste keeps its lines)"},
    {"Esc", "stop the reply being written"},
    {"Ctrl-C", "stop the reply; else clear the input"},
    {"Ctrl-D", "quit (when the input is empty)"},
    {"Up, Down", "earlier messages and commands (history)"},
    {"Ctrl-R", "search the history"},
    {"Tab", "complete a /command or a file name"},
    {"PgUp, PgDn", "scroll the conversation"},
    {"Home, End", "top, bottom of the conversation (while the input is empty)"},
    {"Ctrl-Home, -End", "top, bottom of the conversation"},
    {"mouse wheel", "scroll (Shift and drag selects text)"},
    {"Ctrl-L", "draw the screen again"},
    {"Ctrl-S", "save the conversation (as /save)"},
    {"Ctrl-Z", "suspend; fg in the shell comes back"},
    {"F1", "this help (Esc, q or F1 closes it)"},
    {"F2, F3", "model and precision menus (not yet available)"},
    {"F4, F5", "show the system prompt, the settings"},
    {"editing", "Ctrl-A/E start/end, Alt-B/F word back/forward, Ctrl-W/K/U cut, Ctrl-Y paste back"},
};

static const help_item footer[] = {
    {NULL, "Models"},
    {"-m FILE.gguf", "chat with a GGUF model (Phi-3, Llama-3); without -m, a demo model with "
                     "random weights is made so the interface can be tried"},
    {"--precision P", "native, fp32, fp16, int8 or int4"},
    {"files", "history in $XDG_STATE_HOME/lmterm/history, saved conversations in "
              "$XDG_DATA_HOME/lmterm/transcripts"},
};

/* ---- the lines, at a width ---- */

typedef struct help_line {
    const char *key; /* shown before the first line of an item */
    const char *text;
    size_t len;
    bool heading;
} help_line;

typedef struct help_text {
    help_line *lines;
    int n, cap;
    const char *key, *text;
    char names[32][48]; /* "/save [PATH]" */
} help_text;

static void push(help_text *h, help_line l) {
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 64;
        h->lines = lm_xrealloc(h->lines, (size_t)h->cap * sizeof *h->lines);
    }
    h->lines[h->n++] = l;
}

static void item_line(void *ctx, size_t off, size_t len) {
    help_text *h = ctx;
    push(h, (help_line){h->key, h->text + off, len, false});
    h->key = NULL;
}

/* A key too long for its column gets a line of its own. */
static void add_item(help_text *h, const char *key, const char *what, int width) {
    if (!key) {
        if (h->n) push(h, (help_line){NULL, "", 0, false});
        push(h, (help_line){NULL, what, strlen(what), true});
        return;
    }
    h->key = key;
    if (text_width(key, strlen(key)) > KEY_COLUMN - 2) {
        push(h, (help_line){key, "", 0, false});
        h->key = NULL;
    }
    h->text = what;
    int room = width - KEY_COLUMN;
    text_wrap(what, strlen(what), room > 10 ? room : 10, true, item_line, h);
}

static void build(help_text *h, int width) {
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        add_item(h, keys[i].key, keys[i].what, width);
    size_t n;
    const session_command *cmds = session_commands(&n);
    add_item(h, NULL, "Commands", width);
    for (size_t i = 0; i < n && i < 32; i++) {
        snprintf(h->names[i], sizeof h->names[i], "%s %s", cmds[i].name, cmds[i].args);
        add_item(h, h->names[i], cmds[i].help, width);
    }
    for (size_t i = 0; i < sizeof footer / sizeof *footer; i++)
        add_item(h, footer[i].key, footer[i].what, width);
}

/* ---- keys ---- */

bool help_key(help_screen *h, const tui_key *k) {
    switch (k->kind) {
    case TK_ESC:
    case TK_CTRL_C:
        return h->open = false;
    case TK_FN:
        if (k->n == 1) return h->open = false;
        break;
    case TK_TEXT:
        if (k->len == 1 && (k->data[0] == 'q' || k->data[0] == '\r')) return h->open = false;
        if (k->len == 1 && k->data[0] == ' ') h->top += h->page;
        break;
    case TK_UP:
    case TK_WHEEL_UP:
        h->top--;
        break;
    case TK_DOWN:
    case TK_WHEEL_DOWN:
        h->top++;
        break;
    case TK_PGUP:
        h->top -= h->page;
        break;
    case TK_PGDN:
        h->top += h->page;
        break;
    case TK_HOME:
    case TK_CTRL_HOME:
        h->top = 0;
        break;
    case TK_END:
    case TK_CTRL_END:
        h->top = h->max_top;
        break;
    default:
        break;
    }
    if (h->top > h->max_top) h->top = h->max_top;
    if (h->top < 0) h->top = 0;
    return true;
}

/* ---- drawing ---- */

static void draw_frame(WINDOW *w, int rows, int cols, const help_screen *h, int n_lines) {
    style_set(w, STYLE_SEPARATOR);
    box(w, 0, 0);
    style_set(w, STYLE_HELP_KEY);
    mvwaddstr(w, 0, 2, " ");
    tui_puts(w, "Help", cols - 4);
    waddstr(w, " ");
    const char *more = h->top + rows - 2 < n_lines ? " more: PgDn " : " Esc closes ";
    int mw = text_width(more, strlen(more));
    if (cols - mw - 2 > 8) {
        style_set(w, STYLE_META);
        wmove(w, rows - 1, cols - mw - 2);
        tui_puts(w, more, mw);
    }
}

void help_draw(help_screen *h, int rows, int cols) {
    int width = cols - 4 < 78 ? cols - 4 : 78, height = rows - 2;
    if (width < 20 || height < 4) return;
    help_text text;
    memset(&text, 0, sizeof text);
    build(&text, width - 4);
    if (height > text.n + 2) height = text.n + 2;
    h->page = height - 3 > 1 ? height - 3 : 1;
    h->max_top = text.n - (height - 2) > 0 ? text.n - (height - 2) : 0;
    if (h->top > h->max_top) h->top = h->max_top;
    WINDOW *w = newwin(height, width, (rows - height) / 2, (cols - width) / 2);
    if (!w) {
        free(text.lines);
        return;
    }
    style_set(w, STYLE_HELP);
    werase(w);
    for (int r = 0; r < height - 2 && h->top + r < text.n; r++) {
        const help_line *l = &text.lines[h->top + r];
        wmove(w, 1 + r, 2);
        if (l->heading) {
            style_set(w, STYLE_USER);
            tui_put(w, l->text, l->len, width - 4);
            continue;
        }
        if (l->key) {
            style_set(w, STYLE_HELP_KEY);
            tui_puts(w, l->key, l->len ? KEY_COLUMN - 1 : width - 4);
        }
        style_set(w, STYLE_HELP);
        wmove(w, 1 + r, 2 + KEY_COLUMN);
        tui_put(w, l->text, l->len, width - 4 - KEY_COLUMN);
    }
    draw_frame(w, height, width, h, text.n);
    wnoutrefresh(w);
    delwin(w);
    free(text.lines);
}

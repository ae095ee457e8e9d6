/* help: the F1 screen, a framed box over the chat listing every key and
 * slash command. It scrolls when the terminal is small. */
#include "tui_internal.h"

#include <stdlib.h>
#include <string.h>

#define KEY_COLUMN 20

typedef struct help_item {
    const char *key, *what; /* key NULL: a heading */
} help_item;

/* Keys that are the input box's or fixed; the bound ones come from the
 * configuration (see actions below). */
static const help_item keys_before[] = {
    {NULL, "Keys"},
    {"Enter", "send the message"},
    {"Alt-Enter, Ctrl-J", "new line in the message (a paste keeps its lines)"},
};

static const help_item keys_after[] = {
    {"Ctrl-D", "quit (when the input is empty)"},
    {"Up, Down", "earlier messages and commands (history)"},
    {"Ctrl-R", "search the history"},
    {"Tab", "complete a /command, its argument or a file name"},
    {"PgUp, PgDn", "scroll the conversation"},
    {"Home, End", "top, bottom of the conversation (while the input is empty)"},
    {"Ctrl-Home, -End", "top, bottom of the conversation"},
    {"mouse wheel", "scroll (Shift and drag selects text)"},
    {"Ctrl-L", "draw the screen again"},
    {"Ctrl-Z", "suspend; fg in the shell comes back"},
    {"Alt-W, Alt-K", "copy the last reply, or the code block lowest in view, to the clipboard"},
    {"editing", "Ctrl-A/E start/end, Alt-B/F word back/forward, Ctrl-W/K/U cut, Ctrl-Y paste back"},
    {"in menus", "Up, Down, PgUp, PgDn move; Enter chooses; Esc (or the menu's key) closes"},
};

/* What each action of the keys: section does. */
static const char *const action_help[CONFIG_N_ACTIONS] = {
    [CONFIG_ACTION_STOP] = "stop the reply being written, or cancel a model loading (Ctrl-C "
                           "also empties the input)",
    [CONFIG_ACTION_HELP] = "this help (Esc, q or the same key closes it)",
    [CONFIG_ACTION_MODEL_MENU] = "choose a model: the configured ones and the files in the "
                                 "model folders (as /model)",
    [CONFIG_ACTION_PRECISION_MENU] = "choose the weights' precision: native, FP32, FP16, INT8, "
                                     "INT4, with the memory each needs (as /precision)",
    [CONFIG_ACTION_SYSTEM_PROMPT] = "edit the system prompt, or pick a preset",
    [CONFIG_ACTION_SETTINGS] = "sampling, threads, context size, theme; save as default",
    [CONFIG_ACTION_CONVERSATIONS] = "saved conversations, newest first: Enter resumes one",
    [CONFIG_ACTION_SAVE] = "save the conversation (as /save)",
    [CONFIG_ACTION_REGENERATE] = "write the last reply again (as /regen)",
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
    char *owned[64]; /* text made for this drawing: key names, "/save [PATH]" ... */
    int n_owned;
} help_text;

/* A copy of the text that lives as long as the lines pointing into it. */
static const char *keep(help_text *h, lm_buf *b) {
    const char *text = lm_buf_cstr(b);
    if (h->n_owned == (int)(sizeof h->owned / sizeof *h->owned)) {
        lm_buf_free(b);
        return "";
    }
    h->owned[h->n_owned++] = b->data;
    memset(b, 0, sizeof *b);
    return text;
}

static void free_text(help_text *h) {
    for (int i = 0; i < h->n_owned; i++) free(h->owned[i]);
    free(h->lines);
}

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

static void add_items(help_text *h, const help_item *items, size_t n, int width) {
    for (size_t i = 0; i < n; i++) add_item(h, items[i].key, items[i].what, width);
}

/* "F2" or "Esc, Ctrl-C": the keys bound to action a; NULL when none. */
static const char *action_keys(help_text *h, const config *cfg, int a) {
    lm_buf b = {0};
    for (int k = 0; k < CONFIG_MAX_KEYS && cfg->keys[a][k]; k++) {
        char name[16];
        lm_buf_printf(&b, "%s%s", k ? ", " : "", config_key_name(cfg->keys[a][k], name));
    }
    return b.len ? keep(h, &b) : NULL;
}

static void add_bound_keys(help_text *h, const config *cfg, int width) {
    for (int a = 0; a < CONFIG_N_ACTIONS; a++) {
        const char *keys = action_keys(h, cfg, a);
        if (keys) add_item(h, keys, action_help[a], width);
    }
}

static void add_commands(help_text *h, int width) {
    size_t n;
    const session_command *cmds = session_commands(&n);
    add_item(h, NULL, "Commands", width);
    for (size_t i = 0; i < n; i++) {
        lm_buf b = {0};
        lm_buf_printf(&b, "%s %s", cmds[i].name, cmds[i].args);
        add_item(h, keep(h, &b), cmds[i].help, width);
    }
}

/* How to chat with a real model: the first thing a new user needs. */
static void add_models(help_text *h, const help_screen *hs, int width) {
    const config *cfg = hs->cfg;
    add_item(h, NULL, "Models", width);
    if (hs->demo)
        add_item(h, "demo model",
                 "what you are using now: a tiny model with random weights, made so that the "
                 "interface can be tried. Its replies are gibberish. Add a real GGUF model:",
                 width);
    add_item(h, "F2, Download a model",
             "a GGUF model from Hugging Face: a short list of good instruct models, or any "
             "ORG/NAME[:QUANT]; it downloads while you chat and loads when done",
             width);
    add_item(h, "lmterm pull REPO",
             "the same from the shell (REPO[:QUANT] or REPO FILE), resumable; lmterm ls lists "
             "every model found, ollama's and the Hugging Face cache's too",
             width);
    add_item(h, "-m FILE.gguf",
             "start lmterm with a GGUF model: Phi-3 or Llama-3, as F32, F16, BF16, Q8_0, Q4_0 ... "
             "or the K-quants (Q4_K_M ...) of the usual downloads",
             width);
    lm_buf b = {0};
    lm_buf_printf(&b,
                  "list it in %s under models: (- name: phi3, path: ~/models/phi3.gguf), or put "
                  "it in a folder named under model_dirs: (",
                  cfg && cfg->user_file ? cfg->user_file : "$XDG_CONFIG_HOME/lmterm/config.yaml");
    for (size_t i = 0; cfg && i < cfg->n_model_dirs; i++)
        lm_buf_printf(&b, "%s%s", i ? ", " : "", cfg->model_dirs[i]);
    lm_buf_puts(&b, "); the model menu then offers it, and default_model: opens it at start");
    add_item(h, "config file", keep(h, &b), width);
    add_item(h, "--precision P",
             "native, fp32, fp16, int8 or int4 at start (the precision menu "
             "switches later)",
             width);
}

static void add_footer(help_text *h, const help_screen *hs, int width) {
    const config *cfg = hs->cfg;
    add_item(h, NULL, "Themes and files", width);
    lm_buf b = {0};
    lm_buf_printf(&b,
                  "/theme NAME, or the settings; your own as $XDG_CONFIG_HOME/lmterm/themes/"
                  "NAME.yaml (copy one of %s/themes)",
                  cfg && cfg->data_dir ? cfg->data_dir : "the installed themes");
    add_item(h, "themes", keep(h, &b), width);
    lm_buf_printf(&b,
                  "history in $XDG_STATE_HOME/lmterm/history; conversations in %s, saved "
                  "after every reply%s",
                  cfg && cfg->transcripts_dir ? cfg->transcripts_dir
                                              : "$XDG_DATA_HOME/lmterm/transcripts",
                  cfg && !cfg->autosave ? " when autosave is on (it is off)" : "");
    add_item(h, "files", keep(h, &b), width);
}

static void build(help_text *h, const help_screen *hs, int width) {
    add_items(h, keys_before, sizeof keys_before / sizeof *keys_before, width);
    if (hs->cfg) add_bound_keys(h, hs->cfg, width);
    add_items(h, keys_after, sizeof keys_after / sizeof *keys_after, width);
    add_commands(h, width);
    add_models(h, hs, width);
    add_footer(h, hs, width);
}

/* ---- keys ---- */

bool help_key(help_screen *h, const tui_key *k) {
    switch (k->kind) {
    case TK_ESC:
    case TK_CTRL_C:
        return h->open = false;
    case TK_FN: /* the help key closes it too */
        if (h->cfg ? config_action_for_key(h->cfg, CONFIG_KEY_F(k->n)) == CONFIG_ACTION_HELP
                   : k->n == 1)
            return h->open = false;
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
    build(&text, h, width - 4);
    if (height > text.n + 2) height = text.n + 2;
    h->page = height - 3 > 1 ? height - 3 : 1;
    h->max_top = text.n - (height - 2) > 0 ? text.n - (height - 2) : 0;
    if (h->top > h->max_top) h->top = h->max_top;
    WINDOW *w = newwin(height, width, (rows - height) / 2, (cols - width) / 2);
    if (!w) {
        free_text(&text);
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
    free_text(&text);
}

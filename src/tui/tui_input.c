/* input: the box where the user types, edited by GNU readline.
 *
 * Readline runs through its callback interface and never touches the
 * terminal: it reads the bytes we hand it (rl_getc_function), writes to
 * /dev/null, and its "redisplay" only marks the box for drawing. We draw
 * rl_line_buffer ourselves, wrapped over as many rows as it needs, which is
 * how a message can hold newlines (Alt-Enter, Ctrl-J, a paste). */
#include "tui_internal.h"

#include <readline/history.h>
#include <readline/readline.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
    input_line_fn on_line;
    void *ctx;
    const char *feed; /* bytes readline has still to read */
    size_t n_feed;
    bool feeding;
    int last_byte;
    char *pending; /* text for the box once readline has finished a line */
    bool dirty;
    char hint[512];
    FILE *devnull;
    int top;                         /* first row shown when the text is taller than the box */
    char help_key[16], stop_key[16]; /* as the key reminder names them */
} in = {.help_key = "F1", .stop_key = "Esc"};

/* ---- readline's hooks ---- */

static int getc_hook(FILE *f) {
    (void)f;
    if (!in.n_feed) return EOF; /* never asked for: readline reads only what is available */
    in.n_feed--;
    in.last_byte = (unsigned char)*in.feed;
    return (unsigned char)*in.feed++;
}

static int available_hook(void) {
    return in.n_feed > 0;
}

static void redisplay_hook(void) {
    in.dirty = true;
}

static void line_hook(char *line) {
    if (!line && in.last_byte != 4) return; /* not Ctrl-D: ignore */
    in.on_line(in.ctx, line);
}

static int insert_newline(int count, int key) {
    (void)key;
    for (int i = 0; i < (count > 0 ? count : 1); i++) rl_insert_text("\n");
    return 0;
}

/* ---- completion: slash commands, their arguments, file names ---- */

static struct {
    char **words; /* what the argument being completed can be */
    size_t n;
    char *data_dir; /* where the installed themes are */
} comp;

static char *command_generator(const char *text, int state) {
    static size_t next, len;
    size_t n;
    const session_command *cmds = session_commands(&n);
    if (!state) {
        next = 0;
        len = strlen(text);
    }
    while (next < n) {
        const char *name = cmds[next++].name;
        if (strncmp(name, text, len) == 0) return strdup(name);
    }
    return NULL;
}

static char *word_generator(const char *text, int state) {
    static size_t next, len;
    if (!state) {
        next = 0;
        len = strlen(text);
    }
    while (next < comp.n) {
        const char *w = comp.words[next++];
        if (strncmp(w, text, len) == 0) return strdup(w);
    }
    return NULL;
}

static void clear_words(void) {
    for (size_t i = 0; i < comp.n; i++) free(comp.words[i]);
    free(comp.words);
    comp.words = NULL;
    comp.n = 0;
}

static void add_word(const char *w) {
    comp.words = lm_xrealloc(comp.words, (comp.n + 1) * sizeof *comp.words);
    comp.words[comp.n++] = lm_xstrdup(w);
}

/* The words the first argument of a command can be; false: file names. */
static bool argument_words(const char *command, size_t len) {
    static const char *const precisions[] = {"native", "fp32", "fp16", "int8", "int4"};
    clear_words();
    if (len == 6 && strncmp(command, "/theme", 6) == 0) {
        char **names;
        size_t n = theme_list(comp.data_dir, &names);
        for (size_t i = 0; i < n; i++) add_word(names[i]);
        theme_list_free(names, n);
    } else if (len == 10 && strncmp(command, "/precision", 10) == 0) {
        for (size_t i = 0; i < sizeof precisions / sizeof *precisions; i++) add_word(precisions[i]);
    } else if (len == 4 && strncmp(command, "/set", 4) == 0) {
        for (int i = 0; i < SESSION_N_SETTINGS; i++) add_word(session_setting_name(i));
    } else {
        return false;
    }
    return true;
}

static char **complete(const char *text, int start, int end) {
    (void)end;
    rl_attempted_completion_over = 1;
    if (start == 0 && text[0] == '/') return rl_completion_matches(text, command_generator);
    const char *line = rl_line_buffer;
    size_t cmd_len = strcspn(line, " ");
    if (line[0] != '/' || (size_t)start <= cmd_len) return NULL;
    bool first_arg = strspn(line + cmd_len, " ") + cmd_len == (size_t)start;
    if (first_arg && argument_words(line, cmd_len))
        return rl_completion_matches(text, word_generator);
    static const char *const with_files[] = {"/load", "/save", "/model"};
    for (size_t i = 0; i < sizeof with_files / sizeof *with_files; i++)
        if (cmd_len == strlen(with_files[i]) && strncmp(line, with_files[i], cmd_len) == 0)
            return rl_completion_matches(text, rl_filename_completion_function);
    return NULL;
}

void input_set_keys(const char *help, const char *stop) {
    snprintf(in.help_key, sizeof in.help_key, "%s", help && *help ? help : "F1");
    snprintf(in.stop_key, sizeof in.stop_key, "%s", stop && *stop ? stop : "Esc");
}

void input_set_data_dir(const char *dir) {
    free(comp.data_dir);
    comp.data_dir = dir ? lm_xstrdup(dir) : NULL;
}

/* Readline would print the list under the prompt; it goes into the hint. */
static void show_matches(char **matches, int n, int max_len) {
    (void)max_len;
    size_t used = (size_t)snprintf(in.hint, sizeof in.hint, "Tab:");
    for (int i = 1; i <= n && used < sizeof in.hint; i++)
        used += (size_t)snprintf(in.hint + used, sizeof in.hint - used, " %s", matches[i]);
    in.dirty = true;
}

/* ---- life ---- */

void input_init(input_line_fn fn, void *ctx) {
    in.on_line = fn;
    in.ctx = ctx;
    in.devnull = fopen("/dev/null", "w");
    rl_readline_name = "lmterm";
    rl_instream = stdin;
    rl_outstream = in.devnull ? in.devnull : stderr;
    rl_catch_signals = 0;
    rl_catch_sigwinch = 0;
    rl_change_environment = 0;
    rl_prep_term_function = NULL;
    rl_deprep_term_function = NULL;
    rl_getc_function = getc_hook;
    rl_input_available_hook = available_hook;
    rl_redisplay_function = redisplay_hook;
    rl_attempted_completion_function = complete;
    rl_completion_display_matches_hook = show_matches;
    rl_initialize(); /* reads ~/.inputrc; our settings come after it */
    rl_variable_bind("bell-style", "none");
    rl_variable_bind("enable-bracketed-paste", "off");
    rl_variable_bind("show-all-if-ambiguous", "on");
    rl_variable_bind("horizontal-scroll-mode", "off");
    rl_bind_key('\n', insert_newline);
    rl_bind_keyseq("\\e\\r", insert_newline);
    rl_bind_keyseq("\\e\\n", insert_newline);
    rl_callback_handler_install("", line_hook);
    in.dirty = true;
}

void input_end(void) {
    rl_callback_handler_remove();
    clear_words();
    input_set_data_dir(NULL);
    free(in.pending);
    in.pending = NULL;
    if (in.devnull) fclose(in.devnull);
    in.devnull = NULL;
    rl_outstream = stdout;
}

/* ---- editing ---- */

static void replace_text(const char *text) {
    rl_replace_line(text, 0);
    rl_point = rl_end;
    rl_mark = 0;
    in.dirty = true;
}

void input_feed(const char *bytes, size_t n) {
    in.feed = bytes;
    in.n_feed = n;
    in.feeding = true;
    for (size_t guard = 0; in.n_feed > 0 && guard < 4 * n + 16; guard++) rl_callback_read_char();
    in.n_feed = 0;
    in.feeding = false;
    if (in.pending) {
        replace_text(in.pending);
        free(in.pending);
        in.pending = NULL;
    }
    in.dirty = true;
}

void input_insert(const char *text) {
    rl_insert_text(text);
    in.dirty = true;
}

/* Inside a line handler readline clears the line afterwards: wait for it. */
void input_set(const char *text) {
    if (in.feeding) {
        free(in.pending);
        in.pending = lm_xstrdup(text);
    } else {
        replace_text(text);
    }
}

void input_clear(void) {
    rl_callback_sigcleanup(); /* leaves a history search, a half-typed key sequence */
    replace_text("");
}

bool input_empty(void) {
    return rl_end == 0;
}

bool input_cancel(void) {
    if (!RL_ISSTATE(RL_STATE_ISEARCH | RL_STATE_NSEARCH)) return false;
    input_feed("\a", 1); /* Ctrl-G ends a history search */
    return true;
}

void input_hint(const char *text) {
    snprintf(in.hint, sizeof in.hint, "%s", text ? text : "");
    in.dirty = true;
}

bool input_dirty(void) {
    return in.dirty;
}

/* ---- layout: rows of the prompt and text, and where the cursor is ---- */

typedef struct box_layout {
    lm_buf text; /* the prompt (while searching) and the line */
    size_t cursor;
    size_t *off, *len; /* rows */
    int n_rows, cap;
    int cur_row, cur_col;
} box_layout;

static void add_row(void *ctx, size_t off, size_t len) {
    box_layout *b = ctx;
    if (b->n_rows == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 16;
        b->off = lm_xrealloc(b->off, (size_t)b->cap * sizeof *b->off);
        b->len = lm_xrealloc(b->len, (size_t)b->cap * sizeof *b->len);
    }
    b->off[b->n_rows] = off;
    b->len[b->n_rows++] = len;
}

typedef struct para_ctx {
    box_layout *b;
    size_t base;
} para_ctx;

static void add_para_row(void *ctx, size_t off, size_t len) {
    para_ctx *p = ctx;
    add_row(p->b, p->base + off, len);
}

static void find_cursor(box_layout *b, int width) {
    b->cur_row = b->n_rows - 1;
    for (int r = 0; r < b->n_rows; r++) {
        bool wrapped = r + 1 < b->n_rows && b->off[r + 1] == b->off[r] + b->len[r];
        size_t end = b->off[r] + b->len[r];
        if (b->cursor < end || (b->cursor == end && !wrapped)) {
            b->cur_row = r;
            break;
        }
    }
    size_t o = b->off[b->cur_row];
    b->cur_col = text_width(b->text.data + o, b->cursor - o);
    if (b->cur_col >= width) { /* just after a full row: the cursor starts the next */
        add_row(b, b->cursor, 0);
        b->cur_row = b->n_rows - 1;
        b->cur_col = 0;
    }
}

static void layout_box(box_layout *b, int width) {
    memset(b, 0, sizeof *b);
    const char *prompt = rl_display_prompt ? rl_display_prompt : "";
    lm_buf_puts(&b->text, prompt);
    lm_buf_append(&b->text, rl_line_buffer ? rl_line_buffer : "", (size_t)rl_end);
    lm_buf_cstr(&b->text);
    b->cursor = strlen(prompt) + (size_t)(rl_point < rl_end ? rl_point : rl_end);
    for (size_t start = 0;;) {
        const char *nl = memchr(b->text.data + start, '\n', b->text.len - start);
        size_t end = nl ? (size_t)(nl - b->text.data) : b->text.len;
        para_ctx p = {b, start};
        text_wrap(b->text.data + start, end - start, width, false, add_para_row, &p);
        if (!nl) break;
        start = end + 1;
    }
    find_cursor(b, width);
}

static void free_layout(box_layout *b) {
    lm_buf_free(&b->text);
    free(b->off);
    free(b->len);
}

static int text_columns(int width) {
    int w = width - text_width(glyphs.prompt, strlen(glyphs.prompt));
    return w > 1 ? w : 1;
}

int input_rows(int width, int max_rows) {
    box_layout b;
    layout_box(&b, text_columns(width));
    int rows = b.n_rows;
    free_layout(&b);
    if (rows > max_rows - 1) rows = max_rows - 1;
    return 1 + (rows > 0 ? rows : 1);
}

/* ---- drawing ---- */

static void draw_separator(WINDOW *w, bool busy, int cols) {
    wmove(w, 0, 0);
    style_set(w, in.hint[0] ? STYLE_HINT : STYLE_SEPARATOR);
    char keys[96];
    if (busy)
        snprintf(keys, sizeof keys, "%s stop · %s help", in.stop_key, in.help_key);
    else if (cols < 50)
        snprintf(keys, sizeof keys, "Enter send · %s help", in.help_key);
    else
        snprintf(keys, sizeof keys, "Enter send · Alt-Enter new line · %s help", in.help_key);
    const char *text = in.hint[0] ? in.hint : keys;
    int used = tui_puts(w, glyphs.hline, cols);
    used += tui_puts(w, glyphs.hline, cols - used);
    used += tui_puts(w, " ", cols - used);
    used += tui_puts(w, text, cols - used - 1);
    used += tui_puts(w, " ", cols - used);
    style_set(w, STYLE_SEPARATOR);
    while (used < cols && tui_puts(w, glyphs.hline, cols - used) > 0) used++;
}

void input_draw(WINDOW *w, bool busy) {
    int rows, cols;
    getmaxyx(w, rows, cols);
    werase(w);
    draw_separator(w, busy, cols);
    int width = text_columns(cols), gutter = cols - width, shown = rows - 1;
    box_layout b;
    layout_box(&b, width);
    if (b.cur_row < in.top) in.top = b.cur_row;
    if (b.cur_row >= in.top + shown) in.top = b.cur_row - shown + 1;
    if (in.top > b.n_rows - shown) in.top = b.n_rows - shown > 0 ? b.n_rows - shown : 0;
    for (int r = 0; r < shown && in.top + r < b.n_rows; r++) {
        int row = in.top + r;
        wmove(w, 1 + r, 0);
        style_set(w, STYLE_INPUT);
        tui_fill_line(w);
        wmove(w, 1 + r, 0);
        tui_puts(w, row == 0 ? glyphs.prompt : in.top > 0 && r == 0 ? glyphs.ellipsis : "", gutter);
        wmove(w, 1 + r, gutter);
        tui_put(w, b.text.data + b.off[row], b.len[row], width);
    }
    if (b.text.len == 0) {
        style_set(w, STYLE_INPUT);
        wattr_on(w, A_DIM, NULL);
        wmove(w, 1, gutter);
        tui_puts(w, "Type a message, / for commands", width);
    }
    style_set(w, STYLE_INPUT);
    wmove(w, 1 + b.cur_row - in.top, gutter + b.cur_col);
    free_layout(&b);
    in.dirty = false;
}

/* tui: the full-screen chat. The terminal, the signals, the layout and the
 * one loop that polls the keyboard, the engine's wake-up fd and a self-pipe
 * for signals. Nothing here waits on inference.
 *
 *   +------------------------------------------------+
 *   | title: model, arch, precision, context         |
 *   | conversation pane                              |
 *   | -- hint or key reminder ---------------------- |
 *   | > input box (grows to a limit)                 |
 *   | status: state, tok/s, memory                   |
 *   +------------------------------------------------+
 *
 * The terminal is restored on every way out: a normal quit, an error
 * (atexit), SIGTERM/SIGHUP/SIGINT (through the loop), a crash signal (the
 * handler writes the saved sequences itself), and Ctrl-Z hands it back to
 * the shell until fg. */
#include "tui_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <term.h>
#include <termios.h>
#include <unistd.h>

#define FRAME_SECONDS (1.0 / 30) /* streaming text is drawn at most this often */
#define MAX_INPUT_ROWS 10
#define MIN_ROWS 6
#define MIN_COLS 20

/* Mouse wheel (button presses, SGR coordinates) and bracketed paste. */
static const char modes_on[] = "\033[?1000h\033[?1006h\033[?2004h";
static const char modes_off[] = "\033[?2004l\033[?1006l\033[?1000l";

/* ---- the terminal, as signal handlers must see it ---- */

static struct {
    volatile sig_atomic_t active; /* curses owns the screen */
    SCREEN *screen;
    struct termios saved; /* the shell's terminal modes */
    char restore[256];    /* bytes that give the shell its screen back */
    size_t restore_len;
    int pipe[2]; /* signal number bytes for the loop */
    volatile sig_atomic_t quitting;
} term = {.pipe = {-1, -1}};

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
static struct sigaction old_fatal[sizeof fatal_signals / sizeof *fatal_signals];

static void write_all(int fd, const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w <= 0 && errno != EINTR) return;
        if (w > 0) s += w, n -= (size_t)w;
    }
}

/* Async-signal-safe: a write and a tcsetattr. */
static void restore_now(void) {
    if (!term.active) return;
    term.active = 0;
    write_all(STDOUT_FILENO, term.restore, term.restore_len);
    tcsetattr(STDIN_FILENO, TCSANOW, &term.saved);
}

static void on_fatal(int sig) {
    restore_now();
    for (size_t i = 0; i < sizeof fatal_signals / sizeof *fatal_signals; i++)
        if (fatal_signals[i] == sig) sigaction(sig, &old_fatal[i], NULL);
    raise(sig); /* the previous handler (ASan's, the default) does the rest */
}

static void on_signal(int sig) {
    int saved = errno;
    if ((sig == SIGTERM || sig == SIGHUP) && term.quitting++) { /* asked twice: go now */
        restore_now();
        _exit(128 + sig);
    }
    unsigned char b = (unsigned char)sig;
    ssize_t w = write(term.pipe[1], &b, 1); /* a full pipe has the news already */
    (void)w;
    errno = saved;
}

static void catch_signal(int sig) {
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(sig, &sa, NULL);
}

static const int loop_signals[] = {SIGWINCH, SIGTERM, SIGHUP, SIGINT, SIGTSTP, SIGCONT, SIGQUIT};

static void catch_signals(void) {
    for (size_t i = 0; i < sizeof loop_signals / sizeof *loop_signals; i++)
        catch_signal(loop_signals[i]);
    struct sigaction sa = {0};
    sa.sa_handler = on_fatal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof fatal_signals / sizeof *fatal_signals; i++)
        sigaction(fatal_signals[i], &sa, &old_fatal[i]);
}

static void release_signals(void) {
    for (size_t i = 0; i < sizeof loop_signals / sizeof *loop_signals; i++)
        signal(loop_signals[i], SIG_DFL);
    for (size_t i = 0; i < sizeof fatal_signals / sizeof *fatal_signals; i++)
        sigaction(fatal_signals[i], &old_fatal[i], NULL);
}

static void add_restore(const char *cap) {
    const char *s = cap == NULL ? NULL : tigetstr((char *)cap);
    if (!s || s == (char *)-1) return;
    size_t n = strlen(s);
    if (term.restore_len + n < sizeof term.restore) {
        memcpy(term.restore + term.restore_len, s, n);
        term.restore_len += n;
    }
}

/* Raw input: every key reaches us, Ctrl-C, Ctrl-Z and Ctrl-S included, and
 * Enter stays \r so that it differs from Ctrl-J. */
static void raw_modes(void) {
    raw();
    noecho();
    nonl();
    struct termios t;
    if (tcgetattr(STDIN_FILENO, &t) == 0) {
        t.c_iflag &= ~(tcflag_t)(ICRNL | INLCR | IGNCR | IXON);
        tcsetattr(STDIN_FILENO, TCSANOW, &t);
    }
    def_prog_mode();
}

static void set_modes(bool on) {
    write_all(STDOUT_FILENO, on ? modes_on : modes_off, strlen(on ? modes_on : modes_off));
}

static int term_start(const theme *th, lm_error *err) {
    if (tcgetattr(STDIN_FILENO, &term.saved) != 0)
        return lm_fail(err, "cannot read the terminal's modes: %s", strerror(errno));
    term.screen = newterm(NULL, stdout, stdin);
    if (!term.screen) return lm_fail(err, "cannot start the terminal (TERM=%s)", getenv("TERM"));
    memcpy(term.restore, modes_off, sizeof modes_off - 1);
    term.restore_len = sizeof modes_off - 1;
    add_restore("sgr0");
    add_restore("cnorm");
    add_restore("rmcup");
    typeahead(-1); /* curses must not read the keyboard: we do */
    meta(stdscr, TRUE);
    intrflush(stdscr, FALSE);
    raw_modes();
    style_init(th);
    glyphs_init();
    term.active = 1;
    set_modes(true);
    return 0;
}

static void term_stop(void) {
    if (!term.active) return;
    set_modes(false);
    endwin();
    term.active = 0;
    delscreen(term.screen);
    term.screen = NULL;
    tcsetattr(STDIN_FILENO, TCSANOW, &term.saved);
}

static void term_atexit(void) {
    term_stop();
}

/* ---- the chat ---- */

typedef struct tui {
    session *s;
    config *cfg; /* key bindings, the theme, data_dir */
    theme th;
    view *v;
    key_decoder keys;
    help_screen help;
    dialog dlg;
    bool was_loading; /* the loading box was up at the last drawing */
    WINDOW *title, *pane, *input, *status;
    int rows, cols, input_h;
    bool too_small;
    bool need_draw, urgent, redraw_all, bars_dirty;
    double last_draw;
    double measure_drawn; /* when F3 last showed a measurement's progress */
    bool measuring;
    bool quit;
    int exit_status;
} tui;

/* ---- layout ---- */

static void free_windows(tui *t) {
    WINDOW **ws[] = {&t->title, &t->pane, &t->input, &t->status};
    for (size_t i = 0; i < sizeof ws / sizeof *ws; i++) {
        if (*ws[i]) delwin(*ws[i]);
        *ws[i] = NULL;
    }
}

static int max_input_rows(int rows) {
    int m = rows / 3;
    if (m > MAX_INPUT_ROWS + 1) m = MAX_INPUT_ROWS + 1;
    return m < 2 ? 2 : m;
}

static void layout(tui *t) {
    free_windows(t);
    getmaxyx(stdscr, t->rows, t->cols);
    t->too_small = t->rows < MIN_ROWS || t->cols < MIN_COLS;
    t->redraw_all = t->need_draw = true;
    if (t->too_small) return;
    t->input_h = input_rows(t->cols, max_input_rows(t->rows));
    int pane_h = t->rows - 2 - t->input_h;
    t->title = newwin(1, t->cols, 0, 0);
    t->pane = newwin(pane_h, t->cols, 1, 0);
    t->input = newwin(t->input_h, t->cols, 1 + pane_h, 0);
    t->status = newwin(1, t->cols, t->rows - 1, 0);
    if (!t->title || !t->pane || !t->input || !t->status) t->too_small = true;
}

static void resize(tui *t) {
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
        resizeterm(ws.ws_row, ws.ws_col);
    clearok(curscr, TRUE);
    layout(t);
}

/* ---- drawing ---- */

static void draw_too_small(tui *t) {
    werase(stdscr);
    wmove(stdscr, 0, 0);
    tui_puts(stdscr, "The terminal is too small for lmterm.", t->cols);
    wnoutrefresh(stdscr);
    doupdate();
}

/* The loading box comes and goes with the state: what it covered is drawn
 * again when it goes. */
static void track_loading(tui *t, const session_status *st) {
    bool loading = st->state == SESSION_LOADING && st->load_name;
    if (loading != t->was_loading) t->redraw_all = true;
    t->was_loading = loading;
}

/* Over the chat, in this order: the loading box, a dialog, the help. */
static void draw_overlays(tui *t, const session_status *st) {
    progress_draw(st, t->rows, t->cols);
    dialog_draw(&t->dlg, t->rows, t->cols);
    if (t->help.open) help_draw(&t->help, t->rows, t->cols);
    bool modal = t->help.open || t->dlg.kind != DIALOG_NONE;
    if (!modal) wnoutrefresh(t->input); /* copies nothing new: puts the cursor back there */
    curs_set(modal ? 0 : 1);
}

static void draw(tui *t) {
    session_status st;
    session_get_status(t->s, &st);
    track_loading(t, &st);
    if (t->redraw_all) clearok(curscr, TRUE);
    if (!t->too_small && input_rows(t->cols, max_input_rows(t->rows)) != t->input_h) layout(t);
    if (t->too_small) {
        draw_too_small(t);
        t->redraw_all = false;
        return;
    }
    if (t->redraw_all) { /* after a new theme too */
        style_background(t->pane, STYLE_NORMAL);
        style_background(t->input, STYLE_INPUT);
    }
    bool bars = t->bars_dirty || t->redraw_all;
    if (bars) {
        bars_draw_title(t->title, &st);
        bars_draw_status(t->status, &st);
        wnoutrefresh(t->title);
        wnoutrefresh(t->status);
    }
    if (view_dirty(t->v) || t->redraw_all) {
        view_draw(t->v, t->pane);
        wnoutrefresh(t->pane);
    }
    if (input_dirty() || bars) input_draw(t->input, st.state >= SESSION_READING_PROMPT);
    wnoutrefresh(t->input); /* the cursor stays in the input box */
    draw_overlays(t, &st);
    doupdate();
    t->bars_dirty = t->redraw_all = false;
}

/* Draws now after a key, or at the next frame while text streams in.
 * Returns the milliseconds until that frame, -1 when nothing waits. */
static int draw_when_due(tui *t) {
    if (!t->need_draw) return -1;
    double now = lm_now(), due = t->last_draw + FRAME_SECONDS;
    if (!t->urgent && now < due) return (int)((due - now) * 1000) + 1;
    draw(t);
    t->last_draw = now;
    t->need_draw = t->urgent = false;
    return -1;
}

static void touch_all(tui *t) {
    t->redraw_all = t->need_draw = t->urgent = true;
}

/* ---- what the session tells us ---- */

static void on_notice(void *ctx, enum session_notice kind, const char *text) {
    tui *t = ctx;
    enum entry_kind k = kind == NOTICE_ERROR     ? ENTRY_ERROR
                        : kind == NOTICE_WARNING ? ENTRY_WARNING
                                                 : ENTRY_NOTICE;
    view_add(t->v, k, text);
    t->need_draw = true;
}

static void on_user_message(void *ctx, const char *text) {
    tui *t = ctx;
    view_add(t->v, ENTRY_USER, text);
    t->need_draw = true;
}

static void on_reply_begin(void *ctx) {
    tui *t = ctx;
    view_add(t->v, ENTRY_ASSISTANT, "");
    view_set_note(t->v, "reading the prompt");
    t->need_draw = true;
}

static void on_reply_text(void *ctx, const char *text, size_t len) {
    tui *t = ctx;
    view_append(t->v, text, len);
    view_set_note(t->v, "writing");
    t->need_draw = true;
}

static void reply_note(char *buf, size_t size, int n_tokens, double tps, const char *how) {
    snprintf(buf, size, "%d token%s, %.1f tok/s%s%s", n_tokens, n_tokens == 1 ? "" : "s", tps,
             how ? ", " : "", how ? how : "");
}

static void on_reply_end(void *ctx, const session_reply *r) {
    tui *t = ctx;
    char note[128];
    const char *how = r->reason == BACKEND_STOP_USER           ? "stopped"
                      : r->reason == BACKEND_STOP_CONTEXT_FULL ? "context full"
                      : r->reason == BACKEND_STOP_ERROR        ? "failed"
                                                               : NULL;
    reply_note(note, sizeof note, r->n_tokens, r->gen_tps, how);
    view_set_note(t->v, note);
    t->need_draw = t->bars_dirty = true;
}

/* The conversation again from the chat: after /clear, /load, /regen, /edit. */
static void on_conversation_reset(void *ctx) {
    tui *t = ctx;
    const chat *c = session_get_chat(t->s);
    view_clear(t->v);
    if (c->system_prompt && c->system_prompt[0]) view_add(t->v, ENTRY_SYSTEM, c->system_prompt);
    for (size_t i = 0; i < c->n; i++) {
        const chat_message *m = &c->msgs[i];
        if (m->role == CHAT_ROLE_SYSTEM) continue;
        view_add(t->v, m->role == CHAT_ROLE_USER ? ENTRY_USER : ENTRY_ASSISTANT, m->content);
        if (m->role == CHAT_ROLE_ASSISTANT && m->n_tokens > 0) {
            char note[128];
            reply_note(note, sizeof note, m->n_tokens, m->gen_tps, NULL);
            view_set_note(t->v, note);
        }
    }
    t->need_draw = true;
}

static void on_status_changed(void *ctx) {
    tui *t = ctx;
    t->bars_dirty = t->need_draw = true;
}

/* ---- what the user does ---- */

/* ---- themes and dialogs ---- */

static int apply_theme(tui *t, const char *name, lm_error *err) {
    theme th;
    if (theme_load(&th, name, t->cfg->data_dir, NULL, err) != 0) return -1;
    t->th = th;
    style_init(&t->th);
    touch_all(t);
    return 0;
}

static int host_set_theme(void *ctx, const char *name, lm_error *err) {
    return apply_theme(ctx, name, err);
}

static const char *host_theme_name(void *ctx) {
    tui *t = ctx;
    return t->th.name;
}

static void host_edit_input(void *ctx, const char *text) {
    (void)ctx;
    input_set(text);
    input_hint("Edit the system prompt, then Enter (Alt-Enter: a new line)");
}

static void open_dialog(tui *t, enum dialog_kind kind) {
    dialog_host h = {.s = t->s,
                     .ctx = t,
                     .set_theme = host_set_theme,
                     .theme_name = host_theme_name,
                     .edit_input = host_edit_input};
    t->help.open = false;
    dialog_open(&t->dlg, kind, &h);
    touch_all(t);
}

static void open_help(tui *t) {
    session_status st;
    session_get_status(t->s, &st);
    dialog_close(&t->dlg);
    t->help = (help_screen){.open = true, .cfg = t->cfg, .demo = st.demo};
}

/* /theme NAME */
static void theme_command(tui *t, const char *name) {
    lm_error err;
    if (apply_theme(t, name, &err) == 0) {
        char text[256];
        snprintf(text, sizeof text,
                 "Theme %s, for this session (theme: %s in the config file keeps it).", t->th.name,
                 t->th.name);
        view_add(t->v, ENTRY_NOTICE, text);
    } else {
        view_add(t->v, ENTRY_ERROR, err.msg);
    }
}

static void submit(tui *t, const char *line) {
    char *text = NULL;
    switch (session_submit(t->s, line, &text)) {
    case SESSION_QUIT:
        t->quit = true;
        break;
    case SESSION_HELP:
        open_help(t);
        break;
    case SESSION_EDIT:
        input_set(text);
        break;
    case SESSION_MODEL_MENU:
        open_dialog(t, DIALOG_MODELS);
        break;
    case SESSION_PRECISION_MENU:
        open_dialog(t, DIALOG_PRECISION);
        break;
    case SESSION_CONVERSATIONS:
        open_dialog(t, DIALOG_CONVERSATIONS);
        break;
    case SESSION_THEME:
        if (text)
            theme_command(t, text);
        else
            open_dialog(t, DIALOG_THEMES);
        break;
    case SESSION_CONTINUE:
        break;
    }
    free(text);
}

static bool replying(tui *t) {
    session_status st;
    session_get_status(t->s, &st);
    return st.state >= SESSION_READING_PROMPT;
}

static void on_line(void *ctx, char *line) {
    tui *t = ctx;
    if (!line) { /* Ctrl-D on an empty input */
        t->quit = true;
        return;
    }
    if (strcmp(line, "/quit") != 0) history_add(line);
    if (line[0] != '/' && replying(t)) { /* kept for when the reply is done */
        input_set(line);
        input_hint("A reply is being written: Esc stops it, then Enter sends this");
    } else {
        view_bottom(t->v);
        submit(t, line);
    }
    free(line);
}

/* A paste arrives whole: its lines stay lines of one message. */
static void paste(const tui_key *k) {
    char *text = lm_xstrndup(k->data, k->len);
    size_t o = 0;
    for (size_t i = 0; i < k->len; i++) {
        if (text[i] == '\r' && i + 1 < k->len && text[i + 1] == '\n') continue;
        char c = text[i] == '\r' ? '\n' : text[i];
        if ((unsigned char)c < 0x20 && c != '\n' && c != '\t') continue;
        text[o++] = c;
    }
    text[o] = 0;
    input_insert(text);
    free(text);
}

/* Empties the input, or says how to quit. */
static void ctrl_c(void) {
    bool was_empty = input_empty();
    input_clear();
    if (was_empty) input_hint("Ctrl-D or /quit quits lmterm (Ctrl-C stops a reply)");
}

static void suspend(tui *t) {
    set_modes(false);
    endwin();
    signal(SIGTSTP, SIG_DFL);
    raise(SIGTSTP); /* stops here until fg */
    catch_signal(SIGTSTP);
    raw_modes();
    set_modes(true);
    resize(t);
}

/* ---- keys ---- */

/* Control characters that stay the input box's whatever the config says:
 * Tab, Ctrl-J, Enter, Backspace, and the fixed Ctrl-D, Ctrl-L and Ctrl-Z. */
static bool bindable_control(unsigned char c) {
    return c > 0 && c < 0x20 && !strchr("\t\n\r\b\004\014\032\033", c);
}

/* The key as the config names keys (see config_action_for_key), or 0. */
static int config_key(const tui_key *k) {
    switch (k->kind) {
    case TK_ESC:
        return CONFIG_KEY_ESC;
    case TK_CTRL_C:
        return 'C' & 0x1f;
    case TK_CTRL_S:
        return 'S' & 0x1f;
    case TK_FN:
        return CONFIG_KEY_F(k->n);
    case TK_TEXT: {
        unsigned char c = k->len == 2 && k->data[0] == 0x1b ? (unsigned char)k->data[1] : 0;
        if (c > 0x20 && c < 0x7f) return CONFIG_KEY_ALT | tolower(c);
        if (k->len == 1 && bindable_control((unsigned char)k->data[0]))
            return (unsigned char)k->data[0];
        return 0;
    }
    default:
        return 0;
    }
}

static int bound_action(tui *t, const tui_key *k) {
    int key = config_key(k);
    return key ? config_action_for_key(t->cfg, key) : -1;
}

/* The stop key: stops a reply or cancels a load; else Ctrl-C empties the
 * input and Esc leaves a history search. */
static void stop_key(tui *t, const tui_key *k) {
    if (session_busy(t->s))
        session_stop(t->s);
    else if (k->kind == TK_CTRL_C)
        ctrl_c();
    else
        input_cancel();
}

static void run_action(tui *t, enum config_action a, const tui_key *k) {
    static const enum dialog_kind dialogs[CONFIG_N_ACTIONS] = {
        [CONFIG_ACTION_MODEL_MENU] = DIALOG_MODELS,
        [CONFIG_ACTION_PRECISION_MENU] = DIALOG_PRECISION,
        [CONFIG_ACTION_SYSTEM_PROMPT] = DIALOG_SYSTEM,
        [CONFIG_ACTION_SETTINGS] = DIALOG_SETTINGS,
        [CONFIG_ACTION_CONVERSATIONS] = DIALOG_CONVERSATIONS,
    };
    if (a == CONFIG_ACTION_STOP)
        stop_key(t, k);
    else if (a == CONFIG_ACTION_HELP)
        open_help(t);
    else if (a == CONFIG_ACTION_SAVE)
        submit(t, "/save");
    else if (a == CONFIG_ACTION_REGENERATE)
        submit(t, "/regen");
    else if (dialogs[a] != DIALOG_NONE)
        open_dialog(t, dialogs[a]);
}

/* Typed text goes to readline, less the control characters bound to an
 * action (Alt-x, a key of its own, is looked up by on_key). */
static void text_key(tui *t, const tui_key *k) {
    size_t start = 0;
    for (size_t i = 0; i < k->len; i++) {
        tui_key one = {.kind = TK_TEXT, .data = k->data + i, .len = 1};
        int a = bindable_control((unsigned char)k->data[i]) ? bound_action(t, &one) : -1;
        if (a < 0) continue;
        if (i > start) input_feed(k->data + start, i - start);
        run_action(t, (enum config_action)a, &one);
        start = i + 1;
    }
    if (k->len > start) input_feed(k->data + start, k->len - start);
}

static bool is_alt_key(const tui_key *k) {
    return k->kind == TK_TEXT && k->len == 2 && k->data[0] == 0x1b;
}

/* A key while a dialog is open: the key that opened it closes it, another
 * menu's key opens that one; the rest is the dialog's. */
static void dialog_key_pressed(tui *t, const tui_key *k) {
    static const int actions[] = {
        [DIALOG_NONE] = -1,
        [DIALOG_MODELS] = CONFIG_ACTION_MODEL_MENU,
        [DIALOG_PRECISION] = CONFIG_ACTION_PRECISION_MENU,
        [DIALOG_SYSTEM] = CONFIG_ACTION_SYSTEM_PROMPT,
        [DIALOG_SETTINGS] = CONFIG_ACTION_SETTINGS,
        [DIALOG_CONVERSATIONS] = CONFIG_ACTION_CONVERSATIONS,
        [DIALOG_THEMES] = -1,
        [DIALOG_DOWNLOAD] = CONFIG_ACTION_MODEL_MENU,
    };
    int a = k->kind == TK_FN ? bound_action(t, k) : -1;
    if (a >= 0 && a == actions[t->dlg.kind] && !t->dlg.m.editing)
        dialog_close(&t->dlg);
    else if (a >= 0) /* another menu, the help ... */
        run_action(t, (enum config_action)a, k);
    else if (k->kind == TK_TEXT && !is_alt_key(k)) /* byte by byte: Enter may start a field */
        for (size_t i = 0; i < k->len && t->dlg.kind != DIALOG_NONE; i++) {
            tui_key one = {.kind = TK_TEXT, .data = k->data + i, .len = 1};
            dialog_key(&t->dlg, &one);
        }
    else
        dialog_key(&t->dlg, k);
    touch_all(t);
}

/* Alt-W: the last reply onto the clipboard; Alt-K: the code block lowest
 * in the pane. */
static void copy_key(tui *t, bool code) {
    const char *text;
    size_t len;
    char why[256], note[320];
    if (code ? !view_code_in_pane(t->v, &text, &len) : !view_last_reply(t->v, &text, &len)) {
        view_add(t->v, ENTRY_NOTICE,
                 code ? "No code block in view to copy." : "No reply to copy yet.");
        return;
    }
    bool sure = copy_osc52(text, len, why, sizeof why);
    snprintf(note, sizeof note, "Copied %s (%zu bytes) to the clipboard.",
             code ? "the code block" : "the last reply", len);
    view_add(t->v, ENTRY_NOTICE, note);
    if (!sure) view_add(t->v, ENTRY_WARNING, why);
}

/* Keys that mean the same whatever is bound: scrolling, history, pastes. */
static void plain_key(tui *t, const tui_key *k) {
    switch (k->kind) {
    case TK_TEXT:
        if (is_alt_key(k) && (k->data[1] == 'w' || k->data[1] == 'k'))
            copy_key(t, k->data[1] == 'k');
        else
            text_key(t, k);
        break;
    case TK_PASTE:
        paste(k);
        break;
    case TK_ESC: /* not bound to stop */
        input_cancel();
        break;
    case TK_CTRL_C:
        ctrl_c();
        break;
    case TK_PGUP:
        view_page(t->v, 1);
        break;
    case TK_PGDN:
        view_page(t->v, -1);
        break;
    case TK_HOME:
        if (input_empty())
            view_top(t->v);
        else
            input_feed("\001", 1);
        break;
    case TK_END:
        if (input_empty())
            view_bottom(t->v);
        else
            input_feed("\005", 1);
        break;
    case TK_CTRL_HOME:
        view_top(t->v);
        break;
    case TK_CTRL_END:
        view_bottom(t->v);
        break;
    case TK_UP:
        input_feed("\033[A", 3);
        break;
    case TK_DOWN:
        input_feed("\033[B", 3);
        break;
    case TK_WHEEL_UP:
        view_scroll(t->v, 3);
        break;
    case TK_WHEEL_DOWN:
        view_scroll(t->v, -3);
        break;
    default: /* Ctrl-S and F-keys bound to nothing */
        break;
    }
}

static void on_key(void *ctx, const tui_key *k) {
    tui *t = ctx;
    t->need_draw = t->urgent = true;
    if (k->kind == TK_CTRL_L || k->kind == TK_CTRL_Z) { /* whatever is open */
        if (k->kind == TK_CTRL_L)
            touch_all(t);
        else
            suspend(t);
        return;
    }
    if (t->help.open) {
        if (!help_key(&t->help, k)) touch_all(t);
        return;
    }
    if (t->dlg.kind != DIALOG_NONE) {
        dialog_key_pressed(t, k);
        return;
    }
    input_hint(NULL);
    int a = k->kind != TK_TEXT || is_alt_key(k) ? bound_action(t, k) : -1;
    if (a >= 0)
        run_action(t, (enum config_action)a, k);
    else
        plain_key(t, k);
}

static void read_keys(tui *t) {
    unsigned char buf[4096];
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) { /* the terminal went away */
        t->quit = true;
        return;
    }
    if (n > 0) keys_feed(&t->keys, buf, (size_t)n, on_key, t);
}

static void handle_signals(tui *t) {
    unsigned char sigs[64];
    ssize_t n = read(term.pipe[0], sigs, sizeof sigs);
    for (ssize_t i = 0; i < n; i++) {
        int sig = sigs[i];
        if (sig == SIGWINCH)
            resize(t);
        else if (sig == SIGTSTP)
            suspend(t);
        else if (sig == SIGCONT) { /* continued by someone else: take the terminal again */
            raw_modes();
            set_modes(true);
            resize(t);
        } else if (sig == SIGTERM || sig == SIGHUP || sig == SIGINT || sig == SIGQUIT) {
            t->quit = true;
            t->exit_status = 128 + sig;
        }
    }
    t->need_draw = t->urgent = true;
}

static int min_timeout(int a, int b) {
    if (a < 0) return b;
    if (b < 0) return a;
    return a < b ? a : b;
}

static void loop(tui *t) {
    while (!t->quit) {
        /* F3's "Measure all" runs: its progress in the menu 4 times a second
         * (the box changes size: all of it), and once more when it ends */
        bool measuring = session_measure_progress(t->s, NULL, 0, NULL);
        if ((measuring || t->measuring) && t->dlg.kind == DIALOG_PRECISION &&
            (!measuring || lm_now() - t->measure_drawn > 0.25)) {
            t->measure_drawn = lm_now();
            dialog_refresh(&t->dlg);
            touch_all(t);
        }
        t->measuring = measuring;
        int timeout = draw_when_due(t);
        timeout = min_timeout(timeout, keys_timeout(&t->keys, lm_now()));
        if (measuring) timeout = min_timeout(timeout, 250);
        struct pollfd fds[4] = {{STDIN_FILENO, POLLIN, 0},
                                {session_fd(t->s), POLLIN, 0},
                                {term.pipe[0], POLLIN, 0},
                                {session_download_fd(t->s), POLLIN, 0}};
        if (poll(fds, 4, timeout) < 0 && errno != EINTR) break;
        if (fds[3].revents & POLLIN) {
            session_download_pump(t->s);
            dialog_refresh(&t->dlg);
            t->need_draw = true;
        }
        if (fds[2].revents & POLLIN) handle_signals(t);
        if (fds[1].revents & POLLIN) session_pump(t->s);
        if (fds[0].revents & POLLIN)
            read_keys(t);
        else if (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL))
            t->quit = true;
        keys_expire(&t->keys, lm_now(), on_key, t);
    }
}

/* ---- running ---- */

void tui_locale(void) {
    setlocale(LC_CTYPE, "");
    if (strcmp(nl_langinfo(CODESET), "UTF-8") != 0) {
        const char *cur = setlocale(LC_CTYPE, NULL);
        if (cur && (strcmp(cur, "C") == 0 || strcmp(cur, "POSIX") == 0))
            setlocale(LC_CTYPE, "C.UTF-8");
    }
}

const char *tui_unavailable(void) {
    const char *term_name = getenv("TERM");
    if (!term_name || !*term_name) return "TERM is not set";
    if (strcmp(term_name, "dumb") == 0) return "TERM=dumb cannot show the full-screen chat";
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) return "not a terminal";
    int errret = 0;
    if (setupterm(NULL, STDOUT_FILENO, &errret) != OK)
        return "the terminal type is unknown (TERM); no terminfo entry";
    del_curterm(cur_term);
    return NULL;
}

static const session_view tui_view_callbacks = {
    .notice = on_notice,
    .user_message = on_user_message,
    .reply_begin = on_reply_begin,
    .reply_text = on_reply_text,
    .reply_end = on_reply_end,
    .conversation_reset = on_conversation_reset,
    .status_changed = on_status_changed,
};

static int open_pipe(lm_error *err) {
    if (term.pipe[0] >= 0) return 0;
    if (pipe2(term.pipe, O_NONBLOCK | O_CLOEXEC) != 0)
        return lm_fail(err, "cannot create a pipe: %s", strerror(errno));
    return 0;
}

/* The theme the config names; a bad one is told in the pane once it is up. */
static void load_theme(tui *t, lm_error *theme_err) {
    theme_err->msg[0] = 0;
    if (theme_load(&t->th, t->cfg->theme ? t->cfg->theme : "default", t->cfg->data_dir, NULL,
                   theme_err) != 0)
        snprintf(t->th.name, sizeof t->th.name, "default");
}

static void welcome(tui *t, const lm_error *theme_err) {
    on_conversation_reset(t);
    view_add(t->v, ENTRY_NOTICE,
             "Welcome to lmterm. Type a message and press Enter; F1 lists "
             "every key and command.");
    if (theme_err->msg[0]) {
        char text[600];
        snprintf(text, sizeof text, "%s; the default theme is used.", theme_err->msg);
        view_add(t->v, ENTRY_WARNING, text);
    }
}

int tui_run(const session_options *o, lm_error *err) {
    tui t = {0};
    tui_locale();
    session_view cb = tui_view_callbacks;
    cb.ctx = &t;
    if (open_pipe(err)) return 1;
    if (!(t.s = session_create(o, &cb, err))) return 1;
    t.cfg = session_config(t.s);
    lm_error theme_err;
    load_theme(&t, &theme_err);
    history_open();
    catch_signals();
    static bool registered;
    if (!registered && atexit(term_atexit) == 0) registered = true;
    if (term_start(&t.th, err)) {
        release_signals();
        session_free(t.s);
        return 1;
    }
    t.v = view_create();
    input_init(on_line, &t);
    input_set_data_dir(t.cfg->data_dir);
    char help[16], stop[16];
    input_set_keys(t.cfg->keys[CONFIG_ACTION_HELP][0]
                       ? config_key_name(t.cfg->keys[CONFIG_ACTION_HELP][0], help)
                       : "/help",
                   t.cfg->keys[CONFIG_ACTION_STOP][0]
                       ? config_key_name(t.cfg->keys[CONFIG_ACTION_STOP][0], stop)
                       : "Ctrl-C");
    layout(&t);
    welcome(&t, &theme_err);
    loop(&t);
    if (t.exit_status) session_autosave(t.s); /* SIGTERM, SIGHUP: keep what was said */
    dialog_close(&t.dlg);
    input_end();
    free_windows(&t);
    term_stop();
    release_signals();
    view_free(t.v);
    keys_free(&t.keys);
    session_free(t.s);
    return t.exit_status;
}

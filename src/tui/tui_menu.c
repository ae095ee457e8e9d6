/* menu: a framed list box over the chat, the one shape every menu and
 * dialog takes. Rows are cells in columns ('\t' between them), sized to
 * their widest cell; the selected row is highlighted, the item in use
 * marked. Text above the rows (intro), a message line (what went wrong, what
 * was done) and a footer with the keys frame it. One row's last cell can
 * turn into a small field to type a value in. The menu knows nothing of
 * what its rows mean: tui_dialogs.c does. */
#include "tui_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COLUMNS 8
#define MAX_WIDTH 110 /* columns of the box, at most */
#define MAX_MESSAGE_LINES 4
#define MAX_INTRO_LINES 8

void menu_init(menu *m, const char *title) {
    memset(m, 0, sizeof *m);
    snprintf(m->title, sizeof m->title, "%s", title);
    snprintf(m->footer, sizeof m->footer, "Enter choose %s Esc close", glyphs.bullet);
}

void menu_clear_rows(menu *m) {
    for (int i = 0; i < m->n; i++) free(m->rows[i].cells);
    free(m->rows);
    m->rows = NULL;
    m->n = 0;
}

void menu_free(menu *m) {
    menu_clear_rows(m);
    free(m->intro);
    free(m->header);
    memset(m, 0, sizeof *m);
}

void menu_add(menu *m, bool current, bool dim, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *text = lm_xvasprintf(fmt, ap);
    va_end(ap);
    m->rows = lm_xrealloc(m->rows, (size_t)(m->n + 1) * sizeof *m->rows);
    m->rows[m->n++] = (menu_row){text, current, dim};
}

void menu_set_intro(menu *m, const char *text) {
    free(m->intro);
    m->intro = text ? lm_xstrdup(text) : NULL;
}

void menu_message(menu *m, enum tui_style style, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->message, sizeof m->message, fmt, ap);
    va_end(ap);
    m->message_style = style;
}

void menu_edit(menu *m, const char *value) {
    m->editing = true;
    snprintf(m->field, sizeof m->field, "%s", value);
}

/* ---- keys ---- */

static enum menu_result move_to(menu *m, int sel) {
    if (sel >= m->n) sel = m->n - 1;
    if (sel < 0) sel = 0;
    if (sel == m->sel) return MENU_HANDLED;
    m->sel = sel;
    m->message[0] = 0;
    return MENU_MOVED;
}

static void field_insert(menu *m, const char *s, size_t n) {
    size_t len = strlen(m->field);
    for (size_t i = 0; i < n && len + 1 < sizeof m->field; i++)
        if (s[i] >= 0x20 && s[i] < 0x7f) m->field[len++] = s[i];
    m->field[len] = 0;
}

/* Keys while the field is open: printable ASCII (values are numbers and
 * names), Backspace, Ctrl-U, Enter, Esc. */
static enum menu_result field_key(menu *m, const tui_key *k) {
    if (k->kind == TK_ESC || k->kind == TK_CTRL_C) {
        m->editing = false;
        return MENU_EDIT_CANCELLED;
    }
    if (k->kind == TK_PASTE) field_insert(m, k->data, k->len);
    if (k->kind != TK_TEXT) return MENU_HANDLED;
    for (size_t i = 0; i < k->len; i++) {
        char c = k->data[i];
        size_t len = strlen(m->field);
        if (c == '\r' || c == '\n') {
            m->editing = false;
            return MENU_EDITED;
        }
        if ((c == 0x7f || c == 0x08) && len > 0) m->field[len - 1] = 0;
        if (c == 0x15) m->field[0] = 0;
        if (c >= 0x20 && c < 0x7f) field_insert(m, &c, 1);
    }
    return MENU_HANDLED;
}

enum menu_result menu_key(menu *m, const tui_key *k) {
    if (m->editing) return field_key(m, k);
    int page = m->page > 1 ? m->page - 1 : 1;
    switch (k->kind) {
    case TK_ESC:
    case TK_CTRL_C:
        return MENU_CLOSED;
    case TK_UP:
    case TK_WHEEL_UP:
        return move_to(m, m->sel - 1);
    case TK_DOWN:
    case TK_WHEEL_DOWN:
        return move_to(m, m->sel + 1);
    case TK_PGUP:
        return move_to(m, m->sel - page);
    case TK_PGDN:
        return move_to(m, m->sel + page);
    case TK_HOME:
    case TK_CTRL_HOME:
        return move_to(m, 0);
    case TK_END:
    case TK_CTRL_END:
        return move_to(m, m->n - 1);
    case TK_TEXT:
        if (k->len == 1 && (k->data[0] == '\r' || k->data[0] == '\n'))
            return m->n ? MENU_CHOSEN : MENU_HANDLED;
        if (k->len == 1 && k->data[0] == 'q') return MENU_CLOSED;
        if (k->len == 1 && k->data[0] == 'k') return move_to(m, m->sel - 1);
        if (k->len == 1 && k->data[0] == 'j') return move_to(m, m->sel + 1);
        return MENU_HANDLED;
    default:
        return MENU_NONE;
    }
}

/* ---- layout ---- */

typedef struct lines {
    const char *text;
    size_t off[MAX_INTRO_LINES], len[MAX_INTRO_LINES];
    int n, max;
    size_t base;
} lines;

static void add_line(void *ctx, size_t off, size_t len) {
    lines *l = ctx;
    if (l->n == l->max) return;
    l->off[l->n] = l->base + off;
    l->len[l->n++] = len;
}

/* Wraps text (its '\n' too) into at most max lines of width columns. */
static void wrap(lines *l, const char *text, int width, int max) {
    memset(l, 0, sizeof *l);
    l->text = text;
    l->max = max;
    if (!text || !*text) return;
    for (size_t start = 0;;) {
        const char *nl = strchr(text + start, '\n');
        size_t end = nl ? (size_t)(nl - text) : strlen(text);
        l->base = start;
        text_wrap(text + start, end - start, width, true, add_line, l);
        if (!nl) break;
        start = end + 1;
    }
}

/* Cell i of a row ("a\tb\tc"): its start and length. */
static size_t cell(const char *cells, int i, const char **start) {
    const char *p = cells;
    for (int k = 0; k < i && p; k++) {
        p = strchr(p, '\t');
        if (p) p++;
    }
    *start = p ? p : "";
    return p ? strcspn(p, "\t") : 0;
}

static int count_cells(const char *cells) {
    int n = 1;
    for (const char *p = cells; (p = strchr(p, '\t')); p++) n++;
    return n < MAX_COLUMNS ? n : MAX_COLUMNS;
}

typedef struct columns {
    int n, width[MAX_COLUMNS];
} columns;

static void measure(const char *cells, columns *c) {
    int n = count_cells(cells);
    if (n > c->n) c->n = n;
    for (int i = 0; i < n; i++) {
        const char *s;
        size_t len = cell(cells, i, &s);
        int w = text_width(s, len);
        if (w > c->width[i]) c->width[i] = w;
    }
}

static int total_width(const columns *c) {
    int w = 2; /* the mark */
    for (int i = 0; i < c->n; i++) w += c->width[i] + (i ? 2 : 0);
    return w;
}

static columns measure_all(const menu *m, int inner) {
    columns c = {0};
    if (m->header) measure(m->header, &c);
    for (int i = 0; i < m->n; i++) measure(m->rows[i].cells, &c);
    if (m->editing && c.n > 0) {
        int w = (int)strlen(m->field) + 1;
        if (w > c.width[c.n - 1]) c.width[c.n - 1] = w;
    }
    /* too wide: the widest column gives, a column at a time, down to 6 */
    for (int over = total_width(&c) - inner; over > 0; over--) {
        int widest = 0;
        for (int i = 1; i < c.n; i++)
            if (c.width[i] > c.width[widest]) widest = i;
        if (c.width[widest] <= 6) break;
        c.width[widest]--;
    }
    return c;
}

/* ---- drawing ---- */

static void draw_cells(WINDOW *w, int y, int x, const char *cells, const columns *c,
                       const char *align, int room, const menu *m, bool field) {
    for (int i = 0; i < c->n && room > 0; i++) {
        const char *s;
        size_t len = cell(cells, i, &s);
        int cw = c->width[i] < room ? c->width[i] : room;
        bool last = i == c->n - 1;
        if (field && last) {
            style_set(w, STYLE_INPUT);
            wmove(w, y, x);
            tui_puts(w, m->field, cw - 1);
            wattr_on(w, A_REVERSE, NULL);
            waddch(w, ' ');
            wattr_off(w, A_REVERSE, NULL);
            return;
        }
        int tw = text_width(s, len);
        int pad = align && align[i] == 'r' && tw < cw ? cw - tw : 0;
        wmove(w, y, x + pad);
        tui_put(w, s, len, cw - pad);
        x += cw + 2;
        room -= cw + 2;
    }
}

static void draw_row(WINDOW *w, int y, int inner, const menu *m, int r, const columns *c) {
    const menu_row *row = &m->rows[r];
    bool sel = r == m->sel;
    enum tui_style base = sel ? STYLE_SELECTION : row->dim ? STYLE_META : STYLE_HELP;
    style_set(w, base);
    wmove(w, y, 1);
    for (int x = 0; x < inner + 2; x++) waddch(w, ' ');
    if (row->current) {
        if (!sel) style_set(w, STYLE_CURRENT);
        wmove(w, y, 2);
        tui_puts(w, glyphs.current, 1);
        style_set(w, base);
    }
    draw_cells(w, y, 4, row->cells, c, m->align, inner - 2, m, sel && m->editing);
}

static void draw_lines(WINDOW *w, int *y, const lines *l, int inner, enum tui_style st) {
    style_set(w, st);
    for (int i = 0; i < l->n; i++) {
        wmove(w, (*y)++, 2);
        tui_put(w, l->text + l->off[i], l->len[i], inner);
    }
}

static void draw_frame(WINDOW *w, const menu *m, int height, int width, int list_h) {
    style_set(w, STYLE_BORDER);
    box(w, 0, 0);
    style_set(w, STYLE_HELP_KEY);
    wmove(w, 0, 2);
    waddch(w, ' ');
    tui_puts(w, m->title, width - 6);
    waddch(w, ' ');
    if (m->n > list_h) { /* where the visible rows are in the list */
        char pos[32];
        snprintf(pos, sizeof pos, " %d/%d ", m->sel + 1, m->n);
        style_set(w, STYLE_META);
        wmove(w, height - 1, width - 2 - (int)strlen(pos));
        tui_puts(w, pos, (int)strlen(pos));
    }
}

static int box_width(const menu *m, int max_w, const columns *c) {
    int want = total_width(c);
    int t = text_width(m->title, strlen(m->title)) + 4;
    int f = text_width(m->footer, strlen(m->footer));
    if (t > want) want = t;
    if (f > want) want = f;
    if (want < 44) want = 44;
    want += 4;
    return want < max_w ? want : max_w;
}

void menu_draw(menu *m, int rows, int cols) {
    int max_w = cols - 2 < MAX_WIDTH ? cols - 2 : MAX_WIDTH;
    if (max_w < 20 || rows < 6) return;
    columns c = measure_all(m, max_w - 4);
    int width = box_width(m, max_w, &c), inner = width - 4;
    c = measure_all(m, inner);
    lines intro, msg;
    wrap(&intro, m->intro, inner, MAX_INTRO_LINES);
    wrap(&msg, m->message, inner, MAX_MESSAGE_LINES);
    int fixed = 2 + (intro.n ? intro.n + 1 : 0) + (m->header ? 1 : 0) + 1 + msg.n + 1;
    if (rows - 2 - fixed < 1 && intro.n) { /* too short: the rows matter more */
        fixed -= intro.n + 1;
        intro.n = 0;
    }
    int list_h = m->n < rows - 2 - fixed ? m->n : rows - 2 - fixed;
    if (list_h < 1) list_h = 1;
    int height = fixed + list_h;
    m->page = list_h;
    if (m->sel < m->top) m->top = m->sel;
    if (m->sel >= m->top + list_h) m->top = m->sel - list_h + 1;
    if (m->top < 0) m->top = 0;
    WINDOW *w = newwin(height, width, (rows - height) / 2, (cols - width) / 2);
    if (!w) return;
    style_background(w, STYLE_HELP);
    werase(w);
    int y = 1;
    draw_lines(w, &y, &intro, inner, STYLE_HELP);
    if (intro.n) y++;
    if (m->header) {
        style_set(w, STYLE_META);
        draw_cells(w, y++, 4, m->header, &c, m->align, inner - 2, m, false);
    }
    for (int r = m->top; r < m->n && r < m->top + list_h; r++) draw_row(w, y++, inner, m, r, &c);
    y = height - 2 - msg.n;
    draw_lines(w, &y, &msg, inner, m->message_style);
    style_set(w, STYLE_META);
    wmove(w, height - 2, 2);
    tui_puts(w, m->footer, inner);
    draw_frame(w, m, height, width, list_h);
    wnoutrefresh(w);
    delwin(w);
}

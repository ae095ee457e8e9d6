/* view: the conversation pane.
 *
 * The pane shows a list of entries (messages, notices). Each entry keeps its
 * text and the lines that text wraps into at the pane's width; an entry is
 * wrapped again only when its text or the width changes, so a streaming reply
 * costs one entry's wrapping per frame. Fenced code blocks (```) become
 * framed blocks, wrapped between characters rather than words. A reply's
 * other Markdown (markdown.h: headings, lists, quotes, strong, emphasis,
 * inline code) is drawn with the theme's attributes; its text stays as the
 * model wrote it, markers included, and lines wrap on that text.
 *
 * Scrolling: the pane either follows the end, or keeps a fixed line (entry,
 * line in entry) at its top, which stays put as text arrives below it and
 * survives re-wrapping when the terminal is resized. */
#include "markdown.h"
#include "tui_internal.h"

#include <stdlib.h>
#include <string.h>

#define INDENT 2 /* columns before a message's text */

enum line_kind { LINE_HEADER, LINE_TEXT, LINE_CODE, LINE_FENCE_OPEN, LINE_FENCE_CLOSE, LINE_BLANK };

typedef struct view_line {
    uint32_t off, len; /* bytes of the entry's text */
    uint8_t kind;
    uint8_t block;           /* LINE_TEXT of a reply: enum md_block of its source line */
    uint8_t marker_len;      /* ... the bytes of that line's block marker */
    uint32_t para, para_len; /* ... the source line it was wrapped from */
    uint32_t marker;         /* ... where the marker starts */
} view_line;

typedef struct entry {
    enum entry_kind kind;
    lm_buf text;
    char note[128];
    view_line *lines;
    size_t n_lines, cap;
    int width; /* wrapped for this width; 0: not wrapped */
} entry;

struct view {
    entry *entries;
    size_t n, cap;
    size_t *starts; /* first line of each entry */
    size_t total;
    int width, height;
    bool follow, new_below, dirty;
    size_t anchor_entry, anchor_line; /* the top line while not following */
};

view *view_create(void) {
    view *v = lm_xcalloc(1, sizeof *v);
    v->follow = v->dirty = true;
    return v;
}

void view_clear(view *v) {
    for (size_t i = 0; i < v->n; i++) {
        lm_buf_free(&v->entries[i].text);
        free(v->entries[i].lines);
    }
    v->n = 0;
    v->follow = v->dirty = true;
    v->new_below = false;
}

void view_free(view *v) {
    if (!v) return;
    view_clear(v);
    free(v->entries);
    free(v->starts);
    free(v);
}

/* ---- content ---- */

static void changed(view *v, entry *e) {
    e->width = 0;
    v->dirty = true;
    if (!v->follow) v->new_below = true;
}

void view_add(view *v, enum entry_kind kind, const char *text) {
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 32;
        v->entries = lm_xrealloc(v->entries, v->cap * sizeof *v->entries);
    }
    entry *e = &v->entries[v->n++];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    lm_buf_puts(&e->text, text);
    changed(v, e);
}

void view_append(view *v, const char *text, size_t len) {
    if (!v->n) return;
    entry *e = &v->entries[v->n - 1];
    lm_buf_append(&e->text, text, len);
    changed(v, e);
}

void view_set_note(view *v, const char *note) {
    if (!v->n) return;
    entry *e = &v->entries[v->n - 1];
    snprintf(e->note, sizeof e->note, "%s", note);
    v->dirty = true;
}

/* ---- wrapping ---- */

static view_line *push_line(entry *e, size_t off, size_t len, enum line_kind kind) {
    if (e->n_lines == e->cap) {
        e->cap = e->cap ? 2 * e->cap : 16;
        e->lines = lm_xrealloc(e->lines, e->cap * sizeof *e->lines);
    }
    view_line *l = &e->lines[e->n_lines++];
    *l = (view_line){.off = (uint32_t)off, .len = (uint32_t)len, .kind = (uint8_t)kind};
    return l;
}

typedef struct wrap_ctx {
    entry *e;
    size_t base, len;
    enum line_kind kind;
    enum md_block block;
    size_t marker, marker_len;
} wrap_ctx;

static void wrapped_line(void *ctx, size_t off, size_t len) {
    wrap_ctx *w = ctx;
    view_line *l = push_line(w->e, w->base + off, len, w->kind);
    l->block = (uint8_t)w->block;
    l->marker_len = (uint8_t)w->marker_len;
    l->marker = (uint32_t)(w->base + w->marker);
    l->para = (uint32_t)w->base;
    l->para_len = (uint32_t)w->len;
}

/* A fence opens or closes a code block: up to three spaces, then ``` or ~~~. */
static bool is_fence(const char *s, size_t n, size_t *info) {
    size_t i = 0;
    while (i < n && i < 3 && s[i] == ' ') i++;
    if (n - i < 3 || !(memcmp(s + i, "```", 3) == 0 || memcmp(s + i, "~~~", 3) == 0)) return false;
    i += 3;
    while (i < n && (s[i] == '`' || s[i] == '~' || s[i] == ' ')) i++;
    *info = i;
    return true;
}

static bool has_header(enum entry_kind k) {
    return k == ENTRY_USER || k == ENTRY_ASSISTANT || k == ENTRY_SYSTEM;
}

static void wrap_entry(entry *e, int width) {
    e->n_lines = 0;
    e->width = width;
    if (has_header(e->kind)) push_line(e, 0, 0, LINE_HEADER);
    const char *s = e->text.data ? e->text.data : "";
    size_t n = e->text.len, start = 0;
    while (e->kind == ENTRY_ASSISTANT && start < n && (s[start] == '\n' || s[start] == ' '))
        start++;
    bool code = false, markdown = e->kind == ENTRY_USER || e->kind == ENTRY_ASSISTANT;
    int text_width = width - INDENT, code_width = text_width - 2;
    while (start <= n) {
        const char *nl = memchr(s + start, '\n', n - start);
        size_t end = nl ? (size_t)(nl - s) : n, info;
        if (markdown && is_fence(s + start, end - start, &info)) {
            push_line(e, start + info, end - start - info,
                      code ? LINE_FENCE_CLOSE : LINE_FENCE_OPEN);
            code = !code;
        } else if (start < n || !has_header(e->kind)) { /* no blank line after a last \n */
            wrap_ctx w = {e, start, end - start, code ? LINE_CODE : LINE_TEXT, MD_PARA, 0, 0};
            if (!code && e->kind == ENTRY_ASSISTANT)
                w.block = md_block_of(s + start, end - start, &w.marker, &w.marker_len);
            text_wrap(s + start, end - start, code ? code_width : text_width, !code, wrapped_line,
                      &w);
        }
        if (!nl) break;
        start = end + 1;
    }
}

/* Wraps what changed and counts the lines. */
static void layout(view *v) {
    v->starts = lm_xrealloc(v->starts, (v->n + 1) * sizeof *v->starts);
    v->total = 0;
    for (size_t i = 0; i < v->n; i++) {
        entry *e = &v->entries[i];
        if (e->width != v->width) wrap_entry(e, v->width);
        v->total += i > 0; /* a blank line between entries */
        v->starts[i] = v->total;
        v->total += e->n_lines;
    }
}

static size_t max_top(const view *v) {
    return v->total > (size_t)v->height ? v->total - (size_t)v->height : 0;
}

static size_t top_line(const view *v) {
    if (v->follow || v->anchor_entry >= v->n) return max_top(v);
    const entry *e = &v->entries[v->anchor_entry];
    size_t line = v->anchor_line < e->n_lines ? v->anchor_line : e->n_lines;
    size_t top = v->starts[v->anchor_entry] + line;
    return top < max_top(v) ? top : max_top(v);
}

/* The entry a line of the pane belongs to (binary search over starts). */
static size_t entry_at(const view *v, size_t line) {
    size_t lo = 0, hi = v->n;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (v->starts[mid] <= line)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* ---- scrolling ---- */

static void set_top(view *v, long top) {
    layout(v);
    long max = (long)max_top(v);
    if (top >= max) {
        view_bottom(v);
        return;
    }
    if (top < 0) top = 0;
    v->follow = false;
    v->anchor_entry = v->n ? entry_at(v, (size_t)top) : 0;
    v->anchor_line = v->n ? (size_t)top - v->starts[v->anchor_entry] : 0;
    v->dirty = true;
}

void view_scroll(view *v, int lines) {
    layout(v);
    set_top(v, (long)top_line(v) - lines);
}

void view_page(view *v, int pages) {
    int page = v->height > 3 ? v->height - 2 : 1;
    view_scroll(v, pages * page);
}

void view_top(view *v) {
    set_top(v, 0);
}

void view_bottom(view *v) {
    v->follow = true;
    v->new_below = false;
    v->dirty = true;
}

bool view_dirty(const view *v) {
    return v->dirty;
}

/* ---- drawing ---- */

static enum tui_style body_style(enum entry_kind k) {
    switch (k) {
    case ENTRY_NOTICE:
        return STYLE_NOTICE;
    case ENTRY_WARNING:
        return STYLE_WARNING;
    case ENTRY_ERROR:
        return STYLE_ERROR;
    default:
        return STYLE_NORMAL;
    }
}

static void draw_header(WINDOW *w, const entry *e, int width) {
    static const char *const names[] = {
        [ENTRY_USER] = "You", [ENTRY_ASSISTANT] = "Assistant", [ENTRY_SYSTEM] = "System prompt"};
    static const enum tui_style styles[] = {[ENTRY_USER] = STYLE_USER,
                                            [ENTRY_ASSISTANT] = STYLE_ASSISTANT,
                                            [ENTRY_SYSTEM] = STYLE_SYSTEM};
    style_set(w, styles[e->kind]);
    int used = tui_puts(w, names[e->kind], width);
    if (!e->note[0]) return;
    style_set(w, STYLE_META);
    used += tui_puts(w, "  ", width - used);
    tui_puts(w, e->note, width - used);
}

/* The two columns left of a notice say what kind it is. */
static const char *gutter(const entry *e, const view_line *l) {
    if (l != &e->lines[0]) return "";
    switch (e->kind) {
    case ENTRY_NOTICE:
        return glyphs.bullet;
    case ENTRY_WARNING:
    case ENTRY_ERROR:
        return "!";
    default:
        return "";
    }
}

static void draw_fence(WINDOW *w, const entry *e, const view_line *l, int width) {
    style_set(w, STYLE_CODE_FRAME);
    int used =
        tui_puts(w, l->kind == LINE_FENCE_OPEN ? glyphs.top_left : glyphs.bottom_left, width);
    used += tui_puts(w, glyphs.hline, width - used);
    if (l->len) {
        used += tui_puts(w, " ", width - used);
        used += tui_put(w, e->text.data + l->off, l->len, width - used - 1);
        used += tui_puts(w, " ", width - used);
    }
    while (used < width && tui_puts(w, glyphs.hline, width - used) > 0) used++;
}

typedef struct md_draw {
    WINDOW *w;
    const char *text; /* the source line */
    enum tui_style base;
    int used, room;
} md_draw;

static void md_run(void *ctx, size_t off, size_t len, unsigned spans) {
    md_draw *d = ctx;
    short pair;
    attr_t a = style_attr(spans & MD_CODE ? STYLE_MD_CODE : d->base, &pair);
    if (spans & MD_STRONG) a |= A_BOLD;
    if (spans & MD_EMPH) a |= A_ITALIC;
    wattr_set(d->w, a, pair, NULL);
    d->used += tui_put(d->w, d->text + off, len, d->room - d->used);
}

/* A wrapped line of a reply: its block marker drawn as what it stands for,
 * then the inline spans. */
static void draw_markdown(WINDOW *w, const entry *e, const view_line *l, int room) {
    const char *para = e->text.data + l->para;
    enum md_block b = l->block;
    md_draw d = {w, para,
                 b == MD_HEADING ? STYLE_MD_HEADING
                 : b == MD_QUOTE ? STYLE_MD_QUOTE
                                 : body_style(e->kind),
                 0, room};
    size_t from = l->off - l->para, to = from + l->len;
    size_t marker = l->marker - l->para, marker_end = marker + l->marker_len;
    if (b != MD_PARA && from <= marker) { /* the line that holds the marker */
        style_set(w, d.base);
        d.used += tui_put(w, para + from, marker - from, room);
        style_set(w, STYLE_MD_MARKER);
        if (b == MD_BULLET) d.used += tui_puts(w, glyphs.bullet, room - d.used);
        if (b == MD_QUOTE) d.used += tui_puts(w, glyphs.vline, room - d.used);
        if (b == MD_BULLET || b == MD_QUOTE) d.used += tui_puts(w, " ", room - d.used);
        if (b == MD_NUMBER) d.used += tui_put(w, para + marker, l->marker_len, room - d.used);
        from = marker_end < to ? marker_end : to;
    } else if (b != MD_PARA && from < marker_end) {
        from = marker_end;
    }
    /* spans are found over the text after the marker, as a line on its own */
    size_t base = b == MD_PARA ? 0 : marker_end;
    if (to > from) {
        d.text = para + base;
        md_inline(para + base, l->para_len - base, from - base, to - base, md_run, &d);
    }
}

static void draw_line(WINDOW *w, int row, const entry *e, const view_line *l, int width) {
    wmove(w, row, 0);
    if (l->kind == LINE_HEADER) {
        draw_header(w, e, width);
        return;
    }
    style_set(w, body_style(e->kind));
    tui_puts(w, gutter(e, l), INDENT);
    wmove(w, row, INDENT);
    int room = width - INDENT;
    switch ((enum line_kind)l->kind) {
    case LINE_TEXT:
        if (e->kind == ENTRY_ASSISTANT)
            draw_markdown(w, e, l, room);
        else
            tui_put(w, e->text.data + l->off, l->len, room);
        break;
    case LINE_CODE:
        style_set(w, STYLE_CODE_FRAME);
        tui_puts(w, glyphs.vline, room);
        tui_puts(w, " ", room - 1);
        style_set(w, STYLE_CODE);
        tui_put(w, e->text.data + l->off, l->len, room - 2);
        tui_fill_line(w);
        break;
    case LINE_FENCE_OPEN:
    case LINE_FENCE_CLOSE:
        draw_fence(w, e, l, room);
        break;
    default:
        break;
    }
}

/* ---- copying ---- */

bool view_last_reply(const view *v, const char **text, size_t *len) {
    for (size_t i = v->n; i-- > 0;)
        if (v->entries[i].kind == ENTRY_ASSISTANT) {
            *text = v->entries[i].text.data ? v->entries[i].text.data : "";
            *len = v->entries[i].text.len;
            return true;
        }
    return false;
}

static bool in_block(enum line_kind k) {
    return k == LINE_CODE || k == LINE_FENCE_OPEN || k == LINE_FENCE_CLOSE;
}

/* The code between the fences around line `at` of an entry. */
static void block_text(const entry *e, size_t at, const char **text, size_t *len) {
    const char *s = e->text.data;
    size_t open = at, close = at;
    while (open > 0 && e->lines[open].kind != LINE_FENCE_OPEN) open--;
    while (close < e->n_lines && e->lines[close].kind != LINE_FENCE_CLOSE) close++;
    const char *nl = memchr(s + e->lines[open].off, '\n', e->text.len - e->lines[open].off);
    size_t start = nl ? (size_t)(nl - s) + 1 : e->text.len, end = e->text.len;
    if (close < e->n_lines) { /* the closing fence's line starts after a newline */
        end = e->lines[close].off;
        while (end > start && s[end - 1] != '\n') end--;
        if (end > start) end--;
    }
    *text = s + start;
    *len = end > start ? end - start : 0;
}

bool view_code_in_pane(view *v, const char **text, size_t *len) {
    layout(v);
    size_t top = top_line(v);
    for (size_t row = (size_t)v->height; row-- > 0;) {
        size_t line = top + row;
        if (line >= v->total) continue;
        size_t i = entry_at(v, line), at = line - v->starts[i];
        const entry *e = &v->entries[i];
        if (at < e->n_lines && in_block((enum line_kind)e->lines[at].kind)) {
            block_text(e, at, text, len);
            return true;
        }
    }
    return false;
}

static void draw_marker(WINDOW *w, int row, int width) {
    char text[64];
    snprintf(text, sizeof text, " %s new text below (End) %s ", glyphs.arrow_down,
             glyphs.arrow_down);
    int tw = text_width(text, strlen(text));
    wmove(w, row, tw < width ? (width - tw) / 2 : 0);
    style_set(w, STYLE_MARKER);
    tui_puts(w, text, width);
}

void view_draw(view *v, WINDOW *w) {
    int height, width;
    getmaxyx(w, height, width);
    v->width = width;
    v->height = height;
    layout(v);
    if (!v->follow && top_line(v) >= max_top(v)) view_bottom(v);
    size_t top = top_line(v);
    werase(w);
    for (int row = 0; row < height && top + (size_t)row < v->total; row++) {
        size_t line = top + (size_t)row, i = entry_at(v, line);
        entry *e = &v->entries[i];
        if (line - v->starts[i] >= e->n_lines) continue; /* the blank line after it */
        draw_line(w, row, e, &e->lines[line - v->starts[i]], width);
    }
    if (!v->follow && v->new_below) draw_marker(w, height - 1, width);
    style_set(w, STYLE_NORMAL);
    v->dirty = false;
}

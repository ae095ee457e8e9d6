/* bars: the title bar (which model, at what precision, how full the context
 * is) and the status bar (what the engine does, how fast, how much memory).
 * Each bar is a row of segments; when the terminal is too narrow for all of
 * them, the least important go first. */
#include "tui_internal.h"

#include <stdio.h>
#include <string.h>

#define MAX_SEGMENTS 8

typedef struct segment {
    char text[160];
    int rank; /* 0: the most important */
} segment;

typedef struct bar {
    segment seg[MAX_SEGMENTS];
    int n;
} bar;

static void add(bar *b, int rank, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void add(bar *b, int rank, const char *fmt, ...) {
    if (b->n == MAX_SEGMENTS) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->seg[b->n].text, sizeof b->seg[b->n].text, fmt, ap);
    va_end(ap);
    b->seg[b->n++].rank = rank;
}

static int bar_width(const bar *b, const bool *shown) {
    int w = 0, sep = text_width(glyphs.sep, strlen(glyphs.sep)), n = 0;
    for (int i = 0; i < b->n; i++)
        if (shown[i]) w += text_width(b->seg[i].text, strlen(b->seg[i].text)) + (n++ ? sep : 0);
    return w + 2; /* a space at each end */
}

/* Cuts a segment to `cols` columns, ending in an ellipsis. */
static void shorten(segment *s, int cols) {
    int ell = text_width(glyphs.ellipsis, strlen(glyphs.ellipsis));
    size_t len = strlen(s->text), keep = 0;
    for (size_t i = 0; i < len;) {
        wchar_t wc;
        int w;
        size_t n = text_next(s->text + i, len - i, &wc, &w);
        if (text_width(s->text, i + n) > cols - ell) break;
        i += n;
        keep = i;
    }
    snprintf(s->text + keep, sizeof s->text - keep, "%s", glyphs.ellipsis);
}

/* Drops the least important segments (rank 2 and up) until the bar fits,
 * then shortens the most important one. */
static void fit(bar *b, bool *shown, int cols) {
    for (int i = 0; i < b->n; i++) shown[i] = true;
    for (int rank = MAX_SEGMENTS; rank > 1; rank--)
        for (int i = b->n - 1; i >= 0 && bar_width(b, shown) > cols; i--)
            if (b->seg[i].rank == rank) shown[i] = false;
    for (int i = 0; i < b->n && bar_width(b, shown) > cols; i++) {
        if (b->seg[i].rank != 0) continue;
        int over = bar_width(b, shown) - cols;
        int w = text_width(b->seg[i].text, strlen(b->seg[i].text));
        if (w - over >= 8) shorten(&b->seg[i], w - over);
    }
    for (int i = b->n - 1; i >= 0 && bar_width(b, shown) > cols; i--)
        if (b->seg[i].rank > 0) shown[i] = false;
}

static void draw_bar(WINDOW *w, bar *b, enum tui_style style) {
    int cols = getmaxx(w);
    bool shown[MAX_SEGMENTS];
    fit(b, shown, cols);
    werase(w);
    wmove(w, 0, 0);
    style_set(w, style);
    int used = tui_puts(w, " ", cols), n = 0;
    for (int i = 0; i < b->n; i++) {
        if (!shown[i]) continue;
        if (n++) used += tui_puts(w, glyphs.sep, cols - used);
        used += tui_puts(w, b->seg[i].text, cols - used);
    }
    tui_fill_line(w);
}

static const char *base_name(const char *path) {
    const char *slash = path ? strrchr(path, '/') : NULL;
    return slash ? slash + 1 : path ? path : "";
}

void bars_draw_title(WINDOW *w, const session_status *st) {
    bar b = {0};
    const backend_model_info *m = st->model;
    add(&b, 4, "lmterm");
    if (m && m->remote) {
        add(&b, 0, "%s", m->name);
        add(&b, 1, "on %s", m->server);
        draw_bar(w, &b, STYLE_TITLE);
        return;
    }
    if (st->demo)
        add(&b, 0, "demo model %s random weights", glyphs.dash);
    else
        add(&b, 0, "%s", m && m->name[0] ? m->name : base_name(st->model_path));
    if (m) {
        const quant_type_info *qi = quant_info(m->main_type);
        add(&b, 3, "%s", m->arch == MODEL_ARCH_PHI3 ? "phi3" : "llama");
        add(&b, 1, "%s %s", session_precision_label(m->precision), qi ? qi->name : "?");
        int used = st->stats.n_past, total = st->stats.n_ctx ? st->stats.n_ctx : m->n_ctx;
        add(&b, 2, "context %d/%d", used, total);
    }
    draw_bar(w, &b, st->demo ? STYLE_TITLE_DEMO : STYLE_TITLE);
}

static void add_state(bar *b, const session_status *st) {
    switch (st->state) {
    case SESSION_NO_MODEL:
        add(b, 0, "no model");
        break;
    case SESSION_LOADING:
        add(b, 0, "loading %d%%", (int)(st->progress * 100));
        break;
    case SESSION_IDLE:
        add(b, 0, "idle");
        break;
    case SESSION_READING_PROMPT:
        add(b, 0, "reading prompt %d%%", (int)(st->progress * 100));
        break;
    case SESSION_GENERATING:
        add(b, 0, "generating");
        break;
    case SESSION_STOPPING:
        add(b, 0, "stopping");
        break;
    }
}

void bars_draw_status(WINDOW *w, const session_status *st) {
    bar b = {0};
    const backend_stats *s = &st->stats;
    char rss[16], weights[16], kv[16];
    add_state(&b, st);
    if (st->download_name)
        add(&b, 1, "downloading %s %d%%", st->download_name, (int)(st->download_progress * 100));
    add(&b, 1, "%.1f tok/s", s->gen_tps);
    if (st->caps && !st->caps->memory) { /* a server: what the stream tells, no memory figures */
        if (s->first_token > 0) add(&b, 3, "first token %.2f s", s->first_token);
        if (s->n_prompt_tokens > 0) add(&b, 4, "prompt %d tok", s->n_prompt_tokens);
        add(&b, 2, "memory remote");
    } else {
        add(&b, 3, "prompt %d tok, %.1f tok/s", s->n_prompt_evaluated, s->prompt_tps);
        add(&b, 2, "RSS %s", lm_format_size(s->rss_bytes, rss));
        add(&b, 4, "weights %s", lm_format_size(s->weight_bytes, weights));
        add(&b, 5, "KV %s %s", lm_format_size(s->kv_bytes, kv), model_cache_type_name(s->kv_type));
    }
    bool busy = st->state == SESSION_READING_PROMPT || st->state == SESSION_GENERATING ||
                st->state == SESSION_LOADING || st->state == SESSION_STOPPING;
    draw_bar(w, &b, busy ? STYLE_STATUS_BUSY : STYLE_STATUS);
}

/* keys: the bytes a terminal sends, decoded into the keys the chat acts on.
 *
 * Plain characters, Alt-x and the editing keys readline knows go to
 * readline as bytes (TK_TEXT). The keys the chat handles itself (Esc, F1,
 * PgUp, the mouse wheel, a bracketed paste ...) come out as their own kinds.
 * Unknown escape sequences are dropped, so they never reach readline, which
 * would type their tails into the input ("[1;5C"). A lone Esc is told from
 * the start of a sequence by time: nothing follows it within ESC_DELAY. */
#include "tui_internal.h"

#include <stdlib.h>
#include <string.h>

#define ESC_DELAY 0.05 /* seconds */
#define PASTE_END "\033[201~"

static void emit(key_fn fn, void *ctx, enum key_kind kind, int n) {
    tui_key k = {.kind = kind, .n = n};
    fn(ctx, &k);
}

static void emit_text(key_fn fn, void *ctx, const char *s, size_t len) {
    if (!len) return;
    tui_key k = {.kind = TK_TEXT, .data = s, .len = len};
    fn(ctx, &k);
}

/* ---- CSI: ESC [ params final ---- */

static int parse_params(const unsigned char *p, size_t n, int *out, int max) {
    int count = 0, v = 0;
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        if (p[i] >= '0' && p[i] <= '9') {
            v = v * 10 + (p[i] - '0');
            any = true;
            if (v > 100000) v = 100000;
        } else if (p[i] == ';') {
            if (count < max) out[count++] = v;
            v = 0;
            any = true;
        }
    }
    if (any && count < max) out[count++] = v;
    return count;
}

/* SGR mouse: ESC [ < button ; x ; y M. Only the wheel matters. */
static void sgr_mouse(const unsigned char *q, size_t n, key_fn fn, void *ctx) {
    int p[3] = {0};
    if (parse_params(q + 3, n - 4, p, 3) < 1 || q[n - 1] != 'M') return;
    if ((p[0] & 0xc3) == 64) emit(fn, ctx, TK_WHEEL_UP, 0);
    if ((p[0] & 0xc3) == 65) emit(fn, ctx, TK_WHEEL_DOWN, 0);
}

/* ESC [ N ~ */
static void tilde_key(int code, int mod, key_decoder *d, key_fn fn, void *ctx) {
    bool ctrl = mod == 5;
    static const int fkeys[][2] = {{11, 1}, {12, 2}, {13, 3}, {14, 4},  {15, 5},  {17, 6},
                                   {18, 7}, {19, 8}, {20, 9}, {21, 10}, {23, 11}, {24, 12}};
    switch (code) {
    case 1:
    case 7:
        emit(fn, ctx, ctrl ? TK_CTRL_HOME : TK_HOME, 0);
        return;
    case 4:
    case 8:
        emit(fn, ctx, ctrl ? TK_CTRL_END : TK_END, 0);
        return;
    case 5:
        emit(fn, ctx, TK_PGUP, 0);
        return;
    case 6:
        emit(fn, ctx, TK_PGDN, 0);
        return;
    case 3: /* Delete */
        emit_text(fn, ctx, "\033[3~", 4);
        return;
    case 200:
        d->in_paste = true;
        d->paste.len = 0;
        return;
    }
    for (size_t i = 0; i < sizeof fkeys / sizeof *fkeys; i++)
        if (fkeys[i][0] == code) emit(fn, ctx, TK_FN, fkeys[i][1]);
}

/* Arrows, Home/End and F1-F4 share their last letter between CSI and SS3. */
static void letter_key(unsigned char c, int mod, key_fn fn, void *ctx) {
    bool ctrl = mod == 5;
    switch (c) {
    case 'A':
        emit(fn, ctx, TK_UP, 0);
        break;
    case 'B':
        emit(fn, ctx, TK_DOWN, 0);
        break;
    case 'C':
        emit_text(fn, ctx, ctrl ? "\033f" : "\033[C", ctrl ? 2 : 3);
        break;
    case 'D':
        emit_text(fn, ctx, ctrl ? "\033b" : "\033[D", ctrl ? 2 : 3);
        break;
    case 'H':
        emit(fn, ctx, ctrl ? TK_CTRL_HOME : TK_HOME, 0);
        break;
    case 'F':
        emit(fn, ctx, ctrl ? TK_CTRL_END : TK_END, 0);
        break;
    case 'P':
    case 'Q':
    case 'R':
    case 'S':
        emit(fn, ctx, TK_FN, c - 'P' + 1);
        break;
    case 'M': /* keypad Enter */
        emit_text(fn, ctx, "\r", 1);
        break;
    }
}

static void csi(key_decoder *d, const unsigned char *q, size_t n, key_fn fn, void *ctx) {
    if (q[2] == '<') {
        sgr_mouse(q, n, fn, ctx);
        return;
    }
    int p[4] = {0};
    int np = parse_params(q + 2, n - 3, p, 4);
    int mod = np > 1 ? p[1] : 1;
    if (q[n - 1] == '~')
        tilde_key(p[0], mod, d, fn, ctx);
    else
        letter_key(q[n - 1], mod, fn, ctx);
}

/* X10 mouse: ESC [ M b x y, each a byte plus 32. */
static void x10_mouse(const unsigned char *q, key_fn fn, void *ctx) {
    int b = q[3] - 32;
    if ((b & 0xc3) == 64) emit(fn, ctx, TK_WHEEL_UP, 0);
    if ((b & 0xc3) == 65) emit(fn, ctx, TK_WHEEL_DOWN, 0);
}

/* Looks at the escape sequence collected so far: handles it when it is
 * complete, else leaves it to wait for more bytes. */
static void try_sequence(key_decoder *d, key_fn fn, void *ctx) {
    const unsigned char *q = d->seq;
    size_t n = d->n_seq;
    if (n < 2) return;
    if (q[1] == '[') {
        if (n == 2) return;
        if (q[2] == 'M') {
            if (n < 6) return;
            x10_mouse(q, fn, ctx);
            d->n_seq = 0;
            return;
        }
        if (q[2] == '[') { /* the Linux console's F1-F5: ESC [ [ A..E */
            if (n < 4) return;
            if (q[3] >= 'A' && q[3] <= 'E') emit(fn, ctx, TK_FN, q[3] - 'A' + 1);
            d->n_seq = 0;
            return;
        }
        unsigned char last = q[n - 1];
        if (n > 2 && last >= 0x40 && last <= 0x7e) {
            d->n_seq = 0;
            csi(d, q, n, fn, ctx);
        } else if (last < 0x20 || last > 0x7e || n == sizeof d->seq) {
            d->n_seq = 0; /* not a sequence we can read: drop it */
        }
        return;
    }
    if (q[1] == 'O') {
        if (n < 3) return;
        d->n_seq = 0;
        letter_key(q[2], 1, fn, ctx);
        return;
    }
    if (q[1] == 0x1b) { /* Esc, then maybe a sequence */
        emit(fn, ctx, TK_ESC, 0);
        d->n_seq = 1;
        return;
    }
    d->n_seq = 0;
    emit_text(fn, ctx, (const char *)q, 2); /* Alt-x */
}

/* ---- pastes ---- */

static void paste_byte(key_decoder *d, unsigned char c, key_fn fn, void *ctx) {
    lm_buf_append(&d->paste, &c, 1);
    size_t end = sizeof PASTE_END - 1;
    if (d->paste.len < end || memcmp(d->paste.data + d->paste.len - end, PASTE_END, end) != 0)
        return;
    d->in_paste = false;
    tui_key k = {.kind = TK_PASTE, .data = d->paste.data, .len = d->paste.len - end};
    fn(ctx, &k);
    d->paste.len = 0;
}

/* ---- feeding ---- */

static enum key_kind control_key(unsigned char c) {
    switch (c) {
    case 0x03:
        return TK_CTRL_C;
    case 0x0c:
        return TK_CTRL_L;
    case 0x13:
        return TK_CTRL_S;
    case 0x1a:
        return TK_CTRL_Z;
    default:
        return TK_TEXT;
    }
}

void keys_feed(key_decoder *d, const unsigned char *b, size_t n, key_fn fn, void *ctx) {
    size_t run = 0; /* start of plain bytes not yet given out */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = b[i];
        if (d->in_paste) {
            paste_byte(d, c, fn, ctx);
            run = i + 1;
        } else if (d->n_seq > 0) {
            d->seq[d->n_seq++] = c;
            try_sequence(d, fn, ctx);
            run = i + 1;
        } else if (c == 0x1b || control_key(c) != TK_TEXT) {
            emit_text(fn, ctx, (const char *)b + run, i - run);
            run = i + 1;
            if (c == 0x1b) {
                d->seq[0] = c;
                d->n_seq = 1;
                d->seq_since = lm_now();
            } else {
                emit(fn, ctx, control_key(c), 0);
            }
        }
    }
    emit_text(fn, ctx, (const char *)b + run, n - run);
}

int keys_timeout(const key_decoder *d, double now) {
    if (d->n_seq == 0) return -1;
    double left = d->seq_since + ESC_DELAY - now;
    return left <= 0 ? 0 : (int)(left * 1000) + 1;
}

void keys_expire(key_decoder *d, double now, key_fn fn, void *ctx) {
    if (d->n_seq == 0 || now < d->seq_since + ESC_DELAY) return;
    size_t n = d->n_seq;
    d->n_seq = 0;
    if (n == 1)
        emit(fn, ctx, TK_ESC, 0);
    else if (n == 2)
        emit_text(fn, ctx, (const char *)d->seq, 2); /* Alt-[ or Alt-O */
}

void keys_free(key_decoder *d) {
    lm_buf_free(&d->paste);
}

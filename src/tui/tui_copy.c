/* copy: text onto the system clipboard through the terminal, with OSC 52
 * (ESC ] 52 ; c ; base64 BEL). It works over SSH and inside tmux, but only
 * where the terminal takes it: tmux with `set-clipboard on`, or a terminal
 * whose terminfo entry has the Ms capability. Elsewhere the sequence is
 * still sent (many terminals take it without saying so), and the caller is
 * told why the copy may not have arrived. */
#include "tui_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <term.h>
#include <unistd.h>

static void put_all(const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        s += w, n -= (size_t)w;
    }
}

static void base64(const unsigned char *in, size_t n, lm_buf *out) {
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        char q[4] = {digits[v >> 18 & 63], digits[v >> 12 & 63],
                     i + 1 < n ? digits[v >> 6 & 63] : '=', i + 2 < n ? digits[v & 63] : '='};
        lm_buf_append(out, q, 4);
    }
}

/* tmux's set-clipboard option, asked of the tmux that $TMUX names. */
static void tmux_set_clipboard(char *value, size_t size) {
    snprintf(value, size, "unknown");
    FILE *p = popen("tmux show-options -gv set-clipboard 2>/dev/null", "r");
    if (!p) return;
    if (fgets(value, (int)size, p)) value[strcspn(value, "\n")] = 0;
    pclose(p);
}

bool copy_osc52(const char *text, size_t len, char *why, size_t why_size) {
    lm_buf seq = {0};
    lm_buf_puts(&seq, "\033]52;c;");
    base64((const unsigned char *)text, len, &seq);
    lm_buf_puts(&seq, "\a");
    put_all(seq.data, seq.len);
    lm_buf_free(&seq);
    why[0] = 0;
    if (getenv("TMUX")) {
        char value[32];
        tmux_set_clipboard(value, sizeof value);
        if (strcmp(value, "on") != 0)
            snprintf(why, why_size,
                     "tmux's set-clipboard is %s, so programs cannot copy "
                     "(tmux set -g set-clipboard on)",
                     value);
    } else {
        const char *ms = tigetstr((char *)"Ms");
        if (!ms || ms == (char *)-1)
            snprintf(why, why_size,
                     "TERM=%s does not say it takes OSC 52 (no Ms capability): the text "
                     "may not have reached the clipboard",
                     getenv("TERM") ? getenv("TERM") : "");
    }
    return why[0] == 0;
}

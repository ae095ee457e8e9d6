/* markdown: block markers and inline spans (see markdown.h). */
#include "markdown.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

enum md_block md_block_of(const char *s, size_t n, size_t *marker, size_t *marker_len) {
    size_t i = 0;
    *marker = *marker_len = 0;
    while (i < n && i < 3 && s[i] == ' ') i++;
    size_t j = i;
    if (j < n && s[j] == '#') {
        while (j < n && j - i < 6 && s[j] == '#') j++;
        if (j < n && s[j] == ' ') {
            while (j < n && s[j] == ' ') j++;
            *marker = i, *marker_len = j - i;
            return MD_HEADING;
        }
        return MD_PARA;
    }
    if (j + 1 < n && (s[j] == '-' || s[j] == '*' || s[j] == '+') && s[j + 1] == ' ') {
        *marker = i, *marker_len = 2;
        return MD_BULLET;
    }
    if (j < n && isdigit((unsigned char)s[j])) {
        while (j < n && j - i < 9 && isdigit((unsigned char)s[j])) j++;
        if (j + 1 < n && (s[j] == '.' || s[j] == ')') && s[j + 1] == ' ') {
            *marker = i, *marker_len = j + 2 - i;
            return MD_NUMBER;
        }
        return MD_PARA;
    }
    if (j < n && s[j] == '>') {
        *marker = i, *marker_len = j + 1 < n && s[j + 1] == ' ' ? 2 : 1;
        return MD_QUOTE;
    }
    return MD_PARA;
}

static bool is_space_at(const char *s, size_t n, size_t i) {
    return i >= n || s[i] == ' ' || s[i] == '\t';
}

static bool is_word_at(const char *s, size_t n, size_t i) {
    return i < n && (isalnum((unsigned char)s[i]) || (unsigned char)s[i] >= 0x80);
}

static size_t run_of(const char *s, size_t n, size_t i, char c) {
    size_t k = 0;
    while (i + k < n && s[i + k] == c) k++;
    return k;
}

/* Can `len` bytes of marker at i close a span: text before, and for '_' no
 * word right after (snake_case stays text). */
static bool can_close(const char *s, size_t n, size_t i, size_t len) {
    if (i == 0 || is_space_at(s, n, i - 1)) return false;
    return s[i] != '_' || !is_word_at(s, n, i + len);
}

/* Can it open one: text right after, and for '_' no word right before. */
static bool can_open(const char *s, size_t n, size_t i, size_t len) {
    if (is_space_at(s, n, i + len)) return false;
    return s[i] != '_' || i == 0 || !is_word_at(s, n, i - 1);
}

/* Is there a marker of exactly `len` `c`s after i that can close? Stops at a
 * code span, which hides what is inside it. */
static bool closer_after(const char *s, size_t n, size_t i, char c, size_t len) {
    for (size_t j = i; j < n;) {
        if (s[j] == '\\' && j + 1 < n) {
            j += 2;
            continue;
        }
        size_t k = run_of(s, n, j, s[j]);
        if (s[j] == c && (k == len || k == 3) && can_close(s, n, j, len)) return true;
        if (s[j] == '`' && c != '`') return false;
        j += k ? k : 1;
    }
    return false;
}

typedef struct runs {
    size_t from, to, start;
    bool open;
    unsigned spans;
    md_run_fn fn;
    void *ctx;
} runs;

/* Ends the run of text before byte i and starts a new one at `next`. */
static void cut(runs *r, size_t i, size_t next) {
    size_t a = r->start > r->from ? r->start : r->from, b = i < r->to ? i : r->to;
    if (b > a) r->fn(r->ctx, a, b - a, r->spans);
    r->start = next;
}

void md_inline(const char *s, size_t n, size_t from, size_t to, md_run_fn fn, void *ctx) {
    if (to > n) to = n;
    runs r = {.from = from, .to = to, .fn = fn, .ctx = ctx};
    size_t code_len = 0;
    char emph = 0;
    for (size_t i = 0; i < to;) {
        char c = s[i];
        size_t k = run_of(s, n, i, c);
        if (r.spans & MD_CODE) {
            if (c == '`' && k == code_len) {
                cut(&r, i, i + k);
                r.spans &= ~(unsigned)MD_CODE;
            }
            i += k ? k : 1;
            continue;
        }
        if (c == '\\' && i + 1 < n && strchr("*_`\\#>-+", s[i + 1])) {
            cut(&r, i, i + 1); /* the backslash goes, the character stays */
            i += 2;
            continue;
        }
        if (c == '`' && closer_after(s, n, i + k, '`', k)) {
            cut(&r, i, i + k);
            r.spans |= MD_CODE;
            code_len = k;
            i += k;
            continue;
        }
        if ((c == '*' || c == '_') && k >= 2) {
            if ((r.spans & MD_STRONG) && (r.spans & MD_EMPH) && emph == c && k == 3 &&
                can_close(s, n, i, 1)) { /* "***": the inner span closes first */
                cut(&r, i, i + 1);
                r.spans &= ~(unsigned)MD_EMPH;
                emph = 0;
                i += 1;
                continue;
            }
            if ((r.spans & MD_STRONG) && can_close(s, n, i, 2)) {
                cut(&r, i, i + 2);
                r.spans &= ~(unsigned)MD_STRONG;
                i += 2;
                continue;
            }
            if (!(r.spans & MD_STRONG) && can_open(s, n, i, 2) && closer_after(s, n, i + 2, c, 2)) {
                cut(&r, i, i + 2);
                r.spans |= MD_STRONG;
                i += 2;
                continue;
            }
        }
        if (c == '*' || c == '_') {
            if ((r.spans & MD_EMPH) && emph == c && can_close(s, n, i, 1)) {
                cut(&r, i, i + 1);
                r.spans &= ~(unsigned)MD_EMPH;
                emph = 0;
                i += 1;
                continue;
            }
            if (!(r.spans & MD_EMPH) && k == 1 && can_open(s, n, i, 1) &&
                closer_after(s, n, i + 1, c, 1)) {
                cut(&r, i, i + 1);
                r.spans |= MD_EMPH;
                emph = c;
                i += 1;
                continue;
            }
        }
        i += k ? k : 1;
    }
    cut(&r, to, to);
}

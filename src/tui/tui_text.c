/* text: UTF-8 measured in terminal columns (wcwidth), and word wrapping that
 * never splits a character. No curses here. */
#include "tui_internal.h"

#include <stdlib.h>

#define TAB_WIDTH 4

/* What stands in for a character the terminal cannot show. */
static wchar_t replacement(void) {
    return MB_CUR_MAX > 1 ? (wchar_t)0xFFFD : L'?';
}

size_t text_next(const char *s, size_t n, wchar_t *wc, int *width) {
    uint32_t cp;
    int len = utf8_decode(s, n, &cp);
    if (cp == '\t') {
        *wc = L'\t';
        *width = TAB_WIDTH;
        return (size_t)len;
    }
    int w = cp < 0x20 || (cp >= 0x7f && cp < 0xa0) ? -1 : wcwidth((wchar_t)cp);
    if (w < 0) {
        *wc = replacement();
        *width = 1;
    } else {
        *wc = (wchar_t)cp;
        *width = w;
    }
    return (size_t)len;
}

int text_width(const char *s, size_t n) {
    int cols = 0;
    for (size_t i = 0; i < n;) {
        wchar_t wc;
        int w;
        i += text_next(s + i, n - i, &wc, &w);
        cols += w;
    }
    return cols;
}

/* Walks the paragraph once. `brk` is the last place a line may end (after
 * a space); when a character does not fit, the line ends there, or before
 * the character when there is no such place, and the same character is
 * looked at again on the next line. */
void text_wrap(const char *s, size_t n, int width, bool words, text_line_fn fn, void *ctx) {
    if (width < 1) width = 1;
    size_t start = 0, i = 0, brk = 0;
    int col = 0, brk_col = 0;
    bool have_brk = false;
    while (i < n) {
        wchar_t wc;
        int w;
        size_t len = text_next(s + i, n - i, &wc, &w);
        bool space = words && wc == L' ';
        if (col > 0 && col + w > width) {
            if (space) { /* end the line here and swallow the spaces */
                fn(ctx, start, i - start);
                while (i < n && s[i] == ' ') i++;
                start = i;
                col = 0;
            } else if (have_brk) {
                fn(ctx, start, brk - start);
                col -= brk_col;
                start = brk;
            } else {
                fn(ctx, start, i - start);
                start = i;
                col = 0;
            }
            have_brk = false;
            continue;
        }
        if (space) {
            have_brk = true;
            brk = i + len;
            brk_col = col + w;
        }
        col += w;
        i += len;
    }
    if (start < n || n == 0) fn(ctx, start, n - start);
}

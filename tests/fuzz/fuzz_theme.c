/* fuzz_theme: theme_parse on arbitrary YAML text.
 *
 * A theme comes from anyone's dotfiles; parsing must never crash, leak or
 * leave an unusable theme. Checked besides: whatever the outcome, every
 * element reduced for each kind of terminal (none, 8, 16, 256 colours, true
 * colour) is a colour that terminal can show.
 *
 * libFuzzer: -max_len=16384 -timeout=10
 */
#include "theme.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *what, int colors, int element) {
    fprintf(stderr, "fuzz_theme: check failed: %s (%d colours, element %d)\n", what, colors, element);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    unsetenv("NO_COLOR"); /* theme_parse must not depend on it, but be sure */
    return 0;
}

static void check_color(theme_color c, int colors, int e) {
    if (c.kind == THEME_COLOR_DEFAULT) return;
    if (colors < 8) fail("a colour on a terminal without colours", colors, e);
    if (c.kind == THEME_COLOR_RGB && colors < (1 << 24)) fail("RGB on a palette terminal", colors, e);
    if (c.kind == THEME_COLOR_INDEX && colors <= 256 && c.index >= colors)
        fail("an index the terminal does not have", colors, e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    theme t;
    config_messages warnings = {0};
    lm_error err = {{0}};
    int rc = theme_parse(&t, "fuzz.yaml", (const char *)data, size, &warnings, &err);
    if (rc != 0 && (!err.msg[0] || strchr(err.msg, '\n'))) fail("an error must be one line", 0, -1);
    if (strnlen(t.name, sizeof t.name) == sizeof t.name ||
        strnlen(t.description, sizeof t.description) == sizeof t.description)
        fail("a name or description is not terminated", 0, -1);
    static const int terminals[] = {0, 8, 16, 256, 1 << 24};
    for (size_t k = 0; k < sizeof terminals / sizeof *terminals; k++)
        for (int e = 0; e < THEME_N_ELEMENTS; e++) {
            theme_style s = theme_style_for(&t, (enum theme_element)e, terminals[k]);
            check_color(s.fg, terminals[k], e);
            check_color(s.bg, terminals[k], e);
        }
    for (size_t i = 0; i < warnings.n; i++)
        if (strchr(warnings.items[i], '\n')) fail("a warning must be one line", 0, -1);
    config_messages_free(&warnings);

    /* the input's first line as one colour word */
    char word[64];
    size_t n = 0;
    while (n < size && n < sizeof word - 1 && data[n] != '\n') word[n] = (char)data[n], n++;
    word[n] = 0;
    theme_color c;
    if (theme_color_parse(word, &c))
        for (size_t k = 0; k < sizeof terminals / sizeof *terminals; k++)
            check_color(theme_color_reduce(c, terminals[k]), terminals[k], -1);
    return 0;
}

/* theme: the shipped themes, colour words, the reduction of colours to
 * 256 and 8, NO_COLOR, bad files, lookup order and the picker's list. */
#include "theme.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const shipped[] = {"default", "light", "high-contrast", "solarized-dark",
                                      "mono"};

/* The source tree's data folder, found as the installed program would. */
static char *data_dir(void) {
    char *old = getenv("LMTERM_DATADIR") ? strdup(getenv("LMTERM_DATADIR")) : NULL;
    unsetenv("LMTERM_DATADIR");
    char *d = config_data_dir();
    if (old) setenv("LMTERM_DATADIR", old, 1);
    free(old);
    if (!d && access("themes/default.yaml", R_OK) == 0) d = realpath(".", NULL);
    return d;
}

/* Runs the block with NO_COLOR unset, whatever the test's environment. */
static char *no_color_saved;
static void no_color_off(void) {
    const char *v = getenv("NO_COLOR");
    no_color_saved = v ? strdup(v) : NULL;
    unsetenv("NO_COLOR");
}
static void no_color_restore(void) {
    if (no_color_saved) setenv("NO_COLOR", no_color_saved, 1);
    free(no_color_saved);
    no_color_saved = NULL;
}

static bool same_color(theme_color a, theme_color b) {
    if (a.kind != b.kind) return false;
    if (a.kind == THEME_COLOR_INDEX) return a.index == b.index;
    if (a.kind == THEME_COLOR_RGB) return a.r == b.r && a.g == b.g && a.b == b.b;
    return true;
}

static bool same_spec(const theme_spec *a, const theme_spec *b) {
    if (a->n_fg != b->n_fg || a->n_bg != b->n_bg || a->attrs != b->attrs) return false;
    for (int i = 0; i < a->n_fg; i++)
        if (!same_color(a->fg[i], b->fg[i])) return false;
    for (int i = 0; i < a->n_bg; i++)
        if (!same_color(a->bg[i], b->bg[i])) return false;
    return true;
}

static bool same_theme(const theme *a, const theme *b) {
    for (int e = 0; e < THEME_N_ELEMENTS; e++)
        if (!same_spec(&a->spec[e], &b->spec[e])) return false;
    return true;
}

static theme_color idx(int i) {
    return (theme_color){.kind = THEME_COLOR_INDEX, .index = (uint8_t)i};
}
static theme_color rgb(int r, int g, int b) {
    return (theme_color){
        .kind = THEME_COLOR_RGB, .r = (uint8_t)r, .g = (uint8_t)g, .b = (uint8_t)b};
}

/* ---- the shipped themes ---- */

TEST(theme_shipped_themes_load) {
    char *dir = data_dir();
    if (!dir) {
        test_skip("source tree not found");
        return;
    }
    no_color_off();
    for (size_t i = 0; i < sizeof shipped / sizeof *shipped; i++) {
        theme t;
        lm_error err = {{0}};
        config_messages w = {0};
        CHECK_MSG(theme_load(&t, shipped[i], dir, &w, &err) == 0, "%s: %s", shipped[i], err.msg);
        CHECK_EQ_STR(t.name, shipped[i]);
        CHECK_MSG(w.n == 0, "%s: %s", shipped[i], w.n ? w.items[0] : "");
        CHECK(t.description[0] != 0);
        config_messages_free(&w);

        /* each file names every element */
        char path[4096];
        snprintf(path, sizeof path, "%s/themes/%s.yaml", dir, shipped[i]);
        config_yaml_node *root;
        CHECK(config_yaml_read(path, 1 << 20, &root, &err) == 0);
        const config_yaml_node *elems = config_yaml_get(root, "elements");
        for (int e = 0; e < THEME_N_ELEMENTS; e++)
            CHECK_MSG(config_yaml_get(elems, theme_element_name((enum theme_element)e)) != NULL,
                      "%s lacks %s", shipped[i], theme_element_name((enum theme_element)e));
        config_yaml_free(root);
    }
    no_color_restore();
    free(dir);
}

/* The built-in themes (used without a data folder) match their files. */
TEST(theme_builtins_match_files) {
    char *dir = data_dir();
    if (!dir) {
        test_skip("source tree not found");
        return;
    }
    no_color_off();
    theme file, builtin;
    lm_error err;
    CHECK(theme_load(&file, "default", dir, NULL, &err) == 0);
    theme_default(&builtin);
    CHECK(same_theme(&file, &builtin));
    CHECK(theme_load(&file, "mono", dir, NULL, &err) == 0);
    theme_mono(&builtin);
    CHECK(same_theme(&file, &builtin));
    CHECK_EQ_STR(builtin.name, "mono");
    /* without a data folder the built-ins still load */
    CHECK(theme_load(&file, "mono", NULL, NULL, &err) == 0);
    CHECK(same_theme(&file, &builtin));
    no_color_restore();
    free(dir);
}

/* Mono has no colour at all; every other theme has some. */
TEST(theme_mono_has_no_colour) {
    theme t;
    theme_mono(&t);
    for (int e = 0; e < THEME_N_ELEMENTS; e++) {
        theme_style s = theme_style_for(&t, (enum theme_element)e, 1 << 24);
        CHECK(s.fg.kind == THEME_COLOR_DEFAULT && s.bg.kind == THEME_COLOR_DEFAULT);
    }
    CHECK(t.spec[THEME_SELECTION].attrs & THEME_REVERSE);
}

/* ---- colours ---- */

TEST(theme_color_words) {
    theme_color c;
    CHECK(theme_color_parse("red", &c) && same_color(c, idx(1)));
    CHECK(theme_color_parse("White", &c) && same_color(c, idx(7)));
    CHECK(theme_color_parse("bright-blue", &c) && same_color(c, idx(12)));
    CHECK(theme_color_parse("brightcyan", &c) && same_color(c, idx(14)));
    CHECK(theme_color_parse("grey", &c) && same_color(c, idx(8)));
    CHECK(theme_color_parse("0", &c) && same_color(c, idx(0)));
    CHECK(theme_color_parse("255", &c) && same_color(c, idx(255)));
    CHECK(theme_color_parse("#1e90FF", &c) && same_color(c, rgb(0x1e, 0x90, 0xff)));
    CHECK(theme_color_parse("default", &c) && c.kind == THEME_COLOR_DEFAULT);
    const char *bad[] = {"256",    "-1",      "1000",       "#12345", "#1234567", "#12345g",
                         "purple", "bright-", "brightgrey", "",       "#",        "0x10"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_MSG(!theme_color_parse(bad[i], &c), "'%s' parsed", bad[i]);
}

TEST(theme_rgb_to_256) {
    CHECK_EQ_INT(theme_rgb_to_256(0, 0, 0), 16);
    CHECK_EQ_INT(theme_rgb_to_256(255, 255, 255), 231);
    CHECK_EQ_INT(theme_rgb_to_256(255, 0, 0), 196);
    CHECK_EQ_INT(theme_rgb_to_256(0x5f, 0x87, 0xaf), 67);
    CHECK_EQ_INT(theme_rgb_to_256(0x1e, 0x90, 0xff), 33);
    CHECK_EQ_INT(theme_rgb_to_256(128, 128, 128), 244); /* the grey ramp: 8 + 10 * 12 */
    CHECK_EQ_INT(theme_rgb_to_256(0x30, 0x30, 0x30), 236);
    CHECK_EQ_INT(theme_rgb_to_256(0xee, 0xee, 0xee), 255);
    /* every cube and grey colour maps back to itself */
    for (int i = 16; i < 256; i++) {
        uint8_t r, g, b;
        theme_index_rgb((uint8_t)i, &r, &g, &b);
        CHECK_EQ_INT(theme_rgb_to_256(r, g, b), i);
    }
}

TEST(theme_rgb_to_basic) {
    CHECK_EQ_INT(theme_rgb_to_basic(250, 10, 10, 16), 9);
    CHECK_EQ_INT(theme_rgb_to_basic(250, 10, 10, 8), 1);
    CHECK_EQ_INT(theme_rgb_to_basic(0, 0, 200, 8), 4);
    CHECK_EQ_INT(theme_rgb_to_basic(0, 180, 0, 8), 2);
    CHECK_EQ_INT(theme_rgb_to_basic(200, 0, 200, 8), 5);
    CHECK_EQ_INT(theme_rgb_to_basic(0x20, 0xc0, 0xc0, 8), 6);
    /* nearest by the palette's values, not by hue: Solarized's azure blue is
     * nearer cyan, which is why themes can name their 8-colour choice */
    CHECK_EQ_INT(theme_rgb_to_basic(0x26, 0x8b, 0xd2, 8), 6);
    CHECK_EQ_INT(theme_rgb_to_basic(10, 10, 10, 8), 0);
    CHECK_EQ_INT(theme_rgb_to_basic(240, 240, 240, 8), 7);
}

TEST(theme_color_reduce) {
    theme_color c = rgb(0xff, 0, 0);
    CHECK(same_color(theme_color_reduce(c, 1 << 24), c));
    CHECK(same_color(theme_color_reduce(c, 256), idx(196)));
    CHECK(same_color(theme_color_reduce(c, 16), idx(9)));
    CHECK(same_color(theme_color_reduce(c, 8), idx(1)));
    CHECK(theme_color_reduce(c, 2).kind == THEME_COLOR_DEFAULT);
    CHECK(same_color(theme_color_reduce(idx(196), 256), idx(196)));
    CHECK(same_color(theme_color_reduce(idx(196), 8), idx(1)));
    CHECK(same_color(theme_color_reduce(idx(12), 8), idx(4)));
    CHECK(same_color(theme_color_reduce(idx(3), 8), idx(3)));
}

/* A list of alternatives: the first the terminal shows as written. */
TEST(theme_style_picks_alternatives) {
    theme t;
    theme_default(&t);
    theme_style s = theme_style_for(&t, THEME_TITLE, 1 << 24);
    CHECK(same_color(s.fg, rgb(255, 255, 255)) && same_color(s.bg, rgb(0, 0x5f, 0x87)));
    CHECK(s.attrs == THEME_BOLD);
    s = theme_style_for(&t, THEME_TITLE, 256);
    CHECK(same_color(s.fg, idx(231)) && same_color(s.bg, idx(24)));
    s = theme_style_for(&t, THEME_TITLE, 8);
    CHECK(same_color(s.fg, idx(7)) && same_color(s.bg, idx(4)));
    s = theme_style_for(&t, THEME_TITLE, 0);
    CHECK(s.fg.kind == THEME_COLOR_DEFAULT && s.attrs == THEME_BOLD);
    s = theme_style_for(&t, THEME_BODY, 256);
    CHECK(s.fg.kind == THEME_COLOR_DEFAULT && s.bg.kind == THEME_COLOR_DEFAULT);
    /* a single true colour is reduced */
    lm_error err;
    const char *text = "elements: {error: {fg: '#ff0000'}}";
    CHECK(theme_parse(&t, "t.yaml", text, strlen(text), NULL, &err) == 0);
    CHECK(same_color(theme_style_for(&t, THEME_ERROR, 256).fg, idx(196)));
    CHECK(same_color(theme_style_for(&t, THEME_ERROR, 8).fg, idx(1)));
}

/* ---- NO_COLOR ---- */

TEST(theme_no_color) {
    char *dir = data_dir();
    const char *old = getenv("NO_COLOR");
    char *saved = old ? strdup(old) : NULL;
    theme t, mono;
    theme_mono(&mono);
    lm_error err;
    setenv("NO_COLOR", "1", 1);
    CHECK(theme_load(&t, "solarized-dark", dir, NULL, &err) == 0);
    CHECK(t.no_color);
    CHECK_EQ_STR(t.name, "mono");
    CHECK(same_theme(&t, &mono));
    /* even a theme that does not exist */
    CHECK(theme_load(&t, "no-such-theme", dir, NULL, &err) == 0);
    /* an empty NO_COLOR does not count */
    setenv("NO_COLOR", "", 1);
    if (dir) {
        CHECK(theme_load(&t, "solarized-dark", dir, NULL, &err) == 0);
        CHECK(!t.no_color);
        CHECK_EQ_STR(t.name, "solarized-dark");
    }
    if (saved)
        setenv("NO_COLOR", saved, 1);
    else
        unsetenv("NO_COLOR");
    free(saved);
    free(dir);
}

/* ---- bad themes ---- */

static const char *theme_error(const char *text) {
    static lm_error err;
    theme t, d;
    err.msg[0] = 0;
    if (theme_parse(&t, "bad.yaml", text, strlen(text), NULL, &err) == 0) err.msg[0] = 0;
    theme_default(&d);
    if (err.msg[0]) CHECK_MSG(same_theme(&t, &d), "not the default theme after: %s", err.msg);
    return err.msg;
}

#define CHECK_THEME_ERROR(text, expect)                                                            \
    do {                                                                                           \
        const char *m_ = theme_error(text);                                                        \
        CHECK_MSG(strstr(m_, expect) != NULL, "for %s: got \"%s\"", #text, m_);                    \
    } while (0)

TEST(theme_bad_files) {
    CHECK_THEME_ERROR("elements: {title: {fg: purple}}\n",
                      "bad.yaml:1:24: elements.title.fg: 'purple' is not a colour");
    CHECK_THEME_ERROR(
        "elements:\n  title:\n    fg: #123456\n    bold: true\n",
        "bad.yaml:3:8: elements.title.fg: no colour given (a bare # starts a comment");
    CHECK_THEME_ERROR("elements: {title: {fg: [1, 2, 3, 4]}}\n", "expected 1 to 3 colours");
    CHECK_THEME_ERROR("elements: {title: {fg: []}}\n", "expected 1 to 3 colours");
    CHECK_THEME_ERROR("elements: {title: {bold: 1}}\n",
                      "elements.title.bold: expected true or false");
    CHECK_THEME_ERROR("elements: {title: red}\n", "elements.title: expected a map");
    CHECK_THEME_ERROR("elements: {title: {fg: red, fg: blue}}\n",
                      "elements.title.fg: key given twice");
    CHECK_THEME_ERROR("elements: {body: {}, body: {}}\n", "elements.body: key given twice");
    CHECK_THEME_ERROR("elements: [1]\n", "elements: expected a map");
    CHECK_THEME_ERROR("- a\n", "a theme is a map");
    CHECK_THEME_ERROR("elements: {title: {fg: *a}}\n", "aliases");
    CHECK_THEME_ERROR("elements: {title: {fg: "
                      "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[red]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}",
                      "nested too deeply");
    CHECK_THEME_ERROR("description: [\n", "bad.yaml:2:1:");
    /* unknown keys are warnings */
    theme t;
    lm_error err;
    config_messages w = {0};
    const char *text =
        "colours: 256\nelements: {scrollbar: {fg: red}, body: {fg: red, blink: true}}\n";
    CHECK(theme_parse(&t, "w.yaml", text, strlen(text), &w, &err) == 0);
    CHECK_EQ_INT(w.n, 3);
    if (w.n == 3) {
        CHECK_EQ_STR(w.items[0], "w.yaml:1:1: unknown key 'colours' (ignored)");
        CHECK_EQ_STR(w.items[1], "w.yaml:2:12: unknown key 'elements.scrollbar' (ignored)");
        CHECK_EQ_STR(w.items[2], "w.yaml:2:50: unknown key 'elements.body.blink' (ignored)");
    }
    CHECK(same_color(t.spec[THEME_BODY].fg[0], idx(1)));
    config_messages_free(&w);
}

/* ---- finding and listing ---- */

TEST(theme_lookup_order_and_list) {
    char *dir = data_dir();
    if (!dir) {
        test_skip("source tree not found");
        return;
    }
    no_color_off();
    char xdg[512], themes[600], path[700];
    snprintf(xdg, sizeof xdg, "%s/theme-xdg", test_tmpdir());
    snprintf(themes, sizeof themes, "%s/lmterm/themes", xdg);
    lm_error err = {{0}};
    CHECK(lm_mkdir_p(themes, &err) == 0);
    const char *mine = "description: mine\nelements: {title: {fg: 42}}\n";
    snprintf(path, sizeof path, "%s/light.yaml", themes);
    CHECK(lm_write_file_atomic(path, mine, strlen(mine), &err) == 0);
    snprintf(path, sizeof path, "%s/zebra.yaml", themes);
    CHECK(lm_write_file_atomic(path, mine, strlen(mine), &err) == 0);
    snprintf(path, sizeof path, "%s/not a theme.yaml", themes);
    CHECK(lm_write_file_atomic(path, mine, strlen(mine), &err) == 0);
    const char *old = getenv("XDG_CONFIG_HOME");
    char *saved = old ? strdup(old) : NULL;
    setenv("XDG_CONFIG_HOME", xdg, 1);

    theme t;
    /* the user's folder comes first */
    CHECK(theme_load(&t, "light", dir, NULL, &err) == 0);
    CHECK_EQ_STR(t.description, "mine");
    CHECK(same_color(t.spec[THEME_TITLE].fg[0], idx(42)));
    CHECK(theme_load(&t, "solarized-dark", dir, NULL, &err) == 0);
    CHECK(strstr(t.description, "Solarized") != NULL);
    /* a path */
    CHECK(theme_load(&t, path, dir, NULL, &err) == 0);
    CHECK_EQ_STR(t.name, "not a theme");
    /* not found, or not a name: the default theme and an error */
    theme d;
    theme_default(&d);
    CHECK(theme_load(&t, "nonesuch", dir, NULL, &err) == -1);
    CHECK_MSG(strstr(err.msg, "theme 'nonesuch' not found") != NULL, "%s", err.msg);
    CHECK(same_theme(&t, &d));
    CHECK(theme_load(&t, "../../etc/passwd", dir, NULL, &err) == -1);
    CHECK(theme_load(&t, ".hidden", dir, NULL, &err) == -1);
    CHECK(strstr(err.msg, "a name has only letters") != NULL);

    char **names;
    size_t n = theme_list(dir, &names);
    const char *want[] = {"default", "high-contrast", "light", "mono", "solarized-dark", "zebra"};
    CHECK_EQ_INT(n, 6);
    for (size_t i = 0; i < n && i < 6; i++) CHECK_EQ_STR(names[i], want[i]);
    theme_list_free(names, n);
    /* without any folder: the built-ins */
    setenv("XDG_CONFIG_HOME", test_tmpdir(), 1);
    n = theme_list(NULL, &names);
    CHECK_EQ_INT(n, 2);
    theme_list_free(names, n);

    if (saved)
        setenv("XDG_CONFIG_HOME", saved, 1);
    else
        unsetenv("XDG_CONFIG_HOME");
    free(saved);
    no_color_restore();
    free(dir);
}

TEST(theme_element_names) {
    for (int e = 0; e < THEME_N_ELEMENTS; e++)
        CHECK_EQ_INT(theme_element_from_name(theme_element_name((enum theme_element)e)), e);
    CHECK_EQ_INT(theme_element_from_name("nope"), -1);
}

/* Found by fuzz_theme: a key with a line break made a two-line warning. */
TEST(theme_messages_are_one_line) {
    theme t;
    lm_error err;
    config_messages w = {0};
    const char *text = "\"a\\nb\": 1\nelements: {\"x\\ny\": {}, body: {\"p\\rq\": 1}}\n";
    CHECK(theme_parse(&t, "w.yaml", text, strlen(text), &w, &err) == 0);
    CHECK_EQ_INT(w.n, 3);
    for (size_t i = 0; i < w.n; i++) CHECK_MSG(!strpbrk(w.items[i], "\r\n"), "%s", w.items[i]);
    if (w.n == 3) CHECK_EQ_STR(w.items[0], "w.yaml:1:1: unknown key 'a?b' (ignored)");
    config_messages_free(&w);
    CHECK(theme_load(&t, "bad\nname", NULL, NULL, &err) == -1 || getenv("NO_COLOR"));
    CHECK(!strchr(err.msg, '\n'));
}

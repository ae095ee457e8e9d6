/* markdown: where the block markers and inline spans of a reply are. Each
 * case renders a line as text with the spans written back as tags, e.g.
 * "a **b**" -> "a <S>b</S>", so that a case reads as what the screen shows. */
#include "markdown.h"
#include "test.h"

#include <stdio.h>
#include <string.h>

typedef struct tagged {
    char out[512];
    size_t len;
    unsigned spans;
} tagged;

static void put(tagged *t, const char *s) {
    size_t n = strlen(s);
    if (t->len + n < sizeof t->out) memcpy(t->out + t->len, s, n), t->len += n;
    t->out[t->len] = 0;
}

static void set_spans(tagged *t, unsigned spans) {
    static const struct {
        unsigned bit;
        const char *open, *close;
    } tags[] = {{MD_STRONG, "<S>", "</S>"}, {MD_EMPH, "<E>", "</E>"}, {MD_CODE, "<C>", "</C>"}};
    for (int i = 2; i >= 0; i--)
        if ((t->spans & tags[i].bit) && !(spans & tags[i].bit)) put(t, tags[i].close);
    for (int i = 0; i < 3; i++)
        if (!(t->spans & tags[i].bit) && (spans & tags[i].bit)) put(t, tags[i].open);
    t->spans = spans;
}

static const char *line_of;

static void run(void *ctx, size_t off, size_t len, unsigned spans) {
    tagged *t = ctx;
    set_spans(t, spans);
    char piece[256];
    snprintf(piece, sizeof piece, "%.*s", (int)len, line_of + off);
    put(t, piece);
}

static const char *render(const char *line, size_t from, size_t to) {
    static tagged t;
    memset(&t, 0, sizeof t);
    line_of = line;
    md_inline(line, strlen(line), from, to, run, &t);
    set_spans(&t, 0);
    return t.out;
}

#define CHECK_RENDERS(line, want)                                                                  \
    do {                                                                                           \
        const char *got_ = render(line, 0, strlen(line));                                          \
        CHECK_MSG(strcmp(got_, want) == 0, "%s -> %s, want %s", line, got_, want);                 \
    } while (0)

TEST(markdown_inline_spans) {
    CHECK_RENDERS("plain text", "plain text");
    CHECK_RENDERS("a **bold** word", "a <S>bold</S> word");
    CHECK_RENDERS("a __bold__ word", "a <S>bold</S> word");
    CHECK_RENDERS("an *italic* word", "an <E>italic</E> word");
    CHECK_RENDERS("an _italic_ word", "an <E>italic</E> word");
    CHECK_RENDERS("call `f(*p)` now", "call <C>f(*p)</C> now");
    CHECK_RENDERS("``a ` b``", "<C>a ` b</C>");
    CHECK_RENDERS("***both***", "<S><E>both</E></S>");
    CHECK_RENDERS("**bold with *italic* inside**", "<S>bold with <E>italic</E> inside</S>");
}

TEST(markdown_inline_literal_text) {
    CHECK_RENDERS("2 * 3 * 4", "2 * 3 * 4");             /* spaced: arithmetic */
    CHECK_RENDERS("snake_case_name", "snake_case_name"); /* _ inside words */
    CHECK_RENDERS("**not closed", "**not closed");       /* streaming, or a stray marker */
    CHECK_RENDERS("`not closed", "`not closed");
    CHECK_RENDERS("\\*escaped\\*", "*escaped*");
    CHECK_RENDERS("**a** and **b**", "<S>a</S> and <S>b</S>");
    CHECK_RENDERS("", "");
}

TEST(markdown_inline_wrapped_part) {
    /* A wrapped line drawn on its own: the span opened before it goes on. */
    const char *line = "one **two three** four";
    const char *a = render(line, 10, strlen(line));
    CHECK_MSG(strcmp(a, "<S>three</S> four") == 0, "from 10: %s", a);
    const char *b = render(line, 0, 10);
    CHECK_MSG(strcmp(b, "one <S>two </S>") == 0, "to 10: %s", b);
}

static void check_block(const char *line, enum md_block want, size_t marker, size_t len) {
    size_t m = 99, l = 99;
    enum md_block got = md_block_of(line, strlen(line), &m, &l);
    CHECK_MSG(got == want && m == marker && l == len, "%s: block %d at %zu+%zu, want %d at %zu+%zu",
              line, got, m, l, want, marker, len);
}

TEST(markdown_blocks) {
    check_block("# Title", MD_HEADING, 0, 2);
    check_block("### Third  level", MD_HEADING, 0, 4);
    check_block("#hashtag", MD_PARA, 0, 0);
    check_block("####### seven", MD_PARA, 0, 0);
    check_block("- item", MD_BULLET, 0, 2);
    check_block("  * item", MD_BULLET, 2, 2);
    check_block("+ item", MD_BULLET, 0, 2);
    check_block("-item", MD_PARA, 0, 0);
    check_block("12. twelfth", MD_NUMBER, 0, 4);
    check_block("3) third", MD_NUMBER, 0, 3);
    check_block("2024 was a year", MD_PARA, 0, 0);
    check_block("> quoted", MD_QUOTE, 0, 2);
    check_block(">quoted", MD_QUOTE, 0, 1);
    check_block("    - code-like indent", MD_PARA, 0, 0);
    check_block("", MD_PARA, 0, 0);
}

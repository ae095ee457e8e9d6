/* markdown: the little Markdown a reply is drawn with. Block markers at the
 * start of a line (headings, bullet and numbered lists, block quotes) and
 * inline spans (**strong**, *emphasis* or _emphasis_, `code`). The text is
 * never changed: the chat keeps and saves what the model wrote, and the
 * screen asks this module where the markers are. Fenced code blocks are the
 * view's own business. A marker that is not closed on its line stays text,
 * so a reply that is still streaming shows "**bol" until the closing "**". */
#ifndef LMTERM_MARKDOWN_H
#define LMTERM_MARKDOWN_H

#include <stddef.h>

enum md_block { MD_PARA, MD_HEADING, MD_BULLET, MD_NUMBER, MD_QUOTE };

/* The block one line of text (without its '\n') starts. *marker and
 * *marker_len: where its marker is ("## ", "- ", "12. ", "> "), after up to
 * three spaces of indentation; 0 and 0 for MD_PARA. */
enum md_block md_block_of(const char *line, size_t n, size_t *marker, size_t *marker_len);

enum { MD_STRONG = 1, MD_EMPH = 2, MD_CODE = 4 };

/* Called for each run of visible text, with the bytes' offset in the line
 * and the spans (MD_*) they are in. */
typedef void (*md_run_fn)(void *ctx, size_t off, size_t len, unsigned spans);

/* The inline spans of line[0..n): the runs of text within [from, to), with
 * the markers that open and close spans, and the backslashes of escaped
 * marker characters, left out. The state at `from` is that of the whole line
 * before it, so a wrapped line can be drawn on its own. */
void md_inline(const char *line, size_t n, size_t from, size_t to, md_run_fn fn, void *ctx);

#endif

/* history: the lines a user typed, kept by readline and in
 * $XDG_STATE_HOME/lmterm/history. Messages can span lines, so each entry is
 * written after a timestamp line, which is how readline tells multi-line
 * entries apart when it reads the file back. */
#include "history.h"

#include "paths.h"
#include "util.h"

#include <readline/history.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HISTORY_MAX 1000

static char *history_file;

static char *history_path(void) {
    char *dir = paths_lmterm(PATHS_STATE, NULL);
    lm_error err;
    if (!dir || lm_mkdir_p(dir, &err)) {
        free(dir);
        return NULL;
    }
    lm_buf b = {0};
    lm_buf_printf(&b, "%s/history", dir);
    free(dir);
    return (char *)lm_buf_cstr(&b);
}

void history_open(void) {
    if (history_file) return;
    using_history();
    stifle_history(HISTORY_MAX);
    history_comment_char = '#'; /* timestamps are written only with a comment character */
    history_write_timestamps = 1;
    history_multiline_entries = 1;
    history_file = history_path();
    if (history_file) read_history(history_file);
}

void history_add(const char *line) {
    if (!*line) return;
    HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
    if (last && strcmp(last->line, line) == 0) return; /* no repeats in a row */
    add_history(line);
    if (!history_file) return;
    if (append_history(1, history_file) != 0) write_history(history_file);
    history_truncate_file(history_file, HISTORY_MAX);
}

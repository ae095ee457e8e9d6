/* conversations: see include/app/conversations.h. A saved conversation is
 * read whole: transcripts are small. */
#include "conversations.h"

#include "transcript.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_LISTED_FILES 4096 /* directory entries looked at, at most */

/* The first line of text, cut to fit out without splitting a character. */
static void first_line(const char *text, char *out, size_t size) {
    while (*text == ' ' || *text == '\n') text++;
    size_t n = strcspn(text, "\n"), used = 0;
    while (used < n) {
        int len = utf8_seq_len((unsigned char)text[used]);
        if (len == 0) len = 1;
        if (used + (size_t)len >= size) break;
        used += (size_t)len;
    }
    snprintf(out, size, "%.*s", (int)used, text);
}

static void read_conversation(saved_conversation *sc) {
    chat c;
    chat_init(&c, CHAT_TEMPLATE_LLAMA3);
    transcript_meta meta;
    lm_error err;
    if (transcript_load_json(sc->path, &c, &meta, &err) != 0) {
        snprintf(sc->error, sizeof sc->error, "%s", err.msg);
    } else {
        snprintf(sc->model, sizeof sc->model, "%s", meta.model_name);
        sc->n_messages = c.n;
        for (size_t i = 0; i < c.n; i++)
            if (c.msgs[i].role == CHAT_ROLE_USER) {
                first_line(c.msgs[i].content, sc->first, sizeof sc->first);
                break;
            }
    }
    chat_free(&c);
}

/* By time saved, to the nanosecond (two saves can share a second); then
 * by name, whose time stamp says which was started later. */
static int newest_first(const void *a, const void *b) {
    const saved_conversation *x = a, *y = b;
    if (x->mtime != y->mtime) return x->mtime < y->mtime ? 1 : -1;
    if (x->mtime_nsec != y->mtime_nsec) return x->mtime_nsec < y->mtime_nsec ? 1 : -1;
    return strcmp(y->path, x->path);
}

/* Every *.json in dir with its time, not yet read. */
static size_t list_json(const char *dir, saved_conversation **out) {
    DIR *d = opendir(dir);
    size_t n = 0, looked = 0;
    *out = NULL;
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d)) && looked++ < MAX_LISTED_FILES) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len <= 5 || strcmp(e->d_name + len - 5, ".json") != 0) continue;
        lm_buf path = {0};
        lm_buf_printf(&path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path.data, &st) != 0 || !S_ISREG(st.st_mode)) {
            lm_buf_free(&path);
            continue;
        }
        *out = lm_xrealloc(*out, (n + 1) * sizeof **out);
        (*out)[n++] = (saved_conversation){
            .path = path.data, .mtime = st.st_mtim.tv_sec, .mtime_nsec = st.st_mtim.tv_nsec};
    }
    closedir(d);
    return n;
}

size_t conversations_list(const char *dir, size_t max, saved_conversation **out) {
    size_t n = list_json(dir, out);
    if (n) qsort(*out, n, sizeof **out, newest_first);
    for (size_t i = max; i < n; i++) free((*out)[i].path);
    if (n > max) n = max;
    for (size_t i = 0; i < n; i++) read_conversation(&(*out)[i]);
    return n;
}

void conversations_free(saved_conversation *list, size_t n) {
    for (size_t i = 0; i < n; i++) free(list[i].path);
    free(list);
}

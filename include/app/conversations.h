/* conversations: the saved transcripts of the transcripts folder, read for
 * the conversations list (F6, /load). */
#ifndef LMTERM_CONVERSATIONS_H
#define LMTERM_CONVERSATIONS_H

#include <stddef.h>
#include <time.h>

/* A transcript in the transcripts folder, for the conversations list. */
typedef struct saved_conversation {
    char *path;
    time_t mtime; /* when it was last saved */
    long mtime_nsec;
    char model[128]; /* the model's name when it was saved */
    char first[160]; /* the first line of the first user message */
    size_t n_messages;
    char error[512]; /* not empty: the file does not load */
} saved_conversation;

/* The *.json files of dir, newest first, at most max. Caller frees. */
size_t conversations_list(const char *dir, size_t max, saved_conversation **out);
void conversations_free(saved_conversation *list, size_t n);

#endif

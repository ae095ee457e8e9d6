/* transcript: conversations on disk. JSON holds everything needed to rebuild
 * the exact prompt (and so resume); Markdown is for reading. Every write is
 * atomic: the previous file survives any failure. */
#ifndef LMTERM_TRANSCRIPT_H
#define LMTERM_TRANSCRIPT_H

#include "chat.h"
#include "sampler.h"

typedef struct transcript_meta {
    char model_path[1024]; /* local: the file; remote: the server's model id */
    char backend[16];      /* "local", "openai"; "" in older files: local */
    char server[512];      /* remote: the base URL */
    char api_key_env[64];  /* remote: the variable holding the key (never the key) */
    char model_name[128];
    char precision[16];
    sampler_params sampling;
    double created; /* Unix seconds */
} transcript_meta;

int transcript_save_json(const chat *c, const transcript_meta *meta, const char *path,
                         lm_error *err);
int transcript_save_markdown(const chat *c, const transcript_meta *meta, const char *path,
                             lm_error *err);
/* Replaces *c (initialised by the caller) with the file's conversation. A
 * corrupt or truncated file gives "FILE: what is wrong" and leaves *c as it was. */
int transcript_load_json(const char *path, chat *c, transcript_meta *meta, lm_error *err);

/* $XDG_DATA_HOME/lmterm/transcripts (created); caller frees. */
char *transcript_default_dir(lm_error *err);

#endif

/* catalog: model files and saved conversations, read cheaply from their
 * headers, for the model menu, `lmterm ls` and the conversations list. */
#ifndef LMTERM_CATALOG_H
#define LMTERM_CATALOG_H

#include "quant.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define CATALOG_N_PRECISIONS 5 /* native, fp32, fp16, int8, int4 */

/* What the model menu shows of a GGUF file, from its metadata alone. */
typedef struct model_meta {
    bool ok;
    char error[512]; /* !ok: why the file cannot be read */
    char name[128];  /* general.name, may be empty */
    char arch[24];   /* general.architecture */
    uint64_t params; /* elements of the matrices */
    uint64_t file_bytes;
    enum quant_type type; /* the type most layer matrices are stored as */
    int n_ctx_train;
    uint64_t weight_bytes[CATALOG_N_PRECISIONS]; /* the matrices at each precision */
} model_meta;

typedef struct model_catalog model_catalog;
model_catalog *catalog_create(void);
void catalog_free(model_catalog *c);
/* The file's metadata, cached by path, size and modification time. The
 * pointer stays valid until catalog_free. */
const model_meta *catalog_model(model_catalog *c, const char *path);

/* GGUF files lmterm did not find through its configuration: pulled ones
 * (the hub's models folder) and other tools' stores, read-only: ollama's
 * (OLLAMA_MODELS or ~/.ollama/models; each manifest's model layer, a blob
 * opened in place), the Hugging Face cache (HF_HUB_CACHE, HF_HOME/hub,
 * ~/.cache/huggingface/hub) and llama.cpp's (LLAMA_CACHE, ~/.cache/llama.cpp).
 * See catalog_stores.c. */
typedef struct catalog_found {
    char name[192]; /* "ollama: phi3:latest", "org/name FILE", a pulled file's stem */
    char path[4096];
    const char *source; /* "pulled", "ollama", "hf-cache", "llama.cpp" */
} catalog_found;

/* Scans the stores (bounded: depth, entries). Entries that cannot be read are
 * skipped; notice (when not NULL) gets one line about them, or "". Caller frees. */
size_t catalog_found_models(catalog_found **out, char notice[256]);

/* The path of the found model named name: its name as listed, or for
 * ollama's also "NAME:TAG" and "NAME" (tag latest). Caller frees; NULL when
 * none is. */
char *catalog_find_found(const char *name);

/* "1.05 M", "3.82 B": a count of parameters, into buf. */
const char *catalog_count_text(uint64_t n, char buf[16]);

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
size_t catalog_conversations(const char *dir, size_t max, saved_conversation **out);
void catalog_conversations_free(saved_conversation *list, size_t n);

#endif

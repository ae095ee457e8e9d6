/* catalog: GGUF model files, read cheaply from their headers, and the ones
 * other tools keep. backend_local answers the model menu from it (the
 * session sees backend.h's backend_model_meta, never this), and so do
 * `lmterm ls` and the command line's model lookup. Saved conversations are
 * conversations.h's. */
#ifndef LMTERM_CATALOG_H
#define LMTERM_CATALOG_H

#include "backend.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct model_catalog model_catalog;
model_catalog *catalog_create(void);
void catalog_free(model_catalog *c);
/* The file's metadata, cached by path, size and modification time. The
 * pointer stays valid until catalog_free. */
const backend_model_meta *catalog_model(model_catalog *c, const char *path);

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

#endif

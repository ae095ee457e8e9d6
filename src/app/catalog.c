/* catalog: what the model menu shows of a model file, read cheaply. A file
 * is opened only for its metadata and tensor directory (gguf_open maps it
 * and reads no weights); the answer is kept until the file changes, so
 * opening the menu again costs a stat() per file. No curses here. */
#include "catalog.h"

#include "gguf.h"
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct cached_meta {
    char *path;
    off_t size;
    struct timespec mtime;
    backend_model_meta *meta; /* a pointer, so that it stays put as the list grows */
} cached_meta;

struct model_catalog {
    cached_meta *items;
    size_t n;
};

model_catalog *catalog_create(void) {
    return lm_xcalloc(1, sizeof(model_catalog));
}

void catalog_free(model_catalog *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->items[i].path);
        free(c->items[i].meta);
    }
    free(c->items);
    free(c);
}

/* ---- one model file ---- */

static bool is_layer_matrix(const gguf_tensor *t) {
    return t->n_dims >= 2 && strncmp(t->name, "blk.", 4) == 0;
}

/* The type most layer matrices have (ties: the first seen). */
static enum quant_type main_type(const gguf_file *f) {
    uint64_t count[QT_COUNT] = {0};
    uint32_t best = QT_COUNT;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        if (!is_layer_matrix(t) || t->type >= QT_COUNT) continue;
        if (++count[t->type] > (best < QT_COUNT ? count[best] : 0)) best = t->type;
    }
    return best < QT_COUNT ? (enum quant_type)best : QT_F32;
}

static void read_meta(const gguf_file *f, backend_model_meta *m) {
    gguf_str s;
    if (gguf_get_str(f, "general.name", &s))
        snprintf(m->name, sizeof m->name, "%.*s", (int)(s.len < 127 ? s.len : 127), s.ptr);
    if (gguf_get_str(f, "general.architecture", &s))
        snprintf(m->arch, sizeof m->arch, "%.*s", (int)(s.len < 23 ? s.len : 23), s.ptr);
    char key[64];
    snprintf(key, sizeof key, "%s.context_length", m->arch);
    uint32_t ctx = 0;
    if (m->arch[0] && gguf_get_u32(f, key, &ctx) && ctx <= (1u << 30)) m->n_ctx_train = (int)ctx;
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (f->tensors[i].n_dims >= 2) m->params += f->tensors[i].n_elements;
    m->file_bytes = f->size;
    m->type = main_type(f);
    for (int p = 0; p < BACKEND_N_PRECISIONS; p++)
        m->weight_bytes[p] = model_estimate_weight_bytes(f, (enum model_precision)p);
    m->ok = true;
}

static void open_meta(const char *path, backend_model_meta *m) {
    memset(m, 0, sizeof *m);
    lm_error err;
    gguf_file *f = gguf_open(path, &err);
    if (!f) {
        snprintf(m->error, sizeof m->error, "%s", err.msg);
        return;
    }
    read_meta(f, m);
    gguf_close(f);
}

const backend_model_meta *catalog_model(model_catalog *c, const char *path) {
    struct stat st;
    bool exists = stat(path, &st) == 0;
    cached_meta *hit = NULL;
    for (size_t i = 0; i < c->n && !hit; i++)
        if (strcmp(c->items[i].path, path) == 0) hit = &c->items[i];
    if (hit && exists && hit->size == st.st_size && hit->mtime.tv_sec == st.st_mtim.tv_sec &&
        hit->mtime.tv_nsec == st.st_mtim.tv_nsec)
        return hit->meta;
    if (!hit) {
        c->items = lm_xrealloc(c->items, (c->n + 1) * sizeof *c->items);
        hit = &c->items[c->n++];
        hit->path = lm_xstrdup(path);
        hit->meta = lm_xmalloc(sizeof *hit->meta);
    }
    hit->size = exists ? st.st_size : -1;
    hit->mtime = exists ? st.st_mtim : (struct timespec){0};
    open_meta(path, hit->meta);
    return hit->meta;
}

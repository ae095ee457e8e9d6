/* catalog: what the model menu and the conversations list show, read
 * cheaply. A model file is opened only for its metadata and tensor
 * directory (gguf_open maps it and reads no weights); the answer is kept
 * until the file changes, so opening the menu again costs a stat() per file.
 * Saved conversations are read whole: they are small. No curses here. */
#include "catalog.h"

#include "transcript.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_LISTED_FILES 4096 /* directory entries looked at, at most */

typedef struct cached_meta {
    char *path;
    off_t size;
    struct timespec mtime;
    model_meta *meta; /* a pointer, so that it stays put as the list grows */
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

const char *catalog_count_text(uint64_t n, char buf[16]) {
    if (n >= 1000000000)
        snprintf(buf, 16, "%.2f B", (double)n / 1e9);
    else if (n >= 1000000)
        snprintf(buf, 16, "%.2f M", (double)n / 1e6);
    else
        snprintf(buf, 16, "%.1f K", (double)n / 1e3);
    return buf;
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

static void read_meta(const gguf_file *f, model_meta *m) {
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
    for (int p = 0; p < CATALOG_N_PRECISIONS; p++)
        m->weight_bytes[p] = model_estimate_weight_bytes(f, (enum model_precision)p);
    m->ok = true;
}

static void open_meta(const char *path, model_meta *m) {
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

const model_meta *catalog_model(model_catalog *c, const char *path) {
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

/* ---- saved conversations ---- */

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

size_t catalog_conversations(const char *dir, size_t max, saved_conversation **out) {
    size_t n = list_json(dir, out);
    if (n) qsort(*out, n, sizeof **out, newest_first);
    for (size_t i = max; i < n; i++) free((*out)[i].path);
    if (n > max) n = max;
    for (size_t i = 0; i < n; i++) read_conversation(&(*out)[i]);
    return n;
}

void catalog_conversations_free(saved_conversation *list, size_t n) {
    for (size_t i = 0; i < n; i++) free(list[i].path);
    free(list);
}

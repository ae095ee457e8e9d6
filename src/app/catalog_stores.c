/* catalog: the GGUF files of other tools' stores and of `lmterm pull`,
 * found by their layouts alone (no file is opened here but ollama's small
 * manifests: the headers are read later, by catalog_model, and cached). */
#include "catalog.h"

#include "hub.h"
#include "json.h"
#include "paths.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define STORES_MAX_FOUND 512
#define STORES_MAX_ENTRIES 20000 /* directory entries looked at, all stores together */
#define STORES_MANIFEST_MAX (1 << 20)
#define OLLAMA_MODEL_MEDIA "application/vnd.ollama.image.model"

typedef struct stores_scan {
    catalog_found *found;
    size_t n;
    size_t entries;
    size_t skipped;
    char first_skipped[200];
    char **real; /* realpaths listed, so a file is listed once */
    size_t n_real;
} stores_scan;

static void stores_skip(stores_scan *s, const char *what) {
    if (!s->skipped++) snprintf(s->first_skipped, sizeof s->first_skipped, "%.199s", what);
}

static bool stores_has_gguf_suffix(const char *name) {
    size_t n = strlen(name);
    return n > 5 && strcasecmp(name + n - 5, ".gguf") == 0;
}

static void stores_add(stores_scan *s, const char *source, const char *name, const char *path) {
    if (s->n >= STORES_MAX_FOUND) return;
    char *real = realpath(path, NULL);
    if (!real) return stores_skip(s, path);
    for (size_t i = 0; i < s->n_real; i++)
        if (strcmp(s->real[i], real) == 0) {
            free(real);
            return;
        }
    s->real = lm_xrealloc(s->real, (s->n_real + 1) * sizeof *s->real);
    s->real[s->n_real++] = real;
    s->found = lm_xrealloc(s->found, (s->n + 1) * sizeof *s->found);
    catalog_found *f = &s->found[s->n++];
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->path, sizeof f->path, "%s", path);
    f->source = source;
}

/* $VAR when set, else base/rel (base from the XDG cache folder when NULL). */
static char *stores_dir(const char *var, const char *base, const char *rel) {
    const char *v = var ? getenv(var) : NULL;
    if (v && *v) return lm_xstrdup(v);
    char *b = base ? lm_xstrdup(base) : paths_xdg_base(PATHS_CACHE);
    if (!b) return NULL;
    lm_buf p = {0};
    lm_buf_printf(&p, "%s/%s", b, rel);
    free(b);
    char *out = lm_xstrdup(lm_buf_cstr(&p));
    lm_buf_free(&p);
    return out;
}

/* Calls fn for each regular *.gguf file under dir (depth levels of folders). */
typedef void (*stores_file_fn)(stores_scan *s, const char *path, const char *name, void *ctx);

static void stores_walk(stores_scan *s, const char *dir, int depth, stores_file_fn fn, void *ctx) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) && ++s->entries <= STORES_MAX_ENTRIES) {
        if (e->d_name[0] == '.') continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
        struct stat st;
        if (stat(path, &st) != 0) {
            if (stores_has_gguf_suffix(e->d_name)) stores_skip(s, path); /* a broken link */
            continue;
        }
        if (S_ISREG(st.st_mode) && stores_has_gguf_suffix(e->d_name))
            fn(s, path, e->d_name, ctx);
        else if (S_ISDIR(st.st_mode) && depth > 0)
            stores_walk(s, path, depth - 1, fn, ctx);
    }
    closedir(d);
}

/* ---- pulled and llama.cpp: plain folders ---- */

static void stores_plain_file(stores_scan *s, const char *path, const char *name, void *ctx) {
    const char *source = ctx;
    char label[192];
    size_t n = strlen(name) - 5; /* without .gguf */
    if (strcmp(source, "pulled") == 0)
        snprintf(label, sizeof label, "%.*s", (int)n, name);
    else
        snprintf(label, sizeof label, "%s: %.*s", source, (int)n, name);
    stores_add(s, source, label, path);
}

/* ---- the Hugging Face cache: models--ORG--NAME/snapshots/REV/... ---- */

static void stores_hf_file(stores_scan *s, const char *path, const char *name, void *ctx) {
    (void)name;
    const char *repo = ctx;
    /* the path inside the snapshot: after ".../snapshots/REV/" */
    const char *snap = strstr(path, "/snapshots/");
    const char *rel = snap ? strchr(snap + 11, '/') : NULL;
    char label[192];
    snprintf(label, sizeof label, "%s %s", repo, rel ? rel + 1 : name);
    stores_add(s, "hf-cache", label, path);
}

static void stores_hf_cache(stores_scan *s, const char *hub) {
    DIR *d = opendir(hub);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) && ++s->entries <= STORES_MAX_ENTRIES) {
        if (strncmp(e->d_name, "models--", 8) != 0) continue;
        char repo[160];
        size_t k = 0;
        for (const char *p = e->d_name + 8; *p && k + 1 < sizeof repo; p++) {
            if (p[0] == '-' && p[1] == '-') {
                repo[k++] = '/';
                p++;
            } else {
                repo[k++] = *p;
            }
        }
        repo[k] = 0;
        char snaps[PATH_MAX];
        if (snprintf(snaps, sizeof snaps, "%s/%s/snapshots", hub, e->d_name) >= (int)sizeof snaps)
            continue;
        stores_walk(s, snaps, 3, stores_hf_file, repo);
    }
    closedir(d);
}

/* ---- ollama: manifests/HOST/NAMESPACE/MODEL/TAG -> blobs/sha256-HEX ---- */

/* The model layer's blob of one manifest, into blob; false when none. */
static bool ollama_model_blob(const char *root, const char *manifest, char *blob, size_t size) {
    char *text = NULL;
    size_t len;
    if (lm_read_file(manifest, STORES_MANIFEST_MAX, &text, &len, NULL) != 0) return false;
    json_value *v = json_parse(text, len, NULL);
    free(text);
    const json_value *layers = v ? json_get(v, "layers") : NULL;
    bool found = false;
    for (size_t i = 0; layers && layers->kind == JSON_ARRAY && i < layers->len && !found; i++) {
        const json_value *l = &layers->items[i];
        if (strcmp(json_get_str(l, "mediaType", ""), OLLAMA_MODEL_MEDIA) != 0) continue;
        const char *digest = json_get_str(l, "digest", "");
        /* "sha256:HEX" names the file "sha256-HEX"; nothing else may reach the path */
        if (strncmp(digest, "sha256:", 7) != 0 || strlen(digest) != 71) break;
        bool hex = true;
        for (int k = 7; k < 71 && hex; k++) hex = strchr("0123456789abcdef", digest[k]) != NULL;
        if (!hex) break;
        found = snprintf(blob, size, "%s/blobs/sha256-%s", root, digest + 7) < (int)size;
    }
    json_free(v);
    return found;
}

/* "phi3:latest" for the default registry and namespace, else host/ns/model:tag. */
static void ollama_name(const char *host, const char *ns, const char *model, const char *tag,
                        char *out, size_t size) {
    if (strcmp(host, "registry.ollama.ai") == 0 && strcmp(ns, "library") == 0)
        snprintf(out, size, "ollama: %s:%s", model, tag);
    else if (strcmp(host, "registry.ollama.ai") == 0)
        snprintf(out, size, "ollama: %s/%s:%s", ns, model, tag);
    else
        snprintf(out, size, "ollama: %s/%s/%s:%s", host, ns, model, tag);
}

/* Each level of manifests/ is a folder of names; the fourth holds the tags. */
static void ollama_level(stores_scan *s, const char *root, const char *dir, const char *parts[4],
                         int level) {
    DIR *d = opendir(dir);
    if (!d) {
        if (level > 0) stores_skip(s, dir);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) && ++s->entries <= STORES_MAX_ENTRIES) {
        if (e->d_name[0] == '.') continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
        parts[level] = e->d_name;
        if (level < 3) {
            ollama_level(s, root, path, parts, level + 1);
            continue;
        }
        char blob[PATH_MAX], name[192];
        if (!ollama_model_blob(root, path, blob, sizeof blob)) {
            stores_skip(s, path);
            continue;
        }
        ollama_name(parts[0], parts[1], parts[2], parts[3], name, sizeof name);
        struct stat st;
        if (stat(blob, &st) != 0 || !S_ISREG(st.st_mode)) {
            stores_skip(s, blob);
            continue;
        }
        stores_add(s, "ollama", name, blob);
    }
    closedir(d);
}

static void stores_ollama(stores_scan *s) {
    const char *home = paths_home();
    char *root = stores_dir("OLLAMA_MODELS", home, ".ollama/models");
    if (!root) return;
    char manifests[PATH_MAX];
    const char *parts[4] = {0};
    if (snprintf(manifests, sizeof manifests, "%s/manifests", root) < (int)sizeof manifests)
        ollama_level(s, root, manifests, parts, 0);
    free(root);
}

size_t catalog_found_models(catalog_found **out, char notice[256]) {
    stores_scan s = {0};
    char *pulled = hub_models_dir();
    if (pulled) stores_walk(&s, pulled, 2, stores_plain_file, "pulled");
    free(pulled);
    stores_ollama(&s);
    char *hf_home = stores_dir("HF_HOME", NULL, "huggingface");
    char *hf_hub = NULL;
    if (getenv("HF_HUB_CACHE") && *getenv("HF_HUB_CACHE"))
        hf_hub = lm_xstrdup(getenv("HF_HUB_CACHE"));
    else if (getenv("HUGGINGFACE_HUB_CACHE") && *getenv("HUGGINGFACE_HUB_CACHE"))
        hf_hub = lm_xstrdup(getenv("HUGGINGFACE_HUB_CACHE"));
    else if (hf_home)
        hf_hub = stores_dir(NULL, hf_home, "hub");
    if (hf_hub) stores_hf_cache(&s, hf_hub);
    free(hf_hub);
    free(hf_home);
    char *llama = stores_dir("LLAMA_CACHE", NULL, "llama.cpp");
    if (llama) stores_walk(&s, llama, 2, stores_plain_file, "llama.cpp");
    free(llama);
    for (size_t i = 0; i < s.n_real; i++) free(s.real[i]);
    free(s.real);
    if (notice) {
        notice[0] = 0;
        if (s.skipped)
            snprintf(notice, 256, "skipped %zu unreadable model store entr%s (%.150s)", s.skipped,
                     s.skipped == 1 ? "y" : "ies", s.first_skipped);
    }
    *out = s.found;
    return s.n;
}

char *catalog_find_found(const char *name) {
    catalog_found *found;
    size_t n = catalog_found_models(&found, NULL);
    char *path = NULL;
    char as_ollama[200], as_latest[220];
    snprintf(as_ollama, sizeof as_ollama, "ollama: %.180s", name);
    snprintf(as_latest, sizeof as_latest, "%s:latest", as_ollama);
    for (int pass = 0; pass < 3 && !path; pass++)
        for (size_t i = 0; i < n && !path; i++) {
            const char *want = pass == 0 ? name : pass == 1 ? as_ollama : as_latest;
            if (strcmp(found[i].name, want) == 0) path = lm_xstrdup(found[i].path);
        }
    free(found);
    return path;
}

/* hub: reading the hub's file list (the tree API's JSON), apart from the
 * transfers so that the fuzz target links it alone. The answer is hostile
 * until checked: a path that is absolute or has a ".." component, or a size
 * that is not a count of bytes, leaves its entry out. */
#include "hub.h"

#include "json.h"

#include <ctype.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* A path to refuse: a ".." component, or a control character (it becomes a
 * file name here). */
static bool hub_bad_path(const char *p) {
    for (const char *c = p; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) return true;
    for (const char *c = p; (c = strstr(c, "..")); c += 2)
        if ((c == p || c[-1] == '/') && (c[2] == 0 || c[2] == '/')) return true;
    return false;
}

int hub_parse_list(const char *text, size_t len, hub_list *out, lm_error *err) {
    json_value *v = json_parse(text, len, err);
    if (!v) return -1;
    if (v->kind != JSON_ARRAY) {
        json_free(v);
        return lm_fail(err, "the file list is not a JSON array");
    }
    for (size_t i = 0; i < v->len; i++) {
        const json_value *it = &v->items[i];
        if (strcmp(json_get_str(it, "type", ""), "file") != 0) continue;
        const char *path = json_get_str(it, "path", NULL);
        double size = json_get_num(it, "size", -1);
        if (!path || !*path || strlen(path) > 1000 || path[0] == '/' || hub_bad_path(path) ||
            !(size >= 0 && size < 1e15))
            continue; /* not a name we would write, or not a size */
        const json_value *lfs = json_get(it, "lfs");
        const char *oid = lfs ? json_get_str(lfs, "oid", "") : "";
        out->files = lm_xrealloc(out->files, (out->n + 1) * sizeof *out->files);
        hub_file *f = &out->files[out->n++];
        memset(f, 0, sizeof *f);
        f->path = lm_xstrdup(path);
        f->size = (uint64_t)size;
        if (lfs) {
            double lsize = json_get_num(lfs, "size", size);
            if (lsize >= 0 && lsize < 1e15) f->size = (uint64_t)lsize;
        }
        bool hex = strlen(oid) == 64;
        for (size_t k = 0; hex && k < 64; k++) hex = isxdigit((unsigned char)oid[k]);
        if (hex) {
            for (size_t k = 0; k < 64; k++) f->sha256[k] = (char)tolower((unsigned char)oid[k]);
            f->sha256[64] = 0;
        }
    }
    json_free(v);
    return 0;
}

/* ---- names ---- */

const char *hub_file_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static bool hub_has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

static bool hub_is_gguf(const hub_file *f) {
    const char *b = hub_file_name(f->path);
    return hub_has_suffix(b, ".gguf") && !strcasestr(b, "mmproj");
}

const char *hub_quant_tag(const char *name, char *buf, size_t size) {
    const char *b = hub_file_name(name);
    size_t n = strlen(b);
    if (hub_has_suffix(b, ".gguf")) n -= 5;
    size_t start = n;
    while (start > 0 && b[start - 1] != '-' && b[start - 1] != '.') start--;
    snprintf(buf, size, "%.*s", (int)(n - start), b + start);
    return buf;
}

/* One line naming every GGUF file with its size (or every file, when none). */
static void hub_describe(const hub_list *l, lm_buf *b) {
    size_t shown = 0, gguf = 0;
    for (size_t i = 0; i < l->n; i++) gguf += hub_is_gguf(&l->files[i]);
    for (size_t i = 0; i < l->n && shown < 40; i++) {
        if (gguf && !hub_is_gguf(&l->files[i])) continue;
        char sz[16];
        lm_buf_printf(b, "%s%s (%s)", shown ? ", " : "", l->files[i].path,
                      lm_format_size(l->files[i].size, sz));
        shown++;
    }
    if (!shown) lm_buf_puts(b, "no files");
}

void hub_list_free(hub_list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->files[i].path);
    free(l->files);
    l->files = NULL;
    l->n = 0;
}

/* ---- choosing ---- */

static const hub_file *hub_smallest(const hub_list *l, const char *needle, size_t *count) {
    const hub_file *best = NULL;
    *count = 0;
    for (size_t i = 0; i < l->n; i++) {
        const hub_file *f = &l->files[i];
        if (!hub_is_gguf(f) || (needle && !strcasestr(hub_file_name(f->path), needle))) continue;
        ++*count;
        if (!best || f->size < best->size) best = f;
    }
    return best;
}

static const hub_file *hub_none(const hub_list *l, const char *repo, const char *quant,
                                lm_error *err) {
    lm_buf b = {0};
    hub_describe(l, &b);
    if (quant)
        lm_fail(err, "no file of %s matches '%s'; it has: %s", repo, quant, lm_buf_cstr(&b));
    else
        lm_fail(err, "%s has several GGUF files and none is Q4: name one with %s:QUANT; it has: %s",
                repo, repo, lm_buf_cstr(&b));
    lm_buf_free(&b);
    return NULL;
}

const hub_file *hub_pick(const hub_list *l, const char *repo, const char *quant, char note[256],
                         lm_error *err) {
    if (note) note[0] = 0;
    size_t n_gguf;
    hub_smallest(l, NULL, &n_gguf);
    if (!n_gguf) {
        lm_buf b = {0};
        hub_describe(l, &b);
        lm_fail(err, "%s has no GGUF files; it has: %s", repo, lm_buf_cstr(&b));
        lm_buf_free(&b);
        return NULL;
    }
    size_t count;
    if (quant) {
        const hub_file *best = hub_smallest(l, quant, &count);
        if (count > 1) { /* an exact tag beats a longer name that contains it */
            char tag[64];
            for (size_t i = 0; i < l->n; i++)
                if (hub_is_gguf(&l->files[i]) &&
                    strcasecmp(hub_quant_tag(l->files[i].path, tag, sizeof tag), quant) == 0)
                    return &l->files[i];
            if (note)
                snprintf(note, 256, "%zu files match '%s'; taking the smallest", count, quant);
        }
        return best ? best : hub_none(l, repo, quant, err);
    }
    const hub_file *f = hub_smallest(l, HUB_DEFAULT_QUANT, &count);
    if (f) return f;
    f = hub_smallest(l, "q4", &count);
    if (f) return f;
    if (n_gguf == 1) return hub_smallest(l, NULL, &count);
    return hub_none(l, repo, NULL, err);
}

const hub_file *hub_find(const hub_list *l, const char *repo, const char *file, lm_error *err) {
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->files[i].path, file) == 0) return &l->files[i];
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(hub_file_name(l->files[i].path), file) == 0) return &l->files[i];
    lm_buf b = {0};
    hub_describe(l, &b);
    lm_fail(err, "%s has no file %s; it has: %s", repo, file, lm_buf_cstr(&b));
    lm_buf_free(&b);
    return NULL;
}

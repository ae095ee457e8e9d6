/* config_yaml: a YAML document as a small tree of nodes, read with libyaml's
 * event parser under hard limits, checked scalar readers, and a writer.
 * See the end of include/config.h. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

/* ---- nodes ---- */

static config_yaml_node *new_node(enum config_yaml_kind kind, int line, int col) {
    config_yaml_node *n = lm_xcalloc(1, sizeof *n);
    n->kind = kind;
    n->line = line;
    n->col = col;
    return n;
}

void config_yaml_free(config_yaml_node *n) {
    if (!n) return;
    for (size_t i = 0; i < n->n; i++) config_yaml_free(n->items[i]);
    free(n->items);
    free(n->text);
    free(n);
}

static void append_item(config_yaml_node *parent, config_yaml_node *child) {
    /* grow by doubling: n is a power of two exactly when the array is full */
    if (parent->n == 0 || (parent->n & (parent->n - 1)) == 0)
        parent->items =
            lm_xrealloc(parent->items, (parent->n ? parent->n * 2 : 4) * sizeof *parent->items);
    parent->items[parent->n++] = child;
}

config_yaml_node *config_yaml_new_scalar(const char *text, enum config_yaml_style style) {
    config_yaml_node *n = new_node(CONFIG_YAML_SCALAR, 0, 0);
    n->text = lm_xstrdup(text);
    n->len = strlen(text);
    n->style = style;
    return n;
}

config_yaml_node *config_yaml_new_map(void) {
    return new_node(CONFIG_YAML_MAP, 0, 0);
}

config_yaml_node *config_yaml_get(const config_yaml_node *map, const char *key) {
    if (!map || map->kind != CONFIG_YAML_MAP) return NULL;
    for (size_t i = 0; i + 1 < map->n; i += 2)
        if (strcmp(map->items[i]->text, key) == 0) return map->items[i + 1];
    return NULL;
}

void config_yaml_put(config_yaml_node *map, const char *key, config_yaml_node *value) {
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        if (strcmp(map->items[i]->text, key) == 0) {
            config_yaml_free(map->items[i + 1]);
            map->items[i + 1] = value;
            return;
        }
    }
    append_item(map, config_yaml_new_scalar(key, CONFIG_YAML_PLAIN));
    append_item(map, value);
}

/* ---- errors ---- */

bool config_yaml_fail(lm_error *err, const char *path, const config_yaml_node *n, const char *fmt,
                      ...) {
    if (!err) return false;
    int k =
        snprintf(err->msg, sizeof err->msg, "%s:%d:%d: ", path, n ? n->line : 1, n ? n->col : 1);
    if (k < 0 || (size_t)k >= sizeof err->msg) return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg + k, sizeof err->msg - (size_t)k, fmt, ap);
    va_end(ap);
    return false;
}

/* Where a reader error happened: libyaml gives only a byte offset for those. */
static void offset_to_line_col(const char *text, size_t len, size_t off, int *line, int *col) {
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n') {
            ++*line;
            *col = 1;
        } else {
            ++*col;
        }
    }
}

static int parser_error(const yaml_parser_t *p, const char *path, const char *text, size_t len,
                        lm_error *err) {
    int line, col;
    if (p->error == YAML_READER_ERROR) {
        offset_to_line_col(text, len, p->problem_offset, &line, &col);
    } else {
        line = (int)p->problem_mark.line + 1;
        col = (int)p->problem_mark.column + 1;
    }
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->context) return lm_fail(err, "%s:%d:%d: %s (%s)", path, line, col, problem, p->context);
    return lm_fail(err, "%s:%d:%d: %s", path, line, col, problem);
}

/* ---- reading: events to a tree ---- */

typedef struct builder {
    const char *path;
    lm_error *err;
    config_yaml_node *root;
    config_yaml_node *stack[CONFIG_YAML_MAX_DEPTH];
    int depth;
    size_t n_nodes;
    int n_documents;
} builder;

static bool build_fail(builder *b, const yaml_mark_t *m, const char *what) {
    lm_fail(b->err, "%s:%zu:%zu: %s", b->path, m->line + 1, m->column + 1, what);
    return false;
}

/* Anchors, aliases and tags are refused: aliases can multiply a small file
 * into a huge tree ("billion laughs"), and a config has no use for any. */
static bool check_plain_event(builder *b, const yaml_event_t *e, const yaml_char_t *anchor,
                              const yaml_char_t *tag) {
    if (anchor) return build_fail(b, &e->start_mark, "anchors (&name) are not supported");
    if (tag) return build_fail(b, &e->start_mark, "tags (!name) are not supported");
    return true;
}

/* Hangs a new node under the open list or map (or makes it the root). */
static bool attach(builder *b, const yaml_event_t *e, config_yaml_node *n) {
    if (++b->n_nodes > CONFIG_YAML_MAX_NODES) {
        config_yaml_free(n);
        return build_fail(b, &e->start_mark, "too many entries (the limit is 65536)");
    }
    if (b->depth == 0) {
        b->root = n;
        return true;
    }
    config_yaml_node *parent = b->stack[b->depth - 1];
    bool is_key = parent->kind == CONFIG_YAML_MAP && parent->n % 2 == 0;
    if (is_key && n->kind != CONFIG_YAML_SCALAR) {
        config_yaml_free(n);
        return build_fail(b, &e->start_mark, "a key must be a plain name, not a list or map");
    }
    /* a key is a name: an empty one is the empty name, not null (and is
     * written back as '', the only way YAML can write it) */
    if (is_key && n->len == 0) n->style = CONFIG_YAML_QUOTED;
    append_item(parent, n);
    return true;
}

static enum config_yaml_style scalar_style(yaml_scalar_style_t s) {
    switch (s) {
    case YAML_SINGLE_QUOTED_SCALAR_STYLE:
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
        return CONFIG_YAML_QUOTED;
    case YAML_LITERAL_SCALAR_STYLE:
    case YAML_FOLDED_SCALAR_STYLE:
        return CONFIG_YAML_BLOCK;
    default:
        return CONFIG_YAML_PLAIN;
    }
}

static bool on_scalar(builder *b, const yaml_event_t *e) {
    if (!check_plain_event(b, e, e->data.scalar.anchor, e->data.scalar.tag)) return false;
    config_yaml_node *n =
        new_node(CONFIG_YAML_SCALAR, (int)e->start_mark.line + 1, (int)e->start_mark.column + 1);
    n->text = lm_xstrndup((const char *)e->data.scalar.value, e->data.scalar.length);
    n->len = e->data.scalar.length;
    n->style = scalar_style(e->data.scalar.style);
    return attach(b, e, n);
}

static bool on_open(builder *b, const yaml_event_t *e, enum config_yaml_kind kind) {
    const yaml_char_t *anchor, *tag;
    if (kind == CONFIG_YAML_LIST) {
        anchor = e->data.sequence_start.anchor;
        tag = e->data.sequence_start.tag;
    } else {
        anchor = e->data.mapping_start.anchor;
        tag = e->data.mapping_start.tag;
    }
    if (!check_plain_event(b, e, anchor, tag)) return false;
    if (b->depth == CONFIG_YAML_MAX_DEPTH)
        return build_fail(b, &e->start_mark, "nested too deeply (the limit is 32 levels)");
    config_yaml_node *n =
        new_node(kind, (int)e->start_mark.line + 1, (int)e->start_mark.column + 1);
    if (!attach(b, e, n)) return false;
    b->stack[b->depth++] = n;
    return true;
}

/* Handles one event; *done is set at the end of the stream. */
static bool on_event(builder *b, const yaml_event_t *e, bool *done) {
    switch (e->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->n_documents > 1)
            return build_fail(b, &e->start_mark, "only one YAML document is allowed");
        return true;
    case YAML_ALIAS_EVENT:
        return build_fail(b, &e->start_mark, "aliases (*name) are not supported");
    case YAML_SCALAR_EVENT:
        return on_scalar(b, e);
    case YAML_SEQUENCE_START_EVENT:
        return on_open(b, e, CONFIG_YAML_LIST);
    case YAML_MAPPING_START_EVENT:
        return on_open(b, e, CONFIG_YAML_MAP);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (b->depth > 0) b->depth--;
        return true;
    case YAML_STREAM_END_EVENT:
        *done = true;
        return true;
    default:
        return true;
    }
}

int config_yaml_parse(const char *path, const char *text, size_t len, config_yaml_node **root,
                      lm_error *err) {
    *root = NULL;
    if (len > CONFIG_YAML_MAX_BYTES)
        return lm_fail(err, "%s:1:1: file is larger than %u bytes", path, CONFIG_YAML_MAX_BYTES);
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) return lm_fail(err, "%s: out of memory", path);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    builder b = {.path = path, .err = err};
    bool ok = true, done = false;
    while (ok && !done) {
        yaml_event_t e;
        if (!yaml_parser_parse(&p, &e)) {
            parser_error(&p, path, text, len, err);
            ok = false;
            break;
        }
        ok = on_event(&b, &e, &done);
        yaml_event_delete(&e);
    }
    yaml_parser_delete(&p);
    if (!ok) {
        config_yaml_free(b.root);
        return -1;
    }
    *root = b.root;
    return 0;
}

int config_yaml_read(const char *path, size_t max_bytes, config_yaml_node **root, lm_error *err) {
    *root = NULL;
    /* a FIFO or a device would block or never end: only regular files */
    struct stat st;
    if (stat(path, &st) != 0) return lm_fail(err, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return lm_fail(err, "%s: not a regular file", path);
    if ((uint64_t)st.st_size > max_bytes)
        return lm_fail(err, "%s: file is larger than %zu bytes", path, max_bytes);
    char *text;
    size_t len;
    if (lm_read_file(path, max_bytes, &text, &len, err) != 0) return -1;
    int rc = config_yaml_parse(path, text, len, root, err);
    free(text);
    return rc;
}

/* ---- scalar readers ---- */

static const char *kind_name(const config_yaml_node *n) {
    return n->kind == CONFIG_YAML_LIST ? "a list" : n->kind == CONFIG_YAML_MAP ? "a map" : "text";
}

const char *config_yaml_printable(const char *text, size_t len, char buf[CONFIG_PRINTABLE_SIZE]) {
    size_t k = 0;
    for (size_t i = 0; i < len && k < 40; i++) {
        unsigned char c = (unsigned char)text[i];
        buf[k++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    buf[k] = 0;
    if (len > 40) strcat(buf, "...");
    return buf;
}

static const char *quote_text(const config_yaml_node *n, char buf[CONFIG_PRINTABLE_SIZE]) {
    return config_yaml_printable(n->text, n->len, buf);
}

bool config_yaml_is_null(const config_yaml_node *n) {
    if (!n || n->kind != CONFIG_YAML_SCALAR || n->style != CONFIG_YAML_PLAIN) return false;
    return n->len == 0 || strcmp(n->text, "~") == 0 || strcmp(n->text, "null") == 0 ||
           strcmp(n->text, "Null") == 0 || strcmp(n->text, "NULL") == 0;
}

/* Numbers and booleans must be plain scalars: "4" in quotes is text. */
static bool expect_plain(const char *path, const char *key, const config_yaml_node *n,
                         const char *what, lm_error *err) {
    char q[CONFIG_PRINTABLE_SIZE];
    if (n->kind != CONFIG_YAML_SCALAR)
        return config_yaml_fail(err, path, n, "%s: expected %s, found %s", key, what, kind_name(n));
    if (n->style != CONFIG_YAML_PLAIN || n->len == 0)
        return config_yaml_fail(err, path, n, "%s: expected %s, not '%s'", key, what,
                                quote_text(n, q));
    return true;
}

bool config_yaml_bool(const char *path, const char *key, const config_yaml_node *n, bool *out,
                      lm_error *err) {
    static const char *yes[] = {"true", "yes", "on"}, *no[] = {"false", "no", "off"};
    if (!expect_plain(path, key, n, "true or false", err)) return false;
    for (int i = 0; i < 3; i++) {
        if (strcasecmp(n->text, yes[i]) == 0 || strcasecmp(n->text, no[i]) == 0) {
            *out = strcasecmp(n->text, yes[i]) == 0;
            return true;
        }
    }
    char q[CONFIG_PRINTABLE_SIZE];
    return config_yaml_fail(err, path, n, "%s: expected true or false, not '%s'", key,
                            quote_text(n, q));
}

bool config_yaml_int(const char *path, const char *key, const config_yaml_node *n, long long lo,
                     long long hi, long long *out, lm_error *err) {
    char what[96], q[CONFIG_PRINTABLE_SIZE];
    snprintf(what, sizeof what, "a whole number from %lld to %lld", lo, hi);
    if (!expect_plain(path, key, n, what, err)) return false;
    char *end;
    errno = 0;
    long long v = strtoll(n->text, &end, 10);
    if (errno || end == n->text || *end || v < lo || v > hi)
        return config_yaml_fail(err, path, n, "%s: expected %s, not '%s'", key, what,
                                quote_text(n, q));
    *out = v;
    return true;
}

bool config_yaml_float(const char *path, const char *key, const config_yaml_node *n, double lo,
                       double hi, double *out, lm_error *err) {
    char what[96], q[CONFIG_PRINTABLE_SIZE];
    snprintf(what, sizeof what, "a number from %g to %g", lo, hi);
    if (!expect_plain(path, key, n, what, err)) return false;
    char *end;
    errno = 0;
    double v = strtod(n->text, &end);
    /* strtod also reads "nan", "inf" and hex floats; the range test drops NaN */
    if (errno || end == n->text || *end || !(v >= lo && v <= hi) || strpbrk(n->text, "xXnN"))
        return config_yaml_fail(err, path, n, "%s: expected %s, not '%s'", key, what,
                                quote_text(n, q));
    *out = v;
    return true;
}

bool config_yaml_string(const char *path, const char *key, const config_yaml_node *n,
                        size_t max_len, bool multiline, const char **out, lm_error *err) {
    if (n->kind != CONFIG_YAML_SCALAR)
        return config_yaml_fail(err, path, n, "%s: expected text, found %s", key, kind_name(n));
    if (n->len > max_len)
        return config_yaml_fail(err, path, n, "%s: longer than %zu bytes", key, max_len);
    for (size_t i = 0; i < n->len; i++) {
        unsigned char ch = (unsigned char)n->text[i];
        bool allowed = multiline && (ch == '\n' || ch == '\t');
        if ((ch < 0x20 || ch == 0x7f) && !allowed)
            return config_yaml_fail(err, path, n, "%s: control character in the text", key);
    }
    *out = n->text;
    return true;
}

/* ---- writing ---- */

static int write_to_buf(void *data, unsigned char *bytes, size_t size) {
    lm_buf_append(data, bytes, size);
    return 1;
}

/* A quoted scalar is left to libyaml's choice of quotes (single where it
 * can), so that writing a file read back from our own output gives the
 * same text again. */
static yaml_scalar_style_t emit_style(enum config_yaml_style s) {
    return s == CONFIG_YAML_BLOCK ? YAML_LITERAL_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE;
}

static bool emit_node(yaml_emitter_t *em, const config_yaml_node *n) {
    yaml_event_t e;
    if (n->kind == CONFIG_YAML_SCALAR) {
        /* A plain scalar the emitter cannot write plain (an empty key, text
         * with a line break) is quoted. quoted_implicit must be set, or libyaml
         * marks it with a "!" tag, which the reader refuses. Such a scalar is
         * text either way: it could not have been a number, bool or null. */
        bool plain = n->style == CONFIG_YAML_PLAIN;
        yaml_scalar_event_initialize(&e, NULL, NULL, (yaml_char_t *)n->text, (int)n->len, plain, 1,
                                     emit_style(n->style));
        return yaml_emitter_emit(em, &e);
    }
    if (n->kind == CONFIG_YAML_LIST)
        yaml_sequence_start_event_initialize(&e, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
    else
        yaml_mapping_start_event_initialize(&e, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
    if (!yaml_emitter_emit(em, &e)) return false;
    for (size_t i = 0; i < n->n; i++)
        if (!emit_node(em, n->items[i])) return false;
    if (n->kind == CONFIG_YAML_LIST)
        yaml_sequence_end_event_initialize(&e);
    else
        yaml_mapping_end_event_initialize(&e);
    return yaml_emitter_emit(em, &e);
}

int config_yaml_emit(const config_yaml_node *root, lm_buf *out, lm_error *err) {
    yaml_emitter_t em;
    if (!yaml_emitter_initialize(&em)) return lm_fail(err, "out of memory");
    yaml_emitter_set_output(&em, write_to_buf, out);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1); /* never fold long lines */
    yaml_event_t e;
    bool ok = true;
    yaml_stream_start_event_initialize(&e, YAML_UTF8_ENCODING);
    ok = ok && yaml_emitter_emit(&em, &e);
    /* an empty scalar alone would write nothing, which reads back as no
     * document at all: a scalar document starts with an explicit "---" */
    yaml_document_start_event_initialize(&e, NULL, NULL, NULL, root->kind != CONFIG_YAML_SCALAR);
    ok = ok && yaml_emitter_emit(&em, &e);
    ok = ok && emit_node(&em, root);
    yaml_document_end_event_initialize(&e, 1);
    ok = ok && yaml_emitter_emit(&em, &e);
    yaml_stream_end_event_initialize(&e);
    ok = ok && yaml_emitter_emit(&em, &e);
    const char *problem = em.problem ? em.problem : "cannot write YAML";
    int rc = ok ? 0 : lm_fail(err, "%s", problem);
    yaml_emitter_delete(&em);
    return rc;
}

/* json: see include/json.h. A recursive-descent reader with a depth bound. */
#include "json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 64

typedef struct parser {
    const char *s, *end, *start;
    lm_error *err;
    int depth;
} parser;

static int parse_value(parser *p, json_value *out);

static int fail_at(parser *p, const char *what) {
    int line = 1, col = 1;
    for (const char *c = p->start; c < p->s && c < p->end; c++) {
        if (*c == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    return lm_fail(p->err, "line %d, column %d: %s", line, col, what);
}

static void skip_ws(parser *p) {
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        p->s++;
}

static bool literal(parser *p, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(p->end - p->s) < n || memcmp(p->s, word, n) != 0) return false;
    p->s += n;
    return true;
}

static int hex4(parser *p, uint32_t *out) {
    if (p->end - p->s < 4) return fail_at(p, "truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = *p->s++;
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return fail_at(p, "bad \\u escape");
    }
    *out = v;
    return 0;
}

static int parse_escape(parser *p, lm_buf *b) {
    if (p->s >= p->end) return fail_at(p, "unterminated string");
    char c = *p->s++;
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *k = strchr(from, c);
    if (k && c) {
        lm_buf_append(b, &to[k - from], 1);
        return 0;
    }
    if (c != 'u') return fail_at(p, "bad escape in string");
    uint32_t cp;
    if (hex4(p, &cp)) return -1;
    if (cp >= 0xD800 && cp <= 0xDBFF && p->end - p->s >= 6 && p->s[0] == '\\' && p->s[1] == 'u') {
        p->s += 2;
        uint32_t lo;
        if (hex4(p, &lo)) return -1;
        if (lo >= 0xDC00 && lo <= 0xDFFF)
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        else
            cp = 0xFFFD;
    } else if (cp >= 0xD800 && cp <= 0xDFFF) {
        cp = 0xFFFD;
    }
    char enc[4];
    lm_buf_append(b, enc, (size_t)utf8_encode(cp, enc));
    return 0;
}

static int parse_string(parser *p, char **out, size_t *len) {
    p->s++; /* opening quote */
    lm_buf b = {0};
    for (;;) {
        if (p->s >= p->end) {
            lm_buf_free(&b);
            return fail_at(p, "unterminated string");
        }
        char c = *p->s;
        if (c == '"') break;
        if ((unsigned char)c < 0x20) {
            lm_buf_free(&b);
            return fail_at(p, "control character in string");
        }
        p->s++;
        if (c == '\\') {
            if (parse_escape(p, &b)) {
                lm_buf_free(&b);
                return -1;
            }
        } else {
            lm_buf_append(&b, &c, 1);
        }
    }
    p->s++;
    lm_buf_cstr(&b);
    *out = b.data;
    *len = b.len;
    return 0;
}

static int parse_number(parser *p, json_value *out) {
    const char *q = p->s;
    if (q < p->end && *q == '-') q++;
    if (q >= p->end || !(*q >= '0' && *q <= '9')) return fail_at(p, "bad number");
    while (q < p->end && strchr("0123456789+-.eE", *q)) q++;
    char tmp[64];
    size_t n = (size_t)(q - p->s);
    if (n >= sizeof tmp) return fail_at(p, "number too long");
    memcpy(tmp, p->s, n);
    tmp[n] = 0;
    char *endp;
    out->kind = JSON_NUMBER;
    out->num = strtod(tmp, &endp);
    if (*endp) return fail_at(p, "bad number");
    p->s = q;
    return 0;
}

/* Arrays and objects collect items in a growing buffer. */
static int parse_container(parser *p, json_value *out, bool is_object) {
    char close = is_object ? '}' : ']';
    if (++p->depth > JSON_MAX_DEPTH) return fail_at(p, "nested too deeply");
    p->s++;
    out->kind = is_object ? JSON_OBJECT : JSON_ARRAY;
    size_t cap = 0;
    skip_ws(p);
    if (p->s < p->end && *p->s == close) {
        p->s++;
        p->depth--;
        return 0;
    }
    for (;;) {
        if (out->len == cap) {
            cap = cap ? cap * 2 : 4;
            out->items = lm_xrealloc(out->items, cap * sizeof *out->items);
            if (is_object) out->keys = lm_xrealloc(out->keys, cap * sizeof *out->keys);
        }
        json_value *item = &out->items[out->len];
        memset(item, 0, sizeof *item);
        skip_ws(p);
        if (is_object) {
            out->keys[out->len] = NULL;
            size_t klen;
            if (p->s >= p->end || *p->s != '"') return fail_at(p, "expected a key");
            out->len++;
            if (parse_string(p, &out->keys[out->len - 1], &klen)) return -1;
            skip_ws(p);
            if (p->s >= p->end || *p->s != ':') return fail_at(p, "expected ':'");
            p->s++;
        } else {
            out->len++;
        }
        if (parse_value(p, item)) return -1;
        skip_ws(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            continue;
        }
        if (p->s < p->end && *p->s == close) {
            p->s++;
            break;
        }
        return fail_at(p, is_object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
    p->depth--;
    return 0;
}

static int parse_value(parser *p, json_value *out) {
    skip_ws(p);
    if (p->s >= p->end) return fail_at(p, "unexpected end of input");
    switch (*p->s) {
    case '{':
        return parse_container(p, out, true);
    case '[':
        return parse_container(p, out, false);
    case '"':
        out->kind = JSON_STRING;
        return parse_string(p, &out->str, &out->len);
    case 't':
    case 'f':
        out->kind = JSON_BOOL;
        out->b = *p->s == 't';
        if (literal(p, out->b ? "true" : "false")) return 0;
        return fail_at(p, "unexpected word");
    case 'n':
        out->kind = JSON_NULL;
        if (literal(p, "null")) return 0;
        return fail_at(p, "unexpected word");
    default:
        return parse_number(p, out);
    }
}

static void free_contents(json_value *v) {
    if (v->kind == JSON_STRING) free(v->str);
    if (v->kind == JSON_ARRAY || v->kind == JSON_OBJECT) {
        for (size_t i = 0; i < v->len; i++) {
            free_contents(&v->items[i]);
            if (v->keys) free(v->keys[i]);
        }
        free(v->items);
        free(v->keys);
    }
}

json_value *json_parse(const char *text, size_t len, lm_error *err) {
    parser p = {.s = text, .end = text + len, .start = text, .err = err};
    json_value *v = lm_xcalloc(1, sizeof *v);
    if (parse_value(&p, v) == 0) {
        skip_ws(&p);
        if (p.s == p.end) return v;
        fail_at(&p, "unexpected text after the value");
    }
    free_contents(v);
    free(v);
    return NULL;
}

void json_free(json_value *v) {
    if (!v) return;
    free_contents(v);
    free(v);
}

const json_value *json_get(const json_value *v, const char *key) {
    if (!v || v->kind != JSON_OBJECT) return NULL;
    for (size_t i = 0; i < v->len; i++)
        if (strcmp(v->keys[i], key) == 0) return &v->items[i];
    return NULL;
}

const char *json_get_str(const json_value *v, const char *key, const char *def) {
    const json_value *m = json_get(v, key);
    return m && m->kind == JSON_STRING ? m->str : def;
}

double json_get_num(const json_value *v, const char *key, double def) {
    const json_value *m = json_get(v, key);
    return m && m->kind == JSON_NUMBER ? m->num : def;
}

void json_write_str(lm_buf *b, const char *s, size_t len) {
    lm_buf_append(b, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            lm_buf_puts(b, "\\\"");
            break;
        case '\\':
            lm_buf_puts(b, "\\\\");
            break;
        case '\n':
            lm_buf_puts(b, "\\n");
            break;
        case '\r':
            lm_buf_puts(b, "\\r");
            break;
        case '\t':
            lm_buf_puts(b, "\\t");
            break;
        default:
            if (c < 0x20)
                lm_buf_printf(b, "\\u%04x", c);
            else
                lm_buf_append(b, &s[i], 1);
        }
    }
    lm_buf_append(b, "\"", 1);
}

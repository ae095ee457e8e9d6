/* json: a small JSON reader (DOM) and writing helpers. Part of util: the
 * conformance tests and transcripts use it. Input is treated as hostile:
 * depth and size are bounded, errors name the line and column. */
#ifndef LMTERM_JSON_H
#define LMTERM_JSON_H

#include "util.h"

typedef enum json_kind {
    JSON_NULL,
    JSON_BOOL,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT
} json_kind;

typedef struct json_value {
    json_kind kind;
    bool b;
    double num;
    char *str;                /* STRING: NUL-terminated, may contain NULs (see len) */
    size_t len;               /* STRING: bytes; ARRAY/OBJECT: number of items */
    struct json_value *items; /* ARRAY/OBJECT: the values */
    char **keys;              /* OBJECT: the keys, parallel to items */
} json_value;

/* Parses text; NULL with err = "line L, column C: what is wrong" on failure. */
json_value *json_parse(const char *text, size_t len, lm_error *err);
void json_free(json_value *v);

/* Member of an object (NULL when absent or v is not an object). */
const json_value *json_get(const json_value *v, const char *key);
/* Convenience: member as a string / number, or a default. */
const char *json_get_str(const json_value *v, const char *key, const char *def);
double json_get_num(const json_value *v, const char *key, double def);

/* Appends s (len bytes) as a quoted JSON string with escapes. */
void json_write_str(lm_buf *b, const char *s, size_t len);

#endif

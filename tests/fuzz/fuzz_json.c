/* fuzz_json: json_parse on arbitrary bytes.
 *
 * Besides "no crash, no leak", a document that parses must survive a round
 * trip: written back out (json_write_str for strings, %.17g for numbers) and
 * parsed again it gives the same tree. That catches a writer and a reader
 * that disagree about escapes, which is how a transcript would be corrupted.
 *
 * libFuzzer: -max_len=16384 -timeout=10
 */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Writes v as JSON; returns false when it holds a number JSON cannot spell
 * (a literal like 1e999 parses to infinity). */
static bool write_value(const json_value *v, lm_buf *b) {
    switch (v->kind) {
    case JSON_NULL: lm_buf_puts(b, "null"); return true;
    case JSON_BOOL: lm_buf_puts(b, v->b ? "true" : "false"); return true;
    case JSON_NUMBER:
        if (!isfinite(v->num)) return false;
        lm_buf_printf(b, "%.17g", v->num);
        return true;
    case JSON_STRING: json_write_str(b, v->str, v->len); return true;
    case JSON_ARRAY:
    case JSON_OBJECT: {
        bool obj = v->kind == JSON_OBJECT;
        lm_buf_puts(b, obj ? "{" : "[");
        for (size_t i = 0; i < v->len; i++) {
            if (i) lm_buf_puts(b, ",");
            if (obj) {
                json_write_str(b, v->keys[i], strlen(v->keys[i]));
                lm_buf_puts(b, ":");
            }
            if (!write_value(&v->items[i], b)) return false;
        }
        lm_buf_puts(b, obj ? "}" : "]");
        return true;
    }
    }
    return false;
}

static bool same(const json_value *a, const json_value *b) {
    if (a->kind != b->kind) return false;
    switch (a->kind) {
    case JSON_NULL: return true;
    case JSON_BOOL: return a->b == b->b;
    case JSON_NUMBER: return a->num == b->num;
    case JSON_STRING: return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
    case JSON_ARRAY:
    case JSON_OBJECT:
        if (a->len != b->len) return false;
        for (size_t i = 0; i < a->len; i++) {
            if (a->kind == JSON_OBJECT && strcmp(a->keys[i], b->keys[i]) != 0) return false;
            if (!same(&a->items[i], &b->items[i])) return false;
        }
        return true;
    }
    return false;
}

/* Touches every byte the parser handed out, so ASan sees a bad length. */
static size_t walk(const json_value *v) {
    size_t sum = (size_t)v->kind;
    if (v->kind == JSON_STRING) {
        for (size_t i = 0; i <= v->len; i++) sum += (unsigned char)v->str[i]; /* and the NUL */
    } else if (v->kind == JSON_ARRAY || v->kind == JSON_OBJECT) {
        for (size_t i = 0; i < v->len; i++) {
            if (v->kind == JSON_OBJECT) sum += strlen(v->keys[i]);
            sum += walk(&v->items[i]);
        }
    }
    return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lm_error err = {{0}};
    json_value *v = json_parse((const char *)data, size, &err);
    if (!v) {
        if (!err.msg[0]) {
            fprintf(stderr, "fuzz_json: check failed: json_parse failed without a message\n");
            abort();
        }
        return 0;
    }
    volatile size_t sink = walk(v);
    (void)sink;

    lm_buf out = {0};
    if (write_value(v, &out)) {
        json_value *again = json_parse(out.data, out.len, &err);
        if (!again || !same(v, again)) {
            fprintf(stderr, "fuzz_json: check failed: round trip changed the document: %.200s\n%s\n",
                    lm_buf_cstr(&out), again ? "(parsed differently)" : err.msg);
            abort();
        }
        json_free(again);
    }
    lm_buf_free(&out);
    json_free(v);
    return 0;
}

/* fuzz_hub_list: the hub's file list (tree API JSON) on arbitrary bytes,
 * then the quant choice on what it kept.
 *
 * Besides "no crash, no leak": every kept entry has a path that is neither
 * absolute nor has a ".." component or a control character, a size below
 * 1e15 and a sha256 that is empty or 64 lower-case hex digits; the choice
 * returns an entry of the list or NULL with a message.
 *
 * libFuzzer: -max_len=16384 -timeout=10
 */
#include "hub.h"

#include <stdlib.h>
#include <string.h>

static void check_entry(const hub_file *f) {
    const char *p = f->path;
    if (!p || !*p || p[0] == '/') abort();
    for (const char *c = p; *c; c++)
        if ((unsigned char)*c < 0x20) abort();
    for (const char *c = p; (c = strstr(c, "..")); c += 2)
        if ((c == p || c[-1] == '/') && (c[2] == 0 || c[2] == '/')) abort();
    if (f->size >= (uint64_t)1e15) abort();
    size_t n = strlen(f->sha256);
    if (n != 0 && n != 64) abort();
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdef", f->sha256[i])) abort();
}

static void check_choice(const hub_list *l, const hub_file *f, const lm_error *err) {
    if (!f) {
        if (!err->msg[0]) abort();
        return;
    }
    if (f < l->files || f >= l->files + l->n) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    hub_list l = {0};
    lm_error err = {{0}};
    if (hub_parse_list((const char *)data, size, &l, &err) == 0) {
        for (size_t i = 0; i < l.n; i++) check_entry(&l.files[i]);
        char note[256];
        const char *quants[] = {NULL, "q4", "Q8_0", "gguf"};
        for (size_t q = 0; q < sizeof quants / sizeof *quants; q++) {
            err.msg[0] = 0;
            check_choice(&l, hub_pick(&l, "o/r", quants[q], note, &err), &err);
        }
        if (l.n) {
            err.msg[0] = 0;
            check_choice(&l, hub_find(&l, "o/r", l.files[0].path, &err), &err);
        }
    }
    hub_list_free(&l);
    return 0;
}

/* util: errors, allocation, UTF-8, atomic file writes, memory statistics.
 * The bottom of the module stack: it depends on libc only. */
#ifndef LMTERM_UTIL_H
#define LMTERM_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Errors travel upwards as a message in a caller-owned buffer; functions
 * return 0 (or a valid pointer) on success, -1 (or NULL) on failure. Only the
 * UI and the command line print them. */
typedef struct lm_error {
    char msg[512];
} lm_error;

/* Formats into err (when err is not NULL) and returns -1, so a failing
 * function can end with `return lm_fail(err, "...")`. */
int lm_fail(lm_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Allocation that aborts the process on out-of-memory: used only for small,
 * bounded sizes. Large sizes derived from input go through checked paths. */
void *lm_xmalloc(size_t n);
void *lm_xcalloc(size_t count, size_t size);
void *lm_xrealloc(void *p, size_t n);
char *lm_xstrdup(const char *s);
char *lm_xstrndup(const char *s, size_t n);
/* The text printf would print, in a new string. */
char *lm_xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* 64-byte aligned allocation (for SIMD rows); NULL on failure. Free with lm_free_aligned. */
void *lm_alloc_aligned(size_t n);
void lm_free_aligned(void *p);

/* A mapping that large pages can back: mmap(2) of len bytes at a multiple of
 * LM_LARGE_PAGE, advised MADV_HUGEPAGE (a hint). prot, flags (MAP_FIXED is
 * added) and fd as mmap takes them. NULL on failure; munmap(p, len) frees it. */
#define LM_LARGE_PAGE ((size_t)2 << 20)
void *lm_map_large(size_t len, int prot, int flags, int fd);

/* Overflow-checked arithmetic: return false on overflow. */
bool lm_mul_overflows(uint64_t a, uint64_t b, uint64_t *out);
bool lm_add_overflows(uint64_t a, uint64_t b, uint64_t *out);

/* A growable byte buffer. */
typedef struct lm_buf {
    char *data;
    size_t len, cap;
} lm_buf;

void lm_buf_append(lm_buf *b, const void *data, size_t n);
void lm_buf_puts(lm_buf *b, const char *s);
void lm_buf_printf(lm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lm_buf_free(lm_buf *b);
/* Ensures data is NUL-terminated (not counted in len) and returns it. */
const char *lm_buf_cstr(lm_buf *b);

/* UTF-8 */
/* Length of the UTF-8 sequence that starts with byte c (1..4), 0 for a continuation
 * or invalid lead byte. */
int utf8_seq_len(unsigned char c);
/* Decodes one code point at s (n bytes available). Returns the bytes consumed
 * (>= 1); on invalid input *cp = 0xFFFD and 1 is returned. */
int utf8_decode(const char *s, size_t n, uint32_t *cp);
/* Encodes cp into out (at least 4 bytes), returns the length. */
int utf8_encode(uint32_t cp, char *out);
/* Length of the longest prefix of s[0..n) that does not end inside an incomplete
 * (but so far valid) multi-byte sequence. */
size_t utf8_complete_prefix(const char *s, size_t n);
bool utf8_valid(const char *s, size_t n);

/* Files */
/* Reads a whole file (limit: max_bytes). Caller frees *out. */
int lm_read_file(const char *path, size_t max_bytes, char **out, size_t *len, lm_error *err);
/* Writes data to path atomically: temporary file in the same folder, fsync, rename.
 * The old file survives any failure. */
int lm_write_file_atomic(const char *path, const void *data, size_t len, lm_error *err);
/* mkdir -p */
int lm_mkdir_p(const char *path, lm_error *err);

/* Memory statistics from /proc */
uint64_t lm_rss_bytes(void);      /* current resident set size */
uint64_t lm_peak_rss_bytes(void); /* VmHWM */
uint64_t lm_mem_available_bytes(void);
uint64_t lm_file_large_page_bytes(void); /* file pages mapped 2 MiB at a time */
uint64_t lm_anon_large_page_bytes(void); /* anonymous memory in 2 MiB pages */

/* Monotonic time in seconds. */
double lm_now(void);

/* Human-readable size: "1.5 GiB". buf must hold 16 bytes. */
const char *lm_format_size(uint64_t bytes, char buf[16]);
/* A count, of parameters say: "1.05 M", "3.82 B". buf must hold 16 bytes. */
const char *lm_format_count(uint64_t n, char buf[16]);

/* Whether two paths name the same file (through links); paths that do not
 * resolve are compared as written. */
bool lm_same_file(const char *a, const char *b);

#endif

/* util: see include/util.h */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int lm_fail(lm_error *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void out_of_memory(size_t n) {
    fprintf(stderr, "lmterm: out of memory (asked for %zu bytes)\n", n);
    abort();
}

void *lm_xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) out_of_memory(n);
    return p;
}

void *lm_xcalloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) out_of_memory(count * size);
    return p;
}

void *lm_xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) out_of_memory(n);
    return q;
}

char *lm_xstrdup(const char *s) {
    return lm_xstrndup(s, strlen(s));
}

char *lm_xstrndup(const char *s, size_t n) {
    char *p = lm_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *lm_xvasprintf(const char *fmt, va_list ap) {
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    size_t size = (size_t)(n > 0 ? n : 0) + 1;
    char *text = lm_xmalloc(size);
    vsnprintf(text, size, fmt, again);
    va_end(again);
    if (n <= 0) text[0] = 0;
    return text;
}

void *lm_alloc_aligned(size_t n) {
    void *p = NULL;
    size_t rounded = (n + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, rounded ? rounded : 64) != 0) return NULL;
    return p;
}

void lm_free_aligned(void *p) {
    free(p);
}

/* Reserves a large page more than needed, maps over the aligned part, and
 * gives back the reserve on both sides. */
void *lm_map_large(size_t len, int prot, int flags, int fd) {
    const size_t page = (size_t)sysconf(_SC_PAGESIZE), align = LM_LARGE_PAGE;
    if (len == 0 || len > SIZE_MAX / 2 - align) return NULL;
    const size_t map_len = (len + page - 1) & ~(page - 1), span_len = map_len + align;
    uint8_t *span =
        mmap(NULL, span_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (span == MAP_FAILED) return NULL;
    uint8_t *start = (uint8_t *)(((uintptr_t)span + align - 1) & ~(uintptr_t)(align - 1));
    if (mmap(start, len, prot, flags | MAP_FIXED, fd, 0) == MAP_FAILED) {
        munmap(span, span_len);
        return NULL;
    }
    if (start > span) munmap(span, (size_t)(start - span));
    if (span + span_len > start + map_len)
        munmap(start + map_len, (size_t)(span + span_len - (start + map_len)));
#ifdef MADV_HUGEPAGE
    madvise(start, len, MADV_HUGEPAGE);
#endif
    return start;
}

bool lm_mul_overflows(uint64_t a, uint64_t b, uint64_t *out) {
    return __builtin_mul_overflow(a, b, out);
}

bool lm_add_overflows(uint64_t a, uint64_t b, uint64_t *out) {
    return __builtin_add_overflow(a, b, out);
}

/* ---- lm_buf ---- */

static void buf_reserve(lm_buf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) cap *= 2;
    b->data = lm_xrealloc(b->data, cap);
    b->cap = cap;
}

void lm_buf_append(lm_buf *b, const void *data, size_t n) {
    buf_reserve(b, n);
    if (n) memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = 0;
}

void lm_buf_puts(lm_buf *b, const char *s) {
    lm_buf_append(b, s, strlen(s));
}

void lm_buf_printf(lm_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n > 0) {
        buf_reserve(b, (size_t)n);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
}

void lm_buf_free(lm_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

const char *lm_buf_cstr(lm_buf *b) {
    buf_reserve(b, 0);
    b->data[b->len] = 0;
    return b->data;
}

/* ---- UTF-8 ---- */

int utf8_seq_len(unsigned char c) {
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) return 3;
    if (c >= 0xF0 && c <= 0xF4) return 4;
    return 0;
}

static bool is_cont(unsigned char c) {
    return (c & 0xC0) == 0x80;
}

int utf8_decode(const char *str, size_t n, uint32_t *cp) {
    const unsigned char *s = (const unsigned char *)str;
    int len = n ? utf8_seq_len(s[0]) : 0;
    if (len == 0 || (size_t)len > n) goto bad;
    if (len == 1) {
        *cp = s[0];
        return 1;
    }
    for (int i = 1; i < len; i++)
        if (!is_cont(s[i])) goto bad;
    uint32_t c;
    if (len == 2)
        c = ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    else if (len == 3)
        c = ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    else
        c = ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
            ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    /* overlong forms, surrogates and values past U+10FFFF */
    if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
        (c >= 0xD800 && c <= 0xDFFF))
        goto bad;
    *cp = c;
    return len;
bad:
    *cp = 0xFFFD;
    return 1;
}

int utf8_encode(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t utf8_complete_prefix(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    /* look back at most 3 bytes for a lead byte whose sequence is cut short */
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned char c = s[n - back];
        if (is_cont(c)) continue;
        int len = utf8_seq_len(c);
        if (len > 1 && (size_t)len > back) return n - back;
        return n;
    }
    return n;
}

bool utf8_valid(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int k = utf8_decode(s + i, n - i, &cp);
        if (cp == 0xFFFD && k == 1) return false; /* a real U+FFFD takes 3 bytes */
        i += (size_t)k;
    }
    return true;
}

/* ---- files ---- */

int lm_read_file(const char *path, size_t max_bytes, char **out, size_t *len, lm_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return lm_fail(err, "%s: %s", path, strerror(errno));
    lm_buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + n > max_bytes) {
            fclose(f);
            lm_buf_free(&b);
            return lm_fail(err, "%s: file is larger than %zu bytes", path, max_bytes);
        }
        lm_buf_append(&b, chunk, n);
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        lm_buf_free(&b);
        return lm_fail(err, "%s: read error", path);
    }
    lm_buf_cstr(&b);
    *out = b.data;
    *len = b.len;
    return 0;
}

static int write_all(int fd, const void *data, size_t len) {
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int lm_write_file_atomic(const char *path, const void *data, size_t len, lm_error *err) {
    size_t plen = strlen(path);
    char *tmp = lm_xmalloc(plen + 16);
    snprintf(tmp, plen + 16, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return lm_fail(err, "%s: cannot create a temporary file: %s", path, strerror(e));
    }
    int e = 0;
    if (write_all(fd, data, len) != 0 || fsync(fd) != 0) e = errno;
    if (close(fd) != 0 && !e) e = errno;
    if (!e) {
        fchmodat(AT_FDCWD, tmp, 0644, 0);
        if (rename(tmp, path) != 0) e = errno;
    }
    if (e) {
        unlink(tmp);
        free(tmp);
        return lm_fail(err, "%s: cannot write: %s", path, strerror(e));
    }
    free(tmp);
    /* make the rename itself durable */
    char *dir = lm_xstrdup(path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    free(dir);
    return 0;
}

int lm_mkdir_p(const char *path, lm_error *err) {
    char *p = lm_xstrdup(path);
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s;
            *s = 0;
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                int e = errno;
                lm_fail(err, "%s: cannot create folder: %s", p, strerror(e));
                free(p);
                return -1;
            }
            *s = c;
            if (c == 0) break;
        }
    }
    free(p);
    return 0;
}

/* ---- /proc ---- */

static uint64_t proc_field_kib(const char *file, const char *field) {
    FILE *f = fopen(file, "r");
    if (!f) return 0;
    char line[256];
    size_t flen = strlen(field);
    uint64_t v = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            v = strtoull(line + flen + 1, NULL, 10) * 1024;
            break;
        }
    }
    fclose(f);
    return v;
}

uint64_t lm_rss_bytes(void) {
    return proc_field_kib("/proc/self/status", "VmRSS");
}
uint64_t lm_peak_rss_bytes(void) {
    return proc_field_kib("/proc/self/status", "VmHWM");
}
uint64_t lm_mem_available_bytes(void) {
    return proc_field_kib("/proc/meminfo", "MemAvailable");
}
uint64_t lm_file_large_page_bytes(void) {
    return proc_field_kib("/proc/self/smaps_rollup", "FilePmdMapped");
}
uint64_t lm_anon_large_page_bytes(void) {
    return proc_field_kib("/proc/self/smaps_rollup", "AnonHugePages");
}

double lm_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

const char *lm_format_size(uint64_t bytes, char buf[16]) {
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, 16, "%u B", (unsigned)bytes);
    else
        snprintf(buf, 16, v < 10 ? "%.2f %s" : v < 100 ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}

const char *lm_format_count(uint64_t n, char buf[16]) {
    if (n >= 1000000000)
        snprintf(buf, 16, "%.2f B", (double)n / 1e9);
    else if (n >= 1000000)
        snprintf(buf, 16, "%.2f M", (double)n / 1e6);
    else
        snprintf(buf, 16, "%.1f K", (double)n / 1e3);
    return buf;
}

bool lm_same_file(const char *a, const char *b) {
    char *ra = realpath(a, NULL), *rb = realpath(b, NULL);
    bool same = ra && rb ? strcmp(ra, rb) == 0 : strcmp(a, b) == 0;
    free(ra);
    free(rb);
    return same;
}

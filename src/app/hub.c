/* hub: listing, choosing and downloading GGUF files from a Hugging Face hub
 * (see hub.h). The server's answers are treated as hostile: sizes and paths
 * are checked before use, and only a file whose size and sha256 match what
 * the listing promised is installed. */
#include "hub.h"

#include "http.h"
#include "json.h"
#include "paths.h"
#include "sha256.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define HUB_TREE_MAX_BYTES ((size_t)32 << 20)
#define HUB_TREE_MAX_PAGES 50
#define HUB_META_MAX_BYTES 4096
#define HUB_IDLE_DEFAULT_S 30
#define HUB_REPORT_INTERVAL 0.1

/* ---- names and settings ---- */

static bool hub_repo_char(char c) {
    return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.';
}

int hub_parse_ref(const char *ref, char **repo, char **quant, lm_error *err) {
    *repo = *quant = NULL;
    static const char *const prefixes[] = {"https://huggingface.co/", "http://huggingface.co/",
                                           "huggingface.co/", "https://hf.co/", "hf.co/"};
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
        if (strncmp(ref, prefixes[i], strlen(prefixes[i])) == 0) {
            ref += strlen(prefixes[i]);
            break;
        }
    const char *colon = strchr(ref, ':');
    size_t len = colon ? (size_t)(colon - ref) : strlen(ref);
    const char *slash = memchr(ref, '/', len);
    bool ok = slash && slash > ref && (size_t)(slash - ref) + 1 < len && len < 200;
    for (size_t i = 0; ok && i < len; i++) ok = &ref[i] == slash || hub_repo_char(ref[i]);
    if (ok) ok = ref[0] != '.' && slash[1] != '.';
    if (!ok)
        return lm_fail(err,
                       "'%.200s' is not a repository name: use ORG/NAME[:QUANT], e.g. "
                       "bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M",
                       ref);
    if (colon && (!colon[1] || strlen(colon + 1) > 64))
        return lm_fail(err, "'%.200s': the quant after ':' is empty or too long", ref);
    *repo = lm_xstrndup(ref, len);
    if (colon) *quant = lm_xstrdup(colon + 1);
    return 0;
}

char *hub_endpoint(const hub_options *o) {
    const char *e = o && o->endpoint ? o->endpoint : getenv("HF_ENDPOINT");
    if (!e || !*e) e = HUB_DEFAULT_ENDPOINT;
    char *s = lm_xstrdup(e);
    for (size_t n = strlen(s); n > 0 && s[n - 1] == '/'; n--) s[n - 1] = 0;
    return s;
}

static char *hub_read_token_file(const char *path) {
    char *data = NULL;
    size_t len;
    if (!path || lm_read_file(path, 4096, &data, &len, NULL) != 0) return NULL;
    while (len && isspace((unsigned char)data[len - 1])) data[--len] = 0;
    char *start = data;
    while (*start && isspace((unsigned char)*start)) start++;
    char *tok = *start ? lm_xstrdup(start) : NULL;
    explicit_bzero(data, len);
    free(data);
    return tok;
}

char *hub_token(const hub_options *o) {
    if (o && o->token) return o->token[0] ? lm_xstrdup(o->token) : NULL;
    const char *vars[] = {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"};
    for (size_t i = 0; i < 2; i++) {
        const char *t = getenv(vars[i]);
        if (t && *t) return lm_xstrdup(t);
    }
    const char *tp = getenv("HF_TOKEN_PATH");
    if (tp && *tp) return hub_read_token_file(tp);
    lm_buf p = {0};
    const char *hf_home = getenv("HF_HOME");
    if (hf_home && *hf_home) {
        lm_buf_printf(&p, "%s/token", hf_home);
    } else {
        char *cache = paths_xdg_base(PATHS_CACHE);
        if (cache) lm_buf_printf(&p, "%s/huggingface/token", cache);
        free(cache);
    }
    char *tok = p.len ? hub_read_token_file(lm_buf_cstr(&p)) : NULL;
    lm_buf_free(&p);
    return tok;
}

char *hub_models_dir(void) {
    return paths_lmterm(PATHS_DATA, "models");
}

/* ---- listing ---- */

/* The next page's URL from a Link header (<URL>; rel="next"), or NULL. */
static char *hub_next_page(const http_head *h) {
    char link[2048];
    if (!http_head_find(h, "Link", link, sizeof link)) return NULL;
    char *next = strstr(link, "rel=\"next\"");
    if (!next) return NULL;
    *next = 0;
    char *lt = strrchr(link, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    if (!lt || !gt) return NULL;
    return lm_xstrndup(lt + 1, (size_t)(gt - lt - 1));
}

/* Turns a 401/403/404 into what the user should do. */
static int hub_status_error(const http_result *res, const char *endpoint, const char *repo,
                            const char *what, bool have_token, const lm_error *http_err,
                            lm_error *err) {
    char code[64] = "";
    http_head_find(&res->head, "X-Error-Code", code, sizeof code);
    long st = res->head.status;
    if (strcmp(code, "RepoNotFound") == 0 || (st == 404 && !code[0] && !what))
        return lm_fail(err, "repository %s not found on %s%s", repo, endpoint,
                       have_token ? "" : " (a private one needs HF_TOKEN)");
    if (strcmp(code, "RevisionNotFound") == 0)
        return lm_fail(err, "%s has no revision of that name on %s", repo, endpoint);
    if (st == 401 || st == 403) {
        if (!have_token)
            return lm_fail(err,
                           "%s is gated (HTTP %ld): accept its licence at %s/%s, then set "
                           "HF_TOKEN to an access token (or run `huggingface-cli login`)",
                           repo, st, endpoint, repo);
        return lm_fail(err,
                       "your Hugging Face token has no access to %s (HTTP %ld): accept its "
                       "licence at %s/%s with that account, or check HF_TOKEN",
                       repo, st, endpoint, repo);
    }
    if (st == 404 && what) return lm_fail(err, "%s has no file %s on %s", repo, what, endpoint);
    *err = *http_err;
    return -1;
}

int hub_list_files(const hub_options *o, const char *repo, hub_list *out, lm_error *err) {
    memset(out, 0, sizeof *out);
    char *endpoint = hub_endpoint(o), *token = hub_token(o);
    char *rev = http_escape(o && o->revision ? o->revision : "main", NULL);
    char *erepo = http_escape(repo, "/");
    lm_buf url = {0};
    lm_buf_printf(&url, "%s/api/models/%s/tree/%s?recursive=true", endpoint, erepo, rev);
    char *next = lm_xstrdup(lm_buf_cstr(&url));
    int rc = 0;
    for (int page = 0; next && page < HUB_TREE_MAX_PAGES; page++) {
        http_request req = {.url = next,
                            .bearer = token,
                            .cancel = o ? o->cancel : NULL,
                            .connect_timeout_ms = o ? o->connect_timeout_ms : 0,
                            .idle_timeout_s =
                                o && o->idle_timeout_s ? o->idle_timeout_s : HUB_IDLE_DEFAULT_S,
                            .max_body = HUB_TREE_MAX_BYTES};
        http_result res;
        lm_error herr;
        rc = http_perform(&req, &res, &herr);
        if (rc != 0 && res.kind == HTTP_ERR_STATUS)
            hub_status_error(&res, endpoint, repo, NULL, token != NULL, &herr, err);
        else if (rc != 0)
            *err = herr;
        else
            rc = hub_parse_list(res.body.data ? res.body.data : "", res.body.len, out, err);
        free(next);
        next = rc == 0 ? hub_next_page(&res.head) : NULL;
        http_result_free(&res);
        if (rc) break;
    }
    free(next);
    lm_buf_free(&url);
    free(erepo);
    free(rev);
    free(endpoint);
    if (token) explicit_bzero(token, strlen(token));
    free(token);
    if (rc) hub_list_free(out);
    return rc;
}

/* ---- downloading ---- */

typedef struct hub_dl {
    const hub_options *o;
    const hub_file *f;
    const char *repo;
    const char *name;
    char *part, *meta;
    int fd;
    sha256_ctx sha;
    uint64_t have;      /* bytes in the part file, all hashed */
    uint64_t run_start; /* have when this transfer began */
    double t0, last_report;
    char expect[65]; /* the sha256 to match; empty: size only */
    char etag[256];  /* what the part file is a part of, from its meta file */
    bool restart;    /* the answer does not continue the part: start over */
    bool write_failed;
    int last_tenth; /* of the last report: each tenth of the file is reported */
} hub_dl;

static void hub_report(hub_dl *d, enum hub_phase phase, bool finished) {
    double now = lm_now();
    if (!d->o || !d->o->on_progress) return;
    int tenth = d->f->size ? (int)(10 * d->have / d->f->size) : 0;
    bool crossed = phase == HUB_PHASE_DOWNLOAD && tenth != d->last_tenth;
    if (!finished && !crossed && now - d->last_report < HUB_REPORT_INTERVAL) return;
    d->last_report = now;
    if (phase == HUB_PHASE_DOWNLOAD) d->last_tenth = tenth;
    double secs = now - d->t0;
    double rate = secs > 0.05 ? (double)(d->have - d->run_start) / secs : 0;
    hub_progress p = {
        .phase = phase,
        .file = d->name,
        .done = d->have,
        .total = d->f->size,
        .bytes_per_s = rate,
        .eta_s = rate > 0 && d->f->size >= d->have ? (double)(d->f->size - d->have) / rate : -1,
        .finished = finished};
    d->o->on_progress(d->o->user, &p);
}

static bool hub_cancelled(const hub_dl *d) {
    return d->o && d->o->cancel && atomic_load(d->o->cancel);
}

/* The meta file says which file of which repository the part belongs to. */
static void hub_write_meta(hub_dl *d) {
    lm_buf b = {0};
    lm_buf_puts(&b, "{\"repo\": ");
    json_write_str(&b, d->repo, strlen(d->repo));
    lm_buf_puts(&b, ", \"file\": ");
    json_write_str(&b, d->f->path, strlen(d->f->path));
    lm_buf_printf(&b, ", \"size\": %" PRIu64 ", \"sha256\": \"%s\", \"etag\": ", d->f->size,
                  d->f->sha256);
    json_write_str(&b, d->etag, strlen(d->etag));
    lm_buf_puts(&b, "}\n");
    lm_write_file_atomic(d->meta, b.data, b.len, NULL); /* without it, a resume starts over */
    lm_buf_free(&b);
}

/* True when the meta file describes this very file (same size and hash). */
static bool hub_meta_matches(hub_dl *d) {
    char *text = NULL;
    size_t len;
    if (lm_read_file(d->meta, HUB_META_MAX_BYTES, &text, &len, NULL) != 0) return false;
    json_value *v = json_parse(text, len, NULL);
    free(text);
    bool same = v && json_get_num(v, "size", -1) == (double)d->f->size &&
                strcmp(json_get_str(v, "sha256", "?"), d->f->sha256) == 0 &&
                strcmp(json_get_str(v, "file", ""), d->f->path) == 0;
    if (same) snprintf(d->etag, sizeof d->etag, "%s", json_get_str(v, "etag", ""));
    json_free(v);
    return same;
}

static int hub_truncate(hub_dl *d, lm_error *err) {
    if (ftruncate(d->fd, 0) != 0 || lseek(d->fd, 0, SEEK_SET) != 0)
        return lm_fail(err, "cannot reset %s: %s", d->part, strerror(errno));
    sha256_init(&d->sha);
    d->have = d->run_start = 0;
    return 0;
}

/* Hashes what the part file holds already, so the digest covers all of it. */
static int hub_hash_part(hub_dl *d, uint64_t len, lm_error *err) {
    char *buf = lm_xmalloc(1 << 20);
    uint64_t off = 0;
    int rc = 0;
    while (off < len) {
        size_t want = len - off < (1 << 20) ? (size_t)(len - off) : (1 << 20);
        ssize_t n = pread(d->fd, buf, want, (off_t)off);
        if (n <= 0) {
            rc = lm_fail(err, "cannot read %s: %s", d->part, n ? strerror(errno) : "cut short");
            break;
        }
        sha256_update(&d->sha, buf, (size_t)n);
        off += (uint64_t)n;
        d->have = off;
        hub_report(d, HUB_PHASE_CHECK, false);
        if (hub_cancelled(d)) {
            rc = lm_fail(err, "cancelled");
            break;
        }
    }
    free(buf);
    return rc;
}

static bool hub_looks_sha256(const char *s) {
    size_t n = strlen(s);
    if (n == 66 && s[0] == '"' && s[65] == '"') s++, n -= 2;
    if (n != 64) return false;
    for (size_t i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)s[i])) return false;
    return true;
}

static int hub_on_head(void *user, const http_head *h, lm_error *err) {
    hub_dl *d = user;
    if (h->status >= 300) return 0; /* the error path reads the status */
    const char *etag = h->linked_etag[0] ? h->linked_etag : h->etag;
    if (!d->expect[0] && hub_looks_sha256(h->linked_etag)) {
        const char *s = h->linked_etag[0] == '"' ? h->linked_etag + 1 : h->linked_etag;
        for (int i = 0; i < 64; i++) d->expect[i] = (char)tolower((unsigned char)s[i]);
        d->expect[64] = 0;
    }
    if (h->status == 206) {
        bool continues = h->has_range && h->range_start == d->have &&
                         (h->range_total < 0 || (uint64_t)h->range_total == d->f->size) &&
                         (!d->etag[0] || !etag[0] || strcmp(d->etag, etag) == 0);
        if (!continues) {
            d->restart = true;
            return lm_fail(err, "the file on the server changed since the part was written");
        }
    } else if (d->have > 0) { /* a 200: the server sends all of it */
        if (hub_truncate(d, err) != 0) return -1;
    }
    if (strcmp(d->etag, etag) != 0) {
        snprintf(d->etag, sizeof d->etag, "%s", etag);
        hub_write_meta(d);
    }
    return 0;
}

static int hub_on_body(void *user, const char *data, size_t n, lm_error *err) {
    hub_dl *d = user;
    if (d->have + n > d->f->size)
        return lm_fail(err, "the server sent more than the %" PRIu64 " bytes of %s", d->f->size,
                       d->name);
    for (size_t off = 0; off < n;) {
        ssize_t w = write(d->fd, data + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            d->write_failed = true;
            char a[16], b[16];
            if (e == ENOSPC || e == EDQUOT || e == EFBIG)
                return lm_fail(err,
                               "the disk is full after %s of %s of %s; %s is kept: free some "
                               "space and run the same command to resume",
                               lm_format_size(d->have + off, a), lm_format_size(d->f->size, b),
                               d->name, d->part);
            return lm_fail(err, "cannot write %s: %s (it is kept for a resume)", d->part,
                           strerror(e));
        }
        off += (size_t)w;
    }
    sha256_update(&d->sha, data, n);
    d->have += n;
    hub_report(d, HUB_PHASE_DOWNLOAD, false);
    return 0;
}

static int hub_check_space(const hub_dl *d, const char *dir, lm_error *err) {
    struct statvfs vfs;
    if (statvfs(dir, &vfs) != 0) return 0; /* unknown: the writes will tell */
    uint64_t need = d->f->size - d->have;
    need += need / 100;
    uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    const char *fake = getenv("LMTERM_TEST_DISK_FREE"); /* tests of the refusal */
    if (fake && *fake) avail = strtoull(fake, NULL, 10);
    if (avail >= need) return 0;
    char a[16], b[16];
    return lm_fail(err, "not enough disk space for %s: it needs %s, %s has %s free", d->name,
                   lm_format_size(need, a), dir, lm_format_size(avail, b));
}

/* Opens (or creates) the part file and decides where the download starts. */
static int hub_open_part(hub_dl *d, hub_outcome *out, lm_error *err) {
    d->fd = open(d->part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (d->fd < 0) return lm_fail(err, "cannot create %s: %s", d->part, strerror(errno));
    if (lockf(d->fd, F_TLOCK, 0) != 0)
        return lm_fail(err, "%s is being downloaded by another lmterm already", d->name);
    struct stat st;
    if (fstat(d->fd, &st) != 0) return lm_fail(err, "cannot read %s: %s", d->part, strerror(errno));
    sha256_init(&d->sha);
    uint64_t len = (uint64_t)st.st_size;
    if (len > 0 && (len > d->f->size || !hub_meta_matches(d))) {
        out->restarted = true;
        d->etag[0] = 0;
        len = 0;
        if (hub_truncate(d, err) != 0) return -1;
    }
    if (len > 0) {
        if (hub_hash_part(d, len, err) != 0) return -1;
        out->resumed_from = len;
    } else {
        hub_write_meta(d);
    }
    if (lseek(d->fd, (off_t)d->have, SEEK_SET) < 0)
        return lm_fail(err, "cannot seek in %s: %s", d->part, strerror(errno));
    return 0;
}

/* Size and hash: installs the part as the file, or removes it. */
static int hub_finish(hub_dl *d, const char *dest, hub_outcome *out, lm_error *err) {
    hub_report(d, HUB_PHASE_VERIFY, true);
    if (d->have != d->f->size) {
        out->part_kept = true;
        return lm_fail(err,
                       "%s ended after %" PRIu64 " of %" PRIu64 " bytes; run the same command "
                       "to resume",
                       d->name, d->have, d->f->size);
    }
    uint8_t dig[32];
    char hex[65];
    sha256_final(&d->sha, dig);
    sha256_hex(dig, hex);
    if (d->expect[0] && strcmp(hex, d->expect) != 0) {
        unlink(d->part);
        unlink(d->meta);
        return lm_fail(err,
                       "%s is corrupt: its sha256 is %.12s…, the hub says %.12s…; the "
                       "download was deleted (run the same command to try again)",
                       d->name, hex, d->expect);
    }
    if (fsync(d->fd) != 0 || rename(d->part, dest) != 0) {
        out->part_kept = true;
        return lm_fail(err, "cannot install %s: %s", dest, strerror(errno));
    }
    unlink(d->meta);
    return 0;
}

/* One transfer from d->have on. */
static int hub_transfer(hub_dl *d, const char *url, const char *token, http_result *res,
                        lm_error *err) {
    d->run_start = d->have;
    d->t0 = lm_now();
    d->restart = false;
    http_request req = {.url = url,
                        .bearer = token,
                        .range_from = d->have,
                        .cancel = d->o ? d->o->cancel : NULL,
                        .connect_timeout_ms = d->o ? d->o->connect_timeout_ms : 0,
                        .idle_timeout_s = d->o && d->o->idle_timeout_s ? d->o->idle_timeout_s
                                                                       : HUB_IDLE_DEFAULT_S,
                        .on_head = hub_on_head,
                        .on_body = hub_on_body,
                        .user = d};
    return http_perform(&req, res, err);
}

/* What a failed transfer means for the user. */
static int hub_explain(hub_dl *d, const http_result *res, const char *endpoint, const char *token,
                       const lm_error *herr, hub_outcome *out, lm_error *err) {
    out->part_kept = d->have > 0 || res->kind != HTTP_ERR_STATUS;
    if (res->kind == HTTP_ERR_CANCELLED) {
        out->cancelled = true;
        return lm_fail(err,
                       "stopped after %" PRIu64 " of %" PRIu64 " bytes of %s; resume with "
                       "the same command",
                       d->have, d->f->size, d->name);
    }
    if (res->kind == HTTP_ERR_STATUS)
        return hub_status_error(res, endpoint, d->repo, d->f->path, token != NULL, herr, err);
    if (d->write_failed || res->kind == HTTP_ERR_CALLBACK) {
        *err = *herr;
        return -1;
    }
    double pct = d->f->size ? 100.0 * (double)d->have / (double)d->f->size : 0;
    return lm_fail(err, "%s; run the same command to resume from %.0f %%", herr->msg, pct);
}

static int hub_run_download(hub_dl *d, const char *dest, const char *url, const char *endpoint,
                            const char *token, hub_outcome *out, lm_error *err) {
    for (int attempt = 0;; attempt++) {
        hub_report(d, HUB_PHASE_DOWNLOAD, false);
        http_result res;
        lm_error herr = {{0}};
        bool complete = d->have == d->f->size && d->have > 0;
        int rc = complete ? 0 : hub_transfer(d, url, token, &res, &herr);
        if (complete) memset(&res, 0, sizeof res);
        bool range_past_end = rc != 0 && res.head.status == 416;
        if (rc == 0 || (range_past_end && d->have == d->f->size)) {
            http_result_free(&res);
            hub_report(d, HUB_PHASE_DOWNLOAD, true);
            return hub_finish(d, dest, out, err);
        }
        if ((d->restart || range_past_end) && attempt == 0) { /* once, from the start */
            http_result_free(&res);
            out->restarted = true;
            out->resumed_from = 0;
            d->etag[0] = 0;
            if (hub_truncate(d, err) != 0) return -1;
            hub_write_meta(d);
            continue;
        }
        rc = hub_explain(d, &res, endpoint, token, &herr, out, err);
        http_result_free(&res);
        return rc;
    }
}

static char *hub_concat(const char *a, const char *b) {
    lm_buf x = {0};
    lm_buf_printf(&x, "%s%s", a, b);
    char *r = lm_xstrdup(lm_buf_cstr(&x));
    lm_buf_free(&x);
    return r;
}

/* The URL of a file: {endpoint}/{repo}/resolve/{revision}/{path}. */
static char *hub_resolve_url(const hub_options *o, const char *endpoint, const char *repo,
                             const char *path) {
    char *rev = http_escape(o && o->revision ? o->revision : "main", NULL);
    char *erepo = http_escape(repo, "/"), *epath = http_escape(path, "/");
    lm_buf u = {0};
    lm_buf_printf(&u, "%s/%s/resolve/%s/%s", endpoint, erepo, rev, epath);
    char *url = lm_xstrdup(lm_buf_cstr(&u));
    lm_buf_free(&u);
    free(rev);
    free(erepo);
    free(epath);
    return url;
}

int hub_download(const hub_options *o, const char *repo, const hub_file *f, hub_outcome *out,
                 lm_error *err) {
    memset(out, 0, sizeof *out);
    const char *name = hub_file_name(f->path);
    if (!*name || name[0] == '.') return lm_fail(err, "'%s' is not a file name to save", f->path);
    char *dir = o && o->dest_dir ? lm_xstrdup(o->dest_dir) : hub_models_dir();
    if (!dir) return lm_fail(err, "no home folder to keep models in (set HOME or XDG_DATA_HOME)");
    if (lm_mkdir_p(dir, err) != 0) {
        free(dir);
        return -1;
    }
    char *slash_dir = hub_concat(dir, "/");
    out->path = hub_concat(slash_dir, name);
    free(slash_dir);
    out->repo_file = lm_xstrdup(f->path);
    out->size = f->size;
    struct stat st;
    if (stat(out->path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == f->size) {
        out->already = true;
        free(dir);
        return 0;
    }
    hub_dl d = {
        .o = o, .f = f, .repo = repo, .name = name, .fd = -1, .t0 = lm_now(), .last_tenth = -1};
    memcpy(d.expect, f->sha256, sizeof d.expect);
    d.part = hub_concat(out->path, ".part");
    d.meta = hub_concat(out->path, ".part.meta");
    char *endpoint = hub_endpoint(o), *token = hub_token(o);
    char *url = hub_resolve_url(o, endpoint, repo, f->path);
    int rc = hub_open_part(&d, out, err);
    if (rc == 0 && (rc = hub_check_space(&d, dir, err)) != 0 && d.have == 0) {
        unlink(d.part); /* nothing worth keeping */
        unlink(d.meta);
    }
    if (rc == 0)
        rc = hub_run_download(&d, out->path, url, endpoint, token, out, err);
    else if (d.fd >= 0 && d.have > 0)
        out->part_kept = true;
    if (d.fd >= 0) close(d.fd);
    if (token) explicit_bzero(token, strlen(token));
    free(token);
    free(url);
    free(endpoint);
    free(d.part);
    free(d.meta);
    free(dir);
    return rc;
}

int hub_pull(const hub_options *o, const char *ref, const char *file, hub_outcome *out,
             lm_error *err) {
    memset(out, 0, sizeof *out);
    char *repo, *quant;
    if (hub_parse_ref(ref, &repo, &quant, err) != 0) return -1;
    if (o && o->on_progress) {
        hub_progress p = {.phase = HUB_PHASE_LIST, .file = repo, .eta_s = -1};
        o->on_progress(o->user, &p);
    }
    hub_list l;
    char note[256] = "";
    int rc = hub_list_files(o, repo, &l, err);
    const hub_file *f = NULL;
    if (rc == 0) {
        f = file ? hub_find(&l, repo, file, err) : hub_pick(&l, repo, quant, note, err);
        if (!f) rc = -1;
    }
    if (rc == 0) rc = hub_download(o, repo, f, out, err);
    memcpy(out->note, note, sizeof out->note);
    if (l.files || rc == 0) hub_list_free(&l);
    free(repo);
    free(quant);
    return rc;
}

void hub_outcome_free(hub_outcome *out) {
    free(out->path);
    free(out->repo_file);
    out->path = out->repo_file = NULL;
}

/* ---- the chat's suggestions ---- */

const hub_suggestion *hub_suggestions(size_t *n) {
    /* Repositories that are not gated; sizes as the hub showed them, rounded. */
    static const hub_suggestion list[] = {
        {"Llama 3.2 1B Instruct", "bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", "Q4_K_M",
         "0.8 GB"},
        {"Llama 3.2 1B Instruct", "bartowski/Llama-3.2-1B-Instruct-GGUF:Q8_0", "Q8_0", "1.3 GB"},
        {"Llama 3.2 3B Instruct", "bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M", "Q4_K_M",
         "2.0 GB"},
        {"Phi-3 mini 4k Instruct", "microsoft/Phi-3-mini-4k-instruct-gguf:q4", "Q4", "2.4 GB"},
        {"Phi-3.5 mini Instruct", "bartowski/Phi-3.5-mini-instruct-GGUF:Q4_K_M", "Q4_K_M",
         "2.4 GB"},
        {"Llama 3.1 8B Instruct", "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF:Q4_K_M", "Q4_K_M",
         "4.9 GB"},
    };
    *n = sizeof list / sizeof *list;
    return list;
}

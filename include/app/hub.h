/* hub: GGUF files from Hugging Face (or a mirror), the way huggingface_hub
 * reaches them: the file list from {endpoint}/api/models/{repo}/tree/{rev}
 * (size and lfs.oid, the sha256, of each file), the bytes from
 * {endpoint}/{repo}/resolve/{rev}/{file} following redirects. HF_ENDPOINT,
 * HF_TOKEN (or the token file `huggingface-cli login` writes) as the
 * environment gives them.
 *
 * A download goes to DIR/FILE.part (with FILE.part.meta naming what it is a
 * part of), resumes with a Range request, is hashed while it streams and is
 * renamed to DIR/FILE only when its size and sha256 match. Runs on the
 * calling thread; the cancel flag stops it within 100 ms, keeping the part. */
#ifndef LMTERM_HUB_H
#define LMTERM_HUB_H

#include "util.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define HUB_DEFAULT_ENDPOINT "https://huggingface.co"
#define HUB_DEFAULT_QUANT "Q4_K_M"

typedef struct hub_file {
    char *path; /* in the repository, may have folders */
    uint64_t size;
    char sha256[65]; /* lfs.oid; empty for a file not stored in LFS */
} hub_file;

typedef struct hub_list {
    hub_file *files;
    size_t n;
} hub_list;

enum hub_phase { HUB_PHASE_LIST, HUB_PHASE_CHECK, HUB_PHASE_DOWNLOAD, HUB_PHASE_VERIFY };

typedef struct hub_progress {
    enum hub_phase phase;
    const char *file; /* its name */
    uint64_t done;    /* bytes of the file on disk (a resumed part counts) */
    uint64_t total;
    double bytes_per_s; /* of this run's transfer */
    double eta_s;       /* < 0: unknown */
    bool finished;      /* the last report of the phase */
} hub_progress;

/* Called at most 10 times a second, and besides when the download passes
 * each tenth of the file and with finished set at the end of a phase. */
typedef void (*hub_progress_fn)(void *user, const hub_progress *p);

typedef struct hub_options {
    const char *endpoint;    /* NULL: $HF_ENDPOINT, else HUB_DEFAULT_ENDPOINT */
    const char *token;       /* NULL: $HF_TOKEN, else the token file; "" for none */
    const char *revision;    /* NULL: "main" */
    const char *dest_dir;    /* NULL: $XDG_DATA_HOME/lmterm/models */
    long connect_timeout_ms; /* 0: 10 s */
    long idle_timeout_s;     /* 0: 30 s */
    const atomic_bool *cancel;
    hub_progress_fn on_progress;
    void *user;
} hub_options;

/* What a pull did. */
typedef struct hub_outcome {
    char *path;      /* the installed file (caller frees) */
    char *repo_file; /* its path in the repository (caller frees) */
    uint64_t size;
    bool already;          /* it was there already: nothing downloaded */
    uint64_t resumed_from; /* > 0: a part file of this many bytes was continued */
    bool restarted;        /* a part file of another version was discarded */
    bool cancelled;        /* stopped by the cancel flag; the part file is kept */
    bool part_kept;        /* failed, and FILE.part stays for a resume */
    char note[256];        /* how the file was chosen, when that was not plain */
} hub_outcome;

/* "org/name[:quant]" (also with an "hf.co/" or "https://huggingface.co/"
 * prefix) into *repo and *quant (NULL when none). Caller frees both. */
int hub_parse_ref(const char *ref, char **repo, char **quant, lm_error *err);

/* The endpoint in use, without a trailing slash. Caller frees. */
char *hub_endpoint(const hub_options *o);
/* The token in use (HF_TOKEN, HUGGING_FACE_HUB_TOKEN, HF_TOKEN_PATH, $HF_HOME/token,
 * ~/.cache/huggingface/token), NULL when none. Caller frees. */
char *hub_token(const hub_options *o);
/* The folder pulled models go to. Caller frees; NULL without a home folder. */
char *hub_models_dir(void);

int hub_list_files(const hub_options *o, const char *repo, hub_list *out, lm_error *err);
/* Appends the files of one page of the tree API's answer to out. */
int hub_parse_list(const char *text, size_t len, hub_list *out, lm_error *err);
void hub_list_free(hub_list *l);

/* The GGUF file a quant names: the one whose name contains quant
 * (case-insensitive; among several, the one whose quant tag equals it, else
 * the smallest); without a quant, Q4_K_M, else the smallest Q4, else the only
 * one. NULL with one line in err listing what there is. A note about the
 * choice ("3 files match q4_k; took the smallest") goes to *note when not NULL. */
const hub_file *hub_pick(const hub_list *l, const char *repo, const char *quant, char note[256],
                         lm_error *err);
/* The entry whose path (or name) is file. NULL with the list in err. */
const hub_file *hub_find(const hub_list *l, const char *repo, const char *file, lm_error *err);

/* Downloads f of repo into the destination folder. */
int hub_download(const hub_options *o, const char *repo, const hub_file *f, hub_outcome *out,
                 lm_error *err);

/* All of it: ref is "org/name[:quant]"; file (may be NULL) names the file. */
int hub_pull(const hub_options *o, const char *ref, const char *file, hub_outcome *out,
             lm_error *err);
void hub_outcome_free(hub_outcome *out);

/* The chat's short list of known-good instruct GGUF repositories. The sizes
 * are approximate (the listing gives the exact one when a download starts). */
typedef struct hub_suggestion {
    const char *label; /* "Llama 3.2 1B Instruct" */
    const char *ref;   /* "bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M" */
    const char *quant; /* "Q4_K_M" */
    const char *size;  /* "0.8 GB" */
} hub_suggestion;
const hub_suggestion *hub_suggestions(size_t *n);

/* The last component of a path in the repository (the local file's name). */
const char *hub_file_name(const char *path);

/* "Q4_K_M" from "Phi-3-mini-4k-instruct-Q4_K_M.gguf" (the last '-' or '.'
 * separated part before .gguf), into buf. */
const char *hub_quant_tag(const char *name, char *buf, size_t size);

#endif

/* download: one `pull` on a thread of its own, for the chat: the thread runs
 * hub_pull and says how far it got through a pipe the chat's poll loop
 * watches, so the chat stays usable. */
#ifndef LMTERM_DOWNLOAD_H
#define LMTERM_DOWNLOAD_H

#include "hub.h"

#include <stdbool.h>

typedef struct download download;

/* What the chat shows of a download. */
typedef struct download_state {
    char ref[256];  /* what was asked: ORG/NAME[:QUANT] */
    char file[256]; /* the file, once chosen */
    hub_progress progress;
    bool finished;
    bool ok;         /* finished: installed (or there already) */
    bool cancelled;  /* finished: stopped by download_cancel */
    char path[4096]; /* ok: the installed file */
    char error[512]; /* finished and not ok */
} download_state;

/* Starts pulling ref (ORG/NAME[:QUANT]) with the environment's hub settings. */
download *download_start(const char *ref, lm_error *err);
/* Readable when there is news; download_poll drains it. */
int download_fd(const download *d);
/* A copy of the state now. */
void download_poll(download *d, download_state *out);
/* Asks the thread to stop (within 100 ms); the part file stays for a resume. */
void download_cancel(download *d);
/* Cancels if running, waits for the thread, frees. */
void download_free(download *d);

#endif

/* session: downloads from the hub while the chat goes on (see session.h).
 * The download runs on its own thread (download.c); the chat's poll loop
 * watches session_download_fd and calls session_download_pump. */
#include "session_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int session_download_start(session *s, const char *ref, lm_error *err) {
    if (s->download)
        return lm_fail(err, "%s is being downloaded already: Esc in this menu stops it",
                       s->dl_state.file[0] ? s->dl_state.file : s->dl_state.ref);
    download *d = download_start(ref, err);
    if (!d) return -1;
    s->download = d;
    s->dl_any = true;
    download_poll(d, &s->dl_state);
    session_notice(s, NOTICE_INFO, "Downloading %s in the background (F2 shows how far).", ref);
    session_status_changed(s);
    return 0;
}

void session_download_cancel(session *s) {
    download_cancel(s->download);
}

bool session_download_state(const session *s, download_state *out) {
    if (!s->dl_any) return false;
    *out = s->dl_state;
    return true;
}

bool session_download_running(const session *s) {
    return s->download != NULL;
}

int session_download_fd(const session *s) {
    return download_fd(s->download);
}

/* The download ended: say how, and load what it brought. */
static void session_download_ended(session *s) {
    download_state *st = &s->dl_state;
    download_free(s->download);
    s->download = NULL;
    if (st->cancelled) {
        session_notice(s, NOTICE_INFO,
                       "Download of %s stopped; what arrived is kept: choose it again to resume.",
                       st->file[0] ? st->file : st->ref);
        return;
    }
    if (!st->ok) {
        session_notice(s, NOTICE_ERROR, "Download failed: %s", st->error);
        return;
    }
    char sz[16];
    session_notice(s, NOTICE_INFO, "Downloaded %s (%s, sha256 checked) to %s.", st->file,
                   lm_format_size(st->progress.total, sz), st->path);
    if (session_busy(s)) {
        session_notice(s, NOTICE_INFO, "Choose it in F2 when the reply is done.");
        return;
    }
    lm_error err;
    if (session_load_model(s, st->path, &err) != 0)
        session_notice(s, NOTICE_ERROR, "It does not load: %s", err.msg);
}

void session_download_pump(session *s) {
    if (!s->download) return;
    download_poll(s->download, &s->dl_state);
    if (s->dl_state.finished) session_download_ended(s);
    session_status_changed(s);
}

/* download: hub_pull on a thread; progress goes into a state under a mutex
 * and a byte into a pipe, so the poll loop wakes at most ten times a second. */
#include "download.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct download {
    pthread_t thread;
    int pipe[2];
    atomic_bool cancel;
    pthread_mutex_t mu;
    download_state state; /* under mu */
    char *ref;
};

static void download_wake(download *d) {
    char c = 1;
    /* non-blocking: a full pipe already says there is news */
    if (write(d->pipe[1], &c, 1) < 0 && errno != EAGAIN) return;
}

static void download_progress(void *user, const hub_progress *p) {
    download *d = user;
    pthread_mutex_lock(&d->mu);
    d->state.progress = *p;
    d->state.progress.file = NULL; /* points into the thread's data */
    if (p->phase != HUB_PHASE_LIST && p->file)
        snprintf(d->state.file, sizeof d->state.file, "%s", p->file);
    pthread_mutex_unlock(&d->mu);
    download_wake(d);
}

static void *download_main(void *arg) {
    download *d = arg;
    hub_options o = {.cancel = &d->cancel, .on_progress = download_progress, .user = d};
    hub_outcome out;
    lm_error err = {{0}};
    int rc = hub_pull(&o, d->ref, NULL, &out, &err);
    pthread_mutex_lock(&d->mu);
    d->state.finished = true;
    d->state.ok = rc == 0;
    d->state.cancelled = out.cancelled;
    if (rc == 0) {
        snprintf(d->state.path, sizeof d->state.path, "%s", out.path);
        d->state.progress.done = d->state.progress.total = out.size;
    } else {
        snprintf(d->state.error, sizeof d->state.error, "%s", err.msg);
    }
    pthread_mutex_unlock(&d->mu);
    hub_outcome_free(&out);
    download_wake(d);
    return NULL;
}

download *download_start(const char *ref, lm_error *err) {
    char *repo, *quant;
    if (hub_parse_ref(ref, &repo, &quant, err) != 0) return NULL;
    free(repo);
    free(quant);
    download *d = lm_xcalloc(1, sizeof *d);
    if (pipe2(d->pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        free(d);
        lm_fail(err, "cannot start a download: %s", strerror(errno));
        return NULL;
    }
    pthread_mutex_init(&d->mu, NULL);
    d->ref = lm_xstrdup(ref);
    snprintf(d->state.ref, sizeof d->state.ref, "%s", ref);
    d->state.progress.eta_s = -1;
    if (pthread_create(&d->thread, NULL, download_main, d) != 0) {
        close(d->pipe[0]);
        close(d->pipe[1]);
        pthread_mutex_destroy(&d->mu);
        free(d->ref);
        free(d);
        lm_fail(err, "cannot start a download thread");
        return NULL;
    }
    return d;
}

int download_fd(const download *d) {
    return d ? d->pipe[0] : -1;
}

void download_poll(download *d, download_state *out) {
    char buf[64];
    while (read(d->pipe[0], buf, sizeof buf) > 0) {
    }
    pthread_mutex_lock(&d->mu);
    *out = d->state;
    pthread_mutex_unlock(&d->mu);
}

void download_cancel(download *d) {
    if (d) atomic_store(&d->cancel, true);
}

void download_free(download *d) {
    if (!d) return;
    download_cancel(d);
    pthread_join(d->thread, NULL);
    close(d->pipe[0]);
    close(d->pipe[1]);
    pthread_mutex_destroy(&d->mu);
    free(d->ref);
    free(d);
}

/* session: the precision menu's measurements. The figures each precision of
 * the model in use last measured (tok/s, memory, KL divergence, ΔPPL) come
 * from the state folder's record, which `lmterm compare` and "Measure all"
 * write; "Measure all" runs the same comparison on a thread of its own,
 * with its own model copies, while the chat goes on with the model in use.
 * No curses here. */
#include "session_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads the record for the model in use when that model changed. */
static void refresh(session *s, bool force) {
    if (!s->model_path) return;
    if (!force && s->measured_path && strcmp(s->measured_path, s->model_path) == 0) return;
    free(s->measured_path);
    s->measured_path = lm_xstrdup(s->model_path);
    s->measured_known = measure_cache_load(NULL, s->model_path, s->measured);
}

bool session_measured(session *s, measure_row rows[SESSION_N_PRECISIONS]) {
    if (!s->be->caps.local_files) return false;
    session_measure_progress(s, NULL, 0, NULL); /* a finished job's rows first */
    refresh(s, false);
    memcpy(rows, s->measured, sizeof s->measured);
    return s->measured_known;
}

int session_measure_start(session *s, lm_error *err) {
    if (!s->be->caps.local_files || !s->loaded || s->demo)
        return lm_fail(err, "Measuring needs a model file in use.");
    if (s->measure) return lm_fail(err, "A measurement runs already: Esc cancels it.");
    measure_compare_options o = {.model_path = s->model_path, .n_threads = s->opt.model.n_threads};
    for (int p = 0; p < MEASURE_N_PRECISIONS; p++) o.want[p] = true;
    /* a shorter text run than `lmterm compare` makes by default: the chat
     * shares the machine meanwhile */
    o.n_ctx = 256;
    o.n_chunks = 4;
    s->measure = measure_job_start(&o, err);
    if (!s->measure) return -1;
    free(s->measure_path);
    s->measure_path = lm_xstrdup(s->model_path);
    session_notice(s, NOTICE_OUTPUT,
                   "Measuring every precision of this model in the background (F3 shows how "
                   "far; Esc there cancels). Replies are slower meanwhile.");
    return 0;
}

void session_measure_cancel(session *s) {
    if (s->measure) measure_job_cancel(s->measure);
}

/* The job has ended: keep its rows, say so. */
static void finish(session *s) {
    measure_compare_result *r = lm_xcalloc(1, sizeof *r);
    lm_error err;
    int rc = measure_job_finish(s->measure, r, &err);
    s->measure = NULL;
    if (rc < 0) {
        session_notice(s, NOTICE_ERROR, "The measurement failed: %s", err.msg);
    } else {
        if (measure_cache_store(NULL, s->measure_path, r, &err))
            session_notice(s, NOTICE_WARNING, "The measurements are not kept: %s", err.msg);
        int done = 0;
        for (int p = 0; p < MEASURE_N_PRECISIONS; p++) done += r->rows[p].state == MEASURE_DONE;
        session_notice(s, NOTICE_OUTPUT, "%s: %d of %d precisions measured; F3 shows them.",
                       rc == 1 ? "Measurement cancelled" : "Measurement done", done,
                       MEASURE_N_PRECISIONS);
    }
    free(r);
    refresh(s, true);
}

bool session_measure_progress(session *s, char *step, size_t size, double *fraction) {
    if (!s->measure) return false;
    char buf[160];
    double f;
    bool running = measure_job_progress(s->measure, buf, sizeof buf, &f);
    if (!running) {
        finish(s);
        return false;
    }
    if (step) snprintf(step, size, "%s", buf);
    if (fraction) *fraction = f;
    return true;
}

void session_measure_end(session *s) {
    if (s->measure) {
        measure_job_cancel(s->measure);
        measure_job_finish(s->measure, NULL, NULL);
        s->measure = NULL;
    }
    free(s->measure_path);
    free(s->measured_path);
}

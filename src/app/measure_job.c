/* measure: a comparison on a thread of its own, for the precision menu's
 * "Measure all" (see include/app/measure.h). The thread writes its progress
 * under a mutex; the UI thread reads it when it redraws. */
#include "measure.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct measure_job {
    pthread_t thread;
    measure_compare_options o;
    char *model_path, *text_path;
    atomic_bool cancel, running;
    pthread_mutex_t mu;
    char step[160];
    double fraction;
    measure_compare_result r;
    lm_error err;
    int rc;
};

static void on_progress(void *ctx, const char *step, double fraction) {
    measure_job *j = ctx;
    pthread_mutex_lock(&j->mu);
    snprintf(j->step, sizeof j->step, "%s", step);
    j->fraction = fraction;
    pthread_mutex_unlock(&j->mu);
}

static void *run(void *arg) {
    measure_job *j = arg;
    j->rc = measure_compare(&j->o, &j->r, &j->err);
    atomic_store(&j->running, false);
    return NULL;
}

measure_job *measure_job_start(const measure_compare_options *o, lm_error *err) {
    measure_job *j = lm_xcalloc(1, sizeof *j);
    j->o = *o;
    j->model_path = lm_xstrdup(o->model_path);
    j->text_path = o->text_path ? lm_xstrdup(o->text_path) : NULL;
    j->o.model_path = j->model_path;
    j->o.text_path = j->text_path;
    j->o.cancel = &j->cancel;
    j->o.on_progress = on_progress;
    j->o.on_row = NULL;
    j->o.ctx = j;
    snprintf(j->step, sizeof j->step, "starting");
    pthread_mutex_init(&j->mu, NULL);
    atomic_store(&j->running, true);
    if (pthread_create(&j->thread, NULL, run, j) != 0) {
        pthread_mutex_destroy(&j->mu);
        free(j->model_path);
        free(j->text_path);
        free(j);
        lm_fail(err, "cannot start a thread for the measurement");
        return NULL;
    }
    return j;
}

bool measure_job_progress(measure_job *j, char *step, size_t size, double *fraction) {
    pthread_mutex_lock(&j->mu);
    snprintf(step, size, "%s", j->step);
    *fraction = j->fraction;
    pthread_mutex_unlock(&j->mu);
    return atomic_load(&j->running);
}

void measure_job_cancel(measure_job *j) {
    atomic_store(&j->cancel, true);
}

int measure_job_finish(measure_job *j, measure_compare_result *r, lm_error *err) {
    pthread_join(j->thread, NULL);
    int rc = j->rc;
    if (r) *r = j->r;
    if (err) *err = j->err;
    pthread_mutex_destroy(&j->mu);
    free(j->model_path);
    free(j->text_path);
    free(j);
    return rc;
}

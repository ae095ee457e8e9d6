/* threadpool: see include/threadpool.h.
 *
 * A task is cut into n_threads slots. It is published by storing fn and ctx,
 * resetting the slot counters and bumping `generation`; every thread, the
 * caller included, then claims slots with an atomic increment until none is
 * left. So a worker that is asleep, or descheduled by another process on a
 * busy machine, never holds a task up: the others take its slot. The caller
 * returns when every slot has finished. Waiting threads spin briefly (a
 * token's products come microseconds apart), then sleep on a condition
 * variable. */
#include "threadpool.h"

#include "util.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SPIN_ROUNDS 20000 /* about 0.3 ms of pause instructions */

typedef struct slot_scratch {
    void *mem;
    size_t bytes;
} slot_scratch;

/* The counters every thread writes each task sit on cache lines of their
 * own: sharing one with what the waiting workers read (generation, fn, ctx)
 * would send that line back and forth between all the cores once more per
 * slot (measurable at 16 threads, a few hundred tasks per token). */
struct threadpool {
    int n_threads;
    pthread_t *threads;    /* workers 1..n-1 */
    slot_scratch *scratch; /* per slot */
    _Atomic(threadpool_fn) fn;
    _Atomic(void *) ctx;
    atomic_uint generation;
    atomic_bool quit;
    _Alignas(64) atomic_int claimed;  /* slots handed out (may run past n_threads) */
    _Alignas(64) atomic_int finished; /* slots done */
    _Alignas(64) atomic_int sleepers;
    atomic_bool caller_waits; /* the caller sleeps on `done` */
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Claims and runs slots of the current task until none is left. A claim
 * below n_threads is always of the task published last: the counters are
 * reset after fn and ctx are stored, and a task is not replaced before all
 * of its claimed slots have finished. */
static void run_slots(threadpool *p) {
    const int n = p->n_threads;
    for (;;) {
        /* a plain look first: a thread that finds every slot taken (each one,
         * once per task, after its last slot) then leaves without taking the
         * counter's line from the others, as an increment would */
        if (atomic_load_explicit(&p->claimed, memory_order_relaxed) >= n) return;
        int i = atomic_fetch_add(&p->claimed, 1);
        if (i >= n) return;
        atomic_load (&p->fn)(atomic_load(&p->ctx), i, n);
        /* seq_cst, paired with threadpool_run's: either the caller sees every
         * slot finished, or the last one sees it waiting and wakes it */
        if (atomic_fetch_add(&p->finished, 1) + 1 == n && atomic_load(&p->caller_waits)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

static unsigned wait_for_task(threadpool *p, unsigned seen) {
    for (int i = 0; i < SPIN_ROUNDS; i++) {
        unsigned g = atomic_load_explicit(&p->generation, memory_order_acquire);
        if (g != seen) return g;
        cpu_relax();
    }
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->sleepers, 1);
    unsigned g;
    while ((g = atomic_load(&p->generation)) == seen && !atomic_load(&p->quit))
        pthread_cond_wait(&p->wake, &p->mu);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->mu);
    return g;
}

/* A worker may start late, even after the pool began to shut down (the
 * caller can have run every slot itself), so it checks quit before waiting. */
static void *worker_main(void *arg) {
    threadpool *p = arg;
    unsigned seen = atomic_load(&p->generation);
    while (!atomic_load(&p->quit)) {
        run_slots(p);
        seen = wait_for_task(p, seen);
    }
    return NULL;
}

threadpool *threadpool_create(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    threadpool *p = lm_alloc_aligned(sizeof *p);
    if (!p) return NULL;
    memset(p, 0, sizeof *p);
    p->n_threads = n_threads;
    atomic_init(&p->claimed, n_threads); /* no task yet: nothing to claim */
    atomic_init(&p->finished, n_threads);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    p->threads = lm_xcalloc((size_t)n_threads, sizeof *p->threads);
    p->scratch = lm_xcalloc((size_t)n_threads, sizeof *p->scratch);
    for (int i = 1; i < n_threads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0) {
            p->n_threads = i; /* only the ones started get joined */
            threadpool_free(p);
            return NULL;
        }
    }
    return p;
}

void threadpool_free(threadpool *p) {
    if (!p) return;
    atomic_store(&p->quit, true);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->generation, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n_threads; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    for (int i = 0; i < p->n_threads; i++) lm_free_aligned(p->scratch[i].mem);
    free(p->scratch);
    free(p->threads);
    lm_free_aligned(p);
}

int threadpool_size(const threadpool *p) {
    return p->n_threads;
}

void threadpool_run(threadpool *p, threadpool_fn fn, void *ctx) {
    const int n = p->n_threads;
    if (n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    atomic_store(&p->fn, fn);
    atomic_store(&p->ctx, ctx);
    atomic_store(&p->finished, 0);
    atomic_store(&p->claimed, 0);
    atomic_fetch_add(&p->generation, 1); /* seq_cst: pairs with the sleepers count */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    run_slots(p);
    for (int i = 0; i < SPIN_ROUNDS && atomic_load(&p->finished) < n; i++) cpu_relax();
    if (atomic_load(&p->finished) < n) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->caller_waits, true);
        while (atomic_load(&p->finished) < n) pthread_cond_wait(&p->done, &p->mu);
        atomic_store(&p->caller_waits, false);
        pthread_mutex_unlock(&p->mu);
    }
}

void *threadpool_scratch(threadpool *p, int ith, size_t bytes) {
    slot_scratch *s = &p->scratch[ith];
    if (s->bytes >= bytes && s->mem) return s->mem;
    lm_free_aligned(s->mem);
    s->mem = lm_alloc_aligned(bytes);
    s->bytes = s->mem ? bytes : 0;
    return s->mem;
}

/* Counts distinct (physical id, core id) pairs in /proc/cpuinfo. */
int threadpool_default_threads(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (!f) return online > 0 ? (int)online : 1;
    char line[256];
    int phys = 0, n = 0;
    int seen[1024][2];
    while (fgets(line, sizeof line, f)) {
        int v;
        if (sscanf(line, "physical id : %d", &v) == 1) phys = v;
        if (sscanf(line, "core id : %d", &v) == 1) {
            bool dup = false;
            for (int i = 0; i < n; i++)
                if (seen[i][0] == phys && seen[i][1] == v) dup = true;
            if (!dup && n < 1024) {
                seen[n][0] = phys;
                seen[n][1] = v;
                n++;
            }
        }
    }
    fclose(f);
    if (n == 0) return online > 0 ? (int)online : 1;
    return n;
}

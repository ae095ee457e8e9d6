/* threadpool: a fixed set of workers, started once, that run one parallel
 * task at a time. The calling thread takes part, so a pool of N threads
 * starts N-1 workers. A task is N slots, ith = 0..N-1, which the threads
 * claim as they come: a worker that is asleep or descheduled never holds the
 * others up. Between tasks workers spin briefly, then sleep. */
#ifndef LMTERM_THREADPOOL_H
#define LMTERM_THREADPOOL_H

#include <stddef.h>

typedef struct threadpool threadpool;

/* fn is called once for each slot ith = 0..nth-1, on whichever thread claims
 * it (slots run in parallel, but two may run on one thread, one after the
 * other): ith names a share of the work and its scratch, not a thread. */
typedef void (*threadpool_fn)(void *ctx, int ith, int nth);

/* n_threads >= 1; NULL if a thread cannot be started. */
threadpool *threadpool_create(int n_threads);
void threadpool_free(threadpool *p);
int threadpool_size(const threadpool *p);
/* Runs every slot of fn and returns when all have finished. */
void threadpool_run(threadpool *p, threadpool_fn fn, void *ctx);
/* Scratch memory of slot ith: 64-byte aligned, at least `bytes` long, kept
 * from call to call and grown when more is asked for (so a steady run
 * allocates nothing). NULL when it cannot be allocated. Only slot ith uses it
 * during a task; others may call this only between tasks. */
void *threadpool_scratch(threadpool *p, int ith, size_t bytes);
/* The number of physical cores (the default thread count). */
int threadpool_default_threads(void);

#endif

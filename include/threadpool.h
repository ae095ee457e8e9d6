/* threadpool: a fixed set of workers, started once, that run one parallel
 * task at a time. The calling thread takes part as worker 0, so a pool of N
 * threads starts N-1 workers. Between tasks workers spin briefly, then sleep. */
#ifndef LMTERM_THREADPOOL_H
#define LMTERM_THREADPOOL_H

typedef struct threadpool threadpool;

/* fn is called once on every thread with ith = 0..nth-1. */
typedef void (*threadpool_fn)(void *ctx, int ith, int nth);

/* n_threads >= 1; NULL if a thread cannot be started. */
threadpool *threadpool_create(int n_threads);
void threadpool_free(threadpool *p);
int threadpool_size(const threadpool *p);
/* Runs fn on every thread and returns when all have finished. */
void threadpool_run(threadpool *p, threadpool_fn fn, void *ctx);
/* The number of physical cores (the default thread count). */
int threadpool_default_threads(void);

#endif

/* queue: a first-in first-out queue between threads. Producers push; a
 * consumer thread blocks in lm_queue_wait, or a poll() loop watches
 * lm_queue_fd (readable while items may be waiting) and takes items with
 * lm_queue_pop. Items are the caller's pointers; the queue owns only its
 * nodes. */
#ifndef LMTERM_QUEUE_H
#define LMTERM_QUEUE_H

#include "util.h"

#include <pthread.h>

typedef struct lm_queue_node lm_queue_node;

typedef struct lm_queue {
    pthread_mutex_t mu;
    pthread_cond_t ready;
    lm_queue_node *head, *tail;
    int wake[2]; /* a byte per push, so that poll() wakes */
} lm_queue;

int lm_queue_init(lm_queue *q, lm_error *err);
/* Frees the nodes; each item still queued goes to free_item (may be NULL). */
void lm_queue_destroy(lm_queue *q, void (*free_item)(void *));
void lm_queue_push(lm_queue *q, void *item);
/* Puts item first, ahead of those waiting (a quit command). */
void lm_queue_push_front(lm_queue *q, void *item);
/* The oldest item, or NULL at once when there is none. */
void *lm_queue_pop(lm_queue *q);
/* The oldest item, waiting for one. */
void *lm_queue_wait(lm_queue *q);
/* Readable while items wait; the pop that takes the last one drains it. */
int lm_queue_fd(const lm_queue *q);

#endif

/* queue: see include/base/queue.h. The pipe is drained only when a pop
 * leaves the list empty, under the lock: while items remain their bytes stay,
 * so a caller that takes one item per wake-up never misses one, and a push
 * racing with the drain writes its byte after it (at worst a spare wake-up). */
#include "queue.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

struct lm_queue_node {
    void *item;
    lm_queue_node *next;
};

int lm_queue_init(lm_queue *q, lm_error *err) {
    q->head = q->tail = NULL;
    if (pipe2(q->wake, O_NONBLOCK | O_CLOEXEC) != 0) return lm_fail(err, "cannot create a pipe");
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->ready, NULL);
    return 0;
}

void lm_queue_destroy(lm_queue *q, void (*free_item)(void *)) {
    for (lm_queue_node *n = q->head, *next; n; n = next) {
        next = n->next;
        if (free_item) free_item(n->item);
        free(n);
    }
    q->head = q->tail = NULL;
    close(q->wake[0]);
    close(q->wake[1]);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->ready);
}

static void signal_item(lm_queue *q) {
    pthread_cond_signal(&q->ready);
    pthread_mutex_unlock(&q->mu);
    char byte = 1;
    ssize_t w = write(q->wake[1], &byte, 1); /* a full pipe has the news already */
    (void)w;
}

void lm_queue_push(lm_queue *q, void *item) {
    lm_queue_node *n = lm_xcalloc(1, sizeof *n);
    n->item = item;
    pthread_mutex_lock(&q->mu);
    if (q->tail)
        q->tail->next = n;
    else
        q->head = n;
    q->tail = n;
    signal_item(q);
}

void lm_queue_push_front(lm_queue *q, void *item) {
    lm_queue_node *n = lm_xcalloc(1, sizeof *n);
    n->item = item;
    pthread_mutex_lock(&q->mu);
    n->next = q->head;
    q->head = n;
    if (!q->tail) q->tail = n;
    signal_item(q);
}

/* Takes the head; the caller holds the lock and knows there is one. */
static void *take(lm_queue *q) {
    lm_queue_node *n = q->head;
    q->head = n->next;
    if (!q->head) q->tail = NULL;
    void *item = n->item;
    free(n);
    return item;
}

void *lm_queue_pop(lm_queue *q) {
    pthread_mutex_lock(&q->mu);
    void *item = q->head ? take(q) : NULL;
    if (!q->head) {
        char drain[64];
        while (read(q->wake[0], drain, sizeof drain) > 0) {
        }
    }
    pthread_mutex_unlock(&q->mu);
    return item;
}

void *lm_queue_wait(lm_queue *q) {
    pthread_mutex_lock(&q->mu);
    while (!q->head) pthread_cond_wait(&q->ready, &q->mu);
    void *item = take(q);
    pthread_mutex_unlock(&q->mu);
    return item;
}

int lm_queue_fd(const lm_queue *q) {
    return q->wake[0];
}

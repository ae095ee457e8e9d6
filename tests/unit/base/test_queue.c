/* queue tests: order, push_front, the wake-up descriptor, and a consumer
 * thread blocked in lm_queue_wait. */
#include "queue.h"
#include "test.h"

#include <poll.h>

static bool readable(const lm_queue *q) {
    struct pollfd p = {lm_queue_fd(q), POLLIN, 0};
    return poll(&p, 1, 0) == 1;
}

TEST(queue_order_and_front) {
    lm_queue q;
    lm_error err;
    CHECK_EQ_INT(lm_queue_init(&q, &err), 0);
    int a = 1, b = 2, c = 3;
    CHECK(!readable(&q));
    CHECK(lm_queue_pop(&q) == NULL);
    lm_queue_push(&q, &a);
    lm_queue_push(&q, &b);
    lm_queue_push_front(&q, &c);
    CHECK(readable(&q));
    CHECK(lm_queue_pop(&q) == &c);
    CHECK(readable(&q)); /* items remain: a caller taking one per wake-up wakes again */
    CHECK(lm_queue_pop(&q) == &a);
    CHECK(readable(&q));
    CHECK(lm_queue_pop(&q) == &b);
    CHECK(!readable(&q)); /* the last pop drained the pipe */
    CHECK(lm_queue_pop(&q) == NULL);
    lm_queue_destroy(&q, NULL);
}

static void *consumer(void *arg) {
    lm_queue *q = arg;
    long sum = 0;
    for (;;) {
        long *v = lm_queue_wait(q);
        if (*v < 0) return (void *)sum;
        sum += *v;
    }
}

TEST(queue_wait_across_threads) {
    lm_queue q;
    lm_error err;
    CHECK_EQ_INT(lm_queue_init(&q, &err), 0);
    pthread_t t;
    pthread_create(&t, NULL, consumer, &q);
    static long values[1001];
    for (int i = 0; i < 1000; i++) {
        values[i] = i;
        lm_queue_push(&q, &values[i]);
    }
    values[1000] = -1;
    lm_queue_push(&q, &values[1000]);
    void *sum;
    pthread_join(t, &sum);
    CHECK_EQ_INT((long)sum, 999 * 1000 / 2);
    lm_queue_destroy(&q, NULL);
}

static int freed;
static void count_free(void *p) {
    (void)p;
    freed++;
}

TEST(queue_destroy_frees_what_is_left) {
    lm_queue q;
    lm_error err;
    CHECK_EQ_INT(lm_queue_init(&q, &err), 0);
    int a, b;
    lm_queue_push(&q, &a);
    lm_queue_push(&q, &b);
    freed = 0;
    lm_queue_destroy(&q, count_free);
    CHECK_EQ_INT(freed, 2);
}

/* server: lmterm's OpenAI-compatible HTTP server (libmicrohttpd, a thread per
 * connection). Routes: POST /v1/chat/completions and /v1/completions (whole
 * or streamed as server-sent events), GET /v1/models and /health; the same
 * paths without /v1 too. Connections wait on the scheduler's jobs; only the
 * scheduler's thread touches the engine.
 *
 * serve_start loads the model before it listens, so a bad model fails
 * before any port is taken. serve_stop is the graceful end: no new
 * connections, running generations stopped (each stream still gets its final
 * chunk), then everything freed, all within about two seconds. */
#ifndef LMTERM_SERVER_H
#define LMTERM_SERVER_H

#include "scheduler.h"

#include <stdio.h>

typedef struct serve_options {
    sched_options sched;
    const char *host;        /* numeric address; NULL: 127.0.0.1 */
    int port;                /* 0: any free port (serve_port says which) */
    const char *api_key;     /* NULL: no key needed */
    bool quiet;              /* no access log */
    FILE *log;               /* access log; NULL: stderr */
    sampler_params sampling; /* for what a request leaves out */
    bool seed_random;        /* a request without a seed gets a fresh one */
    int max_tokens;          /* when a request names none; -1: no limit */
} serve_options;

typedef struct server server;

server *serve_start(const serve_options *o, lm_error *err);
int serve_port(const server *s);
const sched_info *serve_info(const server *s);
/* Graceful stop, then frees s. */
void serve_stop(server *s);

/* Compares a and b without an early exit (for secrets): true when equal. */
bool serve_secret_equal(const char *a, const char *b);

#endif

/* cli_serve: `lmterm serve`, the OpenAI-compatible server (src/serve). The
 * model loads before the port opens; SIGINT and SIGTERM are taken by
 * sigwait here (blocked in every thread), then the server stops gracefully. */
#include "cli.h"
#include "server.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* The key named by --api-key-env; NULL with a message when it is unusable. */
static bool api_key(const cli_options *o, const char **key) {
    *key = NULL;
    if (!o->api_key_env) return true;
    const char *v = getenv(o->api_key_env);
    if (!v || !*v) {
        cli_error("--api-key-env %s: that environment variable is not set or empty",
                  o->api_key_env);
        return false;
    }
    *key = v;
    return true;
}

static void announce(const cli_options *o, const server *s) {
    const sched_info *info = serve_info(s);
    const char *host = o->host ? o->host : "127.0.0.1";
    bool v6 = strchr(host, ':') != NULL;
    fprintf(stderr, "lmterm: serving %s on http://%s%s%s:%d (%d slot%s of %d tokens, %s)\n",
            info->name, v6 ? "[" : "", host, v6 ? "]" : "", serve_port(s), info->n_slots,
            info->n_slots == 1 ? "" : "s", info->n_ctx,
            info->batched ? "decoded together" : "one at a time");
}

int cli_serve(cli_options *o) {
    if (o->n_args) return cli_usage_error("serve takes no arguments");
    if (!o->model_path) return cli_error("no model given (use -m FILE)");
    const char *key;
    if (!api_key(o, &key)) return CLI_ERROR;
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL); /* before any thread starts */
    signal(SIGPIPE, SIG_IGN);
    serve_options so = {
        .sched = {.model_path = o->model_path,
                  .model = {.n_ctx = o->n_ctx,
                            .n_threads = o->threads,
                            .precision = o->precision,
                            .cache_type = o->cache_type},
                  .parallel = o->parallel,
                  .queue = o->queue},
        .host = o->host,
        .port = o->port,
        .api_key = key,
        .quiet = o->quiet,
        .sampling = o->sampling,
        .seed_random = !o->seed_set,
        .max_tokens = o->n_predict,
    };
    lm_error err = {{0}};
    server *s = serve_start(&so, &err);
    if (!s) return cli_error("%s", err.msg);
    announce(o, s);
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "lmterm: %s: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    serve_stop(s);
    return CLI_OK;
}

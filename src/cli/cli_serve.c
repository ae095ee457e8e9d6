/* cli_serve: `lmterm serve`, the OpenAI-compatible server (src/serve). The
 * models served are every -m (the first loads before the port opens) and
 * the configuration's models (models: and model_dirs), loaded on demand.
 * SIGINT and SIGTERM are taken by sigwait here (blocked in every thread),
 * then the server stops gracefully. */
#include "catalog.h"
#include "cli.h"
#include "server.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct path_list {
    char **v;
    int n;
} path_list;

static void paths_add(path_list *l, char *owned) {
    l->v = lm_xrealloc(l->v, (size_t)(l->n + 1) * sizeof *l->v);
    l->v[l->n++] = owned;
}

static void paths_free(path_list *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
}

/* The file a -m names: a path, a configured model's name, or a pulled (or
 * another tool's) model's name; NULL when none is. */
static char *model_arg_path(const cli_options *o, const char *arg) {
    struct stat st;
    if (stat(arg, &st) == 0) return lm_xstrdup(arg);
    const config_model *m = o->cfg ? config_find_model(o->cfg, arg) : NULL;
    if (m) return lm_xstrdup(m->path);
    return catalog_find_found(arg);
}

/* Every model to serve, the one to load first first. */
static bool model_paths(const cli_options *o, path_list *l) {
    if (o->n_models_given > CLI_MAX_MODELS) {
        cli_error("serve takes at most %d -m", CLI_MAX_MODELS);
        return false;
    }
    if (o->cfg && o->cfg->n_model_dirs) config_scan_models(o->cfg);
    if (o->n_models_given == 0) paths_add(l, lm_xstrdup(o->model_path)); /* the default */
    for (int i = 0; i < o->n_models_given; i++) {
        char *p = model_arg_path(o, o->models_given[i]);
        if (!p && i > 0) {
            cli_error("-m %s: no such file or model", o->models_given[i]);
            return false;
        }
        paths_add(l, p ? p : lm_xstrdup(o->models_given[i])); /* the first: its load says why */
    }
    for (size_t i = 0; o->cfg && i < o->cfg->n_models; i++)
        paths_add(l, lm_xstrdup(o->cfg->models[i].path));
    return true;
}

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
    char more[48] = "";
    if (info->n_models > 1)
        snprintf(more, sizeof more, " (and %d more on demand)", info->n_models - 1);
    fprintf(stderr, "lmterm: serving %s%s on http://%s%s%s:%d (%d slot%s of %d tokens, %s)\n",
            info->name, more, v6 ? "[" : "", host, v6 ? "]" : "", serve_port(s), info->n_slots,
            info->n_slots == 1 ? "" : "s", info->n_ctx,
            info->batched ? "decoded together" : "one at a time");
}

int cli_serve(cli_options *o) {
    if (o->n_args) return cli_usage_error("serve takes no arguments");
    if (!o->model_path) return cli_error("no model given (use -m FILE)");
    const char *key;
    if (!api_key(o, &key)) return CLI_ERROR;
    path_list paths = {0};
    if (!model_paths(o, &paths)) {
        paths_free(&paths);
        return CLI_ERROR;
    }
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL); /* before any thread starts */
    signal(SIGPIPE, SIG_IGN);
    serve_options so = {
        .sched = {.model_path = paths.v[0],
                  .model_paths = (const char *const *)paths.v,
                  .n_models = paths.n,
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
    if (!s) {
        paths_free(&paths);
        return cli_error("%s", err.msg);
    }
    announce(o, s);
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "lmterm: %s: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    serve_stop(s);
    paths_free(&paths);
    return CLI_OK;
}

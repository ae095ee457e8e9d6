/* cli: what --remote changes. The server comes from the URL given or from a
 * server of that name in the configuration, and `run --remote` asks it
 * through the backend interface: one user message (after the system prompt,
 * if any), the reply streamed to stdout. */
#include "cli.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

int cli_remote_options(const cli_options *o, backend_openai_options *ro, const char **model_id) {
    memset(ro, 0, sizeof *ro);
    const config_server *s = o->cfg ? config_find_server(o->cfg, o->remote) : NULL;
    *model_id = o->model_path;
    if (s) {
        ro->base_url = s->url;
        ro->name = s->name;
        ro->api_key_env = s->api_key_env;
        ro->connect_timeout = s->connect_timeout;
        ro->idle_timeout = s->idle_timeout;
        if (!*model_id) *model_id = s->model;
    } else if (strncmp(o->remote, "http://", 7) == 0 || strncmp(o->remote, "https://", 8) == 0) {
        ro->base_url = o->remote;
    } else {
        return cli_usage_error("--remote '%s' is neither a URL (http://HOST:PORT/v1) nor a server "
                               "under servers: in the configuration",
                               o->remote);
    }
    if (o->api_key_env) ro->api_key_env = o->api_key_env;
    return CLI_OK;
}

/* The next event, waiting for it. */
static void next_event(backend *b, backend_event *ev) {
    while (!backend_poll(b, ev)) {
        struct pollfd p = {backend_fd(b), POLLIN, 0};
        if (poll(&p, 1, -1) < 0 && errno != EINTR) break;
    }
}

static int select_model(backend *b, const char *id) {
    int req = backend_select(b, id, &(model_options){0});
    for (;;) {
        backend_event ev;
        next_event(b, &ev);
        bool mine = ev.request_id == req;
        int rc = !mine                               ? -1
                 : ev.kind == BACKEND_EV_LOADED      ? CLI_OK
                 : ev.kind == BACKEND_EV_LOAD_FAILED ? cli_error("%s", ev.text ? ev.text : "failed")
                                                     : -1;
        backend_event_free(&ev);
        if (rc >= 0) return rc;
    }
}

static int stream_reply(backend *b, const chat *c, const cli_options *o) {
    backend_params p = {.sampling = o->sampling, .max_tokens = o->n_predict};
    int req = backend_generate(b, c, &p);
    bool open_line = false;
    for (;;) {
        backend_event ev;
        next_event(b, &ev);
        int rc = -1;
        if (ev.request_id == req && ev.kind == BACKEND_EV_TOKEN && ev.text) {
            fputs(ev.text, stdout);
            fflush(stdout);
            open_line = true;
        } else if (ev.request_id == req && ev.kind == BACKEND_EV_DONE) {
            if (open_line) putchar('\n');
            fflush(stdout);
            rc = ev.reason == BACKEND_STOP_ERROR ? cli_error("%s", ev.text ? ev.text : "failed")
                                                 : CLI_OK;
        }
        backend_event_free(&ev);
        if (rc >= 0) return rc;
    }
}

int cli_run_remote(cli_options *o) {
    backend_openai_options ro;
    const char *id;
    int rc = cli_remote_options(o, &ro, &id);
    if (rc != CLI_OK) return rc;
    lm_error err;
    backend *b = backend_openai_create(&ro, &err);
    if (!b) return cli_error("%s", err.msg);
    chat c;
    chat_init(&c, CHAT_TEMPLATE_LLAMA3);
    if (o->system_prompt && *o->system_prompt) chat_set_system(&c, o->system_prompt);
    chat_add(&c, CHAT_ROLE_USER, o->prompt);
    rc = select_model(b, id);
    if (rc == CLI_OK) rc = stream_reply(b, &c, o);
    chat_free(&c);
    backend_close(b);
    return rc;
}

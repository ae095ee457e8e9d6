/* backend: the calls of include/app/backend.h, passed to the engine's own. */
#include "backend.h"

#include <stdlib.h>

void backend_close(backend *b) {
    if (b) b->ops->close(b);
}

int backend_fd(const backend *b) {
    return b->ops->fd(b);
}

bool backend_poll(backend *b, backend_event *ev) {
    return b->ops->poll(b, ev);
}

void backend_event_free(backend_event *ev) {
    free(ev->text);
    ev->text = NULL;
}

int backend_select(backend *b, const char *model, const model_options *opt) {
    return b->ops->select(b, model, opt);
}

int backend_generate(backend *b, const chat *c, const backend_params *p) {
    return b->ops->generate(b, c, p);
}

void backend_stop(backend *b) {
    b->ops->stop(b);
}

int backend_reset(backend *b) {
    return b->ops->reset(b);
}

backend_stats backend_get_stats(backend *b) {
    return b->ops->stats(b);
}

size_t backend_models(backend *b, const backend_model **rows, char notice[256]) {
    notice[0] = 0;
    return b->ops->models(b, rows, notice);
}

const backend_model_meta *backend_describe(backend *b, const char *model) {
    return b->ops->describe(b, model);
}

const backend_caps *backend_get_caps(const backend *b) {
    return &b->caps;
}

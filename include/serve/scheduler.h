/* scheduler: the server's side of the engine. It owns the engine (one model
 * loaded at a time, N slots), a bounded queue of requests waiting for a slot,
 * and a thread that hands waiting requests to free slots and routes the
 * engine's events back to the request they belong to. Generated text passes
 * through the request's stop strings here, so a stop string ends the
 * generation at once.
 *
 * Several models may be served: each request names one of them, and the
 * queue is served in order, so a request for a model other than the loaded
 * one waits (and everything behind it with it) until the slots are idle;
 * then the loaded model is unloaded and the asked one loaded. A model that
 * fails to load fails the requests waiting for it (500), and the server goes
 * on with no model until a request asks for one.
 *
 * A job is shared by the connection that asked for it and the scheduler;
 * each drops its reference with sched_job_release. The connection reads the
 * job's progress with sched_job_take, which waits (bounded) for news. */
#ifndef LMTERM_SCHEDULER_H
#define LMTERM_SCHEDULER_H

#include "openai.h"

#define SCHED_MAX_MODELS 1024

typedef struct sched_options {
    const char *model_path;         /* loaded at start; also model_paths[0] when given */
    const char *const *model_paths; /* every model served (NULL: model_path alone) */
    int n_models;
    model_options model; /* n_ctx is the context of each slot */
    int parallel;        /* slots */
    int queue;           /* requests that may wait for a slot */
} sched_options;

typedef struct sched_info {
    char name[256]; /* the id of the model loaded at start */
    int n_models;   /* served, that one included */
    enum chat_template_kind tmpl;
    int n_ctx, n_slots;
    bool batched; /* slots share each step's pass over the weights */
} sched_info;

/* What a job has come to; a snapshot taken under the job's lock. */
typedef struct sched_outcome {
    bool started; /* the prompt has been read (or the job is done) */
    bool done;
    bool failed;        /* done with error (status, message) */
    openai_error error; /* when failed */
    const char *finish; /* when done and not failed: "stop" or "length" */
    openai_usage usage;
    double t_first; /* lm_now() of the first generated token, 0 before */
} sched_outcome;

typedef struct sched sched;
typedef struct sched_job sched_job;

/* Loads the first model (one error line in err on failure) and starts the
 * thread. A model's id is its file name without ".gguf"; a later path whose
 * id is taken already is left out. */
sched *sched_create(const sched_options *o, lm_error *err);
/* What was loaded at start (the thread may have switched models since). */
const sched_info *sched_get_info(const sched *s);
/* The models served, in order, and their ids (valid until sched_free). */
int sched_n_models(const sched *s);
const char *sched_model_id(const sched *s, int model);
/* The model a request names: its id or file name; -1 when none is. */
int sched_find_model(const sched *s, const char *name);
/* The model a request that names none goes to: the loaded one, else the
 * last one loaded. */
int sched_default_model(sched *s);
/* The chat template of a model (read from its file's header at start). */
enum chat_template_kind sched_model_template(sched *s, int model);
/* The loaded model (-1: none) and its context per slot. */
int sched_loaded_model(sched *s, int *n_ctx);
/* Queues a request for model (taking ownership of req and the stop strings'
 * copies); NULL with err (503, Retry-After worthy) when the queue is full or
 * the server is stopping. */
sched_job *sched_submit(sched *s, int model, engine_request *req, char *const *stop, int n_stop,
                        openai_error *err);
/* Moves the text generated since the last call into out (appends) and
 * fills *o. Waits up to timeout seconds for something new when nothing is. */
void sched_job_take(sched_job *j, lm_buf *out, double timeout, sched_outcome *o);
/* Stops the job's generation (or takes it out of the queue). */
void sched_job_cancel(sched_job *j);
void sched_job_release(sched_job *j);
/* Cancels every job; they end as soon as the engine notices (a token). */
void sched_cancel_all(sched *s);
void sched_free(sched *s);

#endif

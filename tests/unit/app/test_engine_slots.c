/* Engine slots with a tiny synthetic model, greedy sampling, counted in
 * tokens (never timed):
 *  - generations on three slots at once give, each, the tokens it gives alone;
 *  - engine_stop_id stops one slot's generation, the others run to the end;
 *  - a generation for a busy slot waits for it, and both complete;
 *  - a slot keeps its own KV prefix: a second request there reads only its
 *    new tokens while the other slots are busy with other prompts. */
#include "chat_request.h"
#include "synth.h"
#include "test.h"

#include <stdlib.h>

#define N_SLOTS 3
#define MAX_TOKENS 40

static const char *model_path(void) {
    static char path[512];
    if (!path[0]) {
        char p[512];
        snprintf(p, sizeof p, "%s/slots-phi3-tiny.gguf", test_tmpdir());
        synth_options o = {
            .arch = "phi3", .shape = "tiny", .type = QT_Q8_0, .output_type = QT_COUNT, .seed = 11};
        lm_error err = {{0}};
        if (synth_write(&o, p, &err) != 0) {
            test_fail(__FILE__, __LINE__, "synth: %s", err.msg);
            return NULL;
        }
        snprintf(path, sizeof path, "%s", p);
    }
    return path;
}

static engine *start(int n_slots) {
    const char *path = model_path();
    lm_error err = {{0}};
    engine *e = path ? engine_create(&err) : NULL;
    if (!e) return NULL;
    engine_set_slots(e, n_slots);
    model_options opt = {.n_ctx = 256, .n_threads = 2};
    engine_load(e, path, &opt);
    for (;;) {
        engine_event ev;
        engine_wait(e, &ev);
        bool loaded = ev.kind == EV_LOADED, failed = ev.kind == EV_LOAD_FAILED;
        if (loaded) CHECK_EQ_INT(ev.info.n_slots, n_slots);
        CHECK_MSG(!failed, "load: %s", ev.text ? ev.text : "");
        engine_event_free(&ev);
        if (failed) {
            engine_free(e);
            return NULL;
        }
        if (loaded) return e;
    }
}

static engine_request request(const char *user) {
    chat c;
    chat_init(&c, CHAT_TEMPLATE_PHI3);
    chat_add(&c, CHAT_ROLE_USER, user);
    engine_request r;
    chat_build_request(&c, &r);
    chat_free(&c);
    r.max_tokens = MAX_TOKENS;
    r.sampling.temperature = 0;
    return r;
}

typedef struct outcome {
    int id;
    lm_tokens ids;
    engine_event done;
    bool finished;
} outcome;

/* Events until every outcome has its EV_DONE. */
static void collect(engine *e, outcome *o, int n) {
    for (int left = n; left > 0;) {
        engine_event ev;
        engine_wait(e, &ev);
        outcome *to = NULL;
        for (int i = 0; i < n; i++)
            if (o[i].id == ev.request_id) to = &o[i];
        CHECK_MSG(to != NULL, "an event for request %d, which nobody asked for", ev.request_id);
        if (to && ev.kind == EV_TOKEN && ev.token >= 0) lm_tokens_push(&to->ids, ev.token);
        if (to && ev.kind == EV_DONE) {
            to->done = ev;
            to->finished = true;
            left--;
            continue;
        }
        engine_event_free(&ev);
    }
}

static void outcome_free(outcome *o) {
    lm_tokens_free(&o->ids);
    engine_event_free(&o->done);
}

static bool same_tokens(const lm_tokens *a, const lm_tokens *b) {
    return a->n == b->n && (a->n == 0 || memcmp(a->ids, b->ids, a->n * sizeof *a->ids) == 0);
}

static const char *const prompts[N_SLOTS] = {"Tell me about rivers", "Why is the sky blue",
                                             "Write a short poem about the sea and the wind"};

TEST(engine_slots_together_equal_alone) {
    engine *e = start(N_SLOTS);
    if (!e) return;
    outcome alone[N_SLOTS] = {0}, together[N_SLOTS] = {0};
    for (int i = 0; i < N_SLOTS; i++) {
        engine_reset(e);
        engine_request r = request(prompts[i]);
        alone[i].id = engine_generate(e, &r);
        collect(e, &alone[i], 1);
        CHECK_EQ_INT(alone[i].ids.n, MAX_TOKENS);
    }
    engine_reset(e);
    for (int i = 0; i < N_SLOTS; i++) {
        engine_request r = request(prompts[i]);
        together[i].id = engine_generate_slot(e, i, &r);
    }
    collect(e, together, N_SLOTS);
    for (int i = 0; i < N_SLOTS; i++) {
        CHECK_MSG(same_tokens(&alone[i].ids, &together[i].ids),
                  "slot %d: %zu tokens together, %zu alone, or different ones", i,
                  together[i].ids.n, alone[i].ids.n);
        CHECK_EQ_INT(together[i].done.reason, STOP_MAX_TOKENS);
        CHECK_EQ_INT(together[i].done.stats.n_generated, MAX_TOKENS);
        CHECK_EQ_INT(together[i].done.stats.n_prompt_tokens, alone[i].done.stats.n_prompt_tokens);
        outcome_free(&alone[i]);
        outcome_free(&together[i]);
    }
    engine_free(e);
}

/* Slot 1 is stopped as soon as it is asked for (queued or just started: a
 * step or two at most, unless this thread is kept waiting); it ends with
 * STOP_USER while the others run to max_tokens. */
TEST(engine_slots_stop_one) {
    engine *e = start(N_SLOTS);
    if (!e) return;
    outcome o[N_SLOTS] = {0};
    for (int i = 0; i < N_SLOTS; i++) {
        engine_request r = request(prompts[i]);
        r.max_tokens = 200;
        o[i].id = engine_generate_slot(e, i, &r);
        if (i == 1) engine_stop_id(e, o[i].id);
    }
    collect(e, o, N_SLOTS);
    CHECK_EQ_INT(o[1].done.reason, STOP_USER);
    CHECK_MSG(o[1].ids.n < 200, "slot 1 was not stopped");
    CHECK_EQ_INT(o[0].done.reason, STOP_MAX_TOKENS);
    CHECK_EQ_INT(o[2].done.reason, STOP_MAX_TOKENS);
    CHECK_EQ_INT(o[0].ids.n, 200);
    CHECK_EQ_INT(o[2].ids.n, 200);
    for (int i = 0; i < N_SLOTS; i++) outcome_free(&o[i]);
    engine_free(e);
}

TEST(engine_slots_busy_slot_waits_and_keeps_prefix) {
    engine *e = start(2);
    if (!e) return;
    outcome o[3] = {0};
    engine_request r = request(prompts[0]);
    o[0].id = engine_generate_slot(e, 0, &r);
    r = request(prompts[0]); /* the same prompt again on slot 0: after the first */
    o[1].id = engine_generate_slot(e, 0, &r);
    r = request(prompts[2]);
    o[2].id = engine_generate_slot(e, 1, &r);
    collect(e, o, 3);
    for (int i = 0; i < 3; i++) CHECK_EQ_INT(o[i].done.reason, STOP_MAX_TOKENS);
    CHECK(same_tokens(&o[0].ids, &o[1].ids));
    /* the second request on slot 0 found its whole prompt in that slot's cache */
    CHECK_EQ_INT(o[1].done.stats.n_prompt_evaluated, 1);
    CHECK_EQ_INT(o[0].done.stats.n_prompt_evaluated, o[0].done.stats.n_prompt_tokens);
    for (int i = 0; i < 3; i++) outcome_free(&o[i]);
    engine_free(e);
}

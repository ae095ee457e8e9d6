/* Engine behaviour with tiny synthetic models (phi3 and llama), driven as the
 * UI drives it: conversations built with chat_build_request, greedy sampling.
 * Everything is counted in tokens, never timed:
 *  - each turn of a conversation evaluates only its new tokens;
 *  - a conversation saved and loaded again gives the same prompt tokens;
 *  - a small context drops the oldest turns and keeps the system prompt;
 *  - engine_stop ends a reply within a token or two. */
#include "chat_request.h"
#include "synth.h"
#include "test.h"
#include "transcript.h"

#include <stdlib.h>

#define SYSTEM_PROMPT "You are a model that answers every question with care."

static const char *const archs[] = {"phi3", "llama"};

/* ---- helpers ---- */

/* The tiny model of an architecture, written once per run. */
static const char *tiny_model(const char *arch) {
    static char paths[2][512];
    int i = strcmp(arch, "phi3") == 0 ? 0 : 1;
    if (!paths[i][0]) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s-tiny.gguf", test_tmpdir(), arch);
        synth_options o = {
            .arch = arch, .shape = "tiny", .type = QT_F32, .output_type = QT_COUNT, .seed = 7};
        lm_error err = {{0}};
        if (synth_write(&o, path, &err) != 0) {
            test_fail(__FILE__, __LINE__, "synth %s: %s", arch, err.msg);
            return NULL;
        }
        snprintf(paths[i], sizeof paths[i], "%s", path);
    }
    return paths[i];
}

static enum chat_template_kind template_of(const char *arch) {
    return strcmp(arch, "phi3") == 0 ? CHAT_TEMPLATE_PHI3 : CHAT_TEMPLATE_LLAMA3;
}

static engine *start_engine(const char *arch, int n_ctx) {
    const char *path = tiny_model(arch);
    lm_error err = {{0}};
    engine *e = path ? engine_create(&err) : NULL;
    if (!e) return NULL;
    model_options opt = {.n_ctx = n_ctx, .n_threads = 2};
    engine_load(e, path, &opt);
    engine_event ev;
    do {
        engine_wait(e, &ev);
        if (ev.kind == EV_LOAD_PROGRESS) engine_event_free(&ev);
    } while (ev.kind == EV_LOAD_PROGRESS);
    bool loaded = ev.kind == EV_LOADED;
    CHECK_MSG(loaded, "loading %s: %s", path, ev.text ? ev.text : "");
    engine_event_free(&ev);
    if (!loaded) {
        engine_free(e);
        return NULL;
    }
    return e;
}

static tokenizer *tiny_tokenizer(const char *arch) {
    lm_error err = {{0}};
    gguf_file *f = gguf_open(tiny_model(arch), &err);
    tokenizer *t = f ? tokenizer_load(f, &err) : NULL;
    gguf_close(f);
    CHECK_MSG(t != NULL, "%s", err.msg);
    return t;
}

static size_t count_tokens(const tokenizer *t, const char *text) {
    lm_tokens ids = {0};
    lm_error err = {{0}};
    CHECK(tokenizer_encode(t, text, strlen(text), false, true, &ids, &err) == 0);
    size_t n = ids.n;
    lm_tokens_free(&ids);
    return n;
}

/* What a new turn adds after a reply: the reply's end, the user message and
 * the generation prompt. */
static size_t new_turn_tokens(const tokenizer *t, enum chat_template_kind k, const char *user) {
    lm_buf text = {0};
    if (k == CHAT_TEMPLATE_PHI3)
        lm_buf_printf(&text, "<|end|>\n<|user|>\n%s<|end|>\n<|assistant|>\n", user);
    else
        lm_buf_printf(&text,
                      "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n%s<|eot_id|>"
                      "<|start_header_id|>assistant<|end_header_id|>\n\n",
                      user);
    size_t n = count_tokens(t, lm_buf_cstr(&text));
    lm_buf_free(&text);
    return n;
}

typedef struct turn_result {
    engine_event done; /* EV_DONE: reason, stats, n_dropped */
    lm_tokens prompt;  /* the prompt the engine read */
} turn_result;

/* Reads events up to EV_DONE; the reply's tokens and text go to ids and text. */
static void collect_reply(engine *e, lm_tokens *ids, lm_buf *text, engine_event *done) {
    for (;;) {
        engine_event ev;
        engine_wait(e, &ev);
        if (ev.kind == EV_TOKEN) {
            if (ev.token >= 0) lm_tokens_push(ids, ev.token);
            if (ev.text) lm_buf_puts(text, ev.text);
        }
        if (ev.kind == EV_DONE) {
            *done = ev;
            return;
        }
        engine_event_free(&ev);
    }
}

/* One turn: the user's message, a greedy reply of at most max_tokens, and
 * the reply added to the chat with its ids, as the UI does. */
static turn_result run_turn(engine *e, chat *c, const char *user, int max_tokens,
                            int reply_reserve) {
    turn_result res = {0};
    if (user) chat_add(c, CHAT_ROLE_USER, user);
    engine_request r;
    chat_build_request(c, &r);
    r.max_tokens = max_tokens;
    r.reply_reserve = reply_reserve;
    r.sampling.temperature = 0;
    engine_generate(e, &r);
    lm_tokens ids = {0};
    lm_buf text = {0};
    collect_reply(e, &ids, &text, &res.done);
    CHECK_MSG(res.done.reason != STOP_ERROR, "turn failed: %s", res.done.text ? res.done.text : "");
    chat_message *m = chat_add(c, CHAT_ROLE_ASSISTANT, lm_buf_cstr(&text));
    chat_message_set_ids(m, ids.ids, ids.n);
    m->n_tokens = (int)ids.n;
    m->gen_tps = res.done.stats.gen_tps;
    engine_last_prompt(e, &res.prompt);
    lm_tokens_free(&ids);
    lm_buf_free(&text);
    return res;
}

static void turn_free(turn_result *t) {
    engine_event_free(&t->done);
    lm_tokens_free(&t->prompt);
}

static bool same_tokens(const lm_tokens *a, const lm_tokens *b) {
    return a->n == b->n && (a->n == 0 || memcmp(a->ids, b->ids, a->n * sizeof *a->ids) == 0);
}

/* Ten questions of the same length in tokens. */
static const char *question(int i) {
    static const char *const topics[] = {"water", "music",  "garden", "window", "friend",
                                         "river", "answer", "tree",   "story",  "night"};
    static char q[128];
    snprintf(q, sizeof q, "please tell me more about the %s and the sea", topics[i % 10]);
    return q;
}

/* ---- (a) each turn evaluates only its new tokens ---- */

static void check_ten_turns(const char *arch) {
    engine *e = start_engine(arch, 2048);
    tokenizer *t = tiny_tokenizer(arch);
    if (!e || !t) goto out;
    chat c;
    chat_init(&c, template_of(arch));
    chat_set_system(&c, SYSTEM_PROMPT);
    int evaluated[10] = {0}, total[10] = {0};
    for (int turn = 0; turn < 10; turn++) {
        turn_result r = run_turn(e, &c, question(turn), 12, 0);
        evaluated[turn] = r.done.stats.n_prompt_evaluated;
        total[turn] = r.done.stats.n_prompt_tokens;
        CHECK_EQ_INT(r.done.n_dropped, 0);
        CHECK_EQ_INT(total[turn], (int)r.prompt.n);
        if (turn == 0) {
            CHECK_EQ_INT(evaluated[0], total[0]); /* an empty cache: everything */
        } else {
            size_t want = new_turn_tokens(t, c.tmpl, question(turn));
            CHECK_MSG(evaluated[turn] == (int)want,
                      "%s turn %d evaluated %d of %d prompt tokens; the new ones are %zu", arch,
                      turn + 1, evaluated[turn], total[turn], want);
        }
        turn_free(&r);
    }
    /* turn 10 costs what turn 2 costs, though its prompt is several times longer */
    CHECK_EQ_INT(evaluated[9], evaluated[1]);
    CHECK_MSG(total[9] > 4 * evaluated[9], "%s: turn 10 read %d of %d", arch, evaluated[9],
              total[9]);
    chat_free(&c);
out:
    tokenizer_free(t);
    engine_free(e);
}

TEST(engine_ten_turns_evaluate_only_new_tokens) {
    for (int i = 0; i < 2; i++) check_ten_turns(archs[i]);
}

/* ---- (b) save, load, and the next prompt is the same ---- */

static void check_resume(const char *arch) {
    engine *e = start_engine(arch, 2048);
    tokenizer *t = tiny_tokenizer(arch);
    if (!e || !t) goto out;
    chat a, b;
    chat_init(&a, template_of(arch));
    chat_set_system(&a, SYSTEM_PROMPT);
    for (int turn = 0; turn < 3; turn++) {
        turn_result r = run_turn(e, &a, question(turn), 10, 0);
        turn_free(&r);
    }
    char path[512];
    snprintf(path, sizeof path, "%s/resume-%s.json", test_tmpdir(), arch);
    transcript_meta meta = {.precision = "native", .sampling = sampler_default_params()};
    lm_error err = {{0}};
    CHECK_MSG(transcript_save_json(&a, &meta, path, &err) == 0, "%s", err.msg);
    chat_init(&b, CHAT_TEMPLATE_PHI3);
    CHECK_MSG(transcript_load_json(path, &b, NULL, &err) == 0, "%s", err.msg);

    /* the loaded chat continues on the engine that holds the conversation:
     * only its new turn is evaluated, so its prompt starts with the cache */
    turn_result rb = run_turn(e, &b, question(3), 10, 0);
    CHECK_EQ_INT(rb.done.stats.n_prompt_evaluated, (int)new_turn_tokens(t, b.tmpl, question(3)));
    /* the uninterrupted chat's next prompt is the same, token for token */
    chat_add(&a, CHAT_ROLE_USER, question(3));
    engine_request r;
    chat_build_request(&a, &r);
    r.max_tokens = 0;
    engine_generate(e, &r);
    lm_tokens ids = {0}, pa = {0};
    lm_buf text = {0};
    engine_event done;
    collect_reply(e, &ids, &text, &done);
    engine_last_prompt(e, &pa);
    CHECK_MSG(same_tokens(&pa, &rb.prompt), "%s: resumed prompt has %zu tokens, original %zu", arch,
              rb.prompt.n, pa.n);
    CHECK_EQ_INT(done.stats.n_prompt_evaluated, 1); /* all cached; one re-run for logits */

    engine_event_free(&done);
    lm_tokens_free(&ids);
    lm_tokens_free(&pa);
    lm_buf_free(&text);
    turn_free(&rb);
    chat_free(&a);
    chat_free(&b);
out:
    tokenizer_free(t);
    engine_free(e);
}

TEST(engine_resumed_conversation_has_the_same_prompt) {
    for (int i = 0; i < 2; i++) check_resume(archs[i]);
}

/* ---- (c) a small context drops the oldest turns ---- */

/* The chat without its first n_turns turns (a user message and its reply each). */
static void chat_without_first_turns(const chat *c, int n_turns, chat *out) {
    chat_init(out, c->tmpl);
    chat_set_system(out, c->system_prompt);
    for (size_t i = (size_t)n_turns * 2; i < c->n; i++) {
        chat_message *m = chat_add(out, c->msgs[i].role, c->msgs[i].content);
        if (c->msgs[i].ids) chat_message_set_ids(m, c->msgs[i].ids, c->msgs[i].n_ids);
    }
}

static void check_overflow(const char *arch) {
    enum { N_CTX = 256, RESERVE = 32 };
    engine *e = start_engine(arch, N_CTX);
    engine *big = start_engine(arch, 2048);
    if (!e || !big) goto out;
    chat c;
    chat_init(&c, template_of(arch));
    chat_set_system(&c, SYSTEM_PROMPT);
    int first_drop = -1, turns_after = 0;
    for (int turn = 0; turn < 30 && turns_after < 3; turn++) {
        turn_result r = run_turn(e, &c, question(turn), 16, RESERVE);
        CHECK(r.done.reason == STOP_EOG || r.done.reason == STOP_MAX_TOKENS);
        CHECK(r.prompt.n + RESERVE <= N_CTX);
        if (r.done.n_dropped > 0) {
            if (first_drop < 0) first_drop = turn;
            turns_after++;
            /* the prompt is the conversation without its oldest turns,
             * system prompt included, as a context without limits reads it */
            chat rest;
            chat_without_first_turns(&c, r.done.n_dropped, &rest);
            chat_pop(&rest); /* the reply run_turn just added */
            turn_result full = run_turn(big, &rest, NULL, 0, 0);
            CHECK_MSG(same_tokens(&r.prompt, &full.prompt),
                      "%s turn %d: %d turns dropped, prompt of %zu tokens, expected %zu", arch,
                      turn + 1, r.done.n_dropped, r.prompt.n, full.prompt.n);
            CHECK(r.done.stats.n_generated > 0); /* and the reply goes on */
            turn_free(&full);
            chat_free(&rest);
        }
        turn_free(&r);
    }
    CHECK_MSG(first_drop > 0, "%s: no turn was dropped", arch);
    chat_free(&c);
out:
    engine_free(e);
    engine_free(big);
}

TEST(engine_overflow_drops_oldest_turns_keeps_system) {
    for (int i = 0; i < 2; i++) check_overflow(archs[i]);
}

/* ---- (d) stop ---- */

static void check_stop(const char *arch) {
    engine *e = start_engine(arch, 2048);
    tokenizer *t = tiny_tokenizer(arch);
    if (!e || !t) goto out;
    chat c;
    chat_init(&c, template_of(arch));
    chat_add(&c, CHAT_ROLE_USER, question(0));
    engine_request r;
    chat_build_request(&c, &r);
    r.sampling.temperature = 0;
    r.max_tokens = -1; /* until the end of the context */
    engine_generate(e, &r);
    int seen = 0, n_at_stop = -1;
    lm_tokens ids = {0};
    lm_buf text = {0};
    engine_event done = {0};
    for (;;) {
        engine_event ev;
        engine_wait(e, &ev);
        if (ev.kind == EV_TOKEN && ev.token >= 0) lm_tokens_push(&ids, ev.token);
        if (ev.kind == EV_TOKEN && ev.text) lm_buf_puts(&text, ev.text);
        if (ev.kind == EV_TOKEN && ++seen == 8) {
            n_at_stop = engine_get_stats(e).n_generated;
            engine_stop(e);
        }
        if (ev.kind == EV_DONE) {
            done = ev;
            break;
        }
        engine_event_free(&ev);
    }
    CHECK_MSG(done.reason == STOP_USER, "%s: ended with reason %d after %d tokens", arch,
              done.reason, done.stats.n_generated);
    /* the engine checks the flag between tokens and layers: at most the token
     * under way when the flag was set, and one sampled just before */
    CHECK_MSG(n_at_stop >= 8 && done.stats.n_generated - n_at_stop <= 2,
              "%s: %d tokens at stop, %d at the end", arch, n_at_stop, done.stats.n_generated);
    CHECK(done.stats.n_generated < 2000);
    CHECK_EQ_INT(ids.n, (size_t)done.stats.n_generated);

    /* the stopped reply stays in the conversation and in the cache: the next
     * turn reads its new tokens (plus the reply's last token when its
     * evaluation was the one cut short) */
    chat_message *m = chat_add(&c, CHAT_ROLE_ASSISTANT, lm_buf_cstr(&text));
    chat_message_set_ids(m, ids.ids, ids.n);
    turn_result next = run_turn(e, &c, question(1), 4, 0);
    int want = (int)new_turn_tokens(t, c.tmpl, question(1));
    CHECK_MSG(next.done.stats.n_prompt_evaluated - want <= 1 &&
                  next.done.stats.n_prompt_evaluated >= want,
              "%s: the turn after a stop evaluated %d, new tokens %d", arch,
              next.done.stats.n_prompt_evaluated, want);
    turn_free(&next);
    engine_event_free(&done);
    lm_tokens_free(&ids);
    lm_buf_free(&text);
    chat_free(&c);
out:
    tokenizer_free(t);
    engine_free(e);
}

TEST(engine_stop_ends_reply_within_a_token) {
    for (int i = 0; i < 2; i++) check_stop(archs[i]);
}

/* Stopping while a long prompt is read ends the request too, and the engine
 * takes the next one. */
TEST(engine_stop_during_prompt) {
    engine *e = start_engine("phi3", 4096);
    if (!e) return;
    lm_buf long_text = {0};
    for (int i = 0; i < 550; i++) lm_buf_puts(&long_text, "the river and the mountain ");
    chat c;
    chat_init(&c, CHAT_TEMPLATE_PHI3);
    chat_add(&c, CHAT_ROLE_USER, lm_buf_cstr(&long_text));
    engine_request r;
    chat_build_request(&c, &r);
    r.max_tokens = 4;
    engine_generate(e, &r);
    /* Stop once the first chunk of the prompt has been read: the stop must
     * land while the prompt is being read, not before the request starts. */
    engine_event ev;
    float first = -1, last = 0;
    int n_progress = 0;
    do {
        engine_wait(e, &ev);
        if (ev.kind == EV_PROMPT_PROGRESS) {
            if (first < 0) {
                first = ev.progress;
                engine_stop(e);
            }
            last = ev.progress;
            n_progress++;
        }
        if (ev.kind != EV_DONE) engine_event_free(&ev);
    } while (ev.kind != EV_DONE);
    engine_event done = ev;
    lm_tokens ids = {0};
    lm_buf text = {0};
    CHECK_MSG(first > 0 && first < 1, "no prompt progress before the stop (first %.3f)", first);
    CHECK_MSG(last < 1, "the whole prompt was read (%d progress events) before the stop landed",
              n_progress);
    CHECK_MSG(done.stats.n_prompt_evaluated > 1000, "prompt of %d tokens, %d to evaluate",
              done.stats.n_prompt_tokens, done.stats.n_prompt_evaluated);
    CHECK_EQ_INT(done.reason, STOP_USER);
    CHECK_EQ_INT(done.stats.n_generated, 0);
    engine_event_free(&done);
    chat_pop(&c);
    turn_result again = run_turn(e, &c, "hello", 4, 0);
    CHECK(again.done.reason == STOP_EOG || again.done.reason == STOP_MAX_TOKENS);
    turn_free(&again);
    lm_tokens_free(&ids);
    lm_buf_free(&text);
    lm_buf_free(&long_text);
    chat_free(&c);
    engine_free(e);
}

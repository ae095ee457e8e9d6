/* cli: the scripted subcommands that compare with llama.cpp token for token:
 * run, tokenize, logits; and info. No chat template is applied here. */
#include "cli.h"
#include "engine.h"

#include <stdlib.h>
#include <string.h>

static const char *single_text(cli_options *o, const char *what) {
    if (o->n_args != 1) {
        cli_error("%s takes exactly one TEXT argument (texts starting with '-' go after --)", what);
        return NULL;
    }
    return o->args[0];
}

/* BOS as the vocabulary says (unless --no-bos), special tokens parsed unless --no-special. */
static int encode(const model *m, const cli_options *o, const char *text, lm_tokens *out) {
    const tokenizer *tok = model_get_tokenizer(m);
    lm_error err;
    if (tokenizer_encode(tok, text, strlen(text), !o->no_bos && tokenizer_adds_bos(tok),
                         !o->no_special, out, &err))
        return cli_error("%s", err.msg);
    return CLI_OK;
}

int cli_tokenize(cli_options *o) {
    const char *text = single_text(o, "tokenize");
    if (!text) return CLI_USAGE;
    if (!o->model_path) return cli_error("no model given (use -m FILE)");
    lm_error err;
    gguf_file *f = gguf_open(o->model_path, &err);
    if (!f) return cli_error("%s", err.msg);
    tokenizer *tok = tokenizer_load(f, &err);
    gguf_close(f);
    if (!tok) return cli_error("%s", err.msg);
    lm_tokens ids = {0};
    int rc = CLI_OK;
    if (tokenizer_encode(tok, text, strlen(text), !o->no_bos && tokenizer_adds_bos(tok),
                         !o->no_special, &ids, &err)) {
        rc = cli_error("%s", err.msg);
    } else {
        for (size_t i = 0; i < ids.n; i++) printf(i ? " %d" : "%d", ids.ids[i]);
        printf("\n");
    }
    lm_tokens_free(&ids);
    tokenizer_free(tok);
    return rc;
}

int cli_logits(cli_options *o) {
    const char *text = single_text(o, "logits");
    if (!text) return CLI_USAGE;
    model *m = cli_load_model(o);
    if (!m) return CLI_ERROR;
    lm_tokens ids = {0};
    int rc = encode(m, o, text, &ids);
    int n_vocab = model_get_hparams(m)->n_vocab;
    float *logits = lm_xmalloc((size_t)n_vocab * sizeof *logits);
    lm_error err;
    if (rc == CLI_OK && ids.n == 0) rc = cli_error("the text gives no tokens");
    if (rc == CLI_OK && model_eval(m, ids.ids, (int)ids.n, logits, NULL, &err))
        rc = cli_error("%s", err.msg);
    if (rc == CLI_OK)
        for (int i = 0; i < n_vocab; i++) printf("%.9g\n", logits[i]);
    free(logits);
    lm_tokens_free(&ids);
    model_free(m);
    return rc;
}

/* The engine's events for request id until it is done; token text to
 * stdout. Returns the engine's error, or NULL (caller frees). */
static char *follow(engine *e, int id, enum engine_event_kind done_kind) {
    for (;;) {
        engine_event ev;
        engine_wait(e, &ev);
        char *failed = NULL;
        bool done = ev.request_id == id && (ev.kind == done_kind || ev.kind == EV_LOAD_FAILED);
        if (ev.request_id == id && ev.kind == EV_TOKEN && ev.text && ev.text[0]) {
            fputs(ev.text, stdout);
            fflush(stdout);
        }
        if (done && (ev.kind == EV_LOAD_FAILED || ev.reason == STOP_ERROR))
            failed = lm_xstrdup(ev.text ? ev.text : "failed");
        engine_event_free(&ev);
        if (done) return failed;
    }
}

/* The prompt as it is (no chat template), through the engine's one
 * generation loop: BOS as the vocabulary says (unless --no-bos), special
 * tokens parsed unless --no-special, and written out as their text. */
int cli_run(cli_options *o) {
    if (!o->prompt) return cli_usage_error("run needs a prompt (-p TEXT)");
    if (o->remote) return cli_run_remote(o);
    if (!o->model_path) return cli_error("no model given (use -m FILE)");
    lm_error err;
    engine *e = engine_create(&err);
    if (!e) return cli_error("%s", err.msg);
    model_options mo = {.n_ctx = o->n_ctx, .n_threads = o->threads, .precision = o->precision,
                        .cache_type = o->cache_type};
    char *failed = follow(e, engine_load(e, o->model_path, &mo), EV_LOADED);
    if (!failed) {
        engine_request r = {.add_bos = !o->no_bos,
                            .max_tokens = o->n_predict,
                            .special_text = true,
                            .sampling = o->sampling};
        engine_request_add_block(&r, false);
        engine_request_add_text(&r, o->no_special ? SEG_TEXT : SEG_MARKUP, o->prompt,
                                strlen(o->prompt));
        failed = follow(e, engine_generate(e, &r), EV_DONE);
        if (!failed) printf("\n");
    }
    engine_free(e);
    int rc = failed ? cli_error("%s", failed) : CLI_OK;
    free(failed);
    return rc;
}

/* cli: the scripted subcommands that compare with llama.cpp token for token:
 * run, tokenize, logits; and info. No chat template is applied here. */
#include "cli.h"

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

/* Generates until n_predict tokens, an end-of-generation token or a full context. */
static int generate(model *m, sampler *smp, lm_tokens *ctx, int n_predict, float *logits) {
    const tokenizer *tok = model_get_tokenizer(m);
    tokenizer_stream stream = {0};
    lm_buf text = {0};
    lm_error err;
    int rc = CLI_OK;
    for (int i = 0; n_predict < 0 || i < n_predict; i++) {
        int32_t id = sampler_sample(smp, logits, ctx->ids, ctx->n);
        if (tokenizer_is_eog(tok, id)) break;
        text.len = 0;
        tokenizer_stream_push(tok, &stream, id, true, &text);
        if (text.len) fwrite(text.data, 1, text.len, stdout);
        fflush(stdout);
        lm_tokens_push(ctx, id);
        if (model_n_past(m) >= model_n_ctx(m)) break;
        if (n_predict >= 0 && i + 1 == n_predict) break;
        if (model_eval(m, &id, 1, logits, NULL, &err)) {
            rc = cli_error("%s", err.msg);
            break;
        }
    }
    text.len = 0;
    tokenizer_stream_flush(&stream, &text);
    if (text.len) fwrite(text.data, 1, text.len, stdout);
    printf("\n");
    lm_buf_free(&text);
    return rc;
}

int cli_run(cli_options *o) {
    if (!o->prompt) return cli_usage_error("run needs a prompt (-p TEXT)");
    if (o->remote) return cli_run_remote(o);
    model *m = cli_load_model(o);
    if (!m) return CLI_ERROR;
    lm_tokens ctx = {0};
    int rc = encode(m, o, o->prompt, &ctx);
    int n_vocab = model_get_hparams(m)->n_vocab;
    float *logits = lm_xmalloc((size_t)n_vocab * sizeof *logits);
    sampler *smp = sampler_create(&o->sampling, n_vocab);
    lm_error err;
    if (rc == CLI_OK && ctx.n == 0) rc = cli_error("the prompt gives no tokens");
    if (rc == CLI_OK && model_eval(m, ctx.ids, (int)ctx.n, logits, NULL, &err))
        rc = cli_error("%s", err.msg);
    if (rc == CLI_OK) rc = generate(m, smp, &ctx, o->n_predict, logits);
    sampler_free(smp);
    free(logits);
    lm_tokens_free(&ctx);
    model_free(m);
    return rc;
}

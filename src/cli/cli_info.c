/* cli: `lmterm info`, what a model file holds and what it needs. */
#include "cli.h"
#include "model.h"
#include "synth.h"

#include <stdlib.h>
#include <string.h>

static void print_types(const gguf_file *f) {
    uint64_t count[QT_COUNT] = {0};
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (f->tensors[i].type < QT_COUNT) count[f->tensors[i].type]++;
    printf("tensor types:   ");
    for (int t = 0; t < QT_COUNT; t++)
        if (count[t])
            printf("%s x%llu  ", quant_info((uint32_t)t)->name, (unsigned long long)count[t]);
    printf("(%llu tensors)\n", (unsigned long long)f->n_tensors);
}

static void print_token(const tokenizer *tok, const char *label, int32_t id) {
    if (id < 0) return;
    printf("  %-6s %6d  %s\n", label, id, tokenizer_token_text(tok, id));
}

static void print_vocab(const tokenizer *tok) {
    printf("vocabulary:     %d tokens, %s\n", tokenizer_n_vocab(tok),
           tokenizer_kind(tok) == TOKENIZER_SPM ? "SentencePiece (llama)"
                                                : "byte-level BPE (gpt2)");
    print_token(tok, "bos", tokenizer_bos(tok));
    print_token(tok, "eos", tokenizer_eos(tok));
    printf("  adds BOS: %s\n  end of generation:", tokenizer_adds_bos(tok) ? "yes" : "no");
    for (int32_t id = 0; id < tokenizer_n_vocab(tok); id++)
        if (tokenizer_is_eog(tok, id)) printf(" %d %s", id, tokenizer_token_text(tok, id));
    printf("\n");
}

static void print_memory(const model *m) {
    const gguf_file *f = model_get_file(m);
    char a[16], b[16];
    printf("memory:         weights as used %s, KV cache %s %s at %d positions\n",
           lm_format_size(model_weight_bytes(m), a), lm_format_size(model_kv_bytes(m), b),
           model_cache_type_name(model_cache_type(m)), model_n_ctx(m));
    printf("  by precision:");
    for (int p = MODEL_PRECISION_NATIVE; p <= MODEL_PRECISION_INT4; p++)
        printf(" %s %s%s", model_precision_name((enum model_precision)p),
               lm_format_size(model_estimate_weight_bytes(f, (enum model_precision)p), a),
               p < MODEL_PRECISION_INT4 ? "," : "\n");
}

int cli_info(cli_options *o) {
    model *m = cli_load_model(o);
    if (!m) return CLI_ERROR;
    const model_hparams *hp = model_get_hparams(m);
    const gguf_file *f = model_get_file(m);
    char a[16];
    printf("file:           %s (%s, GGUF v%u)\n", f->path, lm_format_size(f->size, a), f->version);
    printf("architecture:   %s  \"%s\"\n", hp->arch == MODEL_ARCH_PHI3 ? "phi3" : "llama",
           hp->name);
    printf("parameters:     %.2f M in matrices\n", (double)model_param_count(m) / 1e6);
    printf("shape:          %d layers, embedding %d, %d heads (%d KV) of %d, feed-forward %d\n",
           hp->n_layer, hp->n_embd, hp->n_head, hp->n_head_kv, hp->head_dim, hp->n_ff);
    printf("context:        %d trained", hp->n_ctx_train);
    if (hp->sliding_window) printf(", sliding window %d", hp->sliding_window);
    printf("\nrope:           base %g, %d dims, %s pairs", hp->rope_base, hp->n_rot,
           hp->arch == MODEL_ARCH_PHI3 ? "half-split" : "adjacent");
    if (gguf_find_tensor(f, "rope_factors_long.weight"))
        printf(", LongRoPE (original context %d, attention factor %g)", hp->n_ctx_orig,
               hp->rope_attn_factor);
    if (gguf_find_tensor(f, "rope_freqs.weight")) printf(", Llama-3.1 frequency factors");
    printf("\n");
    print_types(f);
    printf("main type:      %s, output %s\n", quant_info(model_main_type(m))->name,
           gguf_find_tensor(f, "output.weight") ? "separate" : "tied to token_embd");
    print_vocab(model_get_tokenizer(m));
    print_memory(m);
    printf("kernels:        %s, %d threads\n", kernels_backend(), model_n_threads(m));
    char *tmpl = gguf_get_strdup(f, "tokenizer.chat_template");
    printf("chat template:  %s\n", tmpl ? tmpl : "(none in the file)");
    free(tmpl);
    model_free(m);
    return CLI_OK;
}

static void synth_progress(void *ctx, int done, int total, uint64_t bytes, uint64_t total_bytes) {
    cli_progress_update(ctx, "tensor", done, total, bytes, total_bytes);
}

int cli_synth(cli_options *o) {
    if (!o->arch || !o->shape || !o->output_path)
        return cli_usage_error("synth needs --arch phi3|llama, --shape %s and -o FILE",
                               synth_shapes());
    int type = quant_type_from_name(o->type ? o->type : "q8_0");
    if (type < 0) return cli_error("unknown type '%s'", o->type);
    int output_type = o->output_type ? quant_type_from_name(o->output_type) : QT_COUNT;
    if (output_type < 0) return cli_error("unknown type '%s'", o->output_type);
    synth_options so = {.arch = o->arch,
                        .shape = o->shape,
                        .type = (enum quant_type)type,
                        .output_type = (enum quant_type)output_type,
                        .seed = o->seed_set ? o->seed : 1,
                        .n_ctx_train = o->n_ctx};
    cli_progress pr;
    cli_progress_start(&pr, o->output_path);
    so.progress = synth_progress;
    so.progress_ctx = &pr;
    lm_error err;
    int rc = synth_write(&so, o->output_path, &err);
    cli_progress_end(&pr);
    return rc ? cli_error("%s", err.msg) : CLI_OK;
}

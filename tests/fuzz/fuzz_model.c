/* fuzz_model: model_load on damaged model files, then two tokens through it.
 *
 * fuzz_gguf covers the container; this covers what the model loader reads
 * from it: hyper-parameters, tensor shapes and types against them, rope
 * factors, the precision conversions, and the KV cache size. A hostile file
 * must be refused with one line before anything large is allocated (libFuzzer
 * reports any single allocation over -malloc_limit_mb as a finding). The
 * seeds are tiny synthetic models (lmterm synth --shape tiny, ~140 KiB).
 *
 * model_load reads a path, so each input goes to a file on /dev/shm (or /tmp).
 * The input's size picks the precision, so every conversion gets exercised.
 *
 * libFuzzer: -max_len=262144 -timeout=30 -rss_limit_mb=2048 -malloc_limit_mb=512
 */
#include "fuzz_scratch.h"
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[4200];

static void fail(const char *what) {
    fprintf(stderr, "fuzz_model: check failed: %s\n", what);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_scratch_make("fuzz-model");
    fuzz_scratch_path(path, sizeof path, "model.gguf");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f))
        fail("cannot write the input file");

    model_options opt = {.n_ctx = 8, .n_threads = 1, .precision = (enum model_precision)(size % 5)};
    lm_error err = {{0}};
    model *m = model_load(path, &opt, &err);
    if (!m) {
        if (!err.msg[0] || strchr(err.msg, '\n')) fail("an error must be one line");
        return 0;
    }
    const model_hparams *hp = model_get_hparams(m);
    const tokenizer *tok = model_get_tokenizer(m);
    if (!tok || tokenizer_n_vocab(tok) != hp->n_vocab) fail("the vocabulary and n_vocab disagree");
    float *logits = malloc((size_t)hp->n_vocab * sizeof *logits);
    int32_t ids[2] = {tokenizer_bos(tok) >= 0 ? tokenizer_bos(tok) : 0, hp->n_vocab - 1};
    if (model_eval(m, ids, 2, logits, NULL, &err) == 0 && model_n_past(m) != 2)
        fail("two tokens evaluated but the cache does not hold two");
    int32_t bad = hp->n_vocab;
    if (model_eval(m, &bad, 1, logits, NULL, &err) == 0)
        fail("an id outside the vocabulary was accepted");
    free(logits);
    model_free(m);
    return 0;
}

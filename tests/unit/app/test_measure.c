/* measure: the parts below the commands that their shell tests do not pin
 * down one by one: the chunk count and its one-line refusal, the bars, the
 * state folder's record (two files kept apart, a changed file forgotten,
 * a damaged record replaced rather than trusted), and perplexity and KL
 * arithmetic on a tiny synthetic model (the model against itself: KL 0,
 * the same top token everywhere; a file spool that is read back). */
#include "measure.h"
#include "model.h"
#include "synth.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <utime.h>

TEST(measure_chunks_and_short_text) {
    lm_error err = {{0}};
    CHECK_EQ_INT(measure_chunks(1000, 128, 0, &err), 7);
    CHECK_EQ_INT(measure_chunks(1000, 128, 3, &err), 3);
    CHECK_EQ_INT(measure_chunks(256, 128, 0, &err), 2);
    CHECK_EQ_INT(measure_chunks(255, 128, 0, &err), -1);
    CHECK(strstr(err.msg, "255 tokens") && strstr(err.msg, "at least 256"));
    CHECK_EQ_INT(measure_chunks(1000, 127, 0, &err), -1); /* odd: no second half */
}

TEST(measure_bar_cells) {
    lm_buf b = {0};
    measure_bar(10, 10, 4, true, &b);
    CHECK_EQ_STR(lm_buf_cstr(&b), "████");
    b.len = 0;
    measure_bar(5, 10, 4, true, &b);
    CHECK_EQ_STR(lm_buf_cstr(&b), "██  ");
    b.len = 0;
    measure_bar(8, 16, 1, true, &b); /* half a cell: four eighths */
    CHECK_EQ_STR(lm_buf_cstr(&b), "▌");
    b.len = 0;
    measure_bar(0, 10, 3, true, &b);
    CHECK_EQ_STR(lm_buf_cstr(&b), "   ");
    b.len = 0;
    measure_bar(7, 10, 4, false, &b); /* '#' for whole cells only */
    CHECK_EQ_STR(lm_buf_cstr(&b), "##  ");
    lm_buf_free(&b);
}

static void touch_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static measure_compare_result *one_row(enum model_precision p, double tps) {
    measure_compare_result *r = lm_xcalloc(1, sizeof *r);
    for (int i = 0; i < MEASURE_N_PRECISIONS; i++) r->rows[i].precision = (enum model_precision)i;
    measure_row *row = &r->rows[p];
    row->state = MEASURE_DONE;
    row->type = QT_Q8_0;
    row->gen_tps = tps;
    row->rss_bytes = 123456789;
    row->has_kl = true;
    row->kld_mean = 0.25;
    row->dppl = -1.5;
    return r;
}

TEST(measure_cache_round_trip) {
    char rec[512], a[512], b[512];
    snprintf(rec, sizeof rec, "%s/state/lmterm/measurements.json", test_tmpdir());
    snprintf(a, sizeof a, "%s/a.gguf", test_tmpdir());
    snprintf(b, sizeof b, "%s/b.gguf", test_tmpdir());
    touch_file(a, "model a");
    touch_file(b, "model b, longer");
    measure_row rows[MEASURE_N_PRECISIONS];
    CHECK(!measure_cache_load(rec, a, rows)); /* no record yet */
    lm_error err = {{0}};
    measure_compare_result *r = one_row(MODEL_PRECISION_INT8, 12.5);
    CHECK_MSG(measure_cache_store(rec, a, r, &err) == 0, "%s", err.msg);
    free(r);
    r = one_row(MODEL_PRECISION_INT4, 20);
    CHECK_MSG(measure_cache_store(rec, b, r, &err) == 0, "%s", err.msg);
    free(r);
    /* a later measurement of another precision of a keeps the first */
    r = one_row(MODEL_PRECISION_FP16, 5);
    CHECK_MSG(measure_cache_store(rec, a, r, &err) == 0, "%s", err.msg);
    free(r);
    CHECK(measure_cache_load(rec, a, rows));
    CHECK_EQ_INT(rows[MODEL_PRECISION_INT8].state, MEASURE_DONE);
    CHECK_NEAR(rows[MODEL_PRECISION_INT8].gen_tps, 12.5, 1e-9);
    CHECK_EQ_INT(rows[MODEL_PRECISION_INT8].rss_bytes, 123456789);
    CHECK_NEAR(rows[MODEL_PRECISION_INT8].kld_mean, 0.25, 1e-9);
    CHECK_NEAR(rows[MODEL_PRECISION_INT8].dppl, -1.5, 1e-9);
    CHECK_EQ_INT(rows[MODEL_PRECISION_INT8].type, QT_Q8_0);
    CHECK_EQ_INT(rows[MODEL_PRECISION_FP16].state, MEASURE_DONE);
    CHECK_EQ_INT(rows[MODEL_PRECISION_INT4].state, MEASURE_PENDING); /* b's, not a's */
    CHECK(measure_cache_load(rec, b, rows));
    CHECK_NEAR(rows[MODEL_PRECISION_INT4].gen_tps, 20, 1e-9);
    CHECK_EQ_INT(rows[MODEL_PRECISION_INT8].state, MEASURE_PENDING);
    /* a file that changed is not the file that was measured */
    struct timeval tv[2] = {{1000000000, 0}, {1000000000, 0}};
    CHECK(utimes(a, tv) == 0);
    CHECK(!measure_cache_load(rec, a, rows));
    CHECK(measure_cache_load(rec, b, rows));
    /* a damaged record is not trusted, and the next store replaces it */
    touch_file(rec, "{\"models\": [ {\"path\": ");
    CHECK(!measure_cache_load(rec, b, rows));
    r = one_row(MODEL_PRECISION_INT4, 21);
    CHECK_MSG(measure_cache_store(rec, b, r, &err) == 0, "%s", err.msg);
    free(r);
    CHECK(measure_cache_load(rec, b, rows) && rows[MODEL_PRECISION_INT4].gen_tps == 21);
}

TEST(measure_perplexity_against_itself) {
    char path[512], text[512];
    snprintf(path, sizeof path, "%s/tiny-measure.gguf", test_tmpdir());
    snprintf(text, sizeof text, "%s/text.txt", test_tmpdir());
    synth_options so = {
        .arch = "llama", .shape = "tiny", .type = QT_Q8_0, .output_type = QT_COUNT, .seed = 5};
    lm_error err = {{0}};
    CHECK_MSG(synth_write(&so, path, &err) == 0, "%s", err.msg);
    lm_buf t = {0};
    for (int i = 0; i < 200; i++) lm_buf_printf(&t, "the river and the mountain %d, ", i);
    touch_file(text, lm_buf_cstr(&t));
    lm_buf_free(&t);
    model_options mo = {.n_ctx = 64, .n_threads = 1};
    model *m = model_load(path, &mo, &err);
    CHECK_MSG(m, "%s", err.msg);
    if (!m) return;
    lm_tokens toks = {0};
    CHECK_MSG(measure_read_text(m, text, &toks, &err) == 0, "%s", err.msg);
    measure_ppl_options po = {.n_ctx = 64, .n_chunks = 3};
    measure_spool *spool = measure_spool_create(model_get_hparams(m)->n_vocab, &err);
    CHECK(spool != NULL);
    measure_ppl_result base = {0}, again = {0};
    CHECK(measure_perplexity(m, &toks, &po, spool, NULL, &base, &err) == 0);
    CHECK(measure_perplexity(m, &toks, &po, NULL, spool, &again, &err) == 0);
    CHECK_EQ_INT(base.n_chunks, 3);
    CHECK_EQ_INT(base.n_scored, 3 * 31);
    CHECK(base.ppl > 1 && base.ppl_err > 0 && !base.has_kl);
    CHECK(base.ppl_by_chunk[2] == base.ppl); /* the last running value is the estimate */
    CHECK(again.ppl == base.ppl && again.has_kl);
    CHECK(again.kld_max == 0 && again.kld_mean == 0 && again.same_top_pct == 100);
    measure_ppl_result_free(&base);
    measure_ppl_result_free(&again);
    measure_spool_free(spool);
    lm_tokens_free(&toks);
    model_free(m);
}

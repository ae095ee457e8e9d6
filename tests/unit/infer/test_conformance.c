/* The conformance cases of ../shared/conformance/README.md, section 4: for
 * every logits/<model>.<case>.json, our prompt tokens must equal llama.cpp's,
 * the last-position logits must agree within the file's class tolerance, and
 * greedy continuation must agree where the reference margin says it must. */
#include "json.h"
#include "model.h"
#include "sampler.h"
#include "test.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>

typedef struct tolerance_table {
    json_value *json;
} tolerance_table;

static char *read_text(const char *path, size_t *len) {
    char *data = NULL;
    lm_error err;
    if (lm_read_file(path, 64u << 20, &data, len, &err)) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        return NULL;
    }
    return data;
}

static json_value *read_json(const char *path) {
    size_t len;
    char *text = read_text(path, &len);
    if (!text) return NULL;
    lm_error err;
    json_value *v = json_parse(text, len, &err);
    if (!v) test_fail(__FILE__, __LINE__, "%s: %s", path, err.msg);
    free(text);
    return v;
}

/* First key of tolerances.json that is a substring of the model file name. */
static double tolerance_for(const json_value *tol, const char *model_file) {
    for (size_t i = 0; tol && i < tol->len; i++)
        if (tol->keys[i][0] != '_' && strstr(model_file, tol->keys[i])) return tol->items[i].num;
    return -1;
}

typedef struct case_result {
    double max_rel, rms_rel;
    int steps_compared;
} case_result;

static void compare_logits(const char *name, const float *ref, const float *got, int n, double tol,
                           case_result *r) {
    double mean = 0, var = 0, max_d = 0, sum_d2 = 0;
    for (int i = 0; i < n; i++) mean += ref[i];
    mean /= n;
    for (int i = 0; i < n; i++) var += (ref[i] - mean) * (ref[i] - mean);
    double s = sqrt(var / n);
    for (int i = 0; i < n; i++) {
        double d = (double)got[i] - (double)ref[i];
        if (fabs(d) > max_d) max_d = fabs(d);
        sum_d2 += d * d;
    }
    r->max_rel = max_d / s;
    r->rms_rel = sqrt(sum_d2 / n) / s;
    CHECK_MSG(r->max_rel <= tol, "%s: max|d|/s = %.5f > %.3f", name, r->max_rel, tol);
    CHECK_MSG(r->rms_rel <= tol / 3, "%s: rms|d|/s = %.5f > %.4f", name, r->rms_rel, tol / 3);
}

/* The greedy rule of section 4: compare steps until a near-tie or an EOG. */
static void compare_greedy(model *m, const char *name, const json_value *steps, float *logits,
                           double tol, case_result *r) {
    const tokenizer *tok = model_get_tokenizer(m);
    lm_error err;
    for (size_t k = 0; k < steps->len; k++) {
        const json_value *st = &steps->items[k], *top5 = json_get(st, "top5");
        double margin = top5->items[0].items[1].num - top5->items[1].items[1].num;
        if (margin <= 2 * tol * json_get_num(st, "std", 0)) break;
        int32_t want = (int32_t)json_get_num(st, "token", -1);
        int32_t got = sampler_argmax(logits, model_get_hparams(m)->n_vocab);
        r->steps_compared++;
        CHECK_MSG(got == want, "%s: greedy step %zu gives %d, llama.cpp %d", name, k, got, want);
        if (got != want || json_get(st, "is_eog")->b || tokenizer_is_eog(tok, got)) break;
        if (model_eval(m, &got, 1, logits, NULL, &err)) {
            test_fail(__FILE__, __LINE__, "%s: %s", name, err.msg);
            break;
        }
    }
}

static void run_case(const char *dir, const char *json_name, const json_value *tol_table,
                     double *worst, char *worst_name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/logits/%s", dir, json_name);
    json_value *c = read_json(path);
    if (!c) return;
    const char *model_file = json_get_str(c, "model", "");
    double tol = tolerance_for(tol_table, model_file);
    CHECK_MSG(tol > 0, "no tolerance for %s", model_file);
    snprintf(path, sizeof path, "%s/models/%s", dir, model_file);
    model_options mo = {.n_ctx = (int)json_get_num(c, "n_ctx", 4096), .n_threads = 2};
    lm_error err;
    model *m = model_load(path, &mo, &err);
    CHECK_MSG(m != NULL, "%s: %s", json_name, err.msg);
    if (!m) goto done;

    const tokenizer *tok = model_get_tokenizer(m);
    const char *prompt = json_get_str(c, "prompt", "");
    const json_value *want = json_get(c, "prompt_tokens");
    lm_tokens ids = {0};
    CHECK(tokenizer_encode(tok, prompt, strlen(prompt), tokenizer_adds_bos(tok), true, &ids,
                           &err) == 0);
    bool same = ids.n == want->len;
    for (size_t i = 0; same && i < ids.n; i++) same = ids.ids[i] == (int32_t)want->items[i].num;
    CHECK_MSG(same, "%s: prompt tokens differ from llama.cpp's (%zu vs %zu tokens)", json_name,
              ids.n, want->len);

    int n_vocab = model_get_hparams(m)->n_vocab;
    float *logits = lm_xmalloc((size_t)n_vocab * sizeof *logits);
    if (same && model_eval(m, ids.ids, (int)ids.n, logits, NULL, &err) == 0) {
        snprintf(path, sizeof path, "%s/logits/%s", dir,
                 json_get_str(c, "last_prompt_logits_file", ""));
        size_t len;
        char *ref = read_text(path, &len);
        case_result r = {0};
        if (ref && len == (size_t)n_vocab * sizeof(float)) {
            compare_logits(json_name, (const float *)ref, logits, n_vocab, tol, &r);
            compare_greedy(m, json_name, json_get(c, "steps"), logits, tol, &r);
            printf("    %-40s max|d|/s %.5f (tol %.3f)  rms %.5f  greedy steps %d\n", json_name,
                   r.max_rel, tol, r.rms_rel, r.steps_compared);
            if (r.max_rel / tol > *worst) {
                *worst = r.max_rel / tol;
                snprintf(worst_name, 256, "%s", json_name);
            }
        } else {
            test_fail(__FILE__, __LINE__, "%s: reference logits missing or of the wrong size",
                      json_name);
        }
        free(ref);
    } else if (same) {
        test_fail(__FILE__, __LINE__, "%s: %s", json_name, err.msg);
    }
    free(logits);
    lm_tokens_free(&ids);
    model_free(m);
done:
    json_free(c);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

TEST(conformance_logits_and_greedy) {
    const char *dir = test_conformance_dir();
    if (!dir) {
        test_skip("no ../shared/conformance beside the checkout");
        return;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/tolerances.json", dir);
    json_value *tol = read_json(path);
    snprintf(path, sizeof path, "%s/logits", dir);
    DIR *d = opendir(path);
    CHECK(d != NULL);
    if (!d) return;
    char *names[256];
    int n = 0;
    const char *only = getenv("LMTERM_CONFORMANCE_ONLY");
    for (struct dirent *e; (e = readdir(d)) && n < 256;) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0 &&
            (!only || strstr(e->d_name, only)))
            names[n++] = lm_xstrdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    double worst = 0;
    char worst_name[256] = "";
    for (int i = 0; i < n; i++) {
        run_case(dir, names[i], tol, &worst, worst_name);
        free(names[i]);
    }
    printf("    %d cases; worst max|d|/s relative to its tolerance: %.3f (%s)\n", n, worst,
           worst_name);
    /* All 44 cases, or with a filter at least one: a filter that matches
     * nothing (a typo) must not pass as a clean run. */
    CHECK_MSG(only ? n > 0 : n >= 44, "%d cases%s%s", n,
              only ? " match LMTERM_CONFORMANCE_ONLY=" : "", only ? only : "");
    json_free(tol);
}

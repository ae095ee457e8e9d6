/* sampler: see include/sampler.h. */
#include "sampler.h"

#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct candidate {
    int32_t id;
    float logit, p;
} candidate;

struct sampler {
    sampler_params p;
    int n_vocab;
    uint64_t rng[4];
    candidate *cand;
};

sampler_params sampler_default_params(void) {
    return (sampler_params){.temperature = 0.8f,
                            .top_k = 40,
                            .top_p = 0.95f,
                            .min_p = 0.05f,
                            .repeat_penalty = 1.0f,
                            .repeat_last_n = 64,
                            .seed = 0x5eed};
}

/* xoshiro256** seeded through splitmix64 */
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_u64(uint64_t s[4]) {
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

static double next_unit(uint64_t s[4]) {
    return (double)(next_u64(s) >> 11) * 0x1.0p-53;
}

void sampler_set_params(sampler *s, const sampler_params *p) {
    s->p = *p;
    uint64_t x = p->seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
}

sampler *sampler_create(const sampler_params *p, int n_vocab) {
    sampler *s = lm_xcalloc(1, sizeof *s);
    s->n_vocab = n_vocab;
    s->cand = lm_xmalloc((size_t)n_vocab * sizeof *s->cand);
    sampler_set_params(s, p);
    return s;
}

void sampler_free(sampler *s) {
    if (!s) return;
    free(s->cand);
    free(s);
}

const sampler_params *sampler_get_params(const sampler *s) {
    return &s->p;
}

int32_t sampler_argmax(const float *logits, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > logits[best]) best = i;
    return best;
}

static int by_logit_desc(const void *a, const void *b) {
    const candidate *x = a, *y = b;
    if (x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
    return x->id - y->id;
}

/* Moves the k largest candidates to the front, in no particular order: a
 * min-heap of k, so a 128k vocabulary costs one pass, not a sort. */
static void swap_cand(candidate *a, candidate *b) {
    candidate t = *a;
    *a = *b;
    *b = t;
}

static void sift_down(candidate *h, int k, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < k && by_logit_desc(&h[l], &h[m]) > 0) m = l;
        if (r < k && by_logit_desc(&h[r], &h[m]) > 0) m = r;
        if (m == i) return;
        swap_cand(&h[i], &h[m]);
        i = m;
    }
}

static void select_top_k(candidate *c, int n, int k) {
    for (int i = k / 2 - 1; i >= 0; i--) sift_down(c, k, i);
    for (int i = k; i < n; i++) {
        if (by_logit_desc(&c[i], &c[0]) < 0) { /* better than the worst kept */
            swap_cand(&c[i], &c[0]);
            sift_down(c, k, 0);
        }
    }
}

/* Penalise each distinct recent token once, as llama.cpp's penalties do. */
static void apply_repeat_penalty(sampler *s, const int32_t *recent, size_t n) {
    float pen = s->p.repeat_penalty;
    size_t from = n > (size_t)s->p.repeat_last_n ? n - (size_t)s->p.repeat_last_n : 0;
    for (size_t i = from; i < n; i++) {
        int32_t id = recent[i];
        if (id < 0 || id >= s->n_vocab) continue;
        bool seen = false;
        for (size_t j = from; j < i && !seen; j++) seen = recent[j] == id;
        if (seen) continue;
        candidate *c = &s->cand[id];
        c->logit = c->logit > 0 ? c->logit / pen : c->logit * pen;
    }
}

/* Softmax over the first n candidates (sorted), with the temperature applied. */
static void softmax(candidate *c, int n, float temp) {
    double sum = 0;
    for (int i = 0; i < n; i++) {
        c[i].p = expf((c[i].logit - c[0].logit) / temp);
        sum += c[i].p;
    }
    for (int i = 0; i < n; i++) c[i].p = (float)(c[i].p / sum);
}

int32_t sampler_sample(sampler *s, const float *logits, const int32_t *recent, size_t n_recent) {
    int n = s->n_vocab;
    for (int i = 0; i < n; i++) s->cand[i] = (candidate){i, logits[i], 0};
    if (s->p.repeat_penalty != 1.0f && s->p.repeat_penalty > 0)
        apply_repeat_penalty(s, recent, n_recent);
    if (s->p.temperature <= 0) {
        int32_t best = 0;
        for (int i = 1; i < n; i++)
            if (s->cand[i].logit > s->cand[best].logit) best = i;
        return best;
    }
    if (s->p.top_k > 0 && s->p.top_k < n) {
        select_top_k(s->cand, n, s->p.top_k);
        n = s->p.top_k;
    }
    qsort(s->cand, (size_t)n, sizeof *s->cand, by_logit_desc);
    softmax(s->cand, n, 1.0f);
    if (s->p.top_p < 1.0f) {
        double cum = 0;
        for (int i = 0; i < n; i++) {
            cum += s->cand[i].p;
            if (cum >= s->p.top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (s->p.min_p > 0) {
        float floor = s->cand[0].p * s->p.min_p;
        int keep = 1;
        while (keep < n && s->cand[keep].p >= floor) keep++;
        n = keep;
    }
    softmax(s->cand, n, s->p.temperature);
    double r = next_unit(s->rng), cum = 0;
    for (int i = 0; i < n; i++) {
        cum += s->cand[i].p;
        if (r < cum) return s->cand[i].id;
    }
    return s->cand[n - 1].id;
}

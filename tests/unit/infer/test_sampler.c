#include "sampler.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>

static sampler_params params(float temp, int top_k, float top_p, float min_p, uint64_t seed) {
    sampler_params p = sampler_default_params();
    p.temperature = temp;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.repeat_penalty = 1.0f;
    p.seed = seed;
    return p;
}

TEST(sampler_greedy_takes_lowest_id_on_tie) {
    float logits[6] = {0.5f, 2.0f, -1.0f, 2.0f, 1.9f, 0.0f};
    sampler_params p = params(0, 40, 0.95f, 0.05f, 1);
    sampler *s = sampler_create(&p, 6);
    CHECK_EQ_INT(sampler_sample(s, logits, NULL, 0), 1);
    CHECK_EQ_INT(sampler_argmax(logits, 6), 1);
    sampler_free(s);
}

static void draw(sampler_params p, const float *logits, int n, int *out, int count) {
    sampler *s = sampler_create(&p, n);
    for (int i = 0; i < count; i++) out[i] = sampler_sample(s, logits, NULL, 0);
    sampler_free(s);
}

TEST(sampler_seed_repeats_and_differs) {
    float logits[50];
    for (int i = 0; i < 50; i++) logits[i] = sinf((float)i) * 2;
    int a[64], b[64], c[64];
    draw(params(1.0f, 0, 1.0f, 0, 7), logits, 50, a, 64);
    draw(params(1.0f, 0, 1.0f, 0, 7), logits, 50, b, 64);
    draw(params(1.0f, 0, 1.0f, 0, 8), logits, 50, c, 64);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(a, c, sizeof a) != 0);
}

TEST(sampler_top_k_restricts_to_the_k_best) {
    float logits[1000];
    for (int i = 0; i < 1000; i++) logits[i] = (float)((i * 7919) % 1000) / 100.0f;
    /* the three best are the ids whose (i*7919)%1000 is 999, 998, 997 */
    int out[300];
    draw(params(5.0f, 3, 1.0f, 0, 3), logits, 1000, out, 300);
    int seen_distinct = 0, counts[1000] = {0};
    for (int i = 0; i < 300; i++) {
        CHECK_MSG((out[i] * 7919) % 1000 >= 997, "token %d outside the top 3", out[i]);
        if (counts[out[i]]++ == 0) seen_distinct++;
    }
    CHECK_EQ_INT(seen_distinct, 3); /* a high temperature spreads over all three */
}

TEST(sampler_min_p_and_top_p_cut_the_tail) {
    float logits[4] = {5.0f, 4.9f, 0.0f, -3.0f};
    int out[200];
    draw(params(1.0f, 0, 1.0f, 0.1f, 11), logits, 4, out, 200);
    for (int i = 0; i < 200; i++) CHECK(out[i] == 0 || out[i] == 1);
    draw(params(1.0f, 0, 0.5f, 0, 11), logits, 4, out, 200);
    for (int i = 0; i < 200; i++) CHECK_EQ_INT(out[i], 0); /* the first alone passes 0.5 */
}

TEST(sampler_follows_softmax_at_temperature_one) {
    float logits[3] = {0.0f, (float)log(2.0), (float)log(5.0)}; /* 1 : 2 : 5 */
    enum { N = 16000 };
    int *out = malloc(N * sizeof *out), counts[3] = {0};
    draw(params(1.0f, 0, 1.0f, 0, 99), logits, 3, out, N);
    for (int i = 0; i < N; i++) counts[out[i]]++;
    CHECK_NEAR(counts[0] / (double)N, 1.0 / 8, 0.015);
    CHECK_NEAR(counts[1] / (double)N, 2.0 / 8, 0.02);
    CHECK_NEAR(counts[2] / (double)N, 5.0 / 8, 0.02);
    free(out);
}

TEST(sampler_repeat_penalty_lowers_recent_tokens) {
    float logits[3] = {2.0f, 1.9f, -5.0f};
    sampler_params p = params(0, 0, 1.0f, 0, 1);
    p.repeat_penalty = 1.5f;
    sampler *s = sampler_create(&p, 3);
    int32_t recent[] = {0, 0, 2};
    CHECK_EQ_INT(sampler_sample(s, logits, recent, 3), 1); /* 2.0/1.5 < 1.9 */
    CHECK_EQ_INT(sampler_sample(s, logits, NULL, 0), 0);
    sampler_free(s);
}

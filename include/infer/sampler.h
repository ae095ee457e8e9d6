/* sampler: picks the next token from a row of logits. Greedy when the
 * temperature is 0; otherwise repetition penalty, top-k, top-p, min-p and
 * temperature, in that order, then a draw from a seeded generator. */
#ifndef LMTERM_SAMPLER_H
#define LMTERM_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

typedef struct sampler_params {
    float temperature;    /* <= 0: greedy (the lowest id wins a tie) */
    int top_k;            /* <= 0: off */
    float top_p;          /* >= 1: off */
    float min_p;          /* <= 0: off */
    float repeat_penalty; /* 1: off */
    int repeat_last_n;    /* how many recent tokens the penalty looks at */
    uint64_t seed;
} sampler_params;

sampler_params sampler_default_params(void);

typedef struct sampler sampler;

sampler *sampler_create(const sampler_params *p, int n_vocab);
void sampler_free(sampler *s);
void sampler_set_params(sampler *s, const sampler_params *p); /* also reseeds */
const sampler_params *sampler_get_params(const sampler *s);

/* recent: the tokens of the context so far (for the repetition penalty). */
int32_t sampler_sample(sampler *s, const float *logits, const int32_t *recent, size_t n_recent);

/* The index of the largest value; the lowest index wins a tie. */
int32_t sampler_argmax(const float *logits, int n);

#endif

/* quant_k: the K-quants, super-blocks of 256 weights (QK_K) cut into
 * sub-blocks of 16 or 32 that each have a small integer scale (and, for the
 * affine types, a small integer min), all multiplied by the block's fp16 d and
 * dmin. Q8_K is their activation format.
 *
 * As in quant.c, every float operation follows ggml's scalar code in kind and
 * order, so results are bit-identical; the quantizers are ggml's reference
 * ("_ref") ones, which llama-quantize uses when given no importance matrix. */
#include "quant_impl.h"

#include <math.h>

#ifdef __clang__ /* no fused multiply-adds: see quant.c */
#pragma STDC FP_CONTRACT OFF
#endif

#define GROUP_MAX_EPS 1e-15f /* below this a group counts as all zeros */

static inline int clamp_int(int v, int lo, int hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

/* ---- scale layouts ---- */

/* Q3_K: sixteen 6-bit signed scales. The low nibbles are packed in bytes 0..7
 * (scales 0..7 low halves, 8..15 high halves); the top two bits of scale j sit
 * in byte 8 + j % 4 at bit 2 * (j / 4). Stored with a bias of 32. */
static int q3_K_scale(const uint8_t *s, int j) {
    int low = j < 8 ? s[j] & 0x0f : s[j - 8] >> 4;
    int high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (low | high << 4) - 32;
}

static void q3_K_set_scale(uint8_t *s, int j, int biased) {
    if (j < 8)
        s[j] = (uint8_t)(biased & 0x0f);
    else
        s[j - 8] |= (uint8_t)((biased & 0x0f) << 4);
    s[8 + j % 4] |= (uint8_t)((biased >> 4) << (2 * (j / 4)));
}

/* Q4_K and Q5_K: eight 6-bit scales and eight 6-bit mins in 12 bytes. Sub-
 * blocks 0..3 use the low six bits of bytes 0..3 (scale) and 4..7 (min);
 * sub-blocks 4..7 put their low nibbles in bytes 8..11 and their top two bits
 * in the spare top bits of bytes 0..7. */
static void k4_scale_min(const uint8_t *s, int j, int *scale, int *min) {
    if (j < 4) {
        *scale = s[j] & 63;
        *min = s[j + 4] & 63;
    } else {
        *scale = (s[j + 4] & 0x0f) | (s[j - 4] >> 6) << 4;
        *min = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
    }
}

static void k4_set_scale_min(uint8_t *s, int j, int scale, int min) {
    if (j < 4) {
        s[j] = (uint8_t)scale;
        s[j + 4] = (uint8_t)min;
    } else {
        s[j + 4] = (uint8_t)((scale & 0x0f) | (min & 0x0f) << 4);
        s[j - 4] |= (uint8_t)((scale >> 4) << 6);
        s[j] |= (uint8_t)((min >> 4) << 6);
    }
}

/* ---- bit layouts ----
 * Q2_K and Q3_K keep 2-bit codes in 32-byte rows of qs: weight e of a block
 * is in byte 32 * (e / 128) + e % 32 at bit 2 * ((e % 128) / 32). Q3_K's third
 * bit is bit e / 32 of hmask[e % 32]. Q4_K and Q5_K keep 4-bit codes: weight e
 * is in qs[32 * (e / 64) + e % 32], low nibble when (e / 32) is even; Q5_K's
 * fifth bit is bit e / 32 of qh[e % 32]. Q6_K's low nibbles: 64-byte rows
 * ql[64 * (e / 128) + e % 64], the high nibble for e % 128 >= 64; its top two
 * bits are in qh[32 * (e / 128) + e % 32] at bit 2 * ((e % 128) / 32). */

static inline int q2_code(const uint8_t *qs, int e) {
    return (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
}

static inline int q3_code(const block_q3_K *b, int e) {
    int high = (b->hmask[e % 32] >> (e / 32)) & 1;
    return q2_code(b->qs, e) - (high ? 0 : 4);
}

static inline int q4_code(const uint8_t *qs, int e) {
    uint8_t byte = qs[32 * (e / 64) + e % 32];
    return (e / 32) % 2 ? byte >> 4 : byte & 0x0f;
}

static inline int q5_code(const block_q5_K *b, int e) {
    return q4_code(b->qs, e) + (((b->qh[e % 32] >> (e / 32)) & 1) << 4);
}

static inline int q6_code(const block_q6_K *b, int e) {
    uint8_t lo = b->ql[64 * (e / 128) + e % 64];
    int low = (e % 128) >= 64 ? lo >> 4 : lo & 0x0f;
    int high = (b->qh[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
    return (low | high << 4) - 32;
}

/* Packs 256 codes of 0..3 into Q2_K / Q3_K order. */
static void pack_2bit(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < QK_K; j += 128)
        for (int l = 0; l < 32; l++)
            qs[j / 4 + l] =
                (uint8_t)(L[j + l] | L[j + l + 32] << 2 | L[j + l + 64] << 4 | L[j + l + 96] << 6);
}

/* Packs the low nibbles of 256 codes into Q4_K / Q5_K order. */
static void pack_4bit(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < QK_K; j += 64)
        for (int l = 0; l < 32; l++)
            qs[j / 2 + l] = (uint8_t)((L[j + l] & 0x0f) | (L[j + l + 32] & 0x0f) << 4);
}

/* ---- dequantize ---- */

void quant_dequantize_q2_K(const void *src, float *y, int64_t nb) {
    const block_q2_K *b = src;
    for (int64_t i = 0; i < nb; i++, b++) {
        const float d = fp16(b->d), dmin = fp16(b->dmin);
        for (int g = 0; g < 16; g++, y += 16) {
            const float dl = d * (b->scales[g] & 0x0f), ml = dmin * (b->scales[g] >> 4);
            for (int l = 0; l < 16; l++) y[l] = dl * q2_code(b->qs, 16 * g + l) - ml;
        }
    }
}

void quant_dequantize_q3_K(const void *src, float *y, int64_t nb) {
    const block_q3_K *b = src;
    for (int64_t i = 0; i < nb; i++, b++) {
        const float d = fp16(b->d);
        for (int g = 0; g < 16; g++, y += 16) {
            const float dl = d * q3_K_scale(b->scales, g);
            for (int l = 0; l < 16; l++) y[l] = dl * q3_code(b, 16 * g + l);
        }
    }
}

void quant_dequantize_q4_K(const void *src, float *y, int64_t nb) {
    const block_q4_K *b = src;
    for (int64_t i = 0; i < nb; i++, b++) {
        const float d = fp16(b->d), dmin = fp16(b->dmin);
        for (int g = 0; g < 8; g++, y += 32) {
            int sc, m;
            k4_scale_min(b->scales, g, &sc, &m);
            const float dl = d * sc, ml = dmin * m;
            for (int l = 0; l < 32; l++) y[l] = dl * q4_code(b->qs, 32 * g + l) - ml;
        }
    }
}

void quant_dequantize_q5_K(const void *src, float *y, int64_t nb) {
    const block_q5_K *b = src;
    for (int64_t i = 0; i < nb; i++, b++) {
        const float d = fp16(b->d), dmin = fp16(b->dmin);
        for (int g = 0; g < 8; g++, y += 32) {
            int sc, m;
            k4_scale_min(b->scales, g, &sc, &m);
            const float dl = d * sc, ml = dmin * m;
            for (int l = 0; l < 32; l++) y[l] = dl * q5_code(b, 32 * g + l) - ml;
        }
    }
}

void quant_dequantize_q6_K(const void *src, float *y, int64_t nb) {
    const block_q6_K *b = src;
    for (int64_t i = 0; i < nb; i++, b++) {
        const float d = fp16(b->d);
        for (int e = 0; e < QK_K; e++) y[e] = d * b->scales[e / 16] * q6_code(b, e);
        y += QK_K;
    }
}

void quant_dequantize_q8_K(const void *src, float *y, int64_t nb) {
    const block_q8_K *b = src;
    for (int64_t i = 0; i < nb; i++, b++, y += QK_K)
        for (int e = 0; e < QK_K; e++) y[e] = b->d * b->qs[e];
}

/* ---- dot products with Q8_K activations ----
 * Q3_K..Q6_K: the integer products code * activation * sub-block scale are
 * summed exactly, but kept in eight lanes by weight index mod 8; per block,
 * lane l adds (dw * da) * lane_sum[l] to a float lane. The mins of Q4_K/Q5_K
 * are subtracted from a separate float, dmin * da * sum(bsum * min), block by
 * block; the eight lanes are added to it in order at the end. Q2_K instead
 * adds (da * dw) * isum - (da * dmin) * msum to one float per block. */

/* Adds one block's lane sums, scaled, into the float lanes. */
static void add_lanes(float *lanes, const int32_t *isum, float d) {
    for (int l = 0; l < 8; l++) lanes[l] += d * isum[l];
}

static float sum_lanes(float sum, const float *lanes) {
    for (int l = 0; l < 8; l++) sum += lanes[l];
    return sum;
}

float quant_dot_q2_K(const void *w, const void *act, int64_t nb) {
    const block_q2_K *x = w;
    const block_q8_K *y = act;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int msum = 0, isum = 0;
        for (int g = 0; g < 16; g++) {
            msum += y[i].bsums[g] * (x[i].scales[g] >> 4);
            int gsum = 0;
            for (int l = 0; l < 16; l++) gsum += y[i].qs[16 * g + l] * q2_code(x[i].qs, 16 * g + l);
            isum += (x[i].scales[g] & 0x0f) * gsum;
        }
        const float dall = y[i].d * fp16(x[i].d), dmin = y[i].d * fp16(x[i].dmin);
        sum += dall * isum - dmin * msum;
    }
    return sum;
}

float quant_dot_q3_K(const void *w, const void *act, int64_t nb) {
    const block_q3_K *x = w;
    const block_q8_K *y = act;
    float lanes[8] = {0};
    for (int64_t i = 0; i < nb; i++) {
        int32_t isum[8] = {0};
        for (int e = 0; e < QK_K; e++)
            isum[e % 8] += q3_K_scale(x[i].scales, e / 16) * (y[i].qs[e] * q3_code(&x[i], e));
        add_lanes(lanes, isum, fp16(x[i].d) * y[i].d);
    }
    return sum_lanes(0.0f, lanes);
}

/* Sum over the 16-weight groups of bsum * (min of the 32-weight sub-block). */
static int k4_min_sum(const uint8_t *scales, const int16_t *bsums) {
    int sum = 0;
    for (int g = 0; g < 16; g++) {
        int sc, m;
        k4_scale_min(scales, g / 2, &sc, &m);
        sum += bsums[g] * m;
    }
    return sum;
}

float quant_dot_q4_K(const void *w, const void *act, int64_t nb) {
    const block_q4_K *x = w;
    const block_q8_K *y = act;
    float lanes[8] = {0}, sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int32_t isum[8] = {0};
        for (int e = 0; e < QK_K; e++) {
            int sc, m;
            k4_scale_min(x[i].scales, e / 32, &sc, &m);
            isum[e % 8] += sc * (y[i].qs[e] * q4_code(x[i].qs, e));
        }
        add_lanes(lanes, isum, fp16(x[i].d) * y[i].d);
        sum -= fp16(x[i].dmin) * y[i].d * k4_min_sum(x[i].scales, y[i].bsums);
    }
    return sum_lanes(sum, lanes);
}

float quant_dot_q5_K(const void *w, const void *act, int64_t nb) {
    const block_q5_K *x = w;
    const block_q8_K *y = act;
    float lanes[8] = {0}, sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int32_t isum[8] = {0};
        for (int e = 0; e < QK_K; e++) {
            int sc, m;
            k4_scale_min(x[i].scales, e / 32, &sc, &m);
            isum[e % 8] += sc * (y[i].qs[e] * q5_code(&x[i], e));
        }
        add_lanes(lanes, isum, fp16(x[i].d) * y[i].d);
        sum -= fp16(x[i].dmin) * y[i].d * k4_min_sum(x[i].scales, y[i].bsums);
    }
    return sum_lanes(sum, lanes);
}

float quant_dot_q6_K(const void *w, const void *act, int64_t nb) {
    const block_q6_K *x = w;
    const block_q8_K *y = act;
    float lanes[8] = {0};
    for (int64_t i = 0; i < nb; i++) {
        int32_t isum[8] = {0};
        for (int e = 0; e < QK_K; e++)
            isum[e % 8] += x[i].scales[e / 16] * (y[i].qs[e] * q6_code(&x[i], e));
        add_lanes(lanes, isum, fp16(x[i].d) * y[i].d);
    }
    return sum_lanes(0.0f, lanes);
}

/* ---- quantize: the search for scales ---- */

/* Symmetric codes in [-nmax, nmax) for n values, minimising the x^2-weighted
 * squared error: try scales around nmax / max and keep the best least-squares
 * fit. L gets codes + nmax; returns the scale. (ggml's make_qx_quants with
 * rmse_type 1 and no importance weights, the only way Q6_K calls it.) */
static float fit_symmetric(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = clamp_int(quant_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int step = -9; step <= 9; step++) {
        if (step == 0) continue;
        iscale = -(nmax + 0.1f * step) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = clamp_int(quant_nearest_int(iscale * x[i]), -nmax, nmax - 1);
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++)
                L[i] =
                    (int8_t)(nmax + clamp_int(quant_nearest_int(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Symmetric codes in [-nmax, nmax) refined one weight at a time: up to five
 * passes move a code when that improves the x^2-weighted fit. L gets codes +
 * nmax. (ggml's make_q3_quants with do_rmse, as Q3_K uses it.) */
static float fit_symmetric_iterative(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = clamp_int(quant_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int pass = 0; pass < 5; pass++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx <= 0) continue;
            float sl2 = suml2 - w * L[i] * L[i];
            int l = clamp_int(quant_nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
            if (l == L[i]) continue;
            slx += w * x[i] * l;
            sl2 += w * l * l;
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (int8_t)l;
                sumlx = slx;
                suml2 = sl2;
                changed++;
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return sumlx / suml2;
}

/* Affine codes in [0, nmax] with x ~ scale * L - the_min (the_min >= 0):
 * start from the min..max range, then try nstep + 1 scales around it and keep
 * the weighted least-squares fit with the lowest weighted error (absolute when
 * use_mad, squared otherwise). (ggml's make_qkx2_quants.) */
static float fit_affine(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                        float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                        bool use_mad) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += weights[i];
        sum_x += weights[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.0f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_err = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)clamp_int(quant_nearest_int(iscale * (x[i] - min)), 0, nmax);
        float diff = scale * L[i] + min - x[i];
        best_err += weights[i] * (use_mad ? fabsf(diff) : diff * diff);
    }
    for (int step = 0; step <= nstep; step++) {
        iscale = (rmin + rdelta * step + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = clamp_int(quant_nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0)) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float err = 0;
        for (int i = 0; i < n; i++) {
            float diff = this_scale * Laux[i] + this_min - x[i];
            err += weights[i] * (use_mad ? fabsf(diff) : diff * diff);
        }
        if (err < best_err) {
            memcpy(L, Laux, (size_t)n);
            best_err = err;
            scale = this_scale;
            min = this_min;
        }
    }
    *the_min = -min;
    return scale;
}

/* ---- quantize: the block formats ---- */

void quant_quantize_q2_K(const float *x, void *dst, int64_t nb) {
    block_q2_K *y = dst;
    const float q4scale = 15.f;
    for (int64_t i = 0; i < nb; i++, y++, x += QK_K) {
        uint8_t L[QK_K], Laux[16];
        float weights[16], mins[16], scales[16];
        float max_scale = 0, max_min = 0;
        for (int g = 0; g < 16; g++) {
            for (int l = 0; l < 16; l++) weights[l] = fabsf(x[16 * g + l]);
            scales[g] = fit_affine(16, 3, x + 16 * g, weights, L + 16 * g, &mins[g], Laux, -0.5f,
                                   0.1f, 15, true);
            if (scales[g] > max_scale) max_scale = scales[g];
            if (mins[g] > max_min) max_min = mins[g];
        }
        /* Sub-block scales and mins become 4-bit multiples of d and dmin. */
        memset(y->scales, 0, sizeof y->scales);
        y->d = quant_f32_to_f16(0.f);
        y->dmin = quant_f32_to_f16(0.f);
        if (max_scale > 0) {
            float iscale = q4scale / max_scale;
            for (int g = 0; g < 16; g++)
                y->scales[g] = (uint8_t)quant_nearest_int(iscale * scales[g]);
            y->d = quant_f32_to_f16(max_scale / q4scale);
        }
        if (max_min > 0) {
            float iscale = q4scale / max_min;
            for (int g = 0; g < 16; g++)
                y->scales[g] |= (uint8_t)((unsigned)quant_nearest_int(iscale * mins[g]) << 4);
            y->dmin = quant_f32_to_f16(max_min / q4scale);
        }
        /* Re-round the codes against the scales as stored. */
        for (int g = 0; g < 16; g++) {
            const float d = fp16(y->d) * (y->scales[g] & 0x0f);
            if (!d) continue;
            const float dm = fp16(y->dmin) * (y->scales[g] >> 4);
            for (int l = 0; l < 16; l++)
                L[16 * g + l] =
                    (uint8_t)clamp_int(quant_nearest_int((x[16 * g + l] + dm) / d), 0, 3);
        }
        pack_2bit(L, y->qs);
    }
}

void quant_quantize_q3_K(const float *x, void *dst, int64_t nb) {
    block_q3_K *y = dst;
    for (int64_t i = 0; i < nb; i++, y++, x += QK_K) {
        int8_t L[QK_K];
        float scales[16];
        float max_scale = 0, amax = 0;
        for (int g = 0; g < 16; g++) {
            scales[g] = fit_symmetric_iterative(16, 4, x + 16 * g, L + 16 * g);
            if (fabsf(scales[g]) > amax) {
                amax = fabsf(scales[g]);
                max_scale = scales[g];
            }
        }
        /* Sub-block scales become 6-bit multiples of d, the largest -32. */
        memset(y->scales, 0, sizeof y->scales);
        if (max_scale) {
            float iscale = -32.f / max_scale;
            for (int g = 0; g < 16; g++) {
                int8_t l = (int8_t)quant_nearest_int(iscale * scales[g]);
                q3_K_set_scale(y->scales, g, clamp_int(l, -32, 31) + 32);
            }
            y->d = quant_f32_to_f16(1 / iscale);
        } else {
            y->d = quant_f32_to_f16(0.f);
        }
        for (int g = 0; g < 16; g++) {
            const float d = fp16(y->d) * q3_K_scale(y->scales, g);
            if (!d) continue;
            for (int l = 0; l < 16; l++)
                L[16 * g + l] =
                    (int8_t)(clamp_int(quant_nearest_int(x[16 * g + l] / d), -4, 3) + 4);
        }
        /* Codes 0..7: the third bit goes to hmask, the low two to qs. */
        uint8_t low[QK_K];
        memset(y->hmask, 0, sizeof y->hmask);
        for (int e = 0; e < QK_K; e++) {
            if (L[e] > 3) y->hmask[e % 32] |= (uint8_t)(1 << (e / 32));
            low[e] = (uint8_t)(L[e] > 3 ? L[e] - 4 : L[e]);
        }
        pack_2bit(low, y->qs);
    }
}

/* Q4_K and Q5_K differ only in code width and in the search parameters. */
static void quantize_k4(const float *x, uint8_t *L, uint8_t *scales, quant_f16 *d_out,
                        quant_f16 *dmin_out, int nmax, float rmin, float rdelta, int nstep) {
    uint8_t Laux[32];
    float weights[32], mins[8], sub_scales[8];
    float max_scale = 0, max_min = 0;
    for (int g = 0; g < 8; g++) {
        const float *xg = x + 32 * g;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += xg[l] * xg[l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(xg[l]);
        sub_scales[g] = fit_affine(32, nmax, xg, weights, L + 32 * g, &mins[g], Laux, rmin, rdelta,
                                   nstep, false);
        if (sub_scales[g] > max_scale) max_scale = sub_scales[g];
        if (mins[g] > max_min) max_min = mins[g];
    }
    /* Sub-block scales and mins become 6-bit multiples of d and dmin. */
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int g = 0; g < 8; g++) {
        uint8_t ls = (uint8_t)quant_nearest_int(inv_scale * sub_scales[g]);
        uint8_t lm = (uint8_t)quant_nearest_int(inv_min * mins[g]);
        k4_set_scale_min(scales, g, ls < 63 ? ls : 63, lm < 63 ? lm : 63);
    }
    *d_out = quant_f32_to_f16(max_scale / 63.f);
    *dmin_out = quant_f32_to_f16(max_min / 63.f);
    /* Re-round the codes against the scales as stored. */
    for (int g = 0; g < 8; g++) {
        int sc, m;
        k4_scale_min(scales, g, &sc, &m);
        const float d = fp16(*d_out) * sc;
        if (!d) continue;
        const float dm = fp16(*dmin_out) * m;
        for (int l = 0; l < 32; l++)
            L[32 * g + l] =
                (uint8_t)clamp_int(quant_nearest_int((x[32 * g + l] + dm) / d), 0, nmax);
    }
}

void quant_quantize_q4_K(const float *x, void *dst, int64_t nb) {
    block_q4_K *y = dst;
    for (int64_t i = 0; i < nb; i++, y++, x += QK_K) {
        uint8_t L[QK_K];
        memset(y->scales, 0, sizeof y->scales);
        quantize_k4(x, L, y->scales, &y->d, &y->dmin, 15, -1.f, 0.1f, 20);
        pack_4bit(L, y->qs);
    }
}

void quant_quantize_q5_K(const float *x, void *dst, int64_t nb) {
    block_q5_K *y = dst;
    for (int64_t i = 0; i < nb; i++, y++, x += QK_K) {
        uint8_t L[QK_K];
        memset(y->scales, 0, sizeof y->scales);
        quantize_k4(x, L, y->scales, &y->d, &y->dmin, 31, -0.5f, 0.1f, 15);
        memset(y->qh, 0, sizeof y->qh);
        for (int e = 0; e < QK_K; e++)
            if (L[e] > 15) y->qh[e % 32] |= (uint8_t)(1 << (e / 32));
        pack_4bit(L, y->qs);
    }
}

void quant_quantize_q6_K(const float *x, void *dst, int64_t nb) {
    block_q6_K *y = dst;
    for (int64_t i = 0; i < nb; i++, y++, x += QK_K) {
        int8_t L[QK_K];
        float scales[16];
        float max_scale = 0, max_abs_scale = 0;
        for (int g = 0; g < 16; g++) {
            scales[g] = fit_symmetric(16, 32, x + 16 * g, L + 16 * g);
            if (fabsf(scales[g]) > max_abs_scale) {
                max_abs_scale = fabsf(scales[g]);
                max_scale = scales[g];
            }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(y, 0, sizeof *y);
            continue;
        }
        /* Sub-block scales become 8-bit multiples of d, the largest -128. */
        float iscale = -128.f / max_scale;
        y->d = quant_f32_to_f16(1 / iscale);
        for (int g = 0; g < 16; g++) {
            int l = quant_nearest_int(iscale * scales[g]);
            y->scales[g] = (int8_t)(l < 127 ? l : 127);
        }
        for (int g = 0; g < 16; g++) {
            const float d = fp16(y->d) * y->scales[g];
            if (!d) continue;
            for (int l = 0; l < 16; l++)
                L[16 * g + l] =
                    (int8_t)(clamp_int(quant_nearest_int(x[16 * g + l] / d), -32, 31) + 32);
        }
        /* Codes 0..63: low nibbles to ql, top two bits to qh. */
        for (int j = 0; j < QK_K; j += 128) {
            uint8_t *ql = y->ql + j / 2, *qh = y->qh + j / 4;
            for (int l = 0; l < 32; l++) {
                const int8_t *c = L + j + l;
                ql[l] = (uint8_t)((c[0] & 0x0f) | (c[64] & 0x0f) << 4);
                ql[l + 32] = (uint8_t)((c[32] & 0x0f) | (c[96] & 0x0f) << 4);
                qh[l] = (uint8_t)(c[0] >> 4 | (c[32] >> 4) << 2 | (c[64] >> 4) << 4 |
                                  (c[96] >> 4) << 6);
            }
        }
    }
}

/* The activation format: the value of largest magnitude maps to -127 exactly
 * (so d carries its sign); bsums holds the code sum of each 16 weights. */
void quant_quantize_q8_K(const float *x, void *dst, int64_t nb) {
    block_q8_K *y = dst;
    for (int64_t i = 0; i < nb; i++, y++, x += QK_K) {
        float max = 0, amax = 0;
        for (int e = 0; e < QK_K; e++) {
            if (fabsf(x[e]) > amax) {
                amax = fabsf(x[e]);
                max = x[e];
            }
        }
        if (!amax) { /* ggml leaves bsums unset here; zeros are the right value */
            memset(y, 0, sizeof *y);
            continue;
        }
        const float iscale = -127.f / max;
        for (int e = 0; e < QK_K; e++) {
            int v = quant_nearest_int(iscale * x[e]);
            y->qs[e] = (int8_t)(v < 127 ? v : 127);
        }
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += y->qs[16 * g + l];
            y->bsums[g] = (int16_t)sum;
        }
        y->d = 1 / iscale;
    }
}

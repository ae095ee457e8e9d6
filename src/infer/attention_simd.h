/* attention_simd: the body of attention_avx2.c and attention_avx512.c,
 * written once over a small set of vector operations that each file defines
 * before including it:
 *   VL lanes, vf (float vector), vm (lane mask),
 *   vload vstore vset1 vzero vadd vsub vmul vmax vfma vhsum vhmax,
 *   vlt vgt veq (masks), vor_m, vsel(m, a, b) (m ? a : b), vexp,
 *   vload_h (VL halves), vstore_h (to VL halves, rounded to nearest even), vload_i8 (VL signed
 * bytes), IVB, DVB (register tiles). The arithmetic is attention.c's portable kernels', with the
 * exponential from vexp (within 2 ulp of expf) and sums in a different order. */
#ifndef ATTN_SIMD_NAME
#error "define the vector operations first"
#endif

#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

static void store_row(enum model_cache_type t, const float *x, uint8_t *dst, int hd) {
    int d = 0;
    switch (t) {
    case MODEL_CACHE_F32:
        memcpy(dst, x, (size_t)hd * sizeof *x);
        break;
    case MODEL_CACHE_F16:
        for (; d + VL <= hd; d += VL) vstore_h((uint16_t *)dst + d, vload(x + d));
        for (; d < hd; d++) ((quant_f16 *)dst)[d] = quant_f32_to_f16(x[d]);
        break;
    case MODEL_CACHE_Q8_0:
        quant_quantize_row(QT_Q8_0, x, dst, hd);
        break;
    }
}

static void load_rows(enum model_cache_type t, const uint8_t *src, size_t row_bytes, int n, int hd,
                      int hdp, float *dst) {
    for (int j = 0; j < n; j++, src += row_bytes, dst += hdp) {
        int d = 0;
        switch (t) {
        case MODEL_CACHE_F32:
            for (; d + VL <= hd; d += VL) vstore(dst + d, vload((const float *)src + d));
            for (; d < hd; d++) dst[d] = ((const float *)src)[d];
            break;
        case MODEL_CACHE_F16:
            for (; d + VL <= hd; d += VL) vstore(dst + d, vload_h((const uint16_t *)src + d));
            for (; d < hd; d++) dst[d] = quant_f16_to_f32(((const quant_f16 *)src)[d]);
            break;
        case MODEL_CACHE_Q8_0: /* hd is a multiple of 32 */
            for (const block_q8_0 *b = (const block_q8_0 *)src; d < hd; d += 32, b++) {
                const vf scale = vset1(quant_f16_to_f32(b->d));
                UNROLL
                for (int e = 0; e < 32; e += VL)
                    vstore(dst + d + e, vmul(scale, vload_i8(b->qs + e)));
            }
            break;
        }
        for (; d < hdp; d++) dst[d] = 0;
    }
}

/* ---- prompts: queries along the lanes ---- */

/* st[j][i] for JB keys from k and NV vectors of queries from qt. */
INLINE void scores_tile(int JB, int NV, const float *k, int hdp, const float *qt, float *st) {
    vf acc[4][IVB];
    UNROLL
    for (int jj = 0; jj < JB; jj++) UNROLL
    for (int v = 0; v < NV; v++) acc[jj][v] = vzero();
    for (int d = 0; d < hdp; d++) {
        vf q[IVB];
        UNROLL
        for (int v = 0; v < NV; v++) q[v] = vload(qt + (size_t)d * ATTN_ROWS + v * VL);
        UNROLL
        for (int jj = 0; jj < JB; jj++) {
            const vf kb = vset1(k[(size_t)jj * hdp + d]);
            UNROLL
            for (int v = 0; v < NV; v++) acc[jj][v] = vfma(kb, q[v], acc[jj][v]);
        }
    }
    UNROLL
    for (int jj = 0; jj < JB; jj++) UNROLL
    for (int v = 0; v < NV; v++) vstore(st + (size_t)jj * ATTN_ROWS + v * VL, acc[jj][v]);
}

#define SCORES_NV(JB)                                                                              \
    switch (nv) {                                                                                  \
    case 1:                                                                                        \
        scores_tile(JB, 1, kj, hdp, q, s);                                                         \
        break;                                                                                     \
    case 2:                                                                                        \
        scores_tile(JB, 2 <= IVB ? 2 : 1, kj, hdp, q, s);                                          \
        break;                                                                                     \
    case 3:                                                                                        \
        scores_tile(JB, 3 <= IVB ? 3 : 1, kj, hdp, q, s);                                          \
        break;                                                                                     \
    default:                                                                                       \
        scores_tile(JB, IVB, kj, hdp, q, s);                                                       \
        break;                                                                                     \
    }

static void prompt_scores(const float *k, int nk, const float *qt, int nqp, int hdp, float *st) {
    for (int i0 = 0; i0 < nqp; i0 += IVB * VL) {
        const int nv = (nqp - i0) / VL < IVB ? (nqp - i0) / VL : IVB;
        const float *q = qt + i0;
        int j = 0;
        for (; j + 4 <= nk; j += 4) {
            const float *kj = k + (size_t)j * hdp;
            float *s = st + (size_t)j * ATTN_ROWS + i0;
            SCORES_NV(4)
        }
        for (; j < nk; j++) {
            const float *kj = k + (size_t)j * hdp;
            float *s = st + (size_t)j * ATTN_ROWS + i0;
            SCORES_NV(1)
        }
    }
}

static void prompt_softmax(float *st, int nk, int nqp, int k0, const float *first, const float *pos,
                           float scale, float *mx, float *l, float *c) {
    const vf ninf = vset1(-INFINITY), sc = vset1(scale);
    for (int i = 0; i < nqp; i += VL) {
        const vf fst = vload(first + i), ps = vload(pos + i), old = vload(mx + i);
        vf m = old;
        for (int j = 0; j < nk; j++) {
            float *p = st + (size_t)j * ATTN_ROWS + i;
            const vf key = vset1((float)(k0 + j));
            const vf s = vsel(vor_m(vlt(key, fst), vgt(key, ps)), ninf, vmul(vload(p), sc));
            vstore(p, s);
            m = vmax(m, s);
        }
        const vf safe = vsel(veq(m, ninf), vzero(), m);
        const vf cf = vexp(vsub(old, safe));
        vf sum = vzero();
        for (int j = 0; j < nk; j++) {
            float *p = st + (size_t)j * ATTN_ROWS + i;
            const vf e = vexp(vsub(vload(p), safe));
            vstore(p, e);
            sum = vadd(sum, e);
        }
        vstore(l + i, vfma(vload(l + i), cf, sum));
        vstore(mx + i, m);
        vstore(c + i, cf);
    }
}

/* ---- generation: dot products along the head ---- */

INLINE void dots(int NQ, const float *q, const float *k, int hdp, float *s) {
    vf acc[4];
    UNROLL
    for (int i = 0; i < NQ; i++) acc[i] = vzero();
    for (int d = 0; d < hdp; d += VL) {
        const vf kv = vload(k + d);
        UNROLL
        for (int i = 0; i < NQ; i++) acc[i] = vfma(vload(q + (size_t)i * hdp + d), kv, acc[i]);
    }
    UNROLL
    for (int i = 0; i < NQ; i++) s[(size_t)i * ATTN_KEYS] = vhsum(acc[i]);
}

static void decode_scores(const float *q, int nq, const float *k, int nk, int hdp, float *s) {
    for (int i = 0; i < nq; i += 4) {
        const float *qi = q + (size_t)i * hdp;
        float *si = s + (size_t)i * ATTN_KEYS;
        for (int j = 0; j < nk; j++) {
            switch (nq - i) {
            case 1:
                dots(1, qi, k + (size_t)j * hdp, hdp, si + j);
                break;
            case 2:
                dots(2, qi, k + (size_t)j * hdp, hdp, si + j);
                break;
            case 3:
                dots(3, qi, k + (size_t)j * hdp, hdp, si + j);
                break;
            default:
                dots(4, qi, k + (size_t)j * hdp, hdp, si + j);
                break;
            }
        }
    }
}

static void decode_softmax(float *s, int nq, int nk, float scale, float *mx, float *l, float *c) {
    const int nkp = (nk + VL - 1) / VL * VL;
    const vf sc = vset1(scale);
    for (int i = 0; i < nq; i++) {
        float *row = s + (size_t)i * ATTN_KEYS;
        for (int j = nk; j < nkp; j++) row[j] = -INFINITY;
        vf m = vset1(-INFINITY);
        for (int j = 0; j < nkp; j += VL) {
            const vf v = vmul(vload(row + j), sc);
            vstore(row + j, v);
            m = vmax(m, v);
        }
        const float mnew = vhmax(m) > mx[i] ? vhmax(m) : mx[i];
        const vf mv = vset1(mnew);
        vf sum = vzero();
        for (int j = 0; j < nkp; j += VL) {
            const vf e = vexp(vsub(vload(row + j), mv));
            vstore(row + j, e);
            sum = vadd(sum, e);
        }
        c[i] = mx[i] == -INFINITY ? 0.0f : expf(mx[i] - mnew);
        l[i] = l[i] * c[i] + vhsum(sum);
        mx[i] = mnew;
    }
}

/* ---- o = o * c + P V ---- */

INLINE void pv_tile(int NI, int ND, float *o, const float *c, const float *p, size_t pi, size_t pj,
                    const float *v, int nk, int hdp) {
    vf acc[4][DVB];
    UNROLL
    for (int i = 0; i < NI; i++) {
        const vf ci = vset1(c[i]);
        UNROLL
        for (int e = 0; e < ND; e++) acc[i][e] = vmul(vload(o + (size_t)i * hdp + e * VL), ci);
    }
    for (int j = 0; j < nk; j++) {
        vf vv[DVB];
        UNROLL
        for (int e = 0; e < ND; e++) vv[e] = vload(v + (size_t)j * hdp + e * VL);
        UNROLL
        for (int i = 0; i < NI; i++) {
            const vf w = vset1(p[i * pi + j * pj]);
            UNROLL
            for (int e = 0; e < ND; e++) acc[i][e] = vfma(w, vv[e], acc[i][e]);
        }
    }
    UNROLL
    for (int i = 0; i < NI; i++) UNROLL
    for (int e = 0; e < ND; e++) vstore(o + (size_t)i * hdp + e * VL, acc[i][e]);
}

/* NI rows by nd (1..DVB) vectors of the head */
#define PV_ND(NI)                                                                                  \
    switch (nd) {                                                                                  \
    case 1:                                                                                        \
        pv_tile(NI, 1, oi, ci, pp, pi, pj, vd, nk, hdp);                                           \
        break;                                                                                     \
    case 2:                                                                                        \
        pv_tile(NI, 2 <= DVB ? 2 : 1, oi, ci, pp, pi, pj, vd, nk, hdp);                            \
        break;                                                                                     \
    case 3:                                                                                        \
        pv_tile(NI, 3 <= DVB ? 3 : 1, oi, ci, pp, pi, pj, vd, nk, hdp);                            \
        break;                                                                                     \
    default:                                                                                       \
        pv_tile(NI, DVB, oi, ci, pp, pi, pj, vd, nk, hdp);                                         \
        break;                                                                                     \
    }

static void pv(float *o, const float *c, const float *p, size_t pi, size_t pj, const float *v,
               int nq, int nk, int hdp) {
    for (int d = 0, nd; d < hdp; d += VL * nd) {
        nd = (hdp - d) / VL < DVB ? (hdp - d) / VL : DVB;
        const float *vd = v + d;
        for (int i = 0; i < nq; i += 4) {
            float *oi = o + (size_t)i * hdp + d;
            const float *ci = c + i, *pp = p + i * pi;
            switch (nq - i) {
            case 1:
                PV_ND(1) break;
            case 2:
                PV_ND(2) break;
            case 3:
                PV_ND(3) break;
            default:
                PV_ND(4) break;
            }
        }
    }
}

static const attn_ops simd_ops = {ATTN_SIMD_NAME, store_row,     load_rows,      prompt_scores,
                                  prompt_softmax, decode_scores, decode_softmax, pv};

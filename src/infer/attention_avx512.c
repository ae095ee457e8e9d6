/* attention_avx512: attention.c's kernels on 16 lanes (AVX-512F). Compiled
 * with AVX-512 flags and used only when kernels_backend() is "avx512". */
#include "model_impl.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#define ATTN_SIMD_NAME "avx512"
#define VL 16
#define IVB 4 /* query vectors per score tile: 4 keys x 4 vectors in registers */
#define DVB 4 /* head vectors per P V tile: 4 rows x 4 vectors */
typedef __m512 vf;
typedef __mmask16 vm;
#define vload _mm512_loadu_ps
#define vstore _mm512_storeu_ps
#define vset1 _mm512_set1_ps
#define vzero _mm512_setzero_ps
#define vadd _mm512_add_ps
#define vsub _mm512_sub_ps
#define vmul _mm512_mul_ps
#define vmax _mm512_max_ps
#define vfma _mm512_fmadd_ps
#define vhsum _mm512_reduce_add_ps
#define vhmax _mm512_reduce_max_ps
#define vlt(a, b) _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ)
#define vgt(a, b) _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ)
#define veq(a, b) _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ)
#define vor_m(a, b) ((vm)((a) | (b)))
#define vsel(m, a, b) _mm512_mask_blend_ps(m, b, a)
#define vload_h(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define vstore_h(p, v)                                                                             \
    _mm256_storeu_si256((__m256i *)(p), _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT))
#define vload_i8(p) _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p))))

/* e^x: x = k ln2 + r, e^r by Cephes' expf polynomial; 0 below -87.3 (and for
 * -inf), where expf is subnormal or 0. */
static inline vf vexp(vf x) {
    const vm tiny = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.3f), _CMP_NGE_UQ);
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.0f));
    const vf k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    vf r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), r);
    vf y = _mm512_set1_ps(1.9875691500e-4f);
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.3981999507e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(8.3334519073e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1665795894e-2f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.6666665459e-1f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5.0000001201e-1f));
    y = _mm512_fmadd_ps(y, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    const __m512i e =
        _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(k), _mm512_set1_epi32(127)), 23);
    return _mm512_maskz_mov_ps((vm)~tiny, _mm512_mul_ps(y, _mm512_castsi512_ps(e)));
}

#include "attention_simd.h"

const attn_ops *attention_avx512_ops(void) {
    return &simd_ops;
}

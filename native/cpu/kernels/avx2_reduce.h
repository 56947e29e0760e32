// The AVX2 reduction primitives every AVX2 kernel shares, so that all of them reduce an element in the same
// order: the fixed horizontal sum of 8 lanes ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)) and the scalar FMA of the tail.
#pragma once
#include "cpu/kernels/simd.h"

#if REDRAFTER_X86_SIMD
#include <immintrin.h>

namespace redrafter::cpu::kernels::detail {

REDRAFTER_TARGET_AVX2 inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

REDRAFTER_TARGET_AVX2 inline float fmaScalar(float a, float b, float c) {
  return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
}

}  // namespace redrafter::cpu::kernels::detail
#endif  // REDRAFTER_X86_SIMD

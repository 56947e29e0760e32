#include "cpu/kernels/activation_quant.h"

#include <algorithm>
#include <cmath>

#include "cpu/kernels/simd.h"
#include "model/dequantize.h"
#include "model/half.h"

#include "cpu/kernels/x86_intrinsics.h"

namespace redrafter::cpu::kernels {
namespace {

#if REDRAFTER_X86_SIMD
// quantizeAct32's values: the maximum is exact in any order, x * id is one rounded product, and the conversion
// rounds to nearest even (the default MXCSR mode) as nearestInt does for |v| <= 127.
REDRAFTER_TARGET_AVX2 void quantizeAct32Avx2(const float* x, Act32* a) {
  const __m256 signBit = _mm256_set1_ps(-0.0f);
  const __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8), v2 = _mm256_loadu_ps(x + 16),
               v3 = _mm256_loadu_ps(x + 24);
  __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(signBit, v0), _mm256_andnot_ps(signBit, v1)),
                           _mm256_max_ps(_mm256_andnot_ps(signBit, v2), _mm256_andnot_ps(signBit, v3)));
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_movehdup_ps(h));
  const float amax = _mm_cvtss_f32(h);
  const float d = amax / 127.f;
  const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
  const __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, id)), i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, id)),
                i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, id)), i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, id));
  // int32 -> int8 (every value is within +-127: no saturation); the packs interleave 128-bit lanes, the permute
  // puts the 32 values back in order
  __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
  p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(a->qs), p);
  const __m256i s = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
  __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
  s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
  a->sum = _mm_cvtsi128_si32(s4);
  a->d = model::fp16ToF32(model::f32ToFp16(d));
}
#endif

}  // namespace

void quantizeAct32(const float* x, Act32* a) {
  float amax = 0;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  int32_t sum = 0;
  for (int j = 0; j < 32; ++j) {
    a->qs[j] = int8_t(model::nearestInt(x[j] * id));
    sum += a->qs[j];
  }
  a->sum = sum;
  a->d = model::fp16ToF32(model::f32ToFp16(d));
}

void quantizeAct32Blocks(Isa isa, const float* x, int64_t blocks, Act32* out) {
#if REDRAFTER_X86_SIMD
  if (isa >= Isa::Avx2) {
    for (int64_t b = 0; b < blocks; ++b) quantizeAct32Avx2(x + 32 * b, out + b);
    return;
  }
#endif
  (void)isa;
  for (int64_t b = 0; b < blocks; ++b) quantizeAct32(x + 32 * b, out + b);
}

}  // namespace redrafter::cpu::kernels

// attendHead: one query head's attention over its rows (see attention.h for the order per ISA).
#include "cpu/kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "cpu/kernels/avx2_reduce.h"
#include "cpu/kernels/matmul.h"
#include "cpu/kernels/simd.h"
#include "cpu/kernels/x86_intrinsics.h"

namespace redrafter::cpu::kernels {
namespace {

inline const float* rowOf(const float* base, const AttentionRows& rows, int64_t i) {
  return base + (i < rows.cached ? i : static_cast<int64_t>(rows.newSlots[i - rows.cached])) * rows.stride;
}

// ---- portable: std::exp, every sum in sequence ------------------------------------------------------------
void softmaxPortable(float* s, int64_t n) {
  float maxScore = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) maxScore = std::max(maxScore, s[i]);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    s[i] = std::exp(s[i] - maxScore);
    sum += s[i];
  }
  for (int64_t i = 0; i < n; ++i) s[i] = s[i] / sum;
}

void weightedSumPortable(const float* w, const AttentionRows& rows, int64_t hd, float* out) {
  for (int64_t i = 0; i < rows.count(); ++i) {
    const float* v = rowOf(rows.values, rows, i);
    for (int64_t k = 0; k < hd; ++k) out[k] += w[i] * v[k];
  }
}

#if REDRAFTER_X86_SIMD
using detail::fmaScalar;
using detail::hsum8;

// e^x, Cephes' expf: x clamped to [-87.3, 88.4] (below: e^-87.3, a weight no sum of weights >= 1 notices), n =
// round(x log2 e), r = x - n ln 2 (ln 2 in two parts), e^r by a degree-7 polynomial, times 2^n. The AVX2 and
// AVX-512 forms run the same operations lane by lane, so they give the same bits.
constexpr float kExpHi = 88.3762626647949f, kExpLo = -87.3365447504f, kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
constexpr float kP0 = 1.9875691500e-4f, kP1 = 1.3981999507e-3f, kP2 = 8.3334519073e-3f, kP3 = 4.1665795894e-2f,
                kP4 = 1.6666665459e-1f, kP5 = 5.0000001201e-1f;

REDRAFTER_TARGET_AVX2 inline __m256 exp8(__m256 x) {
  x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(kExpHi)), _mm256_set1_ps(kExpLo));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Hi), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Lo), r);
  __m256 y = _mm256_set1_ps(kP0);
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(kP1));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(kP2));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(kP3));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(kP4));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(kP5));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), r);
  y = _mm256_add_ps(y, _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

REDRAFTER_TARGET_AVX512 inline __m512 exp16(__m512 x) {
  x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(kExpHi)), _mm512_set1_ps(kExpLo));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Hi), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Lo), r);
  __m512 y = _mm512_set1_ps(kP0);
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(kP1));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(kP2));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(kP3));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(kP4));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(kP5));
  y = _mm512_fmadd_ps(y, _mm512_mul_ps(r, r), r);
  y = _mm512_add_ps(y, _mm512_set1_ps(1.0f));
  const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(y, _mm512_castsi512_ps(e));
}

// The AVX2 mask of the first m (< 8) lanes.
REDRAFTER_TARGET_AVX2 inline __m256i firstLanes8(int64_t m) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(m)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// s[i] = e^(s[i] - max) (exp8, the exact maximum) over n; returns their sum, in 8 lanes by i mod 8 (the last partial
// vector's missing lanes add 0) and the lanes in hsum8's tree.
REDRAFTER_TARGET_AVX2 float expWeightsAvx2(float* s, int64_t n) {
  const int64_t nv = n & ~int64_t(7);
  __m256 mv = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t i = 0; i < nv; i += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(s + i));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, mv);
  float maxScore = lanes[0];
  for (int l = 1; l < 8; ++l) maxScore = std::max(maxScore, lanes[l]);
  for (int64_t i = nv; i < n; ++i) maxScore = std::max(maxScore, s[i]);
  const __m256 m = _mm256_set1_ps(maxScore);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < nv; i += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + i), m));
    _mm256_storeu_ps(s + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  if (nv < n) {
    const __m256i mask = firstLanes8(n - nv);
    const __m256 e = _mm256_and_ps(exp8(_mm256_sub_ps(_mm256_maskload_ps(s + nv, mask), m)), _mm256_castsi256_ps(mask));
    _mm256_maskstore_ps(s + nv, mask, e);
    acc = _mm256_add_ps(acc, e);
  }
  return hsum8(acc);
}

// expWeightsAvx2 in 16 lanes; the 16 lanes reduce as two halves added lane by lane, then hsum8.
REDRAFTER_TARGET_AVX512 float expWeightsAvx512(float* s, int64_t n) {
  const int64_t nv = n & ~int64_t(15);
  __m512 mv = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t i = 0; i < nv; i += 16) mv = _mm512_max_ps(mv, _mm512_loadu_ps(s + i));
  float maxScore = _mm512_reduce_max_ps(mv);  // the maximum: exact in any order
  for (int64_t i = nv; i < n; ++i) maxScore = std::max(maxScore, s[i]);
  const __m512 m = _mm512_set1_ps(maxScore);
  __m512 acc = _mm512_setzero_ps();
  for (int64_t i = 0; i < nv; i += 16) {
    const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(s + i), m));
    _mm512_storeu_ps(s + i, e);
    acc = _mm512_add_ps(acc, e);
  }
  if (nv < n) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (n - nv)) - 1u);
    const __m512 e = _mm512_maskz_mov_ps(mask, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, s + nv), m)));
    _mm512_mask_storeu_ps(s + nv, mask, e);
    acc = _mm512_add_ps(acc, e);
  }
  const __m256 lo = _mm512_castps512_ps256(acc);
  const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1));
  return hsum8(_mm256_add_ps(lo, hi));
}

// out += sum_i w[i] v_i. Heads of 8 or 16 floats: 4 partial sums by i mod 4, added as (p0 + p1) + (p2 + p3) (one
// sum would wait on every FMA's latency); others: each element's FMAs in i order (8 floats at a time, then scalar
// FMAs for a tail).
template <int C>  // C = hd / 8 vectors per row
REDRAFTER_TARGET_AVX2 void weightedSumSmall(const float* w, const AttentionRows& rows, float* out) {
  __m256 p[4][C];
  for (int j = 0; j < 4; ++j)
    for (int c = 0; c < C; ++c) p[j][c] = _mm256_setzero_ps();
  const int64_t n = rows.count();
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int j = 0; j < 4; ++j) {
      const __m256 wv = _mm256_set1_ps(w[i + j]);
      const float* v = rowOf(rows.values, rows, i + j);
      for (int c = 0; c < C; ++c) p[j][c] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(v + 8 * c), p[j][c]);
    }
  for (int j = 0; i < n; ++i, ++j) {
    const float* v = rowOf(rows.values, rows, i);
    for (int c = 0; c < C; ++c) p[j][c] = _mm256_fmadd_ps(_mm256_set1_ps(w[i]), _mm256_loadu_ps(v + 8 * c), p[j][c]);
  }
  for (int c = 0; c < C; ++c) {
    const __m256 t = _mm256_add_ps(_mm256_add_ps(p[0][c], p[1][c]), _mm256_add_ps(p[2][c], p[3][c]));
    _mm256_storeu_ps(out + 8 * c, _mm256_add_ps(_mm256_loadu_ps(out + 8 * c), t));
  }
}

REDRAFTER_TARGET_AVX2 void weightedSumAvx2(const float* w, const AttentionRows& rows, int64_t hd, float* out) {
  if (hd == 8) return weightedSumSmall<1>(w, rows, out);
  if (hd == 16) return weightedSumSmall<2>(w, rows, out);
  const int64_t hv = hd & ~int64_t(7);
  for (int64_t i = 0; i < rows.count(); ++i) {
    const float* v = rowOf(rows.values, rows, i);
    const __m256 wv = _mm256_set1_ps(w[i]);
    for (int64_t k = 0; k < hv; k += 8)
      _mm256_storeu_ps(out + k, _mm256_fmadd_ps(wv, _mm256_loadu_ps(v + k), _mm256_loadu_ps(out + k)));
    for (int64_t k = hv; k < hd; ++k) out[k] = fmaScalar(w[i], v[k], out[k]);
  }
}
REDRAFTER_TARGET_AVX2 void expAvx2(float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, exp8(_mm256_loadu_ps(x + i)));
  if (i < n) {
    const __m256i mask = firstLanes8(n - i);
    _mm256_maskstore_ps(x + i, mask, exp8(_mm256_maskload_ps(x + i, mask)));
  }
}

REDRAFTER_TARGET_AVX512 void expAvx512(float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, exp16(_mm512_loadu_ps(x + i)));
  if (i < n) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(x + i, mask, exp16(_mm512_maskz_loadu_ps(mask, x + i)));
  }
}
#endif  // REDRAFTER_X86_SIMD

}  // namespace

void expInPlace(Isa isa, float* x, int64_t n) {
#if REDRAFTER_X86_SIMD
  if (isa == Isa::Avx512) return expAvx512(x, n);
  if (isa == Isa::Avx2) return expAvx2(x, n);
#endif
  (void)isa;
  for (int64_t i = 0; i < n; ++i) x[i] = std::exp(x[i]);
}

void attendHead(Isa isa, const float* q, const AttentionRows& rows, int64_t hd, float scale, float* scores,
                float* out) {
  const int64_t n = rows.count();
  dotRows(isa, q, rows.keys, rows.stride, nullptr, rows.cached, hd, scale, scores);
  dotRows(isa, q, rows.keys, rows.stride, rows.newSlots, rows.newCount, hd, scale, scores + rows.cached);
  std::fill(out, out + hd, 0.0f);
#if REDRAFTER_X86_SIMD
  if (isa != Isa::Portable) {
    const float sum = isa == Isa::Avx512 ? expWeightsAvx512(scores, n) : expWeightsAvx2(scores, n);
    weightedSumAvx2(scores, rows, hd, out);
    for (int64_t k = 0; k < hd; ++k) out[k] = out[k] / sum;
    return;
  }
#endif
  softmaxPortable(scores, n);
  weightedSumPortable(scores, rows, hd, out);
}

}  // namespace redrafter::cpu::kernels

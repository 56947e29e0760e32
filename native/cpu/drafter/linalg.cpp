#include "cpu/drafter/linalg.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define REDRAFTER_DRAFTER_X86 1
#include <immintrin.h>
#endif

namespace redrafter::cpu::drafter {

namespace {

// ---------------------------------------------------------------------------------------------
// portable kernels
// ---------------------------------------------------------------------------------------------
void forwardPortable(const float* x, int64_t rows, int64_t in, int64_t ldx, const float* w, const float* b, float* y,
                     int64_t ldy, int64_t oBegin, int64_t oEnd) {
  for (int64_t o = oBegin; o < oEnd; o++) {
    const float* wr = w + o * in;
    for (int64_t r = 0; r < rows; r++) {
      const float* xr = x + r * ldx;
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int64_t k = 0;
      for (; k + 8 <= in; k += 8)
        for (int j = 0; j < 8; j++) acc[j] += xr[k + j] * wr[k + j];
      float sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
      for (; k < in; k++) sum += xr[k] * wr[k];
      y[r * ldy + o] = sum + (b ? b[o] : 0.0f);
    }
  }
}

void backwardInputPortable(const float* dy, int64_t out, int64_t lddy, const float* w, int64_t in, float* dx,
                           int64_t lddx, int64_t rBegin, int64_t rEnd, bool accumulate) {
  for (int64_t r = rBegin; r < rEnd; r++) {
    float* d = dx + r * lddx;
    if (!accumulate)
      for (int64_t k = 0; k < in; k++) d[k] = 0.0f;
    const float* g = dy + r * lddy;
    for (int64_t o = 0; o < out; o++) {
      const float a = g[o];
      const float* wr = w + o * in;
      for (int64_t k = 0; k < in; k++) d[k] += a * wr[k];
    }
  }
}

void backwardWeightPortable(const float* dy, int64_t rows, int64_t lddy, const float* x, int64_t in, int64_t ldx,
                            float* dw, float* db, int64_t oBegin, int64_t oEnd) {
  for (int64_t o = oBegin; o < oEnd; o++) {
    float* d = dw + o * in;
    float bsum = 0.0f;
    for (int64_t r = 0; r < rows; r++) {
      const float a = dy[r * lddy + o];
      bsum += a;
      const float* xr = x + r * ldx;
      for (int64_t k = 0; k < in; k++) d[k] += a * xr[k];
    }
    if (db) db[o] += bsum;
  }
}

#ifdef REDRAFTER_DRAFTER_X86
// ---------------------------------------------------------------------------------------------
// AVX2 + FMA kernels (same reduction structure as the portable ones: 8 lanes over k, fixed horizontal sum)
// ---------------------------------------------------------------------------------------------
__attribute__((target("avx2,fma"))) inline float hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  __m128 s = _mm_add_ps(lo, hi);                  // lanes (0+4, 1+5, 2+6, 3+7)
  __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));  // (0+4)+(2+6), (1+5)+(3+7)
  t = _mm_add_ss(t, _mm_shuffle_ps(t, t, 1));
  return _mm_cvtss_f32(t);
}

__attribute__((target("avx2,fma"))) void forwardAvx2(const float* x, int64_t rows, int64_t in, int64_t ldx,
                                                    const float* w, const float* b, float* y, int64_t ldy,
                                                    int64_t oBegin, int64_t oEnd) {
  const int64_t kv = in & ~int64_t(7);
  int64_t o = oBegin;
  // 4 weight rows x 2 input rows per tile.
  for (; o + 4 <= oEnd; o += 4) {
    const float* w0 = w + o * in;
    const float* w1 = w0 + in;
    const float* w2 = w1 + in;
    const float* w3 = w2 + in;
    int64_t r = 0;
    for (; r + 2 <= rows; r += 2) {
      const float* x0 = x + r * ldx;
      const float* x1 = x0 + ldx;
      __m256 a00 = _mm256_setzero_ps(), a01 = _mm256_setzero_ps(), a02 = _mm256_setzero_ps(),
             a03 = _mm256_setzero_ps(), a10 = _mm256_setzero_ps(), a11 = _mm256_setzero_ps(),
             a12 = _mm256_setzero_ps(), a13 = _mm256_setzero_ps();
      for (int64_t k = 0; k < kv; k += 8) {
        __m256 v0 = _mm256_loadu_ps(x0 + k), v1 = _mm256_loadu_ps(x1 + k);
        __m256 c0 = _mm256_loadu_ps(w0 + k), c1 = _mm256_loadu_ps(w1 + k), c2 = _mm256_loadu_ps(w2 + k),
               c3 = _mm256_loadu_ps(w3 + k);
        a00 = _mm256_fmadd_ps(v0, c0, a00);
        a01 = _mm256_fmadd_ps(v0, c1, a01);
        a02 = _mm256_fmadd_ps(v0, c2, a02);
        a03 = _mm256_fmadd_ps(v0, c3, a03);
        a10 = _mm256_fmadd_ps(v1, c0, a10);
        a11 = _mm256_fmadd_ps(v1, c1, a11);
        a12 = _mm256_fmadd_ps(v1, c2, a12);
        a13 = _mm256_fmadd_ps(v1, c3, a13);
      }
      float s[8] = {hsum(a00), hsum(a01), hsum(a02), hsum(a03), hsum(a10), hsum(a11), hsum(a12), hsum(a13)};
      for (int64_t k = kv; k < in; k++) {
        s[0] += x0[k] * w0[k];
        s[1] += x0[k] * w1[k];
        s[2] += x0[k] * w2[k];
        s[3] += x0[k] * w3[k];
        s[4] += x1[k] * w0[k];
        s[5] += x1[k] * w1[k];
        s[6] += x1[k] * w2[k];
        s[7] += x1[k] * w3[k];
      }
      for (int j = 0; j < 4; j++) {
        const float bias = b ? b[o + j] : 0.0f;
        y[r * ldy + o + j] = s[j] + bias;
        y[(r + 1) * ldy + o + j] = s[4 + j] + bias;
      }
    }
    for (; r < rows; r++) {
      const float* x0 = x + r * ldx;
      __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
      for (int64_t k = 0; k < kv; k += 8) {
        __m256 v0 = _mm256_loadu_ps(x0 + k);
        a0 = _mm256_fmadd_ps(v0, _mm256_loadu_ps(w0 + k), a0);
        a1 = _mm256_fmadd_ps(v0, _mm256_loadu_ps(w1 + k), a1);
        a2 = _mm256_fmadd_ps(v0, _mm256_loadu_ps(w2 + k), a2);
        a3 = _mm256_fmadd_ps(v0, _mm256_loadu_ps(w3 + k), a3);
      }
      float s[4] = {hsum(a0), hsum(a1), hsum(a2), hsum(a3)};
      for (int64_t k = kv; k < in; k++) {
        s[0] += x0[k] * w0[k];
        s[1] += x0[k] * w1[k];
        s[2] += x0[k] * w2[k];
        s[3] += x0[k] * w3[k];
      }
      for (int j = 0; j < 4; j++) y[r * ldy + o + j] = s[j] + (b ? b[o + j] : 0.0f);
    }
  }
  for (; o < oEnd; o++) {
    const float* w0 = w + o * in;
    for (int64_t r = 0; r < rows; r++) {
      const float* x0 = x + r * ldx;
      __m256 a0 = _mm256_setzero_ps();
      for (int64_t k = 0; k < kv; k += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x0 + k), _mm256_loadu_ps(w0 + k), a0);
      float s = hsum(a0);
      for (int64_t k = kv; k < in; k++) s += x0[k] * w0[k];
      y[r * ldy + o] = s + (b ? b[o] : 0.0f);
    }
  }
}

__attribute__((target("avx2,fma"))) void backwardInputAvx2(const float* dy, int64_t out, int64_t lddy,
                                                          const float* w, int64_t in, float* dx, int64_t lddx,
                                                          int64_t rBegin, int64_t rEnd, bool accumulate) {
  const int64_t kv = in & ~int64_t(31);
  for (int64_t r = rBegin; r < rEnd; r++) {
    float* d = dx + r * lddx;
    const float* g = dy + r * lddy;
    // 32 columns of dx in registers, streamed over all `out` weight rows.
    for (int64_t k = 0; k < kv; k += 32) {
      __m256 a0, a1, a2, a3;
      if (accumulate) {
        a0 = _mm256_loadu_ps(d + k);
        a1 = _mm256_loadu_ps(d + k + 8);
        a2 = _mm256_loadu_ps(d + k + 16);
        a3 = _mm256_loadu_ps(d + k + 24);
      } else {
        a0 = a1 = a2 = a3 = _mm256_setzero_ps();
      }
      for (int64_t o = 0; o < out; o++) {
        const __m256 s = _mm256_broadcast_ss(g + o);
        const float* wr = w + o * in + k;
        a0 = _mm256_fmadd_ps(s, _mm256_loadu_ps(wr), a0);
        a1 = _mm256_fmadd_ps(s, _mm256_loadu_ps(wr + 8), a1);
        a2 = _mm256_fmadd_ps(s, _mm256_loadu_ps(wr + 16), a2);
        a3 = _mm256_fmadd_ps(s, _mm256_loadu_ps(wr + 24), a3);
      }
      _mm256_storeu_ps(d + k, a0);
      _mm256_storeu_ps(d + k + 8, a1);
      _mm256_storeu_ps(d + k + 16, a2);
      _mm256_storeu_ps(d + k + 24, a3);
    }
    for (int64_t k = kv; k < in; k++) {
      float acc = accumulate ? d[k] : 0.0f;
      for (int64_t o = 0; o < out; o++) acc += g[o] * w[o * in + k];
      d[k] = acc;
    }
  }
}

__attribute__((target("avx2,fma"))) void backwardWeightAvx2(const float* dy, int64_t rows, int64_t lddy,
                                                           const float* x, int64_t in, int64_t ldx, float* dw,
                                                           float* db, int64_t oBegin, int64_t oEnd) {
  const int64_t kv = in & ~int64_t(15);
  int64_t o = oBegin;
  // 4 weight rows x 16 columns per tile, streamed over the rows of dy / x.
  for (; o + 4 <= oEnd; o += 4) {
    for (int64_t k = 0; k < kv; k += 16) {
      float* d0 = dw + o * in + k;
      float* d1 = d0 + in;
      float* d2 = d1 + in;
      float* d3 = d2 + in;
      __m256 a00 = _mm256_loadu_ps(d0), a01 = _mm256_loadu_ps(d0 + 8), a10 = _mm256_loadu_ps(d1),
             a11 = _mm256_loadu_ps(d1 + 8), a20 = _mm256_loadu_ps(d2), a21 = _mm256_loadu_ps(d2 + 8),
             a30 = _mm256_loadu_ps(d3), a31 = _mm256_loadu_ps(d3 + 8);
      for (int64_t r = 0; r < rows; r++) {
        const float* xr = x + r * ldx + k;
        const float* g = dy + r * lddy + o;
        const __m256 v0 = _mm256_loadu_ps(xr), v1 = _mm256_loadu_ps(xr + 8);
        __m256 s = _mm256_broadcast_ss(g);
        a00 = _mm256_fmadd_ps(s, v0, a00);
        a01 = _mm256_fmadd_ps(s, v1, a01);
        s = _mm256_broadcast_ss(g + 1);
        a10 = _mm256_fmadd_ps(s, v0, a10);
        a11 = _mm256_fmadd_ps(s, v1, a11);
        s = _mm256_broadcast_ss(g + 2);
        a20 = _mm256_fmadd_ps(s, v0, a20);
        a21 = _mm256_fmadd_ps(s, v1, a21);
        s = _mm256_broadcast_ss(g + 3);
        a30 = _mm256_fmadd_ps(s, v0, a30);
        a31 = _mm256_fmadd_ps(s, v1, a31);
      }
      _mm256_storeu_ps(d0, a00);
      _mm256_storeu_ps(d0 + 8, a01);
      _mm256_storeu_ps(d1, a10);
      _mm256_storeu_ps(d1 + 8, a11);
      _mm256_storeu_ps(d2, a20);
      _mm256_storeu_ps(d2 + 8, a21);
      _mm256_storeu_ps(d3, a30);
      _mm256_storeu_ps(d3 + 8, a31);
    }
    for (int64_t j = 0; j < 4; j++) {
      float* d = dw + (o + j) * in;
      for (int64_t r = 0; r < rows; r++) {
        const float a = dy[r * lddy + o + j];
        const float* xr = x + r * ldx;
        for (int64_t k = kv; k < in; k++) d[k] += a * xr[k];
      }
    }
  }
  if (o < oEnd) backwardWeightPortable(dy, rows, lddy, x, in, ldx, dw, nullptr, o, oEnd);
  if (db) {
    for (int64_t q = oBegin; q < oEnd; q++) {
      float bsum = 0.0f;
      for (int64_t r = 0; r < rows; r++) bsum += dy[r * lddy + q];
      db[q] += bsum;
    }
  }
}

bool detectAvx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

}  // namespace

bool usingAvx2() {
#ifdef REDRAFTER_DRAFTER_X86
  static const bool avx2 = detectAvx2();
  return avx2;
#else
  return false;
#endif
}

void linearForward(const float* x, int64_t rows, int64_t in, int64_t ldx, const float* w, const float* b, float* y,
                   int64_t ldy, int64_t oBegin, int64_t oEnd) {
#ifdef REDRAFTER_DRAFTER_X86
  if (usingAvx2()) return forwardAvx2(x, rows, in, ldx, w, b, y, ldy, oBegin, oEnd);
#endif
  forwardPortable(x, rows, in, ldx, w, b, y, ldy, oBegin, oEnd);
}

void linearBackwardInput(const float* dy, int64_t out, int64_t lddy, const float* w, int64_t in, float* dx,
                         int64_t lddx, int64_t rBegin, int64_t rEnd, bool accumulate) {
#ifdef REDRAFTER_DRAFTER_X86
  if (usingAvx2()) return backwardInputAvx2(dy, out, lddy, w, in, dx, lddx, rBegin, rEnd, accumulate);
#endif
  backwardInputPortable(dy, out, lddy, w, in, dx, lddx, rBegin, rEnd, accumulate);
}

void linearBackwardWeight(const float* dy, int64_t rows, int64_t lddy, const float* x, int64_t in, int64_t ldx,
                          float* dw, float* db, int64_t oBegin, int64_t oEnd) {
#ifdef REDRAFTER_DRAFTER_X86
  if (usingAvx2()) return backwardWeightAvx2(dy, rows, lddy, x, in, ldx, dw, db, oBegin, oEnd);
#endif
  backwardWeightPortable(dy, rows, lddy, x, in, ldx, dw, db, oBegin, oEnd);
}

}  // namespace redrafter::cpu::drafter

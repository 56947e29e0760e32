// Integer dot products of 4-6 bit weight blocks with 8-bit quantised activations (quant_matmul.h). Per call: the
// tokens in groups of kTokenGroup, the columns in chunks of kChunkValues (activations of a group x chunk quantised
// into a stack buffer: no allocation), and for each weight row of the chunk the ISA's integer kernel fills
// isum[token][block] (weights unpacked once per block, applied to every token of the group), then the one scalar
// combine of the type folds the blocks into y[t, r] in block order (y holds the running sum between chunks).
#include "cpu/kernels/quant_matmul.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "cpu/kernels/activation_quant.h"
#include "cpu/kernels/avx2_reduce.h"
#include "cpu/kernels/simd.h"
#include "cpu/kernels/weight_access.h"
#include "model/dequantize.h"
#include "model/half.h"

#include "cpu/kernels/x86_intrinsics.h"

namespace redrafter::cpu::kernels {
namespace {

using model::fp16ToF32;
using detail::loadU16;
using model::kQuantScalesMins;
using model::kQuantScalesMinsPacked;

constexpr int kTokenGroup = 16;
constexpr int64_t kPrefetchRows = 8;

inline void prefetchLine(const void* p) {
#if REDRAFTER_X86_SIMD
  _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T0);
#else
  (void)p;
#endif
}
constexpr int64_t kChunkValues = 4096;  // 16 blocks of 256, 128 of 32

// ggml's Q8_K (activations of the K types): 256 values q = round(x * -127 / max) (max: the value of largest
// magnitude), d = 1 / that scale, and the sums of each 16 consecutive q.
struct ActK {
  float d;
  int16_t bsums[16];
  int8_t qs[256];
};
constexpr size_t kActBytes = std::max(sizeof(ActK) * kTokenGroup * (kChunkValues / 256),
                                      sizeof(Act32) * kTokenGroup * (kChunkValues / 32));

void quantizeActK(const float* x, ActK* a) {
  float max = 0, amax = 0;
  for (int j = 0; j < 256; ++j)
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  if (amax == 0.0f) {
    std::memset(a, 0, sizeof *a);
    return;
  }
  const float iscale = -127.f / max;
  for (int j = 0; j < 256; ++j) a->qs[j] = int8_t(std::min(127, model::nearestInt(iscale * x[j])));
  for (int j = 0; j < 16; ++j) {
    int s = 0;
    for (int i = 0; i < 16; ++i) s += a->qs[16 * j + i];
    a->bsums[j] = int16_t(s);
  }
  a->d = 1 / iscale;
}

// ---- the combine: one per call of an integer kernel, shared by every ISA (never inlined into an ISA-targeted
// function, so its float arithmetic is compiled once). For each block b of the row chunk, in order:
//   acc += (dw[b] * dx[b]) * isum[b]  or, with mins,  acc += (dw[b] * dx[b]) * isum[b] - (dmin[b] * dx[b]) * msum[b]
// dw/dmin are the row's block scales as float (exact fp16 conversions), dx the token's activation block scales.

__attribute__((noinline)) float combine(float acc, int64_t nb, const float* dw, const float* dmin, const float* dx,
                                        const int32_t* isum, const int32_t* msum) {
  if (!dmin) {
    for (int64_t b = 0; b < nb; ++b) acc += (dw[b] * dx[b]) * float(isum[b]);
    return acc;
  }
  for (int64_t b = 0; b < nb; ++b) {
    const float term = (dw[b] * dx[b]) * float(isum[b]) - (dmin[b] * dx[b]) * float(msum[b]);
    acc += term;
  }
  return acc;
}

// ---- integer kernels. For the nt tokens (activations act + t * stride) and the nb blocks of a row chunk at w:
// isum[t * nb + b] = the block's exact weight x activation sum with the weights' zero points applied
// (Q4_0: sum (q - 8) a; Q6_K: sum_s sc_s sum (q - 32) a; Q4_K/Q5_K: sum_s sc_s sum q a), msum[t * nb + b]
// (Q4_K/Q5_K) = sum_s m_s sum_s a, and the row's block scales dw[b] (and dmin[b]) as float.

struct RowScratch {
  float dw[kChunkValues / 32];
  float dmin[kChunkValues / 256];
  int32_t isum[kTokenGroup * (kChunkValues / 32)];
  int32_t msum[kTokenGroup * (kChunkValues / 256)];
  // the SIMD K kernels' 8 int32 partial sums per (token, block), reduced 8 blocks at a time at the end
  alignas(32) int32_t ilanes[kTokenGroup * (kChunkValues / 256)][8];
  alignas(32) int32_t mlanes[kTokenGroup * (kChunkValues / 256)][8];
};

void dotsQ4_0Portable(const uint8_t* w, int64_t nb, const Act32* act, int64_t stride, int nt, RowScratch& s) {
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* q = w + 18 * b + 2;
    s.dw[b] = model::fp16AtToF32(w + 18 * b);
    for (int t = 0; t < nt; ++t) {
      const int8_t* a = act[t * stride + b].qs;
      int32_t sum = 0;
      for (int j = 0; j < 16; ++j) sum += (q[j] & 15) * a[j] + (q[j] >> 4) * a[16 + j];
      s.isum[t * nb + b] = sum - 8 * act[t * stride + b].sum;
    }
  }
}

void dotsQ45_KPortable(bool five, const uint8_t* w, int64_t nb, const ActK* act, int64_t stride, int nt,
                       RowScratch& s) {
  const int64_t blockBytes = five ? 176 : 144;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = w + blockBytes * b;
    const uint8_t* qh = blk + 16;
    const uint8_t* qs = blk + (five ? 48 : 16);
    uint8_t sc[8], m[8];
    kQuantScalesMins(blk + 4, sc, m);
    s.dw[b] = model::fp16AtToF32(blk);
    s.dmin[b] = model::fp16AtToF32(blk + 2);
    uint8_t q[256];
    for (int p = 0; p < 4; ++p)
      for (int l = 0; l < 32; ++l) {
        q[64 * p + l] = uint8_t((qs[32 * p + l] & 15) | (five ? ((qh[l] >> (2 * p)) & 1) << 4 : 0));
        q[64 * p + 32 + l] = uint8_t((qs[32 * p + l] >> 4) | (five ? ((qh[l] >> (2 * p + 1)) & 1) << 4 : 0));
      }
    for (int t = 0; t < nt; ++t) {
      const ActK& a = act[t * stride + b];
      int32_t sum = 0, mins = 0;
      for (int j = 0; j < 8; ++j) {
        int32_t sj = 0;
        for (int l = 0; l < 32; ++l) sj += q[32 * j + l] * a.qs[32 * j + l];
        sum += int32_t(sc[j]) * sj;
        mins += int32_t(m[j]) * (a.bsums[2 * j] + a.bsums[2 * j + 1]);
      }
      s.isum[t * nb + b] = sum;
      s.msum[t * nb + b] = mins;
    }
  }
}

void dotsQ6_KPortable(const uint8_t* w, int64_t nb, const ActK* act, int64_t stride, int nt, RowScratch& s) {
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = w + 210 * b;
    const int8_t* sc = reinterpret_cast<const int8_t*>(blk + 192);
    s.dw[b] = model::fp16AtToF32(blk + 208);
    uint8_t q[256];
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = blk + 64 * h;
      const uint8_t* qh = blk + 128 + 32 * h;
      for (int l = 0; l < 32; ++l) {
        q[128 * h + l] = uint8_t((ql[l] & 15) | (qh[l] & 3) << 4);
        q[128 * h + 32 + l] = uint8_t((ql[32 + l] & 15) | ((qh[l] >> 2) & 3) << 4);
        q[128 * h + 64 + l] = uint8_t((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4);
        q[128 * h + 96 + l] = uint8_t((ql[32 + l] >> 4) | ((qh[l] >> 6) & 3) << 4);
      }
    }
    for (int t = 0; t < nt; ++t) {
      const ActK& a = act[t * stride + b];
      int32_t sum = 0;
      for (int j = 0; j < 16; ++j) {
        int32_t sj = 0;
        for (int l = 0; l < 16; ++l) sj += q[16 * j + l] * a.qs[16 * j + l];
        sum += int32_t(sc[j]) * (sj - 32 * a.bsums[j]);
      }
      s.isum[t * nb + b] = sum;
    }
  }
}

#if REDRAFTER_X86_SIMD
// ---- AVX2: maddubs (unsigned weight quants x signed activations, pairs into int16), madd with the sub-block
// scales (pairs into int32), exact int32 adds ---------------------------------------------------------------

REDRAFTER_TARGET_AVX2 inline int32_t hsumI32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

// the sums of 8 vectors' lanes, as 8 int32 (lane i: the sum of v[i])
REDRAFTER_TARGET_AVX2 inline __m256i hsum8I32(const __m256i* v) {
  __m256i a = _mm256_hadd_epi32(v[0], v[1]);
  __m256i b = _mm256_hadd_epi32(v[2], v[3]);
  __m256i c = _mm256_hadd_epi32(v[4], v[5]);
  __m256i d = _mm256_hadd_epi32(v[6], v[7]);
  __m256i ab = _mm256_hadd_epi32(a, b);  // per 128-bit half: partial sums of v0, v1, v2, v3
  __m256i cd = _mm256_hadd_epi32(c, d);
  return _mm256_add_epi32(_mm256_permute2x128_si256(ab, cd, 0x20), _mm256_permute2x128_si256(ab, cd, 0x31));
}

// sums[t * nb + b] = the sum of lanes[t * nb + b]'s 8 int32, 8 blocks per transposed reduction
REDRAFTER_TARGET_AVX2 void reduceLanes(int nt, int64_t nb, const int32_t (*lanes)[8], int32_t* sums) {
  for (int64_t i = 0; i < nt * nb;) {
    if (i + 8 <= nt * nb) {
      __m256i v[8];
      for (int j = 0; j < 8; ++j) v[j] = _mm256_load_si256(reinterpret_cast<const __m256i*>(lanes[i + j]));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(sums + i), hsum8I32(v));
      i += 8;
    } else {
      sums[i] = hsumI32(_mm256_load_si256(reinterpret_cast<const __m256i*>(lanes[i])));
      ++i;
    }
  }
}

// The 8 sub-block products of a 256-value block (q[j]: 32 unsigned quants, sc[j]: their scale in every int16 lane)
// with one token's activations: 8 int32 partial sums into lanes.
REDRAFTER_TARGET_AVX2 inline void token1Avx2(const __m256i* q, const __m256i* sc, const ActK& a, int32_t* lanes) {
  __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
  for (int j = 0; j < 8; j += 2) {
    __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qs + 32 * j));
    __m256i a1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qs + 32 * j + 32));
    acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_maddubs_epi16(q[j], a0), sc[j]));
    acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(_mm256_maddubs_epi16(q[j + 1], a1), sc[j + 1]));
  }
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), _mm256_add_epi32(acc0, acc1));
}

// The same for 4 tokens (act, act + stride, ...; lanes, lanes + nb, ...), sub-block by sub-block: 4 accumulators
// and one sub-block's quants and scale live in registers (AVX2 has 16), instead of all 8 sub-blocks per token.
REDRAFTER_TARGET_AVX2 inline void tokens4Avx2(const __m256i* q, const __m256i* sc, const ActK* act, int64_t stride,
                                              int32_t (*lanes)[8], int64_t nb) {
  __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
  for (int j = 0; j < 8; ++j) {
    const __m256i qj = q[j], sj = sc[j];
    for (int u = 0; u < 4; ++u) {
      __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(act[u * stride].qs + 32 * j));
      acc[u] = _mm256_add_epi32(acc[u], _mm256_madd_epi16(_mm256_maddubs_epi16(qj, a), sj));
    }
  }
  for (int u = 0; u < 4; ++u) _mm256_store_si256(reinterpret_cast<__m256i*>(lanes[u * nb]), acc[u]);
}

// A Q4_K/Q5_K block's scales and mins in registers: sc16 = the 8 scales as int16 in both 128-bit halves, mins =
// [m0, m0, m1, m1, ..., m7, m7] as 16 int16 (each against a pair of 16-value activation sums).
struct KScales {
  __m256i sc16, mins;
};
REDRAFTER_TARGET_AVX2 inline KScales kScalesAvx2(const uint8_t* scales) {
  uint32_t p[4];
  kQuantScalesMinsPacked(scales, p);
  const __m128i v = _mm_setr_epi32(int(p[0]), int(p[1]), int(p[2]), int(p[3]));
  const __m128i sc16 = _mm_cvtepu8_epi16(v), m16 = _mm_cvtepu8_epi16(_mm_srli_si128(v, 8));
  return {_mm256_broadcastsi128_si256(sc16),
          _mm256_set_m128i(_mm_unpackhi_epi16(m16, m16), _mm_unpacklo_epi16(m16, m16))};
}
// scale j of sc16 (as KScales holds it) in all 16 int16 lanes
template <int J>
REDRAFTER_TARGET_AVX2 inline __m256i scaleAt(__m256i sc16) {
  return _mm256_shuffle_epi8(sc16, _mm256_set1_epi16(int16_t(((2 * J + 1) << 8) | (2 * J))));
}

REDRAFTER_TARGET_AVX2 void dotsQ4_0Avx2(const uint8_t* w, int64_t nb, const Act32* act, int64_t stride, int nt,
                                        RowScratch& s) {
  const __m128i m4 = _mm_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i eight = _mm256_set1_epi32(8);
  int64_t b = 0;
  for (; b + 8 <= nb; b += 8) {  // 8 blocks at a time: their sums reduced together
    __m256i q[8];
    for (int i = 0; i < 8; ++i) {
      const uint8_t* blk = w + 18 * (b + i);
      s.dw[b + i] = _cvtsh_ss(loadU16(blk));
      __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2));
      q[i] = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m4), _mm_and_si128(v, m4));
    }
    for (int t = 0; t < nt; ++t) {
      const Act32* a = act + t * stride + b;
      __m256i p[8];
      for (int i = 0; i < 8; ++i)
        p[i] = _mm256_madd_epi16(
            _mm256_maddubs_epi16(q[i], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].qs))), ones);
      const __m256i sums = _mm256_setr_epi32(a[0].sum, a[1].sum, a[2].sum, a[3].sum, a[4].sum, a[5].sum, a[6].sum,
                                             a[7].sum);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(s.isum + t * nb + b),
                          _mm256_sub_epi32(hsum8I32(p), _mm256_mullo_epi32(sums, eight)));
    }
  }
  for (; b < nb; ++b) {
    const uint8_t* blk = w + 18 * b;
    s.dw[b] = _cvtsh_ss(loadU16(blk));
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2));
    __m256i q = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m4), _mm_and_si128(v, m4));
    for (int t = 0; t < nt; ++t) {
      const Act32& a = act[t * stride + b];
      __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qs));
      s.isum[t * nb + b] = hsumI32(_mm256_madd_epi16(_mm256_maddubs_epi16(q, av), ones)) - 8 * a.sum;
    }
  }
}

template <bool kFive>
REDRAFTER_TARGET_AVX2 void dotsQ45_KAvx2(const uint8_t* w, int64_t nb, const ActK* act, int64_t stride, int nt,
                                         RowScratch& s) {
  constexpr int64_t kBlockBytes = kFive ? 176 : 144;
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i one = _mm256_set1_epi8(1);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = w + kBlockBytes * b;
    const uint8_t* qs = blk + (kFive ? 48 : 16);
    s.dw[b] = _cvtsh_ss(loadU16(blk));
    s.dmin[b] = _cvtsh_ss(loadU16(blk + 2));
    const KScales ks = kScalesAvx2(blk + 4);
    const __m256i sc[8] = {scaleAt<0>(ks.sc16), scaleAt<1>(ks.sc16), scaleAt<2>(ks.sc16), scaleAt<3>(ks.sc16),
                           scaleAt<4>(ks.sc16), scaleAt<5>(ks.sc16), scaleAt<6>(ks.sc16), scaleAt<7>(ks.sc16)};
    const __m256i mins = ks.mins;
    __m256i q[8];
    __m256i qh = kFive ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16)) : _mm256_setzero_si256();
    for (int p = 0; p < 4; ++p) {
      __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * p));
      q[2 * p] = _mm256_and_si256(v, m4);
      q[2 * p + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
      if (kFive) {
        __m256i h0 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * p), one);
        __m256i h1 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * p + 1), one);
        q[2 * p] = _mm256_or_si256(q[2 * p], _mm256_slli_epi16(h0, 4));
        q[2 * p + 1] = _mm256_or_si256(q[2 * p + 1], _mm256_slli_epi16(h1, 4));
      }
    }
    int t = 0;
    for (; t + 4 <= nt; t += 4) tokens4Avx2(q, sc, act + t * stride + b, stride, s.ilanes + t * nb + b, nb);
    for (; t < nt; ++t) token1Avx2(q, sc, act[t * stride + b], s.ilanes[t * nb + b]);
    for (t = 0; t < nt; ++t)
      _mm256_store_si256(reinterpret_cast<__m256i*>(s.mlanes[t * nb + b]),
                         _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(act[t * stride + b].bsums)), mins));
  }
  reduceLanes(nt, nb, s.ilanes, s.isum);
  reduceLanes(nt, nb, s.mlanes, s.msum);
}

REDRAFTER_TARGET_AVX2 void dotsQ6_KAvx2(const uint8_t* w, int64_t nb, const ActK* act, int64_t stride, int nt,
                                        RowScratch& s) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i m2 = _mm256_set1_epi8(3);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = w + 210 * b;
    const int8_t* scales = reinterpret_cast<const int8_t*>(blk + 192);
    s.dw[b] = _cvtsh_ss(loadU16(blk + 208));
    __m256i q[8], sc[8];  // q[k]: values 32k..32k+31; sc[k]: scales 2k (lanes 0-7), 2k+1 (lanes 8-15)
    for (int h = 0; h < 2; ++h) {
      __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 64 * h));
      __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 64 * h + 32));
      __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 128 + 32 * h));
      q[4 * h + 0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4));
      q[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(ql1, m4),
                                     _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4));
      q[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                                     _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4));
      q[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                     _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4));
    }
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scales)));
    for (int k = 0; k < 8; ++k)
      sc[k] = _mm256_set_m128i(_mm_set1_epi16(scales[2 * k + 1]), _mm_set1_epi16(scales[2 * k]));
    int t = 0;
    for (; t + 4 <= nt; t += 4) tokens4Avx2(q, sc, act + t * stride + b, stride, s.ilanes + t * nb + b, nb);
    for (; t < nt; ++t) token1Avx2(q, sc, act[t * stride + b], s.ilanes[t * nb + b]);
    for (t = 0; t < nt; ++t) {  // the zero point: 32 sum_s sc_s sum_s a
      const __m256i offset =
          _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(act[t * stride + b].bsums)), sc16);
      __m256i* lanes = reinterpret_cast<__m256i*>(s.ilanes[t * nb + b]);
      _mm256_store_si256(lanes, _mm256_sub_epi32(_mm256_load_si256(lanes), _mm256_slli_epi32(offset, 5)));
    }
  }
  reduceLanes(nt, nb, s.ilanes, s.isum);
}

// ---- AVX-512 (BW + VNNI): the same products on 64-byte vectors, two 32-value sub-blocks per instruction, the
// scale product and the add fused (vpdpwssd) ------------------------------------------------------------------

// a 16-lane int32 vector's two halves added (8 lanes with the same total)
REDRAFTER_TARGET_AVX512VNNI inline __m256i half512(__m512i v) {
  return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

template <bool kFive>
REDRAFTER_TARGET_AVX512VNNI void dotsQ45_KAvx512(const uint8_t* w, int64_t nb, const ActK* act, int64_t stride,
                                               int nt, RowScratch& s) {
  constexpr int64_t kBlockBytes = kFive ? 176 : 144;
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i one = _mm512_set1_epi8(1);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = w + kBlockBytes * b;
    const uint8_t* qs = blk + (kFive ? 48 : 16);
    s.dw[b] = _cvtsh_ss(loadU16(blk));
    s.dmin[b] = _cvtsh_ss(loadU16(blk + 2));
    const KScales ks = kScalesAvx2(blk + 4);
    const __m256i mins = ks.mins;
    const __m512i sc16 = _mm512_castsi256_si512(ks.sc16);  // the 8 scales as int16 in lanes 0-7
    // q[p]: values 64p..64p+63 (low 256 bits: low nibbles, sub-block 2p; high 256 bits: high nibbles, 2p + 1)
    __m512i q[4], sc[4];
    __m512i qh = kFive ? _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16)))
                       : _mm512_setzero_si512();
    for (int p = 0; p < 4; ++p) {
      __m512i v = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * p)));
      q[p] = _mm512_and_si512(_mm512_mask_blend_epi64(0xF0, v, _mm512_srli_epi16(v, 4)), m4);
      if (kFive) {
        __m512i h = _mm512_mask_blend_epi64(0xF0, _mm512_srli_epi16(qh, 2 * p), _mm512_srli_epi16(qh, 2 * p + 1));
        q[p] = _mm512_or_si512(q[p], _mm512_slli_epi16(_mm512_and_si512(h, one), 4));
      }
      // scale 2p in the low 16 int16 lanes, 2p + 1 in the high 16
      sc[p] = _mm512_permutexvar_epi16(
          _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16(int16_t(2 * p))), _mm256_set1_epi16(int16_t(2 * p + 1)), 1),
          sc16);
    }
    for (int t = 0; t < nt; ++t) {
      const ActK& a = act[t * stride + b];
      __m512i acc = _mm512_setzero_si512();
      for (int p = 0; p < 4; ++p)
        acc = _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(q[p], _mm512_loadu_si512(a.qs + 64 * p)), sc[p]);
      _mm256_store_si256(reinterpret_cast<__m256i*>(s.ilanes[t * nb + b]), half512(acc));
      _mm256_store_si256(reinterpret_cast<__m256i*>(s.mlanes[t * nb + b]),
                         _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.bsums)), mins));
    }
  }
  reduceLanes(nt, nb, s.ilanes, s.isum);
  reduceLanes(nt, nb, s.mlanes, s.msum);
}

REDRAFTER_TARGET_AVX512VNNI void dotsQ6_KAvx512(const uint8_t* w, int64_t nb, const ActK* act, int64_t stride, int nt,
                                              RowScratch& s) {
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i m2 = _mm512_set1_epi8(3);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = w + 210 * b;
    const int8_t* scales = reinterpret_cast<const int8_t*>(blk + 192);
    s.dw[b] = _cvtsh_ss(loadU16(blk + 208));
    __m512i q[4], sc[4];  // q[i]: values 64i..64i+63; sc[i]: scales 4i..4i+3, 8 int16 lanes each
    for (int h = 0; h < 2; ++h) {
      __m512i ql = _mm512_loadu_si512(blk + 64 * h);  // ql0 (low 256 bits), ql1 (high)
      __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 128 + 32 * h)));
      __m512i hb01 = _mm512_mask_blend_epi64(0xF0, qh, _mm512_srli_epi16(qh, 2));
      __m512i hb23 = _mm512_mask_blend_epi64(0xF0, _mm512_srli_epi16(qh, 4), _mm512_srli_epi16(qh, 6));
      q[2 * h] = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_slli_epi16(_mm512_and_si512(hb01, m2), 4));
      q[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                     _mm512_slli_epi16(_mm512_and_si512(hb23, m2), 4));
    }
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scales)));
    for (int i = 0; i < 4; ++i) {  // int16 lane e of sc[i]: scale 4i + e / 8
      const __m512i index = _mm512_add_epi16(_mm512_set1_epi16(int16_t(4 * i)),
                                             _mm512_srli_epi16(_mm512_set_epi16(31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 3));
      sc[i] = _mm512_permutexvar_epi16(index, _mm512_castsi256_si512(sc16));
    }
    for (int t = 0; t < nt; ++t) {
      const ActK& a = act[t * stride + b];
      __m512i acc = _mm512_setzero_si512();
      for (int i = 0; i < 4; ++i)
        acc = _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(q[i], _mm512_loadu_si512(a.qs + 64 * i)), sc[i]);
      __m256i offset = _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.bsums)), sc16);
      _mm256_store_si256(reinterpret_cast<__m256i*>(s.ilanes[t * nb + b]),
                         _mm256_sub_epi32(half512(acc), _mm256_slli_epi32(offset, 5)));
    }
  }
  reduceLanes(nt, nb, s.ilanes, s.isum);
}

// ---- activation quantisation, vectorised (the same values as the scalar code: exact max, one scalar scale,
// round-to-nearest-even conversion, the same clamp) ---------------------------------------------------------

REDRAFTER_TARGET_AVX2 void quantizeActKAvx2(const float* x, ActK* a) {
  const __m256 signBit = _mm256_set1_ps(-0.0f);
  __m256 vmax = _mm256_setzero_ps();
  for (int j = 0; j < 256; j += 8) vmax = _mm256_max_ps(vmax, _mm256_andnot_ps(signBit, _mm256_loadu_ps(x + j)));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, vmax);
  float amax = 0;
  for (float l : lanes) amax = std::max(amax, l);
  if (amax == 0.0f) {
    std::memset(a, 0, sizeof *a);
    return;
  }
  float max = 0;  // the first value of largest magnitude, with its sign (as the scalar search finds it)
  for (int j = 0; j < 256; ++j)
    if (std::fabs(x[j]) == amax) {
      max = x[j];
      break;
    }
  const float iscale = -127.f / max;
  const __m256 vs = _mm256_set1_ps(iscale);
  const __m256i top = _mm256_set1_epi32(127);
  for (int j = 0; j < 256; j += 32) {
    __m256i i0 = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(vs, _mm256_loadu_ps(x + j))), top);
    __m256i i1 = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(vs, _mm256_loadu_ps(x + j + 8))), top);
    __m256i i2 = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(vs, _mm256_loadu_ps(x + j + 16))), top);
    __m256i i3 = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(vs, _mm256_loadu_ps(x + j + 24))), top);
    __m256i p01 = _mm256_packs_epi32(i0, i1), p23 = _mm256_packs_epi32(i2, i3);  // lanes interleaved per 128
    __m256i p = _mm256_packs_epi16(p01, p23);
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(a->qs + j), p);
    // 16-value sums of the two halves
    __m256i w16 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(p));
    __m256i w16b = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(p, 1));
    __m256i s32 = _mm256_madd_epi16(w16, _mm256_set1_epi16(1)), s32b = _mm256_madd_epi16(w16b, _mm256_set1_epi16(1));
    a->bsums[j / 16] = int16_t(hsumI32(s32));
    a->bsums[j / 16 + 1] = int16_t(hsumI32(s32b));
  }
  a->d = 1 / iscale;
}
#endif  // REDRAFTER_X86_SIMD

void quantizeActKFor(Isa isa, const float* x, ActK* a) {
#if REDRAFTER_X86_SIMD
  if (isa != Isa::Portable) return quantizeActKAvx2(x, a);
#endif
  (void)isa;
  quantizeActK(x, a);
}

void dotsQ4_0(Isa isa, const uint8_t* w, int64_t nb, const Act32* act, int64_t stride, int nt, RowScratch& s) {
#if REDRAFTER_X86_SIMD
  if (isa != Isa::Portable) return dotsQ4_0Avx2(w, nb, act, stride, nt, s);
#endif
  (void)isa;
  dotsQ4_0Portable(w, nb, act, stride, nt, s);
}

void dotsK(Isa isa, DType type, const uint8_t* w, int64_t nb, const ActK* act, int64_t stride, int nt,
           RowScratch& s) {
#if REDRAFTER_X86_SIMD
  static const bool vnni = __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
  if (isa == Isa::Avx512 && vnni) {
    if (type == DType::Q4_K) return dotsQ45_KAvx512<false>(w, nb, act, stride, nt, s);
    if (type == DType::Q5_K) return dotsQ45_KAvx512<true>(w, nb, act, stride, nt, s);
    return dotsQ6_KAvx512(w, nb, act, stride, nt, s);
  }
  if (isa != Isa::Portable) {  // AVX2, or AVX-512 without BW and VNNI
    if (type == DType::Q4_K) return dotsQ45_KAvx2<false>(w, nb, act, stride, nt, s);
    if (type == DType::Q5_K) return dotsQ45_KAvx2<true>(w, nb, act, stride, nt, s);
    return dotsQ6_KAvx2(w, nb, act, stride, nt, s);
  }
#endif
  (void)isa;
  if (type == DType::Q6_K) return dotsQ6_KPortable(w, nb, act, stride, nt, s);
  dotsQ45_KPortable(type == DType::Q5_K, w, nb, act, stride, nt, s);
}

// ---- dequantise-and-FMA (the bench's alternative) -----------------------------------------------------------

#if REDRAFTER_X86_SIMD
REDRAFTER_TARGET_AVX2 void dequantizedAvx2(const TensorView& w, const float* x, int64_t T, int64_t ldx, float* y,
                                           int64_t ldy, int64_t rowBegin, int64_t rowEnd) {
  const BlockFormat f = blockFormat(w.type);
  const int64_t nb = w.cols / f.elements, rowBytes = nb * f.bytes;
  alignas(32) float v[256];
  for (int64_t t0 = 0; t0 < T; t0 += kTokenGroup) {
    const int nt = int(std::min<int64_t>(kTokenGroup, T - t0));
    for (int64_t r = rowBegin; r < rowEnd; ++r) {
      const uint8_t* row = static_cast<const uint8_t*>(w.data) + r * rowBytes;
      __m256 acc[kTokenGroup];
      for (int t = 0; t < nt; ++t) acc[t] = _mm256_setzero_ps();
      for (int64_t b = 0; b < nb; ++b) {
        model::dequantizeBlock(w.type, row + b * f.bytes, v);
        for (int t = 0; t < nt; ++t) {
          const float* xt = x + (t0 + t) * ldx + b * f.elements;
          for (int64_t k = 0; k < f.elements; k += 8)
            acc[t] = _mm256_fmadd_ps(_mm256_load_ps(v + k), _mm256_loadu_ps(xt + k), acc[t]);
        }
      }
      for (int t = 0; t < nt; ++t) y[(t0 + t) * ldy + r] = detail::hsum8(acc[t]);
    }
  }
}
#endif

}  // namespace

bool isQuantType(DType type) {
  return type == DType::Q4_0 || type == DType::Q4_K || type == DType::Q5_K || type == DType::Q6_K;
}

void matmulQuant(Isa isa, const TensorView& w, const float* x, int64_t T, int64_t ldx, float* y, int64_t ldy,
                 int64_t rowBegin, int64_t rowEnd) {
  if (T <= 0 || rowBegin >= rowEnd) return;
  const BlockFormat f = blockFormat(w.type);
  if (!isQuantType(w.type) || w.layout != Layout::RowMajor || w.cols % f.elements != 0)
    fail(ErrorCode::Internal, "matmulQuant: not a row-major 4-6 bit matrix with whole blocks");
  const int64_t K = w.cols, rowBytes = K / f.elements * f.bytes;
  const int64_t chunkBlocks = kChunkValues / f.elements;
  alignas(64) unsigned char actBuffer[kActBytes];
  float dx[kTokenGroup][kChunkValues / 32];  // the activation blocks' scales, per token
  RowScratch scratch;
  const bool q40 = w.type == DType::Q4_0;  // 32-value activation blocks
  const bool mins = w.type == DType::Q4_K || w.type == DType::Q5_K;
  for (int64_t t0 = 0; t0 < T; t0 += kTokenGroup) {
    const int nt = int(std::min<int64_t>(kTokenGroup, T - t0));
    for (int64_t k0 = 0; k0 < K; k0 += kChunkValues) {
      const int64_t nb = std::min(kChunkValues, K - k0) / f.elements;
      const bool first = k0 == 0;
      Act32* act32 = reinterpret_cast<Act32*>(actBuffer);
      ActK* actK = reinterpret_cast<ActK*>(actBuffer);
      for (int t = 0; t < nt; ++t) {
        const float* xt = x + (t0 + t) * ldx + k0;
        if (q40) quantizeAct32Blocks(isa, xt, nb, act32 + t * chunkBlocks);
        for (int64_t b = 0; b < nb; ++b) {
          if (!q40) quantizeActKFor(isa, xt + f.elements * b, actK + t * chunkBlocks + b);
          dx[t][b] = q40 ? act32[t * chunkBlocks + b].d : actK[t * chunkBlocks + b].d;
        }
      }
      const int64_t chunkBytes = nb * f.bytes;
      for (int64_t r = rowBegin; r < rowEnd; ++r) {
        const uint8_t* wr = static_cast<const uint8_t*>(w.data) + r * rowBytes + (k0 / f.elements) * f.bytes;
        if (r + kPrefetchRows < rowEnd)  // this chunk of a row kPrefetchRows ahead, while this one is computed
          for (int64_t off = 0; off < chunkBytes; off += 64) prefetchLine(wr + kPrefetchRows * rowBytes + off);
        if (q40) dotsQ4_0(isa, wr, nb, act32, chunkBlocks, nt, scratch);
        else dotsK(isa, w.type, wr, nb, actK, chunkBlocks, nt, scratch);
        for (int t = 0; t < nt; ++t) {
          float* out = y + (t0 + t) * ldy + r;
          *out = combine(first ? 0.0f : *out, nb, scratch.dw, mins ? scratch.dmin : nullptr, dx[t],
                         scratch.isum + t * nb, scratch.msum + t * nb);
        }
      }
    }
  }
}

void matmulQuantDequantized(Isa isa, const TensorView& w, const float* x, int64_t T, int64_t ldx, float* y,
                            int64_t ldy, int64_t rowBegin, int64_t rowEnd) {
  if (T <= 0 || rowBegin >= rowEnd) return;
#if REDRAFTER_X86_SIMD
  if (isa != Isa::Portable) return dequantizedAvx2(w, x, T, ldx, y, ldy, rowBegin, rowEnd);
#endif
  (void)isa;
  const BlockFormat f = blockFormat(w.type);
  const int64_t nb = w.cols / f.elements;
  float v[256];
  for (int64_t r = rowBegin; r < rowEnd; ++r)
    for (int64_t t = 0; t < T; ++t) {
      float s = 0;
      for (int64_t b = 0; b < nb; ++b) {
        model::dequantizeBlock(w.type, static_cast<const uint8_t*>(w.data) + (r * nb + b) * f.bytes, v);
        for (int64_t k = 0; k < f.elements; ++k) s += v[k] * x[t * ldx + b * f.elements + k];
      }
      y[t * ldy + r] = s;
    }
}

}  // namespace redrafter::cpu::kernels

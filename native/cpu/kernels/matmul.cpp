// Blocked matrix kernels: a register tile of R weight rows x NT tokens, one SIMD accumulator per (row, token),
// streaming each weight row once per call and converting F16/BF16/Q8 to float on the fly. The per-element
// reduction order (see matmul.h) depends only on the ISA and K, never on R, NT, T or the thread split.
#include "cpu/kernels/matmul.h"

#include <cstring>
#include <string>
#include <utility>

#include "cpu/kernels/packed_matmul.h"
#include "cpu/kernels/quant_matmul.h"
#include "cpu/kernels/simd.h"
#include "cpu/kernels/weight_access.h"
#include "cpu/kernels/avx2_reduce.h"

#include "cpu/kernels/x86_intrinsics.h"

namespace redrafter::cpu::kernels {
namespace {

using namespace detail;

// ---- portable: 8 interleaved partial sums, then a fixed pairwise sum, then the tail ---------------------
constexpr int kPortableLanes = 8;

inline float portableSum(const float* lane) {
  float a = (lane[0] + lane[4]) + (lane[2] + lane[6]);
  float b = (lane[1] + lane[5]) + (lane[3] + lane[7]);
  return a + b;
}

void matmulPortable(const TensorView& w, const float* x, int64_t T, int64_t ldx, float* y, int64_t ldy,
                    int64_t rowBegin, int64_t rowEnd) {
  const int64_t K = w.cols;
  const int64_t Kv = K - K % kPortableLanes;
  float row[4096];
  for (int64_t r = rowBegin; r < rowEnd; ++r) {
    // dequantise the row chunk by chunk, apply it to every token
    float lanes[64][kPortableLanes];  // up to 64 tokens per pass
    for (int64_t t0 = 0; t0 < T; t0 += 64) {
      int64_t nt = T - t0 < 64 ? T - t0 : 64;
      for (int64_t t = 0; t < nt; ++t)
        for (int l = 0; l < kPortableLanes; ++l) lanes[t][l] = 0.0f;
      for (int64_t k0 = 0; k0 < Kv; k0 += 4096) {
        int64_t kn = Kv - k0 < 4096 ? Kv - k0 : 4096;
        for (int64_t k = 0; k < kn; ++k) row[k] = weightAt(w, r, k0 + k);
        for (int64_t t = 0; t < nt; ++t) {
          const float* xt = x + (t0 + t) * ldx + k0;
          float* acc = lanes[t];
          for (int64_t k = 0; k < kn; k += kPortableLanes)
            for (int l = 0; l < kPortableLanes; ++l) acc[l] += row[k + l] * xt[k + l];
        }
      }
      for (int64_t t = 0; t < nt; ++t) {
        float s = portableSum(lanes[t]);
        const float* xt = x + (t0 + t) * ldx;
        for (int64_t k = Kv; k < K; ++k) s += weightAt(w, r, k) * xt[k];
        y[(t0 + t) * ldy + r] = s;
      }
    }
  }
}

float dotPortable(const float* a, const float* b, int64_t n) {
  float lane[kPortableLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t nv = n - n % kPortableLanes;
  for (int64_t k = 0; k < nv; k += kPortableLanes)
    for (int l = 0; l < kPortableLanes; ++l) lane[l] += a[k + l] * b[k + l];
  float s = portableSum(lane);
  for (int64_t k = nv; k < n; ++k) s += a[k] * b[k];
  return s;
}

#if REDRAFTER_X86_SIMD
// ---- AVX2 + FMA + F16C: 8 lanes --------------------------------------------------------------------------
// Loaders: 8 consecutive weights of row r from column k (k % 8 == 0, k + 8 <= cols) as floats; addr(r, k) is where
// they are stored (for prefetching). kStreamed: the types of a model's weights that the engine keeps row-major (it
// packs F32/F16 and Q8_0 into panels), whose large matrices stream from memory (prefetchedRowBytes).
struct F32Avx2 {
  static constexpr bool kStreamed = false;
  const float* base;
  int64_t cols;
  const void* addr(int64_t r, int64_t k) const { return base + r * cols + k; }
  REDRAFTER_TARGET_AVX2 __m256 load(int64_t r, int64_t k) const { return _mm256_loadu_ps(base + r * cols + k); }
};
struct F16Avx2 {
  static constexpr bool kStreamed = false;
  const uint16_t* base;
  int64_t cols;
  const void* addr(int64_t r, int64_t k) const { return base + r * cols + k; }
  REDRAFTER_TARGET_AVX2 __m256 load(int64_t r, int64_t k) const {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(base + r * cols + k)));
  }
};
struct BF16Avx2 {
  static constexpr bool kStreamed = true;
  const uint16_t* base;
  int64_t cols;
  const void* addr(int64_t r, int64_t k) const { return base + r * cols + k; }
  REDRAFTER_TARGET_AVX2 __m256 load(int64_t r, int64_t k) const {
    __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(base + r * cols + k)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
  }
};
struct Q80Avx2 {
  static constexpr bool kStreamed = false;
  const uint8_t* base;
  int64_t rowBytes;
  const void* addr(int64_t r, int64_t k) const { return base + r * rowBytes + (k / kQ8Block) * kQ8BlockBytes; }
  REDRAFTER_TARGET_AVX2 __m256 load(int64_t r, int64_t k) const {
    const uint8_t* block = base + r * rowBytes + (k / kQ8Block) * kQ8BlockBytes;
    __m256 d = _mm256_set1_ps(_cvtsh_ss(loadU16(block)));
    __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(block + 2 + k % kQ8Block));
    return _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)));
  }
};
// Q8_G_F32 (llama2.c runq): int8 weights in groups of `group` over the flattened tensor, one float scale per group,
// so a vector of weights may straddle groups. Which group a flat index falls in, without a 64-bit division per vector
// (two of them per load made these kernels 6-14x slower than float32 on the same matrix): the quotient through a
// double reciprocal, then corrected by one either way (the index is exact in a double, the product off by less than
// one).
struct Q8GGroups {
  const float* scales;
  int64_t group;
  double inverse;
  Q8GGroups(const float* s, int64_t g) : scales(s), group(g), inverse(1.0 / static_cast<double>(g)) {}
  int64_t of(int64_t i) const {
    int64_t g = static_cast<int64_t>(static_cast<double>(i) * inverse);
    g -= g * group > i;
    g += (g + 1) * group <= i;
    return g;
  }
};

// The common case (llama2.c's export takes a power-of-two group that divides dim): groups of 2^shift weights, a
// whole number of them per row, none shorter than a vector, so every vector lies in one group, found by a shift.
inline int q8gAlignedShift(const TensorView& w, int64_t lanes) {
  const int64_t group = w.groupSize;
  if (group < lanes || (group & (group - 1)) != 0 || w.cols % group != 0) return -1;
  int shift = 0;
  while ((int64_t(1) << shift) < group) ++shift;
  return shift;
}

struct Q8GAlignedAvx2 {
  static constexpr bool kStreamed = true;
  const int8_t* base;
  const float* scales;
  int64_t cols;
  int shift;
  const void* addr(int64_t r, int64_t k) const { return base + r * cols + k; }
  REDRAFTER_TARGET_AVX2 __m256 load(int64_t r, int64_t k) const {
    const int64_t i = r * cols + k;
    const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(base + i));
    return _mm256_mul_ps(_mm256_broadcast_ss(scales + (i >> shift)), _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)));
  }
};

// Any other group size: the rows of Q8GAvx2 and Q8GAvx512.
struct Q8GRows {
  static constexpr bool kStreamed = true;
  const int8_t* base;
  Q8GGroups groups;
  int64_t cols;
  explicit Q8GRows(const TensorView& w)
      : base(static_cast<const int8_t*>(w.data)), groups(w.scales, w.groupSize), cols(w.cols) {}
  const void* addr(int64_t r, int64_t k) const { return base + r * cols + k; }
};

struct Q8GAvx2 : Q8GRows {
  using Q8GRows::Q8GRows;
  REDRAFTER_TARGET_AVX2 __m256 load(int64_t r, int64_t k) const {
    const int64_t i = r * cols + k;
    const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(base + i));
    const int64_t g = groups.of(i), into = i - g * groups.group;  // lanes [0, group - into) are in group g
    __m256 s = _mm256_set1_ps(groups.scales[g]);
    if (into + 8 > groups.group) {  // the vector straddles groups: inline (a call would spill the tile's registers)
      const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
      if (groups.group >= 8) {  // two groups: g's lanes, then g + 1's
        const __m256i inG = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(groups.group - into)), lane);
        s = _mm256_blendv_ps(_mm256_set1_ps(groups.scales[g + 1]), s, _mm256_castsi256_ps(inG));
      } else {  // groups under 8 weights: lane j is in group g + (into + j) / group (exact in float: small integers)
        const __m256 pos = _mm256_add_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(lane, _mm256_set1_epi32(int(into)))),
                                         _mm256_set1_ps(0.5f));
        const __m256i offset =
            _mm256_cvttps_epi32(_mm256_mul_ps(pos, _mm256_set1_ps(1.0f / static_cast<float>(groups.group))));
        s = _mm256_i32gather_ps(groups.scales + g, offset, 4);
      }
    }
    return _mm256_mul_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)));
  }
};

// A part of the next panel to prefetch while a tile runs: pfLines 64-byte lines from pf, for each of the tile's R
// rows (pfStride bytes apart), spread evenly over the tile's pass.
struct PrefetchPlan {
  const char* pf = nullptr;
  int64_t pfStride = 0;
  int64_t pfLines = 0;
};

// One step of a tile's pass of `steps`: pfLines lines over the pass, a line for each of the R rows whenever the
// credit reaches `steps`.
template <int R>
inline void prefetchStep(const PrefetchPlan& plan, int64_t steps, int64_t& credit, int64_t& line) {
  if (plan.pfLines <= 0) return;
  credit += plan.pfLines;
  for (; credit >= steps; credit -= steps, ++line)
    for (int r = 0; r < R; ++r) _mm_prefetch(plan.pf + r * plan.pfStride + line * 64, _MM_HINT_T1);
}

// Whether the row-major tiles (other than AVX2's panels for 4 <= T <= 16, which prefetch anyway) prefetch the rows
// after theirs: for the model weights the engine keeps row-major (L::kStreamed: BF16, llama2.c's Q8_G), which stream
// from memory and would otherwise wait on every line (a 92 MB Q8_G model decoded 2.2x faster with AVX-512 this way),
// and not for the other types or small matrices (the drafter's, the tests'): read from the caches, a tile only pays
// for the prefetches (up to 1.5x a float32 one-token call).
constexpr int64_t kStreamedMatrixBytes = 256 * 1024;

// The bytes of a row of w where its tiles prefetch rows, else 0 (once per call).
template <class L>
int64_t prefetchedRowBytes(const TensorView& w, bool prefetchNext) {
  if (!L::kStreamed || !prefetchNext) return 0;
  const BlockFormat f = blockFormat(w.type);
  const int64_t rowBytes = w.cols / f.elements * f.bytes;
  return w.rows * rowBytes >= kStreamedMatrixBytes ? rowBytes : 0;
}

// The R rows after a tile's rows [r, r + R), whole, for the tile to prefetch over its pass (none where rowBytes is 0
// or no R rows follow; none at compile time for the other loaders, whose tiles then keep their registers).
template <class L>
PrefetchPlan nextRows(const TensorView& w, int64_t r, int64_t R, int64_t rowEnd, int64_t rowBytes) {
  PrefetchPlan plan;
  if constexpr (L::kStreamed) {
    if (rowBytes == 0 || r + 2 * R > rowEnd) return plan;
    plan.pf = static_cast<const char*>(w.data) + (r + R) * rowBytes;
    plan.pfStride = rowBytes;
    plan.pfLines = (rowBytes + 63) / 64;
  }
  return plan;
}

template <class L, int R, int NT>
REDRAFTER_TARGET_AVX2 void tileAvx2(const L& ld, const TensorView& w, int64_t r0, const float* x, int64_t ldx,
                                    float* y, int64_t ldy, PrefetchPlan plan = {}) {
  const int64_t K = w.cols, Kv = K & ~int64_t(7);
  __m256 acc[R][NT];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < NT; ++t) acc[r][t] = _mm256_setzero_ps();
  const int64_t steps = Kv / 8;
  int64_t credit = 0, line = 0;
  for (int64_t k = 0; k < Kv; k += 8) {
    prefetchStep<R>(plan, steps, credit, line);
    __m256 xv[NT];
    for (int t = 0; t < NT; ++t) xv[t] = _mm256_loadu_ps(x + t * ldx + k);
    for (int r = 0; r < R; ++r) {
      __m256 wv = ld.load(r0 + r, k);
      for (int t = 0; t < NT; ++t) acc[r][t] = _mm256_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < NT; ++t) {
      float s = hsum8(acc[r][t]);
      for (int64_t k = Kv; k < K; ++k) s = fmaScalar(weightAt(w, r0 + r, k), x[t * ldx + k], s);
      y[t * ldy + r0 + r] = s;
    }
}

// Rows [r0, r0 + R) applied to all T tokens, token group after token group; the first group's tile (the one that
// streams the rows from memory) runs `plan`.
template <class L, int R>
REDRAFTER_TARGET_AVX2 void rowsAvx2(const L& ld, const TensorView& w, int64_t r0, const float* x, int64_t T,
                                    int64_t ldx, float* y, int64_t ldy, PrefetchPlan plan = {}) {
  auto first = [&plan] { return std::exchange(plan, PrefetchPlan{}); };
  int64_t t = 0;
  if (R <= 2) {
    for (; t + 4 <= T; t += 4) tileAvx2<L, R, 4>(ld, w, r0, x + t * ldx, ldx, y + t * ldy, ldy, first());
    if (T - t == 3) tileAvx2<L, R, 3>(ld, w, r0, x + t * ldx, ldx, y + t * ldy, ldy, first());
  } else {
    for (; t + 2 <= T; t += 2) tileAvx2<L, R, 2>(ld, w, r0, x + t * ldx, ldx, y + t * ldy, ldy, first());
  }
  int64_t left = T - t;
  if (R <= 2 && left == 3) return;
  if (left == 2) tileAvx2<L, R, 2>(ld, w, r0, x + t * ldx, ldx, y + t * ldy, ldy, first());
  else if (left == 1) tileAvx2<L, R, 1>(ld, w, r0, x + t * ldx, ldx, y + t * ldy, ldy, first());
}

// Rows in panels of 4..16 rows (panelRowsFor: up to ~96 KB, kept in L2), each panel applied to the tokens three (or two) at a
// time with 4-row x 3-token (4 x 2) tiles: four weight-row streams at once, and each loaded (converted) weight vector
// feeds three FMAs. Streaming a large model's weights from memory on Zen 3, this is 25-60% faster than 2 x 4 tiles
// for 5 <= T <= 16 (F16 and F32); every element is still reduced in the same order, so results are bit-identical.
// Without prefetching, the first token group of a panel waits on memory and the others compute from L2 while memory
// idles (a T = 8 forward cost about one T = 1 forward plus two thirds of its arithmetic); so every group prefetches
// its slice of the next panel (software prefetch, spread over its pass) and the stream overlaps the arithmetic.
// A panel holds 4..16 rows (a multiple of 4) and about kPanelBytes of weights, so that it, the next panel being
// prefetched and the tokens' x rows fit in L2 together (512 KB per core on Zen 3) even for long rows (FFN down).
constexpr int64_t kPanelBytes = 96 * 1024;

inline int64_t panelRowsFor(int64_t rowBytes) {
  int64_t rows = (kPanelBytes / (rowBytes > 0 ? rowBytes : 1)) & ~int64_t(3);
  return rows < 4 ? 4 : rows > 16 ? 16 : rows;
}

template <class L>
REDRAFTER_TARGET_AVX2 void panelsAvx2(const L& ld, const TensorView& w, const float* x, int64_t T, int64_t ldx,
                                      float* y, int64_t ldy, int64_t rowBegin, int64_t rowEnd, bool prefetchNext) {
  const int64_t groups = T <= 2 ? 1 : T == 4 ? 2 : (T + 2) / 3;  // token groups per panel (3, 3, ..., then 2 or 1)
  const char* row0 = static_cast<const char*>(ld.addr(0, 0));
  const int64_t rowBytes = static_cast<const char*>(ld.addr(1, 0)) - row0;
  const int64_t kPanelRows = panelRowsFor(rowBytes);
  for (int64_t p = rowBegin; p < rowEnd; p += kPanelRows) {
    const int64_t pe = p + kPanelRows < rowEnd ? p + kPanelRows : rowEnd;
    for (int64_t t = 0, group = 0; t < T; ++group) {
      const float* xt = x + t * ldx;
      float* yt = y + t * ldy;
      int64_t r = p;
      const int64_t left = T - t;
      // Each token group prefetches its share of the next panel's rows (group g: the g-th of `groups` column
      // slices), so the next panel streams in from memory while this one is computed from L2.
      auto plan = [&](int64_t row, int64_t rows) {
        PrefetchPlan pl;
        if (!prefetchNext || row + kPanelRows + rows > rowEnd) return pl;
        const int64_t begin = (rowBytes * group / groups) & ~int64_t(63);
        const int64_t end = group + 1 == groups ? rowBytes : (rowBytes * (group + 1) / groups) & ~int64_t(63);
        pl.pf = row0 + (row + kPanelRows) * rowBytes + begin;
        pl.pfStride = rowBytes;
        pl.pfLines = (end - begin + 63) / 64;
        return pl;
      };
      if (left >= 3 && left != 4) {  // 4 x 3: 12 accumulators, each converted weight vector feeds three FMAs
        for (; r + 4 <= pe; r += 4) tileAvx2<L, 4, 3>(ld, w, r, xt, ldx, yt, ldy, plan(r, 4));
        for (; r < pe; ++r) tileAvx2<L, 1, 3>(ld, w, r, xt, ldx, yt, ldy, plan(r, 1));
        t += 3;
        continue;
      }
      t += left >= 2 ? 2 : 1;
      if (left >= 2) {
        for (; r + 4 <= pe; r += 4) tileAvx2<L, 4, 2>(ld, w, r, xt, ldx, yt, ldy, plan(r, 4));
        for (; r < pe; ++r) tileAvx2<L, 1, 2>(ld, w, r, xt, ldx, yt, ldy, plan(r, 1));
      } else {
        for (; r + 4 <= pe; r += 4) tileAvx2<L, 4, 1>(ld, w, r, xt, ldx, yt, ldy, plan(r, 4));
        for (; r < pe; ++r) tileAvx2<L, 1, 1>(ld, w, r, xt, ldx, yt, ldy, plan(r, 1));
      }
    }
  }
}

template <class L>
REDRAFTER_TARGET_AVX2 void matmulAvx2With(const L& ld, const TensorView& w, const float* x, int64_t T, int64_t ldx,
                                          float* y, int64_t ldy, int64_t rowBegin, int64_t rowEnd,
                                          bool prefetchNext) {
  int64_t r = rowBegin;
  if (T >= 4 && T <= 16) {  // tree verification sizes
    return panelsAvx2(ld, w, x, T, ldx, y, ldy, rowBegin, rowEnd, prefetchNext);
  }
  const int64_t prefetchRowBytes = prefetchedRowBytes<L>(w, prefetchNext);
  if (T >= 4) {  // 2 rows x 4 tokens: conversions amortised over 4 tokens
    for (; r + 2 <= rowEnd; r += 2)
      rowsAvx2<L, 2>(ld, w, r, x, T, ldx, y, ldy, nextRows<L>(w, r, 2, rowEnd, prefetchRowBytes));
  } else if (T == 1) {  // decode: 8 rows x 1 token, enough independent FMA chains and loads in flight
    for (; r + 8 <= rowEnd; r += 8)
      tileAvx2<L, 8, 1>(ld, w, r, x, ldx, y, ldy, nextRows<L>(w, r, 8, rowEnd, prefetchRowBytes));
  } else {  // 4 rows x 2-3 tokens
    for (; r + 4 <= rowEnd; r += 4)
      rowsAvx2<L, 4>(ld, w, r, x, T, ldx, y, ldy, nextRows<L>(w, r, 4, rowEnd, prefetchRowBytes));
  }
  for (; r < rowEnd; ++r) rowsAvx2<L, 1>(ld, w, r, x, T, ldx, y, ldy);
}

REDRAFTER_TARGET_AVX2 void matmulAvx2(const TensorView& w, const float* x, int64_t T, int64_t ldx, float* y,
                                      int64_t ldy, int64_t rowBegin, int64_t rowEnd, bool prefetchNext) {
  switch (w.type) {
    case DType::F32:
      return matmulAvx2With(F32Avx2{static_cast<const float*>(w.data), w.cols}, w, x, T, ldx, y, ldy, rowBegin, rowEnd,
                            prefetchNext);
    case DType::F16:
      return matmulAvx2With(F16Avx2{static_cast<const uint16_t*>(w.data), w.cols}, w, x, T, ldx, y, ldy, rowBegin,
                            rowEnd, prefetchNext);
    case DType::BF16:
      return matmulAvx2With(BF16Avx2{static_cast<const uint16_t*>(w.data), w.cols}, w, x, T, ldx, y, ldy, rowBegin,
                            rowEnd, prefetchNext);
    case DType::Q8_0:
      return matmulAvx2With(Q80Avx2{static_cast<const uint8_t*>(w.data), (w.cols / kQ8Block) * kQ8BlockBytes}, w, x,
                            T, ldx, y, ldy, rowBegin, rowEnd, prefetchNext);
    case DType::Q8_G_F32:
      if (const int shift = q8gAlignedShift(w, 8); shift >= 0)
        return matmulAvx2With(Q8GAlignedAvx2{static_cast<const int8_t*>(w.data), w.scales, w.cols, shift}, w, x, T,
                              ldx, y, ldy, rowBegin, rowEnd, prefetchNext);
      return matmulAvx2With(Q8GAvx2(w), w, x, T, ldx, y, ldy, rowBegin, rowEnd, prefetchNext);
    default: return;  // the 4-6 bit types: matmulQuant (quant_matmul.h)
  }
}

REDRAFTER_TARGET_AVX2 float dotAvx2(const float* a, const float* b, int64_t n) {
  int64_t nv = n & ~int64_t(7);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t k = 0; k < nv; k += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), acc);
  float s = hsum8(acc);
  for (int64_t k = nv; k < n; ++k) s = fmaScalar(a[k], b[k], s);
  return s;
}

// ---- AVX-512F: 16 lanes ----------------------------------------------------------------------------------
REDRAFTER_TARGET_AVX512 inline float hsum16(__m512 v) {
  __m256 lo = _mm512_castps512_ps256(v);
  __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
  __m256 s8 = _mm256_add_ps(lo, hi);
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

REDRAFTER_TARGET_AVX512 inline float fmaScalar512(float a, float b, float c) {
  return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
}

struct F32Avx512 {
  static constexpr bool kStreamed = false;
  const float* base;
  int64_t cols;
  REDRAFTER_TARGET_AVX512 __m512 load(int64_t r, int64_t k) const { return _mm512_loadu_ps(base + r * cols + k); }
};
struct F16Avx512 {
  static constexpr bool kStreamed = false;
  const uint16_t* base;
  int64_t cols;
  REDRAFTER_TARGET_AVX512 __m512 load(int64_t r, int64_t k) const {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(base + r * cols + k)));
  }
};
struct BF16Avx512 {
  static constexpr bool kStreamed = true;
  const uint16_t* base;
  int64_t cols;
  REDRAFTER_TARGET_AVX512 __m512 load(int64_t r, int64_t k) const {
    __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(base + r * cols + k)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
  }
};
struct Q80Avx512 {
  static constexpr bool kStreamed = false;
  const uint8_t* base;
  int64_t rowBytes;
  REDRAFTER_TARGET_AVX512 __m512 load(int64_t r, int64_t k) const {
    const uint8_t* block = base + r * rowBytes + (k / kQ8Block) * kQ8BlockBytes;
    __m512 d = _mm512_set1_ps(_cvtsh_ss(loadU16(block)));
    __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 2 + k % kQ8Block));
    return _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)));
  }
};
struct Q8GAlignedAvx512 {  // as Q8GAlignedAvx2, groups of 16 or more
  static constexpr bool kStreamed = true;
  const int8_t* base;
  const float* scales;
  int64_t cols;
  int shift;
  REDRAFTER_TARGET_AVX512 __m512 load(int64_t r, int64_t k) const {
    const int64_t i = r * cols + k;
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(base + i));
    return _mm512_mul_ps(_mm512_set1_ps(scales[i >> shift]), _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)));
  }
};
struct Q8GAvx512 : Q8GRows {  // as Q8GAvx2, 16 lanes
  using Q8GRows::Q8GRows;
  REDRAFTER_TARGET_AVX512 __m512 load(int64_t r, int64_t k) const {
    const int64_t i = r * cols + k;
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(base + i));
    const int64_t g = groups.of(i), into = i - g * groups.group;
    __m512 s = _mm512_set1_ps(groups.scales[g]);
    if (into + 16 > groups.group) {
      const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
      if (groups.group >= 16) {
        const __mmask16 inG = _mm512_cmpgt_epi32_mask(_mm512_set1_epi32(static_cast<int>(groups.group - into)), lane);
        s = _mm512_mask_blend_ps(inG, _mm512_set1_ps(groups.scales[g + 1]), s);
      } else {
        const __m512 pos = _mm512_add_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(lane, _mm512_set1_epi32(int(into)))),
                                         _mm512_set1_ps(0.5f));
        const __m512i offset =
            _mm512_cvttps_epi32(_mm512_mul_ps(pos, _mm512_set1_ps(1.0f / static_cast<float>(groups.group))));
        s = _mm512_i32gather_ps(offset, groups.scales + g, 4);
      }
    }
    return _mm512_mul_ps(s, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)));
  }
};

template <class L, int R, int NT>
REDRAFTER_TARGET_AVX512 void tileAvx512(const L& ld, const TensorView& w, int64_t r0, const float* x, int64_t ldx,
                                        float* y, int64_t ldy, PrefetchPlan plan = {}) {
  const int64_t K = w.cols, Kv = K & ~int64_t(15);
  __m512 acc[R][NT];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_setzero_ps();
  const int64_t steps = Kv / 16;
  int64_t credit = 0, line = 0;
  for (int64_t k = 0; k < Kv; k += 16) {
    if constexpr (L::kStreamed) prefetchStep<R>(plan, steps, credit, line);  // no other type is given a plan
    __m512 xv[NT];
    for (int t = 0; t < NT; ++t) xv[t] = _mm512_loadu_ps(x + t * ldx + k);
    for (int r = 0; r < R; ++r) {
      __m512 wv = ld.load(r0 + r, k);
      for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < NT; ++t) {
      float s = hsum16(acc[r][t]);
      for (int64_t k = Kv; k < K; ++k) s = fmaScalar512(weightAt(w, r0 + r, k), x[t * ldx + k], s);
      y[t * ldy + r0 + r] = s;
    }
}

template <class L, int R>  // as rowsAvx2
REDRAFTER_TARGET_AVX512 void rowsAvx512(const L& ld, const TensorView& w, int64_t r0, const float* x, int64_t T,
                                        int64_t ldx, float* y, int64_t ldy, PrefetchPlan plan = {}) {
  auto first = [&plan] { return std::exchange(plan, PrefetchPlan{}); };
  int64_t t = 0;
  for (; t + 4 <= T; t += 4) tileAvx512<L, R, 4>(ld, w, r0, x + t * ldx, ldx, y + t * ldy, ldy, first());
  int64_t left = T - t;
  if (left == 3) tileAvx512<L, R, 3>(ld, w, r0, x + t * ldx, ldx, y + t * ldy, ldy, first());
  else if (left == 2) tileAvx512<L, R, 2>(ld, w, r0, x + t * ldx, ldx, y + t * ldy, ldy, first());
  else if (left == 1) tileAvx512<L, R, 1>(ld, w, r0, x + t * ldx, ldx, y + t * ldy, ldy, first());
}

template <class L>
REDRAFTER_TARGET_AVX512 void matmulAvx512With(const L& ld, const TensorView& w, const float* x, int64_t T,
                                              int64_t ldx, float* y, int64_t ldy, int64_t rowBegin, int64_t rowEnd,
                                              bool prefetchNext) {
  int64_t r = rowBegin;
  const int64_t prefetchRowBytes = prefetchedRowBytes<L>(w, prefetchNext);
  for (; r + 4 <= rowEnd; r += 4)
    rowsAvx512<L, 4>(ld, w, r, x, T, ldx, y, ldy, nextRows<L>(w, r, 4, rowEnd, prefetchRowBytes));
  for (; r < rowEnd; ++r) rowsAvx512<L, 1>(ld, w, r, x, T, ldx, y, ldy);
}

REDRAFTER_TARGET_AVX512 void matmulAvx512(const TensorView& w, const float* x, int64_t T, int64_t ldx, float* y,
                                          int64_t ldy, int64_t rowBegin, int64_t rowEnd, bool prefetchNext) {
  switch (w.type) {
    case DType::F32:
      return matmulAvx512With(F32Avx512{static_cast<const float*>(w.data), w.cols}, w, x, T, ldx, y, ldy, rowBegin,
                              rowEnd, prefetchNext);
    case DType::F16:
      return matmulAvx512With(F16Avx512{static_cast<const uint16_t*>(w.data), w.cols}, w, x, T, ldx, y, ldy,
                              rowBegin, rowEnd, prefetchNext);
    case DType::BF16:
      return matmulAvx512With(BF16Avx512{static_cast<const uint16_t*>(w.data), w.cols}, w, x, T, ldx, y, ldy,
                              rowBegin, rowEnd, prefetchNext);
    case DType::Q8_0:
      return matmulAvx512With(Q80Avx512{static_cast<const uint8_t*>(w.data), (w.cols / kQ8Block) * kQ8BlockBytes},
                              w, x, T, ldx, y, ldy, rowBegin, rowEnd, prefetchNext);
    case DType::Q8_G_F32:
      if (const int shift = q8gAlignedShift(w, 16); shift >= 0)
        return matmulAvx512With(Q8GAlignedAvx512{static_cast<const int8_t*>(w.data), w.scales, w.cols, shift}, w, x,
                                T, ldx, y, ldy, rowBegin, rowEnd, prefetchNext);
      return matmulAvx512With(Q8GAvx512(w), w, x, T, ldx, y, ldy, rowBegin, rowEnd, prefetchNext);
    default: return;  // the 4-6 bit types: matmulQuant (quant_matmul.h)
  }
}

REDRAFTER_TARGET_AVX512 float dotAvx512(const float* a, const float* b, int64_t n) {
  int64_t nv = n & ~int64_t(15);
  __m512 acc = _mm512_setzero_ps();
  for (int64_t k = 0; k < nv; k += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + k), _mm512_loadu_ps(b + k), acc);
  float s = hsum16(acc);
  for (int64_t k = nv; k < n; ++k) s = fmaScalar512(a[k], b[k], s);
  return s;
}
#endif  // REDRAFTER_X86_SIMD

}  // namespace

void matmulRows(Isa isa, const TensorView& w, const float* x, int64_t T, int64_t ldx, float* y, int64_t ldy,
                int64_t rowBegin, int64_t rowEnd) {
  if (T <= 0 || rowBegin >= rowEnd) return;
  if (w.layout != Layout::RowMajor) return matmulPacked(isa, w, x, T, ldx, y, ldy, rowBegin, rowEnd);
  if (isQuantType(w.type)) return matmulQuant(isa, w, x, T, ldx, y, ldy, rowBegin, rowEnd);
#if REDRAFTER_X86_SIMD
  if (isa == Isa::Avx512) return matmulAvx512(w, x, T, ldx, y, ldy, rowBegin, rowEnd, true);
  if (isa == Isa::Avx2) return matmulAvx2(w, x, T, ldx, y, ldy, rowBegin, rowEnd, true);
#endif
  matmulPortable(w, x, T, ldx, y, ldy, rowBegin, rowEnd);
}

void matmulRowsWithoutPrefetch(Isa isa, const TensorView& w, const float* x, int64_t T, int64_t ldx, float* y,
                         int64_t ldy, int64_t rowBegin, int64_t rowEnd) {
  if (T <= 0 || rowBegin >= rowEnd) return;
  if (w.layout != Layout::RowMajor) return matmulPacked(isa, w, x, T, ldx, y, ldy, rowBegin, rowEnd);
  if (isQuantType(w.type)) return matmulQuant(isa, w, x, T, ldx, y, ldy, rowBegin, rowEnd);
#if REDRAFTER_X86_SIMD
  if (isa == Isa::Avx512) return matmulAvx512(w, x, T, ldx, y, ldy, rowBegin, rowEnd, false);
  if (isa == Isa::Avx2) return matmulAvx2(w, x, T, ldx, y, ldy, rowBegin, rowEnd, false);
#endif
  matmulPortable(w, x, T, ldx, y, ldy, rowBegin, rowEnd);
}

float dot(Isa isa, const float* a, const float* b, int64_t n) {
#if REDRAFTER_X86_SIMD
  if (isa == Isa::Avx512) return dotAvx512(a, b, n);
  if (isa == Isa::Avx2) return dotAvx2(a, b, n);
#endif
  return dotPortable(a, b, n);
}

namespace {
inline const float* rowAt(const float* rows, int64_t stride, const int32_t* index, int64_t i) {
  return rows + (index ? static_cast<int64_t>(index[i]) : i) * stride;
}
void dotRowsPortable(const float* q, const float* rows, int64_t stride, const int32_t* index, int64_t count, int64_t n,
                     float scale, float* out) {
  for (int64_t i = 0; i < count; ++i) out[i] = dotPortable(q, rowAt(rows, stride, index, i), n) * scale;
}
#if REDRAFTER_X86_SIMD
// dotAvx2 of 8-float rows, 8 rows at a time: each row's products and hsum8's tree ((l0+l4)+(l2+l6)) +
// ((l1+l5)+(l3+l7)), computed for 8 rows side by side (the same additions of the same operands, so the same bits).
REDRAFTER_TARGET_AVX2 void dot8Rows8(const float* q, const float* const* r, float scale, float* out) {
  const __m256 qv = _mm256_loadu_ps(q), zero = _mm256_setzero_ps();
  __m256 p[8];
  for (int i = 0; i < 8; ++i) p[i] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r[i]), zero);
  __m256 a[4];  // rows 2j and 2j+1: [l0+l4, l1+l5, l2+l6, l3+l7] each
  for (int j = 0; j < 4; ++j)
    a[j] = _mm256_add_ps(_mm256_permute2f128_ps(p[2 * j], p[2 * j + 1], 0x20),
                         _mm256_permute2f128_ps(p[2 * j], p[2 * j + 1], 0x31));
  __m256 b[2];  // rows (4j, 4j+2 | 4j+1, 4j+3): [(l0+l4)+(l2+l6), (l1+l5)+(l3+l7)] each
  for (int j = 0; j < 2; ++j)
    b[j] = _mm256_add_ps(_mm256_shuffle_ps(a[2 * j], a[2 * j + 1], 0x44), _mm256_shuffle_ps(a[2 * j], a[2 * j + 1], 0xEE));
  // rows (0, 2, 4, 6 | 1, 3, 5, 7)
  const __m256 c = _mm256_add_ps(_mm256_shuffle_ps(b[0], b[1], 0x88), _mm256_shuffle_ps(b[0], b[1], 0xDD));
  const __m256 ordered = _mm256_permutevar8x32_ps(c, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_ps(out, _mm256_mul_ps(ordered, _mm256_set1_ps(scale)));
}

REDRAFTER_TARGET_AVX2 void dotRowsAvx2(const float* q, const float* rows, int64_t stride, const int32_t* index,
                                       int64_t count, int64_t n, float scale, float* out) {
  int64_t i = 0;
  if (n == 8)
    for (; i + 8 <= count; i += 8) {
      const float* r[8];
      for (int j = 0; j < 8; ++j) r[j] = rowAt(rows, stride, index, i + j);
      dot8Rows8(q, r, scale, out + i);
    }
  for (; i < count; ++i) out[i] = dotAvx2(q, rowAt(rows, stride, index, i), n) * scale;
}
REDRAFTER_TARGET_AVX512 void dotRowsAvx512(const float* q, const float* rows, int64_t stride, const int32_t* index,
                                           int64_t count, int64_t n, float scale, float* out) {
  // no whole 16-float vector: dotAvx512 would be a chain of scalar FMAs
  if (n < 16) return dotRowsAvx2(q, rows, stride, index, count, n, scale, out);
  for (int64_t i = 0; i < count; ++i) out[i] = dotAvx512(q, rowAt(rows, stride, index, i), n) * scale;
}
#endif
}  // namespace

void dotRows(Isa isa, const float* q, const float* rows, int64_t stride, const int32_t* index, int64_t count, int64_t n,
             float scale, float* out) {
#if REDRAFTER_X86_SIMD
  if (isa == Isa::Avx512) return dotRowsAvx512(q, rows, stride, index, count, n, scale, out);
  if (isa == Isa::Avx2) return dotRowsAvx2(q, rows, stride, index, count, n, scale, out);
#endif
  dotRowsPortable(q, rows, stride, index, count, n, scale, out);
}

bool supportsLayout(const TensorView& w, std::string* why) {
  if (w.type == DType::Q8_0 && w.cols % kQ8Block != 0) {
    if (why) *why = "Q8_0 tensor with " + std::to_string(w.cols) + " columns (not a multiple of 32)";
    return false;
  }
  if (isQuantType(w.type) && w.cols % blockFormat(w.type).elements != 0) {
    if (why)
      *why = std::string(dtypeName(w.type)) + " tensor with " + std::to_string(w.cols) + " columns (not a multiple of " +
             std::to_string(blockFormat(w.type).elements) + ")";
    return false;
  }
  if (w.type == DType::Q8_G_F32) {
    if (!w.scales || w.groupSize <= 0) {
      if (why) *why = "int8 tensor without scales or with group size " + std::to_string(w.groupSize);
      return false;
    }
  }
  return true;
}

}  // namespace redrafter::cpu::kernels

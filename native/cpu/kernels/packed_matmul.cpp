// Packing into 16-row panels and the packed matmul (see packed_matmul.h for the layout and the reduction order).
// AVX2 tiles: NP panels (2 x NP row vectors) x NT tokens, NP * NT accumulators of 16 rows: 4 x 1 for T = 1 (eight
// independent FMA chains), 2 x 2 for T = 2, and 1 x up to 6 for T >= 3 (the tokens split into groups of at most 6,
// as even as possible; each converted weight vector feeds up to 6 FMAs). AVX-512 tiles: 8 x 1, 4 x 2, and for
// T >= 3 as many panels as the 32 registers allow with every token in one pass (4 x 3..6, 3 x 7..8, 2 x 9..12).
// Accumulators live in registers inside a k-block and in a small buffer between blocks, so the order per element
// never changes. 8-row panels (Layout::Panels8, the AVX2 engine's) have tiles of their own (packed8Avx2With), and so
// do Q4_0 block panels (blockPanels) and Q8_0 block panels (integer dot products: q8PanelsAvx2).
#include "cpu/kernels/packed_matmul.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "cpu/kernels/activation_quant.h"
#include "cpu/kernels/simd.h"
#include "cpu/kernels/weight_access.h"

#if REDRAFTER_X86_SIMD
#include <immintrin.h>
#endif

namespace redrafter::cpu::kernels {
namespace {
// Tiles prefetch (into L1) each panel's weights this far ahead of the column they compute. With 3 or more tokens
// the loop is long (a weight vector feeds 3-12 FMAs), so the out-of-order window holds too few of the stream's
// loads to keep memory busy: without it the 8-token AVX-512 forward cost 1.46x the one-token one against 1.16-1.19x
// with it (2 threads streaming 1.2 GB of f32 panels, interleaved minima; 512 bytes ahead: 1.41x, 16 KiB: 1.24x;
// 2 and 8 KiB measured worse again for f16 at T = 1 and 8). The one- and two-token tiles prefetch too (AVX-512 f16:
// 12% less time for one token, f32: the same for one, 7% less for two; AVX2 f16 two tokens 1.25x -> 1.09x the
// one-token time, f32 1.11x -> 1.05x).
constexpr int64_t kStreamPrefetchBytes = 4096;
// The address kStreamPrefetchBytes past p (as an integer: past a matrix's end it points nowhere, which a prefetch
// allows and pointer arithmetic would not).
inline const char* aheadOf(const void* p) {
  return reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(p) + uintptr_t(kStreamPrefetchBytes));
}

using namespace detail;
constexpr int64_t P = kPackedPanelRows;

int64_t elementBytes(DType type) { return type == DType::F32 ? 4 : 2; }

// Copies y's rows [rowBegin, rowEnd) of the pr-row panel `panel` for NT tokens out of acc [NT][pr].
inline void storePanel(const float* acc, int64_t nt, int64_t panel, float* y, int64_t ldy, int64_t rowBegin,
                       int64_t rowEnd, int64_t pr = P) {
  const int64_t r0 = panel * pr;
  const int64_t lo = std::max(rowBegin, r0), hi = std::min(rowEnd, r0 + pr);
  for (int64_t t = 0; t < nt; ++t)
    std::memcpy(y + t * ldy + lo, acc + t * pr + (lo - r0), sizeof(float) * static_cast<size_t>(hi - lo));
}

bool isBlockPanelType(DType type) { return type == DType::Q8_0 || type == DType::Q4_0; }

// out [kn][16] = columns [k0, k0 + kn) of panel p of Q4_0 panels as float (k0 and kn multiples of 32).
void decodeQ4Panel(const TensorView& w, int64_t p, int64_t k0, int64_t kn, float* out) {
  for (int64_t j = k0 / kPanelBlockCols; j < (k0 + kn) / kPanelBlockCols; ++j) {
    const uint8_t* b = static_cast<const uint8_t*>(w.data) + panelBlockOffset(w.type, p, j, w.cols);
    const uint8_t* q = b + 2 * P;
    float* o = out + (j * kPanelBlockCols - k0) * P;
    for (int64_t i = 0; i < P; ++i) {
      const float d = fp16ToF32(loadU16(b + 2 * i));
      for (int64_t k = 0; k < kPanelBlockCols; ++k)
        o[k * P + i] = d * float(int((q[k / 2 * P + i] >> (4 * (k % 2))) & 15) - 8);
    }
  }
}

// ---- portable reference (F32/F16/Q4_0): per panel, a k-chunk converted to float, applied to every token in k order
void packedPortable(const TensorView& w, const float* x, int64_t T, int64_t ldx, float* y, int64_t ldy,
                    int64_t rowBegin, int64_t rowEnd) {
  const int64_t K = w.cols, chunk = 256, pr = panelRowsOf(w.layout);
  std::vector<float> panelChunk(static_cast<size_t>(chunk * pr));  // [k, pr]
  std::vector<float> acc(static_cast<size_t>(T * pr));             // [T, pr]
  for (int64_t p = rowBegin / pr; p * pr < rowEnd; ++p) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int64_t k0 = 0; k0 < K; k0 += chunk) {
      const int64_t kn = std::min(chunk, K - k0);
      const int64_t base = (p * K + k0) * pr;
      if (w.type == DType::Q4_0) {
        decodeQ4Panel(w, p, k0, kn, panelChunk.data());
      } else if (w.type == DType::F32) {
        std::memcpy(panelChunk.data(), static_cast<const float*>(w.data) + base, sizeof(float) * kn * pr);
      } else {
        const uint16_t* h = static_cast<const uint16_t*>(w.data) + base;
        for (int64_t i = 0; i < kn * pr; ++i) panelChunk[i] = fp16ToF32(h[i]);
      }
      for (int64_t t = 0; t < T; ++t) {
        float* a = acc.data() + t * pr;
        const float* xt = x + t * ldx + k0;
        for (int64_t k = 0; k < kn; ++k) {
          const float* wk = panelChunk.data() + k * pr;
          for (int64_t i = 0; i < pr; ++i) a[i] += wk[i] * xt[k];
        }
      }
    }
    storePanel(acc.data(), T, p, y, ldy, rowBegin, rowEnd, pr);
  }
}

// ---- Q8_0 block panels: the weights' int8 quants against the activations' (activation_quant.h), as llama.cpp
// computes Q8_0. For each token t and row r, over the row's blocks j in order, from 0.0f, every operation rounded
// separately (as quant_matmul.h's combine; no FMA):
//   acc = acc + (d_w[r, j] * d_x[t, j]) * float(isum),  isum = sum_k q_w[r, 32 j + k] * q_x[t, 32 j + k] (exact)
// so y[t, r] depends only on row r and token t's activations: the same bits on every ISA, for every T and row split.

// The activations x [T, ldx] as Act32 blocks [T][nb], in a buffer of the calling thread that grows to the largest
// call and is kept (no allocation once warm).
const Act32* quantizedActivations(Isa isa, const float* x, int64_t T, int64_t ldx, int64_t nb) {
  thread_local std::vector<Act32> buffer;
  if (buffer.size() < static_cast<size_t>(T * nb)) buffer.resize(static_cast<size_t>(T * nb));
  for (int64_t t = 0; t < T; ++t) quantizeAct32Blocks(isa, x + t * ldx, nb, buffer.data() + t * nb);
  return buffer.data();
}

void q8PanelsPortable(const TensorView& w, const Act32* act, int64_t T, float* y, int64_t ldy, int64_t rowBegin,
                      int64_t rowEnd) {
  const int64_t nb = w.cols / kPanelBlockCols;
  for (int64_t r = rowBegin; r < rowEnd; ++r) {
    const int64_t p = r / P, i = r % P;
    for (int64_t t = 0; t < T; ++t) {
      float acc = 0.0f;
      for (int64_t j = 0; j < nb; ++j) {
        const uint8_t* b = static_cast<const uint8_t*>(w.data) + panelBlockOffset(w.type, p, j, w.cols);
        const Act32& a = act[t * nb + j];
        int32_t isum = 0;
        for (int64_t k = 0; k < kPanelBlockCols; ++k)
          isum += int32_t(int8_t(b[2 * P + panelQ8Index(i, k)])) * a.qs[k];
        const volatile float term = (fp16ToF32(loadU16(b + 2 * i)) * a.d) * float(isum);  // volatile: no FMA
        acc = acc + term;
      }
      y[t * ldy + r] = acc;
    }
  }
}

#if REDRAFTER_X86_SIMD
// ---- AVX2 + FMA + F16C -----------------------------------------------------------------------------------
// Loaders: the 8 weights of half h (rows 8h..8h+7) of a panel's column at q (q = the column's first weight).
struct PackedF32Avx2 {
  using Elem = float;
  const float* base;
  REDRAFTER_TARGET_AVX2 __m256 load(const float* q, int h) const { return _mm256_loadu_ps(q + 8 * h); }
};
struct PackedF16Avx2 {
  using Elem = uint16_t;
  const uint16_t* base;
  REDRAFTER_TARGET_AVX2 __m256 load(const uint16_t* q, int h) const {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 8 * h)));
  }
};

// Where a token group prefetches (into L2) its share of the next panel while it computes: the byte at pf + k * step
// at column k (PF tiles only).
struct PanelPrefetch {
  const char* pf = nullptr;
  int64_t step = 0;
};

// acc [NP][NT][16] (+)= panels p0..p0+NP-1 x tokens 0..NT-1 over columns [k0, k1), sequentially in k.
template <class L, int NP, int NT, bool PF = false>
REDRAFTER_TARGET_AVX2 inline void packedTileBody(const L& ld, int64_t K, int64_t p0, int64_t k0, int64_t k1,
                                                 const float* x, int64_t ldx, float* acc, bool fresh,
                                                 PanelPrefetch pre = {}) {
  __m256 a[NP][2][NT];
  for (int n = 0; n < NP; ++n)
    for (int h = 0; h < 2; ++h)
      for (int t = 0; t < NT; ++t)
        a[n][h][t] = fresh ? _mm256_setzero_ps() : _mm256_loadu_ps(acc + (n * NT + t) * P + 8 * h);
  const typename L::Elem* q[NP];
  for (int n = 0; n < NP; ++n) q[n] = ld.base + ((p0 + n) * K + k0) * P;
  const char* pf = pre.pf + k0 * pre.step;
  for (int64_t k = k0; k < k1; ++k) {
    if (PF) {
      _mm_prefetch(pf, _MM_HINT_T1);
      pf += pre.step;
    }
    for (int n = 0; n < NP; ++n) _mm_prefetch(aheadOf(q[n]), _MM_HINT_T0);
    __m256 wv[NP][2];
    for (int n = 0; n < NP; ++n) {
      wv[n][0] = ld.load(q[n], 0);
      wv[n][1] = ld.load(q[n], 1);
      q[n] += P;
    }
    for (int t = 0; t < NT; ++t) {
      const __m256 xb = _mm256_broadcast_ss(x + t * ldx + k);
      for (int n = 0; n < NP; ++n)
        for (int h = 0; h < 2; ++h) a[n][h][t] = _mm256_fmadd_ps(wv[n][h], xb, a[n][h][t]);
    }
  }
  for (int n = 0; n < NP; ++n)
    for (int h = 0; h < 2; ++h)
      for (int t = 0; t < NT; ++t) _mm256_storeu_ps(acc + (n * NT + t) * P + 8 * h, a[n][h][t]);
}

// packedTileBody, not inlined: inlined into packedAvx2With's token-group loop, GCC 12 stores the accumulators to the
// stack on every step (2.3x slower).
template <class L, int NP, int NT, bool PF = false>
__attribute__((noinline)) REDRAFTER_TARGET_AVX2 void packedTile(const L& ld, int64_t K, int64_t p0, int64_t k0,
                                                                int64_t k1, const float* x, int64_t ldx, float* acc,
                                                                bool fresh, PanelPrefetch pre = {}) {
  packedTileBody<L, NP, NT, PF>(ld, K, p0, k0, k1, x, ldx, acc, fresh, pre);
}

// One token group of 1..6 tokens on one panel (prefetching pre.pf's slice of the next panel, if any).
template <class L, bool PF>
REDRAFTER_TARGET_AVX2 void groupTileOf(const L& ld, int64_t K, int64_t p, int64_t k0, int64_t k1, const float* x,
                                       int64_t ldx, int64_t nt, float* acc, bool fresh, PanelPrefetch pre) {
  switch (nt) {
    case 1: return packedTile<L, 1, 1, PF>(ld, K, p, k0, k1, x, ldx, acc, fresh, pre);
    case 2: return packedTile<L, 1, 2, PF>(ld, K, p, k0, k1, x, ldx, acc, fresh, pre);
    case 3: return packedTile<L, 1, 3, PF>(ld, K, p, k0, k1, x, ldx, acc, fresh, pre);
    case 4: return packedTile<L, 1, 4, PF>(ld, K, p, k0, k1, x, ldx, acc, fresh, pre);
    case 5: return packedTile<L, 1, 5, PF>(ld, K, p, k0, k1, x, ldx, acc, fresh, pre);
    default: return packedTile<L, 1, 6, PF>(ld, K, p, k0, k1, x, ldx, acc, fresh, pre);
  }
}

template <class L>
REDRAFTER_TARGET_AVX2 void groupTile(const L& ld, int64_t K, int64_t p, int64_t k0, int64_t k1, const float* x,
                                     int64_t ldx, int64_t nt, float* acc, bool fresh, PanelPrefetch pre = {}) {
  if (pre.pf) return groupTileOf<L, true>(ld, K, p, k0, k1, x, ldx, nt, acc, fresh, pre);
  return groupTileOf<L, false>(ld, K, p, k0, k1, x, ldx, nt, acc, fresh, pre);
}

// T <= 2: NP panels at a time (4 for T = 1, 2 for T = 2), so that there are 8 independent FMA chains.
template <class L, int NP, int NT>
REDRAFTER_TARGET_AVX2 void fewTokens(const L& ld, int64_t K, const float* x, int64_t ldx, float* y, int64_t ldy,
                                     int64_t rowBegin, int64_t rowEnd) {
  alignas(32) float acc[NP * NT * P];
  const int64_t pEnd = (rowEnd + P - 1) / P;
  int64_t p = rowBegin / P;
  for (; p + NP <= pEnd; p += NP) {
    packedTileBody<L, NP, NT>(ld, K, p, 0, K, x, ldx, acc, true);
    for (int n = 0; n < NP; ++n) storePanel(acc + n * NT * P, NT, p + n, y, ldy, rowBegin, rowEnd);
  }
  for (; p < pEnd; ++p) {
    packedTile<L, 1, NT>(ld, K, p, 0, K, x, ldx, acc, true);
    storePanel(acc, NT, p, y, ldy, rowBegin, rowEnd);
  }
}

template <class L>
REDRAFTER_TARGET_AVX2 void packedAvx2With(const L& ld, int64_t K, const float* x, int64_t T, int64_t ldx, float* y,
                                          int64_t ldy, int64_t rowBegin, int64_t rowEnd, int64_t kBlock) {
  if (T == 1) return fewTokens<L, 4, 1>(ld, K, x, ldx, y, ldy, rowBegin, rowEnd);
  if (T == 2) return fewTokens<L, 2, 2>(ld, K, x, ldx, y, ldy, rowBegin, rowEnd);
  // T >= 3: groups of at most 6 tokens, sizes as even as possible (8 = 4 + 4, 12 = 6 + 6, 16 = 6 + 5 + 5)
  const int64_t groups = (T + 5) / 6, small = T / groups, bigger = T % groups;
  alignas(32) float local[64 * P];
  std::vector<float> heap;
  float* acc = local;
  if (T > 64) {
    heap.resize(static_cast<size_t>(T * P));
    acc = heap.data();
  }
  const int64_t kb = kBlock > 0 ? kBlock : K;
  // With several token groups, only the first would wait on memory and the others compute from L2 while memory idles;
  // so group g prefetches the g-th of `groups` slices of the next panel (contiguous: K * 16 weights), spread over its
  // pass, and the stream overlaps the arithmetic. One group (T = 3..6) prefetches the whole next panel too: one
  // panel is a single stream, and the hardware prefetcher alone runs too little ahead of it (f16: 30% faster; f32
  // with the stream prefetch: T = 4 / 6 cost 1.36 / 1.40x the one-token time without it, 1.21 / 1.25x with it).
  const bool prefetch = true;
  const int64_t panelBytes = K * P * static_cast<int64_t>(sizeof(typename L::Elem));
  const int64_t sliceBytes = (panelBytes + groups - 1) / groups;
  const int64_t step = (sliceBytes + K - 1) / K;
  const int64_t pEnd = (rowEnd + P - 1) / P;
  for (int64_t p = rowBegin / P; p * P < rowEnd; ++p) {
    const char* next =
        prefetch && p + 1 < pEnd ? reinterpret_cast<const char*>(ld.base + (p + 1) * K * P) : nullptr;
    for (int64_t k0 = 0; k0 < K; k0 += kb) {
      const int64_t k1 = std::min(K, k0 + kb);
      for (int64_t g = 0, t0 = 0; g < groups; ++g) {
        const int64_t nt = small + (g < bigger ? 1 : 0);
        PanelPrefetch pre;
        if (next) pre = {next + g * sliceBytes, step};
        groupTile(ld, K, p, k0, k1, x + t0 * ldx, ldx, nt, acc + t0 * P, k0 == 0, pre);
        t0 += nt;
      }
    }
    storePanel(acc, T, p, y, ldy, rowBegin, rowEnd);
  }
}

// ---- AVX2 over 8-row panels (Layout::Panels8) ---------------------------------------------------------------
// One ymm holds a panel's column, so a tile of NP panels x NT tokens needs NP * NT accumulators, NP weights and one
// broadcast (panels8For): a verification of 8 tokens is one pass over the weights (16-row panels need two: 16
// registers hold 16 rows x 6 tokens at most). 2 threads streaming 1.2 GB of
// f32, T = 8 over T = 1: 1.21-1.25x against 1.50-1.52x over 16-row panels (bench/RESULTS.md, fourth round). The
// same fma(W[r, k], x[t, k], acc) sequence over k as every other packed tile, so the same bits.
template <class L, int NP, int NT>
__attribute__((noinline)) REDRAFTER_TARGET_AVX2 void tile8Avx2(const L& ld, int64_t K, int64_t p0, const float* x,
                                                             int64_t ldx, float* out) {
  // F16 with 7-8 tokens: one prefetch per 64-byte line (every 4th column), into L2. TinyLlama-shape f16 model, T = 8
  // forward: 121-124 ms against 131-138 ms with a prefetch into L1 at every column. F32 measured worse with it
  // (dim-1536 model: T = 8 at 1.24-1.27x the one-token forward against 1.19x; adding a prefetch into L1 512 bytes
  // ahead: 1.28-1.31x), and so did f16 with 4 tokens on 3 panels in a 1.2 GB harness (1.37-1.41x against 1.02-1.04x).
  constexpr bool kLinePrefetch = sizeof(typename L::Elem) == 2 && NT >= 7;
  constexpr int64_t kPerLine = 64 / (8 * int64_t(sizeof(typename L::Elem)));
  constexpr int64_t R = 8;
  __m256 a[NP][NT];
  REDRAFTER_UNROLL
  for (int n = 0; n < NP; ++n)
    REDRAFTER_UNROLL
    for (int t = 0; t < NT; ++t) a[n][t] = _mm256_setzero_ps();
  const typename L::Elem* q[NP];
  REDRAFTER_UNROLL
  for (int n = 0; n < NP; ++n) q[n] = ld.base + (p0 + n) * K * R;
  for (int64_t k = 0; k < K; ++k) {
    __m256 wv[NP];
    REDRAFTER_UNROLL
    for (int n = 0; n < NP; ++n) {
      if (!kLinePrefetch) _mm_prefetch(aheadOf(q[n]), _MM_HINT_T0);
      else if ((k & (kPerLine - 1)) == 0) _mm_prefetch(aheadOf(q[n]), _MM_HINT_T1);
      wv[n] = ld.load(q[n], 0);
      q[n] += R;
    }
    REDRAFTER_UNROLL
    for (int t = 0; t < NT; ++t) {
      const __m256 xb = _mm256_broadcast_ss(x + t * ldx + k);
      REDRAFTER_UNROLL
      for (int n = 0; n < NP; ++n) a[n][t] = _mm256_fmadd_ps(wv[n], xb, a[n][t]);
    }
  }
  REDRAFTER_UNROLL
  for (int n = 0; n < NP; ++n)
    REDRAFTER_UNROLL
    for (int t = 0; t < NT; ++t) _mm256_storeu_ps(out + (n * NT + t) * R, a[n][t]);
}

// The most tokens a tile of NP 8-row panels keeps in registers (NP * NT accumulators + NP weights + 1 broadcast
// <= 16), and the panels a group of nt tokens takes at once: enough FMA chains and weight streams in flight for few
// tokens (4 x 1, 4 x 2, 3 x 3..4, 2 x 5..6), every token in one pass for up to 8.
constexpr int maxTokens8(int np) { return np >= 4 ? 2 : np == 3 ? 4 : np == 2 ? 6 : 8; }
constexpr int64_t panels8For(int64_t nt) { return nt <= 2 ? 4 : nt <= 4 ? 3 : nt <= 6 ? 2 : 1; }

// One tile of np (1..NP) panels x nt (1..maxTokens8(NP)) tokens into out [np][nt][8].
template <class L, int NP, int NT = 1>
REDRAFTER_TARGET_AVX2 void tile8Of(const L& ld, int64_t K, int64_t p, int64_t np, const float* x, int64_t ldx,
                                   int64_t nt, float* out) {
  if constexpr (NT < maxTokens8(NP)) {
    if (nt > NT) return tile8Of<L, NP, NT + 1>(ld, K, p, np, x, ldx, nt, out);
  }
  if constexpr (NP > 1) {
    if (np < NP) return tile8Of<L, NP - 1, NT>(ld, K, p, np, x, ldx, nt, out);
  }
  tile8Avx2<L, NP, NT>(ld, K, p, x, ldx, out);
}

template <class L>
REDRAFTER_TARGET_AVX2 void packed8Avx2With(const L& ld, int64_t K, const float* x, int64_t T, int64_t ldx, float* y,
                                           int64_t ldy, int64_t rowBegin, int64_t rowEnd) {
  constexpr int64_t R = 8;
  alignas(32) float tile[16 * R];
  const int64_t pEnd = (rowEnd + R - 1) / R;
  // up to 8 tokens: one group, every token in one pass; more (prefill chunks): groups of at most 6 on 2 panels, sizes
  // as even as possible (16 = 6 + 5 + 5), the later groups reading the panels from L2 (groups of 8 on one panel:
  // T = 16 cost 1.77x the one-token forward against 1.46x)
  const int64_t groups = T <= 8 ? 1 : (T + 5) / 6, small = T / groups, bigger = T % groups;
  const int64_t panels = panels8For(small + (bigger > 0 ? 1 : 0));
  for (int64_t p = rowBegin / R; p < pEnd; p += panels) {
    const int64_t np = std::min(panels, pEnd - p);
    for (int64_t g = 0, t0 = 0; g < groups; ++g) {
      const int64_t nt = small + (g < bigger ? 1 : 0);
      if (panels == 4) tile8Of<L, 4>(ld, K, p, np, x + t0 * ldx, ldx, nt, tile);
      else if (panels == 3) tile8Of<L, 3>(ld, K, p, np, x + t0 * ldx, ldx, nt, tile);
      else if (panels == 2) tile8Of<L, 2>(ld, K, p, np, x + t0 * ldx, ldx, nt, tile);
      else tile8Of<L, 1>(ld, K, p, np, x + t0 * ldx, ldx, nt, tile);
      for (int64_t n = 0; n < np; ++n) storePanel(tile + n * nt * R, nt, p + n, y + t0 * ldy, ldy, rowBegin, rowEnd, R);
      t0 += nt;
    }
  }
}

// ---- AVX-512 ------------------------------------------------------------------------------------------------
// One zmm holds a panel's whole column (16 rows), so a tile of NP panels x NT tokens keeps NP * NT accumulators in
// registers (32 zmm: up to 2 x 12 + 2 weights + 1 broadcast) and each loaded weight vector feeds NT FMAs: twice the
// AVX2 tile's work per instruction, which is what lets a verification forward of 8-16 tokens cost about what reading
// the weights costs. Per element it is the same fma(W[r, k], x[t, k], acc) sequence over k as the AVX2 kernel, so
// the two give the same bits.
struct PackedF32Avx512 {
  using Elem = float;
  const float* base;
  REDRAFTER_TARGET_AVX512 __m512 load(const float* q) const { return _mm512_loadu_ps(q); }
};
struct PackedF16Avx512 {
  using Elem = uint16_t;
  const uint16_t* base;
  REDRAFTER_TARGET_AVX512 __m512 load(const uint16_t* q) const {
    // the masked form: GCC 12 warns that _mm512_cvtph_ps's undefined pass-through may be used uninitialized
    return _mm512_mask_cvtph_ps(_mm512_setzero_ps(), __mmask16(0xFFFF), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q)));
  }
};

// acc [NP][NT][16] (+)= panels p0..p0+NP-1 x tokens 0..NT-1 over columns [k0, k1), sequentially in k; with PF,
// prefetches (into L2) the byte at pre.pf + k * pre.step at column k.
template <class L, int NP, int NT, bool PF>
__attribute__((noinline)) REDRAFTER_TARGET_AVX512 void packedTile512(const L& ld, int64_t K, int64_t p0, int64_t k0,
                                                                   int64_t k1, const float* x, int64_t ldx,
                                                                   float* acc, bool fresh, PanelPrefetch pre) {
  __m512 a[NP][NT];
  for (int n = 0; n < NP; ++n)
    for (int t = 0; t < NT; ++t) a[n][t] = fresh ? _mm512_setzero_ps() : _mm512_loadu_ps(acc + (n * NT + t) * P);
  const typename L::Elem* q[NP];
  for (int n = 0; n < NP; ++n) q[n] = ld.base + ((p0 + n) * K + k0) * P;
  const char* pf = pre.pf + k0 * pre.step;
  for (int64_t k = k0; k < k1; ++k) {
    if (PF) {
      _mm_prefetch(pf, _MM_HINT_T1);
      pf += pre.step;
    }
    for (int n = 0; n < NP; ++n) _mm_prefetch(aheadOf(q[n]), _MM_HINT_T0);
    __m512 wv[NP];
    for (int n = 0; n < NP; ++n) {
      wv[n] = ld.load(q[n]);
      q[n] += P;
    }
    for (int t = 0; t < NT; ++t) {
      const __m512 xb = _mm512_set1_ps(x[t * ldx + k]);
      for (int n = 0; n < NP; ++n) a[n][t] = _mm512_fmadd_ps(wv[n], xb, a[n][t]);
    }
  }
  for (int n = 0; n < NP; ++n)
    for (int t = 0; t < NT; ++t) _mm512_storeu_ps(acc + (n * NT + t) * P, a[n][t]);
}

// The most tokens a tile of NP panels keeps in registers: NP * NT accumulators + NP weights + 1 broadcast <= 32.
constexpr int maxTokens512(int np) { return np <= 2 ? 12 : np == 3 ? 8 : 6; }
// The panels a one-group tile of T = 3..12 tokens takes at once: as many as the registers allow. More panels are
// more streams in flight, which is what keeps memory busy while the long loop computes (2 threads streaming 1.2 GB
// of panels, interleaved medians, T = 4 / 6 / 8 over T = 1: f32 1.11 / 1.17 / 1.16 with 2 panels, 1.05 / 1.07 /
// 1.09 with 4, 4 and 3; f16 1.18 / 1.22 / 1.30 against 1.07 / 1.10 / 1.18). Splitting the tokens into groups to
// take more panels costs more than it gains: each later group reads the panels again from L2 (f16 T = 8 as 4 + 4
// tokens on 4 panels: 1.47).
constexpr int64_t panelsFor512(int64_t T) { return T <= 6 ? 4 : T <= 8 ? 3 : 2; }

// One token group of 1..maxTokens512(NP) tokens on NP panels.
template <class L, int NP, bool PF, int NT = 1>
REDRAFTER_TARGET_AVX512 void group512Of(const L& ld, int64_t K, int64_t p, int64_t k0, int64_t k1, const float* x,
                                        int64_t ldx, int64_t nt, float* acc, bool fresh, PanelPrefetch pre) {
  if constexpr (NT < maxTokens512(NP)) {
    if (nt > NT) return group512Of<L, NP, PF, NT + 1>(ld, K, p, k0, k1, x, ldx, nt, acc, fresh, pre);
  }
  packedTile512<L, NP, NT, PF>(ld, K, p, k0, k1, x, ldx, acc, fresh, pre);
}

template <class L, int NP>
REDRAFTER_TARGET_AVX512 void group512(const L& ld, int64_t K, int64_t p, int64_t k0, int64_t k1, const float* x,
                                      int64_t ldx, int64_t nt, float* acc, bool fresh, PanelPrefetch pre) {
  if (pre.pf) return group512Of<L, NP, true>(ld, K, p, k0, k1, x, ldx, nt, acc, fresh, pre);
  return group512Of<L, NP, false>(ld, K, p, k0, k1, x, ldx, nt, acc, fresh, pre);
}

// group512 on the np (1..4) panels from p: tile [np][nt][16] in registers; acc [np][T][16] holds each panel's
// accumulators between k-blocks and token groups (the group's tokens at offset t0).
template <class L>
REDRAFTER_TARGET_AVX512 void panelsGroup512(const L& ld, int64_t K, int64_t p, int64_t np, int64_t k0, int64_t k1,
                                            const float* x, int64_t ldx, int64_t T, int64_t t0, int64_t nt,
                                            float* acc, PanelPrefetch pre) {
  if (np == 1) return group512<L, 1>(ld, K, p, k0, k1, x, ldx, nt, acc + t0 * P, k0 == 0, pre);
  alignas(64) float tile[24 * P];
  if (k0 > 0)
    for (int64_t n = 0; n < np; ++n) std::memcpy(tile + n * nt * P, acc + (n * T + t0) * P, sizeof(float) * nt * P);
  if (np == 2) group512<L, 2>(ld, K, p, k0, k1, x, ldx, nt, tile, k0 == 0, pre);
  else if (np == 3) group512<L, 3>(ld, K, p, k0, k1, x, ldx, nt, tile, k0 == 0, pre);
  else group512<L, 4>(ld, K, p, k0, k1, x, ldx, nt, tile, k0 == 0, pre);
  for (int64_t n = 0; n < np; ++n) std::memcpy(acc + (n * T + t0) * P, tile + n * nt * P, sizeof(float) * nt * P);
}

// T <= 2: NP panels at a time (8 for T = 1, 4 for T = 2: eight independent FMA chains), single panels at the end.
template <class L, int NP, int NT>
REDRAFTER_TARGET_AVX512 void fewTokens512(const L& ld, int64_t K, const float* x, int64_t ldx, float* y, int64_t ldy,
                                          int64_t rowBegin, int64_t rowEnd) {
  alignas(64) float acc[NP * NT * P];
  const int64_t pEnd = (rowEnd + P - 1) / P;
  int64_t p = rowBegin / P;
  for (; p + NP <= pEnd; p += NP) {
    packedTile512<L, NP, NT, false>(ld, K, p, 0, K, x, ldx, acc, true, {});
    for (int n = 0; n < NP; ++n) storePanel(acc + n * NT * P, NT, p + n, y, ldy, rowBegin, rowEnd);
  }
  for (; p < pEnd; ++p) {
    packedTile512<L, 1, NT, false>(ld, K, p, 0, K, x, ldx, acc, true, {});
    storePanel(acc, NT, p, y, ldy, rowBegin, rowEnd);
  }
}

// T >= 3: panelsFor512(T) panels at a time with one token group (T <= 12); more tokens: pairs of panels, the tokens
// in groups of at most 12 (sizes as even as possible: 16 = 8 + 8, 33 = 11 + 11 + 11), and, as in the AVX2 kernel,
// each group prefetches its slice of the next panels. One group has the stream prefetch alone: adding the
// next-panel prefetch at F16, as the AVX2 kernel does, made T = 4/6/8 1.08/1.15/1.22x the T = 1 time against
// 1.02/1.05/1.12x without it (2 threads, 1.2 GB of f16 panels, interleaved medians; 2 panels per tile then).
template <class L>
REDRAFTER_TARGET_AVX512 void packedAvx512With(const L& ld, int64_t K, const float* x, int64_t T, int64_t ldx,
                                              float* y, int64_t ldy, int64_t rowBegin, int64_t rowEnd,
                                              int64_t kBlock, float* acc) {
  if (T == 1) return fewTokens512<L, 8, 1>(ld, K, x, ldx, y, ldy, rowBegin, rowEnd);
  if (T == 2) return fewTokens512<L, 4, 2>(ld, K, x, ldx, y, ldy, rowBegin, rowEnd);
  const int64_t groups = (T + 11) / 12, small = T / groups, bigger = T % groups;
  const int64_t kb = kBlock > 0 ? kBlock : K;
  const bool prefetch = groups > 1;
  const int64_t panelBytes = K * P * static_cast<int64_t>(sizeof(typename L::Elem));
  const int64_t pEnd = (rowEnd + P - 1) / P;
  const int64_t panels = groups == 1 ? panelsFor512(T) : 2;
  for (int64_t p = rowBegin / P; p < pEnd;) {
    const int64_t np = std::min(panels, pEnd - p);
    const int64_t nextCount = std::min<int64_t>(2, pEnd - (p + np));
    const char* next = prefetch && nextCount > 0 ? reinterpret_cast<const char*>(ld.base + (p + np) * K * P) : nullptr;
    const int64_t sliceBytes = (nextCount * panelBytes + groups - 1) / groups;
    const int64_t step = (sliceBytes + K - 1) / K;
    for (int64_t k0 = 0; k0 < K; k0 += kb) {
      const int64_t k1 = std::min(K, k0 + kb);
      for (int64_t g = 0, t0 = 0; g < groups; ++g) {
        const int64_t nt = small + (g < bigger ? 1 : 0);
        PanelPrefetch pre;
        if (next) pre = {next + g * sliceBytes, step};
        panelsGroup512(ld, K, p, np, k0, k1, x + t0 * ldx, ldx, T, t0, nt, acc, pre);
        t0 += nt;
      }
    }
    for (int64_t n = 0; n < np; ++n) storePanel(acc + n * T * P, T, p + n, y, ldy, rowBegin, rowEnd);
    p += np;
  }
}

// ---- Q4_0 block panels (core/tensor.h) ------------------------------------------------------------------------
// Each weight vector is decoded to float32 exactly (d * (q - 8): at most 15 significant bits), then applied as an
// F32 weight: y[t, r] is the F32 packed kernel's sum over the dequantised values, bit for bit. Tiles keep every
// token of a group in one pass over whole rows (no k-blocks): NP panels x NT tokens.

// uint8 x 16 -> int32 x 16, in the masked form (GCC 12 warns that the plain form's undefined pass-through may be
// used uninitialized; with a full mask it is the same instruction)
REDRAFTER_TARGET_AVX512 inline __m512i int32sOfUint8(__m128i v) {
  return _mm512_maskz_cvtepu8_epi32(__mmask16(0xFFFF), v);
}

// Decoders: columns 2m and 2m + 1 of the block whose quants start at q, as two float vectors (AVX-512: the 16 rows;
// AVX2: the 8 rows of half h), given the block's scale d and c = -kMagic * d.
//
// A quant n (the nibble - 8) is decoded without an int-to-float conversion: the integer kMagicBits + n, read as a
// float, is exactly kMagic + n (kMagic = 1.5 * 2^23, whose float spacing is 1), and fma(kMagic + n, d, c) rounds the
// exact value (kMagic + n) * d - kMagic * d = n * d once. n * d is representable (4 bits times d's 11-bit fp16
// significand) and so is c (kMagic = 3 * 2^22 has 2 significant bits), so the weight is exactly d * n, with one
// FMA-port operation per vector where the conversion and the multiply took two (AVX2 q4_0 drafting was bound by
// them: as slow as q8_0 at half the bytes).
constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
constexpr int32_t kMagicBits = 0x4B400000;

struct BlockQ4Avx512 {
  static constexpr DType type = DType::Q4_0;
  REDRAFTER_TARGET_AVX512 static void pair(const uint8_t* q, int m, __m512 d, __m512 c, __m512& w0, __m512& w1) {
    const __m512i b = int32sOfUint8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 16 * m)));
    const __m512i magic = _mm512_set1_epi32(kMagicBits - 8);  // the nibble's offset of 8 folded in
    w0 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_add_epi32(_mm512_and_si512(b, _mm512_set1_epi32(15)), magic)), d, c);
    w1 = _mm512_fmadd_ps(
        _mm512_castsi512_ps(_mm512_add_epi32(_mm512_maskz_srli_epi32(__mmask16(0xFFFF), b, 4), magic)), d, c);
  }
};
struct BlockQ4Avx2 {
  static constexpr DType type = DType::Q4_0;
  REDRAFTER_TARGET_AVX2 static void pair(const uint8_t* q, int m, int h, __m256 d, __m256 c, __m256& w0,
                                         __m256& w1) {
    const __m256i b = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + 16 * m + 8 * h)));
    const __m256i magic = _mm256_set1_epi32(kMagicBits - 8);
    w0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_add_epi32(_mm256_and_si256(b, _mm256_set1_epi32(15)), magic)), d, c);
    w1 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_add_epi32(_mm256_srli_epi32(b, 4), magic)), d, c);
  }
};

// Prefetches (into L1) the kStreamPrefetchBytes-ahead copy of a block of `bytes` bytes at b.
inline void prefetchBlockAhead(const uint8_t* b, int64_t bytes) {
  for (int64_t off = 0; off < bytes; off += 64) _mm_prefetch(aheadOf(b) + off, _MM_HINT_T0);
}

// out [NP][NT][16] = panels p0..p0+NP-1 (all K columns) x tokens 0..NT-1.
template <class B, int NP, int NT>
__attribute__((noinline)) REDRAFTER_TARGET_AVX512 void blockTile512(const uint8_t* base, int64_t K, int64_t p0,
                                                                  const float* x, int64_t ldx, float* out) {
  constexpr int64_t bb = panelBlockBytes(B::type);
  const int64_t nb = K / kPanelBlockCols;
  __m512 a[NP][NT];
  for (int n = 0; n < NP; ++n)
    for (int t = 0; t < NT; ++t) a[n][t] = _mm512_setzero_ps();
  const uint8_t* blk[NP];
  for (int n = 0; n < NP; ++n) blk[n] = base + (p0 + n) * nb * bb;
  for (int64_t j = 0; j < nb; ++j) {
    __m512 d[NP], c[NP];
    for (int n = 0; n < NP; ++n) {
      prefetchBlockAhead(blk[n], bb);
      d[n] = _mm512_mask_cvtph_ps(_mm512_setzero_ps(), __mmask16(0xFFFF),
                                  _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[n])));
      c[n] = _mm512_mul_ps(d[n], _mm512_set1_ps(-kMagic));
    }
    const float* xj = x + j * kPanelBlockCols;
    for (int m = 0; m < int(kPanelBlockCols / 2); ++m) {
      __m512 w0[NP], w1[NP];
      for (int n = 0; n < NP; ++n) B::pair(blk[n] + 2 * P, m, d[n], c[n], w0[n], w1[n]);
      for (int t = 0; t < NT; ++t) {
        const __m512 xb = _mm512_set1_ps(xj[t * ldx + 2 * m]);
        for (int n = 0; n < NP; ++n) a[n][t] = _mm512_fmadd_ps(w0[n], xb, a[n][t]);
      }
      for (int t = 0; t < NT; ++t) {
        const __m512 xb = _mm512_set1_ps(xj[t * ldx + 2 * m + 1]);
        for (int n = 0; n < NP; ++n) a[n][t] = _mm512_fmadd_ps(w1[n], xb, a[n][t]);
      }
    }
    for (int n = 0; n < NP; ++n) blk[n] += bb;
  }
  for (int n = 0; n < NP; ++n)
    for (int t = 0; t < NT; ++t) _mm512_storeu_ps(out + (n * NT + t) * P, a[n][t]);
}

// The accumulators of an AVX2 block-panel tile, [NP][2][NT]: panel n's two 8-row halves for each token; zeroed, and
// stored to out [NP][NT][16].
template <int NP, int NT>
__attribute__((always_inline)) REDRAFTER_TARGET_AVX2 inline void zeroHalves(__m256 (&a)[NP][2][NT]) {
  REDRAFTER_UNROLL
  for (int n = 0; n < NP; ++n)
    REDRAFTER_UNROLL
    for (int h = 0; h < 2; ++h)
      REDRAFTER_UNROLL
      for (int t = 0; t < NT; ++t) a[n][h][t] = _mm256_setzero_ps();
}
template <int NP, int NT>
__attribute__((always_inline)) REDRAFTER_TARGET_AVX2 inline void storeHalves(const __m256 (&a)[NP][2][NT], float* out) {
  REDRAFTER_UNROLL
  for (int n = 0; n < NP; ++n)
    REDRAFTER_UNROLL
    for (int h = 0; h < 2; ++h)
      REDRAFTER_UNROLL
      for (int t = 0; t < NT; ++t) _mm256_storeu_ps(out + (n * NT + t) * P + 8 * h, a[n][h][t]);
}

template <class B, int NP, int NT>
__attribute__((noinline)) REDRAFTER_TARGET_AVX2 void blockTileAvx2(const uint8_t* base, int64_t K, int64_t p0,
                                                                 const float* x, int64_t ldx, float* out) {
  constexpr int64_t bb = panelBlockBytes(B::type);
  const int64_t nb = K / kPanelBlockCols;
  __m256 a[NP][2][NT];
  zeroHalves(a);
  const uint8_t* blk[NP];
  REDRAFTER_UNROLL
  for (int n = 0; n < NP; ++n) blk[n] = base + (p0 + n) * nb * bb;
  for (int64_t j = 0; j < nb; ++j) {
    __m256 d[NP][2], c[NP][2];
    REDRAFTER_UNROLL
    for (int n = 0; n < NP; ++n) {
      prefetchBlockAhead(blk[n], bb);
      REDRAFTER_UNROLL
      for (int h = 0; h < 2; ++h) {
        d[n][h] = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[n]) + h));
        c[n][h] = _mm256_mul_ps(d[n][h], _mm256_set1_ps(-kMagic));
      }
    }
    const float* xj = x + j * kPanelBlockCols;
    for (int m = 0; m < int(kPanelBlockCols / 2); ++m) {
      REDRAFTER_UNROLL
      for (int n = 0; n < NP; ++n)
        REDRAFTER_UNROLL
        for (int h = 0; h < 2; ++h) {
          __m256 w0, w1;
          B::pair(blk[n] + 2 * P, m, h, d[n][h], c[n][h], w0, w1);
          REDRAFTER_UNROLL
          for (int t = 0; t < NT; ++t) {
            a[n][h][t] = _mm256_fmadd_ps(w0, _mm256_broadcast_ss(xj + t * ldx + 2 * m), a[n][h][t]);
            a[n][h][t] = _mm256_fmadd_ps(w1, _mm256_broadcast_ss(xj + t * ldx + 2 * m + 1), a[n][h][t]);
          }
        }
    }
    REDRAFTER_UNROLL
    for (int n = 0; n < NP; ++n) blk[n] += bb;
  }
  storeHalves(a, out);
}

// One tile of np (1..NP) panels x nt (1..NT) tokens into out [np][nt][16].
template <class B, int NP, int NT, bool Wide>
void blockTileOf(const uint8_t* base, int64_t K, int64_t p, int64_t np, int64_t nt, const float* x, int64_t ldx,
                 float* out) {
  if constexpr (NT > 1) {
    if (nt < NT) return blockTileOf<B, NP, NT - 1, Wide>(base, K, p, np, nt, x, ldx, out);
  }
  if constexpr (NP > 1) {
    if (np < NP) return blockTileOf<B, NP - 1, NT, Wide>(base, K, p, np, nt, x, ldx, out);
  }
  if constexpr (Wide) blockTile512<B, NP, NT>(base, K, p, x, ldx, out);
  else blockTileAvx2<B, NP, NT>(base, K, p, x, ldx, out);
}

// Q4_0 panels: one token: 4 (AVX-512) or 2 (AVX2) panels a tile, 4 or 8 FMA chains; more tokens: 2 panels x up to 8
// tokens (AVX-512) or 1 panel x up to 4 tokens (AVX2, 16 registers), larger T in groups of that many.
template <class B, bool Wide>
void blockPanels(const uint8_t* base, int64_t K, const float* x, int64_t T, int64_t ldx, float* y, int64_t ldy,
                 int64_t rowBegin, int64_t rowEnd) {
  constexpr int kOnePanels = Wide ? 4 : 2, kManyPanels = Wide ? 2 : 1, kGroup = Wide ? 8 : 4;
  alignas(64) float tile[kOnePanels * kGroup * P];
  const int64_t pEnd = (rowEnd + P - 1) / P;
  const int64_t panels = T == 1 ? kOnePanels : kManyPanels;
  for (int64_t p = rowBegin / P; p < pEnd; p += panels) {
    const int64_t np = std::min(panels, pEnd - p);
    for (int64_t t0 = 0; t0 < T; t0 += kGroup) {
      const int64_t nt = std::min<int64_t>(kGroup, T - t0);
      if (T == 1) blockTileOf<B, kOnePanels, 1, Wide>(base, K, p, np, 1, x, ldx, tile);
      else blockTileOf<B, kManyPanels, kGroup, Wide>(base, K, p, np, nt, x + t0 * ldx, ldx, tile);
      for (int64_t n = 0; n < np; ++n) storePanel(tile + n * nt * P, nt, p + n, y + t0 * ldy, ldy, rowBegin, rowEnd);
    }
  }
}

// ---- Q8_0 block panels against 8-bit activations (see q8PanelsPortable for the arithmetic) ----------------------
// Per 4 columns g of a block, a token's 4 quants broadcast to every int32 lane: maddubs(|x|, sign(x) * w) sums the
// pairs into int16 (at most 2 * 127 * 127: no saturation, as |x| and |w| are at most 127), madd with ones sums the
// two pairs into the row's int32 lane, exactly. One 32-byte load covers 8 rows x 4 columns: a block is 16 loads
// where the float decode took 64 conversions and 64 FMAs, so the kernel runs at the speed the weights stream in
// (2 threads over a dim-1536 drafter's 19 MB, from L3: 54 GB/s against 35 GB/s for the float decode; RESULTS.md).
template <int NP, int NT>
__attribute__((noinline)) REDRAFTER_TARGET_AVX2 void q8TileAvx2(const uint8_t* base, int64_t nb, int64_t p0,
                                                              const Act32* act, float* out) {
  constexpr int64_t bb = panelBlockBytes(DType::Q8_0);
  __m256 acc[NP][2][NT];
  zeroHalves(acc);
  const uint8_t* blk[NP];
  REDRAFTER_UNROLL
  for (int n = 0; n < NP; ++n) blk[n] = base + (p0 + n) * nb * bb;
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t j = 0; j < nb; ++j) {
    __m256i s[NP][2][NT];
    REDRAFTER_UNROLL
    for (int n = 0; n < NP; ++n) {
      prefetchBlockAhead(blk[n], bb);
      REDRAFTER_UNROLL
      for (int h = 0; h < 2; ++h)
        REDRAFTER_UNROLL
        for (int t = 0; t < NT; ++t) s[n][h][t] = _mm256_setzero_si256();
    }
    REDRAFTER_UNROLL_2
    for (int g = 0; g < int(kPanelBlockCols / 4); ++g) {
      __m256i xs[NT], xa[NT];
      REDRAFTER_UNROLL
      for (int t = 0; t < NT; ++t) {
        int32_t four;
        std::memcpy(&four, act[t * nb + j].qs + 4 * g, 4);
        xs[t] = _mm256_set1_epi32(four);
        xa[t] = _mm256_abs_epi8(xs[t]);
      }
      REDRAFTER_UNROLL
      for (int n = 0; n < NP; ++n)
        REDRAFTER_UNROLL
        for (int h = 0; h < 2; ++h) {
          const __m256i w =
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[n] + 2 * P + panelQ8Index(8 * h, 4 * g)));
          REDRAFTER_UNROLL
          for (int t = 0; t < NT; ++t)
            s[n][h][t] = _mm256_add_epi32(
                s[n][h][t], _mm256_madd_epi16(_mm256_maddubs_epi16(xa[t], _mm256_sign_epi8(w, xs[t])), ones));
        }
    }
    REDRAFTER_UNROLL
    for (int n = 0; n < NP; ++n)
      REDRAFTER_UNROLL
      for (int h = 0; h < 2; ++h) {
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[n]) + h));
        REDRAFTER_UNROLL
        for (int t = 0; t < NT; ++t) {
          __m256 term = _mm256_mul_ps(_mm256_mul_ps(dw, _mm256_set1_ps(act[t * nb + j].d)),
                                      _mm256_cvtepi32_ps(s[n][h][t]));
          asm("" : "+x"(term));  // an opaque value: the compiler cannot contract the product and the sum into an FMA
          acc[n][h][t] = _mm256_add_ps(acc[n][h][t], term);
        }
      }
    REDRAFTER_UNROLL
    for (int n = 0; n < NP; ++n) blk[n] += bb;
  }
  storeHalves(acc, out);
}

// One token: 2 panels a tile (4 weight loads per broadcast); more: 1 panel x 2 tokens (16 registers), the panel
// read again from L1/L2 for each further pair.
REDRAFTER_TARGET_AVX2 void q8PanelsAvx2(const uint8_t* base, int64_t nb, const Act32* act, int64_t T, float* y,
                                        int64_t ldy, int64_t rowBegin, int64_t rowEnd) {
  alignas(32) float tile[2 * 2 * P];
  const int64_t pEnd = (rowEnd + P - 1) / P;
  const int64_t panels = T == 1 ? 2 : 1;
  for (int64_t p = rowBegin / P; p < pEnd; p += panels) {
    const int64_t np = std::min(panels, pEnd - p);
    for (int64_t t0 = 0; t0 < T; t0 += 2) {
      const int64_t nt = std::min<int64_t>(2, T - t0);
      const Act32* a = act + t0 * nb;
      if (np == 2) q8TileAvx2<2, 1>(base, nb, p, a, tile);
      else if (nt == 2) q8TileAvx2<1, 2>(base, nb, p, a, tile);
      else q8TileAvx2<1, 1>(base, nb, p, a, tile);
      for (int64_t n = 0; n < np; ++n) storePanel(tile + n * nt * P, nt, p + n, y + t0 * ldy, ldy, rowBegin, rowEnd);
    }
  }
}
#endif  // REDRAFTER_X86_SIMD

template <class E>
void packPanelsOf(const E* src, E* dst, int64_t rows, int64_t K, int64_t panelBegin, int64_t panelEnd, int64_t pr) {
  constexpr int64_t chunk = 64;
  for (int64_t p = panelBegin; p < panelEnd; ++p) {
    E* out = dst + p * K * pr;
    for (int64_t k0 = 0; k0 < K; k0 += chunk) {
      const int64_t kn = std::min(chunk, K - k0);
      for (int64_t i = 0; i < pr; ++i) {
        const int64_t r = p * pr + i;
        if (r < rows) {
          const E* in = src + r * K + k0;
          for (int64_t k = 0; k < kn; ++k) out[(k0 + k) * pr + i] = in[k];
        } else {
          for (int64_t k = 0; k < kn; ++k) out[(k0 + k) * pr + i] = E(0);
        }
      }
    }
  }
}

// Row-major ggml Q8_0/Q4_0 blocks rearranged into block panels (core/tensor.h); rows past the end: d = 0, q = 0.
void packBlockPanels(const TensorView& w, uint8_t* dst, int64_t panelBegin, int64_t panelEnd) {
  const BlockFormat f = blockFormat(w.type);
  const int64_t nb = w.cols / kPanelBlockCols, rowBytes = nb * f.bytes, bb = panelBlockBytes(w.type);
  const uint8_t* src = static_cast<const uint8_t*>(w.data);
  for (int64_t p = panelBegin; p < panelEnd; ++p)
    for (int64_t j = 0; j < nb; ++j) {
      uint8_t* out = dst + panelBlockOffset(w.type, p, j, w.cols);
      std::memset(out, 0, static_cast<size_t>(bb));
      uint8_t* q = out + 2 * P;
      for (int64_t i = 0; i < P && p * P + i < w.rows; ++i) {
        const uint8_t* b = src + (p * P + i) * rowBytes + j * f.bytes;  // { fp16 d; quants }
        std::memcpy(out + 2 * i, b, 2);
        if (w.type == DType::Q8_0) {
          for (int64_t k = 0; k < kPanelBlockCols; ++k) {
            if (b[2 + k] == 0x80)  // the integer kernel's sign trick needs |q| <= 127 (packed_matmul.h)
              fail(ErrorCode::Internal, "packPanels: a Q8_0 quant of -128 (ggml's quantisation gives -127..127)");
            q[panelQ8Index(i, k)] = b[2 + k];
          }
        } else {  // ggml Q4_0: value k < 16 in qs[k]'s low nibble, value k + 16 in its high nibble
          auto nibble = [&](int64_t k) { return k < 16 ? b[2 + k] & 15 : b[2 + k - 16] >> 4; };
          for (int64_t m = 0; m < kPanelBlockCols / 2; ++m)
            q[m * P + i] = static_cast<uint8_t>(nibble(2 * m) | nibble(2 * m + 1) << 4);
        }
      }
    }
}

}  // namespace

bool packable(const TensorView& w) {
  return !w.empty() && w.layout == Layout::RowMajor && (w.type == DType::F32 || w.type == DType::F16) &&
         w.rows > 0 && w.cols > 0;
}

bool packableBlocks(const TensorView& w) {
  return !w.empty() && w.layout == Layout::RowMajor && isBlockPanelType(w.type) && w.rows > 0 && w.cols > 0 &&
         w.cols % kPanelBlockCols == 0;
}

int64_t packedBytes(DType type, int64_t rows, int64_t cols, Layout layout) {
  if (isBlockPanelType(type)) return (rows + P - 1) / P * (cols / kPanelBlockCols) * panelBlockBytes(type);
  const int64_t pr = panelRowsOf(layout);
  return (rows + pr - 1) / pr * pr * cols * elementBytes(type);
}

void packPanels(const TensorView& w, void* dst, int64_t panelBegin, int64_t panelEnd, Layout layout) {
  const int64_t pr = panelRowsOf(layout);
  if (isBlockPanelType(w.type))
    packBlockPanels(w, static_cast<uint8_t*>(dst), panelBegin, panelEnd);
  else if (w.type == DType::F32)
    packPanelsOf(static_cast<const uint32_t*>(w.data), static_cast<uint32_t*>(dst), w.rows, w.cols, panelBegin,
                 panelEnd, pr);
  else
    packPanelsOf(static_cast<const uint16_t*>(w.data), static_cast<uint16_t*>(dst), w.rows, w.cols, panelBegin,
                 panelEnd, pr);
}

TensorView packedView(const TensorView& w, const void* dst, Layout layout) {
  TensorView v = w;
  v.data = dst;
  v.layout = layout;
  return v;
}

Layout packedLayoutFor(Isa isa) { return isa == Isa::Avx2 ? Layout::Panels8 : Layout::Panels16; }

void matmulPacked(Isa isa, const TensorView& w, const float* x, int64_t T, int64_t ldx, float* y, int64_t ldy,
                  int64_t rowBegin, int64_t rowEnd, int64_t kBlock) {
  if (T <= 0 || rowBegin >= rowEnd) return;
  if (w.type == DType::Q8_0) {
    const int64_t nb = w.cols / kPanelBlockCols;
    const Act32* act = quantizedActivations(isa, x, T, ldx, nb);
#if REDRAFTER_X86_SIMD
    if (isa >= Isa::Avx2)  // AVX-512 too: the same integer sums, the same bits, already at the memory's speed
      return q8PanelsAvx2(static_cast<const uint8_t*>(w.data), nb, act, T, y, ldy, rowBegin, rowEnd);
#endif
    return q8PanelsPortable(w, act, T, y, ldy, rowBegin, rowEnd);
  }
#if REDRAFTER_X86_SIMD
  if (w.layout == Layout::Panels8 && isa >= Isa::Avx2) {  // AVX-512 takes the AVX2 tiles too: the same bits
    if (w.type == DType::F32)
      return packed8Avx2With(PackedF32Avx2{static_cast<const float*>(w.data)}, w.cols, x, T, ldx, y, ldy, rowBegin,
                             rowEnd);
    return packed8Avx2With(PackedF16Avx2{static_cast<const uint16_t*>(w.data)}, w.cols, x, T, ldx, y, ldy, rowBegin,
                           rowEnd);
  }
  if (w.type == DType::Q4_0 && isa >= Isa::Avx2) {
    const uint8_t* base = static_cast<const uint8_t*>(w.data);
    if (isa == Isa::Avx512)
      return blockPanels<BlockQ4Avx512, true>(base, w.cols, x, T, ldx, y, ldy, rowBegin, rowEnd);
    return blockPanels<BlockQ4Avx2, false>(base, w.cols, x, T, ldx, y, ldy, rowBegin, rowEnd);
  }
  if (isa == Isa::Avx512) {  // the same order as the AVX2 kernel, so the same bits
    // acc [np][T][16]: the accumulators of the tile's panels between k-blocks and token groups (np * T <= 24 for
    // T <= 12; 2 panels above)
    alignas(64) float local[2 * 128 * P];  // 16 KiB: every verification forward and prefill chunk (128 tokens)
    std::vector<float> heap;
    float* acc = local;
    if (T > 128) {
      heap.resize(static_cast<size_t>(2 * T * P));
      acc = heap.data();
    }
    if (w.type == DType::F32)
      return packedAvx512With(PackedF32Avx512{static_cast<const float*>(w.data)}, w.cols, x, T, ldx, y, ldy, rowBegin,
                              rowEnd, kBlock, acc);
    return packedAvx512With(PackedF16Avx512{static_cast<const uint16_t*>(w.data)}, w.cols, x, T, ldx, y, ldy,
                            rowBegin, rowEnd, kBlock, acc);
  }
  if (isa == Isa::Avx2) {
    if (w.type == DType::F32)
      return packedAvx2With(PackedF32Avx2{static_cast<const float*>(w.data)}, w.cols, x, T, ldx, y, ldy, rowBegin,
                            rowEnd, kBlock);
    return packedAvx2With(PackedF16Avx2{static_cast<const uint16_t*>(w.data)}, w.cols, x, T, ldx, y, ldy, rowBegin,
                          rowEnd, kBlock);
  }
#else
  (void)isa;
  (void)kBlock;
#endif
  packedPortable(w, x, T, ldx, y, ldy, rowBegin, rowEnd);
}

}  // namespace redrafter::cpu::kernels

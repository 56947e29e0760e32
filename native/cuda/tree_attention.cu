#include "tree_attention.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>

#include <string>
#include <utility>

#include "kv_address.cuh"
#include "tree_attention_loads.cuh"
#include "launch_error.h"
#include "mma_primitives.cuh"
#include "tree_attention_logic.h"
#include "tree_attention_wide.cuh"

namespace redrafter::cuda {
namespace {

using namespace nvcuda;

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kTile = 64;          // keys per tile
constexpr int kSStride = kTile + 4;  // floats per score row (P is written in place as 2*kSStride halves)
constexpr float kLog2e = 1.4426950408889634f;

struct Plan {
  int group, rowsTotal, rowsPerBlock, rowGroups, rowsPad, splits, splitLen;
  int rpw;        // legacy WMMA kernel: 16-row blocks per warp; mma kernel: compute warps per block
  int stages;     // mma kernel: cp.async ring depth
  int producers;  // mma and wide kernels: warps that only issue the K/V copies (0: the compute warps do)
  bool wide;      // the wide-warp kernel (tree_attention_wide.cuh): rowsPerBlock = kWideRows
  bool shared;    // wide kernel: the ninth row tile shared by its 4 compute warps (else a fifth warp owns it)
};

template <int D>
__host__ __device__ constexpr int rowStride() { return D + 8; }  // halves per Q/K/V row in shared memory (bank padding)

template <typename T, int D, int RPW>
struct Smem {
  static constexpr int kRows = kWarps * RPW * 16;
  static constexpr size_t q = 0;
  static constexpr size_t kv = q + sizeof(T) * kRows * rowStride<D>();         // [2 stages][K,V][64][D+8]
  static constexpr size_t s = kv + sizeof(T) * 2 * 2 * kTile * rowStride<D>();  // [warps*RPW][16][kSStride]
  static constexpr size_t alpha = s + sizeof(float) * kWarps * RPW * 16 * kSStride;  // [warps*RPW][16][16]
  static constexpr size_t ml = alpha + sizeof(float) * kWarps * RPW * 256;     // m then l: [warps*RPW*16] each
  static constexpr size_t bytes = ml + sizeof(float) * 2 * kWarps * RPW * 16;
};

// ---------------------------------------------------------------------------------------------------------
// The mma.sync kernel. grid: (splits, kvHeads, batch * rowGroups); block: one warp per 16 of the block's
// (query token, head of the kv head's group) rows, all of them sharing each K/V tile. K/V tiles of 64 keys
// stream through a kStages-deep cp.async ring in shared memory (one barrier per tile); the score tile and the
// output accumulators live in registers (m16n8k16 fragments: lane = 4 * group + quad; a thread
// holds rows group and group + 8 of its warp's 16). Scores in log2 units; P reuses the score registers as the
// A operand of P V. Q stays in shared memory.
constexpr int kMmaMaxWarps = 9;       // compute warps: rows per block <= 144 (a W8 L5 tree with GQA 4: 132 rows)
constexpr int kMmaProducers = 3;      // copy warps: with 9 compute warps, 12 in all, 3 per scheduler
constexpr int kMmaMaxThreads = (kMmaMaxWarps + kMmaProducers) * 32;
constexpr int kMmaTile = 64;

template <int D>
struct MmaSmem {
  static constexpr int kRow = D + 8;  // halves per row: 16-byte aligned, rows 16 bytes apart mod 128 (ldmatrix)
  static __host__ __device__ size_t q(int warps) { return sizeof(uint16_t) * warps * 16 * kRow; }
  static constexpr size_t stage = sizeof(uint16_t) * 2 * kMmaTile * kRow;  // K then V
  static __host__ __device__ size_t bytes(int warps, int stages) { return q(warps) + stage * stages; }
};

template <typename T, int D, int kStages>
__global__ void __launch_bounds__(kMmaMaxThreads, 1)
    treeAttentionMmaKernel(TreeAttentionParams p, Plan plan, float* oPart, float* mPart, float* lPart) {
  constexpr int RS = MmaSmem<D>::kRow, KT = kMmaTile;
  extern __shared__ __align__(128) unsigned char smem[];
  T* sQ = reinterpret_cast<T*>(smem);                                  // [rowsPerBlock][RS]
  T* sKV = reinterpret_cast<T*>(smem + MmaSmem<D>::q(plan.rpw));      // [kStages][K,V][64][RS]

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nThreads = blockDim.x;
  // the threads that issue the K/V copies: the producer warps where there are any, else every thread
  const int copyThreads = plan.producers ? plan.producers * 32 : nThreads;
  const int copyTid = plan.producers ? tid - plan.rpw * 32 : tid;
  const bool computes = warp < plan.rpw;
  const int split = blockIdx.x, kvh = blockIdx.y, b = blockIdx.z / plan.rowGroups, rg = blockIdx.z % plan.rowGroups;
  const int T_ = p.treeTokens, Hkv = p.cache.kvHeads, group = plan.group;
  const int past = p.pastLengths[b], tree = p.treeLengths[b], total = past + tree;
  const int kvStart = split * plan.splitLen, kvEnd = min(total, kvStart + plan.splitLen);
  const int rowBase = rg * plan.rowsPerBlock, rowsHere = min(plan.rowsPerBlock, plan.rowsTotal - rowBase);
  const int words = (T_ + 31) / 32;

  // Q rows of this block (zero-filled past the last), asynchronously with the first tile: row r -> (token t,
  // head kvh*group + g)
  loadQRowsAsync<T, D, RS>(sQ, p, b, kvh, group, rowBase, plan.rowsPerBlock, rowsHere, tid, nThreads);

  // one K/V tile: 2 * 64 rows of D, 16 bytes per cp.async; keys past the split's end are zero-filled
  auto loadTile = [&](int stage, int tileStart) {
    loadKvTileAsync<T, D, RS, KT>(sKV + stage * 2 * KT * RS, p.cache, b, kvh, tileStart, kvStart, kvEnd, copyTid,
                                  copyThreads);
  };
  const int nTiles = kvEnd > kvStart ? (kvEnd - kvStart + KT - 1) / KT : 0;
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < nTiles) loadTile(s, kvStart + s * KT);
    cpAsyncCommit();  // group 0 holds Q too: the first wait in the loop covers it
  }

  // the warp's Q rows as A fragments are re-read from shared memory per tile (4 KB against the tile's 32 KB):
  // register-resident they would push the 3-warps-per-scheduler budget (168 registers) into spills
  const T* sQw = sQ + (warp * 16 + (lane & 15)) * RS + (lane >> 4) * 8;

  const int gq = lane >> 2, tq = lane & 3;
  const int R0 = rowBase + warp * 16 + gq, R1 = R0 + 8;
  const int t0 = R0 / group, t1 = R1 / group;
  const bool ok0 = R0 < plan.rowsTotal && t0 < tree, ok1 = R1 < plan.rowsTotal && t1 < tree;
  const int32_t* mask0 = p.packedMask + (static_cast<int64_t>(b) * T_ + min(t0, T_ - 1)) * words;
  const int32_t* mask1 = p.packedMask + (static_cast<int64_t>(b) * T_ + min(t1, T_ - 1)) * words;
  const int visibleEnd = min(past, kvEnd);  // keys before it are visible to every valid row
  const float scaleLog2 = p.scale * kLog2e;

  float o[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;  // l: this thread's columns only (quad-summed at the end)

  for (int tile = 0; tile < nTiles; ++tile) {
    cpAsyncWait<kStages - 2>();
    __syncthreads();  // tile `tile` landed for every thread; the stage refilled below was consumed by all
    {
      const int next = tile + kStages - 1;
      if (next < nTiles) loadTile(next % kStages, kvStart + next * KT);
      cpAsyncCommit();
    }
    if (!computes) continue;  // producer warps: on to the next barrier
    const T* sK = sKV + (tile % kStages) * 2 * KT * RS;
    const T* sV = sK + KT * RS;
    const int tileStart = kvStart + tile * KT;

    // S = Q K^T: 16 rows x 64 keys in 8 n-tiles of 8 keys
    float sc[8][4];
#pragma unroll
    for (int j = 0; j < 8; ++j) sc[j][0] = sc[j][1] = sc[j][2] = sc[j][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t qa[4];
      ldsm4(qa, sQw + kk * 16);
#pragma unroll
      for (int np = 0; np < 4; ++np) {
        uint32_t kb[4];  // keys np*16 + 0..7 (d lo, d hi), keys np*16 + 8..15 (d lo, d hi)
        ldsm4(kb, sK + (np * 16 + (lane & 7) + ((lane >> 4) << 3)) * RS + kk * 16 + ((lane >> 3) & 1) * 8);
        Mma<T>::run(sc[2 * np], qa, kb[0], kb[1]);
        Mma<T>::run(sc[2 * np + 1], qa, kb[2], kb[3]);
      }
    }
    // scale, mask, row maxima (the quad of a row holds its 64 keys)
    float mx0 = -INFINITY, mx1 = -INFINITY;
    if (tileStart + KT <= visibleEnd) {
      // block-uniform: every key visible. Rows past the tree (or the row count) are not masked here: their
      // finite results are never read (the combine writes zeros for them)
#pragma unroll
      for (int j = 0; j < 8; ++j) {
#pragma unroll
        for (int e = 0; e < 4; ++e) sc[j][e] *= scaleLog2;
        mx0 = fmaxf(mx0, fmaxf(sc[j][0], sc[j][1]));
        mx1 = fmaxf(mx1, fmaxf(sc[j][2], sc[j][3]));
      }
    } else {
#pragma unroll
      for (int j = 0; j < 8; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int pos = tileStart + 8 * j + 2 * tq + (e & 1);
          const bool row1 = e >= 2;
          const bool vis = (row1 ? ok1 : ok0) && pos < kvEnd && treeVisible(pos, past, tree, row1 ? mask1 : mask0);
          sc[j][e] = vis ? sc[j][e] * scaleLog2 : -INFINITY;
          if (row1)
            mx1 = fmaxf(mx1, sc[j][e]);
          else
            mx0 = fmaxf(mx0, sc[j][e]);
        }
    }
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
    const float n0 = fmaxf(m0, mx0), n1 = fmaxf(m1, mx1);
    // nothing visible yet: keep the factors finite (every exp2 below is of -inf then, so P is 0)
    const float alpha0 = n0 == -INFINITY ? 1.f : exp2f(m0 - n0), alpha1 = n1 == -INFINITY ? 1.f : exp2f(m1 - n1);
    const float base0 = n0 == -INFINITY ? 0.f : n0, base1 = n1 == -INFINITY ? 0.f : n1;
    m0 = n0, m1 = n1;
    float sum0 = 0.f, sum1 = 0.f;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      sc[j][0] = exp2f(sc[j][0] - base0);
      sc[j][1] = exp2f(sc[j][1] - base0);
      sc[j][2] = exp2f(sc[j][2] - base1);
      sc[j][3] = exp2f(sc[j][3] - base1);
      sum0 += sc[j][0] + sc[j][1];
      sum1 += sc[j][2] + sc[j][3];
    }
    l0 = l0 * alpha0 + sum0;
    l1 = l1 * alpha1 + sum1;
    if (!__all_sync(0xffffffffu, alpha0 == 1.f && alpha1 == 1.f)) {  // no row of the warp has a new maximum: skip
#pragma unroll
      for (int n = 0; n < D / 8; ++n) {
        o[n][0] *= alpha0, o[n][1] *= alpha0;
        o[n][2] *= alpha1, o[n][3] *= alpha1;
      }
    }
    // O += P V: P's A fragments are the score accumulators of two adjacent n-tiles
#pragma unroll
    for (int kk = 0; kk < KT / 16; ++kk) {
      uint32_t pa[4];
      pa[0] = Mma<T>::pack(sc[2 * kk][0], sc[2 * kk][1]);
      pa[1] = Mma<T>::pack(sc[2 * kk][2], sc[2 * kk][3]);
      pa[2] = Mma<T>::pack(sc[2 * kk + 1][0], sc[2 * kk + 1][1]);
      pa[3] = Mma<T>::pack(sc[2 * kk + 1][2], sc[2 * kk + 1][3]);
#pragma unroll
      for (int dp = 0; dp < D / 16; ++dp) {
        uint32_t vb[4];  // d dp*16 + 0..7 (keys lo, keys hi), d dp*16 + 8..15 (keys lo, keys hi)
        ldsm4t(vb, sV + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * RS + dp * 16 + (lane >> 4) * 8);
        Mma<T>::run(o[2 * dp], pa, vb[0], vb[1]);
        Mma<T>::run(o[2 * dp + 1], pa, vb[2], vb[3]);
      }
    }
  }
  cpAsyncWait<0>();
  if (!computes) return;

  l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
  l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
  // the split's unnormalised output and its (max, sum) per row; every row of rowsPad is written
  const int64_t part = ((static_cast<int64_t>(b) * Hkv + kvh) * plan.splits + split) * plan.rowsPad + rowBase;
  const int r0 = warp * 16 + gq, r1 = r0 + 8;
#pragma unroll
  for (int n = 0; n < D / 8; ++n) {
    *reinterpret_cast<float2*>(oPart + (part + r0) * D + n * 8 + 2 * tq) = make_float2(o[n][0], o[n][1]);
    *reinterpret_cast<float2*>(oPart + (part + r1) * D + n * 8 + 2 * tq) = make_float2(o[n][2], o[n][3]);
  }
  if (tq == 0) {  // the max goes out in natural-log units (the combine uses expf)
    mPart[part + r0] = m0 * (1.f / kLog2e);
    lPart[part + r0] = l0;
    mPart[part + r1] = m1 * (1.f / kLog2e);
    lPart[part + r1] = l1;
  }
}

// The earlier WMMA kernel (tuneLegacyWmma), kept for comparison.
// grid: (splits, kvHeads, batch * rowGroups). Each warp owns RPW row blocks of 16 (query token, head) rows.
template <typename T, int D, int RPW>
__global__ void __launch_bounds__(kThreads, 1)
    treeAttentionSplitKernel(TreeAttentionParams p, Plan plan, float* oPart, float* mPart, float* lPart) {
  using L = Smem<T, D, RPW>;
  constexpr int QS = rowStride<D>();
  extern __shared__ __align__(128) unsigned char smem[];
  T* sQ = reinterpret_cast<T*>(smem + L::q);
  T* sKV = reinterpret_cast<T*>(smem + L::kv);
  float* sS = reinterpret_cast<float*>(smem + L::s);
  float* sAlpha = reinterpret_cast<float*>(smem + L::alpha);
  float* sM = reinterpret_cast<float*>(smem + L::ml);
  float* sL = sM + kWarps * RPW * 16;

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int split = blockIdx.x, kvh = blockIdx.y, b = blockIdx.z / plan.rowGroups, rg = blockIdx.z % plan.rowGroups;
  const int T_ = p.treeTokens, Hkv = p.cache.kvHeads, group = plan.group;
  const int past = p.pastLengths[b], tree = p.treeLengths[b], total = past + tree;
  const int kvStart = split * plan.splitLen, kvEnd = min(total, kvStart + plan.splitLen);
  const int rowBase = rg * plan.rowsPerBlock, rowsHere = min(plan.rowsPerBlock, plan.rowsTotal - rowBase);
  const int nRB = (rowsHere + 15) / 16;
  const int words = (T_ + 31) / 32;
  const T* q = static_cast<const T*>(p.q);

  // Q rows of this block: row r -> (token t, head kvh*group + g)
  for (int c = tid; c < nRB * 16 * (D / 8); c += kThreads) {
    int r = c / (D / 8), col = c % (D / 8) * 8, R = rowBase + r;
    uint4 val = make_uint4(0, 0, 0, 0);
    if (r < rowsHere) {
      int t = R / group, g = R % group;
      val = *reinterpret_cast<const uint4*>(q + ((static_cast<int64_t>(b) * T_ + t) * p.qHeads + kvh * group + g) * D + col);
    }
    *reinterpret_cast<uint4*>(sQ + r * QS + col) = val;
  }
  for (int i = tid; i < kWarps * RPW * 16; i += kThreads) {
    sM[i] = -INFINITY;
    sL[i] = 0.f;
  }

  auto loadTile = [&](int stage, int tileStart) {
    loadKvTileAsync<T, D, QS, kTile>(sKV + stage * 2 * kTile * QS, p.cache, b, kvh, tileStart, kvStart, kvEnd, tid,
                                     kThreads);
    cpAsyncCommit();
  };

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> o[RPW][D / 16];
#pragma unroll
  for (int i = 0; i < RPW; ++i)
#pragma unroll
    for (int nb = 0; nb < D / 16; ++nb) wmma::fill_fragment(o[i][nb], 0.f);

  const float scaleLog2 = p.scale * kLog2e;
  const int nTiles = kvEnd > kvStart ? (kvEnd - kvStart + kTile - 1) / kTile : 0;
  if (nTiles > 0) loadTile(0, kvStart);
  for (int tile = 0; tile < nTiles; ++tile) {
    const int stage = tile & 1, tileStart = kvStart + tile * kTile;
    if (tile + 1 < nTiles) {
      loadTile(stage ^ 1, tileStart + kTile);
      cpAsyncWait<1>();
    } else {
      cpAsyncWait<0>();
    }
    __syncthreads();
    const T* sK = sKV + stage * 2 * kTile * QS;
    const T* sV = sK + kTile * QS;
#pragma unroll
    for (int i = 0; i < RPW; ++i) {
      const int rb = warp + kWarps * i;
      if (rb >= nRB) continue;
      float* S = sS + (warp * RPW + i) * 16 * kSStride;
      // S = Q K^T for the 16 rows x 64 keys: each Q fragment loaded once, four accumulators
      {
        wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[kTile / 16];
#pragma unroll
        for (int nb = 0; nb < kTile / 16; ++nb) wmma::fill_fragment(acc[nb], 0.f);
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk) {
          wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
          wmma::load_matrix_sync(a, sQ + rb * 16 * QS + kk * 16, QS);
#pragma unroll
          for (int nb = 0; nb < kTile / 16; ++nb) {
            wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> kf;
            wmma::load_matrix_sync(kf, sK + nb * 16 * QS + kk * 16, QS);
            wmma::mma_sync(acc[nb], a, kf, acc[nb]);
          }
        }
#pragma unroll
        for (int nb = 0; nb < kTile / 16; ++nb)
          wmma::store_matrix_sync(S + nb * 16, acc[nb], kSStride, wmma::mem_row_major);
      }
      __syncwarp();
      // online softmax: two lanes per row, 32 scores each (one shuffle per reduction); P overwrites the
      // row's scores as T once both lanes hold their values
      float* alphaTile = sAlpha + (warp * RPW + i) * 256;
      {
        const int r = lane >> 1, h = lane & 1;
        const int R = rowBase + rb * 16 + r, t = R / group, ms = (warp * RPW + i) * 16 + r;
        const bool rowOk = R < plan.rowsTotal && t < tree;
        const int32_t* maskRow = p.packedMask + (static_cast<int64_t>(b) * T_ + min(t, T_ - 1)) * words;
        float* srow = S + r * kSStride;
        float x[32];
#pragma unroll
        for (int c4 = 0; c4 < 8; ++c4) {
          float4 v4 = *reinterpret_cast<const float4*>(srow + 32 * h + 4 * c4);
          x[4 * c4] = v4.x, x[4 * c4 + 1] = v4.y, x[4 * c4 + 2] = v4.z, x[4 * c4 + 3] = v4.w;
        }
        const int col0 = tileStart + 32 * h;
        const bool allVisible = rowOk && col0 + 32 <= min(past, kvEnd);
        float mx = -INFINITY;
#pragma unroll
        for (int j = 0; j < 32; ++j) {
          const bool vis = allVisible || (rowOk && col0 + j < kvEnd && treeVisible(col0 + j, past, tree, maskRow));
          x[j] = vis ? x[j] * scaleLog2 : -INFINITY;
          mx = fmaxf(mx, x[j]);
        }
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        const float mOld = sM[ms], mNew = fmaxf(mOld, mx);
        const float alpha = mNew == -INFINITY ? 1.f : exp2f(mOld - mNew);
        float sum = 0.f;
#pragma unroll
        for (int j = 0; j < 32; ++j) {
          x[j] = mNew == -INFINITY ? 0.f : exp2f(x[j] - mNew);  // exp2(-inf) == 0 for the hidden keys
          sum += x[j];
        }
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        const float lOld = sL[ms];
        __syncwarp();
        auto* prow = reinterpret_cast<typename Pair<T>::type*>(srow) + 16 * h;
#pragma unroll
        for (int j2 = 0; j2 < 16; ++j2) prow[j2] = Pair<T>::make(x[2 * j2], x[2 * j2 + 1]);
        if (h == 0) {
          sM[ms] = mNew;
          sL[ms] = lOld * alpha + sum;
        }
#pragma unroll
        for (int k2 = 0; k2 < 8; ++k2) alphaTile[r * 16 + 8 * h + k2] = alpha;
      }
      __syncwarp();
      // O = diag(alpha) O + P V: each P fragment loaded once
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> af;
      wmma::load_matrix_sync(af, alphaTile, 16, wmma::mem_row_major);
      const T* P = reinterpret_cast<const T*>(S);
#pragma unroll
      for (int nb = 0; nb < D / 16; ++nb)
#pragma unroll
        for (int e = 0; e < af.num_elements; ++e) o[i][nb].x[e] *= af.x[e];
#pragma unroll
      for (int kk = 0; kk < kTile / 16; ++kk) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> pa;
        wmma::load_matrix_sync(pa, P + kk * 16, 2 * kSStride);
#pragma unroll
        for (int nb = 0; nb < D / 16; ++nb) {
          wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> vf;
          wmma::load_matrix_sync(vf, sV + kk * 16 * QS + nb * 16, QS);
          wmma::mma_sync(o[i][nb], pa, vf, o[i][nb]);
        }
      }
    }
    __syncthreads();
  }

  __syncthreads();  // sM/sL initialised by other warps when the split had no tile
  // the split's unnormalised output and its (max, sum) per row
  const int64_t part = ((static_cast<int64_t>(b) * Hkv + kvh) * plan.splits + split) * plan.rowsPad + rowBase;
#pragma unroll
  for (int i = 0; i < RPW; ++i) {
    const int rb = warp + kWarps * i;
    if (rb >= nRB) continue;
#pragma unroll
    for (int nb = 0; nb < D / 16; ++nb)
      wmma::store_matrix_sync(oPart + (part + rb * 16) * D + nb * 16, o[i][nb], D, wmma::mem_row_major);
    if (lane < 16) {  // the max goes out in natural-log units (the combine uses expf)
      mPart[part + rb * 16 + lane] = sM[(warp * RPW + i) * 16 + lane] * (1.f / kLog2e);
      lPart[part + rb * 16 + lane] = sL[(warp * RPW + i) * 16 + lane];
    }
  }
}

// One warp per (sequence, kv head, row): merges the splits and writes the output row.
template <typename T, int D>
__global__ void treeAttentionCombineKernel(TreeAttentionParams p, Plan plan, const float* oPart, const float* mPart,
                                           const float* lPart) {
  const int lane = threadIdx.x & 31;
  const int64_t w = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int Hkv = p.cache.kvHeads;
  if (w >= static_cast<int64_t>(p.batch) * Hkv * plan.rowsTotal) return;
  const int R = static_cast<int>(w % plan.rowsTotal), kvh = static_cast<int>((w / plan.rowsTotal) % Hkv);
  const int b = static_cast<int>(w / (static_cast<int64_t>(plan.rowsTotal) * Hkv));
  const int t = R / plan.group, g = R % plan.group;
  T* out = static_cast<T*>(p.out) + ((static_cast<int64_t>(b) * p.treeTokens + t) * p.qHeads + kvh * plan.group + g) * D;
  constexpr int E = D / 32;  // elements per lane, consecutive pairs
  float acc[E] = {};
  if (t < p.treeLengths[b]) {
    const int64_t base = (static_cast<int64_t>(b) * Hkv + kvh) * plan.splits * plan.rowsPad + R;
    float m = -INFINITY, l = 0.f;
    for (int s = 0; s < plan.splits; ++s) {
      const int64_t at = base + static_cast<int64_t>(s) * plan.rowsPad;
      SoftmaxMerge mg = softmaxMerge(m, l, mPart[at], lPart[at]);
      if (mg.m == -INFINITY) continue;
      const float* src = oPart + at * D;
#pragma unroll
      for (int j = 0; j < E; j += 2) {
        float2 x = *reinterpret_cast<const float2*>(src + j * 32 + 2 * lane);
        acc[j] = acc[j] * mg.scaleA + x.x * mg.scaleB;
        acc[j + 1] = acc[j + 1] * mg.scaleA + x.y * mg.scaleB;
      }
      m = mg.m;
      l = mg.l;
    }
    const float inv = l > 0.f ? 1.f / l : 0.f;
#pragma unroll
    for (int j = 0; j < E; ++j) acc[j] *= inv;
  }
#pragma unroll
  for (int j = 0; j < E; j += 2)
    reinterpret_cast<typename Pair<T>::type*>(out + j * 32)[lane] = Pair<T>::make(acc[j], acc[j + 1]);
}

int maxSharedOptin() {
  int dev = 0, bytes = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess)
    return 48 * 1024;
  return bytes;
}

// Context splits: at least one block per multiprocessor where the context allows (`blocksPerSm` fit at a time);
// then the split length in whole tiles.
void planSplits(Plan& plan, const TreeAttentionParams& p, int smCount, int tile, int blocksPerSm) {
  const int maxTotal = p.maxPastLength + p.treeTokens;
  const int tiles = (maxTotal + tile - 1) / tile;
  const int base = p.batch * p.cache.kvHeads * plan.rowGroups, slots = smCount * blocksPerSm;
  int splits = (slots * 9 / 10 + base - 1) / base;  // fill >= 90% of the slots
  if (p.tuneSplitScale > 0) splits *= p.tuneSplitScale;
  splits = splits < 1 ? 1 : (splits > tiles ? tiles : splits);
  const int tilesPerSplit = (tiles + splits - 1) / splits;
  plan.splitLen = tilesPerSplit * tile;
  plan.splits = (tiles + tilesPerSplit - 1) / tilesPerSplit;
}

Plan makeLegacyPlan(const TreeAttentionParams& p, int smCount, int rpw) {
  Plan plan{};
  plan.group = p.qHeads / p.cache.kvHeads;
  plan.rowsTotal = plan.group * p.treeTokens;
  plan.rpw = rpw;
  plan.rowsPerBlock = kWarps * rpw * 16;
  plan.rowGroups = (plan.rowsTotal + plan.rowsPerBlock - 1) / plan.rowsPerBlock;
  plan.rowsPad = plan.rowGroups * plan.rowsPerBlock;
  const int maxTotal = p.maxPastLength + p.treeTokens;
  const int tiles = (maxTotal + kTile - 1) / kTile;
  const int base = p.batch * p.cache.kvHeads * plan.rowGroups;
  int splits = (smCount + base / 2) / base;  // about one block per multiprocessor (one fits at a time)
  if (p.tuneSplitScale > 0) splits *= p.tuneSplitScale;
  splits = splits < 1 ? 1 : (splits > tiles ? tiles : splits);
  const int tilesPerSplit = (tiles + splits - 1) / splits;
  plan.splitLen = tilesPerSplit * kTile;
  plan.splits = (tiles + tilesPerSplit - 1) / tilesPerSplit;
  return plan;
}

// The mma kernel: the kv head's rows in as few blocks as kMmaMaxWarps allows, evenly; the deepest cp.async ring
// (4, 3 or 2 stages) that fits the device's shared memory.
template <int D>
Plan makeMmaPlan(const TreeAttentionParams& p, int smCount) {
  Plan plan{};
  plan.group = p.qHeads / p.cache.kvHeads;
  plan.rowsTotal = plan.group * p.treeTokens;
  const int rowBlocks = (plan.rowsTotal + 15) / 16;
  plan.rowGroups = (rowBlocks + kMmaMaxWarps - 1) / kMmaMaxWarps;
  plan.rpw = (rowBlocks + plan.rowGroups - 1) / plan.rowGroups;
  plan.rowsPerBlock = plan.rpw * 16;
  plan.rowsPad = plan.rowGroups * plan.rowsPerBlock;
  // Producer warps pay off for the contiguous layout (H200: 120.5 -> 113.5 us at 4k) but not for the paged one,
  // whose copies each wait on a block-table read (292 -> 362 us at 32k): there every warp copies.
  const int autoProducers = p.cache.layout == KvLayout::kContiguous ? kMmaProducers : 0;
  plan.producers = p.tuneProducerWarps < 0   ? 0
                   : p.tuneProducerWarps > 0 ? min(p.tuneProducerWarps, kMmaProducers)
                                             : autoProducers;
  const size_t limit = static_cast<size_t>(maxSharedOptin());
  plan.stages = p.tuneStages >= 2 && p.tuneStages <= 4 ? p.tuneStages : 4;
  while (plan.stages > 2 && MmaSmem<D>::bytes(plan.rpw, plan.stages) > limit) --plan.stages;
  planSplits(plan, p, smCount, kMmaTile, 1);
  return plan;
}

// The wide-warp kernel: 144 rows per block (4 compute warps of 32 and the shared 16, or a fifth warp of 16),
// copy-only producer warps for the contiguous layout (8 warps in all), the deepest ring that fits.
template <int D>
Plan makeWidePlan(const TreeAttentionParams& p, int smCount) {
  Plan plan{};
  plan.wide = true;
  plan.shared = p.tuneWide != 2;
  const int computeWarps = plan.shared ? kWideWarps : kWideWarps + 1, maxProducers = 2 * kWideWarps - computeWarps;
  plan.group = p.qHeads / p.cache.kvHeads;
  plan.rowsTotal = plan.group * p.treeTokens;
  plan.rowsPerBlock = kWideRows;
  plan.rowGroups = (plan.rowsTotal + kWideRows - 1) / kWideRows;
  plan.rowsPad = plan.rowGroups * kWideRows;
  plan.rpw = computeWarps;
  const int autoProducers = p.cache.layout == KvLayout::kContiguous ? maxProducers : 0;
  plan.producers = p.tuneProducerWarps < 0   ? 0
                   : p.tuneProducerWarps > 0 ? min(p.tuneProducerWarps, maxProducers)
                                             : autoProducers;
  const size_t limit = static_cast<size_t>(maxSharedOptin());
  plan.stages = p.tuneStages >= 2 && p.tuneStages <= 4 ? p.tuneStages : 4;
  while (plan.stages > 2 && WideSmem<D>::bytes(plan.stages) > limit) --plan.stages;
  planSplits(plan, p, smCount, kWideTile, 1);
  return plan;
}

template <typename T, int D>
int chooseRpw(const TreeAttentionParams& p) {
  const int rows = p.qHeads / p.cache.kvHeads * p.treeTokens;
  const bool fits2 = static_cast<int>(Smem<T, D, 2>::bytes) <= maxSharedOptin();
  if (p.tuneRowBlocksPerWarp == 1 || (p.tuneRowBlocksPerWarp == 2 && !fits2)) return 1;
  if (p.tuneRowBlocksPerWarp == 2 || (rows > kWarps * 16 && fits2)) return 2;
  return 1;
}

template <typename T, int D>
Plan makePlan(const TreeAttentionParams& p, int smCount) {
  if (p.tuneLegacyWmma) return makeLegacyPlan(p, smCount, chooseRpw<T, D>(p));
  return p.tuneWide ? makeWidePlan<D>(p, smCount) : makeMmaPlan<D>(p, smCount);
}

size_t workspaceFor(const Plan& plan, const TreeAttentionParams& p) {
  const size_t rows = static_cast<size_t>(p.batch) * p.cache.kvHeads * plan.splits * plan.rowsPad;
  return rows * (p.cache.headDim + 2) * sizeof(float);
}

template <typename T, int D, int RPW>
cudaError_t launchSplit(const TreeAttentionParams& p, const Plan& plan, float* oPart, float* mPart, float* lPart,
                        cudaStream_t stream) {
  constexpr size_t bytes = Smem<T, D, RPW>::bytes;
  cudaError_t err = cudaFuncSetAttribute(treeAttentionSplitKernel<T, D, RPW>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
  if (err != cudaSuccess) return err;
  dim3 grid(plan.splits, p.cache.kvHeads, p.batch * plan.rowGroups);
  treeAttentionSplitKernel<T, D, RPW><<<grid, kThreads, bytes, stream>>>(p, plan, oPart, mPart, lPart);
  return cudaGetLastError();
}

template <typename T, int D, int S>
cudaError_t launchMma(const TreeAttentionParams& p, const Plan& plan, float* oPart, float* mPart, float* lPart,
                      cudaStream_t stream) {
  const size_t bytes = MmaSmem<D>::bytes(plan.rpw, S);
  cudaError_t err = cudaFuncSetAttribute(treeAttentionMmaKernel<T, D, S>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(bytes));
  if (err != cudaSuccess) return err;
  dim3 grid(plan.splits, p.cache.kvHeads, p.batch * plan.rowGroups);
  treeAttentionMmaKernel<T, D, S><<<grid, (plan.rpw + plan.producers) * 32, bytes, stream>>>(p, plan, oPart, mPart, lPart);
  return cudaGetLastError();
}

template <typename T, int D, int S, bool kShared>
cudaError_t launchWide(const TreeAttentionParams& p, const Plan& plan, float* oPart, float* mPart, float* lPart,
                       cudaStream_t stream) {
  const size_t bytes = WideSmem<D>::bytes(S);
  cudaError_t err = cudaFuncSetAttribute(treeAttentionWideKernel<T, D, S, kShared>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(bytes));
  if (err != cudaSuccess) return err;
  const WidePlan wp{plan.group, plan.rowsTotal, plan.rowGroups, plan.rowsPad, plan.splits, plan.splitLen, plan.producers};
  dim3 grid(plan.splits, p.cache.kvHeads, p.batch * plan.rowGroups);
  treeAttentionWideKernel<T, D, S, kShared><<<grid, (plan.rpw + plan.producers) * 32, bytes, stream>>>(p, wp, oPart, mPart, lPart);
  return cudaGetLastError();
}

template <typename T, int D>
cudaError_t launchTyped(const TreeAttentionParams& p, int smCount, void* workspace, size_t workspaceBytes,
                        cudaStream_t stream) {
  const Plan plan = makePlan<T, D>(p, smCount);
  const size_t needed = workspaceFor(plan, p);
  if (workspaceBytes < needed)
    return detail::rejectLaunch(detail::fieldMessage("workspaceBytes", static_cast<long long>(workspaceBytes),
                                                     "is less than treeAttentionWorkspaceBytes (" +
                                                     std::to_string(needed) + ")"));
  const size_t rows = static_cast<size_t>(p.batch) * p.cache.kvHeads * plan.splits * plan.rowsPad;
  float* oPart = static_cast<float*>(workspace);
  float* mPart = oPart + rows * D;
  float* lPart = mPart + rows;
  cudaError_t err;
  if (p.tuneLegacyWmma)
    err = plan.rpw == 2 ? launchSplit<T, D, 2>(p, plan, oPart, mPart, lPart, stream)
                        : launchSplit<T, D, 1>(p, plan, oPart, mPart, lPart, stream);
  else if (plan.wide && plan.shared)
    err = plan.stages == 4   ? launchWide<T, D, 4, true>(p, plan, oPart, mPart, lPart, stream)
          : plan.stages == 3 ? launchWide<T, D, 3, true>(p, plan, oPart, mPart, lPart, stream)
                             : launchWide<T, D, 2, true>(p, plan, oPart, mPart, lPart, stream);
  else if (plan.wide)
    err = plan.stages == 4   ? launchWide<T, D, 4, false>(p, plan, oPart, mPart, lPart, stream)
          : plan.stages == 3 ? launchWide<T, D, 3, false>(p, plan, oPart, mPart, lPart, stream)
                             : launchWide<T, D, 2, false>(p, plan, oPart, mPart, lPart, stream);
  else
    err = plan.stages == 4   ? launchMma<T, D, 4>(p, plan, oPart, mPart, lPart, stream)
          : plan.stages == 3 ? launchMma<T, D, 3>(p, plan, oPart, mPart, lPart, stream)
                             : launchMma<T, D, 2>(p, plan, oPart, mPart, lPart, stream);
  if (err != cudaSuccess) return detail::finishLaunch("launchTreeAttention", err);
  const int64_t warps = static_cast<int64_t>(p.batch) * p.cache.kvHeads * plan.rowsTotal;
  const int threads = 256;
  const int64_t blocks = (warps * 32 + threads - 1) / threads;
  treeAttentionCombineKernel<T, D><<<static_cast<unsigned>(blocks), threads, 0, stream>>>(p, plan, oPart, mPart, lPart);
  return detail::finishLaunch("launchTreeAttention", cudaGetLastError());
}

}  // namespace

std::string treeAttentionShapeError(const TreeAttentionParams& p) {
  using detail::fieldMessage;
  const KvCacheView& c = p.cache;
  if (p.dtype != DType::F16 && p.dtype != DType::BF16)
    return fieldMessage("TreeAttentionParams.dtype", static_cast<int>(p.dtype), "must be F16 or BF16");
  if (p.batch <= 0) return fieldMessage("TreeAttentionParams.batch", p.batch, "must be positive");
  if (p.treeTokens <= 0) return fieldMessage("TreeAttentionParams.treeTokens", p.treeTokens, "must be positive");
  if (p.qHeads <= 0) return fieldMessage("TreeAttentionParams.qHeads", p.qHeads, "must be positive");
  if (std::string why = kvCacheViewError(c, "TreeAttentionParams"); !why.empty()) return why;
  if (p.qHeads % c.kvHeads != 0)
    return fieldMessage("TreeAttentionParams.qHeads", p.qHeads,
                        "must be a multiple of cache.kvHeads (" + std::to_string(c.kvHeads) + ")");
  if (c.headDim != 64 && c.headDim != 128)
    return fieldMessage("TreeAttentionParams.cache.headDim", c.headDim, "must be 64 or 128");
  if (p.maxPastLength < 0)
    return fieldMessage("TreeAttentionParams.maxPastLength", p.maxPastLength, "must not be negative");
  if (c.layout == KvLayout::kContiguous && static_cast<int64_t>(c.capacity) < static_cast<int64_t>(p.maxPastLength) + p.treeTokens)
    return fieldMessage("TreeAttentionParams.cache.capacity", c.capacity,
                        "must be at least maxPastLength + treeTokens (" +
                        std::to_string(static_cast<int64_t>(p.maxPastLength) + p.treeTokens) + ")");
  return {};
}

namespace {

// The launch's pointers: the first null one's field, or "".
std::string nullPointerError(const TreeAttentionParams& p) {
  if (p.cache.layout == KvLayout::kPaged && !p.cache.blockTable)
    return "TreeAttentionParams.cache.blockTable is null (the paged layout needs it)";
  return detail::nullPointerMessage({{p.q, "TreeAttentionParams.q"},
                                     {p.cache.k, "TreeAttentionParams.cache.k"},
                                     {p.cache.v, "TreeAttentionParams.cache.v"},
                                     {p.pastLengths, "TreeAttentionParams.pastLengths"},
                                     {p.treeLengths, "TreeAttentionParams.treeLengths"},
                                     {p.packedMask, "TreeAttentionParams.packedMask"},
                                     {p.out, "TreeAttentionParams.out"}});
}

}  // namespace

size_t treeAttentionWorkspaceBytes(const TreeAttentionParams& p, int smCount) {
  if (!treeAttentionShapeError(p).empty() || smCount <= 0) return 0;
  Plan plan;
  if (p.dtype == DType::F16)
    plan = p.cache.headDim == 64 ? makePlan<__half, 64>(p, smCount) : makePlan<__half, 128>(p, smCount);
  else
    plan = p.cache.headDim == 64 ? makePlan<__nv_bfloat16, 64>(p, smCount) : makePlan<__nv_bfloat16, 128>(p, smCount);
  return workspaceFor(plan, p);
}

cudaError_t launchTreeAttention(const TreeAttentionParams& p, int smCount, void* workspace, size_t workspaceBytes,
                                cudaStream_t stream) {
  if (std::string why = treeAttentionShapeError(p); !why.empty()) return detail::rejectLaunch(std::move(why));
  if (std::string why = nullPointerError(p); !why.empty()) return detail::rejectLaunch(std::move(why));
  if (smCount <= 0) return detail::rejectLaunch(detail::fieldMessage("smCount", smCount, "must be positive"));
  if (!workspace) return detail::rejectLaunch("workspace is null");
  // launchTyped plans once: it checks the workspace against that plan, then launches
  if (p.dtype == DType::F16)
    return p.cache.headDim == 64 ? launchTyped<__half, 64>(p, smCount, workspace, workspaceBytes, stream)
                                 : launchTyped<__half, 128>(p, smCount, workspace, workspaceBytes, stream);
  return p.cache.headDim == 64 ? launchTyped<__nv_bfloat16, 64>(p, smCount, workspace, workspaceBytes, stream)
                               : launchTyped<__nv_bfloat16, 128>(p, smCount, workspace, workspaceBytes, stream);
}

}  // namespace redrafter::cuda

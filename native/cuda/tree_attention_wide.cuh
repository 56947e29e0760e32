// The wide-warp mma.sync tree-attention kernel (TreeAttentionParams::tuneWide), included by tree_attention.cu.
//
// Same decomposition as treeAttentionMmaKernel (grid: context splits, kv head, sequence x row groups; 64-key K/V
// tiles through a cp.async ring, optional copy-only producer warps, online softmax in registers, one combine
// launch), with a different warp layout, for the kernel's two limits on Hopper (docs/gpu.md):
//  - shared-memory reads per mma: a warp of 16 rows reads the whole K and V tile (32 KB at D 128) for 128 mma;
//    a warp of 32 rows (two m16 row tiles) reads it once for 256 mma: ldmatrix bytes per mma 288 -> 160;
//  - tensor-core work per scheduler: 132 rows are 9 row tiles; as 9 warps, one scheduler of 4 runs 3 of them.
//    Here 4 compute warps own 8 row tiles and share the 9th (tree_attention_logic.h: kWideWarps): each scores
//    the 9th tile's rows against its 16 keys of the tile, the maxima meet in shared memory, each writes its
//    keys' P there, and each accumulates a quarter of the 9th tile's output columns. 288 mma per warp per tile
//    on every scheduler, against 384 on the busiest one before.
// Fragments (m16n8k16): lane = 4 * gq + tq; a thread holds rows gq and gq + 8 of a row tile, columns 2tq, 2tq + 1
// of each 8-column n-tile.
#pragma once
#include <cstdint>

#include "kv_address.cuh"
#include "tree_attention_loads.cuh"
#include "mma_primitives.cuh"
#include "tree_attention.h"
#include "tree_attention_logic.h"

namespace redrafter::cuda {

struct WidePlan {
  int group, rowsTotal, rowGroups, rowsPad, splits, splitLen;
  int producers;  // copy-only warps after the kWideWarps compute warps (0: the compute warps copy)
};

constexpr int kWideTile = 64;                   // keys per K/V tile
constexpr int kWideRows = kWideRowTiles * 16;   // rows per block: 144
constexpr int kWideMaxThreads = 2 * kWideWarps * 32;
constexpr float kWideLog2e = 1.4426950408889634f;

template <int D>
struct WideSmem {
  static constexpr int kRow = D + 8;            // halves per Q/K/V row: rows 16 bytes apart mod 128 (ldmatrix)
  static constexpr int kPRow = kWideTile + 8;   // halves per row of the shared tile's P
  static constexpr size_t q = 0;                                              // [144][kRow]
  static constexpr size_t p = q + sizeof(uint16_t) * kWideRows * kRow;        // [16][kPRow]
  static constexpr size_t red = p + sizeof(uint16_t) * 16 * kPRow;            // [16][kWideWarps] f32
  static constexpr size_t ox = red + sizeof(float) * 16 * kWideWarps;         // [kWideWarps][D/32][32 lanes] float4
  static constexpr size_t kv = ox + sizeof(float) * kWideWarps * 32 * (D / 8);  // [stages][K,V][64][kRow]
  static constexpr size_t stage = sizeof(uint16_t) * 2 * kWideTile * kRow;
  static constexpr size_t bytes(int stages) { return kv + stage * stages; }
  static_assert(p % 16 == 0 && red % 16 == 0 && ox % 16 == 0 && kv % 128 == 0, "16-byte rows");
};

// The compute warps' barrier (named barrier 1; the producer warps never wait on it).
__device__ __forceinline__ void wideComputeBarrier() {
  asm volatile("bar.sync 1, %0;\n" ::"n"(kWideWarps * 32) : "memory");
}

// kShared: the ninth row tile shared by the 4 compute warps as above. Without it (for comparison), a fifth
// compute warp owns the ninth row tile alone (its scheduler then runs 3 row tiles' mma, the others 2), with no
// exchange between the warps.
template <typename T, int D, int kStages, bool kShared>
__global__ void __launch_bounds__(kWideMaxThreads, 1)
    treeAttentionWideKernel(TreeAttentionParams p, WidePlan plan, float* oPart, float* mPart, float* lPart) {
  using S = WideSmem<D>;
  constexpr int RS = S::kRow, PS = S::kPRow, KT = kWideTile, SW = kWideWarps;
  constexpr int NW = kShared ? SW : SW + 1;  // compute warps
  constexpr int DPW = D / 16 / SW;  // 16-column pairs of the shared tile's output per warp: 1 (D 64) or 2 (D 128)
  static_assert(KT / SW == 16 && DPW >= 1, "each warp scores 16 keys of the shared tile");
  extern __shared__ __align__(128) unsigned char smem[];
  T* sQ = reinterpret_cast<T*>(smem + S::q);
  T* sP = reinterpret_cast<T*>(smem + S::p);
  float* sRed = reinterpret_cast<float*>(smem + S::red);  // [row of the shared tile][warp]
  // the shared tile's output accumulators of this lane (its fragment n at [n * 32]): kept in shared memory, not
  // registers, which the own rows' 128 accumulators and 64 scores (D 128) fill
  float4* sOx = reinterpret_cast<float4*>(smem + S::ox) + (threadIdx.x / 32 % SW) * (2 * DPW) * 32 + threadIdx.x % 32;
  T* sKV = reinterpret_cast<T*>(smem + S::kv);

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nThreads = blockDim.x;
  const int copyThreads = plan.producers ? plan.producers * 32 : nThreads;
  const int copyTid = plan.producers ? tid - NW * 32 : tid;
  const bool computes = warp < NW;
  const int split = blockIdx.x, kvh = blockIdx.y, b = blockIdx.z / plan.rowGroups, rg = blockIdx.z % plan.rowGroups;
  const int T_ = p.treeTokens, Hkv = p.cache.kvHeads, group = plan.group;
  const int past = p.pastLengths[b], tree = p.treeLengths[b], total = past + tree;
  const int kvStart = split * plan.splitLen, kvEnd = min(total, kvStart + plan.splitLen);
  const int rowBase = rg * kWideRows, rowsHere = min(kWideRows, plan.rowsTotal - rowBase);
  const int words = (T_ + 31) / 32;

  // Q rows of the block (zero-filled past the last), with the first tile: row r -> (token R / group, head
  // kvh * group + R % group), R = rowBase + r
  loadQRowsAsync<T, D, RS>(sQ, p, b, kvh, group, rowBase, kWideRows, rowsHere, tid, nThreads);
  auto loadTile = [&](int stage, int tileStart) {
    loadKvTileAsync<T, D, RS, KT>(sKV + stage * 2 * KT * RS, p.cache, b, kvh, tileStart, kvStart, kvEnd, copyTid,
                                  copyThreads);
  };
  const int nTiles = kvEnd > kvStart ? (kvEnd - kvStart + KT - 1) / KT : 0;
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < nTiles) loadTile(s, kvStart + s * KT);
    cpAsyncCommit();  // group 0 holds Q too
  }

  // block-uniform: the shared (9th) row tile has rows; then every compute warp owns two full row tiles too
  const bool shared = kShared && rowsHere > 2 * SW * 16;
  const bool active = computes && rowsHere > warp * 32;  // the warp owns rows (else it only keeps the barriers)
  const bool two = rowsHere > warp * 32 + 16;            // ... and its second row tile has rows (warp-uniform)
  // 32-bit shared addresses of each lane's ldmatrix rows (B: bytes per element)
  constexpr uint32_t B = sizeof(T);
  const uint32_t aQw = smemAddr(sQ + (warp * 32 + (lane & 15)) * RS + (lane >> 4) * 8);  // row tile 2w; 2w+1 at +16 rows
  const uint32_t aQx = smemAddr(sQ + (2 * SW * 16 + (lane & 15)) * RS + (lane >> 4) * 8);  // the shared row tile
  const uint32_t aPx = smemAddr(sP + (lane & 15) * PS + (lane >> 4) * 8);
  const uint32_t aKV = smemAddr(sKV);
  const uint32_t kLane = ((lane & 7) + ((lane >> 4) << 3)) * RS * B + ((lane >> 3) & 1) * 8 * B;
  const uint32_t vLane = ((lane & 7) + ((lane >> 3) & 1) * 8) * RS * B + (lane >> 4) * 8 * B;
  const int gq = lane >> 2, tq = lane & 3;
  const int visibleEnd = min(past, kvEnd);  // keys before it are visible to every valid row
  const float scaleLog2 = p.scale * kWideLog2e;
  const int xKey0 = wideSharedKeyBegin(warp, KT);  // this warp's keys of the shared tile, within a tile

  float o[2][D / 8][4];
#pragma unroll
  for (int mt = 0; mt < 2; ++mt)
#pragma unroll
    for (int n = 0; n < D / 8; ++n) o[mt][n][0] = o[mt][n][1] = o[mt][n][2] = o[mt][n][3] = 0.f;
  if (kShared && computes) {
#pragma unroll
    for (int n = 0; n < 2 * DPW; ++n) sOx[n * 32] = make_float4(0.f, 0.f, 0.f, 0.f);  // only this lane reads it
  }
  // [row tile][rows gq, gq + 8]: running max (log2 units) and this thread's part of the running sum
  float m[2][2] = {{-INFINITY, -INFINITY}, {-INFINITY, -INFINITY}}, l[2][2] = {{0.f, 0.f}, {0.f, 0.f}};
  float mx[2] = {-INFINITY, -INFINITY}, lx[2] = {0.f, 0.f};  // shared tile: common max; sum over this warp's keys

  for (int tile = 0; tile < nTiles; ++tile) {
    cpAsyncWait<kStages - 2>();
    __syncthreads();  // tile `tile` landed; the stage refilled below was consumed by every warp
    {
      const int next = tile + kStages - 1;
      if (next < nTiles) loadTile(next % kStages, kvStart + next * KT);
      cpAsyncCommit();
    }
    if (!active) continue;
    const uint32_t aK = aKV + (tile % kStages) * (2 * KT * RS * B) + kLane;
    const uint32_t aV = aKV + (tile % kStages) * (2 * KT * RS * B) + KT * RS * B + vLane;
    const int tileStart = kvStart + tile * KT;

    // S = Q K^T: two row tiles x 64 keys; the shared tile's rows x this warp's 16 keys reuse that K fragment
    float sc[2][8][4], sx[2][4];
#pragma unroll
    for (int mt = 0; mt < 2; ++mt)
#pragma unroll
      for (int j = 0; j < 8; ++j) sc[mt][j][0] = sc[mt][j][1] = sc[mt][j][2] = sc[mt][j][3] = 0.f;
#pragma unroll
    for (int j = 0; j < 2; ++j) sx[j][0] = sx[j][1] = sx[j][2] = sx[j][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t qa0[4], qa1[4] = {0u, 0u, 0u, 0u}, qx[4] = {0u, 0u, 0u, 0u};
      ldsm4(qa0, aQw + kk * 16 * B);
      if (two) ldsm4(qa1, aQw + (16 * RS + kk * 16) * B);
      if (shared) ldsm4(qx, aQx + kk * 16 * B);
#pragma unroll
      for (int np = 0; np < 4; ++np) {
        uint32_t kb[4];  // keys np*16 + 0..7 (d lo, d hi), keys np*16 + 8..15 (d lo, d hi)
        ldsm4(kb, aK + (np * 16 * RS + kk * 16) * B);
        Mma<T>::run(sc[0][2 * np], qa0, kb[0], kb[1]);
        Mma<T>::run(sc[0][2 * np + 1], qa0, kb[2], kb[3]);
        if (two) {
          Mma<T>::run(sc[1][2 * np], qa1, kb[0], kb[1]);
          Mma<T>::run(sc[1][2 * np + 1], qa1, kb[2], kb[3]);
        }
        if (shared && np * 16 == xKey0) {  // warp-uniform
          Mma<T>::run(sx[0], qx, kb[0], kb[1]);
          Mma<T>::run(sx[1], qx, kb[2], kb[3]);
        }
      }
    }

    // scale and mask; tile maxima per row (the quad of a row holds its keys)
    const bool allVisible = tileStart + KT <= visibleEnd;  // block-uniform
    float tm[2][2] = {{-INFINITY, -INFINITY}, {-INFINITY, -INFINITY}}, tx[2] = {-INFINITY, -INFINITY};
    if (allVisible) {
      // rows past the tree or the row count are not masked here: their finite results are never read
#pragma unroll
      for (int mt = 0; mt < 2; ++mt)
#pragma unroll
        for (int j = 0; j < 8; ++j) {
#pragma unroll
          for (int e = 0; e < 4; ++e) sc[mt][j][e] *= scaleLog2;
          tm[mt][0] = fmaxf(tm[mt][0], fmaxf(sc[mt][j][0], sc[mt][j][1]));
          tm[mt][1] = fmaxf(tm[mt][1], fmaxf(sc[mt][j][2], sc[mt][j][3]));
        }
#pragma unroll
      for (int j = 0; j < 2; ++j) {
#pragma unroll
        for (int e = 0; e < 4; ++e) sx[j][e] *= scaleLog2;
        tx[0] = fmaxf(tx[0], fmaxf(sx[j][0], sx[j][1]));
        tx[1] = fmaxf(tx[1], fmaxf(sx[j][2], sx[j][3]));
      }
    } else {
      // row `rowInBlock`, key `pos`: visible when the row is a real (token, head) of the tree and the rule allows
      auto visible = [&](int rowInBlock, int pos) {
        const int R = rowBase + rowInBlock, t = R / group;
        if (R >= plan.rowsTotal || t >= tree || pos >= kvEnd) return false;
        return treeVisible(pos, past, tree, p.packedMask + (static_cast<int64_t>(b) * T_ + t) * words);
      };
#pragma unroll
      for (int mt = 0; mt < 2; ++mt)
#pragma unroll
        for (int j = 0; j < 8; ++j)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int h = e >> 1;
            const bool vis = visible(warp * 32 + mt * 16 + gq + 8 * h, tileStart + 8 * j + 2 * tq + (e & 1));
            sc[mt][j][e] = vis ? sc[mt][j][e] * scaleLog2 : -INFINITY;
            tm[mt][h] = fmaxf(tm[mt][h], sc[mt][j][e]);
          }
#pragma unroll
      for (int j = 0; j < 2; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int h = e >> 1;
          const bool vis = shared && visible(2 * SW * 16 + gq + 8 * h, tileStart + xKey0 + 8 * j + 2 * tq + (e & 1));
          sx[j][e] = vis ? sx[j][e] * scaleLog2 : -INFINITY;
          tx[h] = fmaxf(tx[h], sx[j][e]);
        }
    }
    // the shared tile: this warp's maxima out first, so the exchange overlaps the own rows' softmax
    if (shared) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        tx[h] = fmaxf(tx[h], __shfl_xor_sync(0xffffffffu, tx[h], 1));
        tx[h] = fmaxf(tx[h], __shfl_xor_sync(0xffffffffu, tx[h], 2));
        if (tq == 0) sRed[(gq + 8 * h) * SW + warp] = tx[h];
      }
    }

    // own rows: online softmax, P in the score registers
    bool rescale = false;
    float alpha[2][2] = {{1.f, 1.f}, {1.f, 1.f}};
#pragma unroll
    for (int mt = 0; mt < 2; ++mt)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        if (mt == 1 && !two) continue;  // warp-uniform
        float t = tm[mt][h];
        t = fmaxf(t, __shfl_xor_sync(0xffffffffu, t, 1));
        t = fmaxf(t, __shfl_xor_sync(0xffffffffu, t, 2));
        const OnlineStep st = onlineSoftmaxStep(m[mt][h], t);
        m[mt][h] = st.m;
        alpha[mt][h] = st.alpha;
        rescale |= st.alpha != 1.f;
        float sum = 0.f;
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          sc[mt][j][2 * h] = exp2Ftz(sc[mt][j][2 * h] - st.base);
          sc[mt][j][2 * h + 1] = exp2Ftz(sc[mt][j][2 * h + 1] - st.base);
          sum += sc[mt][j][2 * h] + sc[mt][j][2 * h + 1];
        }
        l[mt][h] = l[mt][h] * st.alpha + sum;
      }
    if (__any_sync(0xffffffffu, rescale)) {  // no row of the warp has a new maximum: skip
#pragma unroll
      for (int mt = 0; mt < 2; ++mt)
#pragma unroll
        for (int n = 0; n < D / 8; ++n) {
          o[mt][n][0] *= alpha[mt][0], o[mt][n][1] *= alpha[mt][0];
          o[mt][n][2] *= alpha[mt][1], o[mt][n][3] *= alpha[mt][1];
        }
    }

    // the shared tile: common max from the four warps' maxima, this warp's keys' P into shared memory
    float alphaX[2] = {1.f, 1.f};
    if (shared) {
      wideComputeBarrier();  // every warp's maxima written
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const float4 w4 = *reinterpret_cast<const float4*>(sRed + (gq + 8 * h) * SW);
        const OnlineStep st = onlineSoftmaxStep(mx[h], fmaxf(fmaxf(w4.x, w4.y), fmaxf(w4.z, w4.w)));
        mx[h] = st.m;
        float sum = 0.f;
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          sx[j][2 * h] = exp2Ftz(sx[j][2 * h] - st.base);
          sx[j][2 * h + 1] = exp2Ftz(sx[j][2 * h + 1] - st.base);
          sum += sx[j][2 * h] + sx[j][2 * h + 1];
          *reinterpret_cast<uint32_t*>(sP + (gq + 8 * h) * PS + xKey0 + 8 * j + 2 * tq) =
              Mma<T>::pack(sx[j][2 * h], sx[j][2 * h + 1]);
        }
        lx[h] = lx[h] * st.alpha + sum;
        alphaX[h] = st.alpha;
      }
      wideComputeBarrier();  // the shared tile's P complete
    }

    // O += P V: own rows, P from the score registers
#pragma unroll
    for (int kk = 0; kk < KT / 16; ++kk) {
      uint32_t pa0[4], pa1[4];
      pa0[0] = Mma<T>::pack(sc[0][2 * kk][0], sc[0][2 * kk][1]);
      pa0[1] = Mma<T>::pack(sc[0][2 * kk][2], sc[0][2 * kk][3]);
      pa0[2] = Mma<T>::pack(sc[0][2 * kk + 1][0], sc[0][2 * kk + 1][1]);
      pa0[3] = Mma<T>::pack(sc[0][2 * kk + 1][2], sc[0][2 * kk + 1][3]);
      pa1[0] = Mma<T>::pack(sc[1][2 * kk][0], sc[1][2 * kk][1]);
      pa1[1] = Mma<T>::pack(sc[1][2 * kk][2], sc[1][2 * kk][3]);
      pa1[2] = Mma<T>::pack(sc[1][2 * kk + 1][0], sc[1][2 * kk + 1][1]);
      pa1[3] = Mma<T>::pack(sc[1][2 * kk + 1][2], sc[1][2 * kk + 1][3]);
#pragma unroll
      for (int dp = 0; dp < D / 16; ++dp) {
        uint32_t vb[4];  // d dp*16 + 0..7 (keys lo, keys hi), d dp*16 + 8..15 (keys lo, keys hi)
        ldsm4t(vb, aV + (kk * 16 * RS + dp * 16) * B);
        Mma<T>::run(o[0][2 * dp], pa0, vb[0], vb[1]);
        Mma<T>::run(o[0][2 * dp + 1], pa0, vb[2], vb[3]);
        if (two) {
          Mma<T>::run(o[1][2 * dp], pa1, vb[0], vb[1]);
          Mma<T>::run(o[1][2 * dp + 1], pa1, vb[2], vb[3]);
        }
      }
    }
    // the shared tile: this warp's columns, P from shared memory, accumulators through shared memory
    if (shared) {
      float ox[2 * DPW][4];
#pragma unroll
      for (int n = 0; n < 2 * DPW; ++n) {
        const float4 a = sOx[n * 32];
        ox[n][0] = a.x * alphaX[0], ox[n][1] = a.y * alphaX[0], ox[n][2] = a.z * alphaX[1], ox[n][3] = a.w * alphaX[1];
      }
#pragma unroll
      for (int kk = 0; kk < KT / 16; ++kk) {
        uint32_t px[4];
        ldsm4(px, aPx + kk * 16 * B);
#pragma unroll
        for (int i = 0; i < DPW; ++i) {
          uint32_t vb[4];
          ldsm4t(vb, aV + (kk * 16 * RS + (warp * DPW + i) * 16) * B);
          Mma<T>::run(ox[2 * i], px, vb[0], vb[1]);
          Mma<T>::run(ox[2 * i + 1], px, vb[2], vb[3]);
        }
      }
#pragma unroll
      for (int n = 0; n < 2 * DPW; ++n) sOx[n * 32] = make_float4(ox[n][0], ox[n][1], ox[n][2], ox[n][3]);
    }
  }
  cpAsyncWait<0>();
  if (!computes) return;

  // the split's unnormalised output and (max in natural-log units, sum) per row. Own rows: every compute warp
  // writes its 32 (the fifth warp its 16; zeros and -inf for a warp without rows); the shared tile's rows only
  // where it has rows (the rows past rowsHere are never read)
  const int64_t part = ((static_cast<int64_t>(b) * Hkv + kvh) * plan.splits + split) * plan.rowsPad + rowBase;
#pragma unroll
  for (int mt = 0; mt < 2; ++mt)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float s = l[mt][h];
      s += __shfl_xor_sync(0xffffffffu, s, 1);
      s += __shfl_xor_sync(0xffffffffu, s, 2);
      const int r = warp * 32 + mt * 16 + gq + 8 * h;
      if (warp * 32 + mt * 16 >= kWideRows) continue;  // the fifth warp's second row tile does not exist
#pragma unroll
      for (int n = 0; n < D / 8; ++n)
        *reinterpret_cast<float2*>(oPart + (part + r) * D + n * 8 + 2 * tq) = make_float2(o[mt][n][2 * h], o[mt][n][2 * h + 1]);
      if (tq == 0) {
        mPart[part + r] = m[mt][h] * (1.f / kWideLog2e);
        lPart[part + r] = s;
      }
    }
  if (!shared) return;  // block-uniform
  const int xCol0 = wideSharedColBegin(warp, D);
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int r = 2 * SW * 16 + gq + 8 * h;
#pragma unroll
    for (int n = 0; n < 2 * DPW; ++n) {
      const float4 a = sOx[n * 32];
      *reinterpret_cast<float2*>(oPart + (part + r) * D + xCol0 + n * 8 + 2 * tq) =
          h ? make_float2(a.z, a.w) : make_float2(a.x, a.y);
    }
    float s = lx[h];
    s += __shfl_xor_sync(0xffffffffu, s, 1);
    s += __shfl_xor_sync(0xffffffffu, s, 2);
    if (tq == 0) sRed[(gq + 8 * h) * SW + warp] = s;  // every warp passed the last read of the maxima
  }
  wideComputeBarrier();
  if (warp == 0 && tq == 0) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int r = 2 * SW * 16 + gq + 8 * h;
      const float4 w4 = *reinterpret_cast<const float4*>(sRed + (gq + 8 * h) * SW);
      mPart[part + r] = mx[h] * (1.f / kWideLog2e);
      lPart[part + r] = (w4.x + w4.y) + (w4.z + w4.w);
    }
  }
}

}  // namespace redrafter::cuda

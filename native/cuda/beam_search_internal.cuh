// Internal to the beam-search kernels (beam_search.cu: the chunked kernel, beam_search_cluster.cu: the cluster
// kernel): the workspace layout both use, and the block-wide exact top-k (radix select) both fall back on.
#pragma once
#include <cstddef>
#include <cstdint>

#include "beam_search.h"
#include "beam_search_logic.h"

namespace redrafter::cuda::detail {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kItems = 16;                   // per thread
constexpr int kChunk = kThreads * kItems;    // logits per block
constexpr int kMaxK = kBeamSearchMaxTopK;

inline int chunksOf(int vocab) { return (vocab + kChunk - 1) / kChunk; }

// Workspace layout (offsets in bytes, each region 16-byte aligned).
struct Workspace {
  unsigned* rowDone;     // [batch*width] chunks finished per row
  unsigned* batchDone;   // [batch] rows finished per sequence
  float* chunkValue;     // [batch*width, chunks, topK] each chunk's top logits
  int32_t* chunkIndex;   // [batch*width, chunks, topK] their tokens (-1: none)
  unsigned* chunkTies;   // [batch*width, chunks] elements of the chunk equal to its k-th largest
  float* rowScore;       // [batch*width, width] each row's best candidates, by rank
  int32_t* rowFlat;      // [batch*width, width] their flat index beam*vocab+token
};

inline size_t align16(size_t n) { return (n + 15) / 16 * 16; }

inline size_t layout(int batch, int width, int vocab, int topK, char* base, Workspace* ws) {
  const size_t rows = static_cast<size_t>(batch) * width, chunks = chunksOf(vocab);
  size_t sizes[7] = {rows * 4, static_cast<size_t>(batch) * 4, rows * chunks * topK * 4, rows * chunks * topK * 4,
                     rows * chunks * 4, rows * width * 4, rows * width * 4};
  size_t off[7], total = 0;
  for (int i = 0; i < 7; ++i) {
    off[i] = total;
    total += align16(sizes[i]);
  }
  if (ws) {
    ws->rowDone = reinterpret_cast<unsigned*>(base + off[0]);
    ws->batchDone = reinterpret_cast<unsigned*>(base + off[1]);
    ws->chunkValue = reinterpret_cast<float*>(base + off[2]);
    ws->chunkIndex = reinterpret_cast<int32_t*>(base + off[3]);
    ws->chunkTies = reinterpret_cast<unsigned*>(base + off[4]);
    ws->rowScore = reinterpret_cast<float*>(base + off[5]);
    ws->rowFlat = reinterpret_cast<int32_t*>(base + off[6]);
  }
  return total;
}

// The shared-memory fields blockTopKRadix and blockExclusiveScan use (callers' structs may hold more).
struct RadixShared {
  unsigned hist[256];
  unsigned warpSum[kWarps];
  unsigned prefix, kRemaining, tieCount, nOut;
  float value[kMaxK];
  int32_t index[kMaxK];
  float value2[kMaxK];
  int32_t index2[kMaxK];
};

// Exclusive block scan of one value per thread; returns the thread's offset, *total the sum.
template <class S>
__device__ unsigned blockExclusiveScan(unsigned x, S& s, unsigned* total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  unsigned inc = x;
  for (int o = 1; o < 32; o <<= 1) {
    unsigned y = __shfl_up_sync(0xffffffffu, inc, o);
    if (lane >= o) inc += y;
  }
  if (lane == 31) s.warpSum[warp] = inc;
  __syncthreads();
  unsigned before = 0, all = 0;
  for (int w = 0; w < kWarps; ++w) {
    if (w < warp) before += s.warpSum[w];
    all += s.warpSum[w];
  }
  __syncthreads();
  *total = all;
  return before + inc - x;
}

// The block's top k of the keys held in registers (key 0: no element), k <= the number of elements, by value
// then lower index; s.tieCount: the block's elements equal to the k-th winner. Item i of thread t is element (i / P) * kThreads * P + t * P + i % P in index order.
// Leaves the k winners in s.value/s.index in rank order. Radix select: four 8-bit passes.
// indexOf(i): item i's element index (a functor, so callers short of registers need not hold an index array).
template <int P, int N, class S, class IndexOf>
__device__ void blockTopKRadixBy(const uint32_t (&key)[N], IndexOf indexOf, int k, S& s) {
  const int tid = threadIdx.x, lane = tid & 31;
  uint32_t prefix = 0, prefixMask = 0;
  if (tid == 0) s.kRemaining = k;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int i = tid; i < 256; i += kThreads) s.hist[i] = 0;
    __syncthreads();
#pragma unroll
    for (int i = 0; i < N; ++i)
      if (key[i] != 0 && (key[i] & prefixMask) == prefix) atomicAdd(&s.hist[(key[i] >> shift) & 255u], 1u);
    __syncthreads();
    if (tid < 32) {
      unsigned c[8], own = 0;
#pragma unroll
      for (int j = 0; j < 8; ++j) own += (c[j] = s.hist[lane * 8 + j]);
      unsigned suffix = own;  // this lane's bins and every higher lane's
      for (int o = 1; o < 32; o <<= 1) {
        unsigned y = __shfl_down_sync(0xffffffffu, suffix, o);
        if (lane + o < 32) suffix += y;
      }
      unsigned cum = suffix - own, need = s.kRemaining;
      __syncwarp();
#pragma unroll
      for (int j = 7; j >= 0; --j) {
        if (cum < need && cum + c[j] >= need) {
          s.prefix = prefix | (static_cast<uint32_t>(lane * 8 + j) << shift);
          s.kRemaining = need - cum;
          s.tieCount = c[j];
        }
        cum += c[j];
      }
    }
    __syncthreads();
    prefix = s.prefix;
    prefixMask |= 255u << shift;
  }
  const uint32_t threshold = prefix;
  const unsigned takeTies = s.kRemaining, ties = s.tieCount;
  if (tid == 0) s.nOut = 0;
  __syncthreads();
#pragma unroll
  for (int i = 0; i < N; ++i) {
    if (key[i] > threshold || (ties == takeTies && key[i] == threshold)) {
      unsigned slot = atomicAdd(&s.nOut, 1u);
      s.value[slot] = keyToFloat(key[i]);
      s.index[slot] = indexOf(i);
    }
  }
  if (ties != takeTies) {  // more equal keys than places: the lowest indices win, in index order
    __syncthreads();
    const unsigned base0 = k - takeTies;
    unsigned base = 0;
#pragma unroll
    for (int g = 0; g < N / P; ++g) {
      unsigned mine = 0;
#pragma unroll
      for (int j = 0; j < P; ++j) mine += key[g * P + j] == threshold;
      unsigned total;
      unsigned off = base + blockExclusiveScan(mine, s, &total);
#pragma unroll
      for (int j = 0; j < P; ++j) {
        if (key[g * P + j] == threshold) {
          if (off < takeTies) {
            s.value[base0 + off] = keyToFloat(key[g * P + j]);
            s.index[base0 + off] = indexOf(g * P + j);
          }
          ++off;
        }
      }
      base += total;
    }
  }
  __syncthreads();
  // order the winners by rank (value, then index; indices are distinct)
  if (tid < k) {
    const float mv = s.value[tid];
    const int32_t me = s.index[tid];
    int rank = 0;
    for (int j = 0; j < k; ++j) rank += ranksBefore(s.value[j], s.index[j], mv, me);
    s.value2[rank] = mv;
    s.index2[rank] = me;
  }
  __syncthreads();
  if (tid < k) {
    s.value[tid] = s.value2[tid];
    s.index[tid] = s.index2[tid];
  }
  __syncthreads();
}

template <int P, int N, class S>
__device__ void blockTopKRadix(const uint32_t (&key)[N], const int32_t (&index)[N], int k, S& s) {
  blockTopKRadixBy<P>(key, [&](int i) { return index[i]; }, k, s);
}

}  // namespace redrafter::cuda::detail

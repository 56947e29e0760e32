// The cluster beam-search kernel (sm_90): one thread-block cluster per (sequence, expanded beam) row, the row's
// logits read once into registers, the row's top-k settled inside the cluster through distributed shared memory
// (no global atomics or fences), then the sequence's top-W over its rows' candidates either by the sequence's
// last row (one acquire-release counter) or by a second, tiny kernel (optionally a programmatic dependent launch).
// Stages and their costs: docs/gpu.md. The per-element logic is in beam_search_logic.h (tested on the CPU).
#include <cooperative_groups.h>
#include <map>
#include <mutex>
#include <cuda/atomic>

#include "beam_search_cluster.cuh"
#include "beam_search_internal.cuh"
#include "beam_search_logic.h"

namespace redrafter::cuda::detail {

namespace cg = cooperative_groups;

constexpr int kCT = kClusterThreads;
constexpr int kMaxPublished = 256;                       // clusterPublishPerWarp keeps the total at most this
constexpr int kMaxMerge = 1024;                          // (beam, rank) candidates the in-kernel merge holds
constexpr int kCandSlots = kClusterRowCap;                 // also the fallback's lists: [block][kMaxK]
static_assert(kClusterMaxBlocks * kMaxK <= kCandSlots, "the fallback's lists fit the candidate slots");

struct alignas(8) Cand {  // one 8-byte store per candidate
  uint32_t key;
  int32_t index;
};

struct ClusterShared {
  alignas(16) uint32_t published[kMaxPublished];  // [block][warp][j] the warps' largest lane maxima (every block's copy)
  unsigned count[kClusterMaxBlocks];       // candidates each block found
  uint32_t bound;                          // the row's k-th largest published key
  unsigned nLocal;                         // this block's candidates
  unsigned nRow;                           // first block: the candidate slots taken so far
  uint32_t blockKthKey[kClusterMaxBlocks];  // fallback: each block's k-th largest, its ties, its list length
  unsigned blockTie[kClusterMaxBlocks];
  unsigned listLen[kClusterMaxBlocks];
  RadixShared radix;                       // fallback: this block's exact top k
  uint32_t topKey[kMaxK];                  // first block: the row's top k by (value, index)
  int32_t topIndex[kMaxK];
  float topScore[kMaxK];
  unsigned equalRow;
  int ticket;
  union {
    Cand cand[kCandSlots];  // first block: the row's candidates (fallback: [block][kMaxK] the blocks' top k)
    struct {
      float score[kMaxMerge];
      int32_t flat[kMaxMerge];
    } merge;
  };
};

// Apple's log-probabilities for the row's top k (warp 0; kRow <= 64), then the row's best W by (score, flat index)
// in rank order to the workspace, ranked by the whole block (rankThreadsPerCandidate threads per candidate: 4 at
// k 50, 13 comparisons each instead of one warp's 2 x 50). Every thread of the block calls it.
__device__ void finishRow(ClusterShared& s, const BeamSearchParams& p, const Workspace& ws, int row, int e, int kRow) {
  const int tid = threadIdx.x, lane = tid & 31, W = p.width;
  if (tid < 32) {
    const uint32_t kthKey = s.topKey[kRow - 1];
    const float rowMax = keyToFloat(s.topKey[0]), kth = keyToFloat(kthKey);
    float sum = 0.f;
    unsigned keptEqual = 0;
    for (int r = lane; r < kRow; r += 32) {
      sum += expf(keyToFloat(s.topKey[r]) - rowMax);
      keptEqual += s.topKey[r] == kthKey;
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 16);
    sum += __shfl_xor_sync(0xffffffffu, sum, 8);
    sum += __shfl_xor_sync(0xffffffffu, sum, 4);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    keptEqual = __reduce_add_sync(0xffffffffu, keptEqual);
    const float lse = keptLogSumExp(sum, s.equalRow - keptEqual, kth, rowMax);
    const float beamScore = p.scores[row];
    for (int r = lane; r < kRow; r += 32) s.topScore[r] = beamScore + appleLogProb(keyToFloat(s.topKey[r]), rowMax, lse);
  }
  __syncthreads();
  // within one row the flat index is beam * vocab + token: (score, token) order is (score, flat) order
  const int q = rankThreadsPerCandidate(kRow, kCT), sub = tid & (q - 1);
  for (int first = 0; first < kRow; first += kCT / q) {
    const int r = first + tid / q;
    int rank = 0;
    float me = 0.f;
    int32_t myIndex = 0;
    if (r < kRow) {
      me = s.topScore[r];
      myIndex = s.topIndex[r];
      for (int j = sub; j < kRow; j += q) rank += ranksBefore(s.topScore[j], s.topIndex[j], me, myIndex);
    }
    for (int o = 1; o < q; o <<= 1) rank += __shfl_xor_sync(0xffffffffu, rank, o);
    if (r < kRow && sub == 0 && rank < W) {
      ws.rowScore[static_cast<int64_t>(row) * W + rank] = me;
      ws.rowFlat[static_cast<int64_t>(row) * W + rank] = static_cast<int32_t>(static_cast<int64_t>(e) * p.vocab + myIndex);
    }
  }
}

// The sequence's top W over its beams' candidates (each beam's W in rank order in score/flat [beams*W]): a
// candidate's rank is its place in its own list plus, in every other list, the entries ranking before it. q threads
// (rankThreadsPerCandidate) share a candidate, thread `sub` searching the lists sub, sub + q, ... (at W 8: 4 threads,
// 2 binary searches each instead of 7). Every thread of the block calls it (blockDim.x a multiple of 32).
__device__ void mergeSequence(const float* score, const int32_t* flat, int beams, const BeamSearchParams& p, int b) {
  const int W = p.width, n = beams * W, threads = static_cast<int>(blockDim.x), tid = threadIdx.x;
  const int q = rankThreadsPerCandidate(n, threads), sub = tid & (q - 1);
  for (int firstC = 0; firstC < n; firstC += threads / q) {
    const int c = firstC + tid / q;
    int rank = 0;
    float me = 0.f;
    int32_t myFlat = 0;
    if (c < n) {
      const int mine = c / W;
      me = score[c];
      myFlat = flat[c];
      if (sub == 0) rank = c - mine * W;
      for (int other = sub; other < beams; other += q) {
        if (other == mine) continue;
        int lo = other * W, hi = lo + W;
        const int first = lo;
        while (lo < hi) {
          const int mid = (lo + hi) >> 1;
          if (ranksBefore(score[mid], flat[mid], me, myFlat))
            lo = mid + 1;
          else
            hi = mid;
        }
        rank += lo - first;
      }
    }
    for (int o = 1; o < q; o <<= 1) rank += __shfl_xor_sync(0xffffffffu, rank, o);
    if (c < n && sub == 0 && rank < W) {
      p.outScores[b * W + rank] = me;
      p.outParent[b * W + rank] = myFlat / p.vocab;
      p.outToken[b * W + rank] = myFlat % p.vocab;
    }
  }
}

// grid (blocks, beams, batch), cluster (blocks, 1, 1), kCT threads. mergeHere: the sequence's last row merges
// (else the merge kernel does); triggerDependents: let a programmatic dependent launch start early.
template <int ITEMS, bool VEC4, int MINB>
__global__ void __launch_bounds__(kCT, MINB)
    clusterBeamKernel(BeamSearchParams p, Workspace ws, bool mergeHere, bool triggerDependents) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  __shared__ ClusterShared s;
  // every block of the cluster must have started before another writes into its shared memory: arrive now,
  // wait just before the first remote write (the logits' latency hides the barrier)
  asm volatile("barrier.cluster.arrive.relaxed.aligned;\n" ::: "memory");
  if (triggerDependents) asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
  cg::cluster_group cluster = cg::this_cluster();
  const int C = static_cast<int>(cluster.num_blocks()), c = static_cast<int>(cluster.block_rank());
  const int e = blockIdx.y, b = blockIdx.z, tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int V = p.vocab, W = p.width, kRow = min(p.topK, V);
  const int row = b * W + e;
  constexpr int kSpan = kCT * ITEMS, P = VEC4 ? 4 : 1;
  const int start = c * kSpan, valid = min(kSpan, V - start);  // >= 1: blocks = ceil(V / kSpan)
  const float* logits = p.logits + static_cast<int64_t>(row) * V + start;

  // 1. the block's logits, once, into registers (key 0: no element)
  uint32_t key[ITEMS];
  if (VEC4) {
#pragma unroll
    for (int g = 0; g < ITEMS / 4; ++g) {
      const int off = (g * kCT + tid) * 4;
      float4 x = make_float4(0.f, 0.f, 0.f, 0.f);
      if (off < valid) x = __ldcs(reinterpret_cast<const float4*>(logits + off));  // V % 4 == 0: all 4 valid
      key[g * 4 + 0] = off < valid ? canonicalKey(x.x) : 0u;
      key[g * 4 + 1] = off < valid ? canonicalKey(x.y) : 0u;
      key[g * 4 + 2] = off < valid ? canonicalKey(x.z) : 0u;
      key[g * 4 + 3] = off < valid ? canonicalKey(x.w) : 0u;
    }
  } else {
#pragma unroll
    for (int i = 0; i < ITEMS; ++i) {
      const int off = i * kCT + tid;
      key[i] = off < valid ? canonicalKey(__ldcs(logits + off)) : 0u;
    }
  }
  if (tid == 0) s.nLocal = 0, s.nRow = 0;  // (the other blocks add to nRow after barrier (1))

  // 2. the row's bound: each warp publishes its j largest lane maxima (distinct lanes: distinct logits) to every
  // block; the k-th largest of all published values has >= k logits at or above it, so it is <= the row's k-th
  // largest logit: every logit Apple keeps is at or above it.
  uint32_t mine = 0;
#pragma unroll
  for (int i = 0; i < ITEMS; ++i) mine = max(mine, key[i]);
  const int perWarp = clusterPublishPerWarp(kRow, C), nPublished = C * kClusterWarps * perWarp;
  asm volatile("barrier.cluster.wait.aligned;\n" ::: "memory");
  for (int j = 0; j < perWarp; ++j) {
    const uint32_t top = __reduce_max_sync(0xffffffffu, mine);
    const unsigned holder = __ffs(__ballot_sync(0xffffffffu, mine == top)) - 1;
    if (lane == static_cast<int>(holder)) mine = 0;
    if (lane < C) *cluster.map_shared_rank(&s.published[(c * kClusterWarps + warp) * perWarp + j], lane) = top;
  }
  cluster.sync();  // (1) every block holds every published value
  if (tid < nPublished) {  // nPublished is a multiple of 8: four keys per 16-byte load
    const uint32_t me = s.published[tid];
    int rank = 0;
    for (int j = 0; j < nPublished; j += 4) {
      const uint4 o = *reinterpret_cast<const uint4*>(&s.published[j]);
      rank += (o.x > me || (o.x == me && j < tid)) + (o.y > me || (o.y == me && j + 1 < tid)) +
              (o.z > me || (o.z == me && j + 2 < tid)) + (o.w > me || (o.w == me && j + 3 < tid));
    }
    if (rank == kRow - 1) s.bound = me;
  }
  __syncthreads();
  const uint32_t bound = max(nPublished >= kRow ? s.bound : 0u, 1u);

  // 3. the candidates (key >= bound) to the first block's slots (one slot range per warp, taken with a
  // distributed-shared-memory atomic); each block's count to every block
  {
    unsigned n = 0;
#pragma unroll
    for (int i = 0; i < ITEMS; ++i) n += key[i] >= bound;
    unsigned incl = n;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const unsigned y = __shfl_up_sync(0xffffffffu, incl, o);
      if (lane >= o) incl += y;
    }
    unsigned base = 0;
    if (lane == 31 && incl) {
      atomicAdd(&s.nLocal, incl);
      base = atomicAdd(cluster.map_shared_rank(&s.nRow, 0), incl);
    }
    unsigned slot = __shfl_sync(0xffffffffu, base, 31) + incl - n;
    if (n) {
      Cand* dst = cluster.map_shared_rank(s.cand, 0);
#pragma unroll
      for (int i = 0; i < ITEMS; ++i) {
        if (key[i] >= bound) {
          if (slot < static_cast<unsigned>(kCandSlots)) dst[slot] = Cand{key[i], start + clusterItemOffset(i, tid, P)};
          ++slot;
        }
      }
    }
  }
  __syncthreads();
  if (tid < C) *cluster.map_shared_rank(&s.count[c], tid) = s.nLocal;
  cluster.sync();  // (2) the first block holds the candidates; every block knows every count
  if (p.tuneStopAfter == 1) return;
  const bool fits = clusterCandidatesFit(s.count, C);

  if (fits) {
    if (c != 0) return;  // nothing reads or writes another block's shared memory after (2)
    // 4a. rank the candidates pairwise: the row's top k, and its candidates equal to the k-th (all its logits equal
    // to the k-th are candidates), counted in the same pass by the k-th's own threads. q threads share a candidate
    // (rankThreadsPerCandidate: 4 for 33-64 candidates, 2 for 65-128), so the ~55-80 candidates of a row take
    // ~16-40 comparisons per thread instead of 55-80, and the separate tie-count pass and its barrier are gone.
    const int n = s.nRow;
    const int q = rankThreadsPerCandidate(n, kCT), sub = tid & (q - 1);
    for (int first = 0; first < n; first += kCT / q) {
      const int i = first + tid / q;
      Cand me{0u, 0};
      int rank = 0;
      unsigned equal = 0;
      if (i < n) {
        me = s.cand[i];
#pragma unroll 4
        for (int j = sub; j < n; j += q) {
          const Cand o = s.cand[j];
          rank += keyRanksBefore(o.key, o.index, me.key, me.index);
          equal += o.key == me.key;
        }
      }
      for (int o = 1; o < q; o <<= 1) {
        rank += __shfl_xor_sync(0xffffffffu, rank, o);
        equal += __shfl_xor_sync(0xffffffffu, equal, o);
      }
      if (i < n && sub == 0 && rank < kRow) {
        s.topKey[rank] = me.key;
        s.topIndex[rank] = me.index;
        if (rank == kRow - 1) s.equalRow = equal;  // exactly one candidate has each rank 0..n-1, n >= kRow
      }
    }
    __syncthreads();
  } else {
    // 4b. heavy ties: every block's exact top k (radix select over its registers) and its ties, sent to the
    // first block, merged there by binary search (each list is in rank order)
    const int kBlock = min(kRow, valid);
    __syncthreads();
    blockTopKRadixBy<P>(key, [&](int i) { return start + clusterItemOffset(i, tid, P); }, kBlock, s.radix);
    Cand* dst = cluster.map_shared_rank(&s.cand[c * kMaxK], 0);
    if (tid < kBlock) dst[tid] = Cand{canonicalKey(s.radix.value[tid]), s.radix.index[tid]};
    if (tid == 0) {
      *cluster.map_shared_rank(&s.blockKthKey[c], 0) = canonicalKey(s.radix.value[kBlock - 1]);
      *cluster.map_shared_rank(&s.blockTie[c], 0) = s.radix.tieCount;
      *cluster.map_shared_rank(&s.listLen[c], 0) = kBlock;
    }
    cluster.sync();  // (3) the first block holds every block's list
    if (c != 0) return;
    for (int slot = tid; slot < C * kMaxK; slot += kCT) {
      const int own = slot / kMaxK;
      int rank = slot - own * kMaxK;
      if (rank >= static_cast<int>(s.listLen[own])) continue;
      const Cand me = s.cand[slot];
      for (int o = 0; o < C && rank < kRow; ++o) {
        if (o == own) continue;
        int lo = o * kMaxK, hi = lo + s.listLen[o];
        const int first = lo;
        while (lo < hi) {
          const int mid = (lo + hi) >> 1;
          if (keyRanksBefore(s.cand[mid].key, s.cand[mid].index, me.key, me.index))
            lo = mid + 1;
          else
            hi = mid;
        }
        rank += lo - first;
      }
      if (rank < kRow) {
        s.topKey[rank] = me.key;
        s.topIndex[rank] = me.index;
      }
    }
    __syncthreads();
    if (tid < 32) {
      const uint32_t kthKey = s.topKey[kRow - 1];
      unsigned equal = 0;
      for (int o = 0; o < C; ++o) {
        unsigned listEqual = 0;
        for (int j = lane; j < static_cast<int>(s.listLen[o]); j += 32) listEqual += s.cand[o * kMaxK + j].key == kthKey;
        listEqual = __reduce_add_sync(0xffffffffu, listEqual);
        equal += fallbackEqualCount(s.blockKthKey[o], s.blockTie[o], listEqual, kthKey);
      }
      if (lane == 0) s.equalRow = equal;
    }
    __syncthreads();
  }

  // 5. the row's W best candidates (first block)
  finishRow(s, p, ws, row, e, kRow);
  if (p.tuneStopAfter == 2 || !mergeHere) return;

  // 6. the sequence's last row merges (acquire-release counter: the rows' candidates are visible to it)
  const int beams = gridDim.y;
  __syncthreads();
  if (tid == 0) {
    ::cuda::atomic_ref<unsigned, ::cuda::thread_scope_device> done(ws.batchDone[b]);
    s.ticket = static_cast<int>(done.fetch_add(1u, ::cuda::memory_order_acq_rel));
    if (s.ticket == beams - 1) done.store(0u, ::cuda::memory_order_relaxed);  // ready for the next launch
  }
  __syncthreads();
  if (s.ticket != beams - 1) return;
  const int n = beams * W;
  const int64_t candBase = static_cast<int64_t>(b) * W * W;
  for (int i = tid; i < n; i += kCT) {
    s.merge.score[i] = __ldcg(ws.rowScore + candBase + i);
    s.merge.flat[i] = __ldcg(ws.rowFlat + candBase + i);
  }
  __syncthreads();
  mergeSequence(s.merge.score, s.merge.flat, beams, p, b);
#endif
}

// grid (batch), 256 threads, dynamic shared memory beams * W * 8 bytes.
__global__ void __launch_bounds__(256) beamMergeKernel(BeamSearchParams p, Workspace ws, int beams, bool waitPrimary) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  if (waitPrimary) asm volatile("griddepcontrol.wait;\n" ::: "memory");  // the row kernel done, its writes visible
#endif
  extern __shared__ float mergeShared[];
  const int b = blockIdx.x, W = p.width, n = beams * W;
  float* score = mergeShared;
  int32_t* flat = reinterpret_cast<int32_t*>(mergeShared + n);
  const int64_t candBase = static_cast<int64_t>(b) * W * W;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    score[i] = ws.rowScore[candBase + i];
    flat[i] = ws.rowFlat[candBase + i];
  }
  __syncthreads();
  mergeSequence(score, flat, beams, p, b);
}

namespace {

using ClusterKernel = void (*)(BeamSearchParams, Workspace, bool, bool);

// The kernel instance for a plan: `dense` raises the blocks per SM the registers must allow (launch bounds) for 16
// and 32 logits per thread (kClusterDenseMinBlocks16 / 32); 64 logits per thread keep one block per SM either way.
ClusterKernel clusterKernelFor(int items, bool vec4, bool dense) {
  constexpr int d16 = kClusterDenseMinBlocks16, d32 = kClusterDenseMinBlocks32;
  switch (items) {
    case 16:
      if (dense) return vec4 ? clusterBeamKernel<16, true, d16> : clusterBeamKernel<16, false, d16>;
      return vec4 ? clusterBeamKernel<16, true, 4> : clusterBeamKernel<16, false, 4>;
    case 32:
      if (dense) return vec4 ? clusterBeamKernel<32, true, d32> : clusterBeamKernel<32, false, d32>;
      return vec4 ? clusterBeamKernel<32, true, 2> : clusterBeamKernel<32, false, 2>;
    case 64: return vec4 ? clusterBeamKernel<64, true, 1> : clusterBeamKernel<64, false, 1>;
    default: return nullptr;
  }
}

cudaLaunchConfig_t clusterConfig(const BeamSearchParams& p, int blocks, int beams, cudaLaunchAttribute* attr,
                                 cudaStream_t stream) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(blocks, beams, p.batch);
  cfg.blockDim = dim3(kCT, 1, 1);
  cfg.dynamicSmemBytes = 0;
  cfg.stream = stream;
  attr[0].id = cudaLaunchAttributeClusterDimension;
  attr[0].val.clusterDim.x = blocks;
  attr[0].val.clusterDim.y = 1;
  attr[0].val.clusterDim.z = 1;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  return cfg;
}

}  // namespace

int clusterMaxActive(const BeamSearchParams& p, int minItems, bool dense, int* blocksPerRow) {
  const ClusterPlan plan = clusterPlan(p.vocab, minItems);
  *blocksPerRow = plan.blocks;
  if (plan.blocks == 0) return 0;
  ClusterKernel kernel = clusterKernelFor(plan.items, p.vocab % 4 == 0, dense);
  cudaLaunchAttribute attr[1];
  const cudaLaunchConfig_t cfg = clusterConfig(p, plan.blocks, expandedBeams(p.width, p.firstStep), attr, 0);
  int clusters = 0;
  const cudaError_t err = cudaOccupancyMaxActiveClusters(&clusters, kernel, &cfg);
  if (err != cudaSuccess) cudaGetLastError();  // not sticky: clear it for the caller's next launch check
  return err == cudaSuccess ? clusters : -1;
}

int clusterMaxActiveCached(const BeamSearchParams& p, int minItems, bool dense) {
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return -1;
  const ClusterPlan plan = clusterPlan(p.vocab, minItems);
  // the answer depends on the device, the kernel instance and the cluster size only
  const long long key = ((static_cast<long long>(device) * 128 + plan.items) * 16 + plan.blocks) * 4 +
                        (p.vocab % 4 == 0 ? 2 : 0) + (dense ? 1 : 0);
  static std::mutex mutex;
  static std::map<long long, int> cache;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
  }
  int blocks = 0;
  const int active = clusterMaxActive(p, minItems, dense, &blocks);
  std::lock_guard<std::mutex> lock(mutex);
  cache[key] = active;
  return active;
}

bool clusterVariantFits(const BeamSearchParams& p, bool mergeHere, int minItems) {
  const ClusterPlan plan = clusterPlan(p.vocab, minItems);
  const int beams = expandedBeams(p.width, p.firstStep);
  return plan.blocks > 0 && p.vocab >= p.width && (!mergeHere || beams * p.width <= kMaxMerge);
}

cudaError_t launchClusterBeamSearch(const BeamSearchParams& p, void* workspace, bool mergeKernel, bool pdl,
                                    int minItems, bool dense, cudaStream_t stream) {
  Workspace ws;
  layout(p.batch, p.width, p.vocab, p.topK, static_cast<char*>(workspace), &ws);
  const ClusterPlan plan = clusterPlan(p.vocab, minItems);
  const int beams = expandedBeams(p.width, p.firstStep);
  const bool vec4 = p.vocab % 4 == 0 && reinterpret_cast<uintptr_t>(p.logits) % 16 == 0;
  const bool mergeHere = !mergeKernel;
  ClusterKernel kernel = clusterKernelFor(plan.items, vec4, dense);
  if (!kernel) return cudaErrorInvalidValue;
  cudaLaunchAttribute rowAttr[1];
  const cudaLaunchConfig_t rowCfg = clusterConfig(p, plan.blocks, beams, rowAttr, stream);
  cudaError_t err = cudaLaunchKernelEx(&rowCfg, kernel, p, ws, mergeHere, pdl);
  if (err != cudaSuccess || mergeHere || p.tuneStopAfter != 0) return err;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(p.batch, 1, 1);
  cfg.blockDim = dim3(256, 1, 1);
  cfg.dynamicSmemBytes = static_cast<size_t>(beams) * p.width * 8;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = pdl ? 1 : 0;
  return cudaLaunchKernelEx(&cfg, beamMergeKernel, p, ws, beams, pdl);
}

}  // namespace redrafter::cuda::detail

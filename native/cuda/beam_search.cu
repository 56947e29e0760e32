#include "beam_search.h"

#include <cfloat>
#include <climits>
#include <string>
#include <utility>

#include "beam_search_cluster.cuh"
#include "beam_search_internal.cuh"
#include "beam_search_logic.h"
#include "launch_error.h"

namespace redrafter::cuda {
namespace {
using namespace detail;

constexpr int kMaxCandidates = 512;  // prefiltered candidates the rank selection handles; more: radix select
constexpr int kMaxChunks = kBeamSearchMaxVocab / kChunk;

struct SelectShared {
  unsigned hist[256];
  uint32_t warpThreshold[kWarps];
  float chunkKth[kMaxChunks];     // row merge: each chunk's k-th largest logit
  unsigned chunkTie[kMaxChunks];  // and the chunk's elements equal to it
  float candValue[kMaxCandidates];
  int32_t candIndex[kMaxCandidates];
  uint32_t threshold;
  unsigned warpSum[kWarps];
  unsigned prefix, kRemaining, tieCount, nOut;
  float value[kMaxK];
  int32_t index[kMaxK];
  float value2[kMaxK];
  int32_t index2[kMaxK];
  int ticket;
  float rowMax, logSumExp;
  float floorRow;  // the row merge's lower bound on the row's k-th largest
};

// The row merge: every chunk's top-K list of the row, each in rank order ([chunks][K], chunks * K <= kChunk).
struct RowListsShared {
  float value[kChunk];
  int32_t index[kChunk];
};

// The sequence's final merge: every expanded beam's best `width` candidates, each beam's list in rank order.
struct MergeShared {
  float score[kMaxK * kMaxK];
  int32_t flat[kMaxK * kMaxK];
};

struct KernelShared {
  SelectShared select;
  union {
    RowListsShared lists;
    MergeShared merge;
  };
};

// The same contract as blockTopKRadix, usually much cheaper: a threshold from the warps' lane maxima bounds the
// k-th largest element from below, so only the elements at or above it (typically about twice k) are ranked,
// by (value, index). Falls back to the radix select when more than kMaxCandidates pass (heavy ties).
template <int P>
__device__ void blockTopK(const uint32_t (&key)[kItems], const int32_t (&index)[kItems], int k, SelectShared& s) {
  const int tid = threadIdx.x, lane = tid & 31;
  uint32_t mine = 0;
#pragma unroll
  for (int i = 0; i < kItems; ++i)
    if (key[i] > mine) mine = key[i];
  if (tid == 0) s.nOut = 0;
  {
    // Each warp's j-th largest lane maximum, j = ceil(k / warps): the warp holds >= j elements at or above it
    // (j lanes, distinct elements), so the smallest of the warps' values has >= warps * j >= k elements at or
    // above it. Ranks among the lanes by (key, lane) are distinct: exactly one lane has rank j - 1.
    const int j = (k + kWarps - 1) / kWarps;
    int rank = 0;
#pragma unroll
    for (int o = 1; o < 32; ++o) {
      const int src = (lane + o) & 31;
      const uint32_t other = __shfl_sync(0xffffffffu, mine, src);
      rank += other > mine || (other == mine && src < lane);
    }
    if (rank == j - 1) s.warpThreshold[tid >> 5] = mine;
  }
  __syncthreads();
  if (tid == 0) {
    uint32_t t = s.warpThreshold[0];
    for (int w = 1; w < kWarps; ++w) t = min(t, s.warpThreshold[w]);
    s.threshold = t;
  }
  __syncthreads();
  const uint32_t threshold = s.threshold;
  {
    // compaction: the warp counts its candidates (ballots), takes one range of slots, then fills it
    unsigned ballots[kItems], warpTotal = 0;
#pragma unroll
    for (int i = 0; i < kItems; ++i) {
      ballots[i] = __ballot_sync(0xffffffffu, key[i] != 0 && key[i] >= threshold);
      warpTotal += __popc(ballots[i]);
    }
    unsigned base = 0;
    if (lane == 0 && warpTotal) base = atomicAdd(&s.nOut, warpTotal);
    base = __shfl_sync(0xffffffffu, base, 0);
    const unsigned below = (1u << lane) - 1u;
#pragma unroll
    for (int i = 0; i < kItems; ++i) {
      const unsigned slot = base + __popc(ballots[i] & below);
      if (((ballots[i] >> lane) & 1u) && slot < kMaxCandidates) {
        s.candValue[slot] = keyToFloat(key[i]);
        s.candIndex[slot] = index[i];
      }
      base += __popc(ballots[i]);
    }
  }
  __syncthreads();
  const unsigned n = s.nOut;
  if (n > kMaxCandidates) {  // block-uniform
    __syncthreads();
    blockTopKRadix<P>(key, index, k, s);
    return;
  }
  for (unsigned c = tid; c < n; c += kThreads) {
    const float mv = s.candValue[c];
    const int32_t me = s.candIndex[c];
    int rank = 0;  // no early exit: the loop's loads pipeline
#pragma unroll 4
    for (unsigned j = 0; j < n; ++j) rank += ranksBefore(s.candValue[j], s.candIndex[j], mv, me);
    if (rank < k) {
      s.value[rank] = mv;
      s.index[rank] = me;
    }
  }
  if (tid == 0) s.tieCount = 0;
  __syncthreads();
  const uint32_t kth = orderedKey(s.value[k - 1]);
  unsigned equal = 0;
#pragma unroll
  for (int i = 0; i < kItems; ++i) equal += key[i] == kth;
  equal = __reduce_add_sync(0xffffffffu, equal);
  if (lane == 0 && equal) atomicAdd(&s.tieCount, equal);
  __syncthreads();
}

template <bool kVec4>
__global__ void __launch_bounds__(kThreads, 4) beamSearchKernel(BeamSearchParams p, Workspace ws) {
  __shared__ KernelShared shared;
  SelectShared& s = shared.select;
  const int chunk = blockIdx.x, e = blockIdx.y, b = blockIdx.z, tid = threadIdx.x, lane = tid & 31;
  const int chunks = gridDim.x, beams = gridDim.y, V = p.vocab, K = p.topK, W = p.width;
  const int row = b * W + e;
  const float* logits = p.logits + static_cast<int64_t>(row) * V;
  const int start = chunk * kChunk, valid = min(kChunk, V - start);

  // 1. this chunk's top K logits
  uint32_t key[kItems];
  int32_t index[kItems];
  if (kVec4) {
#pragma unroll
    for (int g = 0; g < kItems / 4; ++g) {
      int off = (g * kThreads + tid) * 4;
      float4 x = make_float4(0.f, 0.f, 0.f, 0.f);
      if (off < valid) x = __ldcs(reinterpret_cast<const float4*>(logits + start + off));  // V % 4 == 0
      float xs[4] = {x.x, x.y, x.z, x.w};
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        key[g * 4 + j] = off + j < valid ? orderedKey(xs[j]) : 0u;
        index[g * 4 + j] = start + off + j;
      }
    }
    blockTopK<4>(key, index, min(K, valid), s);
  } else {
#pragma unroll
    for (int i = 0; i < kItems; ++i) {
      int off = i * kThreads + tid;
      key[i] = off < valid ? orderedKey(__ldcs(logits + start + off)) : 0u;
      index[i] = start + off;
    }
    blockTopK<1>(key, index, min(K, valid), s);
  }
  const int64_t chunkBase = (static_cast<int64_t>(row) * chunks + chunk) * K;
  if (tid < K) {
    bool have = tid < min(K, valid);
    ws.chunkValue[chunkBase + tid] = have ? s.value[tid] : -INFINITY;
    ws.chunkIndex[chunkBase + tid] = have ? s.index[tid] : -1;
  }
  if (tid == 0) ws.chunkTies[static_cast<int64_t>(row) * chunks + chunk] = s.tieCount;
  if (p.tuneStopAfter == 1) return;
  // completion: the barrier orders the block's writes before thread 0's fence (cumulative), whose release the
  // last block's reads (L2, ld.cg) observe through the counter; one fence per block, not one per thread
  __syncthreads();
  if (tid == 0) {
    __threadfence();
    s.ticket = atomicAdd(&ws.rowDone[row], 1u);
    __threadfence();
  }
  __syncthreads();
  if (s.ticket != chunks - 1) return;

  // 2. the last chunk of the row: the row's top K, Apple's log-probabilities, the row's best W candidates
  if (tid == 0) ws.rowDone[row] = 0;
  const int64_t rowBase = static_cast<int64_t>(row) * chunks * K;
  const int kRow = min(K, V);
  RowListsShared& lists = shared.lists;
  for (int c = tid; c < chunks; c += kThreads) {
    const int validC = min(K, V - c * kChunk);
    s.chunkKth[c] = __ldcg(ws.chunkValue + rowBase + static_cast<int64_t>(c) * K + validC - 1);
    s.chunkTie[c] = __ldcg(ws.chunkTies + static_cast<int64_t>(row) * chunks + c);
  }
  for (int slot = tid; slot < chunks * K; slot += kThreads) {
    lists.value[slot] = __ldcg(ws.chunkValue + rowBase + slot);
    lists.index[slot] = __ldcg(ws.chunkIndex + rowBase + slot);
  }
  __syncthreads();
  if (tid < 32) {  // every chunk's k-th largest is at most the row's: nothing below their maximum is kept
    float floorRow = -INFINITY;
    for (int c = tid; c < chunks; c += 32) floorRow = fmaxf(floorRow, s.chunkKth[c]);
    for (int o = 16; o > 0; o >>= 1) floorRow = fmaxf(floorRow, __shfl_xor_sync(0xffffffffu, floorRow, o));
    if (tid == 0) s.floorRow = floorRow;
  }
  __syncthreads();
  {
    // the row's top K: a list entry's rank in the row is its place in its own list plus, in every other list,
    // the number of entries ranking before it (binary search; the lists are in rank order)
    const float floorRow = s.floorRow;
    for (int slot = tid; slot < chunks * K; slot += kThreads) {
      const int32_t me = lists.index[slot];
      const float mv = lists.value[slot];
      if (me < 0 || mv < floorRow) continue;
      const int own = slot / K;
      int rank = slot - own * K;
      for (int c = 0; c < chunks && rank < kRow; ++c) {
        if (c == own) continue;
        int lo = c * K, hi = lo + min(K, V - c * kChunk);
        const int first = lo;
        while (lo < hi) {
          const int mid = (lo + hi) >> 1;
          if (ranksBefore(lists.value[mid], lists.index[mid], mv, me))
            lo = mid + 1;
          else
            hi = mid;
        }
        rank += lo - first;
      }
      if (rank < kRow) {
        s.value[rank] = mv;
        s.index[rank] = me;
      }
    }
  }
  // Apple masks only the logits strictly below the k-th largest: ties with it beyond the k kept here count
  // in the softmax too (they never reach the top width <= k: same value, higher token index). A chunk's k-th
  // largest is never above the row's; where it is below, every chunk element equal to the row's k-th largest
  // is in the chunk's list; where equal, the chunk counted its ties in full.
  if (tid == 0) s.tieCount = 0;
  __syncthreads();
  const float kth = s.value[kRow - 1];
  {
    unsigned equalRow = 0;
    for (int slot = tid; slot < chunks * K; slot += kThreads)
      if (lists.index[slot] >= 0 && lists.value[slot] == kth && s.chunkKth[slot / K] != kth) ++equalRow;
    for (int c = tid; c < chunks; c += kThreads)
      if (s.chunkKth[c] == kth) equalRow += s.chunkTie[c];
    equalRow = __reduce_add_sync(0xffffffffu, equalRow);
    if (lane == 0 && equalRow) atomicAdd(&s.tieCount, equalRow);
  }
  __syncthreads();
  if (tid < 32) {
    unsigned keptEqual = 0;
    for (int j = tid; j < kRow; j += 32) keptEqual += s.value[j] == kth;
    keptEqual = __reduce_add_sync(0xffffffffu, keptEqual);
    const unsigned equalRow = s.tieCount;
    float a = tid < kRow ? s.value[tid] : -INFINITY, c = tid + 32 < kRow ? s.value[tid + 32] : -INFINITY;
    float mx = fmaxf(a, c);
    for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    float sum = (tid < kRow ? expf(a - mx) : 0.f) + (tid + 32 < kRow ? expf(c - mx) : 0.f);
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    sum += static_cast<float>(equalRow - keptEqual) * expf(kth - mx);
    if (tid == 0) {
      s.rowMax = mx;
      s.logSumExp = logf(sum);
    }
  }
  __syncthreads();
  const float beamScore = p.scores[row];
  if (tid < kRow) {
    float score = beamScore + appleLogProb(s.value[tid], s.rowMax, s.logSumExp);
    s.value2[tid] = score;
  }
  __syncthreads();
  if (tid < kRow) {
    float me = s.value2[tid];
    int32_t myIndex = s.index[tid];
    int rank = 0;
#pragma unroll 8
    for (int j = 0; j < kRow; ++j) rank += ranksBefore(s.value2[j], s.index[j], me, myIndex);
    if (rank < W) {
      ws.rowScore[static_cast<int64_t>(row) * W + rank] = me;
      ws.rowFlat[static_cast<int64_t>(row) * W + rank] = e * V + myIndex;
    }
  }
  if (p.tuneStopAfter == 2) return;
  __syncthreads();
  if (tid == 0) {
    __threadfence();
    s.ticket = atomicAdd(&ws.batchDone[b], 1u);
    __threadfence();
  }
  __syncthreads();
  if (s.ticket != beams - 1) return;

  // 3. the last row of the sequence: the top W over the beams' candidates. Each beam's list is in rank order,
  // so a candidate's rank is its place in its own list plus, in every other list, the number of entries that
  // rank before it (a binary search).
  __syncthreads();  // the select buffers are reused as the merge buffers
  if (tid == 0) ws.batchDone[b] = 0;
  MergeShared& m = shared.merge;
  const int n = beams * W;
  const int64_t candBase = static_cast<int64_t>(b) * W * W;
  for (int c = tid; c < n; c += kThreads) {
    m.score[c] = __ldcg(ws.rowScore + candBase + c);
    m.flat[c] = __ldcg(ws.rowFlat + candBase + c);
  }
  __syncthreads();
  for (int c = tid; c < n; c += kThreads) {
    const int mineBeam = c / W;
    const float me = m.score[c];
    const int32_t myFlat = m.flat[c];
    int rank = c - mineBeam * W;
    for (int other = 0; other < beams; ++other) {
      if (other == mineBeam) continue;
      int lo = other * W, hi = lo + W;
      const int first = lo;
      while (lo < hi) {
        const int mid = (lo + hi) >> 1;
        if (ranksBefore(m.score[mid], m.flat[mid], me, myFlat))
          lo = mid + 1;
        else
          hi = mid;
      }
      rank += lo - first;
    }
    if (rank < W) {
      p.outScores[b * W + rank] = me;
      p.outParent[b * W + rank] = myFlat / V;
      p.outToken[b * W + rank] = myFlat % V;
    }
  }
}

}  // namespace

size_t beamSearchCounterBytes(int batch, int width) {
  return align16(static_cast<size_t>(batch) * width * 4) + align16(static_cast<size_t>(batch) * 4);
}

size_t beamSearchWorkspaceBytes(int batch, int width, int vocab, int topK) {
  return layout(batch, width, vocab, topK, nullptr, nullptr);
}

namespace {

bool chunkedFits(const BeamSearchParams& p) {
  return p.vocab >= p.topK && chunksOf(p.vocab) * p.topK <= kChunk;
}

cudaError_t launchChunked(const BeamSearchParams& p, void* workspace, cudaStream_t stream) {
  Workspace ws;
  layout(p.batch, p.width, p.vocab, p.topK, static_cast<char*>(workspace), &ws);
  dim3 grid(chunksOf(p.vocab), p.firstStep ? 1 : p.width, p.batch);
  const bool vec4 = p.vocab % 4 == 0 && reinterpret_cast<uintptr_t>(p.logits) % 16 == 0;
  if (vec4)
    beamSearchKernel<true><<<grid, kThreads, 0, stream>>>(p, ws);
  else
    beamSearchKernel<false><<<grid, kThreads, 0, stream>>>(p, ws);
  return cudaGetLastError();
}

bool clustersSupported() {
  int device = 0, major = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) return false;
  return major >= 9;
}

}  // namespace

const char* beamSearchVariantName(BeamSearchVariant v) {
  switch (v) {
    case BeamSearchVariant::kAuto: return "auto";
    case BeamSearchVariant::kChunked: return "chunked (last-block merges)";
    case BeamSearchVariant::kCluster: return "cluster, last row merges";
    case BeamSearchVariant::kClusterMergeKernel: return "cluster + merge kernel";
    case BeamSearchVariant::kClusterMergeKernelPdl: return "cluster + merge kernel (PDL)";
    case BeamSearchVariant::kClusterWide: return "cluster x32 logits/thread";
    case BeamSearchVariant::kClusterDense: return "cluster, 5 blocks/SM";
    case BeamSearchVariant::kClusterWideDense: return "cluster x32, 3 blocks/SM";
  }
  return "?";
}

namespace {

// The in-kernel-merge cluster variants kAuto chooses among, in the order it prefers them when all fit in one wave
// (docs/gpu.md: the dense instances give more clusters per wave; 32 logits per thread measured fastest).
struct ClusterChoice {
  BeamSearchVariant variant;
  int minItems;
  bool dense;
};
// Measured on an H100 (bench/RESULTS.md, batch 8, W 8, V 32000): x32 at 3 blocks/SM 15.5 us, x16 at 5 blocks/SM
// 17.6 us, x16 at 4 blocks/SM (two waves) 17.2 us, x32 at 2 blocks/SM 20.3 us.
constexpr ClusterChoice kAutoOrder[] = {{BeamSearchVariant::kClusterWideDense, 32, true},
                                        {BeamSearchVariant::kClusterDense, 16, true},
                                        {BeamSearchVariant::kCluster, 16, false},
                                        {BeamSearchVariant::kClusterWide, 32, false}};

BeamSearchVariant autoCluster(const BeamSearchParams& p) {
  const int needed = p.batch * expandedBeams(p.width, p.firstStep);
  BeamSearchVariant best = BeamSearchVariant::kAuto;
  int bestActive = -1;
  for (const ClusterChoice& c : kAutoOrder) {
    if (!detail::clusterVariantFits(p, true, c.minItems)) continue;
    const int active = detail::clusterMaxActiveCached(p, c.minItems, c.dense);
    if (active >= needed) return c.variant;  // one wave
    if (active > bestActive) best = c.variant, bestActive = active;
  }
  return best;
}

}  // namespace

BeamSearchVariant beamSearchResolveVariant(const BeamSearchParams& p) {
  const bool clusters = clustersSupported();
  switch (p.variant) {
    case BeamSearchVariant::kAuto:
      if (clusters && detail::clusterVariantFits(p, true, 16)) {
        const BeamSearchVariant pick = autoCluster(p);
        return pick == BeamSearchVariant::kAuto ? BeamSearchVariant::kCluster : pick;
      }
      if (clusters && detail::clusterVariantFits(p, false, 16)) return BeamSearchVariant::kClusterMergeKernel;
      return chunkedFits(p) ? BeamSearchVariant::kChunked : BeamSearchVariant::kAuto;
    case BeamSearchVariant::kChunked:
      return chunkedFits(p) ? p.variant : BeamSearchVariant::kAuto;
    case BeamSearchVariant::kCluster:
    case BeamSearchVariant::kClusterDense:
      return clusters && detail::clusterVariantFits(p, true, 16) ? p.variant : BeamSearchVariant::kAuto;
    case BeamSearchVariant::kClusterWide:
    case BeamSearchVariant::kClusterWideDense:
      return clusters && detail::clusterVariantFits(p, true, 32) ? p.variant : BeamSearchVariant::kAuto;
    case BeamSearchVariant::kClusterMergeKernel:
    case BeamSearchVariant::kClusterMergeKernelPdl:
      return clusters && detail::clusterVariantFits(p, false, 16) ? p.variant : BeamSearchVariant::kAuto;
  }
  return BeamSearchVariant::kAuto;
}

std::string beamSearchShapeError(const BeamSearchParams& p) {
  using detail::fieldMessage;
  if (p.batch <= 0) return fieldMessage("BeamSearchParams.batch", p.batch, "must be positive");
  if (p.width <= 0) return fieldMessage("BeamSearchParams.width", p.width, "must be positive");
  if (p.topK < p.width || p.topK > kMaxK)
    return fieldMessage("BeamSearchParams.topK", p.topK,
                        "must be between width (" + std::to_string(p.width) + ") and " + std::to_string(kMaxK));
  if (p.vocab < p.width)
    return fieldMessage("BeamSearchParams.vocab", p.vocab,
                        "must be at least width (" + std::to_string(p.width) + ")");
  if (p.vocab > kBeamSearchMaxVocab)
    return fieldMessage("BeamSearchParams.vocab", p.vocab, "must be at most " + std::to_string(kBeamSearchMaxVocab));
  if (static_cast<int64_t>(p.width) * p.vocab > INT_MAX)
    return fieldMessage("BeamSearchParams.vocab", p.vocab,
                        "times width (" + std::to_string(p.width) + ") must fit in int32");
  return {};
}

cudaError_t launchBeamSearchStep(const BeamSearchParams& p, void* workspace, size_t workspaceBytes,
                                 cudaStream_t stream) {
  if (std::string why = beamSearchShapeError(p); !why.empty()) return detail::rejectLaunch(std::move(why));
  const std::string nullPointer = detail::nullPointerMessage({{p.logits, "BeamSearchParams.logits"},
                                                             {p.scores, "BeamSearchParams.scores"},
                                                             {p.outScores, "BeamSearchParams.outScores"},
                                                             {p.outParent, "BeamSearchParams.outParent"},
                                                             {p.outToken, "BeamSearchParams.outToken"},
                                                             {workspace, "workspace"}});
  if (!nullPointer.empty()) return detail::rejectLaunch(nullPointer);
  const size_t needed = beamSearchWorkspaceBytes(p.batch, p.width, p.vocab, p.topK);
  if (workspaceBytes < needed)
    return detail::rejectLaunch(detail::fieldMessage("workspaceBytes", static_cast<long long>(workspaceBytes),
                                                     "is less than beamSearchWorkspaceBytes (" +
                                                     std::to_string(needed) + ")"));
  const char* op = "launchBeamSearchStep";
  switch (beamSearchResolveVariant(p)) {
    case BeamSearchVariant::kChunked: return detail::finishLaunch(op, launchChunked(p, workspace, stream));
    case BeamSearchVariant::kCluster:
      return detail::finishLaunch(op, detail::launchClusterBeamSearch(p, workspace, false, false, 16, false, stream));
    case BeamSearchVariant::kClusterWide:
      return detail::finishLaunch(op, detail::launchClusterBeamSearch(p, workspace, false, false, 32, false, stream));
    case BeamSearchVariant::kClusterDense:
      return detail::finishLaunch(op, detail::launchClusterBeamSearch(p, workspace, false, false, 16, true, stream));
    case BeamSearchVariant::kClusterWideDense:
      return detail::finishLaunch(op, detail::launchClusterBeamSearch(p, workspace, false, false, 32, true, stream));
    case BeamSearchVariant::kClusterMergeKernel:
      return detail::finishLaunch(op, detail::launchClusterBeamSearch(p, workspace, true, false, 16, false, stream));
    case BeamSearchVariant::kClusterMergeKernelPdl:
      return detail::finishLaunch(op, detail::launchClusterBeamSearch(p, workspace, true, true, 16, false, stream));
    case BeamSearchVariant::kAuto: break;
  }
  // no variant serves this shape on this device
  return detail::rejectLaunch(std::string("BeamSearchParams.variant (") + beamSearchVariantName(p.variant) +
                              ") cannot serve vocab " + std::to_string(p.vocab) + " with topK " +
                              std::to_string(p.topK) + " and width " + std::to_string(p.width) +
                              " on this device (the cluster variants need sm_90 and vocab <= 131072; the chunked one "
                              "vocab >= topK and ceil(vocab / " + std::to_string(kChunk) + ") * topK <= " + std::to_string(kChunk) + ")");
}

}  // namespace redrafter::cuda

#include "accept_commit.h"

#include <string>
#include <utility>

#include "accept_logic.h"
#include "launch_error.h"
#include "kv_address.cuh"

namespace redrafter::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxLength = 64;
constexpr size_t kMaxSharedBytes = 48 * 1024;  // the kernel's dynamic shared memory (no opt-in)
constexpr int kMaxChunks = 4 * kThreads;  // path length * row bytes / 16 (64 rows of 256 bytes)

// grid: (layers * 2 * kvHeads (at least 1), batch). Warp 0 verifies (every block, it is tiny); block x == 0 writes
// the verification; then the block moves its (layer, k|v, head)'s accepted rows: all reads, a barrier, all writes.
__global__ void __launch_bounds__(kThreads) acceptCommitKernel(AcceptCommitParams p) {
  __shared__ int32_t sPath[kMaxLength];
  __shared__ int sCount;
  extern __shared__ int32_t sRow[];  // this sequence's beams [W*L], unpacker [W*L], argmax [treeCapacity]
  const int b = blockIdx.y, tid = threadIdx.x, W = p.width, Lh = p.length;
  const int64_t rowBase = static_cast<int64_t>(b) * W * Lh;
  int32_t* beams = sRow;
  int32_t* unpacker = sRow + W * Lh;
  int32_t* argmax = unpacker + W * Lh;
  for (int i = tid; i < W * Lh; i += kThreads) {  // independent loads, then the dependent walk in shared memory
    beams[i] = p.beams[rowBase + i];
    unpacker[i] = p.unpacker[rowBase + i];
  }
  for (int i = tid; i < p.treeCapacity; i += kThreads) argmax[i] = p.argmax[static_cast<int64_t>(b) * p.treeCapacity + i];
  const int past = p.pastLengths[b];
  __syncthreads();
  if (tid < 32) {
    int bestLen = -1, best = 0;
    for (int w = tid; w < W; w += 32) {
      int len = acceptedLengthOfBeam(beams, unpacker, argmax, Lh, w);
      if (betterBeam(len, w, bestLen, best)) {
        bestLen = len;
        best = w;
      }
    }
    for (int o = 16; o > 0; o >>= 1) {
      int oLen = __shfl_xor_sync(0xffffffffu, bestLen, o), oBeam = __shfl_xor_sync(0xffffffffu, best, o);
      if (betterBeam(oLen, oBeam, bestLen, best)) {
        bestLen = oLen;
        best = oBeam;
      }
    }
    for (int k = tid; k < Lh; k += 32) sPath[k] = k <= bestLen ? unpacker[best * Lh + k] : -1;
    if (tid == 0) sCount = bestLen + 1;
    if (blockIdx.x == 0) {
      if (tid == 0) {
        p.bestBeam[b] = best;
        p.acceptedLength[b] = bestLen;
        p.nextToken[b] = argmax[unpacker[best * Lh + bestLen]];
        p.newLengths[b] = past + 1 + bestLen;
      }
      for (int k = tid; k < Lh; k += 32) {
        p.acceptedPacked[static_cast<int64_t>(b) * Lh + k] = k <= bestLen ? unpacker[best * Lh + k] : -1;
        if (k + 1 < Lh)
          p.acceptedTokens[static_cast<int64_t>(b) * (Lh - 1) + k] = k < bestLen ? beams[best * Lh + k + 1] : -1;
      }
    }
  }
  __syncthreads();
  if (!p.cache.k || !p.cache.v) return;
  const int H = p.cache.kvHeads, unit = blockIdx.x;
  const int layer = unit / (2 * H), which = (unit / H) % 2, h = unit % H;
  char* base = static_cast<char*>(which ? p.cache.v : p.cache.k);
  const int chunksPerRow = p.cache.headDim * p.elementBytes / 16, count = sCount;
  constexpr int kPerThread = kMaxChunks / kThreads;  // the path's rows, 16-byte pieces
  uint4 held[kPerThread];
#pragma unroll
  for (int i = 0; i < kPerThread; ++i) {
    int c = i * kThreads + tid, k = c / chunksPerRow;
    if (k < count)
      held[i] = *reinterpret_cast<const uint4*>(
          base + (kvRowOffset(p.cache, layer, b, h, commitSource(past, sPath, k)) * p.elementBytes) + (c % chunksPerRow) * 16);
  }
  __syncthreads();
#pragma unroll
  for (int i = 0; i < kPerThread; ++i) {
    int c = i * kThreads + tid, k = c / chunksPerRow;
    if (k < count && sPath[k] != k)
      *reinterpret_cast<uint4*>(base + (kvRowOffset(p.cache, layer, b, h, commitTarget(past, k)) * p.elementBytes) +
                                (c % chunksPerRow) * 16) = held[i];
  }
}

}  // namespace

std::string acceptCommitShapeError(const AcceptCommitParams& p) {
  using detail::fieldMessage;
  if (p.batch <= 0) return fieldMessage("AcceptCommitParams.batch", p.batch, "must be positive");
  if (p.width <= 0) return fieldMessage("AcceptCommitParams.width", p.width, "must be positive");
  if (p.length <= 0 || p.length > kMaxLength)
    return fieldMessage("AcceptCommitParams.length", p.length, "must be in 1.." + std::to_string(kMaxLength));
  if (p.treeCapacity <= 0) return fieldMessage("AcceptCommitParams.treeCapacity", p.treeCapacity, "must be positive");
  const size_t smem = sizeof(int32_t) * (2 * static_cast<size_t>(p.width) * p.length + p.treeCapacity);
  if (smem > kMaxSharedBytes)
    return fieldMessage("AcceptCommitParams.treeCapacity", p.treeCapacity,
                        "with width * length " + std::to_string(p.width * p.length) +
                        " needs more than 48 KiB of shared memory (4 * (2 * width * length + treeCapacity) bytes)");
  if (!p.cache.k != !p.cache.v)
    return std::string("AcceptCommitParams.cache.") + (p.cache.k ? "v" : "k") +
           " is null but the other is not (both null: no commit)";
  if (!p.cache.k) return {};
  if (p.layers <= 0) return fieldMessage("AcceptCommitParams.layers", p.layers, "must be positive to commit");
  if (p.elementBytes != 2 && p.elementBytes != 4)
    return fieldMessage("AcceptCommitParams.elementBytes", p.elementBytes, "must be 2 or 4");
  if (std::string why = kvCacheViewError(p.cache, "AcceptCommitParams"); !why.empty()) return why;
  const long long rowBytes = static_cast<long long>(p.cache.headDim) * p.elementBytes;
  if (rowBytes % 16 != 0 || rowBytes > 1024)
    return fieldMessage("AcceptCommitParams.cache.headDim", p.cache.headDim,
                        "times elementBytes (" + std::to_string(p.elementBytes) +
                        ") must be a multiple of 16 bytes and at most 1024");
  if (p.length * rowBytes / 16 > kMaxChunks)
    return fieldMessage("AcceptCommitParams.length", p.length,
                        "times the row bytes (" + std::to_string(rowBytes) + ") must be at most " +
                        std::to_string(kMaxChunks * 16));
  return {};
}

cudaError_t launchAcceptCommit(const AcceptCommitParams& p, cudaStream_t stream) {
  if (std::string why = acceptCommitShapeError(p); !why.empty()) return detail::rejectLaunch(std::move(why));
  const std::string nullPointer = detail::nullPointerMessage({{p.beams, "AcceptCommitParams.beams"},
                                                             {p.unpacker, "AcceptCommitParams.unpacker"},
                                                             {p.argmax, "AcceptCommitParams.argmax"},
                                                             {p.pastLengths, "AcceptCommitParams.pastLengths"},
                                                             {p.bestBeam, "AcceptCommitParams.bestBeam"},
                                                             {p.acceptedLength, "AcceptCommitParams.acceptedLength"},
                                                             {p.nextToken, "AcceptCommitParams.nextToken"},
                                                             {p.acceptedTokens, "AcceptCommitParams.acceptedTokens"},
                                                             {p.acceptedPacked, "AcceptCommitParams.acceptedPacked"},
                                                             {p.newLengths, "AcceptCommitParams.newLengths"}});
  if (!nullPointer.empty()) return detail::rejectLaunch(nullPointer);
  if (p.cache.k && p.cache.layout == KvLayout::kPaged && !p.cache.blockTable)
    return detail::rejectLaunch("AcceptCommitParams.cache.blockTable is null (the paged layout needs it)");
  const bool commit = p.cache.k && p.cache.v;
  const size_t smem = sizeof(int32_t) * (2 * static_cast<size_t>(p.width) * p.length + p.treeCapacity);
  dim3 grid(commit ? p.layers * 2 * p.cache.kvHeads : 1, p.batch);
  acceptCommitKernel<<<grid, kThreads, smem, stream>>>(p);
  return detail::finishLaunch("launchAcceptCommit", cudaGetLastError());
}

}  // namespace redrafter::cuda

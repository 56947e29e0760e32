#include "accept_commit.h"

#include "accept_logic.h"
#include "kv_address.cuh"

namespace redrafter::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxLength = 64;
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

cudaError_t launchAcceptCommit(const AcceptCommitParams& p, cudaStream_t stream) {
  if (p.batch <= 0 || p.width <= 0 || p.length <= 0 || p.length > kMaxLength || p.treeCapacity <= 0) return cudaErrorInvalidValue;
  if (!p.beams || !p.unpacker || !p.argmax || !p.pastLengths || !p.bestBeam || !p.acceptedLength || !p.nextToken ||
      !p.acceptedTokens || !p.acceptedPacked || !p.newLengths)
    return cudaErrorInvalidValue;
  const bool commit = p.cache.k && p.cache.v;
  if (commit && (p.layers <= 0 || p.cache.kvHeads <= 0 || (p.elementBytes != 2 && p.elementBytes != 4) ||
                 (p.cache.headDim * p.elementBytes) % 16 != 0 || p.cache.headDim * p.elementBytes > 1024))
    return cudaErrorInvalidValue;
  if (commit && static_cast<int64_t>(p.length) * p.cache.headDim * p.elementBytes / 16 > kMaxChunks)
    return cudaErrorInvalidValue;
  const size_t smem = sizeof(int32_t) * (2 * static_cast<size_t>(p.width) * p.length + p.treeCapacity);
  if (smem > 48 * 1024) return cudaErrorInvalidValue;
  dim3 grid(commit ? p.layers * 2 * p.cache.kvHeads : 1, p.batch);
  acceptCommitKernel<<<grid, kThreads, smem, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace redrafter::cuda

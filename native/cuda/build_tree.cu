#include "build_tree.h"

#include <string>
#include <utility>

#include "build_tree_logic.h"
#include "launch_error.h"

namespace redrafter::cuda {
namespace {

// One block per sequence, one thread per beam token f = w*length + l. Shared memory: the beams, the
// first-occurrence flags, the packed index of each first occurrence, parents and flat index per packed token.
__global__ void buildTreeKernel(BuildTreeParams p) {
  extern __shared__ int32_t smem[];
  const int n = p.width * p.length, b = blockIdx.x, f = threadIdx.x;
  int32_t* sBeams = smem;             // [n]
  int32_t* sPacked = sBeams + n;      // [n] packed index of first occurrences
  int32_t* sParent = sPacked + n;     // [n] by packed index
  int32_t* sFlat = sParent + n;       // [n] by packed index
  int32_t* sWarp = sFlat + n;         // [32] first occurrences per warp
  uint8_t* sFirst = reinterpret_cast<uint8_t*>(sWarp + 32);  // [n]
  const int32_t* beams = p.beams + static_cast<int64_t>(b) * n;
  if (f < n) sBeams[f] = beams[f];
  __syncthreads();

  const int w = f / p.length, l = f % p.length;
  int owner = f < n ? prefixOwner(sBeams, p.length, w, l) : -1;
  bool first = f < n && owner == w;
  if (f < n) sFirst[f] = first;
  // packed index = first occurrences before f: warp ballots, then the warps' totals
  unsigned ballot = __ballot_sync(0xffffffffu, first);
  const int lane = f & 31, warp = f >> 5, warps = (blockDim.x + 31) >> 5;
  if (lane == 0) sWarp[warp] = __popc(ballot);
  __syncthreads();
  int before = __popc(ballot & ((1u << lane) - 1u));
  for (int v = 0; v < warp; ++v) before += sWarp[v];
  int total = 0;
  for (int v = 0; v < warps; ++v) total += sWarp[v];
  if (first) {
    sPacked[f] = before;
    sFlat[before] = f;
  }
  __syncthreads();
  if (f < n) {
    int packed = sPacked[owner * p.length + l];
    p.unpacker[static_cast<int64_t>(b) * n + f] = packed;
    if (first) sParent[packed] = l == 0 ? -1 : sPacked[prefixOwner(sBeams, p.length, w, l - 1) * p.length + l - 1];
  }
  __syncthreads();

  const int64_t row = static_cast<int64_t>(b) * p.capacity;
  if (f == 0) p.lengths[b] = total;
  for (int i = f; i < p.capacity; i += blockDim.x) {
    bool real = i < total;
    int flat = real ? sFlat[i] : -1;
    p.tokens[row + i] = real ? sBeams[flat] : 0;
    p.beamTokenIndex[row + i] = flat;
    p.positionOffsets[row + i] = real ? flat % p.length : -1;
    p.parents[row + i] = real ? sParent[i] : -1;
  }
  const int words = packedMaskWords(p.capacity);
  int32_t* mask = p.packedMask + row * words;
  for (int e = f; e < p.capacity * words; e += blockDim.x) {
    int i = e / words, word = e % words;
    mask[e] = i < total ? static_cast<int32_t>(packedMaskWord(sParent, i, word)) : 0;
  }
}

}  // namespace

std::string buildTreeShapeError(const BuildTreeParams& p) {
  using detail::fieldMessage;
  if (p.batch <= 0) return fieldMessage("BuildTreeParams.batch", p.batch, "must be positive");
  if (p.width <= 0) return fieldMessage("BuildTreeParams.width", p.width, "must be positive");
  if (p.length <= 0) return fieldMessage("BuildTreeParams.length", p.length, "must be positive");
  const long long n = static_cast<long long>(p.width) * p.length;
  if (n > kBuildTreeMaxTokens)
    return fieldMessage("BuildTreeParams.width * length", n,
                        "must be at most " + std::to_string(kBuildTreeMaxTokens));
  if (p.capacity < n)
    return fieldMessage("BuildTreeParams.capacity", p.capacity,
                        "must be at least width * length (" + std::to_string(n) + ")");
  return {};
}

cudaError_t launchBuildTree(const BuildTreeParams& p, cudaStream_t stream) {
  if (std::string why = buildTreeShapeError(p); !why.empty()) return detail::rejectLaunch(std::move(why));
  const std::string nullPointer = detail::nullPointerMessage({{p.beams, "BuildTreeParams.beams"},
                                                             {p.lengths, "BuildTreeParams.lengths"},
                                                             {p.tokens, "BuildTreeParams.tokens"},
                                                             {p.beamTokenIndex, "BuildTreeParams.beamTokenIndex"},
                                                             {p.positionOffsets, "BuildTreeParams.positionOffsets"},
                                                             {p.parents, "BuildTreeParams.parents"},
                                                             {p.unpacker, "BuildTreeParams.unpacker"},
                                                             {p.packedMask, "BuildTreeParams.packedMask"}});
  if (!nullPointer.empty()) return detail::rejectLaunch(nullPointer);
  const int n = p.width * p.length;
  const int threads = (n + 31) / 32 * 32;
  const size_t smem = sizeof(int32_t) * (4 * n + 32) + n;
  buildTreeKernel<<<p.batch, threads, smem, stream>>>(p);
  return detail::finishLaunch("launchBuildTree", cudaGetLastError());
}

}  // namespace redrafter::cuda

// GPU tree attention: the T packed tree tokens of each sequence attend to its KV cache (contiguous or paged), whose
// first pastLength slots hold the context and next treeLength slots the tree tokens themselves, with TensorRT-LLM's
// packed mask deciding among the tree tokens. fp16 or bf16 in and out, fp32 accumulation, grouped-query attention,
// head sizes 64 and 128. Flash-decoding: the context is split over blocks (64-key tiles streamed through shared
// memory with cp.async, mma.sync tensor-core products with register-resident accumulators, online softmax), then
// one combine launch merges the splits. CPU reference: redrafter::treeAttentionReference.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <cuda_runtime_api.h>

#include "kv_cache.h"
#include "launch_error.h"

namespace redrafter::cuda {

struct TreeAttentionParams {
  DType dtype = DType::F16;
  int batch = 0, treeTokens = 0, qHeads = 0;  // T = treeTokens (the padded packed length)
  float scale = 0.f;                          // softmax scale, usually 1/sqrt(headDim)
  const void* q = nullptr;                    // [batch, T, qHeads, headDim]
  KvCacheView cache;                          // kvHeads, headDim (64 or 128) and layout; layer 0 is read
  const int32_t* pastLengths = nullptr;       // [batch] device: cached context tokens
  const int32_t* treeLengths = nullptr;       // [batch] device: packed tree tokens (1..T), already in the cache
  const int32_t* packedMask = nullptr;        // [batch, T, ceil(T/32)] device
  int maxPastLength = 0;                      // host bound on pastLengths (sizes the split of the context)
  void* out = nullptr;                        // [batch, T, qHeads, headDim]; rows t >= treeLength are zero
  // tuning overrides (0: automatic), for measurements: a multiplier on the number of context splits, the earlier
  // WMMA kernel, and its 16-row blocks per warp (1 or 2; 2 only where shared memory allows)
  int tuneRowBlocksPerWarp = 0;
  int tuneSplitScale = 0;
  int tuneLegacyWmma = 0;  // 1: the earlier WMMA kernel (tuneRowBlocksPerWarp applies to it only)
  int tuneStages = 0;      // the mma kernel's cp.async ring depth (2..4; deeper than shared memory allows: ignored)
  int tuneProducerWarps = 0;  // the mma kernel's copy-only warps (0: automatic, 3 contiguous / none paged; -1: none)
  // the wide-warp mma kernel (tree_attention_wide.cuh), 144 rows per block: 1 = 4 compute warps of 32 rows sharing
  // the 9th 16-row tile; 2 = a fifth compute warp owns that tile. tuneStages and tuneProducerWarps apply to it too
  // (producers: automatic = the 8 warps' rest for contiguous, none for paged)
  int tuneWide = 0;
};

// Workspace bytes for these shapes on a device with `smCount` multiprocessors (0 where the shapes cannot run).
size_t treeAttentionWorkspaceBytes(const TreeAttentionParams& p, int smCount);

// Why these shapes cannot run (the field named, e.g. "TreeAttentionParams.cache.headDim (96) must be 64 or 128"), or
// "" where they can. Pointers are not checked here.
std::string treeAttentionShapeError(const TreeAttentionParams& p);

// cudaErrorInvalidValue for bad shapes (treeAttentionShapeError), null pointers, smCount <= 0 and a small workspace;
// lastLaunchError() says which.
cudaError_t launchTreeAttention(const TreeAttentionParams& p, int smCount, void* workspace, size_t workspaceBytes,
                                cudaStream_t stream);

}  // namespace redrafter::cuda

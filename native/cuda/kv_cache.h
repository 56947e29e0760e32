// The KV-cache views shared by the tree-attention and commit launchers. Element type: fp16 or bf16 (DType::F16,
// DType::BF16: core/tensor.h's DType, the one every room uses).
#pragma once
#include <cstdint>
#include <string>

#include "core/tensor.h"

namespace redrafter::cuda {

using redrafter::DType;

enum class KvLayout : int {
  kContiguous = 0,  // k, v: [layers, batch, kvHeads, capacity, headDim]
  kPaged = 1,       // k, v: block pools [layers, numBlocks, kvHeads, blockSize, headDim]; blockTable [batch, maxBlocks]
};

struct KvCacheView {
  KvLayout layout = KvLayout::kContiguous;
  void* k = nullptr;
  void* v = nullptr;
  int kvHeads = 0;
  int headDim = 0;
  int64_t layerStride = 0;      // elements between layers (0 with one layer)
  int capacity = 0;             // contiguous: slots per sequence and head
  const int32_t* blockTable = nullptr;  // paged: [batch, maxBlocksPerSeq] pool block of each logical block
  int maxBlocksPerSeq = 0;      // paged
  int blockSize = 0;            // paged: slots per block
  int numBlocks = 0;            // paged: blocks in each layer's pool
};

// Why this view's shape cannot be read (the field named under `owner`, e.g. "TreeAttentionParams.cache.blockSize (0)
// must be positive"), or "" where it can. Its pointers (k, v, blockTable) are the launchers' to check.
std::string kvCacheViewError(const KvCacheView& c, const char* owner);

}  // namespace redrafter::cuda

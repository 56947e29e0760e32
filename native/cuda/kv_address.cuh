// Device-side address of one cache row (a headDim vector) in either KV layout.
#pragma once
#include <cstdint>

#include "kv_cache.h"

namespace redrafter::cuda {

// Element offset of row (layer, seq b, head h, slot p) from the base pointer.
__device__ __forceinline__ int64_t kvRowOffset(const KvCacheView& c, int layer, int b, int h, int p) {
  if (c.layout == KvLayout::kPaged) {
    int blk = c.blockTable[static_cast<int64_t>(b) * c.maxBlocksPerSeq + p / c.blockSize];
    return layer * c.layerStride +
           ((static_cast<int64_t>(blk) * c.kvHeads + h) * c.blockSize + p % c.blockSize) * c.headDim;
  }
  return layer * c.layerStride + ((static_cast<int64_t>(b) * c.kvHeads + h) * c.capacity + p) * c.headDim;
}

}  // namespace redrafter::cuda

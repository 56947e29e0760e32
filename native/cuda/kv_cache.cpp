#include "kv_cache.h"

#include "launch_error.h"

namespace redrafter::cuda {

std::string kvCacheViewError(const KvCacheView& c, const char* owner) {
  using detail::fieldMessage;
  const std::string o = owner;
  if (c.kvHeads <= 0) return fieldMessage(o + ".cache.kvHeads", c.kvHeads, "must be positive");
  if (c.headDim <= 0) return fieldMessage(o + ".cache.headDim", c.headDim, "must be positive");
  if (c.layout == KvLayout::kPaged) {
    if (c.blockSize <= 0) return fieldMessage(o + ".cache.blockSize", c.blockSize, "must be positive");
    if (c.maxBlocksPerSeq <= 0)
      return fieldMessage(o + ".cache.maxBlocksPerSeq", c.maxBlocksPerSeq, "must be positive");
  } else if (c.layout == KvLayout::kContiguous) {
    if (c.capacity <= 0) return fieldMessage(o + ".cache.capacity", c.capacity, "must be positive");
  } else {
    return fieldMessage(o + ".cache.layout", static_cast<int>(c.layout), "is not a KvLayout");
  }
  return {};
}

}  // namespace redrafter::cuda

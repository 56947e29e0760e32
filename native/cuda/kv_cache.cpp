#include "kv_cache.h"

#include "launch_error.h"

namespace redrafter::cuda {

std::string kvCacheViewError(const KvCacheView& c, const char* owner) {
  using detail::fieldMessage;
  const std::string o = owner;
  if (c.kvHeads <= 0) return fieldMessage((o + ".cache.kvHeads").c_str(), c.kvHeads, "must be positive");
  if (c.headDim <= 0) return fieldMessage((o + ".cache.headDim").c_str(), c.headDim, "must be positive");
  if (c.layout == KvLayout::kPaged) {
    if (c.blockSize <= 0) return fieldMessage((o + ".cache.blockSize").c_str(), c.blockSize, "must be positive");
    if (c.maxBlocksPerSeq <= 0)
      return fieldMessage((o + ".cache.maxBlocksPerSeq").c_str(), c.maxBlocksPerSeq, "must be positive");
  } else if (c.layout == KvLayout::kContiguous) {
    if (c.capacity <= 0) return fieldMessage((o + ".cache.capacity").c_str(), c.capacity, "must be positive");
  } else {
    return fieldMessage((o + ".cache.layout").c_str(), static_cast<int>(c.layout), "is not a KvLayout");
  }
  return {};
}

}  // namespace redrafter::cuda

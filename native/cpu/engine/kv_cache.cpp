#include "cpu/engine/kv_cache.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <string>

#include "core/error.h"

namespace redrafter::cpu {

KvCache::KvCache(const ModelConfig& config, int32_t capacity)
    : capacity_(capacity), nLayers_(config.nLayers), kvDim_(config.kvDim()) {
  RD_REQUIRE(capacity >= 1, "capacity", "must be at least 1 (got " + std::to_string(capacity) + ")");
  size_t elements = static_cast<size_t>(nLayers_) * static_cast<size_t>(capacity_) * static_cast<size_t>(kvDim_);
  try {
    keys_.assign(elements, 0.0f);
    values_.assign(elements, 0.0f);
  } catch (const std::bad_alloc&) {
    fail(ErrorCode::OutOfMemory, "capacity " + std::to_string(capacity) + " needs " +
                                     std::to_string(elements * 8 / (1 << 20)) + " MiB of KV cache, which cannot be allocated");
  }
}

void KvCache::truncate(int32_t n) {
  RD_REQUIRE(n >= 0 && n <= length_, "length",
             "must be in [0, " + std::to_string(length_) + "] to truncate (got " + std::to_string(n) + ")");
  length_ = n;
}

void KvCache::advance(int32_t n) {
  if (n < 0 || length_ + static_cast<int64_t>(n) > capacity_)
    fail(ErrorCode::Internal, "KvCache::advance past capacity");
  length_ += n;
}

void KvCache::commit(const CommitPlan& plan) {
  RD_REQUIRE(plan.newLength >= 0 && plan.newLength <= length_, "newLength",
             "must be in [0, " + std::to_string(length_) + "] (got " + std::to_string(plan.newLength) + ")");
  for (size_t i = 0; i < plan.moves.size(); ++i) {
    const SlotMove& m = plan.moves[i];
    RD_REQUIRE(m.from >= 0 && m.from < length_ && m.to >= 0 && m.to <= m.from && m.to < plan.newLength, "moves",
               "[" + std::to_string(i) + "] = {from " + std::to_string(m.from) + ", to " + std::to_string(m.to) +
                   "} must satisfy 0 <= to <= from < length " + std::to_string(length_) + " and to < newLength " +
                   std::to_string(plan.newLength));
  }
  size_t rowBytes = static_cast<size_t>(kvDim_) * sizeof(float);
  for (const SlotMove& m : plan.moves) {
    if (m.from == m.to) continue;
    for (int32_t layer = 0; layer < nLayers_; ++layer) {
      std::memmove(key(layer, m.to), key(layer, m.from), rowBytes);
      std::memmove(value(layer, m.to), value(layer, m.from), rowBytes);
    }
  }
  length_ = plan.newLength;
}

}  // namespace redrafter::cpu

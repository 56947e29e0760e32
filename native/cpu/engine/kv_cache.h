// The key/value cache of one sequence: for every layer, the keys and values of the tokens seen so far, one
// row per cache slot. A forward writes its n new tokens at slots length()..length()+n-1 and advances length();
// a tree-verification forward is followed by commit(plan), which keeps the accepted path and drops the rest.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/kv_commit.h"
#include "model/weights.h"

namespace redrafter::cpu {

// the model room's names this engine uses (native/model)
using model::ModelConfig;

// The bytes of one sequence's KV cache at `capacity` slots: keys and values, every layer, float32.
int64_t kvCacheBytes(const ModelConfig& config, int32_t capacity);

// The default bound on one session's KV cache (CpuBackendOptions::maxKvCacheBytes): half the machine's physical
// memory (4 GiB where it cannot be read).
int64_t defaultKvCacheBudget();

class KvCache {
 public:
  // Throws InvalidArgument ("capacity ...") unless 1 <= capacity; OutOfMemory when it cannot be allocated.
  // The memory is reserved, not touched: pages are zero-filled by the OS when first written, so a cache costs only
  // the slots a sequence has used.
  KvCache(const ModelConfig& config, int32_t capacity);

  int32_t capacity() const { return capacity_; }
  int32_t length() const { return length_; }
  int32_t nLayers() const { return nLayers_; }
  int32_t kvDim() const { return kvDim_; }

  // Drops every slot from n on (rollback). Throws InvalidArgument unless 0 <= n <= length().
  void truncate(int32_t n);

  // Applies a kvCommitPlan (core/kv_commit.h): moves only the listed rows (every layer, keys and values), then
  // sets length() = plan.newLength. Validates the whole plan first (every move inside [0, length()), to <= from,
  // newLength <= length()), so a bad plan throws InvalidArgument and leaves the cache unchanged.
  void commit(const CommitPlan& plan);

  // Row pointers: [kvDim] floats for (layer, slot), slot < capacity().
  float* key(int32_t layer, int32_t slot) { return keys_ + rowOffset(layer, slot); }
  float* value(int32_t layer, int32_t slot) { return values_ + rowOffset(layer, slot); }
  const float* key(int32_t layer, int32_t slot) const { return keys_ + rowOffset(layer, slot); }
  const float* value(int32_t layer, int32_t slot) const { return values_ + rowOffset(layer, slot); }

  // For the forward pass only: marks n more slots as written (after their rows were filled).
  void advance(int32_t n);

 private:
  size_t rowOffset(int32_t layer, int32_t slot) const {
    return (static_cast<size_t>(layer) * capacity_ + slot) * kvDim_;
  }
  struct Pages {  // zero-initialised memory mapped on demand (mmap / VirtualAlloc)
    void* base = nullptr;
    size_t bytes = 0;
    ~Pages();
  };
  int32_t capacity_ = 0, length_ = 0, nLayers_ = 0, kvDim_ = 0;
  std::unique_ptr<Pages> pages_;  // keys then values
  float* keys_ = nullptr;         // [nLayers, capacity, kvDim]
  float* values_ = nullptr;       // [nLayers, capacity, kvDim]
};

}  // namespace redrafter::cpu

#include "cpu/engine/kv_cache.h"

#include <algorithm>
#include <cstring>
#include <string>

#if defined(_WIN32)
#include <windows.h>
#else
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "core/error.h"

namespace redrafter::cpu {

int64_t kvCacheBytes(const ModelConfig& config, int32_t capacity) {
  return 2 * int64_t(config.nLayers) * int64_t(capacity) * int64_t(config.kvDim()) * int64_t(sizeof(float));
}

int64_t defaultKvCacheBudget() {
  int64_t physical = 0;
#if defined(_WIN32)
  MEMORYSTATUSEX status;
  status.dwLength = sizeof(status);
  if (GlobalMemoryStatusEx(&status)) physical = int64_t(status.ullTotalPhys);
#else
  const long pages = sysconf(_SC_PHYS_PAGES), pageSize = sysconf(_SC_PAGESIZE);
  if (pages > 0 && pageSize > 0) physical = int64_t(pages) * pageSize;
#endif
  return physical > 0 ? physical / 2 : int64_t(4) << 30;
}

KvCache::Pages::~Pages() {
  if (!base) return;
#if defined(_WIN32)
  VirtualFree(base, 0, MEM_RELEASE);
#else
  munmap(base, bytes);
#endif
}

KvCache::KvCache(const ModelConfig& config, int32_t capacity)
    : capacity_(capacity), nLayers_(config.nLayers), kvDim_(config.kvDim()) {
  RD_REQUIRE(capacity >= 1, "capacity", "must be at least 1 (got " + std::to_string(capacity) + ")");
  const size_t bytes = size_t(kvCacheBytes(config, capacity));
  pages_ = std::make_unique<Pages>();
#if defined(_WIN32)
  void* base = VirtualAlloc(nullptr, bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
#else
  void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) base = nullptr;
#endif
  if (!base)
    fail(ErrorCode::OutOfMemory, "capacity " + std::to_string(capacity) + " needs " + std::to_string(bytes) +
                                     " bytes of KV cache, which cannot be allocated");
  pages_->base = base;
  pages_->bytes = bytes;
  keys_ = static_cast<float*>(base);
  values_ = keys_ + bytes / sizeof(float) / 2;
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

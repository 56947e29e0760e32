#include "cpu/engine/weight_packing.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "core/error.h"
#include "cpu/kernels/isa.h"
#include "cpu/kernels/packed_matmul.h"

#ifndef _WIN32
#include <sys/mman.h>
#include <unistd.h>
#else
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
#endif

namespace redrafter::cpu {
namespace {

// A buffer of `bytes`, 64-byte aligned. (Asking for transparent huge pages, MADV_HUGEPAGE, made no measurable
// difference to the forward here and made loading vary from 0.75 to 5.9 s for 3.9 GB, waiting on memory compaction.)
std::shared_ptr<void> allocatePacked(int64_t bytes) {
#ifndef _WIN32
  void* p = nullptr;
  if (posix_memalign(&p, 64, static_cast<size_t>(bytes)) != 0 || !p)
    fail(ErrorCode::Internal, "cannot allocate " + std::to_string(bytes) + " bytes for a packed tensor");
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
#else
  auto* v = new std::vector<uint8_t>(static_cast<size_t>(bytes) + 64);
  return std::shared_ptr<void>(v->data() + (64 - reinterpret_cast<uintptr_t>(v->data()) % 64) % 64,
                               [v](void*) { delete v; });
#endif
}

// Drops the whole pages of [data, data + bytes) from the process (the file mapping's pages; see the header).
int64_t releasePages(const void* data, int64_t bytes) {
#ifndef _WIN32
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
#else
  SYSTEM_INFO info;
  GetSystemInfo(&info);
  const uintptr_t page = info.dwPageSize;
#endif
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + static_cast<uintptr_t>(bytes)) / page * page;
  if (end <= begin) return 0;
#ifndef _WIN32
  if (madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED) != 0) return 0;
#else
  // VirtualUnlock on pages that are not locked removes them from the working set (and reports ERROR_NOT_LOCKED)
  if (!VirtualUnlock(reinterpret_cast<void*>(begin), end - begin) && GetLastError() != ERROR_NOT_LOCKED) return 0;
#endif
  return static_cast<int64_t>(end - begin);
}

}  // namespace

PackingStats packLayerMatrices(ModelWeights& w, int threads, const void* mapBegin, const void* mapEnd,
                               Layout layout) {
  const auto start = std::chrono::steady_clock::now();
  PackingStats stats;
  std::vector<TensorView*> todo;
  for (LayerWeights& L : w.layers)
    for (TensorView* t : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w1, &L.w2, &L.w3})
      if (kernels::packable(*t)) todo.push_back(t);
  threads = std::max(1, threads);
  for (TensorView* t : todo) {
    const int64_t bytes = kernels::packedBytes(t->type, t->rows, t->cols, layout);
    std::shared_ptr<void> buf = allocatePacked(bytes);
    const int64_t pr = panelRowsOf(layout), panels = (t->rows + pr - 1) / pr;
    const int parts = static_cast<int>(std::min<int64_t>(threads, panels));
    std::vector<std::thread> pool;
    for (int i = 1; i < parts; ++i)
      pool.emplace_back(
          [&, i] { kernels::packPanels(*t, buf.get(), panels * i / parts, panels * (i + 1) / parts, layout); });
    kernels::packPanels(*t, buf.get(), 0, panels / parts, layout);
    for (auto& th : pool) th.join();
    const void* old = t->data;
    const int64_t oldBytes = t->elements() * (t->type == DType::F32 ? 4 : 2);
    *t = kernels::packedView(*t, buf.get(), layout);
    w.owned.push_back(std::move(buf));
    ++stats.tensors;
    stats.packedBytes += bytes;
    const auto* o = static_cast<const uint8_t*>(old);
    if (mapBegin && o >= static_cast<const uint8_t*>(mapBegin) && o + oldBytes <= static_cast<const uint8_t*>(mapEnd))
      stats.releasedBytes += releasePages(old, oldBytes);
  }
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

std::shared_ptr<const ModelWeights> loadPackedModelWeights(const std::string& path, int threads,
                                                           const std::string& isa) {
  const Layout layout = kernels::packedLayoutFor(kernels::selectIsa(isa));
  LoadOptions lo;
  lo.prepare = [threads, layout](ModelWeights& w, const void* mapBegin, const void* mapEnd) {
    const int n = threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency());
    packLayerMatrices(w, n, mapBegin, mapEnd, layout);
  };
  return loadModelWeights(path, lo);
}

}  // namespace redrafter::cpu

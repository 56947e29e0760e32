#include "cpu/engine/weight_packing.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
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

// A buffer of `bytes`, 64-byte aligned; from 2 MiB on, 2 MiB-aligned and backed by transparent huge pages
// (madvise MADV_HUGEPAGE, where the kernel offers them) unless $REDRAFTER_HUGE_PAGES is "0". On 4 KiB pages the
// forward of several tokens, which computes while the weights stream, cost more (most likely the TLB misses; the
// one-token forward did not change). 2 threads, the forward of 8 tokens over that of one, dim-1536 f32 model:
// AVX2 1.30-1.33x -> 1.17-1.22x, AVX-512 1.13x -> 1.09x (interleaved in one process; bench/RESULTS.md, fifth round).
// The cost is at load, where the kernel has to compact memory for the huge pages: loading a model took 0.5-3.6 s
// against 0.6-5.4 s with small pages in the same runs (an earlier measurement: 0.75-5.9 s for 3.9 GB).
std::shared_ptr<void> allocatePacked(int64_t bytes) {
#ifndef _WIN32
  void* p = nullptr;
  constexpr size_t kHugePage = size_t(2) << 20;
  const char* env = std::getenv("REDRAFTER_HUGE_PAGES");
  const bool huge = static_cast<size_t>(bytes) >= kHugePage && !(env && std::string(env) == "0");
  const size_t align = huge ? kHugePage : 64;
  const size_t size = huge ? (static_cast<size_t>(bytes) + kHugePage - 1) / kHugePage * kHugePage
                           : static_cast<size_t>(bytes);
  if (posix_memalign(&p, align, size) != 0 || !p)
    fail(ErrorCode::Internal, "cannot allocate " + std::to_string(bytes) + " bytes for a packed tensor");
#ifdef MADV_HUGEPAGE
  if (huge) madvise(p, size, MADV_HUGEPAGE);  // advice only: small pages where the kernel declines
#endif
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

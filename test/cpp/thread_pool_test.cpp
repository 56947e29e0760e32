// The forward's thread pool (native/cpu/engine/thread_pool.h): every index of every job runs exactly once and before
// parallelFor returns, whatever the pool size, the job sizes (jobs that need fewer threads than the pool has, back
// to back, leave idle workers that may still be reading the previous job when the next is published) and the pauses
// between jobs (workers spinning, or asleep); the caller's exception reaches the caller.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "cpu/engine/thread_pool.h"

using redrafter::cpu::ThreadPool;

TEST_CASE("ThreadPool: every index exactly once per job, back to back and after pauses, for 1-4 threads") {
  std::mt19937 rng(5);
  for (int32_t threads = 1; threads <= 4; ++threads) {
    CAPTURE(threads);
    ThreadPool pool(threads);
    std::vector<std::atomic<int32_t>> hits(64);
    int64_t bad = 0;
    for (int job = 0; job < 20000; ++job) {
      const int64_t count = 1 + int64_t(rng() % 64), grain = 1 + int64_t(rng() % 24);
      for (auto& h : hits) h.store(0, std::memory_order_relaxed);
      pool.parallelFor(count, grain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) hits[size_t(i)].fetch_add(1, std::memory_order_relaxed);
      });
      for (int64_t i = 0; i < 64; ++i) bad += hits[size_t(i)].load() != (i < count ? 1 : 0);
      if (job % 2000 == 1999)  // long enough for the workers to stop spinning and sleep
        std::this_thread::sleep_for(std::chrono::microseconds(3 * ThreadPool::kSpinMicros));
    }
    CHECK(bad == 0);
  }
}

TEST_CASE("ThreadPool: an exception in the caller's range reaches the caller after the workers finish") {
  ThreadPool pool(2);
  std::atomic<int32_t> done{0};
  CHECK_THROWS_AS(pool.parallelFor(2, 1,
                                   [&](int64_t begin, int64_t) {
                                     if (begin == 0) throw std::runtime_error("caller's range");
                                     std::this_thread::sleep_for(std::chrono::milliseconds(5));
                                     done.fetch_add(1);
                                   }),
                  std::runtime_error);
  CHECK(done.load() == 1);
  // and the pool still works
  std::atomic<int64_t> sum{0};
  pool.parallelFor(100, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) sum.fetch_add(i);
  });
  CHECK(sum.load() == 4950);
}

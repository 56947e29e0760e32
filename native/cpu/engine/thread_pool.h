// A small fixed thread pool for the forward pass: parallelFor splits [0, count) into one contiguous range per
// thread (the caller runs the first), and returns when all are done. Which thread computes which range never
// changes a result: every kernel's reduction order is fixed per output element.
//
// Handoff: a forward runs dozens of parallelFor calls a few microseconds apart, and waking a thread that sleeps on
// a futex costs 10-50 us on a virtual machine (more than a small model's whole matmul). So a worker that finishes
// its range, and a caller waiting for the others, spin for up to kSpinMicros on an atomic before they sleep on the
// condition variable: the next job of the same forward finds the workers awake, and between forwards they sleep
// (no core is kept busy while the engine idles). Measured on stories260K, 2 threads, W=1 L=4 drafted steps: 0.46x
// plain decoding's rate with sleeping workers, 0.93-0.95x with spinning ones (and 1.0-1.03x once the forward stopped
// splitting jobs under kMinRangeWork).
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace redrafter::cpu {

class ThreadPool {
 public:
  explicit ThreadPool(int32_t threads);  // threads >= 1, including the calling thread
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int32_t size() const { return static_cast<int32_t>(workers_.size()) + 1; }

  static constexpr int64_t kSpinMicros = 50;  // how long a worker or a waiting caller spins before it sleeps

  // The least work (multiply-adds) a range handed to a thread should take, for the forward (transformer.cpp) and the
  // drafter: handing a range to another thread costs a few microseconds even with spinning workers, so smaller jobs
  // run on the calling thread alone. 256K: stories260K's 4-token verification no longer splits its attention and
  // classifier, and drafting there went from 0.90-0.95x to 1.0-1.03x plain decoding's rate with 2 threads (64K
  // matmul and 16K attention ranges before). The drafter's matrices of the dim-1536 expansion (1.6-9.4M
  // multiply-adds a drafted token) are all split with it; with the 4M the drafter had, only the largest was, and a
  // W=1 L=8 draft took 9.6 / 6.1 ms at f16 / q8_0 against 6.4 / 3.9 ms (bench/cpp/drafter_bench.cpp, 2 threads).
  static constexpr int64_t kMinRangeWork = int64_t(1) << 18;

  // body(begin, end) over contiguous ranges of [0, count), in chunks of at least `grain` items (so small jobs run
  // on fewer threads). Not reentrant: one parallelFor at a time (the Transformer serialises its forwards).
  void parallelFor(int64_t count, int64_t grain, const std::function<void(int64_t, int64_t)>& body);

 private:
  void workerLoop(int32_t index);

  std::vector<std::thread> workers_;
  std::mutex mutex_;  // guards the sleeps (with wake_ and done_); the job itself is published through generation_
  std::condition_variable wake_, done_;
  // the current job: written by parallelFor with its generation_ bump, read by a worker with the generation, both
  // under mutex_ (a worker the last job did not need may read while the next job is published)
  const std::function<void(int64_t, int64_t)>* body_ = nullptr;
  int64_t count_ = 0;
  int32_t parts_ = 0;                       // ranges in the current job (<= size())
  std::atomic<uint64_t> generation_{0};     // bumped per job
  std::atomic<int32_t> pending_{0};         // worker ranges not yet finished
  std::atomic<bool> stop_{false};
};

}  // namespace redrafter::cpu

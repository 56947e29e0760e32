// A small fixed thread pool for the forward pass: parallelFor splits [0, count) into one contiguous range per
// thread (the caller runs the first), and returns when all are done. Which thread computes which range never
// changes a result: every kernel's reduction order is fixed per output element.
#pragma once
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

  // body(begin, end) over contiguous ranges of [0, count), in chunks of at least `grain` items (so small jobs run
  // on fewer threads). Not reentrant: one parallelFor at a time (the Transformer serialises its forwards).
  void parallelFor(int64_t count, int64_t grain, const std::function<void(int64_t, int64_t)>& body);

 private:
  void workerLoop(int32_t index);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(int64_t, int64_t)>* body_ = nullptr;
  int64_t count_ = 0;
  int32_t parts_ = 0;       // ranges in the current job (<= size())
  uint64_t generation_ = 0;  // bumped per job
  int32_t pending_ = 0;      // worker ranges not yet finished
  bool stop_ = false;
};

}  // namespace redrafter::cpu

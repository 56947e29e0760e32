#include "cpu/engine/thread_pool.h"

#include <algorithm>
#include <exception>

namespace redrafter::cpu {

ThreadPool::ThreadPool(int32_t threads) {
  for (int32_t i = 1; i < std::max<int32_t>(threads, 1); ++i) workers_.emplace_back([this, i] { workerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

static void rangeOf(int64_t count, int32_t parts, int32_t index, int64_t* begin, int64_t* end) {
  *begin = count * index / parts;
  *end = count * (index + 1) / parts;
}

void ThreadPool::parallelFor(int64_t count, int64_t grain, const std::function<void(int64_t, int64_t)>& body) {
  if (count <= 0) return;
  int64_t maxParts = std::max<int64_t>(1, count / std::max<int64_t>(grain, 1));
  int32_t parts = static_cast<int32_t>(std::min<int64_t>(size(), maxParts));
  if (parts <= 1) {
    body(0, count);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    body_ = &body;
    count_ = count;
    parts_ = parts;
    pending_ = parts - 1;
    ++generation_;
  }
  wake_.notify_all();
  std::exception_ptr error;
  int64_t begin, end;
  rangeOf(count, parts, 0, &begin, &end);
  try {
    body(begin, end);
  } catch (...) {
    error = std::current_exception();
  }
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [this] { return pending_ == 0; });
  body_ = nullptr;
  if (error) std::rethrow_exception(error);
}

void ThreadPool::workerLoop(int32_t index) {
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(int64_t, int64_t)>* body;
    int64_t count;
    int32_t parts;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      if (index >= parts_) continue;  // not needed for this job
      body = body_;
      count = count_;
      parts = parts_;
    }
    int64_t begin, end;
    rangeOf(count, parts, index, &begin, &end);
    try {
      (*body)(begin, end);
    } catch (...) {
      // Kernels do not throw; a failure here would be a bug. Never let it escape the thread.
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --pending_;
    }
    done_.notify_one();
  }
}

}  // namespace redrafter::cpu

#include "cpu/engine/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <exception>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace redrafter::cpu {
namespace {

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

// Spins until done() or kSpinMicros have passed; whether done() held.
template <class Done>
bool spinUntil(Done done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(ThreadPool::kSpinMicros);
  for (int i = 0;; ++i) {
    if (done()) return true;
    cpuRelax();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() >= until) return done();
  }
}

void rangeOf(int64_t count, int32_t parts, int32_t index, int64_t* begin, int64_t* end) {
  *begin = count * index / parts;
  *end = count * (index + 1) / parts;
}

}  // namespace

ThreadPool::ThreadPool(int32_t threads) {
  for (int32_t i = 1; i < std::max<int32_t>(threads, 1); ++i) workers_.emplace_back([this, i] { workerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
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
    // Under the mutex: a worker between its last check and its sleep holds it, so it cannot miss this job; and a
    // worker not needed by the last job may still be about to read it (the caller waits only for the needed ones),
    // so workers take the job's fields and its generation together under the mutex too.
    std::lock_guard<std::mutex> lock(mutex_);
    body_ = &body;
    count_ = count;
    parts_ = parts;
    pending_.store(parts - 1, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();  // no system call when every worker is spinning (none waits)
  std::exception_ptr error;
  int64_t begin, end;
  rangeOf(count, parts, 0, &begin, &end);
  try {
    body(begin, end);
  } catch (...) {
    error = std::current_exception();
  }
  auto finished = [this] { return pending_.load(std::memory_order_acquire) == 0; };
  if (!spinUntil(finished)) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, finished);
  }
  if (error) std::rethrow_exception(error);
}

void ThreadPool::workerLoop(int32_t index) {
  uint64_t seen = 0;
  for (;;) {
    auto fresh = [&] { return stop_.load(std::memory_order_acquire) || generation_.load(std::memory_order_acquire) != seen; };
    if (!spinUntil(fresh)) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, fresh);
    }
    const std::function<void(int64_t, int64_t)>* body;
    int64_t count;
    int32_t parts;
    {
      std::lock_guard<std::mutex> lock(mutex_);  // the newest job, whole (see parallelFor)
      if (stop_.load(std::memory_order_relaxed)) return;
      seen = generation_.load(std::memory_order_relaxed);
      body = body_;
      count = count_;
      parts = parts_;
    }
    if (index >= parts) continue;  // not needed for this job
    int64_t begin, end;
    rangeOf(count, parts, index, &begin, &end);
    try {
      (*body)(begin, end);
    } catch (...) {
      // Kernels do not throw; a failure here would be a bug. Never let it escape the thread.
    }
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mutex_);  // a caller between its last check and its sleep holds it
      done_.notify_one();
    }
  }
}

}  // namespace redrafter::cpu

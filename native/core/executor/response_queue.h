// A thread-safe queue of executor responses: producers push, one consumer awaits with a timeout.
#pragma once
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <vector>

#include "core/executor/executor_interface.h"

namespace redrafter::executor {

class ResponseQueue {
 public:
  void push(Response response);
  // Everything queued, waiting up to `timeout` for the first; empty on timeout or when closed and drained.
  std::vector<Response> await(std::chrono::milliseconds timeout);
  // No more pushes will come: waiting consumers return once the queue is drained.
  void close();
  bool closed() const;

 private:
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Response> queue_;
  bool closed_ = false;
};

}  // namespace redrafter::executor

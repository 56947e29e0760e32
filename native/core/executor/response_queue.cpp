#include "core/executor/response_queue.h"

namespace redrafter::executor {

void ResponseQueue::push(Response response) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(response));
  }
  ready_.notify_all();
}

std::vector<Response> ResponseQueue::await(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  ready_.wait_for(lock, timeout, [&] { return !queue_.empty() || closed_; });
  std::vector<Response> out;
  out.reserve(queue_.size());
  while (!queue_.empty()) {
    out.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return out;
}

void ResponseQueue::close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
  }
  ready_.notify_all();
}

bool ResponseQueue::closed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return closed_;
}

}  // namespace redrafter::executor

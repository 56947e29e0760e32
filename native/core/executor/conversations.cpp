#include "core/executor/conversations.h"

#include <utility>

#include "core/error.h"

namespace redrafter::executor {

Conversations::Conversations(std::unique_ptr<Executor> backend) : backend_(std::move(backend)) {
  RD_REQUIRE(backend_ != nullptr, "backend", "is missing");
  info_ = backend_->modelInfo();
}

Conversations::~Conversations() = default;

SessionId Conversations::open() {
  std::lock_guard<std::mutex> lock(mutex_);
  const SessionId id = backend_->createSession();
  sessions_[id];
  return id;
}

void Conversations::release(SessionId session) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = sessions_.find(session);
    if (it == sessions_.end() || it->second.released) return;
    it->second.released = true;
  }
  backend_->releaseSession(session);
}

void Conversations::forget(SessionId session) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = sessions_.find(session);
  if (it != sessions_.end() && it->second.released) sessions_.erase(it);
}

RequestId Conversations::enqueue(SessionId session, const std::vector<int32_t>& prompt, Request request) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = sessions_.find(session);
  RD_REQUIRE(it != sessions_.end() && !it->second.released, "session", "is unknown or was released");
  Conversation& c = it->second;
  RD_REQUIRE(c.inFlight == 0, "session", "already has a request in flight (await it or abort it first)");
  Turn turn;
  turn.session = session;
  turn.input.reserve(c.tokens.size() + prompt.size());
  turn.input.insert(turn.input.end(), c.tokens.begin(), c.tokens.end());
  turn.input.insert(turn.input.end(), prompt.begin(), prompt.end());
  RD_REQUIRE(!turn.input.empty(), "prompt", "must not be empty");
  turn.streaming = request.streaming;
  request.session = session;
  request.inputTokenIds = turn.input;
  // The lock is held across the backend's enqueue, so the poller cannot see this request's end before it is known.
  const RequestId id = backend_->enqueueRequest(std::move(request));
  c.inFlight = id;
  turns_.emplace(id, std::move(turn));
  return id;
}

std::vector<int32_t> Conversations::history(SessionId session) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = sessions_.find(session);
  return it == sessions_.end() ? std::vector<int32_t>{} : it->second.tokens;
}

size_t Conversations::historyLength(SessionId session) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = sessions_.find(session);
  return it == sessions_.end() ? 0 : it->second.tokens.size();
}

int32_t Conversations::lastToken(SessionId session) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = sessions_.find(session);
  return it == sessions_.end() || it->second.tokens.empty() ? -1 : it->second.tokens.back();
}

void Conversations::reset(SessionId session) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  it->second.tokens.clear();
  it->second.last = 0;
}

void Conversations::keepOutput(SessionId session, RequestId request, size_t count) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  Conversation& c = it->second;
  if (c.last != request || c.lastInput + count >= c.tokens.size()) return;
  c.tokens.resize(c.lastInput + count);
}

std::vector<Response> Conversations::awaitResponses(std::chrono::milliseconds timeout) {
  std::vector<Response> responses = backend_->awaitResponses(timeout);
  if (responses.empty()) return responses;
  std::lock_guard<std::mutex> lock(mutex_);
  for (const Response& r : responses) {
    auto t = turns_.find(r.requestId);
    if (t == turns_.end()) continue;
    Turn& turn = t->second;
    if (turn.streaming || r.isFinal) turn.output.insert(turn.output.end(), r.outputTokenIds.begin(), r.outputTokenIds.end());
    if (!r.isFinal) continue;
    auto s = sessions_.find(turn.session);
    if (s != sessions_.end()) {
      Conversation& c = s->second;
      if (c.inFlight == r.requestId) c.inFlight = 0;
      if (r.finishReason != FinishReason::Error) {  // a refused request leaves the conversation as it was
        c.lastInput = turn.input.size();
        c.tokens = std::move(turn.input);
        c.tokens.insert(c.tokens.end(), turn.output.begin(), turn.output.end());
        c.last = r.requestId;
      }
    }
    turns_.erase(t);
  }
  return responses;
}

}  // namespace redrafter::executor

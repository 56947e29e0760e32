#include "core/executor/step_executor.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace redrafter::executor {

void validateRequest(const Request& r, const RequestLimits& limits) {
  const auto& s = r.sampling;
  RD_REQUIRE(std::isfinite(s.temperature) && s.temperature >= 0, "temperature", "must be a finite number >= 0");
  RD_REQUIRE(s.topK >= 0, "topK", "must be an integer >= 0 (0: off)");
  RD_REQUIRE(std::isfinite(s.topP) && s.topP > 0 && s.topP <= 1, "topP", "must be in (0, 1]");
  const auto& d = r.draft;
  RD_REQUIRE(d.beamWidth >= 0, "beamWidth", "must be an integer >= 0");
  if (d.beamWidth > 0) {
    RD_REQUIRE(limits.hasDrafter, "beamWidth", "must be 0 without a drafter");
    RD_REQUIRE(d.beamWidth <= limits.maxBeamWidth, "beamWidth", "must be at most " + std::to_string(limits.maxBeamWidth));
    RD_REQUIRE(d.beamLength >= 2 && d.beamLength <= limits.maxBeamLength, "beamLength",
               "must be in [2, " + std::to_string(limits.maxBeamLength) + "]");
  }
  for (int32_t t : r.endIds)
    RD_REQUIRE(t >= 0 && t < limits.vocabSize, "endIds", "holds a token id outside the vocabulary");
  if (int64_t(r.inputTokenIds.size()) > limits.contextLength)
    fail(ErrorCode::ContextOverflow, "prompt has " + std::to_string(r.inputTokenIds.size()) +
                                         " tokens, more than the context length " + std::to_string(limits.contextLength));
}

namespace {
double secondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

// ---- ActiveRequest ------------------------------------------------------------------------------

ActiveRequest::ActiveRequest(RequestId id, Request request) : id_(id), request_(std::move(request)) {
  stats.promptTokens = int32_t(request_.inputTokenIds.size());
  enqueued_ = std::chrono::steady_clock::now();
}

int ActiveRequest::emit(const int32_t* tokens, int count) {
  int taken = 0;
  for (int i = 0; i < count && !finished(); ++i) {
    int32_t t = tokens[i];
    ++taken;
    if (std::find(request_.endIds.begin(), request_.endIds.end(), t) != request_.endIds.end()) {
      finish(FinishReason::Eos);
      break;
    }
    output_.push_back(t);
    stats.generatedTokens = int32_t(output_.size());
    for (const auto& seq : request_.stopTokenSequences) {
      if (!seq.empty() && seq.size() <= output_.size() &&
          std::equal(seq.rbegin(), seq.rend(), output_.rbegin())) {
        finish(FinishReason::Stop);
        break;
      }
    }
    if (!finished() && int32_t(output_.size()) >= request_.maxTokens) finish(FinishReason::Length);
  }
  return taken;
}

void ActiveRequest::recordStep(int tokens, int32_t beamWidth, int32_t beamLength) {
  stats.steps += 1;
  if (tokens < 0) tokens = 0;
  if (int(stats.tokensPerStepHistogram.size()) <= tokens) stats.tokensPerStepHistogram.resize(tokens + 1, 0);
  stats.tokensPerStepHistogram[tokens] += 1;
  if (beamWidth < 0) return;
  for (auto& s : stats.shapeSteps)
    if (s.beamWidth == beamWidth && s.beamLength == beamLength) {
      s.steps += 1;
      return;
    }
  stats.shapeSteps.push_back({beamWidth, beamLength, 1});
}

void ActiveRequest::finish(FinishReason reason) {
  if (finish_ == FinishReason::NotFinished) finish_ = reason;
}

void ActiveRequest::fail(ErrorCode code, const std::string& message) {
  if (finished()) return;
  finish_ = FinishReason::Error;
  errorCode_ = code;
  error_ = message;
}

// ---- StepExecutor -------------------------------------------------------------------------------

StepExecutor::StepExecutor(std::unique_ptr<StepBackend> backend, StepExecutorOptions options)
    : backend_(std::move(backend)), options_(options) {
  RD_REQUIRE(backend_ != nullptr, "backend", "is missing");
  RD_REQUIRE(options_.maxActiveRequests >= 1, "maxActiveRequests", "must be at least 1");
  info_ = backend_->modelInfo();
  worker_ = std::thread([this] { workerLoop(); });
}

StepExecutor::~StepExecutor() { shutdown(); }

ModelInfo StepExecutor::modelInfo() const { return info_; }

SessionId StepExecutor::createSession() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) redrafter::fail(ErrorCode::Disposed, "the engine was disposed");
  SessionId id = nextSession_++;
  sessions_.insert(id);
  return id;
}

void StepExecutor::releaseSession(SessionId session) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ || !sessions_.erase(session)) return;
    for (auto& [id, request] : inFlight_)
      if (request->request().session == session) request->cancelled_ = true;
    releases_.push_back(session);
  }
  wake_.notify_all();
}

RequestId StepExecutor::enqueueRequest(Request request) {
  RD_REQUIRE(request.maxTokens > 0, "maxTokens", "must be a positive integer");
  RD_REQUIRE(!request.inputTokenIds.empty(), "prompt", "must not be empty");
  for (int32_t t : request.inputTokenIds)
    RD_REQUIRE(t >= 0 && t < info_.vocabSize, "prompt", "holds a token id outside the vocabulary");
  std::shared_ptr<StepBackend> backend;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) redrafter::fail(ErrorCode::Disposed, "the engine was disposed");
    backend = backend_;
  }
  backend->validate(request);
  RequestId id;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) redrafter::fail(ErrorCode::Disposed, "the engine was disposed");
    RD_REQUIRE(sessions_.count(request.session) == 1, "session", "is unknown or was released");
    for (auto& [other, r] : inFlight_)
      RD_REQUIRE(r->request().session != request.session, "session",
                 "already has a request in flight (await it or abort it first)");
    id = nextRequest_++;
    auto active = std::make_shared<ActiveRequest>(id, std::move(request));
    pending_.push_back(active);
    inFlight_[id] = active;
  }
  wake_.notify_all();
  return id;
}

std::vector<Response> StepExecutor::awaitResponses(std::chrono::milliseconds timeout) {
  return responses_.await(timeout);
}

void StepExecutor::cancelRequest(RequestId id) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = inFlight_.find(id);
    if (it == inFlight_.end()) return;
    it->second->cancelled_ = true;
  }
  wake_.notify_all();
}

void StepExecutor::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && !worker_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable() && worker_.get_id() != std::this_thread::get_id()) worker_.join();
  if (worker_.joinable()) return;  // called on the worker thread: it still runs the backend
  std::shared_ptr<StepBackend> done;  // the last reference frees the backend here, outside the lock
  {
    std::lock_guard<std::mutex> lock(mutex_);
    done = std::move(backend_);
  }
}

bool StepExecutor::isShutdown() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stopping_;
}

void StepExecutor::deliver(ActiveRequest& r) {
  bool final = r.finished();
  bool streaming = r.request().streaming;
  if (!final && (!streaming || r.sent_ == r.output_.size())) return;
  Response response;
  response.requestId = r.id_;
  size_t from = streaming ? r.sent_ : 0;
  response.outputTokenIds.assign(r.output_.begin() + from, r.output_.end());
  r.sent_ = r.output_.size();
  response.isFinal = final;
  response.finishReason = r.finish_;
  response.errorCode = r.errorCode_;
  response.error = r.error_;
  if (final) {  // statistics go with the final response only: a streamed piece copies none
    r.stats.totalSeconds = secondsSince(r.started_);
    response.stats = r.stats;
  }
  responses_.push(std::move(response));
}

void StepExecutor::retire(const std::shared_ptr<ActiveRequest>& r) {
  try {
    backend_->end(*r);
  } catch (...) {
  }
  r->state.reset();
  {
    // Free the session before the final response goes out: its receiver may enqueue the next turn at once.
    std::lock_guard<std::mutex> lock(mutex_);
    inFlight_.erase(r->id_);
    busySessions_.erase(r->request().session);
  }
  deliver(*r);
}

// Moves pending requests whose session is free into the active set (worker thread, lock held).
void StepExecutor::admit(std::vector<std::shared_ptr<ActiveRequest>>& started) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (int(active_.size() + started.size()) >= options_.maxActiveRequests) break;
    SessionId s = (*it)->request().session;
    if (busySessions_.count(s)) {
      ++it;
      continue;
    }
    busySessions_.insert(s);
    started.push_back(*it);
    it = pending_.erase(it);
  }
}

void StepExecutor::workerLoop() {
  for (;;) {
    std::vector<std::shared_ptr<ActiveRequest>> started, cancelled;
    std::vector<SessionId> releases;
    bool stopping;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] {
        return stopping_ || !releases_.empty() || !active_.empty() ||
               (!pending_.empty() && int(active_.size()) < options_.maxActiveRequests);
      });
      stopping = stopping_;
      if (stopping) {
        for (auto& r : pending_) r->cancelled_ = true;
        for (auto& r : active_) r->cancelled_ = true;
      }
      // Cancelled requests still waiting in the queue end without running.
      for (auto it = pending_.begin(); it != pending_.end();) {
        if ((*it)->cancelled_) {
          cancelled.push_back(*it);
          it = pending_.erase(it);
        } else {
          ++it;
        }
      }
      if (!stopping) admit(started);
      releases.swap(releases_);
    }
    auto now = std::chrono::steady_clock::now();
    for (auto& r : cancelled) {
      r->started_ = now;
      r->finish(FinishReason::Abort);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        inFlight_.erase(r->id_);
      }
      deliver(*r);
    }
    // Context phase of newly admitted requests.
    for (auto& r : started) {
      r->started_ = std::chrono::steady_clock::now();
      r->stats.queueSeconds = std::chrono::duration<double>(r->started_ - r->enqueued_).count();
      if (r->cancelled_) {
        r->finish(FinishReason::Abort);
      } else {
        try {
          backend_->start(*r);
        } catch (const Error& e) {
          r->fail(e.code(), e.what());
        } catch (const std::bad_alloc&) {
          r->fail(ErrorCode::OutOfMemory, "out of memory in the context phase");
        } catch (const std::exception& e) {
          r->fail(ErrorCode::Internal, e.what());
        }
      }
      active_.push_back(r);
    }
    // One decoding step for every request still running.
    std::vector<ActiveRequest*> running;
    for (auto& r : active_) {
      if (r->cancelled_) r->finish(FinishReason::Abort);
      if (!r->finished()) running.push_back(r.get());
    }
    if (!running.empty() && !started.empty()) {
      // Deliver the first tokens (from the prefill) before the first step: time to first token.
      for (auto* r : running) deliver(*r);
    }
    if (!running.empty()) {
      try {
        backend_->step(running);
      } catch (const Error& e) {
        for (auto* r : running) r->fail(e.code(), e.what());
      } catch (const std::bad_alloc&) {
        for (auto* r : running) r->fail(ErrorCode::OutOfMemory, "out of memory in a decoding step");
      } catch (const std::exception& e) {
        for (auto* r : running) r->fail(ErrorCode::Internal, e.what());
      }
    }
    for (auto it = active_.begin(); it != active_.end();) {
      if ((*it)->finished()) {
        retire(*it);
        it = active_.erase(it);
      } else {
        deliver(**it);
        ++it;
      }
    }
    for (SessionId s : releases) {
      try {
        backend_->releaseSession(s);
      } catch (...) {
      }
    }
    if (stopping) {
      bool empty;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        empty = pending_.empty() && active_.empty();
        if (empty) {
          for (SessionId s : sessions_) {
            try {
              backend_->releaseSession(s);
            } catch (...) {
            }
          }
          sessions_.clear();
        }
      }
      if (empty) {
        responses_.close();
        return;
      }
    }
  }
}

}  // namespace redrafter::executor

// The backend-independent half of an executor that runs decoding steps itself (the CPU engine): request
// queue, id allocation, sessions, cancellation flags, the worker thread, stop conditions and streaming of
// responses. A StepBackend supplies the model work: the context phase (prefill) and one decoding step for
// every request in flight, batched as the backend sees fit.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "core/executor/executor_interface.h"
#include "core/executor/response_queue.h"

namespace redrafter::executor {

// One request in flight, as the backend sees it. The backend keeps its own per-request state in `state`.
class ActiveRequest {
 public:
  ActiveRequest(RequestId id, Request request);

  RequestId id() const { return id_; }
  const Request& request() const { return request_; }
  // Tokens emitted so far (not counting end ids).
  const std::vector<int32_t>& output() const { return output_; }
  int32_t remainingTokens() const { return request_.maxTokens - int32_t(output_.size()); }
  bool finished() const { return finish_ != FinishReason::NotFinished; }
  FinishReason finishReason() const { return finish_; }

  // Appends generated tokens in order, applying the stop conditions (end id, stop sequences, maxTokens);
  // tokens after the one that finished the request are dropped. Returns how many were taken.
  int emit(const int32_t* tokens, int count);
  // Records one decoding step that produced `tokens` tokens (accepted drafts + the LLM's own token), and the beam
  // shape it ran when given (beamWidth 0: a plain step; beamWidth < 0: not reported).
  void recordStep(int tokens, int32_t beamWidth = -1, int32_t beamLength = 1);
  // Ends the request (no effect when already finished).
  void finish(FinishReason reason);
  void fail(ErrorCode code, const std::string& message);

  RequestStats stats;
  std::shared_ptr<void> state;  // the backend's

 private:
  friend class StepExecutor;
  RequestId id_;
  Request request_;
  std::vector<int32_t> output_;
  size_t sent_ = 0;  // output_ tokens already delivered
  FinishReason finish_ = FinishReason::NotFinished;
  ErrorCode errorCode_ = ErrorCode::Internal;
  std::string error_;
  std::atomic<bool> cancelled_{false};
  std::chrono::steady_clock::time_point enqueued_, started_;
};

class StepBackend {
 public:
  virtual ~StepBackend() = default;
  virtual ModelInfo modelInfo() const = 0;
  // Throws InvalidArgument naming the field (or ContextOverflow) for a request this backend cannot run.
  virtual void validate(const Request& request) const = 0;
  // Context phase on the worker thread: reuse the session's cache, prefill, emit the first token.
  virtual void start(ActiveRequest& request) = 0;
  // One decoding step for each request (none finished); each emits what it produced or finishes.
  virtual void step(const std::vector<ActiveRequest*>& requests) = 0;
  // The request is done (finished, cancelled or failed): drop its per-request state.
  virtual void end(ActiveRequest& request) = 0;
  // Frees a session's KV cache (never while one of its requests is in flight).
  virtual void releaseSession(SessionId session) = 0;
};

// What a step backend can run, for validateRequest.
struct RequestLimits {
  bool hasDrafter = false;
  int32_t maxBeamWidth = 0, maxBeamLength = 0;  // with a drafter
  int32_t vocabSize = 0;
  int32_t contextLength = 0;
};

// The checks every step backend applies to a request, with the one set of native bounds: temperature finite and
// >= 0, topK >= 0, topP in (0, 1], the beam shape within the limits (beamWidth 0 without a drafter), end ids inside
// the vocabulary (InvalidArgument naming the field); the prompt inside the context (ContextOverflow).
void validateRequest(const Request& request, const RequestLimits& limits);

struct StepExecutorOptions {
  int32_t maxActiveRequests = 8;  // requests stepped together; the rest wait in the queue
};

class StepExecutor : public Executor {
 public:
  StepExecutor(std::unique_ptr<StepBackend> backend, StepExecutorOptions options = {});
  ~StepExecutor() override;

  ModelInfo modelInfo() const override;
  SessionId createSession() override;
  void releaseSession(SessionId session) override;
  RequestId enqueueRequest(Request request) override;
  std::vector<Response> awaitResponses(std::chrono::milliseconds timeout) override;
  void cancelRequest(RequestId id) override;
  void shutdown() override;
  bool isShutdown() const override;

 private:
  void workerLoop();
  void admit(std::vector<std::shared_ptr<ActiveRequest>>& started);
  void deliver(ActiveRequest& request);
  void retire(const std::shared_ptr<ActiveRequest>& request);

  // The model work; shutdown() frees it once the worker has ended (the weights, caches and threads go with it while
  // the executor, which sessions keep readable, lives on). enqueueRequest validates with its own reference.
  std::shared_ptr<StepBackend> backend_;
  StepExecutorOptions options_;
  ModelInfo info_;
  ResponseQueue responses_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  RequestId nextRequest_ = 1;
  SessionId nextSession_ = 1;
  std::set<SessionId> sessions_;
  std::set<SessionId> busySessions_;  // with a request admitted (worker thread owns their caches)
  std::vector<SessionId> releases_;   // to release on the worker thread
  std::deque<std::shared_ptr<ActiveRequest>> pending_;
  std::vector<std::shared_ptr<ActiveRequest>> active_;            // worker thread only
  std::map<RequestId, std::shared_ptr<ActiveRequest>> inFlight_;  // pending + active, for cancelRequest
  std::thread worker_;
};

}  // namespace redrafter::executor

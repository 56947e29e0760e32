// The bookkeeping of an executor over an engine that runs its own decoding loop (TensorRT-LLM's Executor): our
// request ids <-> the engine's, sessions (one request in flight each), cancellation, conversion of the engine's
// results into responses (StreamedRequest), and the aborts of shutdown. Engine-independent and tested without a
// GPU (test/cpp/engine_requests_test.cpp); the backend (native/trtllm) only calls the engine and feeds this table
// what the engine returns. Not thread-safe: the backend holds its own lock around every call.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/executor/executor_interface.h"
#include "core/executor/streamed_request.h"

namespace redrafter::executor {

using EngineRequestId = uint64_t;

// One result as the engine reports it (for TensorRT-LLM: a tle::Response, beam 0).
struct EngineResult {
  EngineRequestId engineId = 0;
  bool hasError = false;
  std::string errorMessage;      // when hasError
  std::vector<int32_t> tokens;   // new output tokens (streaming)
  int32_t decodingIter = 0;      // cumulative, context phase included
  bool isFinal = false;
  FinishReason reason = FinishReason::NotFinished;  // Eos / Stop / Length when the engine says so
};

class EngineRequests {
 public:
  using Clock = StreamedRequest::Clock;

  // Throws Disposed once closed.
  SessionId createSession();
  // Forgets the session; returns the engine ids of its in-flight request to cancel (it then ends with Abort).
  std::vector<EngineRequestId> releaseSession(SessionId session);

  // Throws Disposed once closed, InvalidArgument for an unknown session or one with a request in flight.
  void checkAdmissible(const Request& request) const;
  // Records a request the engine accepted as `engineId`; returns our id.
  RequestId add(Request request, EngineRequestId engineId, Clock::time_point now);

  // Turns the engine's results into responses (unknown or finished engine ids are ignored). Appends to `toCancel`
  // the engine ids of requests our stop conditions ended first (the backend cancels them in the engine).
  std::vector<Response> onResults(const std::vector<EngineResult>& results, std::vector<EngineRequestId>& toCancel,
                                  Clock::time_point now);

  // Marks the request cancelled; the engine id to cancel, or nothing for unknown/finished ids.
  std::optional<EngineRequestId> cancel(RequestId id);

  // No more sessions or requests; every in-flight request is marked cancelled. Returns their engine ids.
  std::vector<EngineRequestId> close();
  bool closed() const { return closed_; }
  bool empty() const { return requests_.empty(); }

  // The final responses of every request still in flight (Abort, or Error with `message`), which are forgotten.
  std::vector<Response> abortAll(Clock::time_point now);
  std::vector<Response> failAll(const std::string& message, Clock::time_point now);

 private:
  struct Entry {
    std::unique_ptr<StreamedRequest> request;
    EngineRequestId engineId;
  };
  void forget(std::map<RequestId, Entry>::iterator it);

  bool closed_ = false;
  RequestId nextRequest_ = 1;
  SessionId nextSession_ = 1;
  std::set<SessionId> sessions_;
  std::map<RequestId, Entry> requests_;
  std::map<EngineRequestId, RequestId> byEngineId_;
  std::map<SessionId, RequestId> busy_;
};

}  // namespace redrafter::executor

// A request whose tokens come from an engine that runs its own decoding loop (TensorRT-LLM's Executor) rather
// than from StepExecutor. The engine streams results: the new output tokens and its cumulative decoding-iteration
// counter. StreamedRequest turns each into the executor's Response with the same stop conditions
// (ActiveRequest::emit: end ids, stop sequences, maxTokens), the same streaming deltas and the same statistics as
// the CPU executor, so a backend over such an engine only maps its own types.
//
// Statistics: the engine's first iteration is the context phase (it yields the first token); every later
// iteration is one decoding step, which for a ReDrafter engine yields 1..beamLength tokens (accepted drafts + the
// LLM's own token). steps = decodingIter - 1; tokensPerStepHistogram counts the iterations whose result arrived
// on its own (iteration delta 1); results that cover several iterations add to steps but not to the histogram.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "core/executor/executor_interface.h"
#include "core/executor/step_executor.h"

namespace redrafter::executor {

class StreamedRequest {
 public:
  using Clock = std::chrono::steady_clock;

  StreamedRequest(RequestId id, Request request, Clock::time_point enqueued);

  RequestId id() const { return active_.id(); }
  const Request& request() const { return active_.request(); }

  // One engine result. `tokens`: the new output tokens (or, for a non-streaming engine request, all of them);
  // `decodingIter`: the engine's cumulative iteration count for the request (context phase included);
  // `engineFinal`: the engine has ended the request, for `engineReason` (Eos, Stop, Length; NotFinished when it
  // did not say, e.g. after a cancel). Returns the response to deliver, if any (none for a non-streaming request
  // before its end, or after this request is done).
  std::optional<Response> onResult(const int32_t* tokens, size_t count, int32_t decodingIter, bool engineFinal,
                                   FinishReason engineReason, Clock::time_point now);
  // The engine reported an error: the final response.
  Response onError(ErrorCode code, const std::string& message, Clock::time_point now);
  // Cancelled (cancelRequest, releaseSession, shutdown) and the engine will not answer: the final Abort response.
  Response abort(Clock::time_point now);

  // Our stop conditions ended the request while the engine may still be generating: the backend must cancel it
  // in the engine (and ignore its further results).
  bool needsEngineCancel() const { return done_ && !engineDone_; }
  void engineCancelled() { engineDone_ = true; }
  bool done() const { return done_; }
  // cancelRequest was called: the engine's final result then ends with Abort.
  void markCancelled() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }

 private:
  Response makeResponse(bool final, Clock::time_point now);

  ActiveRequest active_;
  Clock::time_point enqueued_;
  std::optional<Clock::time_point> firstResult_;
  int32_t lastIter_ = 0;
  size_t sent_ = 0;
  bool done_ = false;
  bool engineDone_ = false;
  bool cancelled_ = false;
};

}  // namespace redrafter::executor

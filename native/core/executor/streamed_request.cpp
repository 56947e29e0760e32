#include "core/executor/streamed_request.h"

#include <algorithm>
#include <utility>

namespace redrafter::executor {

namespace {
double seconds(StreamedRequest::Clock::duration d) { return std::chrono::duration<double>(d).count(); }
}  // namespace

StreamedRequest::StreamedRequest(RequestId id, Request request, Clock::time_point enqueued)
    : active_(id, std::move(request)), enqueued_(enqueued) {
  active_.stats.promptTokens = int32_t(active_.request().inputTokenIds.size());
}

std::optional<Response> StreamedRequest::onResult(const int32_t* tokens, size_t count, int32_t decodingIter,
                                                  bool engineFinal, FinishReason engineReason,
                                                  Clock::time_point now) {
  if (done_) return std::nullopt;
  if (engineFinal) engineDone_ = true;
  const bool first = !firstResult_.has_value();
  if (first) firstResult_ = now;

  // Statistics by engine iteration: the first iteration is the context phase, later ones decoding steps.
  const int32_t iterDelta = decodingIter - lastIter_;
  if (decodingIter > lastIter_) {
    const int32_t stepsBefore = std::max(0, lastIter_ - 1);
    const int32_t stepsNow = std::max(0, decodingIter - 1);
    if (first) {
      // The context phase's token is not a step; the rest of this result spans stepsNow iterations.
      if (stepsNow == 1 && count > 1) active_.recordStep(int(count) - 1);
      else active_.stats.steps += stepsNow;
    } else if (iterDelta == 1) {
      active_.recordStep(int(count));
    } else {
      active_.stats.steps += stepsNow - stepsBefore;
    }
    lastIter_ = decodingIter;
  }

  if (count > 0) active_.emit(tokens, int(count));
  if (!active_.finished() && engineFinal) {
    if (cancelled_) active_.finish(FinishReason::Abort);
    else if (engineReason == FinishReason::Eos || engineReason == FinishReason::Stop ||
             engineReason == FinishReason::Length)
      active_.finish(engineReason);
    else active_.finish(FinishReason::Abort);
  }
  const bool final = active_.finished();
  if (final) done_ = true;
  if (!final && !active_.request().streaming) return std::nullopt;
  if (!final && active_.output().size() == sent_) return std::nullopt;  // nothing new (e.g. only an end id)
  return makeResponse(final, now);
}

Response StreamedRequest::onError(ErrorCode code, const std::string& message, Clock::time_point now) {
  Response r = makeResponse(true, now);
  r.finishReason = FinishReason::Error;
  r.errorCode = code;
  r.error = message;
  done_ = true;
  engineDone_ = true;
  return r;
}

Response StreamedRequest::abort(Clock::time_point now) {
  active_.finish(FinishReason::Abort);
  done_ = true;
  engineDone_ = true;
  return makeResponse(true, now);
}

Response StreamedRequest::makeResponse(bool final, Clock::time_point now) {
  Response r;
  r.requestId = active_.id();
  const auto& out = active_.output();
  if (active_.request().streaming) {
    r.outputTokenIds.assign(out.begin() + std::ptrdiff_t(sent_), out.end());
  } else {
    r.outputTokenIds = out;
  }
  sent_ = out.size();
  r.isFinal = final;
  r.finishReason = final ? active_.finishReason() : FinishReason::NotFinished;
  if (!final) return r;  // statistics go with the final response only
  RequestStats s = active_.stats;
  s.generatedTokens = int32_t(out.size());
  s.totalSeconds = seconds(now - enqueued_);
  if (firstResult_) {
    s.prefillSeconds = seconds(*firstResult_ - enqueued_);
    // The engine fuses drafting and tree verification into one forward per iteration: all of it is "forward".
    s.forwardSeconds = seconds(now - *firstResult_);
  }
  r.stats = std::move(s);
  return r;
}

}  // namespace redrafter::executor

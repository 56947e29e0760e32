// The executor: the one native interface every backend (the embedded CPU engine, TensorRT-LLM) implements.
// Shaped like TensorRT-LLM's executor API (tensorrt_llm/executor/executor.h): enqueueRequest returns an id,
// responses stream back through awaitResponses, cancelRequest stops one request, shutdown stops them all.
// The addon's poller thread calls awaitResponses and hands results to JS; it never depends on the backend.
//
// Sessions: a request names a session (createSession); the backend keeps that session's KV cache between
// requests and reuses the longest prefix it already holds of the request's inputTokenIds, the whole context (so of
// a multi-turn conversation only the new tokens are prefilled). At most one request per session is in flight.
// TensorRT-LLM backends may implement sessions with KV-cache block reuse. The conversation itself (the history a
// turn continues) is kept once, above the backend, by Conversations (conversations.h), which makes each request's
// context from the session's history and the turn's new tokens.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"

namespace redrafter::executor {

using RequestId = uint64_t;  // > 0, never reused by one executor
using SessionId = uint64_t;  // > 0

// Why a request ended (TensorRT-LLM's FinishReason, plus the context limit and errors).
enum class FinishReason {
  NotFinished,  // a streamed partial response
  Eos,          // the end id was generated (it is not part of the output)            'eos'
  Stop,         // a stop sequence was produced                                       'stop'
  Length,       // maxTokens reached                                                  'length'
  Context,      // the context limit (KV cache capacity / model context) was reached   'context'
  Abort,        // cancelRequest, or shutdown with the request in flight              'abort'
  Error,        // the backend failed; Response::error says why
};
const char* finishReasonName(FinishReason reason) noexcept;

struct SamplingConfig {
  float temperature = 0.0f;  // 0: greedy (argmax); > 0: sample
  int32_t topK = 0;          // 0: off
  float topP = 1.0f;         // 1: off
  uint64_t seed = 0;         // seeds the request's own Rng
};

enum class Acceptance {
  Exact,  // lossless: greedy verification, or exact recursive rejection sampling over the tree
  Apple,  // apple/ml-recurrent-drafter's p/q rule (sampling only; for parity)
};

struct DraftConfig {
  int32_t beamWidth = 0;   // 0: plain autoregressive decoding
  int32_t beamLength = 0;  // tokens per beam including the LLM's own token (so beamLength-1 drafted)
  Acceptance acceptance = Acceptance::Exact;
  // Let the backend use a smaller shape (a short chain) or plain decoding on the steps where that is measured to
  // be faster (never a larger one); outputs are unchanged (see cpu/executor/draft_policy.h).
  bool adaptive = false;
};

struct Request {
  SessionId session = 0;               // from createSession
  std::vector<int32_t> inputTokenIds;  // the whole context: conversation so far + the new prompt; non-empty
  int32_t maxTokens = 0;               // > 0: new tokens to generate at most
  SamplingConfig sampling;
  DraftConfig draft;
  std::vector<int32_t> endIds;              // a generated end id finishes with Eos (and is not emitted)
  std::vector<std::vector<int32_t>> stopTokenSequences;  // finishing with Stop once the output ends in one
  bool streaming = true;                    // false: one final response holding all tokens
};

// Per-request statistics, cumulative over the request (sent with its final response).
struct RequestStats {
  int32_t promptTokens = 0;      // inputTokenIds.size()
  int32_t reusedTokens = 0;      // prompt tokens whose KV was reused from the session
  int32_t steps = 0;             // decoding steps (one LLM forward each) after the prefill
  int32_t generatedTokens = 0;   // tokens emitted (the first, from the prefill, included)
  std::vector<int32_t> tokensPerStepHistogram;  // [k] = steps that emitted k tokens
  // Decoding steps per beam shape that ran (width 0: a plain step), in the order the shapes first ran; empty when the
  // backend does not report shapes (a fixed-shape backend: every step ran the request's shape).
  struct ShapeSteps {
    int32_t beamWidth = 0;
    int32_t beamLength = 1;
    int32_t steps = 0;
  };
  std::vector<ShapeSteps> shapeSteps;
  double prefillSeconds = 0;     // the context phase
  double draftSeconds = 0;       // drafter beam search
  double treeSeconds = 0;        // building the packed tree (dedup, positions, mask) from the beams
  double forwardSeconds = 0;     // the tree-verification forward (its whole time, when requests share it)
  double acceptSeconds = 0;      // acceptance: greedy argmax match or the rejection sampler over the tree
  double commitSeconds = 0;      // KV commit of the accepted path, hidden state kept for the next draft
  double otherSeconds = 0;       // the rest of the step: scheduling, emitting responses, bookkeeping
  double totalSeconds = 0;       // from the start of its prefill to its last response
  double queueSeconds = 0;       // waiting before its prefill started
};

struct Response {
  RequestId requestId = 0;
  std::vector<int32_t> outputTokenIds;  // streaming: the tokens new since the last response; else all of them
  bool isFinal = false;
  FinishReason finishReason = FinishReason::NotFinished;  // set when isFinal
  ErrorCode errorCode = ErrorCode::Internal;              // when finishReason == Error
  std::string error;                                      // when finishReason == Error
  RequestStats stats;  // on the final response only (a streamed piece copies none)
};

// What the loaded model offers (for validation in JS and the tokenizer's end id).
struct ModelInfo {
  int32_t vocabSize = 0;
  int32_t contextLength = 0;   // KV capacity per session in tokens
  int32_t maxBeamWidth = 0;    // 0 when no drafter is loaded
  int32_t maxBeamLength = 0;
  std::string backend;         // "cpu", "tensorrt-llm"
  double parameters = 0;       // the LLM's weight count (0 when the backend doesn't know it)
};

class Executor {
 public:
  virtual ~Executor() = default;

  virtual ModelInfo modelInfo() const = 0;

  virtual SessionId createSession() = 0;
  // Frees the session's KV cache; its in-flight request (if any) ends with Abort.
  virtual void releaseSession(SessionId session) = 0;

  // Validates (InvalidArgument naming the field, ContextOverflow, Disposed after shutdown) and queues.
  virtual RequestId enqueueRequest(Request request) = 0;
  // Blocks up to `timeout` for responses of any request; empty on timeout or once shut down and drained.
  virtual std::vector<Response> awaitResponses(std::chrono::milliseconds timeout) = 0;
  // The request ends (with Abort) within one step; unknown or finished ids are ignored.
  virtual void cancelRequest(RequestId id) = 0;
  // Every in-flight request ends with Abort (its final response is still delivered), the workers stop.
  // Returns once every final response has been queued for awaitResponses; awaitResponses then drains and
  // returns empty without waiting. Idempotent.
  virtual void shutdown() = 0;
  // shutdown() when nothing will read the results (the process or worker thread is exiting, the engine was garbage
  // collected): every request ends with Abort without waiting for the engine to report its cancellation. The default
  // is shutdown(), for backends whose shutdown waits for nothing but their own current step.
  virtual void shutdownNow() { shutdown(); }
  virtual bool isShutdown() const = 0;
};

}  // namespace redrafter::executor

// redrafter::executor::Executor over TensorRT-LLM's Executor. TensorRT-LLM runs the whole decoding loop (in-flight
// batching, the ReDrafter engine's fused draft + verify forward, KV cache); this file only makes the engine calls
// (initTrtLlmPlugins, Executor, enqueueRequest, awaitResponses, cancelRequest, shutdown) and maps types. The
// bookkeeping above them (sessions, ids, stop conditions, streaming deltas, stats, cancellation, shutdown aborts) is
// EngineRequests / StreamedRequest in native/core/executor, shared with the CPU executor's semantics and tested
// without a GPU (test/cpp/engine_requests_test.cpp, streamed_request_test.cpp).
#include "trtllm/trtllm_executor.h"

#include <tensorrt_llm/executor/executor.h>
#include <tensorrt_llm/plugins/api/tllmPlugin.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iterator>
#include <list>
#include <map>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/executor/engine_requests.h"

namespace redrafter::trtllm {

namespace tle = tensorrt_llm::executor;
using executor::FinishReason;
using executor::RequestId;
using executor::Response;
using executor::SessionId;
using executor::EngineRequestId;
using Clock = executor::EngineRequests::Clock;

namespace {

[[noreturn]] void backendFailure(const char* what, const std::exception& e) {
  fail(ErrorCode::Backend, std::string("TensorRT-LLM: ") + what + ": " + e.what());
}

FinishReason mapReason(tle::FinishReason r) {
  switch (r) {
    case tle::FinishReason::kEND_ID: return FinishReason::Eos;
    case tle::FinishReason::kSTOP_WORDS: return FinishReason::Stop;
    case tle::FinishReason::kLENGTH: return FinishReason::Length;
    default: return FinishReason::NotFinished;  // kNOT_FINISHED, and kCANCELLED/kTIMED_OUT in newer versions
  }
}

tle::ExecutorConfig executorConfig(const TrtLlmOptions& o) {
  tle::KvCacheConfig kv;
  kv.setEnableBlockReuse(o.enableBlockReuse);
  kv.setFreeGpuMemoryFraction(o.freeGpuMemoryFraction);
  if (o.maxTokensInKvCache) kv.setMaxTokens(*o.maxTokensInKvCache);
  if (o.hostCacheBytes) kv.setHostCacheSize(size_t(*o.hostCacheBytes));

  tle::CapacitySchedulerPolicy policy = o.schedulerPolicy == "max-utilization"
                                            ? tle::CapacitySchedulerPolicy::kMAX_UTILIZATION
                                            : tle::CapacitySchedulerPolicy::kGUARANTEED_NO_EVICT;

  tle::ExecutorConfig config;
  config.setMaxBeamWidth(1);  // ReDrafter's beams are the drafter's, inside the engine; sampling beam width is 1
  config.setSchedulerConfig(tle::SchedulerConfig(policy));
  config.setKvCacheConfig(kv);
  if (o.enableChunkedContext) config.setEnableChunkedContext(*o.enableChunkedContext);
  config.setGpuWeightsPercent(o.gpuWeightsPercent);
  if (o.maxBatchSize) config.setMaxBatchSize(*o.maxBatchSize);
  if (o.maxNumTokens) config.setMaxNumTokens(*o.maxNumTokens);
  if (o.maxQueueSize) config.setMaxQueueSize(*o.maxQueueSize);
  return config;
}

class TrtLlmExecutor final : public executor::Executor {
 public:
  explicit TrtLlmExecutor(const TrtLlmOptions& o) {
    info_.vocabSize = o.vocabSize;
    info_.contextLength = o.contextLength;
    info_.maxBeamWidth = o.beamWidth;
    info_.maxBeamLength = o.beamLength;
    info_.backend = "tensorrt-llm";
    static std::once_flag plugins;
    std::call_once(plugins, [] { initTrtLlmPlugins(); });
    try {
      engine_ = std::make_unique<tle::Executor>(std::filesystem::path(o.engineDir), tle::ModelType::kDECODER_ONLY,
                                                executorConfig(o));
    } catch (const std::exception& e) {
      backendFailure(("cannot load the engine in " + o.engineDir).c_str(), e);
    }
  }

  ~TrtLlmExecutor() override { shutdown(); }

  executor::ModelInfo modelInfo() const override { return info_; }

  SessionId createSession() override {
    std::lock_guard<std::mutex> lock(mutex_);
    return table_.createSession();
  }

  // TensorRT-LLM keeps no per-session state: the KV blocks of a conversation are reused by prefix (block reuse).
  void releaseSession(SessionId session) override {
    std::vector<EngineRequestId> cancel;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      cancel = table_.releaseSession(session);
    }
    for (EngineRequestId id : cancel) cancelInEngine(id);
  }

  RequestId enqueueRequest(executor::Request request) override {
    validate(request);
    tle::Request r(request.inputTokenIds, request.maxTokens);
    r.setStreaming(true);  // StreamedRequest collects the tokens of a non-streaming request itself
    r.setOutputConfig(tle::OutputConfig(/*returnLogProbs=*/false, /*returnContextLogits=*/false,
                                        /*returnGenerationLogits=*/false, /*excludeInputFromOutput=*/true));
    tle::SamplingConfig sampling(1);
    if (request.sampling.temperature <= 0.0f) {
      sampling.setTopK(1);  // greedy
    } else {
      sampling.setTemperature(request.sampling.temperature);
      if (request.sampling.topK > 0) sampling.setTopK(request.sampling.topK);
      if (request.sampling.topP < 1.0f) sampling.setTopP(request.sampling.topP);
    }
    sampling.setSeed(request.sampling.seed);
    r.setSamplingConfig(sampling);
    // The engine stops on the first end id and the stop sequences itself; StreamedRequest applies every end id
    // and stop sequence (identically to the CPU executor) and has the engine's request cancelled when it ends first.
    if (!request.endIds.empty()) {
      r.setEndId(request.endIds.front());
      r.setPadId(request.endIds.front());
    }
    std::list<tle::VecTokens> stopWords;
    for (const auto& seq : request.stopTokenSequences) stopWords.emplace_back(seq.begin(), seq.end());
    for (size_t i = 1; i < request.endIds.size(); ++i) stopWords.push_back({request.endIds[i]});
    if (!stopWords.empty()) r.setStopWords(stopWords);

    std::lock_guard<std::mutex> lock(mutex_);
    table_.checkAdmissible(request);
    EngineRequestId engineId = 0;
    try {
      engineId = engine_->enqueueRequest(r);
    } catch (const std::exception& e) {
      backendFailure("enqueueRequest", e);
    }
    return table_.add(std::move(request), engineId, Clock::now());
  }

  std::vector<Response> awaitResponses(std::chrono::milliseconds timeout) override {
    std::vector<Response> out = takePending();
    if (!out.empty()) return out;
    // One caller at a time talks to the engine's response queue (the addon's poller; shutdown while draining).
    std::unique_lock<std::timed_mutex> engineLock(engineAwait_, std::defer_lock);
    if (!engineLock.try_lock_for(timeout) || engineDown_) return takePending();
    std::vector<tle::Response> responses;
    bool failed = false;
    std::string failure;
    try {
      responses = engine_->awaitResponses(timeout);
    } catch (const std::exception& e) {
      failed = true;
      failure = std::string("TensorRT-LLM: awaitResponses: ") + e.what();
    }
    engineLock.unlock();

    std::vector<executor::EngineResult> results;
    results.reserve(responses.size());
    for (const tle::Response& response : responses) results.push_back(toEngineResult(response));
    std::vector<EngineRequestId> toCancel;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      out.swap(pending_);
      std::vector<Response> converted = table_.onResults(results, toCancel, Clock::now());
      std::move(converted.begin(), converted.end(), std::back_inserter(out));
      if (failed) {
        std::vector<Response> failedAll = table_.failAll(failure, Clock::now());
        std::move(failedAll.begin(), failedAll.end(), std::back_inserter(out));
      }
    }
    for (EngineRequestId id : toCancel) cancelInEngine(id);
    return out;
  }

  void cancelRequest(RequestId id) override {
    std::optional<EngineRequestId> engineId;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      engineId = table_.cancel(id);
    }
    if (engineId) cancelInEngine(*engineId);
  }

  void shutdown() override {
    std::vector<EngineRequestId> cancel;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (table_.closed()) return;
      cancel = table_.close();
    }
    for (EngineRequestId id : cancel) cancelInEngine(id);
    // Let the cancelled requests' final results arrive (through whoever is awaiting), for up to 10 s.
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (table_.empty()) break;
      }
      std::vector<Response> drained = awaitResponses(std::chrono::milliseconds(50));
      std::lock_guard<std::mutex> lock(mutex_);
      std::move(drained.begin(), drained.end(), std::back_inserter(pending_));
    }
    std::lock_guard<std::timed_mutex> engineLock(engineAwait_);
    try {
      engine_->shutdown();
    } catch (const std::exception&) {
      // nothing more can be done with an engine that failed to stop
    }
    std::lock_guard<std::mutex> lock(mutex_);
    engineDown_ = true;
    std::vector<Response> aborted = table_.abortAll(Clock::now());
    std::move(aborted.begin(), aborted.end(), std::back_inserter(pending_));
  }

  bool isShutdown() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return table_.closed();
  }

 private:
  void validate(const executor::Request& r) const {
    RD_REQUIRE(!r.inputTokenIds.empty(), "inputTokenIds", "must not be empty");
    RD_REQUIRE(r.maxTokens > 0, "maxTokens", "must be > 0");
    for (int32_t t : r.inputTokenIds)
      RD_REQUIRE(t >= 0 && (info_.vocabSize <= 0 || t < info_.vocabSize), "inputTokenIds",
                 "holds a token id outside the vocabulary");
    RD_REQUIRE(r.sampling.temperature >= 0.0f, "temperature", "must be >= 0");
    RD_REQUIRE(r.sampling.topK >= 0, "topK", "must be >= 0");
    RD_REQUIRE(r.sampling.topP > 0.0f && r.sampling.topP <= 1.0f, "topP", "must be in (0, 1]");
    if (info_.maxBeamWidth > 0) {
      RD_REQUIRE(r.draft.beamWidth == info_.maxBeamWidth, "beamWidth",
                 "must be " + std::to_string(info_.maxBeamWidth) +
                     ": a TensorRT-LLM ReDrafter engine's beam count is fixed when it is built");
      RD_REQUIRE(r.draft.beamLength == 0 || r.draft.beamLength == info_.maxBeamLength, "beamLength",
                 "must be " + std::to_string(info_.maxBeamLength) + " (fixed when the engine was built)");
    } else {
      RD_REQUIRE(r.draft.beamWidth == 0, "beamWidth", "must be 0: this engine has no drafter");
    }
    if (info_.contextLength > 0 &&
        int64_t(r.inputTokenIds.size()) + int64_t(r.maxTokens) > int64_t(info_.contextLength)) {
      fail(ErrorCode::ContextOverflow, "inputTokenIds + maxTokens (" + std::to_string(r.inputTokenIds.size()) +
                                           " + " + std::to_string(r.maxTokens) + ") exceed the engine's max_seq_len " +
                                           std::to_string(info_.contextLength));
    }
  }

  static executor::EngineResult toEngineResult(const tle::Response& response) {
    executor::EngineResult e;
    e.engineId = response.getRequestId();
    if (response.hasError()) {
      e.hasError = true;
      e.errorMessage = "TensorRT-LLM: " + response.getErrorMsg();
      return e;
    }
    const tle::Result& result = response.getResult();
    if (!result.outputTokenIds.empty()) e.tokens.assign(result.outputTokenIds[0].begin(), result.outputTokenIds[0].end());
    e.decodingIter = result.decodingIter;
    e.isFinal = result.isFinal;
    e.reason = result.finishReasons.empty() ? FinishReason::NotFinished : mapReason(result.finishReasons[0]);
    return e;
  }

  void cancelInEngine(EngineRequestId engineId) {
    try {
      engine_->cancelRequest(engineId);
    } catch (const std::exception&) {
      // already finished or the engine is stopping: its final result (or shutdown) ends the request
    }
  }

  std::vector<Response> takePending() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<Response> out;
    out.swap(pending_);
    return out;
  }

  executor::ModelInfo info_;
  std::unique_ptr<tle::Executor> engine_;

  // Lock order: engineAwait_ before mutex_ (never the other way round).
  mutable std::mutex mutex_;
  std::timed_mutex engineAwait_;
  bool engineDown_ = false;          // engine_->shutdown() was called (engineAwait_ and mutex_ held to change it)
  executor::EngineRequests table_;   // mutex_
  std::vector<Response> pending_;    // mutex_: responses made outside awaitResponses (shutdown's drain and aborts)
};

}  // namespace

std::unique_ptr<executor::Executor> createTrtLlmExecutor(const TrtLlmOptions& o) {
  RD_REQUIRE(!o.engineDir.empty(), "engineDir", "must be the directory trtllm-build wrote");
  std::error_code ec;
  if (!std::filesystem::is_directory(o.engineDir, ec))
    fail(ErrorCode::Io, o.engineDir + ": the engine directory does not exist");
  RD_REQUIRE(o.freeGpuMemoryFraction > 0.0f && o.freeGpuMemoryFraction <= 1.0f, "freeGpuMemoryFraction", "must be in (0, 1]");
  RD_REQUIRE(o.gpuWeightsPercent >= 0.0f && o.gpuWeightsPercent <= 1.0f, "gpuWeightsPercent", "must be in [0, 1]");
  RD_REQUIRE(o.schedulerPolicy == "guaranteed-no-evict" || o.schedulerPolicy == "max-utilization", "schedulerPolicy",
             "must be 'guaranteed-no-evict' or 'max-utilization'");
  RD_REQUIRE(!o.maxBatchSize || *o.maxBatchSize > 0, "maxBatchSize", "must be > 0");
  RD_REQUIRE(!o.maxNumTokens || *o.maxNumTokens > 0, "maxNumTokens", "must be > 0");
  RD_REQUIRE(!o.maxTokensInKvCache || *o.maxTokensInKvCache > 0, "maxTokensInKvCache", "must be > 0");
  RD_REQUIRE(!o.maxQueueSize || *o.maxQueueSize > 0, "maxQueueSize", "must be > 0");
  RD_REQUIRE(o.beamWidth >= 0 && o.beamLength >= 0, "beamWidth", "must be >= 0");
  return std::make_unique<TrtLlmExecutor>(o);
}

}  // namespace redrafter::trtllm

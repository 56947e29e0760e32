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
#include <thread>
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

// ParallelConfig for the mode lib/trtllm/parallel.ts chose (ParallelConfig / OrchestratorConfig in
// tensorrt_llm/executor/executor.h): orchestrator mode spawns the workers (MPI_Comm_spawn of executorWorker);
// leader mode uses the ranks mpirun started, rank 0 leading.
std::optional<tle::ParallelConfig> parallelConfig(const TrtLlmOptions& o) {
  if (o.parallelMode == "orchestrator") {
    tle::OrchestratorConfig orchestrator(/*isOrchestrator=*/true, o.workerExecutable);
    return tle::ParallelConfig(tle::CommunicationType::kMPI, tle::CommunicationMode::kORCHESTRATOR, std::nullopt,
                               std::nullopt, orchestrator);
  }
  if (o.parallelMode == "leader") {
    std::vector<tle::SizeType32> participants(size_t(o.worldSize));
    for (int32_t r = 0; r < o.worldSize; ++r) participants[size_t(r)] = r;
    return tle::ParallelConfig(tle::CommunicationType::kMPI, tle::CommunicationMode::kLEADER, std::nullopt,
                               participants);
  }
  return std::nullopt;
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
  if (auto parallel = parallelConfig(o)) config.setParallelConfig(*parallel);
  return config;
}

class TrtLlmExecutor final : public executor::Executor {
 public:
  explicit TrtLlmExecutor(const TrtLlmOptions& o) {
    info_.vocabSize = o.vocabSize;
    limits_ = o.limits;
    info_.contextLength = limits_.contextLimit();  // what sessions may fill: max_seq_len - max_draft_len
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
    // Leader mode: ranks other than the leader run TensorRT-LLM's worker loop inside the Executor and take no
    // requests (enqueueRequest is refused below; awaitResponses returns nothing).
    leader_ = engine_->canEnqueueRequests();
  }

  // The addon's Engine stops it first (dispose: shutdown(); garbage collection or the environment exiting:
  // shutdownNow()); then this returns at once.
  ~TrtLlmExecutor() override { shutdownNow(); }

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
    if (!leader_)
      fail(ErrorCode::Unsupported, "this process is a worker rank of a leader-mode TensorRT-LLM engine: rank 0 serves "
                                   "the requests");
    validate(request);
    tle::Request r(request.inputTokenIds, request.maxTokens);
    r.setStreaming(true);  // StreamedRequest collects the tokens of a non-streaming request itself
    r.setOutputConfig(tle::OutputConfig(/*returnLogProbs=*/false, /*returnContextLogits=*/false,
                                        /*returnGenerationLogits=*/false, /*excludeInputFromOutput=*/true));
    // validate() let through only what the engine does: temperature (and seed); top-k 1 makes a plain engine greedy.
    tle::SamplingConfig sampling(1);
    if (request.sampling.temperature <= 0.0f)
      sampling.setTopK(1);
    else
      sampling.setTemperature(request.sampling.temperature);
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
    if (!leader_) {  // a worker rank has no responses; sleep like an idle engine instead of spinning
      std::this_thread::sleep_for(timeout);
      return takePending();
    }
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

  // Lets the cancelled requests' final results arrive (through whoever is awaiting) for up to 10 s.
  void shutdown() override { stop(std::chrono::seconds(10)); }
  // The process is exiting: no waiting for the engine to report the cancellations.
  void shutdownNow() override { stop(std::chrono::seconds(0)); }

  bool isShutdown() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return table_.closed();
  }

 private:
  void stop(std::chrono::milliseconds drainFor) {
    std::vector<EngineRequestId> cancel;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (table_.closed()) return;
      cancel = table_.close();
    }
    for (EngineRequestId id : cancel) cancelInEngine(id);
    const auto deadline = Clock::now() + drainFor;
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

  void validate(const executor::Request& r) const {
    RD_REQUIRE(!r.inputTokenIds.empty(), "inputTokenIds", "must not be empty");
    RD_REQUIRE(r.maxTokens > 0, "maxTokens", "must be > 0");
    for (int32_t t : r.inputTokenIds)
      RD_REQUIRE(t >= 0 && (info_.vocabSize <= 0 || t < info_.vocabSize), "inputTokenIds",
                 "holds a token id outside the vocabulary");
    checkSampling(r.sampling, limits_);
    if (info_.maxBeamWidth > 0) {
      RD_REQUIRE(r.draft.beamWidth == info_.maxBeamWidth, "beamWidth",
                 "must be " + std::to_string(info_.maxBeamWidth) +
                     ": a TensorRT-LLM ReDrafter engine's beam count is fixed when it is built");
      RD_REQUIRE(r.draft.beamLength == 0 || r.draft.beamLength == info_.maxBeamLength, "beamLength",
                 "must be " + std::to_string(info_.maxBeamLength) + " (fixed when the engine was built)");
    } else {
      RD_REQUIRE(r.draft.beamWidth == 0, "beamWidth", "must be 0: this engine has no drafter");
    }
    checkLength(r.inputTokenIds.size(), r.maxTokens, limits_);
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
  EngineLimits limits_;
  std::unique_ptr<tle::Executor> engine_;
  bool leader_ = true;  // false on a non-leader rank in leader mode

  // Lock order: engineAwait_ before mutex_ (never the other way round).
  mutable std::mutex mutex_;
  std::timed_mutex engineAwait_;
  bool engineDown_ = false;          // engine_->shutdown() was called (engineAwait_ and mutex_ held to change it)
  executor::EngineRequests table_;   // mutex_
  std::vector<Response> pending_;    // mutex_: responses made outside awaitResponses (shutdown's drain and aborts)
};

}  // namespace

std::string trtLlmRuntimeVersion() { return tle::version(); }

std::string trtLlmBuildVersion() {
#ifdef REDRAFTER_TRTLLM_BUILD_VERSION
  return REDRAFTER_TRTLLM_BUILD_VERSION;
#else
  return "";
#endif
}

std::unique_ptr<executor::Executor> createTrtLlmExecutor(const TrtLlmOptions& o) {
  RD_REQUIRE(!o.engineDir.empty(), "engineDir", "must be the directory trtllm-build wrote");
  // TensorRT engines run only on the TensorRT-LLM (and TensorRT) release that built them. The range itself was
  // checked by lib/trtllm (engine config) and cmake/TrtLlm.cmake (headers); here the library actually loaded.
  const std::string runtime = trtLlmRuntimeVersion();
  if (!o.engineVersion.empty() && runtime != o.engineVersion)
    fail(ErrorCode::Unsupported, o.engineDir + ": the engine was built by TensorRT-LLM " + o.engineVersion +
                                     " but the loaded libtensorrt_llm is " + runtime + "; rebuild the engine with " +
                                     runtime + " or load the matching library");
  const std::string built = trtLlmBuildVersion();
  if (!built.empty() && runtime != built)
    fail(ErrorCode::Unsupported, "the loaded libtensorrt_llm is TensorRT-LLM " + runtime +
                                     " but this addon was compiled against " + built + "'s headers; rebuild the addon");
  RD_REQUIRE(o.parallelMode == "single" || o.parallelMode == "orchestrator" || o.parallelMode == "leader",
             "parallelMode", "must be 'single', 'orchestrator' or 'leader'");
  RD_REQUIRE(o.worldSize >= 1, "worldSize", "must be >= 1");
  RD_REQUIRE(o.parallelMode != "orchestrator" || !o.workerExecutable.empty(), "workerExecutable",
             "must be TensorRT-LLM's executorWorker in orchestrator mode");
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

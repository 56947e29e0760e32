// The "tensorrt-llm" executor backend for loadEngine: reads its options from loadEngine's options object into
// trtllm::TrtLlmOptions and creates the TensorRT-LLM executor (native/trtllm). Compiled only into the separate module
// redrafter_trtllm.node (REDRAFTER_TRTLLM_MODULE, CMakeLists.txt's redrafter_trtllm_node), which lib/ loads when
// backend 'tensorrt-llm' is asked for, so the CPU addon never links libtensorrt_llm. Everything else (Engine,
// sessions, the poller thread, the ThreadSafeFunction, cancellation, shutdown) is the executor glue (engine.cpp,
// session.cpp) every backend shares.
#ifdef REDRAFTER_TRTLLM_MODULE

#include <cmath>
#include <limits>
#include <string>

#include "addon/args.h"
#include "addon/executor_backends.h"
#include "core/error.h"
#include "trtllm/trtllm_executor.h"

namespace redrafter::addon {
namespace {

// Fills trtllm::TrtLlmOptions.
ExecutorLoader readTrtLlm(Napi::Object o) {
  constexpr int64_t i32max = std::numeric_limits<int32_t>::max();
  trtllm::TrtLlmOptions t;
  t.engineDir = stringFieldOr(o, "engineDir", "");
  t.vocabSize = int32_t(optionalInt(o, "vocabSize", 1, i32max).value_or(0));
  t.beamWidth = int32_t(optionalInt(o, "redrafterNumBeams", 0, 1024).value_or(0));
  t.beamLength = int32_t(optionalInt(o, "redrafterBeamLength", 0, 1024).value_or(0));
  t.limits.maxSeqLen = int32_t(optionalInt(o, "maxSeqLen", 1, i32max).value_or(0));
  t.limits.maxDraftLen = int32_t(optionalInt(o, "maxDraftLen", 0, i32max).value_or(0));
  t.limits.maxInputLen = int32_t(optionalInt(o, "maxInputLen", 0, i32max).value_or(0));
  RD_REQUIRE(t.limits.maxSeqLen == 0 || t.limits.maxDraftLen < t.limits.maxSeqLen, "maxDraftLen", "must be < maxSeqLen");
  t.limits.hasDrafter = t.beamWidth > 0;
  if (auto v = optionalBool(o, "redrafterGreedySearch")) t.limits.greedySearch = *v;
  if (auto v = optionalString(o, "engineVersion")) t.engineVersion = *v;
  if (auto v = optionalString(o, "parallelMode")) t.parallelMode = *v;
  if (auto v = optionalString(o, "workerExecutable")) t.workerExecutable = *v;
  t.worldSize = int32_t(optionalInt(o, "worldSize", 1, 1 << 16).value_or(1));
  if (auto v = optionalNumber(o, "freeGpuMemoryFraction")) t.freeGpuMemoryFraction = float(*v);
  if (auto v = optionalBool(o, "enableBlockReuse")) t.enableBlockReuse = *v;
  if (auto v = optionalBool(o, "enableChunkedContext")) t.enableChunkedContext = *v;
  if (auto v = optionalInt(o, "maxTokensInKvCache", 1, i32max)) t.maxTokensInKvCache = int32_t(*v);
  if (auto v = optionalInt(o, "hostCacheBytes", 0, std::numeric_limits<int64_t>::max() / 2)) t.hostCacheBytes = *v;
  if (auto v = optionalString(o, "schedulerPolicy")) t.schedulerPolicy = *v;
  if (auto v = optionalInt(o, "maxBatchSize", 1, i32max)) t.maxBatchSize = int32_t(*v);
  if (auto v = optionalInt(o, "maxNumTokens", 1, i32max)) t.maxNumTokens = int32_t(*v);
  if (auto v = optionalInt(o, "maxQueueSize", 1, i32max)) t.maxQueueSize = int32_t(*v);
  if (auto v = optionalNumber(o, "gpuWeightsPercent")) t.gpuWeightsPercent = float(*v);
  return [t] { return trtllm::createTrtLlmExecutor(t); };
}

}  // namespace
}  // namespace redrafter::addon

REDRAFTER_EXECUTOR_BACKEND(trtllm, "tensorrt-llm", redrafter::addon::readTrtLlm)

#endif  // REDRAFTER_TRTLLM_MODULE

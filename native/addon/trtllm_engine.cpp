// The "tensorrt-llm" executor backend for loadEngine: reads its options from loadEngine's EngineOptions and creates
// the TensorRT-LLM executor (native/trtllm). Compiled only into the separate module redrafter_trtllm.node
// (REDRAFTER_TRTLLM_MODULE, CMakeLists.txt's redrafter_trtllm_node), which lib/ loads when backend 'tensorrt-llm' is
// asked for, so the CPU addon never links libtensorrt_llm. Everything else (Engine, sessions, the poller thread, the
// ThreadSafeFunction, cancellation, shutdown) is the executor glue (engine.cpp, session.cpp) every backend shares.
#ifdef REDRAFTER_TRTLLM_MODULE

#include <cmath>
#include <limits>
#include <string>

#include "addon/executor_backends.h"
#include "core/error.h"
#include "trtllm/trtllm_executor.h"

namespace redrafter::addon {
namespace {

// options.numbers[key] as an integer in [min, max], if present.
std::optional<int64_t> intOption(const EngineOptions& o, const char* key, int64_t min, int64_t max) {
  auto it = o.numbers.find(key);
  if (it == o.numbers.end()) return std::nullopt;
  double v = it->second;
  RD_REQUIRE(std::isfinite(v) && std::floor(v) == v && v >= double(min) && v <= double(max), key,
             "must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  return int64_t(v);
}

std::optional<double> numberOption(const EngineOptions& o, const char* key) {
  auto it = o.numbers.find(key);
  if (it == o.numbers.end()) return std::nullopt;
  RD_REQUIRE(std::isfinite(it->second), key, "must be a finite number");
  return it->second;
}

std::unique_ptr<executor::Executor> createTrtLlm(const EngineOptions& o) {
  constexpr int64_t i32max = std::numeric_limits<int32_t>::max();
  trtllm::TrtLlmOptions t;
  t.engineDir = o.engineDir;
  t.vocabSize = int32_t(intOption(o, "vocabSize", 1, i32max).value_or(0));
  t.beamWidth = int32_t(intOption(o, "redrafterNumBeams", 0, 1024).value_or(0));
  t.beamLength = int32_t(intOption(o, "redrafterBeamLength", 0, 1024).value_or(0));
  t.limits.maxSeqLen = int32_t(intOption(o, "maxSeqLen", 1, i32max).value_or(0));
  t.limits.maxDraftLen = int32_t(intOption(o, "maxDraftLen", 0, i32max).value_or(0));
  t.limits.maxInputLen = int32_t(intOption(o, "maxInputLen", 0, i32max).value_or(0));
  RD_REQUIRE(t.limits.maxSeqLen == 0 || t.limits.maxDraftLen < t.limits.maxSeqLen, "maxDraftLen", "must be < maxSeqLen");
  t.limits.hasDrafter = t.beamWidth > 0;
  if (auto it = o.booleans.find("redrafterGreedySearch"); it != o.booleans.end()) t.limits.greedySearch = it->second;
  if (auto it = o.strings.find("engineVersion"); it != o.strings.end()) t.engineVersion = it->second;
  if (auto it = o.strings.find("parallelMode"); it != o.strings.end()) t.parallelMode = it->second;
  if (auto it = o.strings.find("workerExecutable"); it != o.strings.end()) t.workerExecutable = it->second;
  t.worldSize = int32_t(intOption(o, "worldSize", 1, 1 << 16).value_or(1));
  if (auto v = numberOption(o, "freeGpuMemoryFraction")) t.freeGpuMemoryFraction = float(*v);
  if (auto it = o.booleans.find("enableBlockReuse"); it != o.booleans.end()) t.enableBlockReuse = it->second;
  if (auto it = o.booleans.find("enableChunkedContext"); it != o.booleans.end()) t.enableChunkedContext = it->second;
  if (auto v = intOption(o, "maxTokensInKvCache", 1, i32max)) t.maxTokensInKvCache = int32_t(*v);
  if (auto v = intOption(o, "hostCacheBytes", 0, std::numeric_limits<int64_t>::max() / 2)) t.hostCacheBytes = *v;
  if (auto it = o.strings.find("schedulerPolicy"); it != o.strings.end()) t.schedulerPolicy = it->second;
  if (auto v = intOption(o, "maxBatchSize", 1, i32max)) t.maxBatchSize = int32_t(*v);
  if (auto v = intOption(o, "maxNumTokens", 1, i32max)) t.maxNumTokens = int32_t(*v);
  if (auto v = intOption(o, "maxQueueSize", 1, i32max)) t.maxQueueSize = int32_t(*v);
  if (auto v = numberOption(o, "gpuWeightsPercent")) t.gpuWeightsPercent = float(*v);
  return trtllm::createTrtLlmExecutor(t);
}

}  // namespace
}  // namespace redrafter::addon

REDRAFTER_EXECUTOR_BACKEND(trtllm, "tensorrt-llm", redrafter::addon::createTrtLlm)

#endif  // REDRAFTER_TRTLLM_MODULE

// The "cuda" executor backend: the project's CUDA engine (native/cuda/engine). Compiled only into the separate
// module redrafter_cuda.node (REDRAFTER_CUDA_MODULE), which lib/ loads when backend 'cuda' is asked for, so the CPU
// addon never depends on the CUDA driver or libraries.
#ifdef REDRAFTER_CUDA_MODULE

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include "addon/executor_backends.h"
#include "core/error.h"
#include "engine/cuda_executor.h"

namespace redrafter::addon {

namespace {

std::optional<int64_t> intOption(const EngineOptions& o, const char* key, int64_t min, int64_t max) {
  auto it = o.numbers.find(key);
  if (it == o.numbers.end()) return std::nullopt;
  const double v = it->second;
  RD_REQUIRE(std::isfinite(v) && std::floor(v) == v && v >= double(min) && v <= double(max), key,
             "must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  return int64_t(v);
}

std::unique_ptr<executor::Executor> createCuda(const EngineOptions& o) {
  RD_REQUIRE(!o.model.empty(), "model", "must be a path to a model file");
  cuda::engine::CudaExecutorOptions c;
  c.model = o.model;
  if (auto it = o.strings.find("drafter"); it != o.strings.end()) c.drafter = it->second;
  cuda::engine::CudaBackendOptions& b = c.backend;
  b.device = int32_t(intOption(o, "device", 0, 1 << 16).value_or(0));
  b.contextLength = o.contextLength;
  b.maxActiveRequests = o.maxActiveRequests;
  if (auto v = intOption(o, "maxBeamWidth", 1, 64)) b.maxBeamWidth = int32_t(*v);
  if (auto v = intOption(o, "maxBeamLength", 2, 64)) b.maxBeamLength = int32_t(*v);
  if (auto v = intOption(o, "prefillChunk", 1, 4096)) b.prefillChunk = int32_t(*v);
  if (auto v = intOption(o, "kvBlocks", 1, int64_t(1) << 30)) b.kvBlocks = *v;
  if (auto it = o.booleans.find("cudaGraphs"); it != o.booleans.end()) b.cudaGraphs = it->second;
  return cuda::engine::createCudaExecutor(c);
}

}  // namespace

}  // namespace redrafter::addon

REDRAFTER_EXECUTOR_BACKEND(cuda, "cuda", redrafter::addon::createCuda)

#endif  // REDRAFTER_CUDA_MODULE

// The "cuda" executor backend: the project's CUDA engine (native/cuda/engine); its options reader fills
// cuda::engine::CudaExecutorOptions. Compiled only into the separate module redrafter_cuda.node
// (REDRAFTER_CUDA_MODULE), which lib/ loads when backend 'cuda' is asked for, so the CPU addon never depends on the
// CUDA driver or libraries.
#ifdef REDRAFTER_CUDA_MODULE

#include <cstdint>
#include <string>

#include "addon/args.h"
#include "addon/executor_backends.h"
#include "core/error.h"
#include "engine/cuda_executor.h"

namespace redrafter::addon {

namespace {

// Fills cuda::engine::CudaExecutorOptions.
ExecutorLoader readCuda(Napi::Object o) {
  cuda::engine::CudaExecutorOptions c;
  c.model = stringFieldOr(o, "model", "");
  RD_REQUIRE(!c.model.empty(), "model", "must be a path to a model file");
  c.drafter = stringFieldOr(o, "drafter", "");  // the drafter directory
  cuda::engine::CudaBackendOptions& b = c.backend;
  b.device = int32_t(intFieldOr(o, "device", 0, 0, 1 << 16));
  b.contextLength = contextLengthOption(o);
  b.maxActiveRequests = maxActiveRequestsOption(o);
  if (auto v = optionalInt(o, "maxBeamWidth", 1, 64)) b.maxBeamWidth = int32_t(*v);
  if (auto v = optionalInt(o, "maxBeamLength", 2, 64)) b.maxBeamLength = int32_t(*v);
  if (auto v = optionalInt(o, "prefillChunk", 1, 4096)) b.prefillChunk = int32_t(*v);
  if (auto v = optionalInt(o, "kvBlocks", 1, int64_t(1) << 30)) b.kvBlocks = *v;
  if (auto v = optionalBool(o, "cudaGraphs")) b.cudaGraphs = *v;
  return [c] { return cuda::engine::createCudaExecutor(c); };
}

}  // namespace

}  // namespace redrafter::addon

REDRAFTER_EXECUTOR_BACKEND(cuda, "cuda", redrafter::addon::readCuda)

#endif  // REDRAFTER_CUDA_MODULE

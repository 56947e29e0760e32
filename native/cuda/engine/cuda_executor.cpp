#include "engine/cuda_executor.h"

#include "core/error.h"
#include "core/executor/step_executor.h"

namespace redrafter::cuda::engine {

std::shared_ptr<const ModelWeights> loadModelForCuda(const std::string& path) {
  return loadModelWeights(path);  // row-major as the file has it: the upload reads rows
}

std::shared_ptr<const DrafterWeights> loadDrafterForCuda(const std::string& dir) {
  return std::make_shared<const DrafterWeights>(readDrafterDirectory(dir));
}

std::unique_ptr<executor::Executor> createCudaExecutor(const CudaExecutorOptions& o) {
  RD_REQUIRE(!o.model.empty(), "model", "must be a path to a model file");
  RD_REQUIRE(o.backend.maxActiveRequests >= 1, "maxActiveRequests", "must be an integer >= 1");
  auto weights = loadModelForCuda(o.model);
  std::shared_ptr<const DrafterWeights> drafter;
  if (!o.drafter.empty()) drafter = loadDrafterForCuda(o.drafter);
  auto backend = std::make_unique<CudaBackend>(weights, drafter, o.backend);
  executor::StepExecutorOptions eo;
  eo.maxActiveRequests = o.backend.maxActiveRequests;
  return std::make_unique<executor::StepExecutor>(std::move(backend), eo);
}

}  // namespace redrafter::cuda::engine

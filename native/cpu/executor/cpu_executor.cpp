#include "cpu/executor/cpu_executor.h"

#include "core/executor/step_executor.h"
#include "cpu/executor/cpu_backend.h"
#include "cpu/executor/drafter_source.h"
#include "cpu/engine/weight_packing.h"
#include "model/weights.h"

namespace redrafter::cpu {

std::unique_ptr<executor::Executor> createCpuExecutor(const CpuExecutorOptions& options) {
  RD_REQUIRE(options.threads >= 0, "threads", "must be an integer >= 0");
  RD_REQUIRE(options.maxActiveRequests >= 1, "maxActiveRequests", "must be an integer >= 1");
  // the engine's layout: panels for the packed matmul of its ISA (weight_packing.h)
  std::shared_ptr<const ModelWeights> weights = loadPackedModelWeights(options.model, options.threads);
  TransformerOptions to;
  to.threads = options.threads;
  auto model = std::make_shared<Transformer>(weights, to);
  std::shared_ptr<DraftSource> drafter;
  if (options.drafter)
    drafter = makeDrafterSource(options.drafter, weights,
                                [model](int64_t count, int64_t grain, const std::function<void(int64_t, int64_t)>& body) {
                                  model->parallelFor(count, grain, body);
                                });
  CpuBackendOptions bo;
  bo.contextLength = options.contextLength;
  bo.maxKvCacheBytes = options.maxKvCacheBytes;
  executor::StepExecutorOptions eo;
  eo.maxActiveRequests = options.maxActiveRequests;
  return std::make_unique<executor::StepExecutor>(std::make_unique<CpuBackend>(model, drafter, bo), eo);
}

}  // namespace redrafter::cpu

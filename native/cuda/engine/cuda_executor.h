// Builds the CUDA engine's executor: loads the model (and the drafter directory), and runs CudaBackend on a
// StepExecutor (the CPU engine's scheduler: sessions, streaming, cancellation, in-flight batching).
#pragma once
#include <memory>
#include <string>

#include "core/executor/executor_interface.h"
#include "engine/cuda_backend.h"

namespace redrafter::cuda::engine {

struct CudaExecutorOptions {
  std::string model;    // model file (llama2.c .bin v0/v2, GGUF)
  std::string drafter;  // drafter directory (config.json + model.safetensors); "" = plain decoding only
  CudaBackendOptions backend;
};

std::unique_ptr<executor::Executor> createCudaExecutor(const CudaExecutorOptions& options);

// The model and drafter as CudaBackend wants them (row-major weights; the drafter read from its directory).
std::shared_ptr<const ModelWeights> loadModelForCuda(const std::string& path);
std::shared_ptr<const DrafterWeights> loadDrafterForCuda(const std::string& dir);

}  // namespace redrafter::cuda::engine

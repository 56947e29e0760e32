// Builds the CPU engine's executor: loads the model (and drafter), and runs CpuBackend on a StepExecutor.
#pragma once
#include <memory>
#include <string>

#include "core/executor/executor_interface.h"
#include "cpu/drafter/drafter.h"

namespace redrafter::cpu {

struct CpuExecutorOptions {
  std::string model;             // model file (llama2.c .bin v0/v2, GGUF)
  std::shared_ptr<const Drafter> drafter;  // null = plain autoregressive decoding only
  int32_t threads = 0;           // 0 = hardware concurrency
  int32_t contextLength = 0;     // KV capacity per session; 0 = the model's context length
  int64_t maxKvCacheBytes = 0;   // bound on one session's KV cache; 0 = defaultKvCacheBudget()
  int32_t maxActiveRequests = 8; // requests whose steps are batched together
};

std::unique_ptr<executor::Executor> createCpuExecutor(const CpuExecutorOptions& options);

}  // namespace redrafter::cpu

// The TensorRT-LLM executor backend: redrafter::executor::Executor over TensorRT-LLM's C++ Executor API
// (tensorrt_llm/executor/executor.h) running a ReDrafter engine built by `redrafter build` / trtllm-build.
//
// This header includes no TensorRT-LLM header, so the addon (native/addon/trtllm_engine.cpp) is compiled without
// TensorRT-LLM's include paths; only trtllm_executor.cpp sees them. Everything is built with TensorRT-LLM's C++
// ABI setting (_GLIBCXX_USE_CXX11_ABI, see native/trtllm/CMakeLists.txt) because std::string/std::vector cross
// this interface.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/executor/executor_interface.h"
#include "trtllm/request_checks.h"

namespace redrafter::trtllm {

struct TrtLlmOptions {
  std::string engineDir;  // trtllm-build --output_dir (config.json + rank*.engine)

  // Facts about the engine, read from <engineDir>/config.json by the TypeScript layer (lib/trtllm/engine-config.ts).
  int32_t vocabSize = 0;   // pretrained_config.vocab_size
  int32_t beamWidth = 0;   // pretrained_config.redrafter_num_beams (0: not a ReDrafter engine)
  int32_t beamLength = 0;  // redrafter_draft_len_per_beam + 1
  EngineLimits limits;     // max_seq_len, max_draft_len, max_input_len, redrafter_greedy_search
  std::string engineVersion;  // config.json "version": the TensorRT-LLM release that built the engine

  // Multi-GPU (lib/trtllm/parallel.ts chooses): "single" (one rank), "orchestrator" (this process spawns
  // tpSize * ppSize MPI workers running workerExecutable), "leader" (started under mpirun; rank 0 serves).
  std::string parallelMode = "single";
  int32_t worldSize = 1;          // tp_size * pp_size of the engine
  std::string workerExecutable;   // TensorRT-LLM's executorWorker (orchestrator mode)

  // KvCacheConfig
  float freeGpuMemoryFraction = 0.9f;  // of the GPU memory free after loading the engine, for the KV cache
  bool enableBlockReuse = true;        // reuse KV blocks of shared prefixes (multi-turn sessions)
  std::optional<int32_t> maxTokensInKvCache;
  std::optional<int64_t> hostCacheBytes;  // secondary (host) KV cache for offloaded blocks

  // SchedulerConfig and batch limits (ExecutorConfig)
  std::string schedulerPolicy = "guaranteed-no-evict";  // or "max-utilization"
  std::optional<int32_t> maxBatchSize;                  // <= the engine's max_batch_size
  std::optional<int32_t> maxNumTokens;                  // <= the engine's max_num_tokens
  std::optional<int32_t> maxQueueSize;                  // enqueueRequest fails beyond this many queued requests
  std::optional<bool> enableChunkedContext;  // unset: TensorRT-LLM's default (off in 0.15, on in 1.x)
  float gpuWeightsPercent = 1.0f;
};

// Loads the engine (initTrtLlmPlugins, then Executor(engineDir, kDECODER_ONLY, config)). Throws
// redrafter::Error: InvalidArgument naming the option, Io for a missing engine directory, Unsupported for a
// TensorRT-LLM library outside the supported range or different from the one that built the engine, Backend for
// anything TensorRT-LLM reports.
std::unique_ptr<executor::Executor> createTrtLlmExecutor(const TrtLlmOptions& options);

// The version of the TensorRT-LLM library loaded at run time (tensorrt_llm::executor::version()), and the one whose
// headers the backend was compiled against (REDRAFTER_TRTLLM_BUILD_VERSION, from cmake/TrtLlm.cmake).
std::string trtLlmRuntimeVersion();
std::string trtLlmBuildVersion();

}  // namespace redrafter::trtllm

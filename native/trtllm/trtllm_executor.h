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

namespace redrafter::trtllm {

struct TrtLlmOptions {
  std::string engineDir;  // trtllm-build --output_dir (config.json + rank*.engine)

  // Facts about the engine, read from <engineDir>/config.json by the TypeScript layer (lib/trtllm/engine-config.ts).
  int32_t vocabSize = 0;      // pretrained_config.vocab_size
  int32_t contextLength = 0;  // build_config.max_seq_len: prompt + generated tokens per request
  int32_t beamWidth = 0;      // pretrained_config.redrafter_num_beams (0: not a ReDrafter engine)
  int32_t beamLength = 0;     // redrafter_draft_len_per_beam + 1

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
// redrafter::Error: InvalidArgument naming the option, Io for a missing engine directory, Backend for anything
// TensorRT-LLM reports.
std::unique_ptr<executor::Executor> createTrtLlmExecutor(const TrtLlmOptions& options);

}  // namespace redrafter::trtllm

// The executor backends the addon's Engine can load, by name ("cpu"; "cuda" and "tensorrt-llm" in the separate modules
// redrafter_cuda.node and redrafter_trtllm.node, which compile the same Engine/Session glue). A backend registers its
// options reader (REDRAFTER_EXECUTOR_BACKEND in an addon .cpp): it parses loadEngine's options once, into the
// backend's typed options struct, and returns the loader that runs off the event loop.
#pragma once
#include <napi.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/executor/executor_interface.h"

namespace redrafter::addon {

// A backend's loader: creates the executor from the options its reader has already parsed (runs off the event loop).
using ExecutorLoader = std::function<std::unique_ptr<executor::Executor>()>;

// A backend's one options reader: loadEngine's options object -> the backend's typed options struct (cpu::
// CpuExecutorOptions, cuda::engine::CudaExecutorOptions, trtllm::TrtLlmOptions), each field read once, by its JS name,
// with its type and bounds checked (InvalidArgument naming it); returns the loader bound to them. Runs on the main
// thread (it may read JS objects, such as the cpu backend's Drafter).
using ExecutorOptionsReader = ExecutorLoader (*)(Napi::Object options);

void registerExecutorBackend(const char* name, ExecutorOptionsReader reader);
// Null when no backend of that name was built.
ExecutorOptionsReader findExecutorBackend(const std::string& name);

// The options the step-executor backends (cpu, cuda) share, with one set of bounds.
int32_t contextLengthOption(Napi::Object options);      // contextLength: 0 (the model's) .. 2^24
int32_t maxActiveRequestsOption(Napi::Object options);  // maxActiveRequests: 1 .. 1024, default 8

struct ExecutorBackendRegistrar {
  ExecutorBackendRegistrar(const char* name, ExecutorOptionsReader reader) { registerExecutorBackend(name, reader); }
};

}  // namespace redrafter::addon

// REDRAFTER_EXECUTOR_BACKEND(id, "name", optionsReader)
#define REDRAFTER_EXECUTOR_BACKEND(id, name, reader) \
  static ::redrafter::addon::ExecutorBackendRegistrar redrafter_executor_backend_##id(name, reader);

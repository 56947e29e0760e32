// The executor backends the addon's Engine can load, by name ("cpu"; "cuda" and "tensorrt-llm" in the separate modules
// redrafter_cuda.node and redrafter_trtllm.node, which compile the same Engine/Session glue). A backend registers a factory
// (REDRAFTER_EXECUTOR_BACKEND in an addon .cpp); the factory runs off the event loop.
#pragma once
#include <napi.h>

#include <map>
#include <memory>
#include <string>

#include "core/executor/executor_interface.h"

namespace redrafter::cpu {
class Drafter;
}

namespace redrafter::addon {

// loadEngine's options, read on the main thread. Backend-specific fields arrive in strings/numbers/booleans by
// their JS names (e.g. numbers["freeGpuMemoryFraction"]).
struct EngineOptions {
  std::string backend;  // "cpu", "tensorrt-llm"
  std::string model;    // cpu: model file
  std::string engineDir;  // tensorrt-llm: engine directory
  std::shared_ptr<const cpu::Drafter> cpuDrafter;  // cpu: options.drafter (a JS Drafter); null = none
  int32_t threads = 0;
  int32_t contextLength = 0;
  int64_t maxKvCacheBytes = 0;  // cpu: 0 = the default budget
  int32_t maxActiveRequests = 8;
  std::map<std::string, std::string> strings;
  std::map<std::string, double> numbers;
  std::map<std::string, bool> booleans;
};

using ExecutorFactory = std::unique_ptr<executor::Executor> (*)(const EngineOptions& options);

// Reads the options a backend takes as JS objects (the cpu backend's Drafter) on the main thread; registered by the
// part that owns them (cpu_engine.cpp), absent from a module without it.
using EngineOptionsReader = void (*)(Napi::Object options, EngineOptions& out);
void registerEngineOptionsReader(EngineOptionsReader reader);

void registerExecutorBackend(const char* name, ExecutorFactory factory);
// Null when no backend of that name was built.
ExecutorFactory findExecutorBackend(const std::string& name);

struct ExecutorBackendRegistrar {
  ExecutorBackendRegistrar(const char* name, ExecutorFactory factory) { registerExecutorBackend(name, factory); }
  ExecutorBackendRegistrar(const char* name, ExecutorFactory factory, EngineOptionsReader reader) {
    registerExecutorBackend(name, factory);
    registerEngineOptionsReader(reader);
  }
};

}  // namespace redrafter::addon

// REDRAFTER_EXECUTOR_BACKEND(id, "name", factory[, optionsReader])
#define REDRAFTER_EXECUTOR_BACKEND(id, name, ...) \
  static ::redrafter::addon::ExecutorBackendRegistrar redrafter_executor_backend_##id(name, __VA_ARGS__);

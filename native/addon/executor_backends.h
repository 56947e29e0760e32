// The executor backends the addon's Engine can load, by name ("cpu", "tensorrt-llm"). A backend registers a
// factory (REDRAFTER_EXECUTOR_BACKEND in an addon .cpp); the factory runs off the event loop.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "core/executor/executor_interface.h"
#include "cpu/drafter/drafter.h"

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

void registerExecutorBackend(const char* name, ExecutorFactory factory);
// Null when no backend of that name was built.
ExecutorFactory findExecutorBackend(const std::string& name);

struct ExecutorBackendRegistrar {
  ExecutorBackendRegistrar(const char* name, ExecutorFactory factory) { registerExecutorBackend(name, factory); }
};

}  // namespace redrafter::addon

#define REDRAFTER_EXECUTOR_BACKEND(id, name, factory) \
  static ::redrafter::addon::ExecutorBackendRegistrar redrafter_executor_backend_##id(name, factory);

// The "cpu" executor backend of the addon's Engine: the embedded CPU engine, with a JS Drafter object as its drafter.
#include "addon/drafter.h"
#include "addon/executor_backends.h"
#include "cpu/executor/cpu_executor.h"

namespace redrafter::addon {

namespace {

std::unique_ptr<executor::Executor> createCpu(const EngineOptions& o) {
  RD_REQUIRE(!o.model.empty(), "model", "must be a path to a model file");
  cpu::CpuExecutorOptions c;
  c.model = o.model;
  c.drafter = o.cpuDrafter;
  c.threads = o.threads;
  c.contextLength = o.contextLength;
  c.maxKvCacheBytes = o.maxKvCacheBytes;
  c.maxActiveRequests = o.maxActiveRequests;
  return cpu::createCpuExecutor(c);
}

// options.drafter: a JS Drafter (lib/drafter) for the cpu backend.
void readCpuDrafter(Napi::Object o, EngineOptions& e) {
  if (e.backend != "cpu") return;
  Napi::Value drafter = o.Get("drafter");
  if (!drafter.IsUndefined() && !drafter.IsNull()) e.cpuDrafter = Drafter::drafterOf(drafter, "drafter");
}

}  // namespace

}  // namespace redrafter::addon

REDRAFTER_EXECUTOR_BACKEND(cpu, "cpu", redrafter::addon::createCpu, redrafter::addon::readCpuDrafter)

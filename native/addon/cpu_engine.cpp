// The "cpu" executor backend of the addon's Engine: the embedded CPU engine, with a JS Drafter object as its drafter.
// Its options reader fills cpu::CpuExecutorOptions.
#include "addon/args.h"
#include "addon/drafter.h"
#include "addon/executor_backends.h"
#include "cpu/executor/cpu_executor.h"

namespace redrafter::addon {

namespace {

ExecutorLoader readCpu(Napi::Object o) {
  cpu::CpuExecutorOptions c;
  c.model = stringFieldOr(o, "model", "");
  RD_REQUIRE(!c.model.empty(), "model", "must be a path to a model file");
  Napi::Value drafter = o.Get("drafter");  // a JS Drafter (lib/drafter)
  if (!drafter.IsUndefined() && !drafter.IsNull()) c.drafter = Drafter::drafterOf(drafter, "drafter");
  c.threads = int32_t(intFieldOr(o, "threads", 0, 0, 1024));
  c.contextLength = contextLengthOption(o);
  c.maxKvCacheBytes = intFieldOr(o, "maxKvCacheBytes", 0, 0, int64_t(1) << 53);
  c.maxActiveRequests = maxActiveRequestsOption(o);
  return [c] { return cpu::createCpuExecutor(c); };
}

}  // namespace

}  // namespace redrafter::addon

REDRAFTER_EXECUTOR_BACKEND(cpu, "cpu", redrafter::addon::readCpu)

#include "cpu/kernels/isa.h"

#include <cstdlib>

#include "core/error.h"
#include "cpu/kernels/simd.h"

namespace redrafter::cpu::kernels {

Isa detectIsa() {
#if REDRAFTER_X86_SIMD
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return Isa::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;  // F16C comes with both
#endif
  return Isa::Portable;
}

const char* isaName(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "portable";
  }
}

Isa selectIsa(const std::string& requested) {
  std::string name = requested;
  if (name.empty()) {
    const char* env = std::getenv("REDRAFTER_CPU_ISA");
    if (env && *env) name = env;
  }
  Isa best = detectIsa();
  if (name.empty()) return best;
  Isa want;
  if (name == "avx512") want = Isa::Avx512;
  else if (name == "avx2") want = Isa::Avx2;
  else if (name == "portable") want = Isa::Portable;
  else fail(ErrorCode::InvalidArgument, "isa must be \"avx512\", \"avx2\" or \"portable\" (got \"" + name + "\")");
  if (static_cast<int>(want) > static_cast<int>(best))
    fail(ErrorCode::Unsupported, std::string("isa \"") + name + "\" is not supported by this CPU (best: " +
                                     isaName(best) + ")");
  return want;
}

}  // namespace redrafter::cpu::kernels

// Which SIMD kernels this CPU runs: AVX-512, AVX2+FMA+F16C or portable C++, chosen at run time
// (__builtin_cpu_supports), so the library builds without global -m flags.
#pragma once
#include <string>

namespace redrafter::cpu::kernels {

enum class Isa { Portable = 0, Avx2 = 1, Avx512 = 2 };

// The best the CPU supports.
Isa detectIsa();
// `name` ("avx512", "avx2", "portable"; "" = $REDRAFTER_CPU_ISA if set, else detectIsa()). Throws Unsupported when
// the CPU lacks the requested one, InvalidArgument for an unknown name.
Isa selectIsa(const std::string& name);
const char* isaName(Isa isa);

}  // namespace redrafter::cpu::kernels

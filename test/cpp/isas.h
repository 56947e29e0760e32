// The kernel ISAs this CPU runs (portable first), for the kernel tests that check every path.
#pragma once
#include <vector>

#include "cpu/kernels/isa.h"

namespace redrafter::cpu::test {

inline std::vector<kernels::Isa> cpuIsas() {
  std::vector<kernels::Isa> list = {kernels::Isa::Portable};
  if (kernels::detectIsa() >= kernels::Isa::Avx2) list.push_back(kernels::Isa::Avx2);
  if (kernels::detectIsa() >= kernels::Isa::Avx512) list.push_back(kernels::Isa::Avx512);
  return list;
}

}  // namespace redrafter::cpu::test

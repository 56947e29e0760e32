// The two limits a forward of the CPU engine runs against, measured on this machine with the engine's kernels' ISA
// and threads: the memory read bandwidth (weights stream from memory once per forward) and the f32 FMA peak (a
// forward of T tokens does 2 x parameters x T flops). `redrafter bench` reports its figures against them.
#pragma once
#include <cstdint>

#include "cpu/kernels/isa.h"

namespace redrafter::cpu {

struct Roofline {
  double readBytesPerSecond = 0;  // best of the repeats, all threads reading disjoint halves of one buffer
  double fmaFlopsPerSecond = 0;   // f32, 2 flops per fused multiply-add, all threads
  int32_t threads = 0;
  kernels::Isa isa = kernels::Isa::Portable;
};

// Reads a buffer of `bytes` (far larger than the caches: 1 GiB by default) `repeats` times and runs independent FMA
// chains in registers, on `threads` threads (0: hardware concurrency), with `isa`'s vectors. Takes about a second.
Roofline measureRoofline(kernels::Isa isa, int32_t threads, int64_t bytes = int64_t(1) << 30, int32_t repeats = 3);

}  // namespace redrafter::cpu

// Activations quantised to 8 bits in blocks of 32, ggml's Q8_0 (what llama.cpp multiplies 32-value weight blocks
// with): the integer kernels that take them are quant_matmul.h's Q4_0 and packed_matmul.h's Q8_0 block panels.
#pragma once
#include <cstdint>

#include "cpu/kernels/isa.h"

namespace redrafter::cpu::kernels {

// 32 activations x[0..31]: qs[j] = round(x[j] * (1 / d0)) with d0 = amax / 127 (amax: the largest magnitude; ties
// to even, model::nearestInt; |qs| <= 127, never -128; all 0 when amax is 0), d = d0 rounded to fp16, sum = the sum
// of the qs.
struct Act32 {
  float d;
  int32_t sum;
  int8_t qs[32];
};

void quantizeAct32(const float* x, Act32* a);

// out[b] = quantizeAct32 of x[32 b .. 32 b + 31] for b in [0, blocks): the same values on every ISA.
void quantizeAct32Blocks(Isa isa, const float* x, int64_t blocks, Act32* out);

}  // namespace redrafter::cpu::kernels

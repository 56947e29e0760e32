// Reading any TensorView's values as float32 (for conversion, tests and reference paths; not the hot kernels).
#pragma once
#include <cstdint>

#include "model/weights.h"

namespace redrafter::model {

// out[cols] = row `row` of `t` as float32.
void dequantizeRow(const TensorView& t, int64_t row, float* out);

// ggml's reference Q8_0 quantisation of `n` values (n % 32 == 0) into n / 32 blocks of 34 bytes at `out`.
void quantizeQ8_0(const float* x, int64_t n, uint8_t* out);

}  // namespace redrafter::model

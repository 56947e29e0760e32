// Reading any TensorView's values as float32 (for conversion, tests and reference paths; not the hot kernels).
#pragma once
#include <cstdint>

#include "model/weights.h"

namespace redrafter::model {

// out[cols] = row `row` of `t` as float32.
void dequantizeRow(const TensorView& t, int64_t row, float* out);

// ggml's reference Q8_0 quantisation of `n` values (n % 32 == 0) into n / 32 blocks of 34 bytes at `out`.
void quantizeQ8_0(const float* x, int64_t n, uint8_t* out);

// `n` values (n a multiple of blockFormat(type).elements) quantised into n / elements blocks of `type` at `out`
// (block layouts: core/tensor.h), with ggml's reference algorithms (quantize_row_*_ref in ggml-quants.c, what
// llama-quantize uses without an importance matrix), so the bytes equal llama.cpp's. Types: Q8_0, Q4_0, Q4_K,
// Q5_K, Q6_K; throws Internal for others or a bad n.
void quantizeRow(DType type, const float* x, int64_t n, uint8_t* out);

// The values of one block of a blocked type (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K) as float32: blockFormat(type).elements
// values at `out`.
void dequantizeBlock(DType type, const uint8_t* block, float* out);

// Sub-block j (< 8) of a Q4_K/Q5_K block's packed 6-bit scales: its scale and min (core/tensor.h).
inline void kQuantScaleMin(const uint8_t* scales, int j, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = scales[j] & 63;
    *m = scales[j + 4] & 63;
  } else {
    *sc = uint8_t((scales[j + 4] & 15) | ((scales[j - 4] >> 6) << 4));
    *m = uint8_t((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
  }
}

}  // namespace redrafter::model

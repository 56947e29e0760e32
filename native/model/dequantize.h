// Reading any TensorView's values as float32 (for conversion, tests and reference paths; not the hot kernels).
#pragma once
#include <cstdint>
#include <cstring>

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

// ggml's nearest_int: round to nearest (ties to even) through the float mantissa, for |v| <= 4194303 (the quantisers
// here and the CPU kernels' activation quantisation round with it, as ggml does).
inline int nearestInt(float v) {
  float f = v + 12582912.f;
  int32_t i;
  std::memcpy(&i, &f, 4);
  return (i & 0x007fffff) - 0x00400000;
}

// The 8 sub-block scales and mins of a Q4_K/Q5_K block's packed 6-bit `scales` (core/tensor.h), four to a word:
// packed[0] = sc[0..3], packed[1] = sc[4..7], packed[2] = m[0..3], packed[3] = m[4..7] (little-endian bytes).
inline void kQuantScalesMinsPacked(const uint8_t* scales, uint32_t* packed) {
  uint32_t u[3];
  std::memcpy(u, scales, 12);
  packed[0] = u[0] & 0x3f3f3f3fu;
  packed[1] = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);
  packed[2] = u[1] & 0x3f3f3f3fu;
  packed[3] = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4);
}

// The same as bytes: sc[8] and m[8].
inline void kQuantScalesMins(const uint8_t* scales, uint8_t* sc, uint8_t* m) {
  uint32_t packed[4];
  kQuantScalesMinsPacked(scales, packed);
  std::memcpy(sc, packed, 8);
  std::memcpy(m, packed + 2, 8);
}

}  // namespace redrafter::model

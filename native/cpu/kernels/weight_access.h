// Scalar access to one weight of any DType of weights.h, shared by the matrix kernels: the portable path and
// every SIMD kernel's tail (columns past the last full vector) read weights through weightAt.
#pragma once
#include <cstdint>
#include <cstring>

#include "core/tensor.h"
#include "model/dequantize.h"
#include "model/half.h"

namespace redrafter::cpu::kernels::detail {

// the one f16/bf16 conversion (model/half.h)
using model::bf16ToF32;
using model::fp16ToF32;

constexpr int64_t kQ8Block = 32;
constexpr int64_t kQ8BlockBytes = 34;  // fp16 scale + 32 int8

inline uint16_t loadU16(const void* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// W[r, k] as float (the tail of every kernel and the portable path).
inline float weightAt(const TensorView& w, int64_t r, int64_t k) {
  switch (w.type) {
    case DType::F32: return static_cast<const float*>(w.data)[r * w.cols + k];
    case DType::F16: return fp16ToF32(static_cast<const uint16_t*>(w.data)[r * w.cols + k]);
    case DType::BF16: return bf16ToF32(static_cast<const uint16_t*>(w.data)[r * w.cols + k]);
    case DType::Q8_0: {
      const uint8_t* block = static_cast<const uint8_t*>(w.data) + r * (w.cols / kQ8Block) * kQ8BlockBytes +
                             (k / kQ8Block) * kQ8BlockBytes;
      return fp16ToF32(loadU16(block)) * static_cast<float>(static_cast<const int8_t*>(
                                               static_cast<const void*>(block + 2))[k % kQ8Block]);
    }
    case DType::Q8_G_F32: {
      int64_t i = r * w.cols + k;
      return w.scales[i / w.groupSize] * static_cast<float>(static_cast<const int8_t*>(w.data)[i]);
    }
    case DType::Q4_0:
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K: {  // never on a hot path: their matmul is quant_matmul.h's
      const BlockFormat f = blockFormat(w.type);
      float block[256];
      model::dequantizeBlock(w.type,
                             static_cast<const uint8_t*>(w.data) + (r * (w.cols / f.elements) + k / f.elements) * f.bytes,
                             block);
      return block[k % f.elements];
    }
  }
  return 0.0f;
}

}  // namespace redrafter::cpu::kernels::detail

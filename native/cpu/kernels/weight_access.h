// Scalar access to one weight of any DType of weights.h, shared by the matrix kernels: the portable path and
// every SIMD kernel's tail (columns past the last full vector) read weights through weightAt.
#pragma once
#include <cstdint>
#include <cstring>

#include "core/tensor.h"

namespace redrafter::cpu::kernels::detail {

inline float halfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ff;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exponent = 127 - 15 + 1;
      while ((mantissa & 0x400) == 0) {
        mantissa <<= 1;
        --exponent;
      }
      mantissa &= 0x3ff;
      bits = sign | (exponent << 23) | (mantissa << 13);
    }
  } else if (exponent == 31) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline float bf16ToFloat(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

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
    case DType::F16: return halfToFloat(static_cast<const uint16_t*>(w.data)[r * w.cols + k]);
    case DType::BF16: return bf16ToFloat(static_cast<const uint16_t*>(w.data)[r * w.cols + k]);
    case DType::Q8_0: {
      const uint8_t* block = static_cast<const uint8_t*>(w.data) + r * (w.cols / kQ8Block) * kQ8BlockBytes +
                             (k / kQ8Block) * kQ8BlockBytes;
      return halfToFloat(loadU16(block)) * static_cast<float>(static_cast<const int8_t*>(
                                               static_cast<const void*>(block + 2))[k % kQ8Block]);
    }
    case DType::Q8_G_F32: {
      int64_t i = r * w.cols + k;
      return w.scales[i / w.groupSize] * static_cast<float>(static_cast<const int8_t*>(w.data)[i]);
    }
  }
  return 0.0f;
}

}  // namespace redrafter::cpu::kernels::detail

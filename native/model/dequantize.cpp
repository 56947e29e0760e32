#include "model/dequantize.h"

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "model/half.h"

namespace redrafter::model {

void dequantizeRow(const TensorView& t, int64_t row, float* out) {
  if (row < 0 || row >= t.rows) fail(ErrorCode::Internal, "dequantizeRow: row out of range");
  if (t.layout == Layout::Panels16) {  // packed by the CPU engine for its matmul (F32 or F16, core/tensor.h)
    for (int64_t k = 0; k < t.cols; ++k) {
      const int64_t i = panels16Index(row, k, t.cols);
      out[k] = t.type == DType::F32 ? static_cast<const float*>(t.data)[i]
                                    : fp16ToF32(static_cast<const uint16_t*>(t.data)[i]);
    }
    return;
  }
  const int64_t cols = t.cols;
  const uint8_t* base = static_cast<const uint8_t*>(t.data);
  switch (t.type) {
    case DType::F32: std::memcpy(out, base + 4 * row * cols, 4 * cols); return;
    case DType::F16:
    case DType::BF16:
      for (int64_t i = 0; i < cols; ++i) {
        uint16_t h;
        std::memcpy(&h, base + 2 * (row * cols + i), 2);
        out[i] = t.type == DType::F16 ? fp16ToF32(h) : bf16ToF32(h);
      }
      return;
    case DType::Q8_0: {
      const uint8_t* r = base + 34 * (row * cols / 32);
      for (int64_t b = 0; b < cols / 32; ++b) {
        uint16_t d16;
        std::memcpy(&d16, r + 34 * b, 2);
        float d = fp16ToF32(d16);
        const int8_t* q = reinterpret_cast<const int8_t*>(r + 34 * b + 2);
        for (int i = 0; i < 32; ++i) out[32 * b + i] = d * float(q[i]);
      }
      return;
    }
    case DType::Q8_G_F32: {
      const int8_t* q = reinterpret_cast<const int8_t*>(base);
      for (int64_t i = 0; i < cols; ++i) {
        int64_t k = row * cols + i;
        out[i] = float(q[k]) * t.scales[k / t.groupSize];
      }
      return;
    }
  }
  fail(ErrorCode::Internal, "dequantizeRow: unknown tensor type");
}

void quantizeQ8_0(const float* x, int64_t n, uint8_t* out) {
  for (int64_t b = 0; b < n / 32; ++b) {
    const float* v = x + 32 * b;
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(v[i]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    uint8_t* block = out + 34 * b;
    uint16_t d16 = f32ToFp16(d);
    std::memcpy(block, &d16, 2);
    for (int i = 0; i < 32; ++i) block[2 + i] = static_cast<uint8_t>(static_cast<int8_t>(std::round(v[i] * id)));
  }
}

}  // namespace redrafter::model

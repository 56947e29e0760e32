#include "core/tensor.h"

namespace redrafter {

const char* dtypeName(DType type) {
  switch (type) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::BF16: return "bf16";
    case DType::Q8_0: return "q8_0";
    case DType::Q8_G_F32: return "q8_g_f32";
    case DType::Q4_0: return "q4_0";
    case DType::Q4_K: return "q4_k";
    case DType::Q5_K: return "q5_k";
    case DType::Q6_K: return "q6_k";
  }
  return "unknown";
}

BlockFormat blockFormat(DType type) {
  switch (type) {
    case DType::F32: return {1, 4};
    case DType::F16:
    case DType::BF16: return {1, 2};
    case DType::Q8_0: return {32, 34};
    case DType::Q8_G_F32: return {1, 1};
    case DType::Q4_0: return {32, 18};
    case DType::Q4_K: return {256, 144};
    case DType::Q5_K: return {256, 176};
    case DType::Q6_K: return {256, 210};
  }
  return {1, 4};
}

}  // namespace redrafter

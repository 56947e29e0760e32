#include "core/tensor.h"

namespace redrafter {

const char* dtypeName(DType type) {
  switch (type) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::BF16: return "bf16";
    case DType::Q8_0: return "q8_0";
    case DType::Q8_G_F32: return "q8_g_f32";
  }
  return "unknown";
}

}  // namespace redrafter

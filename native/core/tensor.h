// The tensor vocabulary every room shares: element types, layouts and a non-owning view of a matrix. The model-file
// readers (native/model) make views into mapped files, the CPU kernels (native/cpu/kernels) and the CUDA kernels
// (native/cuda) read them; neither backend defines its own.
#pragma once
#include <cstdint>

namespace redrafter {

enum class DType {
  F32,
  F16,
  BF16,
  Q8_0,      // GGUF Q8_0: blocks of 32 { fp16 scale d; int8 q[32] } (34 bytes), value = d * q
  Q8_G_F32,  // llama2.c runq v2: int8 q[rows*cols] at `data`, one float32 scale per `groupSize` values at `scales`;
             // groups run over the flattened tensor (value i*cols+j uses scales[(i*cols+j)/groupSize]), so a group
             // may span two rows when cols % groupSize != 0 (stories260K: w2 has cols 172, group size 32)
};

// "f32", "f16", "bf16", "q8_0", "q8_g_f32"
const char* dtypeName(DType type);

// How a matrix's values are laid out at `data`.
enum class Layout {
  RowMajor,  // W[r, k] at r * cols + k (Q8 types: their blocks or groups, as the file stores them)
  Panels16,  // F32/F16 only (made by the CPU engine, cpu/engine/weight_packing.h): rows in panels of 16, k-major
             // inside a panel: W[r, k] at panels16Index(r, k, cols); the last panel is padded with zero rows
};

constexpr int64_t kPanelRows = 16;

// Where W[r, k] of a [rows, cols] Panels16 matrix is, in elements from `data`.
constexpr int64_t panels16Index(int64_t r, int64_t k, int64_t cols) {
  return ((r / kPanelRows) * cols + k) * kPanelRows + r % kPanelRows;
}

struct TensorView {
  DType type = DType::F32;
  int64_t rows = 0;  // 1 for vectors
  int64_t cols = 0;
  const void* data = nullptr;
  const float* scales = nullptr;  // Q8_G_F32 only
  int32_t groupSize = 0;          // Q8_G_F32 only
  Layout layout = Layout::RowMajor;
  bool empty() const { return data == nullptr; }
  int64_t elements() const { return rows * cols; }
};

}  // namespace redrafter

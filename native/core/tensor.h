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
  // ggml's 4-6 bit block formats (byte-compatible with ggml-common.h; each row is whole blocks, fp16 = IEEE half,
  // little-endian). "Sub-block" scales/mins are unsigned 6-bit (K types) or signed 8-bit (Q6_K) integers.
  Q4_0,  // blocks of 32 (18 bytes): { fp16 d; uint8 qs[16] }; value j (j < 16) = d * ((qs[j] & 15) - 8),
         // value j + 16 = d * ((qs[j] >> 4) - 8)
  Q4_K,  // blocks of 256 (144 bytes): { fp16 d; fp16 dmin; uint8 scales[12]; uint8 qs[128] }: 8 sub-blocks of 32,
         // sub-block s has 6-bit scale sc[s] and min m[s] packed in `scales` (s < 4: sc = scales[s] & 63,
         // m = scales[s + 4] & 63; s >= 4: sc = (scales[s + 4] & 15) | (scales[s - 4] >> 6) << 4,
         // m = (scales[s + 4] >> 4) | (scales[s] >> 6) << 4); value 64p + l (p < 4, l < 32) has quant
         // qs[32p + l] & 15 (sub-block 2p), value 64p + 32 + l has qs[32p + l] >> 4 (sub-block 2p + 1);
         // value = d * sc[s] * q - dmin * m[s]
  Q5_K,  // blocks of 256 (176 bytes): { fp16 d; fp16 dmin; uint8 scales[12]; uint8 qh[32]; uint8 qs[128] }: Q4_K's
         // layout plus a fifth bit: value 64p + l adds 16 if qh[l] bit 2p is set, value 64p + 32 + l if bit 2p + 1;
         // q in 0..31, value = d * sc[s] * q - dmin * m[s]
  Q6_K,  // blocks of 256 (210 bytes): { uint8 ql[128]; uint8 qh[64]; int8 scales[16]; fp16 d }: halves h < 2 of 128
         // values use ql + 64h, qh + 32h, scales + 8h; in a half, for l < 32: value l has q = (ql[l] & 15) |
         // (qh[l] & 3) << 4, value 32 + l: (ql[32 + l] & 15) | (qh[l] >> 2 & 3) << 4, value 64 + l: (ql[l] >> 4) |
         // (qh[l] >> 4 & 3) << 4, value 96 + l: (ql[32 + l] >> 4) | (qh[l] >> 6) << 4; value i of the half
         // = d * scales[i / 16] * (q - 32)
};

// "f32", "f16", "bf16", "q8_0", "q8_g_f32", "q4_0", "q4_k", "q5_k", "q6_k"
const char* dtypeName(DType type);

// How a row-major row of a type is stored: `elements` values in `bytes` bytes (1 element per block for the
// unblocked types; Q8_G_F32 stores its int8 values here and its scales apart). A row of a blocked type holds
// cols / elements whole blocks: cols must be a multiple of `elements`.
struct BlockFormat {
  int64_t elements;
  int64_t bytes;
};
BlockFormat blockFormat(DType type);

// How a matrix's values are laid out at `data`.
enum class Layout {
  RowMajor,  // W[r, k] at r * cols + k (block types: row r's blocks at r * (cols / elements) * bytes of
             // blockFormat; Q8_G_F32: its groups, as the file stores them)
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

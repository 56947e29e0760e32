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
  Panels16,  // made by the CPU engine (cpu/kernels/packed_matmul.h): rows in panels of 16, the last panel padded
             // with zero rows. F32/F16 (the model's matrices, cpu/engine/weight_packing.h): k-major inside a panel,
             // W[r, k] at panels16Index(r, k, cols). Q8_0/Q4_0 (the drafter's quantised copies; cols % 32 == 0): a
             // panel is cols / 32 blocks of 32 columns, block j of panel p at byte panelBlockOffset(type, p, j, cols):
             // the 16 rows' fp16 scales d[16] (each row's ggml block scale), then their quants: Q8_0 int8
             // q[8][16][4], 4 consecutive columns of each row together (what an integer dot product of 4 bytes
             // takes), W[r, k] = d[i] * q at panelQ8Index(i, k % 32) (i = r % 16); Q4_0 uint8 qs[16][16], qs[m][i]
             // holding row i's quants of columns 2m (low nibble) and 2m + 1 (high nibble), W[r, k] = d[i] *
             // (nibble - 8). The values are exactly the row-major ggml blocks' (the same d and q, rearranged).
  Panels8,   // F32/F16, made by the CPU engine for its AVX2 kernels (cpu/engine/weight_packing.h): rows in panels of
             // 8, k-major inside a panel: W[r, k] at panelIndex(Panels8, r, k, cols); the last panel padded with
             // zero rows
};

constexpr int64_t kPanelRows = 16;

// Rows per panel of a panel layout (Panels16: 16, Panels8: 8; RowMajor: 1).
constexpr int64_t panelRowsOf(Layout layout) {
  return layout == Layout::Panels16 ? kPanelRows : layout == Layout::Panels8 ? 8 : 1;
}

// Where W[r, k] of a [rows, cols] F32/F16 panel-layout matrix is, in elements from `data`.
constexpr int64_t panelIndex(Layout layout, int64_t r, int64_t k, int64_t cols) {
  const int64_t pr = panelRowsOf(layout);
  return ((r / pr) * cols + k) * pr + r % pr;
}
constexpr int64_t panels16Index(int64_t r, int64_t k, int64_t cols) { return panelIndex(Layout::Panels16, r, k, cols); }

// Q8_0/Q4_0 Panels16: columns per block, bytes per block of a panel (16 fp16 scales + 16 x 32 quants of 8 or 4
// bits: 544 or 288, 1.0625 or 0.5625 bytes per weight, as ggml's row-major blocks), and where block j of panel p
// starts, in bytes from `data`.
constexpr int64_t kPanelBlockCols = 32;
constexpr int64_t panelBlockBytes(DType type) {
  return 2 * kPanelRows + kPanelRows * kPanelBlockCols / (type == DType::Q8_0 ? 1 : 2);
}
constexpr int64_t panelBlockOffset(DType type, int64_t p, int64_t j, int64_t cols) {
  return (p * (cols / kPanelBlockCols) + j) * panelBlockBytes(type);
}
// Where row i (0..15) of a Q8_0 panel block holds its quant of column k (0..31), in bytes from the block's quants.
constexpr int64_t panelQ8Index(int64_t i, int64_t k) { return (k / 4) * 4 * kPanelRows + i * 4 + k % 4; }

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

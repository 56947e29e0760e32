// The matrix kernel for row-panel-packed weights (Layout::Panels16 / Panels8, core/tensor.h): F32 or F16 rows repacked
// once at load into panels of 16 (8 for the AVX2 kernels: packedLayoutFor) output rows, k-major inside a panel (for
// each k, the panel's weights are contiguous). The
// AVX2 micro-kernel keeps one 8-row vector accumulator per (8 rows, token) and adds W[k][8 rows] * broadcast(x[t][k])
// for k = 0, 1, ..., K-1: no horizontal sums, and each loaded (converted) weight vector feeds up to 6 tokens.
//
// Reduction order (one per ISA, whatever T, the token grouping, the k-blocking or the row split): every output
// y[t, r] = sum_k W[r, k] * x[t, k] is accumulated strictly sequentially over k from 0.0f: AVX2 (also used when the
// AVX-512 ISA is selected) acc = fma(W[r, k], x[t, k], acc); portable acc = acc + W[r, k] * x[t, k] (separately
// rounded product). That is what keeps the forward batch-invariant with packed weights.
//
// Q8_0/Q4_0 panels (the drafter's quantised copies; core/tensor.h), 1.0625 / 0.5625 bytes per weight read:
// - Q8_0 as llama.cpp computes Q8_0: each token's activations quantised to 8 bits per block of 32
//   (activation_quant.h), each block's weight x activation products summed exactly in integers, and the blocks
//   combined in order, acc = acc + (d_w * d_x) * float(isum) from 0.0f (rounded separately): the same bits on
//   every ISA, for every T and row split. Its quants must lie in -127..127 (ggml's quantisation; packPanels
//   refuses -128).
// - Q4_0: each weight decoded to its exact float32 value d * (q - 8) and applied as an F32 weight against the
//   float32 activations, so y is bit for bit the F32 packed kernel's result on the dequantised matrix.
#pragma once
#include <cstdint>

#include "cpu/kernels/isa.h"
#include "core/tensor.h"

namespace redrafter::cpu::kernels {

constexpr int64_t kPackedPanelRows = kPanelRows;  // core/tensor.h

// Whether `w` can be packed (F32 or F16, row-major, non-empty): what the engine packs of a model.
bool packable(const TensorView& w);
// Whether `w` can be packed into block panels (row-major ggml Q8_0 or Q4_0, non-empty, cols % 32 == 0).
bool packableBlocks(const TensorView& w);

// Bytes of the packed copy of a [rows, cols] tensor of `type` (F32, F16, Q8_0 or Q4_0; rows rounded up to a
// multiple of the layout's panel rows; Q8_0/Q4_0: Panels16 only).
int64_t packedBytes(DType type, int64_t rows, int64_t cols, Layout layout = Layout::Panels16);

// The panel layout the engine packs a model's F32/F16 matrices into for the kernels of `isa`: Panels8 for AVX2 (its
// 8-token tile is then one pass over the weights), Panels16 otherwise. Either layout runs on every ISA, with the
// same bits.
Layout packedLayoutFor(Isa isa);

// Writes panels [panelBegin, panelEnd) of the packed copy of row-major `w` (packable or packableBlocks) to `dst`
// (packedBytes(...) bytes in all; panels are independent, so threads may write disjoint ranges).
void packPanels(const TensorView& w, void* dst, int64_t panelBegin, int64_t panelEnd,
                Layout layout = Layout::Panels16);

// A view of the packed copy at `dst` of `w` (same type and shape, in `layout`).
TensorView packedView(const TensorView& w, const void* dst, Layout layout = Layout::Panels16);

// y[t, r] for t in [0, T), r in [rowBegin, rowEnd) with packed W (w.layout == Panels16): x is [T, ldx], y [T, ldy].
// kBlock > 0: the columns are walked in blocks of kBlock, each block applied to every token group before the next
// (the block of the panel stays in L1; the order per element is unchanged; measured 3-8% slower, kept for the tests
// and bench/cpp/matmul_bench.cpp); 0 = whole rows, the default. Q8_0/Q4_0 panels always take whole rows.
void matmulPacked(Isa isa, const TensorView& w, const float* x, int64_t T, int64_t ldx, float* y, int64_t ldy,
                  int64_t rowBegin, int64_t rowEnd, int64_t kBlock = 0);

}  // namespace redrafter::cpu::kernels

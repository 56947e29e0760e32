// Matrix kernels of the forward pass. Weights are row-major [rows = out, cols = in] in any DType of weights.h,
// dequantised on the fly. Every output element y[t, r] = sum_k W[r, k] * x[t, k] is reduced in one fixed order
// per ISA (lane-strided over k, a fixed horizontal sum, then the tail in order), whatever the number of tokens T
// or which rows a thread gets: that is what makes the forward batch-invariant. F32/F16 tensors packed into 16-row
// panels (Layout::Panels16, or Panels8 for the AVX2 kernels) go to the packed kernel, whose one order per ISA is documented in packed_matmul.h.
// Q4_0/Q4_K/Q5_K/Q6_K weights go to quant_matmul.h (integer dot products against 8-bit quantised activations,
// batch-invariant and the same on every ISA).
#pragma once
#include <cstdint>
#include <string>

#include "cpu/kernels/isa.h"
#include "core/tensor.h"

namespace redrafter::cpu::kernels {

// y[t, r] for t in [0, T), r in [rowBegin, rowEnd): x is [T, ldx] (W.cols used), y is [T, ldy].
// Each weight row is streamed once per call and applied to all T tokens (register tiles of rows x tokens).
void matmulRows(Isa isa, const TensorView& w, const float* x, int64_t T, int64_t ldx, float* y, int64_t ldy,
                int64_t rowBegin, int64_t rowEnd);

// matmulRows without the software prefetch of the next panel (AVX2, 4 <= T <= 16) or of the next tile's rows (the
// other row-major tiles): the same tiles, so the same results bit for bit; kept callable so that tests and
// bench/cpp/matmul_bench.cpp compare the two.
void matmulRowsWithoutPrefetch(Isa isa, const TensorView& w, const float* x, int64_t T, int64_t ldx, float* y,
                         int64_t ldy, int64_t rowBegin, int64_t rowEnd);

// sum_k a[k] * b[k] in the same fixed order as matmulRows.
float dot(Isa isa, const float* a, const float* b, int64_t n);

// out[i] = dot(q, rows + r * stride, n) * scale for i < count, r = index[i] (index null: r = i): attention's scores
// (kernels/attention.h), without a call per row. Bit for bit dot() row by row, except that AVX-512 rows of fewer
// than 16 floats (no whole vector: dot() runs a chain of scalar FMAs) take the AVX2 order.
void dotRows(Isa isa, const float* q, const float* rows, int64_t stride, const int32_t* index, int64_t count, int64_t n,
             float scale, float* out);

// Whether matmulRows supports W's layout (Q8_0 and Q4_0 need cols % 32 == 0, Q4_K/Q5_K/Q6_K cols % 256 == 0;
// Q8_G_F32 needs scales and a group size > 0;
// its groups run over the flattened tensor, as llama2.c runq writes them).
bool supportsLayout(const TensorView& w, std::string* why);

}  // namespace redrafter::cpu::kernels

// Matrix kernels for ggml's 4-6 bit weight types (Q4_0, Q4_K, Q5_K, Q6_K; block layouts in core/tensor.h), the way
// llama.cpp computes them: each token's activations are quantised to 8 bits per block (Q4_0: blocks of 32 with an
// fp16 scale, ggml's Q8_0; K types: blocks of 256 with a float scale and 16-value sums, ggml's Q8_K), the weight x
// activation products of a block are summed exactly in integers (unsigned weight quants against signed activation
// quants; the weights' zero points and mins are applied through the activations' block sums), and the blocks are
// then combined in float, in block order, by one scalar function shared by every ISA:
//   Q4_0:      acc += (d_w * d_x) * (sum q_w q_x - 8 sum q_x)
//   Q4_K/Q5_K: acc += (d_w * d_x) * sum_s sc_s sum q_w q_x;  acc -= (dmin_w * d_x) * sum_s m_s sum_s q_x
//   Q6_K:      acc += (d_w * d_x) * sum_s sc_s (sum q_w q_x - 32 sum_s q_x)
// So y[t, r] depends only on row r and token t's activations: the same for every T, thread split and ISA (the
// portable, AVX2 and AVX-512 (BW + VNNI; AVX-512 CPUs without them take the AVX2 path) kernels differ only in how
// they compute the exact integer sums; Q4_0 has no AVX-512 kernel of its own and takes the AVX2 one).
// Chosen over dequantising to float and FMA-ing by measurement (bench/cpp/quant_matmul_bench.cpp, bench/RESULTS.md).
// Each call software-prefetches the weight rows 8 ahead of the one it computes. (A model's Q8_0 weights are
// dequantised to float by matmulRows; the drafter's Q8_0 / Q4_0 copies go to the packed kernel's block panels,
// packed_matmul.h.)
#pragma once
#include <cstdint>

#include "core/tensor.h"
#include "cpu/kernels/isa.h"

namespace redrafter::cpu::kernels {

// Whether `type` is one of the types matmulQuant computes.
bool isQuantType(DType type);

// y[t, r] for t in [0, T), r in [rowBegin, rowEnd): x is [T, ldx] (w.cols used; w.cols a multiple of the type's
// block), y is [T, ldy]. w is row-major, of a type isQuantType accepts.
void matmulQuant(Isa isa, const TensorView& w, const float* x, int64_t T, int64_t ldx, float* y, int64_t ldy,
                 int64_t rowBegin, int64_t rowEnd);

// The alternative the bench compares (not used by the engine): each weight block dequantised to float32
// (model/dequantize.h) and applied to the float32 activations with 8-lane FMAs (AVX2; portable otherwise).
void matmulQuantDequantized(Isa isa, const TensorView& w, const float* x, int64_t T, int64_t ldx, float* y,
                            int64_t ldy, int64_t rowBegin, int64_t rowEnd);

}  // namespace redrafter::cpu::kernels

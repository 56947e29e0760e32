// Dense float32 kernels of the drafter's forward and backward passes (torch.nn.Linear layout: W is [out, in]).
// Each output element is reduced in a fixed order for a given CPU (AVX2+FMA when present, chosen at run time,
// else portable C++), whatever the row ranges a caller splits the work into: results are deterministic.
#pragma once
#include <cmath>
#include <cstdint>

namespace redrafter::cpu::drafter {

// y[r, o] = sum_k x[r, k] * w[o, k] (+ b[o]) for r in [0, rows), o in [oBegin, oEnd).
// x: [rows, in] with row stride ldx; w: [out, in]; b: [out] or null; y: [rows, *] with row stride ldy.
void linearForward(const float* x, int64_t rows, int64_t in, int64_t ldx, const float* w, const float* b, float* y,
                   int64_t ldy, int64_t oBegin, int64_t oEnd);

// dx[r, k] (+)= sum_o dy[r, o] * w[o, k] for r in [rBegin, rEnd), k in [0, in).
// dy: [rows, out] stride lddy; w: [out, in]; dx: [rows, in] stride lddx. accumulate: add to dx instead of overwrite.
void linearBackwardInput(const float* dy, int64_t out, int64_t lddy, const float* w, int64_t in, float* dx,
                         int64_t lddx, int64_t rBegin, int64_t rEnd, bool accumulate);

// dw[o, k] += sum_r dy[r, o] * x[r, k]; db[o] += sum_r dy[r, o] (db may be null), for o in [oBegin, oEnd).
// dy: [rows, out] stride lddy; x: [rows, in] stride ldx; dw: [out, in].
void linearBackwardWeight(const float* dy, int64_t rows, int64_t lddy, const float* x, int64_t in, int64_t ldx,
                          float* dw, float* db, int64_t oBegin, int64_t oEnd);

// Whether the AVX2+FMA kernels are in use.
bool usingAvx2();

inline float silu(float a) { return a / (1.0f + std::exp(-a)); }
// d silu(a) / da
inline float siluGrad(float a) {
  float s = 1.0f / (1.0f + std::exp(-a));
  return s * (1.0f + a * (1.0f - s));
}

}  // namespace redrafter::cpu::drafter

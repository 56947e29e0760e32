// Attention of one query head over its key/value rows, softmax(q . k_i * scale) weighted sum of v_i: the inner loop
// of the CPU forward, one call per (token, head).
//
// The rows form one sequence i = 0 .. count-1: the `cached` rows at keys/values + i * stride (the KV cache's slots
// 0 .. cached-1), then the rows at slot newSlots[i - cached] (the new tokens this token may see). Every result
// depends only on that sequence, never on where it splits into cached and new rows or on what else the forward
// computes: a token verified in a tree (cached = the committed context, its ancestors new) gets the bits it gets
// decoded alone (cached = all but itself), which is what keeps ReDrafter's greedy output equal to plain decoding.
//
// Order per ISA: each score is dotRows (kernels/matmul.h). AVX2 and AVX-512: the weights w_i = e^(score_i - max)
// with one polynomial (the same bits on both, within 2 ulp of expf), summed in 8 (AVX2) or 16 (AVX-512) lanes by
// i mod lanes and the lanes reduced in a fixed tree; out = (sum_i w_i v_i) / sum w, the values accumulated in 4
// partial sums by i mod 4 for heads of 8 or 16 floats (whose single sum would wait on each FMA's latency), in one
// otherwise. Portable: std::exp, w_i / sum w, and every sum in sequence.
#pragma once
#include <cstdint>

#include "cpu/kernels/isa.h"

namespace redrafter::cpu::kernels {

struct AttentionRows {
  const float* keys = nullptr;    // row of slot s at keys + s * stride, [hd] floats
  const float* values = nullptr;  // row of slot s at values + s * stride
  int64_t stride = 0;
  int64_t cached = 0;                 // rows 0 .. cached-1 are slots 0 .. cached-1
  const int32_t* newSlots = nullptr;  // rows cached .. cached+newCount-1 are these slots
  int64_t newCount = 0;
  int64_t count() const { return cached + newCount; }
};

// out [hd] = sum_i softmax_i(q . k_i * scale) v_i over rows.count() >= 1 rows; scores: scratch of rows.count() floats.
void attendHead(Isa isa, const float* q, const AttentionRows& rows, int64_t hd, float scale, float* scores, float* out);

// x[i] = e^x[i] for i < n, with attendHead's exponential for `isa` (std::exp on the portable path): for tests.
void expInPlace(Isa isa, float* x, int64_t n);

}  // namespace redrafter::cpu::kernels

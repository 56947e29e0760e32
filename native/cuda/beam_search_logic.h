// Per-element logic of the fused beam-search step (kernels in beam_search.cu, tests in test/cpp).
// Candidates are compared by value, then by the lower flattened index (the CPU reference's tie rule).
#pragma once
#include <cstdint>
#include <cmath>
#include <cstring>

#include "hd.h"

namespace redrafter::cuda {

// A float mapped to an unsigned key whose unsigned order is the float order (-inf < ... < +inf).
// NaN sorts above +inf for positive payloads; inputs are finite logits.
RD_HD uint32_t orderedKey(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof(u));
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

RD_HD float keyToFloat(uint32_t k) {
  uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
  float x;
  memcpy(&x, &u, sizeof(x));
  return x;
}

// True when candidate (a, ia) ranks before (b, ib): larger value first, then lower index.
RD_HD bool ranksBefore(float a, int64_t ia, float b, int64_t ib) { return a > b || (a == b && ia < ib); }

// Apple's processed log-probability of a kept logit x (max-subtract, top-k warp, log-softmax):
// (x - rowMax) - logSumExpKept, where logSumExpKept = log(sum over the kept logits of exp(x - rowMax)).
// The masked logits (-50000 after the max-subtract) add exp(-50000) == 0 in float to that sum.
RD_HD float appleLogProb(float x, float rowMax, float logSumExpKept) { return (x - rowMax) - logSumExpKept; }

// The masked logits' log-probability: kAppleMaskedLogit - logSumExpKept.
RD_HD float appleMaskedLogProb(float maskedLogit, float logSumExpKept) { return maskedLogit - logSumExpKept; }

// The beams a step expands: all of them, or only beam 0 on the first step (all beams equal then).
RD_HD int expandedBeams(int width, bool firstStep) { return firstStep ? 1 : width; }

}  // namespace redrafter::cuda

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

// ---- the cluster kernel's decomposition (beam_search_cluster.cu; the CPU emulation in cuda_logic_test.cpp) ----
// One thread-block cluster per (sequence, expanded beam) row: its blocks each hold `items` logits per thread in
// registers, read once. The warps publish their largest lane maxima, the row's bound is the k-th largest published
// value, every logit at or above it is a candidate, and the first block ranks the candidates exactly.

constexpr int kClusterThreads = 256;   // per block
constexpr int kClusterWarps = kClusterThreads / 32;
constexpr int kClusterMaxBlocks = 8;   // the portable cluster size
constexpr int kClusterRowCap = 512;    // candidates the first block ranks pairwise; more: the exact fallback

// The key of a logit with -0 folded into +0, so that two keys are equal exactly when the floats compare equal
// (the CPU reference compares floats: -0 and +0 tie there).
RD_HD uint32_t canonicalKey(float x) { return orderedKey(x + 0.0f); }

// (key, index) order: larger key first, then lower index (ranksBefore on the floats of canonical keys).
RD_HD bool keyRanksBefore(uint32_t ka, int32_t ia, uint32_t kb, int32_t ib) { return ka > kb || (ka == kb && ia < ib); }

// Items per thread (16, 32 or 64, at least minItems) and blocks per row (<= kClusterMaxBlocks) for a vocabulary;
// blocks 0: too large for one cluster (the chunked kernel serves it).
struct ClusterPlan {
  int items = 0, blocks = 0;
};
RD_HD ClusterPlan clusterPlan(int vocab, int minItems = 16) {
  ClusterPlan plan;
  for (int items = minItems; items <= 64; items *= 2) {
    const int span = kClusterThreads * items, blocks = (vocab + span - 1) / span;
    if (blocks <= kClusterMaxBlocks) {
      plan.items = items;
      plan.blocks = blocks;
      return plan;
    }
  }
  return plan;
}

// The element offset (inside its block's span) of item i of thread t: 16-byte loads put 4 consecutive logits in
// items 4g..4g+3 (P = 4), scalar loads one (P = 1). Consecutive threads read consecutive addresses either way.
RD_HD int clusterItemOffset(int i, int t, int P) { return ((i / P) * kClusterThreads + t) * P + i % P; }

// How many of its largest lane maxima each warp publishes: about 2k values in all (so the k-th largest of them
// sits near the row's k-th largest logit), at most 32 per warp (one per lane) and 256 in all.
RD_HD int clusterPublishPerWarp(int kRow, int blocks) {
  const int warps = blocks * kClusterWarps, j = (2 * kRow + warps - 1) / warps;
  return j < 1 ? 1 : (j > 32 ? 32 : j);
}

// Whether the pairwise ranking of the candidates can run: the row's candidates (counts: each block's) fit the
// first block's slots; otherwise (heavy ties) every block computes its exact top k (radix select) and the lists
// are merged.
RD_HD bool clusterCandidatesFit(const unsigned* counts, int blocks) {
  unsigned total = 0;
  for (int c = 0; c < blocks; ++c) total += counts[c];
  return total <= unsigned(kClusterRowCap);
}

// log of Apple's softmax normaliser over the kept logits, shifted by the row max: sumTop is the sum of exp(x - max)
// over the row's top k (by value, then index); the logits equal to the k-th beyond those k are kept too, and
// add extraTies * exp(kth - max).
RD_HD float keptLogSumExp(float sumTop, unsigned extraTies, float kth, float rowMax) {
  return logf(sumTop + static_cast<float>(extraTies) * expf(kth - rowMax));
}

// Threads that share one candidate's pairwise ranking (1, 2, 4 or 8: a power of two dividing 32, so a group sits in
// one warp and sums its partial ranks with shuffles): the most that still give each of n candidates its own group
// in one pass of `threads` threads. Thread `sub` of a group compares against entries sub, sub + q, sub + 2q, ...
RD_HD int rankThreadsPerCandidate(int n, int threads) {
  int q = 1;
  while (q < 8 && n * (q * 2) <= threads) q *= 2;
  return q;
}

// The fallback's count of the row's logits equal to its k-th largest, from each block's exact top-k list: a block
// whose own k-th largest (blockKth) equals the row's counted all its equal logits (blockTie); any other block's
// k-th is below the row's, so all its logits equal to the row's k-th are in its list (listEqual of them).
RD_HD unsigned fallbackEqualCount(uint32_t blockKthKey, unsigned blockTie, unsigned listEqual, uint32_t rowKthKey) {
  return blockKthKey == rowKthKey ? blockTie : listEqual;
}

}  // namespace redrafter::cuda

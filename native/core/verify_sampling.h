// Verification with sampling: the exact recursive rejection scheme over the deduplicated tree, and
// Apple's rule (`acceptance: 'apple'`) for parity.
#pragma once
#include <cstdint>
#include <vector>

#include "core/build_tree.h"
#include "core/rng.h"
#include "core/verify_greedy.h"

namespace redrafter {

struct SamplingParams {
  float temperature = 1.0f;  // > 0 (0 means greedy and is handled by verifyGreedy)
  int topK = 0;              // 0: off
  float topP = 1.0f;         // 1: off
};

// The working memory of the functions below: the forms that take one keep nothing in it between calls but its
// capacity, so a caller that keeps one per request (as the engines do) allocates nothing once warm.
struct SamplingScratch {
  std::vector<double> probs, original, residual, uniforms;
  std::vector<float> sorted;   // top-k
  std::vector<int32_t> order;  // top-p
  std::vector<int32_t> childStart, children, fill;
  std::vector<std::vector<double>> perNode;  // Apple: p' per packed node, computed on first use
  std::vector<uint8_t> computed;
};

// logits [vocab] -> the LLM's sampling distribution p' [vocab] after temperature, top-k and top-p.
void samplingDistribution(const float* logits, int vocab, const SamplingParams& params, float* probs);
// Draw one token from probs [vocab] (need not be normalised).
int32_t sampleFrom(const float* probs, int vocab, Rng& rng);
// sampleFrom(samplingDistribution(logits)): the same token and the same draws from rng, through `scratch`.
int32_t sampleNext(const float* logits, int vocab, const SamplingParams& params, Rng& rng, SamplingScratch& scratch);

// Exact: walk the tree of row `row` of `trees` from the root; at a node try its children in packed order,
// accepting child c with probability p'(c) (p' from logits at that node), on rejection p'(c)=0 and renormalise;
// when all children are rejected (or at a leaf) sample the next token from p'. logits: [treeLength, vocab]
// (this row's packed logits); beams: [width, length] (this row's beams; not read by the exact rule, which
// uses the tree's tokens). Every beam of the row must start with the same token (one root).
Verification verifySamplingExact(const PackedTrees& trees, int row, const int32_t* beams, const float* logits,
                                 int vocab, const SamplingParams& params, Rng& rng);
// The same into `out` (nothing of its previous content is kept), with `scratch` for the working memory.
void verifySamplingExact(const PackedTrees& trees, int row, const int32_t* beams, const float* logits, int vocab,
                         const SamplingParams& params, Rng& rng, SamplingScratch& scratch, Verification& out);

// Apple's rule: per beam accept drafted token while rand < p(t)/q(t), q the drafter's probability;
// drafterLogProbs: [width, length-1, vocab]; logits: [treeLength, vocab]; beams: [width, length] (this row;
// its tokens are read through the tree, tokens[unpacker], which equals it).
// The next token is drawn from relu(p - q) at the first rejection (from p if that is all zero), from p
// at the leaf when the whole beam is accepted.
Verification verifySamplingApple(const PackedTrees& trees, int row, const int32_t* beams, const float* logits,
                                 const float* drafterLogProbs, int vocab, const SamplingParams& params, Rng& rng);
// The same into `out`, with `scratch`.
void verifySamplingApple(const PackedTrees& trees, int row, const int32_t* beams, const float* logits,
                         const float* drafterLogProbs, int vocab, const SamplingParams& params, Rng& rng,
                         SamplingScratch& scratch, Verification& out);

}  // namespace redrafter

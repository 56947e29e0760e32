// Exact greedy acceptance of a drafter, without running the generation loop. Greedy speculative decoding is
// lossless, so its output is the model's greedy continuation; given that continuation and the model's hidden state
// at every position, each decoding step is replayed: from the position p of the last accepted token, the drafter
// drafts W beams of length L from (h_p, x_{p+1}) (x_{p+1} being the LLM's own token), the step accepts the LLM token
// plus the longest drafted prefix that matches the continuation, and p advances by that count.
#pragma once
#include <cstdint>
#include <vector>

#include "cpu/drafter/drafter.h"
#include "cpu/drafter/drafter_trainer.h"

namespace redrafter::cpu {

struct AcceptanceStats {
  int64_t steps = 0;
  int64_t tokens = 0;                 // tokens emitted (LLM token included)
  std::vector<int64_t> histogram;     // [L+1]: steps that emitted k tokens
  double tokensPerStep() const { return steps ? double(tokens) / double(steps) : 0.0; }
};

// corpus: greedy texts (prompt + the model's greedy continuation) with hidden states; promptLengths[s]: the prompt
// part of text s (the first step drafts from position promptLength-1). Texts are replayed together, one batched
// draft per step.
AcceptanceStats measureGreedyAcceptance(const Drafter& drafter, const EmbeddingLookup& embed,
                                        const DistilledCorpus& corpus, const std::vector<int32_t>& promptLengths,
                                        const DraftOptions& options);

}  // namespace redrafter::cpu

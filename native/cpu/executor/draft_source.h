// What the CPU executor needs from a drafter: beam search for the sequences of a step. Implemented over the recurrent
// drafter (cpu/drafter) in drafter_source.cpp.
#pragma once
#include <cstdint>
#include <vector>

namespace redrafter::cpu {

struct Draft {
  std::vector<int32_t> beams;     // [width, length], every beam starting with the LLM's last token
  std::vector<float> logProbs;    // [width, length-1, vocab] the drafter's log-probabilities (Apple's rule)
};

class DraftSource {
 public:
  virtual ~DraftSource() = default;
  virtual int32_t maxBeamWidth() const = 0;
  virtual int32_t maxBeamLength() const = 0;
  // Beam search for `batch` sequences at once (all their beams in each matrix product): hidden [batch, dim] the LLM's
  // final hidden state at each sequence's last cached token, lastTokens [batch] the LLM's token after it. Writes
  // *out[b] for b < batch: beams [width, length] (and log-probabilities when wantLogProbs) into the Drafts' vectors,
  // which keep their capacity: a caller that reuses its Drafts allocates nothing once the largest shape has been seen.
  virtual void draftBatch(const float* hidden, const int32_t* lastTokens, int32_t batch, int32_t dim, int32_t width,
                          int32_t length, bool wantLogProbs, Draft* const* out) = 0;
};

}  // namespace redrafter::cpu

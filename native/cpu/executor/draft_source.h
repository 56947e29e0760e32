// What the CPU executor needs from a drafter: beam search for one sequence. Implemented over the recurrent
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
  // hidden: [dim] the LLM's final hidden state at the last cached token; lastToken: the LLM's token after it.
  // Returns beams [width, length] (and log-probabilities when wantLogProbs).
  virtual Draft draft(const float* hidden, int32_t lastToken, int32_t width, int32_t length, bool wantLogProbs) = 0;
  // Several sequences at once (one beam search, all their beams in each matrix product): hidden [batch, dim],
  // lastTokens [batch]; one Draft per sequence. The default drafts them one by one.
  virtual std::vector<Draft> draftBatch(const float* hidden, const int32_t* lastTokens, int32_t batch, int32_t dim,
                                        int32_t width, int32_t length, bool wantLogProbs) {
    std::vector<Draft> out;
    for (int32_t b = 0; b < batch; ++b)
      out.push_back(draft(hidden + size_t(b) * dim, lastTokens[b], width, length, wantLogProbs));
    return out;
  }
};

}  // namespace redrafter::cpu

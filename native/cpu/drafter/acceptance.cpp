#include "cpu/drafter/acceptance.h"

#include <algorithm>

#include "core/error.h"

namespace redrafter::cpu {

AcceptanceStats measureGreedyAcceptance(const Drafter& drafter, const EmbeddingLookup& embed,
                                        const DistilledCorpus& corpus, const std::vector<int32_t>& promptLengths,
                                        const DraftOptions& options) {
  RD_REQUIRE(int64_t(promptLengths.size()) == corpus.sequences(), "promptLengths", "must hold one entry per text");
  RD_REQUIRE(corpus.hiddenSize == drafter.config().hiddenSize, "corpus", "hidden size does not match the drafter's");
  const int32_t W = options.width, L = options.length, H = corpus.hiddenSize;
  AcceptanceStats stats;
  stats.histogram.assign(size_t(L + 1), 0);
  const int64_t S = corpus.sequences();
  // pos[s]: index (into corpus.tokens) of the last accepted token whose hidden state seeds the next draft.
  std::vector<int64_t> pos(static_cast<size_t>(S));
  for (int64_t s = 0; s < S; s++) {
    RD_REQUIRE(promptLengths[s] >= 1 && corpus.offsets[s] + promptLengths[s] <= corpus.offsets[s + 1], "promptLengths",
               "[" + std::to_string(s) + "] is outside its text");
    pos[s] = corpus.offsets[s] + promptLengths[s] - 1;
  }
  std::vector<float> hidden;
  std::vector<int32_t> last, beams;
  std::vector<int64_t> active;
  for (;;) {
    active.clear();
    // A step needs the LLM's token x_{p+1} inside the text.
    for (int64_t s = 0; s < S; s++)
      if (pos[s] + 1 < corpus.offsets[s + 1]) active.push_back(s);
    if (active.empty()) break;
    const int32_t B = int32_t(active.size());
    hidden.resize(size_t(B) * H);
    last.resize(size_t(B));
    beams.resize(size_t(B) * W * L);
    for (int32_t b = 0; b < B; b++) {
      const int64_t p = pos[active[b]];
      std::copy(corpus.hidden.begin() + p * H, corpus.hidden.begin() + (p + 1) * H, hidden.begin() + int64_t(b) * H);
      last[b] = corpus.tokens[p + 1];
    }
    drafter.draft(hidden.data(), last.data(), B, options, embed, beams.data(), nullptr);
    for (int32_t b = 0; b < B; b++) {
      const int64_t s = active[b], p = pos[s], end = corpus.offsets[s + 1];
      int32_t best = 0;
      for (int32_t w = 0; w < W; w++) {
        const int32_t* beam = beams.data() + (size_t(b) * W + w) * L;
        int32_t m = 0;
        while (m + 1 < L && p + 2 + m < end && beam[m + 1] == corpus.tokens[p + 2 + m]) m++;
        best = std::max(best, m);
      }
      const int32_t accepted = 1 + best;
      stats.steps++;
      stats.tokens += accepted;
      stats.histogram[size_t(accepted)]++;
      pos[s] = p + accepted;
    }
  }
  return stats;
}

}  // namespace redrafter::cpu

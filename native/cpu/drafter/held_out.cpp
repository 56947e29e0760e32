#include "cpu/drafter/held_out.h"

#include <algorithm>
#include <set>

namespace redrafter::cpu {

HeldOutTexts heldOutGreedyTexts(Transformer& model, const HeldOutOptions& o, const SelfDistillation* training) {
  if (o.prompts.empty() && o.sequences <= 0) {
    HeldOutTexts none;
    none.corpus.hiddenSize = model.config().dim;
    return none;
  }
  SelfDistillationOptions g;
  g.length = o.length;
  g.greedyFraction = 1.0;
  g.bos = o.bos;
  g.stopTokens = o.stopTokens;
  g.seed = o.seed;
  g.parallel = o.parallel;
  if (!o.prompts.empty()) {
    g.prompts = o.prompts;
    g.sequences = int32_t(o.prompts.size());
    g.minPrefix = g.maxPrefix = 0;
  } else {
    g.sequences = o.sequences;
    g.minPrefix = g.maxPrefix = o.prefix;
    g.temperature = o.temperature;
  }
  SelfDistillation texts = generateSelfDistillation(model, g);

  // The starts of every training text, to drop sampled prompts training has seen.
  std::set<std::vector<int32_t>> seen;
  if (training && o.prompts.empty()) {
    const auto& c = training->corpus;
    const int64_t n = 1 + int64_t(o.prefix);
    for (int64_t s = 0; s < c.sequences(); s++)
      if (c.offsets[s + 1] - c.offsets[s] >= n)
        seen.emplace(c.tokens.begin() + c.offsets[s], c.tokens.begin() + c.offsets[s] + n);
  }
  HeldOutTexts out;
  out.corpus.hiddenSize = texts.corpus.hiddenSize;
  const int64_t H = texts.corpus.hiddenSize;
  for (int64_t s = 0; s < texts.corpus.sequences(); s++) {
    const int64_t b = texts.corpus.offsets[s], e = texts.corpus.offsets[s + 1];
    const int32_t promptLength = std::min<int32_t>(texts.greedyFrom[s], int32_t(e - b));
    if (!seen.empty() &&
        seen.count(std::vector<int32_t>(texts.corpus.tokens.begin() + b, texts.corpus.tokens.begin() + b + promptLength))) {
      out.dropped++;
      continue;
    }
    out.corpus.tokens.insert(out.corpus.tokens.end(), texts.corpus.tokens.begin() + b, texts.corpus.tokens.begin() + e);
    out.corpus.hidden.insert(out.corpus.hidden.end(), texts.corpus.hidden.begin() + b * H,
                             texts.corpus.hidden.begin() + e * H);
    out.corpus.offsets.push_back(int64_t(out.corpus.tokens.size()));
    out.promptLengths.push_back(promptLength);
  }
  return out;
}

}  // namespace redrafter::cpu

// Self-distillation data (ReDrafter paper section 3.5): the target model writes its own training texts, and we keep
// its final hidden state at every position. Each sequence starts from a prompt (BOS alone, or one of the given
// token prompts), then the model samples a short random prefix (many seeds), then continues either greedily or by
// sampling, up to `length` tokens or a stop token. Deterministic: sequence s draws only from Rng(seed, s).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "cpu/drafter/drafter_trainer.h"
#include "cpu/engine/transformer.h"

namespace redrafter::cpu {

struct SelfDistillationOptions {
  int32_t sequences = 256;        // texts to write
  int32_t length = 128;           // tokens per text, prompt included (clamped to the model's context)
  double greedyFraction = 0.75;   // share of texts continued greedily after their sampled prefix
  double temperature = 1.0;       // of the sampled tokens
  int32_t minPrefix = 0;          // sampled tokens after the prompt: uniform in [minPrefix, maxPrefix]
  int32_t maxPrefix = 12;
  std::vector<std::vector<int32_t>> prompts;  // token prompts, used round-robin; empty: {bos}
  int32_t bos = 1;
  std::vector<int32_t> stopTokens;  // a text ends after one of these
  uint64_t seed = 0;
  int32_t parallel = 16;  // texts decoded together in one batched forward
};

// progress(tokensDone, tokensPlanned) is called from the calling thread after every decoding step; returning false
// stops early (the texts written so far are returned, whole).
using DistillProgress = std::function<bool(int64_t done, int64_t planned)>;

// The corpus, and for each text the number of leading tokens that came from its prompt (promptLengths[s]).
struct SelfDistillation {
  DistilledCorpus corpus;
  std::vector<int32_t> promptLengths;
  std::vector<int32_t> greedyFrom;  // [s]: index from which text s is the model's greedy continuation (its length
                                    // when it was sampled throughout)
  bool stopped = false;
};

SelfDistillation generateSelfDistillation(Transformer& model, const SelfDistillationOptions& options,
                                          const DistillProgress& progress = nullptr);

}  // namespace redrafter::cpu

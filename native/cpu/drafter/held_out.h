// Held-out evaluation texts for a drafter: the model's greedy continuations of prompts that training did not use.
// With token prompts (e.g. encoded text prompts), one greedy text per prompt. Without, each prompt is BOS plus
// `prefix` tokens the model samples (at `temperature`) from a seed of its own, and any prompt that starts one of the training texts
// is dropped, so the evaluation never replays a training prompt.
#pragma once
#include <cstdint>
#include <vector>

#include "cpu/drafter/self_distillation.h"

namespace redrafter::cpu {

struct HeldOutOptions {
  std::vector<std::vector<int32_t>> prompts;  // token prompts; empty: sampled prompts (BOS + prefix)
  int32_t sequences = 32;                     // sampled prompts only
  int32_t prefix = 6;                         // sampled prompts only
  double temperature = 1.5;                   // sampled prompts only: hotter than training's sampling, so that
                                              // fewer prompts coincide with the starts of training texts
  int32_t length = 160;                       // tokens per text, prompt included
  uint64_t seed = 0x0e7a1;
  int32_t bos = 1;
  std::vector<int32_t> stopTokens;
  int32_t parallel = 16;
};

struct HeldOutTexts {
  DistilledCorpus corpus;
  std::vector<int32_t> promptLengths;  // the greedy continuation of text s starts at promptLengths[s]
  int64_t dropped = 0;                 // sampled prompts dropped because a training text starts with them
};

HeldOutTexts heldOutGreedyTexts(Transformer& model, const HeldOutOptions& options,
                                const SelfDistillation* training = nullptr);

}  // namespace redrafter::cpu

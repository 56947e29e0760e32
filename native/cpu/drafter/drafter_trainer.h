// Training a drafter on texts the LLM produced (self-distillation, ReDrafter paper section 3.5): AdamW with linear
// warmup then cosine decay, minibatches of positions drawn from a seeded per-epoch shuffle. Deterministic for a
// given seed whatever the thread count.
#pragma once
#include <cstdint>
#include <vector>

#include "core/rng.h"
#include "cpu/drafter/drafter_loss.h"
#include "model/drafter_weights.h"

namespace redrafter::cpu {

// the model room's names this engine uses (native/model)
using model::DrafterConfig;
using model::DrafterTensorSpec;
using model::DrafterWeights;

// The training texts: sequence s is tokens[offsets[s] .. offsets[s+1]) with the LLM's final hidden state of every
// position in hidden (same indexing, [tokens, hiddenSize]).
struct DistilledCorpus {
  int32_t hiddenSize = 0;
  std::vector<int32_t> tokens;
  std::vector<int64_t> offsets{0};
  std::vector<float> hidden;
  int64_t sequences() const { return int64_t(offsets.size()) - 1; }
};

// PyTorch's default torch.nn.Linear initialisation (uniform in +-1/sqrt(in) for weights and biases), seeded.
DrafterWeights initDrafterWeights(const DrafterConfig& config, uint64_t seed);

struct TrainerOptions {
  int32_t unroll = 4;          // K = beam length - 1 drafted tokens learned per position
  int32_t batchSize = 256;     // positions per step
  int64_t steps = 1000;        // optimiser steps in total (the schedule's length)
  double learningRate = 3e-3;  // peak
  double warmupFraction = 0.03;
  double minLearningRateFraction = 0.05;  // the cosine decays to this fraction of the peak
  double weightDecay = 0.01;   // decoupled, matrices only
  double distill = 0;          // weight of the LLM's own next-token distribution in the target (drafter_loss.h)
  double beta1 = 0.9, beta2 = 0.98, epsilon = 1e-8;
  uint64_t seed = 0;
  int32_t threads = 1;
};

struct TrainerStep {
  int64_t step = 0;  // 1-based, after the update
  int64_t epoch = 0;
  double learningRate = 0;
  DrafterLoss loss;  // of the batch, before the update
};

class DrafterTrainer {
 public:
  // embeddings: the LLM's table [vocab, hiddenSize] (copied). The corpus is shared, not copied. classifier: the
  // LLM's output projection [vocab, hiddenSize] for distillation; empty: the same as the embeddings (tied).
  DrafterTrainer(DrafterWeights initial, std::vector<float> embeddings, const DistilledCorpus* corpus,
                 const TrainerOptions& options, std::vector<float> classifier = {});

  // One optimiser step on the next minibatch.
  TrainerStep step();

  int64_t stepsDone() const { return step_; }
  int64_t positions() const { return int64_t(positions_.size()); }
  const DrafterWeights& weights() const { return weights_; }

  // Hard-label loss and accuracy (no update, no distillation) over up to `maxPositions` positions of a corpus.
  DrafterLoss evaluate(const DistilledCorpus& corpus, int64_t maxPositions) const;

  double learningRateAt(int64_t step) const;  // step in [0, steps)

 private:
  // hidden [count, H], tokens [count, K+1], and with withTeacher and distillation teacher [count, K, H] (h_{t+1+i}).
  void fillBatch(const DistilledCorpus& corpus, const std::vector<int64_t>& positions, size_t begin, size_t count,
                 std::vector<float>& hidden, std::vector<int32_t>& tokens, std::vector<float>& teacher,
                 bool withTeacher) const;
  DrafterBatch makeBatch(const std::vector<float>& hidden, const std::vector<int32_t>& tokens,
                         const std::vector<float>& teacher, size_t rows) const;

  DrafterWeights weights_;
  std::vector<float> embeddings_;
  std::vector<float> classifier_;  // [vocab, hiddenSize]; empty: embeddings_
  const DistilledCorpus* corpus_;
  TrainerOptions options_;
  std::vector<int64_t> positions_;  // trainable token indices t (t+2 inside its sequence), shuffled per epoch
  std::vector<uint8_t> decays_;     // [params] 1 where weight decay applies
  std::vector<float> grad_, m_, v_;
  size_t cursor_ = 0;
  int64_t step_ = 0, epoch_ = 0;
  Rng rng_;
};

}  // namespace redrafter::cpu

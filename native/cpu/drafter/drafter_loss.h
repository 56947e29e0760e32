// The drafter's training objective (apple/ml-recurrent-drafter train/loss.drafter_loss with the unrolled forward of
// train/model.ReDrafter.forward) with a hand-written backward pass.
//
// One example is a position t of a text the LLM produced: its final hidden state h_t and the K+1 tokens that follow,
// x_{t+1} .. x_{t+K+1}. Unrolled step i (0-based, i < K) feeds the true token x_{t+1+i} into the recurrent state
// (teacher forcing) and predicts x_{t+2+i} from the head on concat[h_t, s_{i+1}]:
//   s_0 = 0,  s_{i+1} = SiLU(rnn_w · E(x_{t+1+i}) + rnn_u · s_i + b_u)   (s_{i+1} = s_i + E(x_{t+1+i}) without rnn)
// loss = sum over steps i of the mean cross-entropy of the raw head logits over the examples whose label exists
// (label < 0 marks "past the end of the text": ignored, like Apple's IGNORE_TOKEN_ID).
//
// Distillation (distill = a > 0): the LLM's own next-token distribution q_i = softmax(C · h_{t+1+i}) at the
// position whose token is the label (C: its classifier, h: its final hidden state there) joins the hard label, and
// each step minimises the cross-entropy against (1-a)·onehot(x_{t+2+i}) + a·q_i. The soft target carries the LLM's
// whole ranking of the next token, not only its choice, which helps a drafter much smaller than its LLM generalise
// (Hinton et al., "Distilling the knowledge in a neural network"). `loss` stays the hard-label cross-entropy, so
// runs with and without distillation compare; `objective` is what the gradient descends.
#pragma once
#include <cstdint>
#include <vector>

#include "model/drafter_weights.h"

namespace redrafter::cpu {

// the model room's names this engine uses (native/model)
using model::DrafterConfig;
using model::DrafterWeights;

struct DrafterBatch {
  const float* hidden = nullptr;    // [rows, hiddenSize]: h_t per example
  const int32_t* tokens = nullptr;  // [rows, K+1]: x_{t+1} .. x_{t+K+1}; entries < 0 are absent (ignored)
  int64_t rows = 0;
  int32_t unroll = 0;  // K = beam length - 1
  // Distillation only (distill > 0): the LLM's final hidden state at x_{t+1+i}'s position, h_{t+1+i}, per example and
  // step ([rows, K, hiddenSize]; rows of absent labels are ignored), and its classifier [vocab, hiddenSize].
  const float* teacherHidden = nullptr;
  const float* classifier = nullptr;
  double distill = 0;  // a in [0, 1]: weight of the LLM's distribution against the hard label
};

struct DrafterLoss {
  double loss = 0;                 // sum over steps of the mean (hard-label) cross-entropy
  double objective = 0;            // sum over steps of the mean cross-entropy against the (distilled) target
  std::vector<double> stepLoss;    // [K] mean cross-entropy per step
  std::vector<int64_t> correct;    // [K] examples whose top-1 prediction equals the label
  std::vector<int64_t> counted;    // [K] examples with a label at this step
};

// Loss (and, when grad is non-null, its gradient with respect to weights.data, overwritten, same layout) of a batch.
// embeddings: the LLM's embedding table [vocab, hiddenSize] in float32. The batch is cut into a fixed number of
// chunks computed on up to `threads` threads and summed in chunk order: the result does not depend on `threads`.
DrafterLoss drafterLossAndGradient(const DrafterWeights& weights, const float* embeddings, const DrafterBatch& batch,
                                   float* grad, int32_t threads);

}  // namespace redrafter::cpu

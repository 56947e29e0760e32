// The drafter's beam search step (apple/ml-recurrent-drafter beam_search_candidates) and Apple's logit
// processing. Ties are broken towards the lower flattened index (beam*vocab + token).
#pragma once
#include <cstdint>

namespace redrafter {

constexpr int kAppleTopK = 50;
constexpr float kAppleMaskedLogit = -50000.0f;

// In place on one row of `vocab` logits: subtract the max, keep the top `topK` (others set to
// kAppleMaskedLogit), then log-softmax. Result: log-probabilities [vocab].
void appleProcessLogits(float* logits, int vocab, int topK = kAppleTopK);

// One step. scores: [batch, width] running beam log-probabilities; logProbs: [batch, width, vocab] next-token
// log-probabilities per beam. Chooses the top `width` (beam, token) pairs over width*vocab by
// scores[b][w] + logProbs[b][w][t]; on the first step only beam 0 is expanded (all beams are the same).
// Outputs are [batch, width]: new scores, the parent beam, the chosen token; sorted by descending score.
void beamSearchStep(const float* scores, const float* logProbs, int batch, int width, int vocab, bool firstStep,
                    float* outScores, int32_t* outParent, int32_t* outToken);

}  // namespace redrafter

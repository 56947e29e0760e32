// The drafter's hand-written backward pass against central finite differences of its loss, for every parameter of
// small drafters in each layout (input projection or not, recurrent or running-sum state), plus the determinism
// of the loss and gradient across thread counts.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "core/rng.h"
#include "cpu/drafter/drafter_loss.h"
#include "cpu/drafter/drafter_trainer.h"

using namespace redrafter;
using namespace redrafter::cpu;

namespace {

struct Problem {
  DrafterWeights weights;
  std::vector<float> embeddings, hidden;
  std::vector<int32_t> tokens;
  DrafterBatch batch() const { return {hidden.data(), tokens.data(), int64_t(hidden.size() / weights.config.hiddenSize), 3}; }
};

Problem makeProblem(const DrafterConfig& config, uint64_t seed) {
  Problem p;
  p.weights = initDrafterWeights(config, seed);
  Rng rng(seed + 1);
  // Larger-than-default weights so the nonlinearities are exercised away from zero.
  for (float& v : p.weights.data) v *= 2.0f;
  const int64_t rows = 11, K = 3;
  p.embeddings.resize(size_t(config.vocabSize) * config.hiddenSize);
  for (float& v : p.embeddings) v = float(rng.uniform() * 2 - 1);
  p.hidden.resize(size_t(rows) * config.hiddenSize);
  for (float& v : p.hidden) v = float(rng.uniform() * 2 - 1);
  p.tokens.resize(size_t(rows) * (K + 1));
  for (int64_t r = 0; r < rows; r++)
    for (int64_t j = 0; j <= K; j++) {
      // Some examples run past the end of their text: the tail is absent (-1).
      const bool absent = (r % 4 == 3) && j >= 2;
      p.tokens[r * (K + 1) + j] = absent ? -1 : int32_t(rng.nextU64() % config.vocabSize);
    }
  return p;
}

void checkGradient(const DrafterConfig& config) {
  Problem p = makeProblem(config, 7);
  std::vector<float> grad(p.weights.data.size());
  DrafterLoss base = drafterLossAndGradient(p.weights, p.embeddings.data(), p.batch(), grad.data(), 1);
  CHECK(base.loss > 0);
  const float eps = 2e-3f;
  int checked = 0, bad = 0;
  double worst = 0;
  for (size_t i = 0; i < p.weights.data.size(); i++) {
    const float saved = p.weights.data[i];
    p.weights.data[i] = saved + eps;
    const double up = drafterLossAndGradient(p.weights, p.embeddings.data(), p.batch(), nullptr, 1).loss;
    p.weights.data[i] = saved - eps;
    const double down = drafterLossAndGradient(p.weights, p.embeddings.data(), p.batch(), nullptr, 1).loss;
    p.weights.data[i] = saved;
    const double numeric = (up - down) / (2.0 * eps);
    const double err = std::fabs(numeric - grad[i]);
    worst = std::max(worst, err / (1e-3 + std::fabs(numeric)));
    if (err > 2e-3 + 3e-2 * std::fabs(numeric)) bad++;
    checked++;
  }
  INFO("parameters " << checked << ", worst relative error " << worst);
  CHECK(checked == int(p.weights.data.size()));
  CHECK(bad == 0);
}

}  // namespace

TEST_CASE("drafter gradient matches finite differences: rnn, input projection, 2 residual blocks") {
  checkGradient({/*vocab*/ 9, /*hidden*/ 4, /*exit*/ 6, /*blocks*/ 2, /*rnn*/ true});
}

TEST_CASE("drafter gradient matches finite differences: rnn, no input projection (exit_dim = 2*hidden)") {
  checkGradient({11, 5, 10, 1, true});
}

TEST_CASE("drafter gradient matches finite differences: running-sum state, no residual blocks") {
  checkGradient({7, 4, 12, 0, false});
}

TEST_CASE("drafter gradient is non-trivial and exercises every tensor") {
  Problem p = makeProblem({9, 4, 6, 2, true}, 3);
  std::vector<float> grad(p.weights.data.size());
  drafterLossAndGradient(p.weights, p.embeddings.data(), p.batch(), grad.data(), 1);
  for (const auto& spec : p.weights.specs) {
    double norm = 0;
    for (int64_t i = 0; i < spec.elements(); i++) norm += std::fabs(grad[spec.offset + i]);
    INFO(spec.name);
    CHECK(norm > 1e-6);
  }
}

TEST_CASE("drafter loss and gradient are identical for 1, 2 and 5 threads") {
  Problem p = makeProblem({13, 8, 24, 2, true}, 11);
  std::vector<float> g1(p.weights.data.size()), g2(g1.size()), g5(g1.size());
  DrafterLoss l1 = drafterLossAndGradient(p.weights, p.embeddings.data(), p.batch(), g1.data(), 1);
  DrafterLoss l2 = drafterLossAndGradient(p.weights, p.embeddings.data(), p.batch(), g2.data(), 2);
  DrafterLoss l5 = drafterLossAndGradient(p.weights, p.embeddings.data(), p.batch(), g5.data(), 5);
  CHECK(l1.loss == l2.loss);
  CHECK(l1.loss == l5.loss);
  CHECK(g1 == g2);
  CHECK(g1 == g5);
}

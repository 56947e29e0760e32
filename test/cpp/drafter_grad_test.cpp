// The drafter's hand-written backward pass against central finite differences of its loss, for every parameter of
// small drafters in each layout (input projection or not, recurrent or running-sum state), plus the determinism
// of the loss and gradient across thread counts; with distillation, against finite differences of the objective.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
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
  std::vector<float> teacher, classifier;  // [rows, K, hidden], [vocab, hidden]
  double distill = 0;
  DrafterBatch batch() const {
    DrafterBatch b{hidden.data(), tokens.data(), int64_t(hidden.size() / weights.config.hiddenSize), 3};
    if (distill > 0) {
      b.teacherHidden = teacher.data();
      b.classifier = classifier.data();
      b.distill = distill;
    }
    return b;
  }
};

Problem makeProblem(const DrafterConfig& config, uint64_t seed, double distill = 0) {
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
  if (distill > 0) {
    p.distill = distill;
    p.teacher.resize(size_t(rows * K) * config.hiddenSize);
    for (float& v : p.teacher) v = float(rng.uniform() * 4 - 2);  // peaked enough to differ from uniform
    p.classifier.resize(size_t(config.vocabSize) * config.hiddenSize);
    for (float& v : p.classifier) v = float(rng.uniform() * 2 - 1);
  }
  return p;
}

void checkGradient(const DrafterConfig& config, double distill = 0) {
  Problem p = makeProblem(config, 7, distill);
  std::vector<float> grad(p.weights.data.size());
  DrafterLoss base = drafterLossAndGradient(p.weights, p.embeddings.data(), p.batch(), grad.data(), 1);
  CHECK(base.loss > 0);
  if (distill == 0) CHECK(base.objective == base.loss);
  if (distill > 0) CHECK(base.objective != base.loss);
  const float eps = 2e-3f;
  int checked = 0, bad = 0;
  double worst = 0;
  for (size_t i = 0; i < p.weights.data.size(); i++) {
    const float saved = p.weights.data[i];
    p.weights.data[i] = saved + eps;
    const double up = drafterLossAndGradient(p.weights, p.embeddings.data(), p.batch(), nullptr, 1).objective;
    p.weights.data[i] = saved - eps;
    const double down = drafterLossAndGradient(p.weights, p.embeddings.data(), p.batch(), nullptr, 1).objective;
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

TEST_CASE("distillation: the gradient matches finite differences of the mixed objective (a = 0.5 and a = 1)") {
  checkGradient({9, 4, 6, 2, true}, 0.5);
  checkGradient({11, 5, 10, 1, true}, 1.0);
}

TEST_CASE("distillation leaves the reported hard-label loss and accuracy alone and is deterministic across threads") {
  Problem hard = makeProblem({13, 8, 24, 2, true}, 5);
  Problem soft = makeProblem({13, 8, 24, 2, true}, 5, 0.7);
  std::vector<float> g1(soft.weights.data.size()), g3(g1.size()), gh(g1.size());
  const DrafterLoss h = drafterLossAndGradient(hard.weights, hard.embeddings.data(), hard.batch(), gh.data(), 1);
  const DrafterLoss s1 = drafterLossAndGradient(soft.weights, soft.embeddings.data(), soft.batch(), g1.data(), 1);
  const DrafterLoss s3 = drafterLossAndGradient(soft.weights, soft.embeddings.data(), soft.batch(), g3.data(), 3);
  CHECK(s1.loss == doctest::Approx(h.loss).epsilon(1e-12));
  CHECK(s1.correct == h.correct);
  CHECK(g1 != gh);
  CHECK(s1.objective == s3.objective);
  CHECK(g1 == g3);
  soft.distill = 1.5;
  CHECK_THROWS_WITH_AS(drafterLossAndGradient(soft.weights, soft.embeddings.data(), soft.batch(), nullptr, 1),
                       doctest::Contains("distill"), Error);
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

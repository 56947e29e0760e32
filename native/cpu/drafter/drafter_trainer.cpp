#include "cpu/drafter/drafter_trainer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace redrafter::cpu {

DrafterWeights initDrafterWeights(const DrafterConfig& config, uint64_t seed) {
  DrafterWeights w = DrafterWeights::zeros(config, "drafter");
  Rng rng(seed);
  for (const auto& spec : w.specs) {
    // The fan-in of the layer the tensor belongs to: a weight's cols; a bias shares its weight's cols.
    int64_t fanIn = spec.cols;
    if (spec.rank == 1) {
      const std::string weightName = spec.name.substr(0, spec.name.size() - 4) + "weight";
      const DrafterTensorSpec* ws = w.find(weightName);
      fanIn = ws ? ws->cols : spec.cols;
    }
    const double bound = 1.0 / std::sqrt(double(fanIn));
    float* p = w.data.data() + spec.offset;
    for (int64_t i = 0; i < spec.elements(); i++) p[i] = float((2.0 * rng.uniform() - 1.0) * bound);
  }
  return w;
}

DrafterTrainer::DrafterTrainer(DrafterWeights initial, std::vector<float> embeddings, const DistilledCorpus* corpus,
                               const TrainerOptions& options, std::vector<float> classifier)
    : weights_(std::move(initial)),
      embeddings_(std::move(embeddings)),
      classifier_(std::move(classifier)),
      corpus_(corpus),
      options_(options),
      rng_(options.seed ^ 0x5eedda7a5eedda7aULL) {
  const DrafterConfig& c = weights_.config;
  RD_REQUIRE(options_.unroll >= 1 && options_.unroll <= 64, "unroll", "must be in [1, 64]");
  RD_REQUIRE(options_.batchSize >= 1, "batchSize", "must be >= 1");
  RD_REQUIRE(options_.distill >= 0 && options_.distill <= 1, "distill", "must be in [0, 1]");
  RD_REQUIRE(classifier_.empty() || classifier_.size() == size_t(c.vocabSize) * c.hiddenSize, "classifier",
             "must hold vocab_size * hidden_size values");
  RD_REQUIRE(options_.steps >= 1, "steps", "must be >= 1");
  RD_REQUIRE(int64_t(embeddings_.size()) == int64_t(c.vocabSize) * c.hiddenSize, "embeddings",
             "must hold vocab_size * hidden_size values");
  RD_REQUIRE(corpus_ && corpus_->hiddenSize == c.hiddenSize, "corpus", "hidden size does not match the drafter's");
  for (int64_t s = 0; s < corpus_->sequences(); s++)
    for (int64_t t = corpus_->offsets[s]; t + 2 < corpus_->offsets[s + 1]; t++) positions_.push_back(t);
  if (positions_.empty()) fail(ErrorCode::InvalidArgument, "corpus has no sequence of 3 or more tokens to learn from");
  decays_.assign(weights_.data.size(), 0);
  for (const auto& spec : weights_.specs)
    if (spec.rank == 2) std::fill(decays_.begin() + spec.offset, decays_.begin() + spec.offset + spec.elements(), 1);
  grad_.assign(weights_.data.size(), 0.0f);
  m_.assign(weights_.data.size(), 0.0f);
  v_.assign(weights_.data.size(), 0.0f);
  cursor_ = positions_.size();  // shuffle before the first batch
}

double DrafterTrainer::learningRateAt(int64_t step) const {
  const double peak = options_.learningRate;
  const int64_t warmup = std::max<int64_t>(1, int64_t(std::ceil(options_.warmupFraction * double(options_.steps))));
  if (step < warmup) return peak * double(step + 1) / double(warmup);
  const double progress = double(step - warmup) / double(std::max<int64_t>(1, options_.steps - warmup));
  const double floor = options_.minLearningRateFraction;
  const double cosine = 0.5 * (1.0 + std::cos(3.14159265358979323846 * std::min(1.0, progress)));
  return peak * (floor + (1.0 - floor) * cosine);
}

void DrafterTrainer::fillBatch(const DistilledCorpus& corpus, const std::vector<int64_t>& positions, size_t begin,
                               size_t count, std::vector<float>& hidden, std::vector<int32_t>& tokens,
                               std::vector<float>& teacher, bool withTeacher) const {
  const int32_t K = options_.unroll;
  const int64_t H = corpus.hiddenSize;
  hidden.resize(count * H);
  tokens.assign(count * (K + 1), -1);
  withTeacher = withTeacher && options_.distill > 0;
  if (withTeacher) teacher.assign(count * K * H, 0.0f);
  for (size_t r = 0; r < count; r++) {
    const int64_t t = positions[begin + r];
    // The end of t's sequence (offsets are sorted).
    const auto it = std::upper_bound(corpus.offsets.begin(), corpus.offsets.end(), t);
    const int64_t end = *it;
    std::memcpy(hidden.data() + r * H, corpus.hidden.data() + t * H, sizeof(float) * H);
    for (int32_t j = 0; j <= K && t + 1 + j < end; j++) tokens[r * (K + 1) + j] = corpus.tokens[t + 1 + j];
    // The LLM's state at x_{t+1+i}, whose next token is step i's label (present while t+2+i < end).
    if (withTeacher)
      for (int32_t i = 0; i < K && t + 2 + i < end; i++)
        std::memcpy(teacher.data() + (r * K + i) * H, corpus.hidden.data() + (t + 1 + i) * H, sizeof(float) * H);
  }
}

DrafterBatch DrafterTrainer::makeBatch(const std::vector<float>& hidden, const std::vector<int32_t>& tokens,
                                       const std::vector<float>& teacher, size_t rows) const {
  DrafterBatch batch{hidden.data(), tokens.data(), int64_t(rows), options_.unroll};
  if (options_.distill > 0) {
    batch.teacherHidden = teacher.data();
    batch.classifier = classifier_.empty() ? embeddings_.data() : classifier_.data();
    batch.distill = options_.distill;
  }
  return batch;
}

TrainerStep DrafterTrainer::step() {
  const size_t B = size_t(std::min<int64_t>(options_.batchSize, int64_t(positions_.size())));
  if (cursor_ + B > positions_.size()) {
    // A new epoch: a seeded Fisher-Yates shuffle of every position.
    for (size_t i = positions_.size() - 1; i > 0; i--) std::swap(positions_[i], positions_[rng_.nextU64() % (i + 1)]);
    cursor_ = 0;
    epoch_++;
  }
  std::vector<float> hidden, teacher;
  std::vector<int32_t> tokens;
  fillBatch(*corpus_, positions_, cursor_, B, hidden, tokens, teacher, true);
  cursor_ += B;
  const DrafterBatch batch = makeBatch(hidden, tokens, teacher, B);
  TrainerStep out;
  out.loss = drafterLossAndGradient(weights_, embeddings_.data(), batch, grad_.data(), options_.threads);

  // AdamW (decoupled weight decay on matrices), bias-corrected.
  const double lr = learningRateAt(step_);
  step_++;
  const double b1 = options_.beta1, b2 = options_.beta2;
  const double c1 = 1.0 - std::pow(b1, double(step_)), c2 = 1.0 - std::pow(b2, double(step_));
  const float decay = float(lr * options_.weightDecay);
  float* p = weights_.data.data();
  for (size_t i = 0; i < weights_.data.size(); i++) {
    const float g = grad_[i];
    m_[i] = float(b1 * m_[i] + (1.0 - b1) * g);
    v_[i] = float(b2 * v_[i] + (1.0 - b2) * double(g) * g);
    const double update = (m_[i] / c1) / (std::sqrt(v_[i] / c2) + options_.epsilon);
    if (decays_[i]) p[i] -= decay * p[i];
    p[i] -= float(lr * update);
  }
  out.step = step_;
  out.epoch = epoch_;
  out.learningRate = lr;
  return out;
}

DrafterLoss DrafterTrainer::evaluate(const DistilledCorpus& corpus, int64_t maxPositions) const {
  RD_REQUIRE(corpus.hiddenSize == weights_.config.hiddenSize, "corpus", "hidden size does not match the drafter's");
  std::vector<int64_t> positions;
  for (int64_t s = 0; s < corpus.sequences() && int64_t(positions.size()) < maxPositions; s++)
    for (int64_t t = corpus.offsets[s]; t + 2 < corpus.offsets[s + 1] && int64_t(positions.size()) < maxPositions; t++)
      positions.push_back(t);
  const int32_t K = options_.unroll;
  DrafterLoss total;
  total.stepLoss.assign(K, 0.0);
  total.correct.assign(K, 0);
  total.counted.assign(K, 0);
  std::vector<double> sums(K, 0.0);
  std::vector<float> hidden, teacher;
  std::vector<int32_t> tokens;
  for (size_t b = 0; b < positions.size(); b += size_t(options_.batchSize)) {
    const size_t n = std::min(positions.size() - b, size_t(options_.batchSize));
    fillBatch(corpus, positions, b, n, hidden, tokens, teacher, false);
    const DrafterBatch batch{hidden.data(), tokens.data(), int64_t(n), K};  // hard labels only
    DrafterLoss l = drafterLossAndGradient(weights_, embeddings_.data(), batch, nullptr, options_.threads);
    for (int32_t i = 0; i < K; i++) {
      sums[i] += l.stepLoss[i] * double(l.counted[i]);
      total.correct[i] += l.correct[i];
      total.counted[i] += l.counted[i];
    }
  }
  for (int32_t i = 0; i < K; i++) {
    total.stepLoss[i] = total.counted[i] ? sums[i] / double(total.counted[i]) : 0.0;
    total.loss += total.stepLoss[i];
  }
  total.objective = total.loss;
  return total;
}

}  // namespace redrafter::cpu

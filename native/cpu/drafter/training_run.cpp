#include "cpu/drafter/training_run.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "cpu/drafter/drafter.h"

namespace redrafter::cpu {

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

DrafterTrainingProgress phaseProgress(const char* phase, double done, double total) {
  DrafterTrainingProgress p;
  p.phase = phase;
  p.done = done;
  p.total = total;
  return p;
}

}  // namespace

DrafterTrainingRun runDrafterTraining(const std::shared_ptr<Transformer>& model, DrafterTrainingOptions o,
                                      const std::function<void(DrafterTrainingProgress)>& report,
                                      const std::atomic<bool>& stop) {
  DrafterTrainingRun r;
  r.plannedSteps = o.trainer.steps;
  const ModelConfig& mc = model->config();
  checkDrafterMatchesModel(o.config, "drafter", mc, model->weights().path);

  // 1. The model writes its own training texts.
  auto t0 = Clock::now();
  auto lastReport = Clock::now() - std::chrono::seconds(1);
  r.data = generateSelfDistillation(*model, o.data, [&](int64_t done, int64_t planned) {
    if (secondsSince(lastReport) > 0.1 || done >= planned) {
      lastReport = Clock::now();
      report(phaseProgress("generate", double(done), double(planned)));
    }
    return !stop.load();
  });
  r.generateSeconds = secondsSince(t0);
  if (stop) {
    r.stopped = true;
    return r;  // nothing trained: no checkpoint
  }

  // 2. Train on it.
  const int64_t V = mc.vocabSize, H = mc.dim;
  std::vector<float> table(size_t(V * H));
  for (int32_t t = 0; t < V; t++) embeddingRow(model->weights(), t, table.data() + size_t(t) * H);
  int64_t positions = 0;
  for (int64_t s = 0; s < r.data.corpus.sequences(); s++)
    positions += std::max<int64_t>(0, r.data.corpus.offsets[s + 1] - r.data.corpus.offsets[s] - 2);
  o.trainer.steps = o.maxSteps > 0 ? o.maxSteps
                                   : std::max<int64_t>(1, int64_t(std::ceil(o.epochs * double(positions) /
                                                                            double(o.trainer.batchSize))));
  r.plannedSteps = o.trainer.steps;
  t0 = Clock::now();
  std::vector<float> classifier;  // [V, H] for distillation; empty: tied to the embeddings
  if (o.trainer.distill > 0 && !mc.tiedClassifier) {
    classifier.resize(size_t(V * H));
    for (int32_t t = 0; t < V; t++) model::classifierRow(model->weights(), t, classifier.data() + size_t(t) * H);
  }
  r.trainer = std::make_unique<DrafterTrainer>(initDrafterWeights(o.config, o.trainer.seed), std::move(table),
                                               &r.data.corpus, o.trainer, std::move(classifier));
  for (int64_t i = 0; i < o.trainer.steps; i++) {
    if (stop) {
      r.stopped = true;
      break;
    }
    TrainerStep s = r.trainer->step();
    r.last = s.loss;
    if (secondsSince(lastReport) > 0.1 || s.step == o.trainer.steps) {
      lastReport = Clock::now();
      DrafterTrainingProgress p = phaseProgress("train", double(s.step), double(o.trainer.steps));
      p.loss = s.loss.loss;
      p.learningRate = s.learningRate;
      p.epoch = double(s.epoch);
      for (size_t k = 0; k < s.loss.correct.size(); k++)
        p.accuracy.push_back(s.loss.counted[k] ? double(s.loss.correct[k]) / double(s.loss.counted[k]) : 0.0);
      report(std::move(p));
    }
  }
  r.trainSeconds = secondsSince(t0);
  if (r.stopped) return r;  // a usable checkpoint, without the (slower) evaluation

  // 3. Held-out evaluation: loss, per-step accuracy and the exact greedy acceptance.
  report(phaseProgress("evaluate", 0, 1));
  t0 = Clock::now();
  r.heldOut = heldOutGreedyTexts(*model, o.heldOut, &r.data);
  if (r.heldOut.corpus.sequences() > 0) {
    r.heldOutLoss = r.trainer->evaluate(r.heldOut.corpus, 1 << 20);
    Drafter drafter(r.trainer->weights(), "drafter");
    auto weights = std::shared_ptr<const ModelWeights>(model, &model->weights());
    r.acceptance = measureGreedyAcceptance(drafter, modelEmbeddings(weights), r.heldOut.corpus,
                                           r.heldOut.promptLengths, {o.evalWidth, o.evalLength});
  }
  r.evalSeconds = secondsSince(t0);
  report(phaseProgress("evaluate", 1, 1));
  return r;
}

}  // namespace redrafter::cpu

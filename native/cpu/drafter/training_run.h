// One drafter training run for a loaded model, as `redrafter train-drafter` (lib/drafter/training.ts) asks for it:
//   1. generate: the model writes its own training texts from the prompts (self_distillation.h);
//   2. train: a fresh drafter (drafter_trainer.h) for `steps` optimiser steps (from epochs over the corpus's
//      positions unless maxSteps is set);
//   3. evaluate: held-out greedy texts of the model (held_out.h): the drafter's loss and per-step accuracy on them,
//      and its exact greedy acceptance at (evalWidth, evalLength) (acceptance.h).
// Runs on the caller's thread (the addon's worker); `stop` is polled between steps.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cpu/drafter/acceptance.h"
#include "cpu/drafter/drafter_trainer.h"
#include "cpu/drafter/held_out.h"
#include "cpu/drafter/self_distillation.h"
#include "cpu/engine/transformer.h"

namespace redrafter::cpu {

struct DrafterTrainingOptions {
  DrafterConfig config;
  SelfDistillationOptions data;  // prompts as token ids (BOS first), bos
  TrainerOptions trainer;        // trainer.steps is set by the run (from epochs or maxSteps)
  double epochs = 1;
  int64_t maxSteps = 0;  // 0 = from epochs
  int32_t evalWidth = 8, evalLength = 5;
  HeldOutOptions heldOut;  // prompts as token ids, bos
};

struct DrafterTrainingProgress {
  std::string phase;  // "generate", "train", "evaluate"
  double done = 0, total = 0;
  double loss = 0, learningRate = 0, epoch = 0;  // "train" only
  std::vector<double> accuracy;                  // "train" only: per drafted step, on the last batch
};

struct DrafterTrainingRun {
  bool stopped = false;        // stopped before the end (no held-out evaluation; no drafter when stopped generating)
  int64_t plannedSteps = 0;
  SelfDistillation data;       // the generated corpus
  std::unique_ptr<DrafterTrainer> trainer;  // null when stopped before training
  DrafterLoss last;            // the last batch's loss
  HeldOutTexts heldOut;
  DrafterLoss heldOutLoss;     // when heldOut.corpus has sequences and the run was not stopped
  AcceptanceStats acceptance;  // likewise
  double generateSeconds = 0, trainSeconds = 0, evalSeconds = 0;
};

// `progress` is called on this thread at most every 0.1 s within a phase, and at each phase's end. Throws
// InvalidModel when the drafter config does not match the model.
DrafterTrainingRun runDrafterTraining(const std::shared_ptr<Transformer>& model, DrafterTrainingOptions options,
                                      const std::function<void(DrafterTrainingProgress)>& progress,
                                      const std::atomic<bool>& stop);

}  // namespace redrafter::cpu

// The recurrent drafter: Apple's format, beam-search drafting, self-distillation training.
export {
  type DrafterConfig,
  type DrafterModelInfo,
  type DrafterTensorShape,
  drafterTensorShapes,
  readDrafterConfig,
} from './config.js';
export {
  Drafter,
  loadDrafter,
  saveDrafter,
  type DrafterDType,
  type DrafterWeightType,
  type DraftOptions,
  type LoadDrafterOptions,
  type SaveDrafterOptions,
} from './drafter.js';
export {
  startDrafterTraining,
  measureAcceptance,
  defaultTrainingPrompts,
  defaultEvaluationPrompts,
  type TrainDrafterOptions,
  type TrainingProgress,
  type TrainingResult,
  type AcceptanceRow,
  type AcceptanceOptions,
  type DrafterTrainingRun,
} from './training.js';

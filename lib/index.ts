// redrafter: ReDrafter speculative decoding for Node.js.
export { ErrorCodes, type ErrorCode, type RedrafterError, isRedrafterError } from './errors.js';
export { native, type NativeModule } from './native.js';
export { stories260KDrafterDir } from './bundled.js';
export {
  Model,
  Context,
  type ModelConfig,
  type LoadModelOptions,
  type ForwardOptions,
  type ForwardResult,
  type BatchItem,
} from './model.js';
export { loadEngine, Engine, type LoadEngineOptions, type EngineInfo, type Backend } from './engine.js';
export {
  Session,
  GenerationStream,
  type GenerateChunk,
  type GenerationResult,
  type GenerationError,
  type PartialGeneration,
  type FinishReason,
  type Prompt,
} from './session.js';
export type { GenerateOptions, SessionOptions } from './generation-options.js';
export type { GenerationStats, BeamShapeSteps } from './stats.js';
export {
  Drafter,
  loadDrafter,
  saveDrafter,
  startDrafterTraining,
  measureAcceptance,
  type DrafterConfig,
  type DrafterDType,
  type DrafterWeightType,
  type DraftOptions,
  type LoadDrafterOptions,
  type TrainDrafterOptions,
  type TrainingProgress,
  type TrainingResult,
} from './drafter/index.js';
export {
  ops,
  type Acceptance,
  type BeamShape,
  type BeamStep,
  type CommitPlan,
  type PackedTrees,
  type SamplingOptions,
  type Verification,
} from './ops.js';
export {
  Tokenizer,
  TokenDecoder,
  type TokenizerInfo,
  type TokenEntry,
  type EncodeOptions,
} from './tokenizer.js';
export {
  inspectModelFile,
  convertModelFile,
  ggufTypes,
  type ModelFileSummary,
  type ConvertOptions,
  type ConvertResult,
  type GgufType,
} from './model-file.js';
export {
  convertCheckpoint,
  type ConvertOptions as ConvertCheckpointOptions,
  type ConvertResult as ConvertCheckpointResult,
} from './trtllm/convert-checkpoint.js';
export { HfTokenizer, type ChatMessage } from './trtllm/hf-tokenizer.js';
export { HfTextCodec, HfTokenDecoder } from './trtllm/text-codec.js';
export type { TextCodec } from './text-stream.js';
export type { TrtLlmEngineOptions } from './trtllm/engine.js';

// redrafter: ReDrafter speculative decoding for Node.js.
export { ErrorCodes, type ErrorCode, type RedrafterError, isRedrafterError } from './errors.js';
export { native, type NativeModule } from './native.js';
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
  Model,
  Context,
  type ModelConfig,
  type LoadModelOptions,
  type ForwardOptions,
  type ForwardResult,
  type BatchItem,
} from './model.js';
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

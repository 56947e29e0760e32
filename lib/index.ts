// redrafter: ReDrafter speculative decoding for Node.js.
export { ErrorCodes, type ErrorCode, type RedrafterError, isRedrafterError } from './errors.js';
export { native, type NativeModule } from './native.js';
export {
  Model,
  Context,
  type ModelConfig,
  type LoadModelOptions,
  type ForwardOptions,
  type ForwardResult,
} from './model.js';
export { convertCheckpoint, type ConvertOptions, type ConvertResult } from './trtllm/convert-checkpoint.js';
export { HfTokenizer, type ChatMessage } from './trtllm/hf-tokenizer.js';
export type { TrtLlmEngineOptions } from './trtllm/engine.js';

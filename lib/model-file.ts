// Model files from TypeScript: inspect a model or tokenizer file, convert a model to GGUF.
import { invalidArgument } from './errors.js';
import { native, type NativeConvertResult, type NativeFileSummary } from './native.js';

export type ModelFileSummary = NativeFileSummary;
export type ConvertResult = NativeConvertResult;
/** Matrix types `convert` writes: one type for every matrix, or `q4_k_m`, llama.cpp's mix of q4_k and q6_k. */
export type GgufType = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_0' | 'q4_k' | 'q5_k' | 'q6_k' | 'q4_k_m';
export const ggufTypes: readonly GgufType[] = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_k', 'q5_k', 'q6_k', 'q4_k_m'];

export interface ConvertOptions {
  /** The model: a llama2.c checkpoint (.bin v0/v1/v2) or a GGUF. */
  model: string;
  /** Its tokenizer (tokenizer.bin or GGUF); optional when the model is a GGUF with a vocabulary. */
  tokenizer?: string;
  /** The GGUF to write (written to a temporary file beside it, then renamed). */
  out: string;
  /** Matrix type (default f32); norms stay f32. A matrix whose columns are not whole blocks of the type is written as
   * q8_0 (when 32 divides them) or f16 and listed in the result's `fallbacks`. */
  type?: GgufType;
  /** A Jinja chat template to store as tokenizer.chat_template (default: the tokenizer's own, when it is a GGUF with one). */
  chatTemplate?: string;
  /** Called after each tensor is written (tensors done, tensors in all). */
  onProgress?: (done: number, total: number) => void;
}

/** What a model (llama2.c, GGUF) or tokenizer (tokenizer.bin, GGUF) file holds. Runs off the event loop. */
export async function inspectModelFile(path: string): Promise<ModelFileSummary> {
  if (typeof path !== 'string' || path.length === 0) throw invalidArgument('path', 'must be a non-empty string');
  return native().inspectModel(path);
}

/** Writes a GGUF v3 `llama` file that llama.cpp loads. Runs off the event loop. */
export async function convertModelFile(options: ConvertOptions): Promise<ConvertResult> {
  if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'must be an object');
  for (const field of ['model', 'out'] as const)
    if (typeof options[field] !== 'string' || options[field].length === 0)
      throw invalidArgument(field, 'must be a non-empty string');
  if (options.tokenizer !== undefined && (typeof options.tokenizer !== 'string' || options.tokenizer.length === 0))
    throw invalidArgument('tokenizer', 'must be a non-empty string');
  const type = options.type ?? 'f32';
  if (!ggufTypes.includes(type)) throw invalidArgument('type', `must be one of ${ggufTypes.join(', ')}`, 'range');
  if (options.chatTemplate !== undefined && typeof options.chatTemplate !== 'string')
    throw invalidArgument('chatTemplate', 'must be a string');
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function')
    throw invalidArgument('onProgress', 'must be a function');
  return native().convertModel({
    model: options.model,
    tokenizer: options.tokenizer,
    out: options.out,
    type,
    chatTemplate: options.chatTemplate,
    onProgress: options.onProgress,
  });
}

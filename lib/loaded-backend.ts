// What every backend's loader hands the Engine, and the checks they share.
import { codedError, ErrorCodes } from './errors.js';
import type { NativeEngine } from './native.js';
import type { TextCodec } from './text-stream.js';

/** What a backend hands the Engine. */
export interface LoadedBackend {
  nativeEngine: NativeEngine;
  codec: TextCodec;
  hasDrafter: boolean;
  /** Sessions must use the engine's beamWidth/beamLength (TensorRT-LLM fixes them at build time). */
  fixedBeamShape: boolean;
  /** The backend refuses prompt + maxTokens beyond its context (sessions lower maxTokens to fit). */
  maxTokensWithinContext: boolean;
}

/**
 * ERR_REDRAFTER_INVALID_MODEL naming both sizes (after disposing the engine) unless the tokenizer's vocabulary is the
 * model's.
 */
export async function checkTokenizerFits(codec: TextCodec, tokenizer: string, nativeEngine: NativeEngine, model: string): Promise<void> {
  const modelVocab = nativeEngine.modelInfo().vocabSize;  // read before dispose: a disposed engine answers DISPOSED
  if (codec.vocabSize === modelVocab) return;
  await nativeEngine.dispose();
  throw codedError(ErrorCodes.INVALID_MODEL,
    `tokenizer ${tokenizer} has ${codec.vocabSize} tokens but model ${model} has a vocabulary of ${modelVocab}`);
}

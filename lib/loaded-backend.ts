// What every backend's loader hands the Engine, and the checks they share.
import { codedError, ErrorCodes, invalidArgument, type RedrafterError } from './errors.js';
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

/** A path option: undefined, or a non-empty string (TypeError naming the field otherwise). */
export function pathOption(value: unknown, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) throw invalidArgument(field, 'must be a non-empty path string');
  return value;
}

/** An integer option in [min, max] (TypeError / RangeError naming the field otherwise). */
export function intOption(value: unknown, field: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw invalidArgument(field, 'must be an integer');
  if (value < min || value > max) throw invalidArgument(field, `must be in [${min}, ${max}], got ${value}`, 'range');
  return value;
}

/** ERR_REDRAFTER_IO: the file an option names does not exist. */
export function fileMissing(path: string, field: string): RedrafterError {
  return codedError(ErrorCodes.IO, `${field} ${path}: no such file or directory`);
}

// loadEngine's CPU backend: the model file, its tokenizer and (optionally) a drafter on the embedded CPU executor.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Drafter, loadDrafter } from './drafter/drafter.js';
import { ErrorCodes, invalidArgument, type RedrafterError } from './errors.js';
import { inspectModelFile } from './model-file.js';
import type { NativeEngine, NativeExecutor, NativeResponse } from './native.js';
import type { TextCodec } from './text-stream.js';
import { Tokenizer } from './tokenizer.js';

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

function stringOption(value: unknown, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) throw invalidArgument(field, 'must be a non-empty path string');
  return value;
}

function intOption(value: unknown, field: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw invalidArgument(field, 'must be an integer');
  if (value < min || value > max) throw invalidArgument(field, `must be in [${min}, ${max}], got ${value}`, 'range');
  return value;
}

function fileMissing(path: string, field: string): RedrafterError {
  const e = new Error(`${field} ${path}: no such file or directory`) as RedrafterError;
  e.code = ErrorCodes.IO;
  return e;
}

/** The model file itself as its tokenizer when it carries one (GGUF); a llama2.c checkpoint has none inside. */
async function ownTokenizer(model: string): Promise<string> {
  const summary = await inspectModelFile(model);
  if (summary.kind !== 'model' || summary.tokenizer) return model;
  throw invalidArgument('tokenizer', `is required for ${model}: a ${summary.format === 'llama2c' ? 'llama2.c' : summary.format} checkpoint has no tokenizer inside; ` +
    'give its tokenizer.bin (tok512.bin for the stories260K models); GGUF models carry their own');
}

export async function loadCpuBackend(
  o: Record<string, unknown>,
  executor: NativeExecutor,
  onResponses: (responses: NativeResponse[]) => void,
): Promise<LoadedBackend> {
  const model = stringOption(o.model, 'model');
  if (model === undefined) throw invalidArgument('model', 'is required for the cpu backend');
  const givenTokenizer = stringOption(o.tokenizer, 'tokenizer');
  const drafter =
    o.drafter === null || o.drafter instanceof Drafter ? (o.drafter ?? undefined) : stringOption(o.drafter, 'drafter');
  const threads = intOption(o.threads, 'threads', 0, 1024);
  const contextLength = intOption(o.contextLength, 'contextLength', 1, 1 << 24);
  const maxActiveRequests = intOption(o.maxActiveRequests, 'maxActiveRequests', 1, 1024);
  const maxKvCacheBytes = intOption(o.maxKvCacheBytes, 'maxKvCacheBytes', 1, Number.MAX_SAFE_INTEGER);
  if (!existsSync(model)) throw fileMissing(model, 'model');
  const tokenizer = givenTokenizer ?? (await ownTokenizer(model));
  if (!existsSync(tokenizer)) throw fileMissing(tokenizer, 'tokenizer');
  if (typeof drafter === 'string' && !existsSync(drafter)) throw fileMissing(drafter, 'drafter');

  const codec: TextCodec = await Tokenizer.load(tokenizer);
  if (o.drafterHalfWeights !== undefined && typeof o.drafterHalfWeights !== 'boolean')
    throw invalidArgument('drafterHalfWeights', 'must be a boolean');
  // the drafter's large products are split over the engine's threads
  const loadedDrafter =
    typeof drafter === 'string'
      ? await loadDrafter(drafter, { threads: threads || availableParallelism(), halfWeights: o.drafterHalfWeights === true })
      : drafter;
  const nativeEngine = await executor.loadEngine(
    { backend: 'cpu', model, drafter: loadedDrafter?.nativeDrafter, threads, contextLength, maxKvCacheBytes, maxActiveRequests },
    onResponses,
  );
  const modelVocab = nativeEngine.modelInfo().vocabSize;
  if (codec.vocabSize !== modelVocab) {
    await nativeEngine.dispose();
    const e = new Error(
      `tokenizer ${tokenizer} has ${codec.vocabSize} tokens but model ${model} has a vocabulary of ${modelVocab}`,
    ) as RedrafterError;
    e.code = ErrorCodes.INVALID_MODEL;
    throw e;
  }
  return { nativeEngine, codec, hasDrafter: drafter !== undefined, fixedBeamShape: false, maxTokensWithinContext: false };
}

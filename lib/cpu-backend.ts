// loadEngine's CPU backend: the model file, its tokenizer and (optionally) a drafter on the embedded CPU executor.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { Drafter, loadDrafter, weightTypeOf, type DrafterWeightType } from './drafter/drafter.js';
import { codedError, ErrorCodes, invalidArgument, type RedrafterError } from './errors.js';
import { inspectModelFile } from './model-file.js';
import type { NativeEngine, NativeExecutor, NativeResponse } from './native.js';
import type { TextCodec } from './text-stream.js';
import { Tokenizer } from './tokenizer.js';
import { checkTokenizerFits, fileMissing, intOption, pathOption, type LoadedBackend } from './loaded-backend.js';

/** The model file itself as its tokenizer when it carries one (GGUF); a llama2.c checkpoint has none inside. */
async function ownTokenizer(model: string): Promise<string> {
  const summary = await inspectModelFile(model);
  // a tokenizer the file names but redrafter does not read is refused by Tokenizer.load, naming it
  if (summary.kind !== 'model' || summary.tokenizer || summary.tokenizerModel) return model;
  throw invalidArgument('tokenizer', `is required for ${model}: ` + (summary.format === 'llama2c'
    ? 'a llama2.c checkpoint has no tokenizer inside; give its tokenizer.bin (tok512.bin for the stories260K models); ' +
      'GGUF models carry their own'
    : `this ${summary.format} file carries no tokenizer (no tokenizer.ggml.* metadata); give its tokenizer`));
}

/**
 * Drafters whose weights take at least this many bytes (float32) draft with 8-bit copies ('q8_0') by default:
 * drafting a step reads the drafter's matrices once per drafted token, so on a large drafter the bytes read are most
 * of the drafting time. The Q8_0 copies are applied as llama.cpp applies Q8_0 (integer dot products against 8-bit
 * activations), and drafted within about 1% as many accepted tokens per step as float32 and float16 in every
 * measurement (stories260K, the dim-1536 and TinyLlama-shape expansions); on the dim-1536 benchmark, drafting went from
 * 7.3% of a step with float16 to 4.2-5.2% (bench/RESULTS.md, "fourth round" and "sixth round"). Small drafters stay
 * float32, where a copy saves nothing. 'q4_0' is opt-in: it
 * halves the bytes again but drafts 5-9% fewer accepted tokens per step, which costs more than it saves there.
 */
const QUANTIZED_DRAFTER_BYTES = 16 << 20;

/** LoadEngineOptions.drafterWeightType's default for the drafter directory `dir`. */
export function defaultDrafterWeightType(dir: string): DrafterWeightType {
  try {
    return statSync(join(dir, 'model.safetensors')).size >= QUANTIZED_DRAFTER_BYTES ? 'q8_0' : 'f32';
  } catch {
    return 'f32';  // loadDrafter reports the missing file
  }
}

/** The drafter weight type loadEngine's options ask for (drafterWeightType, or the deprecated drafterHalfWeights). */
export function drafterWeightTypeOf(o: Record<string, unknown>): DrafterWeightType | undefined {
  return weightTypeOf(o.drafterWeightType, o.drafterHalfWeights, 'drafterWeightType', 'drafterHalfWeights');
}

export async function loadCpuBackend(
  o: Record<string, unknown>,
  executor: NativeExecutor,
  onResponses: (responses: NativeResponse[]) => void,
): Promise<LoadedBackend> {
  const model = pathOption(o.model, 'model');
  if (model === undefined) throw invalidArgument('model', 'is required for the cpu backend');
  const givenTokenizer = pathOption(o.tokenizer, 'tokenizer');
  const drafter =
    o.drafter === null || o.drafter instanceof Drafter ? (o.drafter ?? undefined) : pathOption(o.drafter, 'drafter');
  const threads = intOption(o.threads, 'threads', 0, 1024);
  const contextLength = intOption(o.contextLength, 'contextLength', 1, 1 << 24);
  const maxActiveRequests = intOption(o.maxActiveRequests, 'maxActiveRequests', 1, 1024);
  const maxKvCacheBytes = intOption(o.maxKvCacheBytes, 'maxKvCacheBytes', 1, Number.MAX_SAFE_INTEGER);
  if (!existsSync(model)) throw fileMissing(model, 'model');
  const tokenizer = givenTokenizer ?? (await ownTokenizer(model));
  if (!existsSync(tokenizer)) throw fileMissing(tokenizer, 'tokenizer');
  if (typeof drafter === 'string' && !existsSync(drafter)) throw fileMissing(drafter, 'drafter');

  const codec: TextCodec = await Tokenizer.load(tokenizer);
  const weightType = drafterWeightTypeOf(o);
  // the drafter's large products are split over the engine's threads
  const loadedDrafter =
    typeof drafter === 'string'
      ? await loadDrafter(drafter, {
        threads: threads || availableParallelism(),
        weightType: weightType ?? defaultDrafterWeightType(drafter),
      })
      : drafter;
  const nativeEngine = await executor.loadEngine(
    { backend: 'cpu', model, drafter: loadedDrafter?.nativeDrafter, threads, contextLength, maxKvCacheBytes, maxActiveRequests },
    onResponses,
  );
  await checkTokenizerFits(codec, tokenizer, nativeEngine, model);
  return { nativeEngine, codec, hasDrafter: drafter !== undefined, fixedBeamShape: false, maxTokensWithinContext: false };
}

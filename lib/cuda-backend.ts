// loadEngine's cuda backend: the model file, its tokenizer and (optionally) a drafter directory on the project's CUDA
// engine (native/cuda/engine), which lives in its own module (redrafter_cuda.node) loaded only here.
import { existsSync } from 'node:fs';
import { checkTokenizerFits, fileMissing, intOption, pathOption, type LoadedBackend } from './loaded-backend.js';
import { codedError, ErrorCodes, invalidArgument, type RedrafterError } from './errors.js';
import { loadBackendModule, type NativeResponse } from './native.js';
import type { TextCodec } from './text-stream.js';
import { Tokenizer } from './tokenizer.js';

/** Checks the options and files first, so their errors come before "module not built" and device errors. */
export async function loadCudaBackend(
  o: Record<string, unknown>,
  onResponses: (responses: NativeResponse[]) => void,
): Promise<LoadedBackend> {
  const model = pathOption(o.model, 'model');
  if (model === undefined) throw invalidArgument('model', 'is required for the cuda backend');
  const tokenizer = pathOption(o.tokenizer, 'tokenizer') ?? model;
  if (o.drafter !== undefined && o.drafter !== null && typeof o.drafter !== 'string')
    throw invalidArgument('drafter', 'must be the drafter directory for the cuda backend (a loaded Drafter is the cpu engine\'s)');
  const drafter = o.drafter === null ? undefined : pathOption(o.drafter, 'drafter');
  const options = {
    device: intOption(o.device, 'device', 0, 1 << 16),
    contextLength: intOption(o.contextLength, 'contextLength', 1, 1 << 24),
    maxActiveRequests: intOption(o.maxActiveRequests, 'maxActiveRequests', 1, 256),
    maxBeamWidth: intOption(o.maxBeamWidth, 'maxBeamWidth', 1, 50),
    maxBeamLength: intOption(o.maxBeamLength, 'maxBeamLength', 2, 64),
  };
  if (o.cudaGraphs !== undefined && typeof o.cudaGraphs !== 'boolean') throw invalidArgument('cudaGraphs', 'must be a boolean');
  if (!existsSync(model)) throw fileMissing(model, 'model');
  if (!existsSync(tokenizer)) throw fileMissing(tokenizer, 'tokenizer');
  if (drafter !== undefined && !existsSync(drafter)) throw fileMissing(drafter, 'drafter');

  const executor = loadBackendModule('cuda').executor;
  const codec: TextCodec = await Tokenizer.load(tokenizer);
  const nativeEngine = await executor.loadEngine(
    { backend: 'cuda', model, drafter, ...options, cudaGraphs: o.cudaGraphs as boolean | undefined },
    onResponses,
  );
  await checkTokenizerFits(codec, tokenizer, nativeEngine, model);
  return { nativeEngine, codec, hasDrafter: drafter !== undefined, fixedBeamShape: false, maxTokensWithinContext: false };
}

// loadEngine: a model (and its drafter) behind an executor of some backend; sessions generate on it.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Drafter, loadDrafter } from './drafter/drafter.js';
import { ErrorCodes, invalidArgument, type RedrafterError } from './errors.js';
import { resolveSessionOptions, type SessionOptions } from './generation-options.js';
import { native, type NativeEngine, type NativeModelInfo, type NativeResponse } from './native.js';
import { Session, type SessionHost } from './session.js';
import { Tokenizer } from './tokenizer.js';
import type { TextCodec } from './text-stream.js';

export type Backend = 'cpu' | 'tensorrt-llm' | 'auto';

export interface LoadEngineOptions {
  /** cpu: the model file (llama2.c .bin, GGUF). */
  model?: string;
  /** The tokenizer (llama2.c tokenizer.bin; default: the model file's own, for GGUF). */
  tokenizer?: string;
  /** The drafter: its directory (config.json + model.safetensors) or a loaded Drafter; null or absent = plain
   *  autoregressive decoding. */
  drafter?: string | Drafter | null;
  /** 'auto' (default) picks TensorRT-LLM where it is built and usable, else the CPU engine. */
  backend?: Backend;
  /** cpu: threads including the caller (0 or absent: all hardware threads). */
  threads?: number;
  /**
   * cpu: draft with float16 copies of the drafter's matrices (half the bytes read per drafting step, which is what
   * drafting costs with a large drafter); drafts may differ slightly, the output stays exact. Default false.
   */
  drafterHalfWeights?: boolean;
  /** KV capacity per session in tokens (default: the model's context length). */
  contextLength?: number;
  /** Requests stepped together (their tree verifications share one forward). Default 8. */
  maxActiveRequests?: number;
  /** tensorrt-llm: the engine directory. */
  engineDir?: string;
}

export interface EngineInfo extends NativeModelInfo {
  readonly hasDrafter: boolean;
}

interface Tracked {
  onResponse: (r: NativeResponse) => void;
  done: Promise<unknown>;
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

export class Engine implements SessionHost {
  readonly codec: TextCodec;
  readonly info: EngineInfo;
  readonly #native: NativeEngine;
  readonly #requests = new Map<number, Tracked>();
  #disposed = false;
  #disposing: Promise<void> | undefined;

  /** @internal use loadEngine */
  constructor(nativeEngine: NativeEngine, codec: TextCodec, hasDrafter: boolean, requests: Map<number, Tracked>) {
    this.#native = nativeEngine;
    this.codec = codec;
    this.#requests = requests;
    this.info = { ...nativeEngine.modelInfo(), hasDrafter };
  }

  get contextLength(): number {
    return this.info.contextLength;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** @internal */
  assertOpen(): void {
    if (this.#disposed) {
      const e = new Error('the engine was disposed') as RedrafterError;
      e.code = ErrorCodes.DISPOSED;
      throw e;
    }
  }

  /** @internal */
  track(requestId: number, onResponse: (r: NativeResponse) => void, done: Promise<unknown>): void {
    this.#requests.set(requestId, { onResponse, done });
  }

  /** A new conversation: its own KV cache; beamWidth 0 = plain autoregressive decoding. */
  createSession(options?: SessionOptions): Session {
    this.assertOpen();
    const { beamWidth, beamLength, adaptiveDraft } = resolveSessionOptions(options, {
      hasDrafter: this.info.hasDrafter,
      maxBeamWidth: this.info.maxBeamWidth,
      maxBeamLength: this.info.maxBeamLength,
    });
    return new Session(this, this.#native.createSession(), beamWidth, beamLength, adaptiveDraft);
  }

  /** Ends every generation in flight (they finish with 'abort') and frees the engine. Idempotent. */
  dispose(): Promise<void> {
    if (!this.#disposing) {
      this.#disposed = true;
      this.#disposing = (async () => {
        await this.#native.dispose();
        await Promise.all([...this.#requests.values()].map((t) => t.done));
      })();
    }
    return this.#disposing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

/** Loads a model (and drafter) on a backend. Invalid options throw TypeError/RangeError naming the field. */
export async function loadEngine(options: LoadEngineOptions): Promise<Engine> {
  if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'must be an object');
  const backendOption = options.backend ?? 'auto';
  if (!['cpu', 'tensorrt-llm', 'auto'].includes(backendOption))
    throw invalidArgument('backend', `must be 'cpu', 'tensorrt-llm' or 'auto', got ${JSON.stringify(backendOption)}`, 'range');
  const addon = native();
  const backend = backendOption === 'auto' ? 'cpu' : backendOption;
  if (backend !== 'cpu') {
    const e = new Error(`backend '${backend}' is not available in this build`) as RedrafterError;
    e.code = ErrorCodes.UNSUPPORTED;
    throw e;
  }
  const model = stringOption(options.model, 'model');
  if (model === undefined) throw invalidArgument('model', 'is required for the cpu backend');
  const tokenizer = stringOption(options.tokenizer, 'tokenizer') ?? model;
  const drafter =
    options.drafter === null || options.drafter instanceof Drafter ? options.drafter ?? undefined
      : stringOption(options.drafter, 'drafter');
  const threads = intOption(options.threads, 'threads', 0, 1024);
  const contextLength = intOption(options.contextLength, 'contextLength', 1, 1 << 24);
  const maxActiveRequests = intOption(options.maxActiveRequests, 'maxActiveRequests', 1, 1024);
  if (!existsSync(model)) throw fileMissing(model, 'model');
  if (!existsSync(tokenizer)) throw fileMissing(tokenizer, 'tokenizer');
  if (typeof drafter === 'string' && !existsSync(drafter)) throw fileMissing(drafter, 'drafter');

  const requests = new Map<number, Tracked>();
  const onResponses = (responses: NativeResponse[]) => {
    for (const r of responses) {
      const t = requests.get(r.requestId);
      if (!t) continue;
      if (r.isFinal) requests.delete(r.requestId);
      try {
        t.onResponse(r);
      } catch {
        // a consumer's handler never throws; nothing may escape into the native callback
      }
    }
  };
  const codec: TextCodec = await Tokenizer.load(tokenizer);
  const loadedDrafter = typeof drafter === 'string' ? await loadDrafter(drafter, {
          threads: threads || availableParallelism(),
          halfWeights: options.drafterHalfWeights === true,
        }) : drafter;
  const nativeEngine = await addon.executor.loadEngine(
    { backend, model, drafter: loadedDrafter?.nativeDrafter, threads, contextLength, maxActiveRequests },
    onResponses,
  );
  if (codec.vocabSize !== nativeEngine.modelInfo().vocabSize) {
    await nativeEngine.dispose();
    const e = new Error(
      `tokenizer ${tokenizer} has ${codec.vocabSize} tokens but model ${model} has a vocabulary of ${nativeEngine.modelInfo().vocabSize}`,
    ) as RedrafterError;
    e.code = ErrorCodes.INVALID_MODEL;
    throw e;
  }
  return new Engine(nativeEngine, codec, drafter !== undefined, requests);
}

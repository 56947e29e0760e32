// loadEngine: a model (and its drafter) behind an executor of some backend; sessions generate on it. Which backend
// and its loading: lib/backend-select.ts, lib/cpu-backend.ts, lib/trtllm/load.ts.
import { selectBackend, optionsFor, type Backend } from './backend-select.js';
import { loadCpuBackend } from './cpu-backend.js';
import type { LoadedBackend } from './loaded-backend.js';
import { loadCudaBackend } from './cuda-backend.js';
import type { Drafter, DrafterWeightType } from './drafter/drafter.js';
import { codedError, ErrorCodes, invalidArgument, type RedrafterError } from './errors.js';
import {
  rejectUnknownOptions,
  resolveAdaptiveDraft,
  resolveSessionOptions,
  type SameKeys,
  type SessionOptions,
} from './generation-options.js';
import { native, type NativeEngine, type NativeModelInfo, type NativeResponse } from './native.js';
import { Session, type SessionHost } from './session.js';
import type { TextCodec } from './text-stream.js';
import type { TrtLlmEngineOptions } from './trtllm/engine.js';
import type { ChatMessage } from './chat-template.js';
import { loadTrtLlmBackend } from './trtllm/load.js';

export type { Backend } from './backend-select.js';

/** TensorRT-LLM tuning options (lib/trtllm/engine.ts, docs/tensorrt-llm.md). */
type TrtLlmTuning = Omit<Partial<TrtLlmEngineOptions>, 'backend' | 'engineDir' | 'tokenizer'>;

export interface LoadEngineOptions extends TrtLlmTuning {
  /** cpu, cuda: the model file (llama2.c .bin, GGUF). */
  model?: string;
  /** cpu: the tokenizer (llama2.c tokenizer.bin; default: the model file's own, for GGUF). tensorrt-llm (required):
   *  tokenizer.json or a Hugging Face model directory holding it. */
  tokenizer?: string;
  /** cpu: the drafter: its directory (config.json + model.safetensors) or a loaded Drafter; null or absent = plain
   *  autoregressive decoding. cuda: its directory. tensorrt-llm: the drafter is built into the engine (only
   *  null/absent allowed). */
  drafter?: string | Drafter | null;
  /** 'auto' (default): TensorRT-LLM when its module (redrafter_trtllm.node) was built, an NVIDIA GPU is visible and
   *  engineDir is given; else the CUDA engine when its module (redrafter_cuda.node) was built and a GPU is visible;
   *  else the CPU engine. With 'auto', the other backends' options are ignored. */
  backend?: Backend;
  /** cuda: the CUDA device index (default 0). */
  device?: number;
  /** cuda: the largest beamWidth / beamLength sessions may ask for (the device workspaces are sized for them;
   *  defaults 8 and 8). */
  maxBeamWidth?: number;
  maxBeamLength?: number;
  /** cuda: capture decoding steps as CUDA graphs (default true). */
  cudaGraphs?: boolean;
  /** cpu: threads including the caller (0 or absent: all hardware threads). */
  threads?: number;
  /**
   * cpu: the precision the drafter drafts with (DrafterWeightType: 'f32', 'f16', 'q8_0' or 'q4_0'; fewer bytes read per
   * drafted token, which is what drafting costs with a large drafter); drafts may differ slightly, the output stays
   * exact. Default: 'q8_0' for drafters of 16 MB of weights and more (lib/cpu-backend.ts), 'f32' for smaller ones.
   */
  drafterWeightType?: DrafterWeightType;
  /** @deprecated use drafterWeightType: true is 'f16', false 'f32' (not both). */
  drafterHalfWeights?: boolean;
  /** cpu, cuda: KV capacity per session in tokens (default: the model's context length; more than that is a RangeError). */
  contextLength?: number;
  /**
   * cpu: the most bytes one session's KV cache may take at `contextLength` (keys and values, float32); a larger
   * context is refused at load with ERR_REDRAFTER_OUT_OF_MEMORY naming the bytes. Default: half the machine's memory.
   * The cache's memory is only touched as a conversation fills it.
   */
  maxKvCacheBytes?: number;
  /** cpu, cuda: requests stepped together (their tree verifications share one forward). Default 8. */
  maxActiveRequests?: number;
  /** tensorrt-llm: the engine directory trtllm-build wrote (config.json + rank*.engine). */
  engineDir?: string;
}

/**
 * Every LoadEngineOptions name, whatever the backend ('auto' drops the other backend's, an explicit backend refuses
 * them: backend-select.ts optionsFor); any other name is a TypeError suggesting the closest.
 */
export const loadEngineOptionNames = [
  'model', 'tokenizer', 'drafter', 'backend', 'threads', 'drafterWeightType', 'drafterHalfWeights', 'contextLength', 'maxKvCacheBytes',
  'maxActiveRequests', 'engineDir', 'freeGpuMemoryFraction', 'enableBlockReuse', 'maxTokensInKvCache', 'hostCacheBytes',
  'schedulerPolicy', 'maxBatchSize', 'maxNumTokens', 'maxQueueSize', 'enableChunkedContext', 'gpuWeightsPercent', 'device',
  'maxBeamWidth', 'maxBeamLength', 'cudaGraphs', 'parallelMode', 'workerExecutable', 'chatTemplate',
] as const;
true satisfies SameKeys<(typeof loadEngineOptionNames)[number], keyof LoadEngineOptions>;

export interface EngineInfo extends NativeModelInfo {
  readonly hasDrafter: boolean;
}

interface Tracked {
  onResponse: (r: NativeResponse) => void;
  done: Promise<unknown>;
}

export class Engine implements SessionHost {
  readonly codec: TextCodec;
  readonly info: EngineInfo;
  /** @internal the backend refuses prompt + maxTokens beyond the context (sessions fit maxTokens) */
  readonly maxTokensWithinContext: boolean;
  readonly #fixedBeamShape: boolean;
  readonly #native: NativeEngine;
  readonly #requests = new Map<number, Tracked>();
  #disposed = false;
  #disposing: Promise<void> | undefined;

  /** @internal use loadEngine */
  constructor(loaded: LoadedBackend, requests: Map<number, Tracked>) {
    this.#native = loaded.nativeEngine;
    this.codec = loaded.codec;
    this.#requests = requests;
    this.#fixedBeamShape = loaded.fixedBeamShape;
    this.maxTokensWithinContext = loaded.maxTokensWithinContext;
    this.info = { ...loaded.nativeEngine.modelInfo(), hasDrafter: loaded.hasDrafter };
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
      throw codedError(ErrorCodes.DISPOSED, 'the engine was disposed');
    }
  }

  /** @internal */
  track(requestId: number, onResponse: (r: NativeResponse) => void, done: Promise<unknown>): void {
    this.#requests.set(requestId, { onResponse, done });
  }

  /** A new conversation: its own KV cache; beamWidth 0 = plain autoregressive decoding. */
  createSession(options?: SessionOptions): Session {
    this.assertOpen();
    const { beamWidth, beamLength } = resolveSessionOptions(options, {
      hasDrafter: this.info.hasDrafter,
      maxBeamWidth: this.info.maxBeamWidth,
      maxBeamLength: this.info.maxBeamLength,
      fixedBeamShape: this.#fixedBeamShape,
      parameters: this.info.parameters,
    });
    const adaptiveDraft = resolveAdaptiveDraft(options, {
      hasDrafter: this.info.hasDrafter,
      fixedBeamShape: this.#fixedBeamShape,
      parameters: this.info.parameters,
    });
    return new Session(this, this.#native.createSession(), beamWidth, beamLength, adaptiveDraft);
  }

  /**
   * Chat messages as prompt token ids through the model's chat template (a GGUF's tokenizer.chat_template, a Hugging
   * Face tokenizer's chat_template; the template writes BOS). ERR_REDRAFTER_UNSUPPORTED without one. A session
   * takes chat messages as its prompt too, and keeps the chat across turns (reusing the earlier turns' KV cache):
   * `session.generate([{ role: 'user', content }])`.
   */
  async encodeChat(messages: readonly ChatMessage[], options: { addGenerationPrompt?: boolean } = {}): Promise<Int32Array> {
    this.assertOpen();
    if (!Array.isArray(messages)) throw invalidArgument('messages', 'must be an array of { role, content }');
    for (const [i, m] of messages.entries())
      if (typeof m !== 'object' || m === null || typeof m.role !== 'string' || typeof m.content !== 'string')
        throw invalidArgument(`messages[${i}]`, 'must be { role: string, content: string }');
    if (!this.codec.encodeChat) {
      throw codedError(ErrorCodes.UNSUPPORTED, `the ${this.info.backend} engine's tokenizer has no chat templates`);
    }
    return this.codec.encodeChat(messages, options);
  }

  /** Ends every generation in flight and queued (they reject with ERR_REDRAFTER_DISPOSED and their `partial`) and
   *  frees the engine: once the promise resolves, the model's weights, caches and threads are released (sessions keep
   *  their conversations readable). Idempotent. */
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

/**
 * Loads a model (and drafter) on a backend: 'cpu' (model, tokenizer, drafter), 'cuda' (model, tokenizer, drafter
 * directory, device), 'tensorrt-llm' (engineDir, tokenizer) or 'auto'. Invalid options throw TypeError/RangeError
 * naming the field; 'tensorrt-llm' or 'cuda' without its module is ERR_REDRAFTER_UNSUPPORTED saying how to build
 * it (after the options are checked), a module that cannot be loaded ERR_REDRAFTER_BACKEND with the loader's reason.
 */
export async function loadEngine(options: LoadEngineOptions): Promise<Engine> {
  if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'must be an object');
  rejectUnknownOptions(options, loadEngineOptionNames, 'a loadEngine');
  const backend = selectBackend(options);
  const o = optionsFor(options, backend, options.backend !== undefined && options.backend !== 'auto');

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
  if (backend === 'cuda') return new Engine(await loadCudaBackend(o, onResponses), requests);
  if (backend === 'tensorrt-llm') return new Engine(await loadTrtLlmBackend(o, onResponses), requests);
  return new Engine(await loadCpuBackend(o, native().executor, onResponses), requests);
}

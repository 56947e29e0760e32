// The one typed contract for the whole native surface (the addon built from native/addon).
// Each section below is owned by one part of the addon (its REDRAFTER_ADDON_PART); keep them in sync.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// ---------------------------------------------------------------------------------------------
// ops (native/addon/ops.cpp): the ReDrafter core operators, for tests and engine-building scripts
// ---------------------------------------------------------------------------------------------
export interface NativeOps {
  placeholder?: never;
}

// ---------------------------------------------------------------------------------------------
// cpu engine (native/addon/*): models, tokenizers, forward passes
// ---------------------------------------------------------------------------------------------
/** Model.config: the architecture and how the engine runs it. */
export interface NativeModelConfig {
  readonly path: string;
  readonly format: string; // "llama2c", "llama2c-q8", "gguf"
  readonly weightType: string; // "f32", "f16", "bf16", "q8_0", "q8_g_f32" (of the attention weights)
  readonly dim: number;
  readonly hiddenDim: number;
  readonly nLayers: number;
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly headDim: number;
  readonly vocabSize: number;
  readonly contextLength: number;
  readonly normEps: number;
  readonly ropeTheta: number;
  readonly tiedClassifier: boolean;
  readonly threads: number;
  readonly isa: 'avx512' | 'avx2' | 'portable';
}

export interface NativeModelLoadOptions {
  /** Threads including the caller; 0 or absent = all hardware threads. */
  threads?: number;
  /** Force a kernel set (tests, benchmarks); default: the best this CPU runs. */
  isa?: 'avx512' | 'avx2' | 'portable';
}

export interface NativeForwardOptions {
  /** [n] RoPE positions; default cached length + i. */
  positions?: Int32Array;
  /** [n*n] row i: 1 where new token i attends new token j (j <= i, diagonal 1); default causal. */
  mask?: Uint8Array;
  /** Which of the n new tokens to return logits (and hidden states) for; default all, in order. */
  outputs?: Int32Array;
  /** Also return the final hidden states (after the final norm). */
  hidden?: boolean;
}

export interface NativeForwardResult {
  /** [nOut * vocab] */
  logits: Float32Array;
  /** [nOut * dim], when asked for */
  hidden?: Float32Array;
}

/** One sequence's KV cache on a model (native/addon/context.cpp). */
export interface NativeContext {
  readonly length: number;
  readonly capacity: number;
  readonly disposed: boolean;
  /** Writes the tokens at slots length..length+n-1; one forward at a time per context. */
  forward(tokens: Int32Array, options?: NativeForwardOptions): Promise<NativeForwardResult>;
  /** Keeps the accepted packed indices (root first, increasing) of the last forward; returns the new length. */
  commit(acceptedPacked: Int32Array): number;
  /** Drops every slot from `length` on; returns the new length. */
  truncate(length: number): number;
  dispose(): void;
}

/** A loaded CPU model (native/addon/model.cpp). */
export interface NativeModel {
  readonly config: NativeModelConfig;
  readonly disposed: boolean;
  createContext(options?: { capacity?: number }): NativeContext;
  dispose(): void;
}

export interface NativeModelClass {
  load(path: string, options?: NativeModelLoadOptions): Promise<NativeModel>;
}

export interface NativeCpu {
  readonly Model: NativeModelClass;
}

// ---------------------------------------------------------------------------------------------
// drafter (native/addon/*)
// ---------------------------------------------------------------------------------------------
export interface NativeDrafter {
  placeholder?: never;
}

// ---------------------------------------------------------------------------------------------
// executor (native/addon/*): requests, streaming, cancellation
// ---------------------------------------------------------------------------------------------
export interface NativeExecutor {
  placeholder?: never;
}

// ---------------------------------------------------------------------------------------------
// TensorRT-LLM backend (native/trtllm via native/addon), present only where it was built
// ---------------------------------------------------------------------------------------------
/**
 * The options executor.loadEngine takes for backend "tensorrt-llm" (native/addon/trtllm_engine.cpp), made by
 * lib/trtllm/engine.ts prepareTrtLlmEngine from the engine's config.json and the user's options. The backend is
 * listed in executor.backends (and features.trtllm is true) only in an addon built against TensorRT-LLM.
 */
export interface TrtLlmNativeOptions {
  backend: 'tensorrt-llm';
  engineDir: string;
  vocabSize: number;  // pretrained_config.vocab_size: prompt token ids are checked against it
  maxSeqLen: number;  // build_config.max_seq_len: prompt + maxTokens must fit (else ERR_REDRAFTER_CONTEXT_OVERFLOW)
  redrafterNumBeams: number;  // 0 for an engine without a drafter; requests must use this beamWidth
  redrafterBeamLength: number;  // redrafter_draft_len_per_beam + 1
  freeGpuMemoryFraction?: number;  // KvCacheConfig (0, 1]
  enableBlockReuse?: boolean;  // KvCacheConfig
  maxTokensInKvCache?: number;  // KvCacheConfig
  hostCacheBytes?: number;  // KvCacheConfig host (secondary) cache
  schedulerPolicy?: 'guaranteed-no-evict' | 'max-utilization';  // SchedulerConfig
  maxBatchSize?: number;  // ExecutorConfig
  maxNumTokens?: number;  // ExecutorConfig
  maxQueueSize?: number;  // ExecutorConfig
  enableChunkedContext?: boolean;  // ExecutorConfig
  gpuWeightsPercent?: number;  // ExecutorConfig (weight streaming)
}
export interface NativeTrtLlm {
  placeholder?: never;
}

export interface NativeModule {
  /** Names of the addon parts that registered themselves. */
  readonly parts: readonly string[];
  readonly features: { readonly trtllm: boolean };
  readonly ops: NativeOps;
  /** cpu engine */
  readonly Model: NativeCpu['Model'];
}

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');

/** Where the addon may be: $REDRAFTER_ADDON, the cmake-js build, then the node-gyp build. */
export function addonCandidates(): string[] {
  const list: string[] = [];
  if (process.env.REDRAFTER_ADDON) list.push(resolve(process.env.REDRAFTER_ADDON));
  list.push(join(root, 'build-cmake', 'Release', 'redrafter.node'));
  list.push(join(root, 'build', 'Release', 'redrafter.node'));
  return list;
}

let cached: NativeModule | undefined;

/** Loads the native addon once. Throws an Error with code ERR_REDRAFTER_ADDON_NOT_FOUND if it was not built. */
export function native(): NativeModule {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const candidates = addonCandidates();
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    const err = new Error(
      `redrafter: the native addon is not built (looked in ${candidates.join(', ')}); run \`npm run build\``,
    ) as Error & { code: string };
    err.code = 'ERR_REDRAFTER_ADDON_NOT_FOUND';
    throw err;
  }
  cached = require(found) as NativeModule;
  return cached;
}

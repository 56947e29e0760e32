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
export interface NativeCpu {
  placeholder?: never;
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

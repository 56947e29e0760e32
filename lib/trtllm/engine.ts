// loadEngine({ backend: 'tensorrt-llm', engineDir, tokenizer, ... }): the TypeScript half of the TensorRT-LLM
// backend. It validates the options, reads the engine's config.json (vocabulary, max_seq_len, the ReDrafter beam
// shape fixed at build time), loads the Hugging Face tokenizer, and produces the options object the addon's
// executor.loadEngine takes for its "tensorrt-llm" backend (native/addon/trtllm_engine.cpp). Sessions, generate,
// complete and stats are the shared executor layer's, exactly as for the CPU backend.
import { existsSync, readdirSync } from 'node:fs';
import { codedError, ErrorCodes, invalidArgument, type RedrafterError } from '../errors.js';
import type { TrtLlmNativeOptions } from '../native.js';
import { readTrtLlmEngineInfo, type TrtLlmEngineInfo } from './engine-config.js';
import { HfTokenizer } from './hf-tokenizer.js';
import { chooseParallelPlan, mpiWorld, type ParallelModeOption, type ParallelPlan } from './parallel.js';
import { requireSupportedTrtLlmVersion } from './versions.js';

export type SchedulerPolicy = 'guaranteed-no-evict' | 'max-utilization';

export interface TrtLlmEngineOptions {
  backend: 'tensorrt-llm';
  /** The directory trtllm-build wrote (config.json + rank*.engine). */
  engineDir: string;
  /** tokenizer.json, or a Hugging Face model directory holding it (and tokenizer_config.json). */
  tokenizer: string;
  /** Fraction of the GPU memory free after loading the engine that the KV cache takes (0, 1]; default 0.9. */
  freeGpuMemoryFraction?: number;
  /** Reuse KV-cache blocks of shared prefixes (each turn reaches the engine as its whole context); default true. */
  enableBlockReuse?: boolean;
  /** Upper bound on KV-cache tokens (the smaller of this and freeGpuMemoryFraction wins). */
  maxTokensInKvCache?: number;
  /** Host memory for offloaded KV blocks, in bytes (block reuse beyond GPU memory). */
  hostCacheBytes?: number;
  /** TensorRT-LLM's capacity scheduler policy; default 'guaranteed-no-evict'. */
  schedulerPolicy?: SchedulerPolicy;
  /** Requests batched per iteration (<= the engine's max_batch_size). */
  maxBatchSize?: number;
  /** Tokens per iteration (<= the engine's max_num_tokens). */
  maxNumTokens?: number;
  /** Queued requests beyond which enqueueing fails. */
  maxQueueSize?: number;
  /** Chunked prefill; default: TensorRT-LLM's. */
  enableChunkedContext?: boolean;
  /** Weight streaming: the fraction of weights kept on the GPU [0, 1]; default 1. */
  gpuWeightsPercent?: number;
  /** Multi-GPU engines: 'auto' (default: orchestrator outside mpirun, leader under it), 'orchestrator' or 'leader'. */
  parallelMode?: ParallelModeOption;
  /** TensorRT-LLM's executorWorker for orchestrator mode (default: TRTLLM_ROOT/bin/executorWorker or PATH). */
  workerExecutable?: string;
  /**
   * The chat template for encodeChat: 'vicuna' (the Vicuna v1.1 format of the ReDrafter paper's models, whose
   * tokenizers ship none) or Jinja text; default: the tokenizer's chat_template.jinja or tokenizer_config.json's.
   */
  chatTemplate?: string;
}

export interface PreparedTrtLlmEngine {
  info: TrtLlmEngineInfo;
  tokenizer: HfTokenizer;
  /** Pass to native().executor.loadEngine(nativeOptions, onResponses). */
  nativeOptions: TrtLlmNativeOptions;
  /** What createSession must use: the engine's beam shape (TensorRT-LLM fixes it at build time). */
  draft: { beamWidth: number; beamLength: number };
  /** How the engine's ranks run (lib/trtllm/parallel.ts). */
  parallel: ParallelPlan;
  /** The chatTemplate option, when given. */
  chatTemplate?: string;
}

/** The options loadEngine takes for this backend. */
export const trtLlmOptionKeys: ReadonlySet<string> = new Set<string>([
  'backend', 'engineDir', 'tokenizer', 'freeGpuMemoryFraction', 'enableBlockReuse', 'maxTokensInKvCache', 'hostCacheBytes',
  'schedulerPolicy', 'maxBatchSize', 'maxNumTokens', 'maxQueueSize', 'enableChunkedContext', 'gpuWeightsPercent',
  'parallelMode', 'workerExecutable', 'chatTemplate',
]);

function positiveInt(o: Record<string, unknown>, key: string, max = 2 ** 31 - 1): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw invalidArgument(key, 'must be an integer', 'type');
  if (v < 1 || v > max) throw invalidArgument(key, `must be in [1, ${max}]`, 'range');
  return v;
}

function bool(o: Record<string, unknown>, key: string): boolean | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw invalidArgument(key, 'must be a boolean', 'type');
  return v;
}

function fraction(o: Record<string, unknown>, key: string, allowZero: boolean): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalidArgument(key, 'must be a number', 'type');
  if (v > 1 || v < 0 || (!allowZero && v === 0)) throw invalidArgument(key, `must be in ${allowZero ? '[0' : '(0'}, 1]`, 'range');
  return v;
}

/** Validates the options; reads the engine config and the tokenizer. */
export async function prepareTrtLlmEngine(options: TrtLlmEngineOptions): Promise<PreparedTrtLlmEngine> {
  const o = options as unknown as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!trtLlmOptionKeys.has(key)) throw invalidArgument(key, 'is not an option of the tensorrt-llm backend', 'type');
  }
  if (typeof o.engineDir !== 'string' || !o.engineDir) throw invalidArgument('engineDir', 'must be the directory trtllm-build wrote', 'type');
  if (typeof o.tokenizer !== 'string' || !o.tokenizer) throw invalidArgument('tokenizer', 'must be a tokenizer.json path or a model directory', 'type');
  const policy = o.schedulerPolicy;
  if (policy !== undefined && policy !== 'guaranteed-no-evict' && policy !== 'max-utilization') {
    throw invalidArgument('schedulerPolicy', "must be 'guaranteed-no-evict' or 'max-utilization'", 'range');
  }
  const nativeTuning = {
    freeGpuMemoryFraction: fraction(o, 'freeGpuMemoryFraction', false),
    enableBlockReuse: bool(o, 'enableBlockReuse'),
    maxTokensInKvCache: positiveInt(o, 'maxTokensInKvCache'),
    hostCacheBytes: positiveInt(o, 'hostCacheBytes', Number.MAX_SAFE_INTEGER),
    schedulerPolicy: policy as SchedulerPolicy | undefined,
    maxBatchSize: positiveInt(o, 'maxBatchSize'),
    maxNumTokens: positiveInt(o, 'maxNumTokens'),
    maxQueueSize: positiveInt(o, 'maxQueueSize'),
    enableChunkedContext: bool(o, 'enableChunkedContext'),
    gpuWeightsPercent: fraction(o, 'gpuWeightsPercent', true),
  };

  if (o.chatTemplate !== undefined && (typeof o.chatTemplate !== 'string' || !o.chatTemplate))
    throw invalidArgument('chatTemplate', "must be 'vicuna' or a Jinja chat template", 'type');
  if (o.workerExecutable !== undefined && (typeof o.workerExecutable !== 'string' || !o.workerExecutable))
    throw invalidArgument('workerExecutable', 'must be the path of TensorRT-LLM\'s executorWorker', 'type');

  const info = await readTrtLlmEngineInfo(o.engineDir);
  // The release that built the engine must be a supported one (the loaded library is checked against it natively).
  if (info.version !== undefined) requireSupportedTrtLlmVersion(info.version, `${info.engineDir}/config.json`);
  const parallel = chooseParallelPlan(info.tpSize * info.ppSize, mpiWorld(), (o.parallelMode ?? 'auto') as ParallelModeOption,
    o.workerExecutable as string | undefined);
  if (nativeTuning.maxBatchSize !== undefined && info.maxBatchSize !== undefined && nativeTuning.maxBatchSize > info.maxBatchSize) {
    throw invalidArgument('maxBatchSize', `must be <= the engine's max_batch_size ${info.maxBatchSize}`, 'range');
  }
  const tokenizer = await HfTokenizer.load(o.tokenizer);
  if (tokenizer.vocabSize > info.vocabSize) {
    const e = codedError(ErrorCodes.INVALID_MODEL, `${tokenizer.path}: the tokenizer has ${tokenizer.vocabSize} tokens but the engine's vocab_size is ` +
      `${info.vocabSize}; it is not this model's tokenizer`);
    throw e;
  }
  const draft = info.redrafter
    ? { beamWidth: info.redrafter.numBeams, beamLength: info.redrafter.draftLenPerBeam + 1 }
    : { beamWidth: 0, beamLength: 0 };
  const nativeOptions: TrtLlmNativeOptions = {
    backend: 'tensorrt-llm',
    engineDir: info.engineDir,
    vocabSize: info.vocabSize,
    maxSeqLen: info.maxSeqLen,
    maxDraftLen: info.maxDraftLen,
    redrafterNumBeams: draft.beamWidth,
    redrafterBeamLength: draft.beamLength,
    parallelMode: parallel.mode,
    worldSize: parallel.worldSize,
  };
  if (info.maxInputLen !== undefined) nativeOptions.maxInputLen = info.maxInputLen;
  if (info.redrafter) nativeOptions.redrafterGreedySearch = info.redrafter.greedySearch;
  if (info.version !== undefined) nativeOptions.engineVersion = info.version;
  if (parallel.mode === 'orchestrator') nativeOptions.workerExecutable = parallel.workerExecutable;
  for (const [k, v] of Object.entries(nativeTuning)) if (v !== undefined) (nativeOptions as unknown as Record<string, unknown>)[k] = v;
  return { info, tokenizer, nativeOptions, draft, parallel, chatTemplate: o.chatTemplate as string | undefined };
}

/** Whether an NVIDIA GPU is visible to this process (driver device nodes). */
export function nvidiaGpuPresent(): boolean {
  if (process.env.CUDA_VISIBLE_DEVICES === '' || process.env.CUDA_VISIBLE_DEVICES === '-1') return false;
  try {
    if (existsSync('/proc/driver/nvidia/gpus') && readdirSync('/proc/driver/nvidia/gpus').length > 0) return true;
  } catch {
    // fall through
  }
  return existsSync('/dev/nvidia0');
}

/** backend: 'auto' -> 'tensorrt-llm' when its module (redrafter_trtllm.node) is present and a GPU is, else 'cpu'. */
export function resolveAutoBackend(trtLlmModulePresent: () => boolean, gpuPresent: () => boolean = nvidiaGpuPresent): 'tensorrt-llm' | 'cpu' {
  return trtLlmModulePresent() && gpuPresent() ? 'tensorrt-llm' : 'cpu';
}

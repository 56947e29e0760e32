// The one typed contract for the whole native surface (the addon built from native/addon).
// Each section below is owned by one part of the addon (its REDRAFTER_ADDON_PART); keep them in sync.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { codedError, ErrorCodes } from './errors.js';

// ---------------------------------------------------------------------------------------------
// ops (native/addon/ops.cpp): the ReDrafter core operators, for tests and engine-building scripts
// ---------------------------------------------------------------------------------------------
/** Packed trees of a batch (see lib/ops.ts `buildTree`). */
export interface NativePackedTrees {
  maxLength: number;
  lengths: Int32Array; // [batch]
  tokens: Int32Array; // [batch, maxLength], padding 0
  beamTokenIndex: Int32Array; // [batch, maxLength], padding -1
  positionOffsets: Int32Array; // [batch, maxLength], padding -1
  parents: Int32Array; // [batch, maxLength], -1 for the root and padding
  unpacker: Int32Array; // [batch, width, length]
  mask: Uint8Array; // [batch, maxLength, maxLength]
}

export interface NativeBeamStep {
  scores: Float32Array; // [batch, width]
  parents: Int32Array; // [batch, width]
  tokens: Int32Array; // [batch, width]
}

export interface NativeVerification {
  beam: Int32Array; // [batch]
  acceptedLength: Int32Array; // [batch]
  acceptedTokens: Int32Array; // [batch, length-1], padding -1
  nextToken: Int32Array; // [batch]
  acceptedPacked: Int32Array; // [batch, length], padding -1
}

export interface NativeCommitPlan {
  from: Int32Array; // [moves]
  to: Int32Array; // [moves]
  newLength: number;
}

export interface NativeOps {
  buildTree(beams: Int32Array, options: { batch: number; width: number; length: number }): NativePackedTrees;
  beamSearchStep(
    scores: Float32Array,
    logProbs: Float32Array,
    options: { batch: number; width: number; vocab: number; firstStep: boolean },
  ): NativeBeamStep;
  appleProcessLogits(logits: Float32Array, options: { vocab: number; topK?: number }): Float32Array;
  verifyGreedy(
    beams: Int32Array,
    llm: Int32Array | Float32Array,
    options: { batch: number; width: number; length: number; vocab?: number },
  ): NativeVerification;
  verifySampling(
    beams: Int32Array,
    logits: Float32Array,
    options: {
      batch: number;
      width: number;
      length: number;
      vocab: number;
      temperature: number;
      topK: number;
      topP: number;
      seed: number;
      acceptance: 'exact' | 'apple';
      drafterLogProbs?: Float32Array;
    },
  ): NativeVerification;
  kvCommitPlan(acceptedPacked: Int32Array, options: { cachedLength: number }): NativeCommitPlan;
}

// ---------------------------------------------------------------------------------------------
// cpu engine (native/addon/*): models, tokenizers, forward passes
// ---------------------------------------------------------------------------------------------
/** A decoder-only LLaMA model's architecture (native/addon/model_config.h). */
export interface ModelArchitecture {
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
}

/** Model.config: the architecture and how the engine runs it. */
export interface NativeModelConfig extends ModelArchitecture {
  readonly path: string;
  readonly format: string; // "llama2c", "llama2c-q8", "gguf"
  readonly weightType: string; // "f32", "f16", "bf16", "q8_0", "q8_g_f32" (of the attention weights)
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

/** One sequence of Model.forwardBatch: a context of that model, its tokens and forward options. */
export interface NativeBatchItem extends NativeForwardOptions {
  context: NativeContext;
  tokens: Int32Array;
}

/** A loaded CPU model (native/addon/model.cpp). */
export interface NativeModel {
  readonly config: NativeModelConfig;
  readonly disposed: boolean;
  createContext(options?: { capacity?: number }): NativeContext;
  /** Several contexts (distinct, of this model) in one forward pass that reads the weights once. */
  forwardBatch(items: NativeBatchItem[]): Promise<NativeForwardResult[]>;
  dispose(): void;
}

/** Model.measureRoofline (native/cpu/engine/roofline.h): this machine's limits for the CPU engine. */
export interface NativeRoofline {
  readonly readBytesPerSecond: number;
  readonly fmaFlopsPerSecond: number;
  readonly threads: number;
  readonly isa: string;
}

export interface NativeModelClass {
  load(path: string, options?: NativeModelLoadOptions): Promise<NativeModel>;
  /** Read bandwidth and f32 FMA peak with these threads and ISA (default: all, the best); about a second. */
  measureRoofline(options?: { threads?: number; isa?: string }): Promise<NativeRoofline>;
}

/** Tokenizer.info (native/addon/tokenizer.cpp). */
export interface NativeTokenizerInfo {
  readonly path: string;
  readonly format: 'llama2c' | 'gguf';
  readonly vocabSize: number;
  readonly bos: number;
  readonly eos: number;
  /** -1 when the vocabulary has none (byte-level BPE) */
  readonly unk: number;
  readonly addBos: boolean;
  readonly addSpacePrefix: boolean;
  /** the longest token text in bytes (so a text of n bytes has at least n / maxTokenLength tokens) */
  readonly maxTokenLength: number;
  /** GGUF tokenizer.ggml.model: 'llama' (SentencePiece) or 'gpt2' (byte-level BPE) */
  readonly model: 'llama' | 'gpt2';
  /** GGUF tokenizer.ggml.pre (byte-level BPE only), e.g. 'llama-bpe', 'qwen2' */
  readonly pre?: string;
  /** the tokens that end generation (EOS, <|eot_id|>, <|im_end|>, ...), ascending */
  readonly eogTokens: readonly number[];
  /** GGUF tokenizer.chat_template, where the file has one */
  readonly chatTemplate?: string;
}

/** One vocabulary entry: its text as GGUF stores it ("▁" for spaces, "<0x0A>" for byte tokens). */
export interface NativeTokenEntry {
  readonly text: string;
  readonly score: number;
  readonly type: 'normal' | 'unknown' | 'control' | 'user-defined' | 'unused' | 'byte' | 'undefined';
}

/** Incremental decoding that never emits half a UTF-8 character (native/addon/tokenizer.cpp). */
export interface NativeTokenDecoder {
  /** The text completed by `token` (may be empty while a character is incomplete). */
  push(token: number): string;
  /** Whatever is still held, as U+FFFD; resets. */
  flush(): string;
  readonly pending: boolean;
}

/** A SentencePiece tokenizer (llama.cpp's SPM semantics) from a tokenizer.bin or a GGUF. */
export interface NativeTokenizer {
  readonly info: NativeTokenizerInfo;
  /** bos: prepend BOS (default: the file's add_bos_token, true for tokenizer.bin); special: parse control-token texts such as "<s>" (default false). */
  encode(text: string, options?: { bos?: boolean; special?: boolean }): Int32Array;
  /** encode off the event loop (for long texts) */
  encodeAsync(text: string, options?: { bos?: boolean; special?: boolean }): Promise<Int32Array>;
  /** previous: the token before tokens[0] (-1: none); after BOS a leading space is dropped. */
  decode(tokens: Int32Array, previous?: number): string;
  token(id: number): NativeTokenEntry;
  createDecoder(previous?: number): NativeTokenDecoder;
}

export interface NativeTokenizerClass {
  load(path: string): Promise<NativeTokenizer>;
}

/** inspectModel(path) (native/addon/model_file.cpp). */
export interface NativeFileSummary {
  readonly path: string;
  readonly kind: 'model' | 'tokenizer';
  readonly format: string; // "llama2c", "llama2c-q8", "gguf"
  readonly fileBytes: number;
  readonly version: number;
  readonly config: ModelArchitecture | null;
  /** Why redrafter cannot run this file (another GGUF architecture, tensor type, tokenizer model, ...: the loaders'
   *  own messages); null when it can. */
  readonly unsupported: string | null;
  /** A model the loaders accept (the native loaders' verdict, with the GGUF's own tokenizer where it has one). */
  readonly runnable: boolean;
  /** GGUF general.architecture ('llama' for a llama2.c checkpoint), tokenizer.ggml.model and tokenizer.ggml.pre, as
   *  the file says them (null when absent), and whether it has tokenizer.chat_template. */
  readonly architecture: string | null;
  readonly tokenizerModel: string | null;
  readonly tokenizerPre: string | null;
  readonly chatTemplate: boolean;
  /** shape: outermost dimension first. */
  readonly tensors: readonly { name: string; type: string; shape: number[]; bytes: number; offset: number }[];
  readonly tokenizer: {
    readonly format: string;
    readonly vocabSize: number;
    readonly bos: number;
    readonly eos: number;
    readonly unk: number;
    readonly maxTokenLength: number;
    readonly addBos: boolean;
    readonly addSpacePrefix: boolean;
    readonly tokenTypes: { normal: number; control: number; byte: number; unknown: number; other: number };
  } | null;
  readonly metadata: readonly { key: string; type: string; value: string }[];
}

export interface NativeConvertOptions {
  model: string;
  /** tokenizer.bin or GGUF; may be left out when the model is a GGUF. */
  tokenizer?: string;
  out: string;
  type?: 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_0' | 'q4_k' | 'q5_k' | 'q6_k' | 'q4_k_m';
  /** tokenizer.chat_template to write (default: the tokenizer's own) */
  chatTemplate?: string;
  /** Called on the main thread after each tensor is written. */
  onProgress?: (done: number, total: number) => void;
}

export interface NativeConvertResult {
  readonly out: string;
  readonly type: string;
  readonly bytes: number;
  readonly tensors: number;
  /** Tensors written as f16 because q8_0 needs a multiple of 32 columns. */
  readonly fallbacks: string[];
}

export interface NativeCpu {
  readonly Model: NativeModelClass;
  readonly Tokenizer: NativeTokenizerClass;
  inspectModel(path: string): Promise<NativeFileSummary>;
  convertModel(options: NativeConvertOptions): Promise<NativeConvertResult>;
}

// ---------------------------------------------------------------------------------------------
// drafter (native/addon/*)
// ---------------------------------------------------------------------------------------------
/** Apple's DrafterConfig (config.json: vocab_size, hidden_size, exit_dim, num_draft_layers, rnn). */
export interface NativeDrafterConfig {
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly exitDim: number;
  readonly numDraftLayers: number;
  readonly rnn: boolean;
}

export interface NativeDraftResult {
  /** [batch, beamWidth, beamLength]: the LLM's token then the drafted ones, best beam first */
  beams: Int32Array;
  /** [batch, beamWidth, beamLength-1, vocab]: the drafter's processed log-probabilities behind each drafted token */
  logProbs: Float32Array;
  /** [batch, beamWidth]: each beam's total log-probability */
  scores: Float32Array;
}

/** A recurrent drafter (native/addon/drafter.cpp). */
/** The precision of the matrices a drafter drafts with (native/cpu/drafter/drafter.h DrafterWeightType). */
export type NativeDrafterWeightType = 'f32' | 'f16' | 'q8_0' | 'q4_0';

export interface NativeDrafterInstance {
  readonly config: NativeDrafterConfig;
  /** Where it came from (the drafter directory), named in errors. */
  readonly source: string;
  /** The precision it drafts with. */
  readonly weightType: NativeDrafterWeightType;
  /** Copies of every tensor under Apple's names. */
  tensors(): Record<string, Float32Array>;
  /** Throws ERR_REDRAFTER_INVALID_MODEL naming both values unless hidden size and vocabulary match the model. */
  checkModel(model: NativeModel): void;
  /**
   * Beam search for a batch. embeddings: the LLM (its embedding table) or a float32 table [vocab*hiddenSize];
   * hidden [batch*hiddenSize] final hidden states; lastToken [batch] the LLM's tokens.
   */
  draft(
    embeddings: NativeModel | Float32Array,
    hidden: Float32Array,
    lastToken: Int32Array,
    options: { beamWidth: number; beamLength: number },
  ): Promise<NativeDraftResult>;
}

export interface NativeDrafterClass {
  new (
    config: NativeDrafterConfig,
    tensors: Record<string, Float32Array>,
    source: string,
    options?: { threads?: number; weightType?: NativeDrafterWeightType },
  ): NativeDrafterInstance;
  /** Reads a drafter directory off the event loop (native/model/drafter_file.h); `model`: the LLM it must fit. */
  load(
    dir: string,
    options?: { threads?: number; weightType?: NativeDrafterWeightType; model?: { dim: number; vocabSize: number; path?: string } },
  ): Promise<NativeDrafterInstance>;
  /** Writes a drafter directory off the event loop (each file under a temporary name, then renamed into place). */
  save(
    dir: string,
    config: NativeDrafterConfig,
    tensors: Record<string, Float32Array>,
    options?: { dtype?: 'F32' | 'F16' | 'BF16'; metadata?: Record<string, string> },
  ): Promise<void>;
  /** config.json of a drafter directory, validated. */
  readConfig(dir: string): NativeDrafterConfig;
  /** Every tensor of a drafter with this config, in the canonical (state dict) order. */
  tensorShapes(config: NativeDrafterConfig): { name: string; shape: number[] }[];
}

export interface NativeDrafterTrainingOptions {
  model: NativeModel;
  /** Tokenizer file, needed for text prompts. */
  tokenizer?: string;
  /** Training prompts (texts); default: BOS alone, then sampled prefixes. */
  prompts?: string[];
  /** Held-out prompts (texts) for the evaluation; default: sampled prompts no training text starts with. */
  evalPrompts?: string[];
  exitDim?: number;
  numDraftLayers?: number;
  rnn?: boolean;
  /** Token budget of the self-distilled corpus. */
  tokens?: number;
  sequenceLength?: number;
  greedyFraction?: number;
  temperature?: number;
  maxPrefix?: number;
  bos?: number;
  stopTokens?: number[];
  parallel?: number;
  epochs?: number;
  /** Fixed number of optimiser steps (overrides epochs). */
  steps?: number;
  batchSize?: number;
  learningRate?: number;
  weightDecay?: number;
  warmupFraction?: number;
  /** Drafted tokens learned per position (K = beam length - 1). */
  unroll?: number;
  /**
   * Distillation weight in [0, 1] (default 0): each step's target mixes the hard label (1 - distill) with the LLM's
   * own next-token distribution at that position (distill); see native/cpu/drafter/drafter_loss.h.
   */
  distill?: number;
  evalWidth?: number;
  evalLength?: number;
  evalTexts?: number;
  evalPrefix?: number;
  seed?: number;
  threads?: number;
}

export interface NativeTrainingProgress {
  phase: 'generate' | 'train' | 'evaluate';
  done: number;
  total: number;
  loss?: number;
  learningRate?: number;
  epoch?: number;
  /** per unrolled step top-1 accuracy of the last batch */
  accuracy?: number[];
}

export interface NativeLossReport {
  loss: number;
  stepLoss: number[];
  accuracy: number[];
}

export interface NativeAcceptanceRow {
  beamWidth: number;
  beamLength: number;
  tokensPerStep: number;
  steps: number;
  tokens: number;
  /** [beamLength+1]: steps that emitted k tokens */
  histogram: number[];
}

export interface NativeTrainingReport {
  stopped: boolean;
  corpusTokens: number;
  corpusTexts: number;
  generateSeconds: number;
  trainSeconds: number;
  evalSeconds: number;
  steps: number;
  plannedSteps: number;
  batchSize: number;
  unroll: number;
  distill: number;
  lastBatch?: NativeLossReport;
  heldOut?: NativeLossReport & { texts: number; tokens: number; droppedPrompts: number; acceptance: NativeAcceptanceRow };
}

export interface NativeTrainingResult {
  report: NativeTrainingReport;
  /** absent when stopped before training began */
  config?: NativeDrafterConfig;
  tensors?: Record<string, Float32Array>;
}

export interface NativeDrafterTraining {
  run(onProgress?: (progress: NativeTrainingProgress) => void): Promise<NativeTrainingResult>;
  /** Ends generation or training after the current step; run() then resolves with what was trained. */
  stop(): void;
}

export interface NativeAcceptanceOptions {
  model: NativeModel;
  drafter: NativeDrafterInstance;
  tokenizer?: string;
  prompts?: string[];
  /** sampled prompts (without `prompts`): how many, their sampled prefix length and seed */
  texts?: number;
  prefix?: number;
  seed?: number;
  length?: number;
  bos?: number;
  stopTokens?: number[];
  widths: number[];
  lengths: number[];
}

export interface NativeDrafter {
  readonly Drafter: NativeDrafterClass;
  readonly DrafterTraining: new (options: NativeDrafterTrainingOptions) => NativeDrafterTraining;
  measureDrafterAcceptance(
    options: NativeAcceptanceOptions,
  ): Promise<{ rows: NativeAcceptanceRow[]; texts: number; tokens: number }>;
}

// ---------------------------------------------------------------------------------------------
// executor (native/addon/*): requests, streaming, cancellation
// ---------------------------------------------------------------------------------------------
/** Cumulative per-request statistics, sent with every response (native/core/executor/executor_interface.h). */
export interface NativeRequestStats {
  readonly promptTokens: number;
  readonly reusedTokens: number;
  readonly steps: number;
  readonly generatedTokens: number;
  /** [k] = decoding steps that emitted k tokens */
  readonly tokensPerStepHistogram: readonly number[];
  /** decoding steps per beam shape that ran (beamWidth 0: plain), first-run order; empty: not reported */
  readonly shapeSteps?: readonly { readonly beamWidth: number; readonly beamLength: number; readonly steps: number }[];
  readonly prefillSeconds: number;
  /** drafter beam search */
  readonly draftSeconds: number;
  /** packing the beams into the tree (dedup, positions, mask) */
  readonly treeSeconds: number;
  /** the tree-verification forward (its whole time when requests share it; TensorRT-LLM: all decoding) */
  readonly forwardSeconds: number;
  /** acceptance over the tree (argmax match or the rejection sampler) */
  readonly acceptSeconds: number;
  /** KV commit of the accepted path */
  readonly commitSeconds: number;
  /** the rest of the engine's step: scheduling, responses, bookkeeping */
  readonly otherSeconds: number;
  readonly totalSeconds: number;
  readonly queueSeconds: number;
}

export type NativeFinishReason = '' | 'eos' | 'stop' | 'length' | 'context' | 'abort' | 'error';

export interface NativeResponse {
  readonly requestId: number;
  /** streaming: the tokens new since the request's previous response */
  readonly tokens: Int32Array;
  readonly isFinal: boolean;
  readonly finishReason: NativeFinishReason;
  readonly errorCode?: string;
  readonly error?: string;
  /** on the final response only (a streamed piece carries none) */
  readonly stats?: NativeRequestStats;
}

export interface NativeExecutorRequest {
  /** the turn's new prompt tokens: the native session appends them to its history to make the whole context */
  promptTokenIds: Int32Array;
  maxTokens: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  beamWidth?: number;
  beamLength?: number;
  acceptance?: 'exact' | 'apple';
  /** Let the backend draft less (or not at all) on steps where that is measured to be faster. */
  adaptive?: boolean;
  endIds?: Int32Array;
  stopTokenSequences?: Int32Array[];
  streaming?: boolean;
}

export interface NativeEngineOptions {
  backend: string;
  model?: string;
  /** cpu: the drafter (lib/drafter), paired with the model when the engine loads; cuda: the drafter directory */
  drafter?: NativeDrafterInstance | string;
  engineDir?: string;
  threads?: number;
  contextLength?: number;
  /** cpu: bound on one session's KV cache in bytes (0 or absent: half the machine's memory) */
  maxKvCacheBytes?: number;
  maxActiveRequests?: number;
  /** backend-specific options, passed by name */
  [option: string]: unknown;
}

export interface NativeModelInfo {
  readonly vocabSize: number;
  readonly contextLength: number;
  readonly maxBeamWidth: number;
  readonly maxBeamLength: number;
  /** the LLM's weight count (0 where the backend does not report it) */
  readonly parameters: number;
  readonly backend: string;
}

/** One session of an engine (native/addon/session.cpp): its KV cache is kept between requests. */
/** A session of a NativeEngine; it owns the conversation (native/core/executor/conversations.h). */
export interface NativeSession {
  /** Queues a turn (its new prompt tokens continue the history); its responses arrive through loadEngine's
   *  onResponses. Returns the request id. */
  enqueue(request: NativeExecutorRequest): number;
  cancel(requestId: number): void;
  release(): void;
  /** The conversation: prompts and generated tokens kept (committed before a request's final response arrives;
   *  readable after release). */
  history(): Int32Array;
  historyLength(): number;
  /** The history's last token, -1 when it is empty. */
  lastToken(): number;
  /** Forgets the conversation (the backend's KV cache stays, reused by prefix). */
  reset(): void;
  /** Of that ended request's generated tokens, the history keeps the first `count` (a stop string ended it). */
  keepOutput(requestId: number, count: number): void;
}

/** A loaded executor of any backend (native/addon/engine.cpp). */
export interface NativeEngine {
  modelInfo(): NativeModelInfo;
  createSession(): NativeSession;
  /** Ends requests in flight (final responses with 'abort'), stops the workers. */
  dispose(): Promise<void>;
}

export interface NativeExecutor {
  loadEngine(options: NativeEngineOptions, onResponses: (responses: NativeResponse[]) => void): Promise<NativeEngine>;
  /** the backends built into this addon */
  readonly backends: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// TensorRT-LLM backend (native/trtllm via native/addon/trtllm_engine.cpp): the backend module redrafter_trtllm.node
// ---------------------------------------------------------------------------------------------
/**
 * The options executor.loadEngine takes for backend "tensorrt-llm" (native/addon/trtllm_engine.cpp), made by
 * lib/trtllm/engine.ts prepareTrtLlmEngine from the engine's config.json and the user's options. Only the executor of
 * the backend module redrafter_trtllm.node (loadBackendModule('tensorrt-llm')) has this backend.
 */
export interface TrtLlmNativeOptions {
  backend: 'tensorrt-llm';
  engineDir: string;
  vocabSize: number;  // pretrained_config.vocab_size: prompt token ids are checked against it
  maxSeqLen: number;  // build_config.max_seq_len (trtllm-build added maxDraftLen to it)
  maxDraftLen: number;  // build_config.max_draft_len: prompt + maxTokens must fit maxSeqLen - maxDraftLen
  maxInputLen?: number;  // build_config.max_input_len: prompt tokens at most
  redrafterNumBeams: number;  // 0 for an engine without a drafter; requests must use this beamWidth
  redrafterBeamLength: number;  // redrafter_draft_len_per_beam + 1
  redrafterGreedySearch?: boolean;  // greedy engine: temperature must be 0; else it must be > 0
  engineVersion?: string;  // config.json "version": must equal the loaded libtensorrt_llm's version
  parallelMode?: 'single' | 'orchestrator' | 'leader';  // lib/trtllm/parallel.ts
  worldSize?: number;  // tp_size * pp_size
  workerExecutable?: string;  // TensorRT-LLM's executorWorker (orchestrator mode)
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
  readonly ops: NativeOps;
  /** cpu engine */
  readonly Model: NativeCpu['Model'];
  /** executor */
  readonly executor: NativeExecutor;
  /** drafter */
  readonly Drafter: NativeDrafter['Drafter'];
  readonly DrafterTraining: NativeDrafter['DrafterTraining'];
  readonly measureDrafterAcceptance: NativeDrafter['measureDrafterAcceptance'];
  readonly Tokenizer: NativeCpu['Tokenizer'];
  readonly inspectModel: NativeCpu['inspectModel'];
  readonly convertModel: NativeCpu['convertModel'];
}

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');

/** pkg-prebuilds' naming of prebuilt addons (its lib/prebuild.js, which has no types of its own). */
interface PrebuildNaming {
  getPrebuildName(o: { name: string; platform: string; arch: string; libc?: string; napi_version: number; runtime: string }): string;
  isAlpine(platform: string): boolean;
}

/**
 * The prebuilt addon `npm pack` puts in the package for this platform (scripts/prebuild.mjs: linux-x64 only), one
 * per Node-API version package.json declares, named as pkg-prebuilds names them
 * (prebuilds/redrafter-linux-x64/node-napi-v8.node); scripts/install.mjs uses it when it loads.
 */
function prebuiltAddons(): string[] {
  const require = createRequire(import.meta.url);
  const naming = require('pkg-prebuilds/lib/prebuild.js') as PrebuildNaming;
  const pkg = require('../package.json') as { binary: { napi_versions: number[] } };
  const libc = naming.isAlpine(process.platform) ? 'musl' : undefined;
  return pkg.binary.napi_versions.map((v) =>
    join(root, 'prebuilds', naming.getPrebuildName({ name: 'redrafter', platform: process.platform, arch: process.arch,
      libc, napi_version: v, runtime: 'node' })));
}

/**
 * Where the addon may be, in order: $REDRAFTER_ADDON, the cmake-js build (`npm install` where no prebuild loads,
 * `npm run build`), the node-gyp build (`npm run build:gyp`), then the package's prebuilt addon.
 */
export function addonCandidates(): string[] {
  const list: string[] = [];
  if (process.env.REDRAFTER_ADDON) list.push(resolve(process.env.REDRAFTER_ADDON));
  list.push(join(root, 'build-cmake', 'Release', 'redrafter.node'));
  list.push(join(root, 'build', 'Release', 'redrafter.node'));
  list.push(...prebuiltAddons());
  return list;
}

// ---------------------------------------------------------------------------------------------
// optional backend modules: each its own .node beside the addon (redrafter_cuda.node: the CUDA engine;
// redrafter_trtllm.node: the TensorRT-LLM backend, linked to libtensorrt_llm), loaded only when its backend is asked
// for, so the addon itself never needs a GPU driver or GPU libraries and loads where they are absent. They carry the
// same executor glue (native/addon/engine.cpp) with their backend registered.
// ---------------------------------------------------------------------------------------------
/** A backend module's surface: the executor, with only its own backend in `backends`. */
export interface NativeBackendModule {
  readonly parts: readonly string[];
  readonly executor: NativeExecutor;
}

/** The optional backend modules: their file, the variable that overrides where it is, and how to build it. */
export const backendModules = {
  cuda: {
    file: 'redrafter_cuda.node',
    env: 'REDRAFTER_CUDA_ADDON',
    build: 'it is built by `npm run build` on a machine with nvcc (the CUDA toolkit) and cuBLAS headers ' +
      '(`pip install nvidia-cublas`); see docs/gpu.md',
  },
  'tensorrt-llm': {
    file: 'redrafter_trtllm.node',
    env: 'REDRAFTER_TRTLLM_ADDON',
    build: 'it is built by `npm run build` where TensorRT-LLM of a supported release and TensorRT\'s headers are found: ' +
      'TRTLLM_ROOT=<TensorRT-LLM cpp tree or pip tensorrt_llm package dir> TENSORRT_ROOT=<TensorRT> ' +
      'npx cmake-js compile --out build-cmake (configure says why when it is not built); see docs/tensorrt-llm.md',
  },
} as const;
export type BackendModuleName = keyof typeof backendModules;

/** Where backend module `name` may be: its variable, the cmake-js build. */
export function backendModuleCandidates(name: BackendModuleName): string[] {
  const m = backendModules[name];
  const list: string[] = [];
  const override = process.env[m.env];
  if (override) list.push(resolve(override));
  list.push(join(root, 'build-cmake', 'Release', m.file));
  return list;
}

/** Whether backend module `name` was built (its file exists; it is not loaded). */
export function backendModulePresent(name: BackendModuleName): boolean {
  return backendModuleCandidates(name).some((p) => existsSync(p));
}

const loadedModules = new Map<BackendModuleName, NativeBackendModule>();

/**
 * Loads backend module `name` once, the first candidate that exists. Not built: ERR_REDRAFTER_UNSUPPORTED naming where
 * it looked and how to build it; present but not loadable (a shared library it needs is missing or elsewhere than at
 * build time): ERR_REDRAFTER_BACKEND with the loader's (dlopen's) message and how to build it.
 */
export function loadBackendModule(name: BackendModuleName): NativeBackendModule {
  const done = loadedModules.get(name);
  if (done) return done;
  const m = backendModules[name];
  const candidates = backendModuleCandidates(name);
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw codedError(ErrorCodes.UNSUPPORTED,
      `backend '${name}': the module ${m.file} is not built (looked in ${candidates.join(', ')}); ${m.build}`);
  }
  let loaded: NativeBackendModule;
  try {
    loaded = createRequire(import.meta.url)(found) as NativeBackendModule;
  } catch (cause) {
    const err = codedError(ErrorCodes.BACKEND,
      `backend '${name}': ${found} could not be loaded: ${(cause as Error).message.trim()}; ${m.build}`);
    (err as Error).cause = cause;
    throw err;
  }
  loadedModules.set(name, loaded);
  return loaded;
}

let cached: NativeModule | undefined;

const buildHint = 'build it from source with `npm rebuild redrafter --build-from-source` (a C++17 compiler and ' +
  'CMake >= 3.18; approve the install script first where npm asks: `npm install-scripts approve redrafter`; in a ' +
  'checkout: `npm run build`)';

/**
 * Loads the native addon once: the first of addonCandidates() that exists. Throws an Error with code
 * ERR_REDRAFTER_ADDON_NOT_FOUND where none exists or the one found does not load here (the loader's reason).
 */
export function native(): NativeModule {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const candidates = addonCandidates();
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    const err = new Error(
      `redrafter: the native addon is not built (looked in ${candidates.join(', ')}; this package has no prebuilt ` +
        `addon for ${process.platform}-${process.arch}): ${buildHint}`,
    ) as Error & { code: string };
    err.code = 'ERR_REDRAFTER_ADDON_NOT_FOUND';
    throw err;
  }
  try {
    cached = require(found) as NativeModule;
  } catch (cause) {
    const reason = String((cause as Error).message).split('\n')[0];
    const err = new Error(`redrafter: the native addon ${found} does not load here (${reason}): ${buildHint}`, { cause }) as
      Error & { code: string };
    err.code = 'ERR_REDRAFTER_ADDON_NOT_FOUND';
    throw err;
  }
  return cached;
}

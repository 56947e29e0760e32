// The one typed contract for the whole native surface (the addon built from native/addon).
// Each section below is owned by one part of the addon (its REDRAFTER_ADDON_PART); keep them in sync.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

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

export interface NativeModelClass {
  load(path: string, options?: NativeModelLoadOptions): Promise<NativeModel>;
}

/** Tokenizer.info (native/addon/tokenizer.cpp). */
export interface NativeTokenizerInfo {
  readonly path: string;
  readonly format: 'llama2c' | 'gguf';
  readonly vocabSize: number;
  readonly bos: number;
  readonly eos: number;
  readonly unk: number;
  readonly addBos: boolean;
  readonly addSpacePrefix: boolean;
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
  /** bos: prepend BOS (default true); special: parse control-token texts such as "<s>" (default false). */
  encode(text: string, options?: { bos?: boolean; special?: boolean }): Int32Array;
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
  readonly config: {
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
  } | null;
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
  type?: 'f32' | 'f16' | 'bf16' | 'q8_0';
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
  readonly Tokenizer: NativeCpu['Tokenizer'];
  readonly inspectModel: NativeCpu['inspectModel'];
  readonly convertModel: NativeCpu['convertModel'];
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

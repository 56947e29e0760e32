// The benchmark addon (bench/native/bench_model.cpp, CMake target redrafter_bench): what bench/expand-model.ts needs
// from native to build the benchmark model. Not part of the package: `npm test` builds it (scripts/ctest.mjs), or
// `cmake --build build-cmake --target redrafter_bench` after `npm install`.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelArchitecture } from '../lib/native.js';

export interface NativeTensorF32 {
  /** 1 for vectors */
  readonly rows: number;
  readonly cols: number;
  /** [rows * cols] row-major */
  readonly data: Float32Array;
}

export interface NativeModelTensors {
  readonly path: string;
  readonly config: Omit<ModelArchitecture, 'headDim'>;
  /** Every tensor under its GGUF name (token_embd.weight, blk.N.attn_q.weight, ...), dequantised to f32. */
  readonly tensors: Readonly<Record<string, NativeTensorF32>>;
}

export interface NativeGgufTensorSpec {
  readonly name: string;
  /** 1 for a vector (written as f32 whatever the file type) */
  readonly rows: number;
  readonly cols: number;
  /** Called once, in order, while the file is written: returns the tensor's [rows * cols] values. */
  produce(): Float32Array;
}

/** A byte-level BPE vocabulary in GGUF's terms (tokenizer.ggml.model = gpt2). */
export interface NativeBpeVocabulary {
  /** tokenizer.ggml.pre, e.g. 'llama-bpe', 'qwen2' */
  readonly pre: string;
  readonly tokens: readonly string[];
  /** tokenizer.ggml.token_type per token (1 normal, 3 control, 4 user-defined, 5 unused) */
  readonly types: Int32Array;
  /** "left right", in rank order */
  readonly merges: readonly string[];
  readonly bos: number;
  readonly eos: number;
  readonly addBos: boolean;
  readonly addEos?: boolean;
}

export interface NativeGgufSpec {
  /** Matrix type of the file; vectors stay f32. */
  readonly type: 'f32' | 'f16';
  /** general.architecture (default llama) */
  readonly architecture?: 'llama' | 'qwen2' | 'qwen3';
  /** A tokenizer file (llama2.c tokenizer.bin or GGUF) whose vocabulary goes into the metadata ... */
  readonly tokenizer?: string;
  /** ... or a byte-level BPE vocabulary given in full. */
  readonly vocabulary?: NativeBpeVocabulary;
  readonly chatTemplate?: string;
  readonly name?: string;
  /** headDim: heads wider than dim / nHeads (written as <arch>.attention.key_length, as Qwen3 0.6B's); default
   *  dim / nHeads. */
  readonly config: Omit<ModelArchitecture, 'headDim' | 'tiedClassifier'> & { readonly headDim?: number };
  /** In file order; a tied classifier has no output.weight. */
  readonly tensors: readonly NativeGgufTensorSpec[];
}

export interface NativeBenchModel {
  /** Synchronous; for small source models (at most 2^28 weights). */
  readModelTensors(path: string): NativeModelTensors;
  /** Synchronous (calls the producers); writes through a temporary file renamed at the end. Returns path. */
  writeGguf(path: string, spec: NativeGgufSpec): string;
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
let cached: NativeBenchModel | undefined;

/** Loads the benchmark addon once; throws naming the build command where it was not built. */
export function benchModel(): NativeBenchModel {
  if (cached) return cached;
  const path = process.env.REDRAFTER_BENCH_ADDON ?? join(root, 'build-cmake', 'Release', 'redrafter_bench.node');
  if (!existsSync(path))
    throw new Error(`the benchmark addon is not built (${path}): run \`cmake --build build-cmake --target redrafter_bench\` after \`npm install\``);
  cached = (createRequire(import.meta.url)(path) as { benchModel: NativeBenchModel }).benchModel;
  return cached;
}

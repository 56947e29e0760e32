// The CPU engine from TypeScript: load a model, open contexts (one KV cache per sequence), run forwards.
import { invalidArgument } from './errors.js';
import {
  native,
  type NativeContext,
  type NativeForwardResult,
  type NativeModel,
  type NativeModelConfig,
  type NativeRoofline,
} from './native.js';

export type ModelConfig = NativeModelConfig;

export interface LoadModelOptions {
  /** Threads including the caller; 0 or absent = all hardware threads. */
  threads?: number;
  /** Force a kernel set (tests, benchmarks); default: the best this CPU runs. */
  isa?: 'avx512' | 'avx2' | 'portable';
}

export interface ForwardOptions {
  /** [n] RoPE positions; default cached length + i. */
  positions?: Int32Array | readonly number[];
  /** [n*n] row-major, row i: 1 where new token i attends new token j (j <= i, diagonal 1); default causal. */
  mask?: Uint8Array | readonly number[];
  /** Which of the n new tokens to return (indices into `tokens`); default all, in order. */
  outputs?: Int32Array | readonly number[];
  /** Also return the final hidden states (after the final norm), [nOut * dim]. */
  hidden?: boolean;
}

export type ForwardResult = NativeForwardResult;

/** One sequence of Model.forwardBatch. */
export interface BatchItem extends ForwardOptions {
  context: Context;
  tokens: Int32Array | readonly number[];
}

function nativeOptions(options: ForwardOptions, prefix: string): {
  positions?: Int32Array;
  mask?: Uint8Array;
  outputs?: Int32Array;
  hidden?: boolean;
} {
  if (typeof options !== 'object' || options === null) throw invalidArgument(`${prefix}options`, 'must be an object');
  const o: { positions?: Int32Array; mask?: Uint8Array; outputs?: Int32Array; hidden?: boolean } = {};
  if (options.positions !== undefined) o.positions = int32s(options.positions, `${prefix}positions`);
  if (options.mask !== undefined) o.mask = uint8s(options.mask, `${prefix}mask`);
  if (options.outputs !== undefined) o.outputs = int32s(options.outputs, `${prefix}outputs`);
  if (options.hidden !== undefined) {
    if (typeof options.hidden !== 'boolean') throw invalidArgument(`${prefix}hidden`, 'must be a boolean');
    o.hidden = options.hidden;
  }
  return o;
}

function int32s(value: Int32Array | readonly number[], field: string): Int32Array {
  if (value instanceof Int32Array) return value;
  if (!Array.isArray(value)) throw invalidArgument(field, 'must be an Int32Array or an array of integers');
  for (const [i, v] of value.entries())
    if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31)
      throw invalidArgument(`${field}[${i}]`, `must be a 32-bit integer, got ${String(v)}`);
  return Int32Array.from(value);
}

function uint8s(value: Uint8Array | readonly number[], field: string): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (!Array.isArray(value)) throw invalidArgument(field, 'must be a Uint8Array or an array of 0/1');
  for (const [i, v] of value.entries())
    if (v !== 0 && v !== 1) throw invalidArgument(`${field}[${i}]`, `must be 0 or 1, got ${String(v)}`, 'range');
  return Uint8Array.from(value);
}

/** One sequence's KV cache: forward appends tokens, commit keeps an accepted tree path, truncate rolls back. */
export class Context {
  readonly #native: NativeContext;

  /** @internal use model.createContext */
  constructor(nativeContext: NativeContext) {
    this.#native = nativeContext;
  }

  /** Cached tokens. */
  get length(): number {
    return this.#native.length;
  }
  get capacity(): number {
    return this.#native.capacity;
  }
  get disposed(): boolean {
    return this.#native.disposed;
  }

  /**
   * Computes `tokens` against the cache (written at slots length..length+n-1) and returns their logits
   * [nOut * vocab] (and hidden states). One forward at a time per context; rejects with
   * ERR_REDRAFTER_CONTEXT_OVERFLOW past capacity, leaving the context as it was.
   */
  async forward(tokens: Int32Array | readonly number[], options: ForwardOptions = {}): Promise<ForwardResult> {
    return this.#native.forward(int32s(tokens, 'tokens'), nativeOptions(options, ''));
  }

  /** Keeps the accepted packed indices (root first, strictly increasing) of the last forward; returns the length. */
  commit(acceptedPacked: Int32Array | readonly number[]): number {
    return this.#native.commit(int32s(acceptedPacked, 'acceptedPacked'));
  }

  /** Drops every cached token from `length` on; returns the new length. */
  truncate(length: number): number {
    if (!Number.isInteger(length)) throw invalidArgument('length', 'must be an integer');
    return this.#native.truncate(length);
  }

  dispose(): void {
    this.#native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** @internal the native object, for other parts of the library (executor, drafter). */
  get nativeContext(): NativeContext {
    return this.#native;
  }
}

/** A loaded LLaMA-family model on the CPU engine (llama2.c .bin or GGUF). */
export class Model {
  readonly #native: NativeModel;

  private constructor(nativeModel: NativeModel) {
    this.#native = nativeModel;
  }

  /** Loads (memory-maps) a model file off the event loop. */
  /**
   * This machine's limits for the CPU engine, measured with `threads` (default: all) and `isa` (default: the best):
   * the memory read bandwidth and the f32 FMA peak (native/cpu/engine/roofline.h); takes about a second.
   */
  static async measureRoofline(options: { threads?: number; isa?: string } = {}): Promise<NativeRoofline> {
    return native().Model.measureRoofline(options);
  }

  static async load(path: string, options: LoadModelOptions = {}): Promise<Model> {
    if (typeof path !== 'string' || path.length === 0) throw invalidArgument('path', 'must be a non-empty string');
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'must be an object');
    if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 0))
      throw invalidArgument('threads', 'must be a non-negative integer', 'range');
    return new Model(await native().Model.load(path, options));
  }

  get config(): ModelConfig {
    return this.#native.config;
  }
  get disposed(): boolean {
    return this.#native.disposed;
  }

  /** A new sequence with `capacity` cache slots (default: the model's context length). */
  createContext(options: { capacity?: number } = {}): Context {
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'must be an object');
    return new Context(this.#native.createContext(options));
  }

  /**
   * Several sequences (distinct contexts of this model) in one forward pass that reads the weights once; each
   * item's result is bit-identical to its own `context.forward`. Resolves to one result per item.
   */
  async forwardBatch(items: readonly BatchItem[]): Promise<ForwardResult[]> {
    if (!Array.isArray(items)) throw invalidArgument('items', 'must be an array');
    return this.#native.forwardBatch(items.map((item, i) => {
      const prefix = `items[${i}].`;
      if (typeof item !== 'object' || item === null) throw invalidArgument(`items[${i}]`, 'must be an object');
      if (!(item.context instanceof Context)) throw invalidArgument(`${prefix}context`, 'must be a Context');
      return { context: item.context.nativeContext, tokens: int32s(item.tokens, `${prefix}tokens`),
        ...nativeOptions(item, prefix) };
    }));
  }

  /** Frees the weights (once in-flight forwards finish); later use throws ERR_REDRAFTER_DISPOSED. */
  dispose(): void {
    this.#native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** @internal the native object, for other parts of the library (executor, drafter). */
  get nativeModel(): NativeModel {
    return this.#native;
  }
}

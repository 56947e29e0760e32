// `ops`: the ReDrafter core operators (native/core through native/addon/ops.cpp), typed and validated.
// For tests and engine-building scripts; generation uses the same C++ code internally.
//
// Shapes are written [dim, ...] over flat typed arrays in row-major order. A wrong typed array type or a
// length that does not match the shape is a TypeError, an out-of-range option a RangeError; both carry
// code ERR_REDRAFTER_INVALID_ARGUMENT and a message naming the field.
import { invalidArgument } from './errors.js';
import {
  native,
  type NativeBeamStep,
  type NativeCommitPlan,
  type NativePackedTrees,
  type NativeVerification,
} from './native.js';

/** The drafted beams' shape: `beams` is [batch, width, length]. */
export interface BeamShape {
  batch: number;
  width: number;
  length: number;
}

/**
 * The deduplicated, packed draft trees of a batch (apple/ml-recurrent-drafter tree_attention.pack).
 * Packed order is ascending flattened index `w*length + l` over the first beam holding each prefix.
 */
export interface PackedTrees {
  /** The longest packed tree over the batch (the padded row length). */
  maxLength: number;
  /** [batch] packed tokens per row. */
  lengths: Int32Array;
  /** [batch, maxLength] packed token ids; padding 0. */
  tokens: Int32Array;
  /** [batch, maxLength] the flattened beam index `w*length + l` each packed token came from; padding -1. */
  beamTokenIndex: Int32Array;
  /** [batch, maxLength] depth in the tree (= beamTokenIndex % length), added to the cached length for RoPE; padding -1. */
  positionOffsets: Int32Array;
  /** [batch, maxLength] packed index of the parent; -1 for the root and padding. */
  parents: Int32Array;
  /** [batch, width, length] packed index of every beam token: tokens[row][unpacker[row]] == beams[row]. */
  unpacker: Int32Array;
  /** [batch, maxLength, maxLength] 1 where packed token i may attend packed token j (j is i or an ancestor). */
  mask: Uint8Array;
}

/** One beam-search step's choice: [batch, width] each, by descending score. */
export interface BeamStep {
  /** [batch, width] new running log-probabilities. */
  scores: Float32Array;
  /** [batch, width] the beam each new beam extends. */
  parents: Int32Array;
  /** [batch, width] the token appended. */
  tokens: Int32Array;
}

/** The outcome of verifying a batch of drafts. */
export interface Verification {
  /** [batch] the chosen beam (for sampling: the first beam holding the accepted path). */
  beam: Int32Array;
  /** [batch] drafted tokens accepted, 0..length-1. */
  acceptedLength: Int32Array;
  /** [batch, length-1] the accepted drafted tokens, padding -1. */
  acceptedTokens: Int32Array;
  /** [batch] the LLM's own token after the accepted ones. */
  nextToken: Int32Array;
  /** [batch, length] packed indices of the accepted path, root first, padding -1 (feed to kvCommitPlan). */
  acceptedPacked: Int32Array;
}

/** KV-cache slot moves, to apply in order (each `to[i] <= from[i]`, safe in place). */
export interface CommitPlan {
  from: Int32Array;
  to: Int32Array;
  /** cachedLength + the accepted path length. */
  newLength: number;
}

export type Acceptance = 'exact' | 'apple';

export interface SamplingOptions {
  /** > 0; default 1. */
  temperature?: number;
  /** Keep the k most likely tokens (ties kept); 0 (default) is off. */
  topK?: number;
  /** Keep the smallest most-likely set reaching this mass; in (0, 1], default 1 (off). */
  topP?: number;
  /** Seed of the reproducible random source (an integer in [0, 2^53)); default 0. */
  seed?: number;
  /**
   * 'exact' (default): recursive rejection over the deduplicated tree, which keeps the LLM's distribution.
   * 'apple': apple/ml-recurrent-drafter's rule (accept while rand < p/q; resample from relu(p - q)),
   * biased with a deterministic beam search; needs `drafterLogProbs`. Apple's own pipeline samples the LLM
   * after its top-50 warp, i.e. `topK: 50` here.
   */
  acceptance?: Acceptance;
  /** [batch, width, length-1, vocab] the drafter's log-probabilities of each drafted position ('apple' only). */
  drafterLogProbs?: Float32Array;
}

type TypedArrayCtor = Int32ArrayConstructor | Float32ArrayConstructor | Uint8ArrayConstructor;

function options(value: unknown, field = 'options'): Record<string, unknown> {
  if (typeof value !== 'object' || value === null) throw invalidArgument(field, 'must be an object');
  return value as Record<string, unknown>;
}

function typed<T>(value: unknown, ctor: TypedArrayCtor, field: string): T {
  if (!(value instanceof ctor)) throw invalidArgument(field, `must be an ${ctor.name}`);
  return value as T;
}

function int(opts: Record<string, unknown>, key: string, min: number, max = 2 ** 31 - 1, fallback?: number): number {
  const v = opts[key];
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw invalidArgument(key, 'must be an integer');
  if (v < min || v > max) throw invalidArgument(key, `must be in [${min}, ${max}], got ${v}`, 'range');
  return v;
}

function num(opts: Record<string, unknown>, key: string, fallback: number, ok: (v: number) => boolean, range: string): number {
  const v = opts[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || Number.isNaN(v)) throw invalidArgument(key, 'must be a number');
  if (!ok(v)) throw invalidArgument(key, `must be ${range}, got ${v}`, 'range');
  return v;
}

function shapedLength(array: { length: number }, field: string, expected: number, shape: string): void {
  if (array.length !== expected) {
    throw invalidArgument(field, `must have ${shape} = ${expected} elements, got ${array.length}`);
  }
}

function beamShape(opts: Record<string, unknown>): BeamShape {
  return { batch: int(opts, 'batch', 1), width: int(opts, 'width', 1), length: int(opts, 'length', 1) };
}

function beamsArg(beams: unknown, s: BeamShape): Int32Array {
  const b = typed<Int32Array>(beams, Int32Array, 'beams');
  shapedLength(b, 'beams', s.batch * s.width * s.length, 'batch*width*length');
  return b;
}

/**
 * ReDrafter's dynamic tree attention preparation: per batch row, deduplicate the beams' shared prefixes
 * and pack the remaining tokens (O(width*length*log(width)) per row).
 * @param beams [batch, width, length] drafted token ids, each beam starting with the LLM's own token.
 */
export function buildTree(beams: Int32Array, shape: BeamShape): PackedTrees {
  const s = beamShape(options(shape));
  return native().ops.buildTree(beamsArg(beams, s), s) satisfies NativePackedTrees;
}

/**
 * One drafter beam-search step (apple/ml-recurrent-drafter beam_search_candidates): the top `width`
 * (beam, token) pairs over width*vocab by scores[b][w] + logProbs[b][w][t]; ties to the lower beam*vocab+token.
 * With `firstStep` only beam 0 grows (the other beams start at Apple's LOG_0 = -50000).
 * @param scores [batch, width] running beam log-probabilities.
 * @param logProbs [batch, width, vocab] next-token log-probabilities per beam (see appleProcessLogits).
 */
export function beamSearchStep(
  scores: Float32Array,
  logProbs: Float32Array,
  opts: { batch: number; width: number; vocab: number; firstStep?: boolean },
): BeamStep {
  const o = options(opts);
  const batch = int(o, 'batch', 1), width = int(o, 'width', 1), vocab = int(o, 'vocab', 1);
  if (o.firstStep !== undefined && typeof o.firstStep !== 'boolean') throw invalidArgument('firstStep', 'must be a boolean');
  const sc = typed<Float32Array>(scores, Float32Array, 'scores');
  shapedLength(sc, 'scores', batch * width, 'batch*width');
  const lp = typed<Float32Array>(logProbs, Float32Array, 'logProbs');
  shapedLength(lp, 'logProbs', batch * width * vocab, 'batch*width*vocab');
  return native().ops.beamSearchStep(sc, lp, { batch, width, vocab, firstStep: o.firstStep === true }) satisfies NativeBeamStep;
}

/**
 * Apple's drafter logit processing, per row: subtract the max, keep the top `topK` (default 50; ties kept),
 * set the rest to -50000, then log-softmax. Returns a new array.
 * @param logits [rows, vocab]
 */
export function appleProcessLogits(logits: Float32Array, opts: { vocab: number; topK?: number }): Float32Array {
  const o = options(opts);
  const vocab = int(o, 'vocab', 1);
  const topK = int(o, 'topK', 1, 2 ** 31 - 1, 50);
  const l = typed<Float32Array>(logits, Float32Array, 'logits');
  if (l.length === 0 || l.length % vocab !== 0) {
    throw invalidArgument('logits', `must have rows*vocab elements (vocab ${vocab}), got ${l.length}`);
  }
  return native().ops.appleProcessLogits(l, { vocab, topK });
}

/**
 * Greedy verification: per row, the beam whose drafted tokens beams[w][1:] match the LLM's argmax at the
 * preceding packed position for longest (ties: lowest beam), its accepted tokens and the LLM's next token.
 * Give the LLM's output over the packed tree (buildTree's order) either as `argmax` [batch, maxLength] or
 * as `logits` [batch, maxLength, vocab] with `vocab` (argmax taken here, first maximum).
 * @param beams [batch, width, length]
 */
export function verifyGreedy(
  beams: Int32Array,
  opts: BeamShape & ({ argmax: Int32Array; logits?: undefined } | { logits: Float32Array; vocab: number; argmax?: undefined }),
): Verification {
  const o = options(opts);
  const s = beamShape(o);
  const b = beamsArg(beams, s);
  if (o.argmax !== undefined && o.logits !== undefined) throw invalidArgument('argmax', 'and logits are exclusive: give one');
  if (o.argmax !== undefined) {
    return native().ops.verifyGreedy(b, typed<Int32Array>(o.argmax, Int32Array, 'argmax'), s) satisfies NativeVerification;
  }
  if (o.logits === undefined) throw invalidArgument('argmax', 'or logits is required');
  const vocab = int(o, 'vocab', 1);
  const logits = typed<Float32Array>(o.logits, Float32Array, 'logits');
  return native().ops.verifyGreedy(b, logits, { ...s, vocab });
}

/**
 * Verification with sampling. 'exact': walk the deduplicated tree from the root; at each node try its children
 * in packed order, accepting child c with probability p'(c) (p' = the LLM's distribution there after
 * temperature / top-k / top-p), on rejection set p'(c) = 0 and renormalise; when all are rejected (or at a leaf)
 * sample the next token from p'. This keeps the LLM's output distribution exactly. 'apple': Apple's rule.
 * @param beams [batch, width, length]
 * @param logits [batch, maxLength, vocab] the LLM's logits over the packed tree (buildTree's order).
 */
export function verifySampling(
  beams: Int32Array,
  logits: Float32Array,
  opts: BeamShape & { vocab: number } & SamplingOptions,
): Verification {
  const o = options(opts);
  const s = beamShape(o);
  const vocab = int(o, 'vocab', 1);
  const temperature = num(o, 'temperature', 1, (v) => Number.isFinite(v) && v > 0, 'a finite number > 0');
  const topK = int(o, 'topK', 0, 2 ** 31 - 1, 0);
  const topP = num(o, 'topP', 1, (v) => v > 0 && v <= 1, 'in (0, 1]');
  const seed = int(o, 'seed', 0, Number.MAX_SAFE_INTEGER, 0);
  const acceptance = o.acceptance ?? 'exact';
  if (acceptance !== 'exact' && acceptance !== 'apple') {
    throw invalidArgument('acceptance', `must be 'exact' or 'apple', got ${JSON.stringify(acceptance)}`, 'range');
  }
  const b = beamsArg(beams, s);
  const l = typed<Float32Array>(logits, Float32Array, 'logits');
  let drafterLogProbs: Float32Array | undefined;
  if (acceptance === 'apple') {
    if (o.drafterLogProbs === undefined) throw invalidArgument('drafterLogProbs', "is required with acceptance 'apple'");
    drafterLogProbs = typed<Float32Array>(o.drafterLogProbs, Float32Array, 'drafterLogProbs');
    shapedLength(drafterLogProbs, 'drafterLogProbs', s.batch * s.width * (s.length - 1) * vocab, 'batch*width*(length-1)*vocab');
  }
  return native().ops.verifySampling(b, l, {
    ...s,
    vocab,
    temperature,
    topK,
    topP,
    seed,
    acceptance,
    drafterLogProbs,
  }) satisfies NativeVerification;
}

/**
 * The KV-cache commit plan for an accepted path: the tree's entries sit at slots cachedLength + packedIndex;
 * move the accepted ones to follow the cached prefix contiguously, dropping the rest.
 * @param acceptedPacked [count] packed indices of the accepted path, root first, strictly increasing (from a
 *   Verification's acceptedPacked row without its -1 padding).
 */
export function kvCommitPlan(acceptedPacked: Int32Array, opts: { cachedLength: number }): CommitPlan {
  const o = options(opts);
  const cachedLength = int(o, 'cachedLength', 0);
  const path = typed<Int32Array>(acceptedPacked, Int32Array, 'acceptedPacked');
  return native().ops.kvCommitPlan(path, { cachedLength }) satisfies NativeCommitPlan;
}

/** The ReDrafter core operators. */
export const ops = { buildTree, beamSearchStep, appleProcessLogits, verifyGreedy, verifySampling, kvCommitPlan };

// Validation of session and generation options: each bad value throws a TypeError/RangeError naming the field, and
// each unknown option name a TypeError naming it and the closest valid name.
import { invalidArgument } from './errors.js';

/** Type-level check that a list of option names is exactly the keys of an options interface. */
export type SameKeys<List extends string, Keys> = [List] extends [Keys] ? ([Keys] extends [List] ? true : never) : never;

/** The edit distance between two names compared without case, '_' or '-' (so max_tokens matches maxTokens); a name
 *  that begins the other (adaptive, adaptiveDraft) counts as one edit. */
function nameDistance(a: string, b: string): number {
  const norm = (s: string) => s.toLowerCase().replace(/[_\-\s]/g, '');
  const x = norm(a), y = norm(b);
  if (x !== y && Math.min(x.length, y.length) >= 4 && (x.startsWith(y) || y.startsWith(x))) return 1;
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++)
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[y.length]!;
}

/** The valid name closest to `name`, when one is close enough to be a likely misspelling. */
export function closestName(name: string, valid: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const v of valid) {
    const d = nameDistance(name, v);
    if (d < bestDistance) [best, bestDistance] = [v, d];
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/**
 * Refuses option names not in `valid` (own enumerable string keys; undefined values included): a TypeError
 * (ERR_REDRAFTER_INVALID_ARGUMENT) naming the unknown key and the closest valid name, or listing the valid ones.
 */
export function rejectUnknownOptions(options: object, valid: readonly string[], what: string): void {
  for (const key of Object.keys(options)) {
    if (valid.includes(key)) continue;
    const near = closestName(key, valid);
    throw invalidArgument(key, `is not ${what} option` +
      (near ? ` (did you mean ${near}?)` : ` (valid: ${valid.join(', ')})`));
  }
}

/** Every SessionOptions name. */
export const sessionOptionNames = ['beamWidth', 'beamLength', 'adaptiveDraft'] as const;
/** Every GenerateOptions name. */
export const generateOptionNames = ['maxTokens', 'temperature', 'topK', 'topP', 'seed', 'stop', 'signal', 'acceptance'] as const;

export interface SessionOptions {
  /**
   * Beams drafted per step; 0 = plain autoregressive decoding. Default with a drafter: on the CPU engine by model
   * size (`defaultBeamShape`: 1, a single chain), on an engine that reports no size 8; without a drafter 0.
   */
  beamWidth?: number;
  /**
   * Tokens per beam, the LLM's own token included (so beamLength-1 drafted). Default: on the CPU engine by model
   * size (`defaultBeamShape`: 8 from 30M parameters, else 4), else 5.
   */
  beamLength?: number;
  /**
   * Let the engine use a smaller shape (a shorter chain) or plain decoding on the steps where that is measured to
   * be faster (never a larger one). Greedy output is the same whatever shape a step uses; sampled output follows the
   * same distribution, but which tokens a seed gives then depends on the shapes chosen, which depend on timing.
   * 'greedy': adaptive for greedy requests (temperature 0), fixed shape when sampling, so a seed reproduces its
   * tokens. true: always; false: never. Default: false when beamWidth or beamLength is given (an explicit shape is
   * pinned: every step runs it); else on the CPU engine 'greedy' for models under 30M parameters
   * (`defaultAdaptiveDraft`: forwards so cheap that drafting may not pay), else false (there the size's chain pays,
   * and measuring the alternatives costs more than it finds). `stats.beamShapes` tells which shapes ran.
   */
  adaptiveDraft?: boolean | 'greedy';
}
true satisfies SameKeys<(typeof sessionOptionNames)[number], keyof SessionOptions>;

/**
 * The CPU engine's default beam shape for a model of `parameters` weights, from the measured trade-off between tree
 * size and acceptance (docs/speed.md, "The choice of beam shape"): on a CPU every verified token costs compute, so
 * one long chain beats a wide tree; the larger (more memory-bound) the model, the more tokens a verification can
 * carry for little more than a single-token forward.
 */
export function defaultBeamShape(parameters: number): { beamWidth: number; beamLength: number } {
  if (parameters >= 30e6) return { beamWidth: 1, beamLength: 8 };
  return { beamWidth: 1, beamLength: 4 };
}

export interface GenerateOptions {
  /** New tokens at most (default 256). */
  maxTokens?: number;
  /** 0 (default) = greedy; > 0 samples from the model's distribution (exactly, also with drafting); at most 1e6. */
  temperature?: number;
  /** Keep the k most likely tokens when sampling (0 = off). */
  topK?: number;
  /** Keep the smallest set of tokens with this much probability when sampling (1 = off). */
  topP?: number;
  /** Seeds the sampler (default 0): the same seed gives the same tokens. */
  seed?: number;
  /** Generation ends before the first of these strings (which is not part of the text). */
  stop?: string | readonly string[];
  /** Aborting stops generation within one step; the session stays usable. */
  signal?: AbortSignal;
  /** 'exact' (default): lossless; 'apple': apple/ml-recurrent-drafter's acceptance rule when sampling. */
  acceptance?: 'exact' | 'apple';
}
true satisfies SameKeys<(typeof generateOptionNames)[number], keyof GenerateOptions>;

/** The largest temperature accepted (the one bound; the native side takes what this layer passed). Above about
 *  1e3 sampling is already uniform over the kept tokens. */
export const MAX_TEMPERATURE = 1e6;

export interface ResolvedGenerateOptions {
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
  stop: string[];
  signal: AbortSignal | undefined;
  acceptance: 'exact' | 'apple';
}

function integer(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value))
    throw invalidArgument(field, `must be an integer, got ${describe(value)}`);
  if (value < min || value > max) throw invalidArgument(field, `must be in [${min}, ${max}], got ${value}`, 'range');
  return value;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  return typeof value;
}

function options(value: unknown, field: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null) throw invalidArgument(field, 'must be an object');
  return value as Record<string, unknown>;
}

export function resolveSessionOptions(
  value: unknown,
  limits: { hasDrafter: boolean; maxBeamWidth: number; maxBeamLength: number; fixedBeamShape?: boolean; parameters?: number },
): { beamWidth: number; beamLength: number } {
  const o = options(value, 'options');
  rejectUnknownOptions(o, sessionOptionNames, 'a session');
  if (limits.fixedBeamShape && limits.hasDrafter) {
    // TensorRT-LLM: the beam shape is compiled into the engine; only its own values (the defaults) are accepted.
    const fixed = { beamWidth: limits.maxBeamWidth, beamLength: limits.maxBeamLength };
    for (const field of ['beamWidth', 'beamLength'] as const) {
      if (o[field] === undefined) continue;
      const v = integer(o[field], field, 0, 1 << 16);
      if (v !== fixed[field])
        throw invalidArgument(field, `must be ${fixed[field]} (or left out): this engine's beam shape was fixed when it was ` +
          `built (${fixed.beamWidth} beams of ${fixed.beamLength} tokens)${field === 'beamWidth' && v === 0 ? '; plain decoding needs an engine built without a drafter' : ''}, got ${v}`, 'range');
    }
    return fixed;
  }
  if (!limits.hasDrafter) {
    if (o.beamWidth !== undefined && integer(o.beamWidth, 'beamWidth', 0, 1 << 16) !== 0)
      throw invalidArgument('beamWidth', 'must be 0: the engine was loaded without a drafter', 'range');
    if (o.beamLength !== undefined && integer(o.beamLength, 'beamLength', 0, 1 << 16) !== 0)
      throw invalidArgument('beamLength', 'must be left out (or 0): the engine was loaded without a drafter', 'range');
    return { beamWidth: 0, beamLength: 0 };
  }
  const shape = limits.parameters ? defaultBeamShape(limits.parameters) : { beamWidth: 8, beamLength: 5 };
  const beamWidth = o.beamWidth === undefined ? Math.min(shape.beamWidth, limits.maxBeamWidth) : integer(o.beamWidth, 'beamWidth', 0, limits.maxBeamWidth);
  const beamLength = o.beamLength === undefined ? Math.min(shape.beamLength, limits.maxBeamLength) : integer(o.beamLength, 'beamLength', 2, limits.maxBeamLength);
  return { beamWidth, beamLength };
}

/**
 * The CPU engine's default SessionOptions.adaptiveDraft for a model of `parameters` weights: 'greedy' below 30M
 * parameters, where a forward is so cheap that drafting may not pay (stories260K: W=8 L=5 fixed is 0.44x plain
 * decoding); off above, where the default chain pays and the adaptive shape's warm-up and probes of slower shapes
 * only cost (1B expansion, f16, 64 tokens: 2.24x adaptive vs 2.74-2.81x fixed; docs/speed.md).
 */
export function defaultAdaptiveDraft(parameters: number): false | 'greedy' {
  return parameters > 0 && parameters < 30e6 ? 'greedy' : false;
}

/** SessionOptions.adaptiveDraft (default: false when beamWidth or beamLength is given, so an explicit shape is the
 *  shape that runs; else defaultAdaptiveDraft); always false on an engine whose beam shape is fixed. */
export function resolveAdaptiveDraft(
  value: unknown,
  limits: { hasDrafter: boolean; fixedBeamShape?: boolean; parameters?: number },
): boolean | 'greedy' {
  const o = options(value, 'options');
  if (o.adaptiveDraft !== undefined && typeof o.adaptiveDraft !== 'boolean' && o.adaptiveDraft !== 'greedy')
    throw invalidArgument('adaptiveDraft', `must be true, false or 'greedy', got ${describe(o.adaptiveDraft)}`);
  if (!limits.hasDrafter || limits.fixedBeamShape) return false;
  if (o.adaptiveDraft !== undefined) return o.adaptiveDraft as boolean | 'greedy';
  // an explicit beam shape is the shape every step runs, unless adaptiveDraft says otherwise
  if (o.beamWidth !== undefined || o.beamLength !== undefined) return false;
  return defaultAdaptiveDraft(limits.parameters ?? 0);
}

export function resolveGenerateOptions(value: unknown): ResolvedGenerateOptions {
  const o = options(value, 'options');
  rejectUnknownOptions(o, generateOptionNames, 'a generate');
  const maxTokens = o.maxTokens === undefined ? 256 : integer(o.maxTokens, 'maxTokens', 1, 2 ** 31 - 1);
  let temperature = 0;
  if (o.temperature !== undefined) {
    if (typeof o.temperature !== 'number' || Number.isNaN(o.temperature))
      throw invalidArgument('temperature', `must be a number, got ${describe(o.temperature)}`);
    if (!(o.temperature >= 0 && o.temperature <= MAX_TEMPERATURE))
      throw invalidArgument('temperature', `must be in [0, ${MAX_TEMPERATURE}], got ${o.temperature}`, 'range');
    temperature = o.temperature;
  }
  const topK = o.topK === undefined ? 0 : integer(o.topK, 'topK', 0, 2 ** 31 - 1);
  let topP = 1;
  if (o.topP !== undefined) {
    if (typeof o.topP !== 'number' || Number.isNaN(o.topP))
      throw invalidArgument('topP', `must be a number, got ${describe(o.topP)}`);
    if (!(o.topP > 0 && o.topP <= 1)) throw invalidArgument('topP', `must be in (0, 1], got ${o.topP}`, 'range');
    topP = o.topP;
  }
  const seed = o.seed === undefined ? 0 : integer(o.seed, 'seed', 0, Number.MAX_SAFE_INTEGER);
  let stop: string[] = [];
  if (o.stop !== undefined) {
    const list = typeof o.stop === 'string' ? [o.stop] : o.stop;
    if (!Array.isArray(list)) throw invalidArgument('stop', 'must be a string or an array of strings');
    for (const [i, s] of list.entries()) {
      if (typeof s !== 'string') throw invalidArgument(`stop[${i}]`, `must be a string, got ${describe(s)}`);
      if (s.length === 0) throw invalidArgument(`stop[${i}]`, 'must not be empty', 'range');
    }
    stop = [...list] as string[];
  }
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal))
    throw invalidArgument('signal', 'must be an AbortSignal');
  const acceptance = o.acceptance === undefined ? 'exact' : o.acceptance;
  if (acceptance !== 'exact' && acceptance !== 'apple')
    throw invalidArgument('acceptance', `must be 'exact' or 'apple', got ${describe(acceptance)}`, 'range');
  return { maxTokens, temperature, topK, topP, seed, stop, signal: o.signal as AbortSignal | undefined, acceptance };
}

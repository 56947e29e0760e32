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

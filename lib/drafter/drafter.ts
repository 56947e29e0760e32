// Loading and saving Apple-format drafter directories (config.json + model.safetensors; read and written natively), and
// the Drafter class.
import { invalidArgument } from '../errors.js';
import {
  native, type NativeDraftResult, type NativeDrafterInstance, type NativeDrafterWeightType, type NativeModel,
} from '../native.js';
import { Model } from '../model.js';
import type { DrafterConfig, DrafterModelInfo } from './config.js';

export type DrafterDType = 'F32' | 'F16' | 'BF16';

/**
 * The precision of the copies of its matrices a drafter drafts with: 'f32' (its float32 weights), 'f16' (half the
 * bytes read per drafted token), 'q8_0' (ggml's Q8_0, 8-bit blocks of 32 with an fp16 scale: about a quarter of
 * float32's bytes) or 'q4_0' (ggml's Q4_0, 4-bit blocks: about an eighth); a matrix whose input size is not a
 * multiple of 32 stays f16. Drafts may differ slightly from float32 ones; generation stays exact whatever the type
 * (verification decides), so the type moves only how many drafted tokens are accepted and what drafting costs.
 */
export type DrafterWeightType = NativeDrafterWeightType;
export const drafterWeightTypes: readonly DrafterWeightType[] = ['f32', 'f16', 'q8_0', 'q4_0'];

/** `value` as a DrafterWeightType, else ERR_REDRAFTER_INVALID_ARGUMENT naming `field`. */
export function drafterWeightTypeOption(value: unknown, field: string): DrafterWeightType | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !(drafterWeightTypes as readonly string[]).includes(value))
    throw invalidArgument(field, `must be one of ${drafterWeightTypes.map((t) => `'${t}'`).join(', ')}, got ${JSON.stringify(value)}`);
  return value as DrafterWeightType;
}

export interface LoadDrafterOptions {
  /** The LLM it drafts for: its hidden size and vocabulary must match (checked at load). */
  model?: Model | DrafterModelInfo;
  /** Threads for the vocabulary projection of large drafters (default 1). */
  threads?: number;
  /** The precision it drafts with (DrafterWeightType). Default 'f32'. */
  weightType?: DrafterWeightType;
  /** @deprecated use weightType: true is 'f16', false 'f32'. */
  halfWeights?: boolean;
}

export interface DraftOptions {
  beamWidth: number;
  beamLength: number;
}

function nativeModelOf(model: Model | NativeModel): NativeModel {
  return model instanceof Model ? model.nativeModel : model;
}

/** Apple's recurrent drafter, in native memory. */
export class Drafter {
  readonly #native: NativeDrafterInstance;

  /** @internal use loadDrafter or Drafter.fromTensors */
  constructor(nativeDrafter: NativeDrafterInstance) {
    this.#native = nativeDrafter;
  }

  /** A drafter from float32 tensors under Apple's names (all of them, of the config's shapes). */
  static fromTensors(config: DrafterConfig, tensors: Record<string, Float32Array>, source = 'drafter',
    options: { threads?: number; weightType?: DrafterWeightType } = {}): Drafter {
    const weightType = drafterWeightTypeOption(options.weightType, 'weightType');
    return new Drafter(new (native().Drafter)(config, tensors, source, { threads: options.threads, weightType }));
  }

  get config(): DrafterConfig {
    return this.#native.config;
  }

  /** The directory it was loaded from (or the name it was given). */
  get source(): string {
    return this.#native.source;
  }

  /** The precision it drafts with. */
  get weightType(): DrafterWeightType {
    return this.#native.weightType;
  }

  /** Copies of its tensors under Apple's names. */
  tensors(): Record<string, Float32Array> {
    return this.#native.tensors();
  }

  /** Throws ERR_REDRAFTER_INVALID_MODEL naming both values unless it fits the model. */
  checkModel(model: Model): void {
    this.#native.checkModel(model.nativeModel);
  }

  /**
   * Beam search: hidden [batch*hiddenSize] (the LLM's final hidden states), lastToken [batch] (its tokens).
   * Returns beams [batch, W, L], logProbs [batch, W, L-1, vocab] and scores [batch, W].
   */
  async draft(embeddings: Model | Float32Array, hidden: Float32Array, lastToken: Int32Array,
    options: DraftOptions): Promise<NativeDraftResult> {
    const e = embeddings instanceof Float32Array ? embeddings : nativeModelOf(embeddings);
    return this.#native.draft(e, hidden, lastToken, options);
  }

  /** @internal the native object, for other parts of the library (executor). */
  get nativeDrafter(): NativeDrafterInstance {
    return this.#native;
  }
}

/** Reads a drafter directory (config.json + model.safetensors in F32, F16 or BF16) into a native Drafter, off the event
 *  loop (the native reader: native/model/drafter_file.h). Errors are coded and name the file and the field:
 *  ERR_REDRAFTER_IO for a file that cannot be read, ERR_REDRAFTER_INVALID_MODEL for a malformed one or one made for
 *  another model (`options.model`). */
export async function loadDrafter(dir: string, options: LoadDrafterOptions = {}): Promise<Drafter> {
  if (typeof dir !== 'string' || dir === '') throw invalidArgument('drafter', 'must be a directory path');
  const m = options.model instanceof Model ? options.model.config : options.model;
  const weightType = weightTypeOf(options.weightType, options.halfWeights, 'weightType', 'halfWeights') ?? 'f32';
  return new Drafter(await native().Drafter.load(dir, {
    threads: options.threads ?? 1,
    weightType,
    model: m ? { dim: m.dim, vocabSize: m.vocabSize, ...(m.path ? { path: m.path } : {}) } : undefined,
  }));
}

/**
 * The weight type given as `typeField` or through its deprecated boolean alias `halfField` (true: 'f16', false:
 * 'f32'); undefined when neither is given. Errors name the field: a bad value, or both given.
 */
export function weightTypeOf(type: unknown, half: unknown, typeField: string, halfField: string): DrafterWeightType | undefined {
  const t = drafterWeightTypeOption(type, typeField);
  if (half === undefined) return t;
  if (typeof half !== 'boolean') throw invalidArgument(halfField, 'must be a boolean');
  if (t !== undefined) throw invalidArgument(halfField, `cannot be given with ${typeField} (use ${typeField} alone)`);
  return half ? 'f16' : 'f32';
}

export interface SaveDrafterOptions {
  /** Stored precision (default F32). */
  dtype?: DrafterDType;
  /** safetensors __metadata__ (strings). */
  metadata?: Record<string, string>;
}

/**
 * Writes a drafter directory in Apple's layout (the native writer: native/model/drafter_file.h), off the event loop.
 * Each file goes to a temporary name first and is renamed into place when complete, so a failure never leaves a
 * half-written drafter.
 */
export async function saveDrafter(dir: string, config: DrafterConfig, tensors: Record<string, Float32Array>,
  options: SaveDrafterOptions = {}): Promise<void> {
  if (typeof dir !== 'string' || dir === '') throw invalidArgument('dir', 'must be a directory path');
  await native().Drafter.save(dir, config, tensors, { dtype: options.dtype ?? 'F32', metadata: options.metadata });
}

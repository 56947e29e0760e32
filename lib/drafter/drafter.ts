// Loading and saving Apple-format drafter directories (config.json + model.safetensors; read and written natively), and
// the Drafter class.
import { invalidArgument } from '../errors.js';
import { native, type NativeDraftResult, type NativeDrafterInstance, type NativeModel } from '../native.js';
import { Model } from '../model.js';
import type { DrafterConfig, DrafterModelInfo } from './config.js';

export type DrafterDType = 'F32' | 'F16' | 'BF16';

export interface LoadDrafterOptions {
  /** The LLM it drafts for: its hidden size and vocabulary must match (checked at load). */
  model?: Model | DrafterModelInfo;
  /** Threads for the vocabulary projection of large drafters (default 1). */
  threads?: number;
  /**
   * Draft with float16 copies of the matrices (half the bytes read per drafting step; drafts may differ slightly from
   * float32 ones, generation stays exact). Default false.
   */
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
    options: { threads?: number } = {}): Drafter {
    return new Drafter(new (native().Drafter)(config, tensors, source, options));
  }

  get config(): DrafterConfig {
    return this.#native.config;
  }

  /** The directory it was loaded from (or the name it was given). */
  get source(): string {
    return this.#native.source;
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
  return new Drafter(await native().Drafter.load(dir, {
    threads: options.threads ?? 1,
    halfWeights: options.halfWeights === true,
    model: m ? { dim: m.dim, vocabSize: m.vocabSize, ...(m.path ? { path: m.path } : {}) } : undefined,
  }));
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

// Loading and saving Apple-format drafter directories (config.json + model.safetensors), and the Drafter class.
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { codedError, ErrorCodes, invalidArgument, type RedrafterError } from '../errors.js';
import { native, type NativeDraftResult, type NativeDrafterInstance, type NativeModel } from '../native.js';
import { Model } from '../model.js';
import { SafetensorsReader, SafetensorsWriter, type SafetensorsDType } from '../safetensors.js';
import {
  checkDrafterMatchesModel,
  checkDraftLayersFit,
  drafterConfigJson,
  drafterTensorShapes,
  invalidModel,
  parseDrafterConfig,
  type DrafterConfig,
  type DrafterModelInfo,
} from './config.js';

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

async function readConfig(dir: string): Promise<{ config: DrafterConfig; file: string }> {
  const file = join(dir, 'config.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw codedError(ErrorCodes.IO, `${file}: cannot read the drafter config: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw invalidModel(`${file}: not valid JSON (${(err as Error).message})`);
  }
  return { config: parseDrafterConfig(json, file), file };
}

/** Reads a drafter directory (config.json + model.safetensors in F32, F16 or BF16) into a native Drafter. */
export async function loadDrafter(dir: string, options: LoadDrafterOptions = {}): Promise<Drafter> {
  if (typeof dir !== 'string' || dir === '') throw invalidArgument('drafter', 'must be a directory path');
  const { config, file: configFile } = await readConfig(dir);
  if (options.model) {
    const info = options.model instanceof Model ? options.model.config : options.model;
    checkDrafterMatchesModel(config, dir, info);
  }
  const file = join(dir, 'model.safetensors');
  await using reader = await SafetensorsReader.open(file);
  checkDraftLayersFit(config.numDraftLayers, configFile, file, reader.names().length);
  const tensors: Record<string, Float32Array> = {};
  const expected = drafterTensorShapes(config);
  const names = new Set(expected.map((t) => t.name));
  // the tensors must be the ones the config declares: the messages name both files, either may be the wrong one
  const declared = `${configFile} (exit_dim ${config.exitDim}, hidden_size ${config.hiddenSize}, num_draft_layers ` +
    `${config.numDraftLayers}, rnn ${config.rnn})`;
  for (const name of reader.names()) {
    if (!names.has(name)) throw invalidModel(`${file}: unexpected tensor ${name} for ${declared}`);
  }
  for (const { name, shape } of expected) {
    if (!reader.has(name)) throw invalidModel(`${file}: tensor ${name} is missing; ${declared} needs it`);
    const info = reader.info(name);
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw invalidModel(`${file}: tensor ${name} has shape [${info.shape.join(', ')}], ${configFile} needs ` +
        `[${shape.join(', ')}]`);
    }
    if (info.dtype !== 'F32' && info.dtype !== 'F16' && info.dtype !== 'BF16') {
      throw invalidModel(`${file}: tensor ${name} has dtype ${info.dtype}; drafters are F32, F16 or BF16`);
    }
    tensors[name] = await reader.readFloat32(name);
  }
  return new Drafter(
    new (native().Drafter)(config, tensors, dir, { threads: options.threads ?? 1, halfWeights: options.halfWeights === true }),
  );
}

export interface SaveDrafterOptions {
  /** Stored precision (default F32). */
  dtype?: DrafterDType;
  /** safetensors __metadata__ (strings). */
  metadata?: Record<string, string>;
}

const torchDtypes: Record<DrafterDType, string> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/**
 * Writes a drafter directory in Apple's layout. Each file goes to a temporary name first and is renamed into place
 * when complete, so a failure never leaves a half-written drafter.
 */
export async function saveDrafter(dir: string, config: DrafterConfig, tensors: Record<string, Float32Array>,
  options: SaveDrafterOptions = {}): Promise<void> {
  const dtype: SafetensorsDType = options.dtype ?? 'F32';
  if (!(dtype in torchDtypes)) throw invalidArgument('dtype', 'must be "F32", "F16" or "BF16"', 'range');
  const shapes = drafterTensorShapes(config);
  for (const { name, shape } of shapes) {
    const t = tensors[name];
    const n = shape.reduce((a, b) => a * b, 1);
    if (!(t instanceof Float32Array)) throw invalidArgument(`tensors["${name}"]`, 'must be a Float32Array');
    if (t.length !== n) throw invalidArgument(`tensors["${name}"]`, `must hold ${n} values, got ${t.length}`, 'range');
  }
  await mkdir(dir, { recursive: true });
  const writer = await SafetensorsWriter.create(
    join(dir, 'model.safetensors'),
    shapes.map(({ name, shape }) => ({ name, dtype, shape })),
    { format: 'pt', ...options.metadata },
  );
  for (const { name } of shapes) await writer.write(name, tensors[name]!);
  await writer.finish();
  const configFile = join(dir, 'config.json');
  const temp = join(dir, `.config.json.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(temp, `${JSON.stringify(drafterConfigJson(config, torchDtypes[dtype as DrafterDType]), null, 2)}\n`);
    await rename(temp, configFile);
  } catch (err) {
    await rm(temp, { force: true });
    throw codedError(ErrorCodes.IO, `${configFile}: cannot write: ${(err as Error).message}`);
  }
}

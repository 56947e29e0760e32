// Apple ml-recurrent-drafter drafter + TensorRT-LLM base-model checkpoint -> TensorRT-LLM ReDrafter checkpoint,
// exactly as TensorRT-LLM's examples/redrafter/convert_checkpoint.py (--base_model_checkpoint_dir form) writes it:
//
//   config.json        the base checkpoint's config (same keys, order and values), with
//                        architecture            the ReDrafter model of the base architecture in the target
//                                                TensorRT-LLM release (lib/trtllm/versions.ts)
//                        base_model_architecture the base architecture
//                        redrafter_num_layers, redrafter_hidden_size, redrafter_exit_dim, redrafter_is_rnn
//                                                copied from the drafter's config.json (num_draft_layers, hidden_size,
//                                                exit_dim, rnn)
//                        redrafter_num_beams, redrafter_draft_len_per_beam, redrafter_greedy_search
//                        quantization.exclude_modules += the drafter's modules (only when it is a list)
//                      written as Python's json.dump(indent=4) writes it.
//   rank{r}.safetensors every tensor of the base checkpoint's rank{r}.safetensors, unchanged, plus the drafter's
//                      tensors cast to `dtype` and split for tensor parallelism (torch.chunk on dim 0 = rows
//                      [r*n/tp, (r+1)*n/tp)):
//                        drafter.input_proj.weight [exit_dim/tp, 2*hidden]  (only when exit_dim != 2*hidden)
//                        drafter.input_proj.bias   [exit_dim/tp]
//                        drafter.layers.{i}.linear.weight [exit_dim/tp, exit_dim], .bias [exit_dim/tp]
//                        drafter.lm_head.weight    [vocab/tp, exit_dim]
//                        drafter.rnn_u.weight [hidden/tp, hidden], drafter.rnn_u.bias [hidden/tp]  (rnn only)
//                        drafter.rnn_w.weight [hidden/tp, hidden]                                (rnn only)
//                      laid out as safetensors' Python save_file lays it out (tensors sorted by dtype size
//                      descending, then name; no __metadata__), so the files are byte-identical.
//
// Tensors stream one at a time: base tensors are copied tensor by tensor, and each rank's drafter shard is read as
// the contiguous row range it is (dim-0 splits of row-major tensors), so no checkpoint is ever held whole.
// Everything is written into a temporary directory beside the output and renamed into place at the end: bad input
// leaves no output behind.
import { existsSync, statSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { codedError, ErrorCodes, type ErrorCode, type RedrafterError } from '../errors.js';
import { SafetensorsReader, SafetensorsWriter, type SafetensorsDType, type TensorInfo } from '../safetensors.js';
import { asInt, dumpPythonJson, isDict, parsePythonJson, PyJsonError, type PyDict, type PyValue } from './pyjson.js';
import { castBytes, castableBytes } from './torch-cast.js';
import { redrafterArchitecture, redrafterBaseArchitectures, resolveTargetTrtLlmVersion, type TrtLlmVersion } from './versions.js';

export { REDRAFTER_MAP } from './versions.js';

export type CheckpointDtype = 'float32' | 'bfloat16' | 'float16';
export const checkpointDtypes: readonly CheckpointDtype[] = ['float32', 'bfloat16', 'float16'];
const stDtype: Record<CheckpointDtype, SafetensorsDType> = { float32: 'F32', bfloat16: 'BF16', float16: 'F16' };

export interface ConvertOptions {
  /** TensorRT-LLM checkpoint of the base model: config.json + rank{r}.safetensors. */
  baseCheckpointDir: string;
  /** Apple ml-recurrent-drafter drafter: config.json + model.safetensors. */
  drafterDir: string;
  /** Where the ReDrafter checkpoint goes; must not exist unless `overwrite`. */
  outputDir: string;
  /** dtype of the drafter tensors (the converter's --dtype); default: the base config's dtype. */
  dtype?: CheckpointDtype;
  /** Tensor-parallel size (the converter's --tp_size); default and only valid value: the base mapping's tp_size. */
  tpSize?: number;
  numBeams?: number;  // --redrafter_num_beams (5)
  draftLenPerBeam?: number;  // --redrafter_draft_len_per_beam (5)
  greedySearch?: boolean;  // not --redrafter_no_greedy_search (true)
  overwrite?: boolean;
  /**
   * The TensorRT-LLM release that will build the engine (it decides the architecture name written): a version string
   * (the --trtllm-version flag) or a parsed one; default: the installed one (TRTLLM_ROOT), required where none is.
   */
  trtllmVersion?: string | TrtLlmVersion;
  /** Called after each tensor is written. */
  onProgress?: (event: { rank: number; tensor: string; done: number; total: number }) => void;
}

export interface DrafterShape {
  hiddenSize: number;
  exitDim: number;
  vocabSize: number;
  numLayers: number;
  rnn: boolean;
  hasInputProj: boolean;
}

export interface ConvertResult {
  outputDir: string;
  architecture: string;
  /** The TensorRT-LLM release the checkpoint was written for. */
  trtllmVersion: string;
  /** The drafter tensors' dtype. */
  dtype: CheckpointDtype;
  /** The base model's dtype (config.json "dtype"): the engine's GEMM plugin dtype. */
  baseDtype: CheckpointDtype;
  numBeams: number;
  draftLenPerBeam: number;
  tpSize: number;
  drafter: DrafterShape;
  /** Per rank: the drafter tensors added (name -> shape). */
  drafterTensors: Array<Record<string, number[]>>;
  totalTensors: number;
}

function err(code: ErrorCode, message: string): RedrafterError {
  return codedError(code, message);
}
const invalid = (message: string) => err(ErrorCodes.INVALID_MODEL, message);
const badArg = (message: string) => err(ErrorCodes.INVALID_ARGUMENT, message);

async function readPyJsonFile(path: string, what: string): Promise<PyDict> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw err(ErrorCodes.IO, `${path}: cannot read the ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let value: PyValue;
  try {
    value = parsePythonJson(text);
  } catch (e) {
    if (e instanceof PyJsonError) throw invalid(`${path}: the ${what} is not valid JSON (${e.message})`);
    throw e;
  }
  if (!isDict(value)) throw invalid(`${path}: the ${what} is not a JSON object`);
  return value;
}

function positiveInt(config: PyDict, key: string, path: string): number {
  const v = asInt(config.get(key));
  if (v === undefined || !Number.isSafeInteger(v) || v <= 0) {
    throw invalid(`${path}: "${key}" must be a positive integer (got ${config.has(key) ? dumpPythonJson(config.get(key)!) : 'nothing'})`);
  }
  return v;
}

/** The drafter tensor names the converter accepts, first match wins (weight and bias must both exist). */
function candidates(layer: number | 'input' | 'head', numLayers: number): string[] {
  if (layer === 'input') return ['input_proj', 'input_projs'];
  if (layer === 'head') return [`lm_head.${numLayers}`, `lm_heads.${numLayers}`, `0.${numLayers}`];
  return [`lm_head.${layer}.linear`, `lm_heads.${layer}.linear`, `0.${layer}.linear`];
}

interface DrafterSource {
  /** Output name without the "drafter." prefix -> source tensor in model.safetensors and its full shape. */
  name: string;
  source: TensorInfo;
}

/** Resolves and validates every drafter tensor against the drafter config and the base model's sizes. */
// The converter reads drafters as TensorRT-LLM's convert_checkpoint.py does (name variants lm_heads.* and 0.*, F64
// weights, no model_type required), more than the loader (native/model/drafter_file.h) accepts, so it resolves the
// tensors itself; a num_draft_layers beyond what the file holds fails at the first missing block.
function planDrafter(reader: SafetensorsReader, shape: DrafterShape, file: string): DrafterSource[] {
  const out: DrafterSource[] = [];
  const { hiddenSize: h, exitDim: x, vocabSize: v } = shape;
  const expectShape = (info: TensorInfo, want: number[]) => {
    if (info.shape.length !== want.length || info.shape.some((d, k) => d !== want[k])) {
      throw invalid(`${file}: tensor "${info.name}" has shape [${info.shape.join(', ')}], expected [${want.join(', ')}] ` +
        `(drafter hidden_size ${h}, exit_dim ${x}, vocab_size ${v})`);
    }
    if (!castableBytes[info.dtype]) {
      throw invalid(`${file}: tensor "${info.name}" has dtype ${info.dtype}; drafter weights must be F32, F16, BF16 or F64`);
    }
  };
  const pick = (prefixes: string[], bias: boolean, what: string): { weight: TensorInfo; bias?: TensorInfo } => {
    for (const p of prefixes) {
      if (reader.has(`${p}.weight`) && (!bias || reader.has(`${p}.bias`))) {
        return { weight: reader.info(`${p}.weight`), bias: bias ? reader.info(`${p}.bias`) : undefined };
      }
    }
    const names = prefixes.map((p) => (bias ? `${p}.weight + ${p}.bias` : `${p}.weight`)).join(' or ');
    throw invalid(`${file}: missing the ${what} tensors (looked for ${names})`);
  };
  const linear = (name: string, prefixes: string[], what: string, inDim: number, outDim: number, bias: boolean) => {
    const t = pick(prefixes, bias, what);
    expectShape(t.weight, [outDim, inDim]);
    out.push({ name: `${name}.weight`, source: t.weight });
    if (t.bias) {
      expectShape(t.bias, [outDim]);
      out.push({ name: `${name}.bias`, source: t.bias });
    }
  };
  if (shape.hasInputProj) linear('input_proj', candidates('input', 0), 'input projection', 2 * h, x, true);
  for (let i = 0; i < shape.numLayers; i++) {
    linear(`layers.${i}.linear`, candidates(i, shape.numLayers), `residual block ${i}`, x, x, true);
  }
  linear('lm_head', candidates('head', shape.numLayers), 'LM head', x, v, false);
  if (shape.rnn) {
    linear('rnn_u', ['rnn_u'], 'RNN (rnn_u)', h, h, true);
    linear('rnn_w', ['rnn_w'], 'RNN (rnn_w)', h, h, false);
  }
  return out;
}

/** safetensors' serialization order: dtype (by the format's dtype rank) descending, then name (byte order). */
const dtypeRank: Record<SafetensorsDType, number> = {
  BOOL: 0, U8: 1, I8: 2, F8_E5M2: 3, F8_E4M3: 4, I16: 5, U16: 6, F16: 7, BF16: 8, I32: 9, U32: 10, F32: 11, F64: 12,
  I64: 13, U64: 14,
};
export function safetensorsOrder<T extends { name: string; dtype: SafetensorsDType }>(items: T[]): T[] {
  const bytes = (s: string) => Buffer.from(s, 'utf8');
  return [...items].sort((a, b) => dtypeRank[b.dtype] - dtypeRank[a.dtype] || Buffer.compare(bytes(a.name), bytes(b.name)));
}

async function readRange(path: string, position: number, length: number): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const buf = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await handle.read(buf, done, length - done, position + done);
      if (bytesRead === 0) throw err(ErrorCodes.IO, `${path}: unexpected end of file`);
      done += bytesRead;
    }
    return buf;
  } finally {
    await handle.close();
  }
}

interface PlannedTensor {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  read: () => Promise<Uint8Array>;
}

function addDrafterExcludes(config: PyDict, shape: DrafterShape): void {
  const q = config.get('quantization');
  if (!isDict(q)) return;
  const list = q.get('exclude_modules');
  if (!Array.isArray(list)) return;  // None: nothing is excluded, so nothing to add (as the converter does)
  list.push('drafter', 'drafter.layers', 'drafter.lm_head');
  if (shape.rnn) list.push('drafter.rnn_u', 'drafter.rnn_w');
  for (let i = 0; i < shape.numLayers; i++) list.push(`drafter.layers.${i}`, `drafter.layers.${i}.linear`);
}

function intOption(value: number | undefined, fallback: number, field: string, min: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < min) throw badArg(`${field} must be an integer >= ${min} (got ${value})`);
  return v;
}

export async function convertCheckpoint(options: ConvertOptions): Promise<ConvertResult> {
  const baseDir = resolve(options.baseCheckpointDir);
  const drafterDir = resolve(options.drafterDir);
  const outputDir = resolve(options.outputDir);
  const numBeams = intOption(options.numBeams, 5, 'numBeams', 1);
  const draftLen = intOption(options.draftLenPerBeam, 5, 'draftLenPerBeam', 1);
  const greedy = options.greedySearch ?? true;
  if (typeof greedy !== 'boolean') throw badArg('greedySearch must be a boolean');
  for (const [dir, what] of [[baseDir, 'base checkpoint directory'], [drafterDir, 'drafter directory']] as const) {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw err(ErrorCodes.IO, `${dir}: the ${what} does not exist`);
  }
  if (existsSync(outputDir) && !options.overwrite) {
    throw badArg(`${outputDir}: the output directory already exists (pass overwrite / --force to replace it)`);
  }
  const trtllmVersion = typeof options.trtllmVersion === 'object'
    ? options.trtllmVersion
    : resolveTargetTrtLlmVersion(options.trtllmVersion);
  if (outputDir === baseDir || outputDir === drafterDir) throw badArg(`${outputDir}: the output directory is an input directory`);

  // ---- configs --------------------------------------------------------------------------------------------
  const baseConfigPath = join(baseDir, 'config.json');
  const drafterConfigPath = join(drafterDir, 'config.json');
  const config = await readPyJsonFile(baseConfigPath, 'base checkpoint config');
  const drafterConfig = await readPyJsonFile(drafterConfigPath, 'drafter config');

  const baseArch = config.get('architecture');
  if (typeof baseArch !== 'string') throw invalid(`${baseConfigPath}: "architecture" is missing`);
  const architecture = redrafterArchitecture(trtllmVersion, baseArch);
  if (!architecture) {
    throw err(ErrorCodes.UNSUPPORTED, `${baseConfigPath}: architecture "${baseArch}" has no ReDrafter model in ` +
      `TensorRT-LLM ${trtllmVersion.text} (supported: ${redrafterBaseArchitectures(trtllmVersion).join(', ')})`);
  }
  const baseDtype = config.get('dtype');
  if (typeof baseDtype !== 'string' || !checkpointDtypes.includes(baseDtype as CheckpointDtype)) {
    throw invalid(`${baseConfigPath}: "dtype" must be one of ${checkpointDtypes.join(', ')} (got ${dumpPythonJson(baseDtype ?? null)})`);
  }
  const dtype = options.dtype ?? (baseDtype as CheckpointDtype);
  if (!checkpointDtypes.includes(dtype)) throw badArg(`dtype must be one of ${checkpointDtypes.join(', ')} (got ${dtype})`);
  const baseHidden = positiveInt(config, 'hidden_size', baseConfigPath);
  const baseVocab = positiveInt(config, 'vocab_size', baseConfigPath);
  const mapping = config.get('mapping');
  const mappingInt = (key: string, fallback: number) => {
    if (!isDict(mapping) || !mapping.has(key)) return fallback;
    const v = asInt(mapping.get(key));
    if (v === undefined || v < 1) throw invalid(`${baseConfigPath}: "mapping.${key}" must be a positive integer`);
    return v;
  };
  const baseTp = mappingInt('tp_size', 1);
  const pp = mappingInt('pp_size', 1);
  const cp = mappingInt('cp_size', 1);
  if (pp !== 1 || cp !== 1) {
    throw err(ErrorCodes.UNSUPPORTED, `${baseConfigPath}: pipeline/context parallelism (pp_size ${pp}, cp_size ${cp}) ` +
      'is not supported by the ReDrafter converter; build the base checkpoint with tensor parallelism only');
  }
  const tp = options.tpSize ?? baseTp;
  if (!Number.isSafeInteger(tp) || tp < 1) throw badArg(`tpSize must be a positive integer (got ${options.tpSize})`);
  if (tp !== baseTp) {
    throw badArg(`tpSize ${tp} does not match the base checkpoint's mapping.tp_size ${baseTp} (${baseConfigPath}); ` +
      'the converter reuses the base rank files, so convert the base model with the same tp_size');
  }
  const q = config.get('quantization');
  if (isDict(q) && q.get('quant_algo') === 'MIXED_PRECISION') {
    throw err(ErrorCodes.UNSUPPORTED, `${baseConfigPath}: MIXED_PRECISION (per-layer quant_cfg.json) base checkpoints are not supported`);
  }

  const dHidden = positiveInt(drafterConfig, 'hidden_size', drafterConfigPath);
  const dExit = positiveInt(drafterConfig, 'exit_dim', drafterConfigPath);
  const dLayers = asInt(drafterConfig.get('num_draft_layers'));
  if (dLayers === undefined || dLayers < 0) {
    throw invalid(`${drafterConfigPath}: "num_draft_layers" must be an integer >= 0`);
  }
  const rnnValue = drafterConfig.get('rnn');
  if (typeof rnnValue !== 'boolean') throw invalid(`${drafterConfigPath}: "rnn" must be true or false`);
  if (dHidden !== baseHidden) {
    throw invalid(`${drafterConfigPath}: drafter hidden_size ${dHidden} does not match the base model's hidden_size ` +
      `${baseHidden} (${baseConfigPath}); the drafter must be trained on this base model`);
  }
  const dVocabConfig = drafterConfig.has('vocab_size') ? asInt(drafterConfig.get('vocab_size')) : undefined;
  if (dVocabConfig !== undefined && dVocabConfig !== -1 && dVocabConfig !== baseVocab) {
    throw invalid(`${drafterConfigPath}: drafter vocab_size ${dVocabConfig} does not match the base model's vocab_size ` +
      `${baseVocab} (${baseConfigPath})`);
  }
  const shape: DrafterShape = {
    hiddenSize: dHidden, exitDim: dExit, vocabSize: baseVocab, numLayers: dLayers, rnn: rnnValue,
    hasInputProj: dHidden * 2 !== dExit,
  };
  // Every drafter layer is a ColumnLinear split on its output dimension; TensorRT-LLM's Drafter sizes lm_head for
  // the vocabulary padded to a multiple of tp, but the converter splits the unpadded one, so sizes that do not
  // divide would give shards the model rejects at build time.
  for (const [what, n] of [['exit_dim', dExit], ['hidden_size', dHidden], ['vocab_size', baseVocab]] as const) {
    if (n % tp !== 0) {
      throw invalid(`drafter ${what} ${n} is not divisible by tp_size ${tp}; TensorRT-LLM's ReDrafter model needs equal shards`);
    }
  }

  // ---- inputs ---------------------------------------------------------------------------------------------
  const drafterFile = join(drafterDir, 'model.safetensors');
  if (!existsSync(drafterFile)) {
    if (existsSync(join(drafterDir, 'model.pt'))) {
      throw err(ErrorCodes.UNSUPPORTED, `${join(drafterDir, 'model.pt')}: PyTorch pickle drafters are not supported; ` +
        'save the drafter as model.safetensors');
    }
    throw err(ErrorCodes.IO, `${drafterFile}: the drafter weights file does not exist`);
  }
  for (let r = 0; r < tp; r++) {
    const f = join(baseDir, `rank${r}.safetensors`);
    if (!existsSync(f)) throw err(ErrorCodes.IO, `${f}: the base checkpoint has no rank ${r} weights (tp_size ${tp})`);
  }

  const drafter = await SafetensorsReader.open(drafterFile);
  const tempDir = join(dirname(outputDir), `.${basename(outputDir)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let committed = false;
  try {
    const sources = planDrafter(drafter, shape, drafterFile);
    const outDtype = stDtype[dtype];
    await mkdir(tempDir, { recursive: false });

    // config.json
    config.set('architecture', architecture);
    config.set('base_model_architecture', baseArch);
    config.set('redrafter_num_layers', drafterConfig.get('num_draft_layers')!);
    config.set('redrafter_hidden_size', drafterConfig.get('hidden_size')!);
    config.set('redrafter_exit_dim', drafterConfig.get('exit_dim')!);
    config.set('redrafter_is_rnn', rnnValue);
    config.set('redrafter_num_beams', parsePythonJson(String(numBeams)));
    config.set('redrafter_draft_len_per_beam', parsePythonJson(String(draftLen)));
    config.set('redrafter_greedy_search', greedy);
    addDrafterExcludes(config, shape);
    await writeFile(join(tempDir, 'config.json'), dumpPythonJson(config));

    const drafterTensors: Array<Record<string, number[]>> = [];
    let totalTensors = 0;
    for (let rank = 0; rank < tp; rank++) {
      const baseFile = join(baseDir, `rank${rank}.safetensors`);
      const base = await SafetensorsReader.open(baseFile);
      try {
        const planned = new Map<string, PlannedTensor>();
        for (const name of base.names()) {
          if (name === '__metadata__') continue;
          const info = base.info(name);
          planned.set(name, { name, dtype: info.dtype, shape: [...info.shape], read: () => base.readBytes(name) });
        }
        const added: Record<string, number[]> = {};
        for (const { name, source } of sources) {
          // torch.chunk(t, tp, dim=0)[rank] of a row-major tensor: a contiguous row range.
          const rows = source.shape[0]!;
          const rowElems = source.shape.slice(1).reduce((a, b) => a * b, 1);
          const chunk = tp === 1 ? rows : rows / tp;
          const rowBytes = rowElems * castableBytes[source.dtype]!;
          const outShape = [chunk, ...source.shape.slice(1)];
          const full = `drafter.${name}`;
          added[full] = outShape;
          planned.set(full, {
            name: full,
            dtype: outDtype,
            shape: outShape,
            read: async () => castBytes(
              await readRange(drafterFile, source.fileOffset + rank * chunk * rowBytes, chunk * rowBytes),
              source.dtype, outDtype),
          });
        }
        const ordered = safetensorsOrder([...planned.values()]);
        const writer = await SafetensorsWriter.create(join(tempDir, `rank${rank}.safetensors`), ordered);
        let done = 0;
        for (const t of ordered) {
          let data: Uint8Array;
          try {
            data = await t.read();
          } catch (e) {
            await writer.abort();
            throw e;
          }
          await writer.write(t.name, data);
          options.onProgress?.({ rank, tensor: t.name, done: ++done, total: ordered.length });
        }
        await writer.finish();
        drafterTensors.push(added);
        totalTensors += ordered.length;
      } finally {
        await base.close();
      }
    }

    if (existsSync(outputDir)) {
      const old = `${tempDir}.old`;
      await rename(outputDir, old);
      await rename(tempDir, outputDir);
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(tempDir, outputDir);
    }
    committed = true;
    return { outputDir, architecture, trtllmVersion: trtllmVersion.text, dtype, baseDtype: baseDtype as CheckpointDtype, numBeams, draftLenPerBeam: draftLen, tpSize: tp, drafter: shape, drafterTensors, totalTensors };
  } finally {
    await drafter.close();
    if (!committed) await rm(tempDir, { recursive: true, force: true }).catch(() => undefined);
  }
}

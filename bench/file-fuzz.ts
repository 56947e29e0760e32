// A mutation fuzzer for the files users hand to the public API: model files (llama2.c .bin v0 float32 and v2 int8,
// GGUF f32/q8_0/f16 with their vocabularies), tokenizers (tokenizer.bin, GGUF) and drafter directories (config.json
// + model.safetensors in F32, F16 and BF16). Each case mutates one file of one of these (seeded: case i of seed s is
// always the same mutation, so any case can be rerun alone) and loads it through loadEngine, Tokenizer.load or
// loadDrafter. What loads is used (a few greedy and sampled tokens, with the drafter where there is one); what
// does not must fail with a redrafter error whose message names the mutated file.
//
// The cases run in a child process (fuzzInChild): it reports each case before running it on a pipe (synchronously),
// so a crash or a hang (no report within the per-case time limit) is caught and named with its seed and case.
// The child also reports its peak resident memory after a warm-up and at the end.
//
// Used by test/reliability/fuzz-files.test.ts (CI), test/reliability/sanitizer-smoke.ts (under ASan) and
// bench/fuzz-files.ts (long runs).
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { loadDrafter, saveDrafter } from '../lib/drafter/drafter.js';
import { loadEngine } from '../lib/engine.js';
import { isRedrafterError } from '../lib/errors.js';
import { convertModelFile } from '../lib/model-file.js';
import { Tokenizer } from '../lib/tokenizer.js';
import { fixtures, repoRoot } from './fixtures.js';

const stories260KDrafterDir = join(repoRoot, 'models', 'stories260K-drafter');

// ---- seeded randomness --------------------------------------------------------------------------------------------
export class Rng {
  #s: number;
  constructor(seed: number, stream = 0) {
    this.#s = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(stream >>> 0, 0x85ebca6b) ^ 0x6d2b79f5) >>> 0;
  }
  /** mulberry32: a uint32 */
  u32(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  int(n: number): number {
    return n <= 0 ? 0 : this.u32() % n;
  }
  pick<T>(values: readonly T[]): T {
    return values[this.int(values.length)]!;
  }
  chance(p: number): boolean {
    return this.u32() / 2 ** 32 < p;
  }
}

// ---- where the fields of each binary format are ----------------------------------------------------------------
type Kind = 'dim' | 'count' | 'tag' | 'offset' | 'float' | 'flag';
interface Field {
  at: number;
  width: 1 | 2 | 4 | 8;
  kind: Kind;
}
interface FileLayout {
  fields: Field[];
  headerBytes: number;
  dataBegin: number;  // where the float weights start (NaNs go there); 0: none
}

function llama2cLayout(d: Buffer): FileLayout {
  const ak42 = d.readUInt32LE(0) === 0x616b3432;
  const fields: Field[] = ak42 ? [{ at: 0, width: 4, kind: 'tag' }, { at: 4, width: 4, kind: 'tag' }] : [];
  const base = ak42 ? 8 : 0;
  for (let i = 0; i < 7; i++) fields.push({ at: base + 4 * i, width: 4, kind: 'dim' });
  if (ak42) fields.push({ at: 36, width: 1, kind: 'flag' }, { at: 37, width: 4, kind: 'dim' });
  const headerBytes = ak42 ? 256 : 28;
  return { fields, headerBytes, dataBegin: headerBytes };
}

function tokenizerBinLayout(d: Buffer): FileLayout {
  const fields: Field[] = [{ at: 0, width: 4, kind: 'dim' }];
  for (let at = 4; at + 8 <= d.length; at += 8 + d.readInt32LE(at + 4)) {
    fields.push({ at, width: 4, kind: 'float' }, { at: at + 4, width: 4, kind: 'count' });
  }
  return { fields, headerBytes: d.length, dataBegin: 0 };
}

function ggufLayout(d: Buffer): FileLayout {
  const fields: Field[] = [{ at: 4, width: 4, kind: 'tag' }, { at: 8, width: 8, kind: 'count' }, { at: 16, width: 8, kind: 'count' }];
  const tensors = Number(d.readBigUInt64LE(8)), kvs = Number(d.readBigUInt64LE(16));
  let at = 24;
  const str = () => {
    fields.push({ at, width: 8, kind: 'count' });
    at += 8 + Number(d.readBigUInt64LE(at));
  };
  const widths = [1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8] as const;
  for (let k = 0; k < kvs; k++) {
    str();
    const type = d.readUInt32LE(at);
    fields.push({ at, width: 4, kind: 'tag' });
    at += 4;
    if (type === 8) {
      str();
    } else if (type === 9) {
      const element = d.readUInt32LE(at);
      const n = Number(d.readBigUInt64LE(at + 4));
      fields.push({ at, width: 4, kind: 'tag' }, { at: at + 4, width: 8, kind: 'count' });
      at += 12;
      for (let i = 0; i < n; i++) {
        if (element === 8) {
          str();
        } else {
          const w = widths[element]! as 1 | 2 | 4 | 8;
          if (i < 64 || i % 64 === 0) fields.push({ at, width: w, kind: element === 6 ? 'float' : 'tag' });
          at += w;
        }
      }
    } else {
      const w = widths[type]! as 1 | 2 | 4 | 8;
      fields.push({ at, width: w, kind: type === 6 || type === 12 ? 'float' : type === 7 ? 'flag' : 'dim' });
      at += w;
    }
  }
  for (let t = 0; t < tensors; t++) {
    str();
    const dims = d.readUInt32LE(at);
    fields.push({ at, width: 4, kind: 'count' });
    at += 4;
    for (let i = 0; i < dims; i++, at += 8) fields.push({ at, width: 8, kind: 'dim' });
    fields.push({ at, width: 4, kind: 'tag' }, { at: at + 4, width: 8, kind: 'offset' });
    at += 12;
  }
  return { fields, headerBytes: at, dataBegin: Math.ceil(at / 32) * 32 };
}

// ---- byte mutations -------------------------------------------------------------------------------------------
function writeLe(d: Buffer, at: number, width: number, v: bigint): void {
  for (let i = 0; i < width && at + i < d.length; i++) d[at + i] = Number((v >> BigInt(8 * i)) & 0xffn);
}
function readLe(d: Buffer, at: number, width: number): bigint {
  let v = 0n;
  for (let i = 0; i < width && at + i < d.length; i++) v |= BigInt(d[at + i]!) << BigInt(8 * i);
  return v;
}

const nanBits32 = [0x7fc00000, 0xffc00000, 0x7f800000, 0xff800000, 0x7f7fffff, 0x00000001];

function fieldValue(rng: Rng, f: Field, d: Buffer): bigint {
  const orig = readLe(d, f.at, f.width);
  const size = BigInt(d.length);
  switch (f.kind) {
    case 'dim':
    case 'count':
      return rng.pick([0n, 1n, 2n, 3n, orig + 1n, orig - 1n, orig * 2n, orig / 2n, orig << 16n, 1n << 16n, (1n << 16n) + 1n,
        1n << 20n, 1n << 24n, (1n << 24n) + 1n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 1n << 32n, 1n << 40n, 1n << 62n,
        (1n << 64n) - 1n, size, size / 4n]);
    case 'tag':
      return rng.pick([orig + 1n, orig - 1n, 0n, 1n, 2n, 7n, 8n, 9n, 10n, 12n, 13n, 16n, 24n, 28n, 30n, 31n, 39n, 255n,
        0xffffffffn, BigInt(rng.int(64))]);
    case 'offset':
      return rng.pick([0n, orig + 1n, orig + 32n, orig - 32n, orig * 2n, size, size - 32n, size + 32n, 1n << 40n,
        (1n << 64n) - 32n, (1n << 64n) - 1n]);
    case 'float':
      return f.width === 8 ? rng.pick([0x7ff8000000000000n, 0x7ff0000000000000n, 0xfff0000000000000n, 1n])
        : BigInt(rng.pick(nanBits32));
    case 'flag':
      return BigInt(rng.int(4));
  }
}

/** One mutation of a binary file, described in `notes`. */
function mutateBinary(rng: Rng, d: Buffer, layout: FileLayout, notes: string[]): Buffer {
  if (d.length === 0) return d;
  const header = Math.min(layout.headerBytes || d.length, d.length);
  switch (rng.int(8)) {
    case 0:
    case 1: {
      if (layout.fields.length === 0) return d;
      const f = rng.pick(layout.fields);
      const v = fieldValue(rng, f, d);
      writeLe(d, f.at, f.width, v);
      notes.push(`${f.kind}@${f.at}=${v}`);
      return d;
    }
    case 2: {
      if (layout.dataBegin === 0 || layout.dataBegin + 4 >= d.length) return d;
      const n = 1 + rng.int(16);
      for (let i = 0; i < n; i++) {
        d.writeUInt32LE(rng.pick(nanBits32), layout.dataBegin + 4 * rng.int((d.length - layout.dataBegin) >> 2));
      }
      notes.push(`nan x${n}`);
      return d;
    }
    case 3: {
      const at = rng.int(header), width = rng.chance(0.5) ? 4 : 8;
      const v = rng.pick([0n, (1n << 64n) - 1n, 1n, 2n, 7n, 32n, 255n, 0x7fffffffn, 0x80000000n, 1n << 32n, 1n << 40n, 1n << 62n]);
      writeLe(d, at, width, v);
      notes.push(`u${width * 8}@${at}=${v}`);
      return d;
    }
    case 4:
      for (let i = 0; i < 4; i++) d[rng.int(header)]! ^= 1 << rng.int(8);
      notes.push('header bits');
      return d;
    case 5: {
      const n = 1 + rng.int(8);
      for (let i = 0; i < n; i++) d[rng.int(d.length)] = rng.int(256);
      notes.push(`random bytes x${n}`);
      return d;
    }
    case 6: {
      const keep = rng.chance(0.33) ? rng.int(header + 1) : rng.chance(0.5) ? rng.int(d.length) : d.length - 1 - rng.int(Math.min(64, d.length));
      notes.push(`truncated to ${keep}`);
      return d.subarray(0, keep);
    }
    default: {
      const n = 1 + rng.int(300);
      const tail = Buffer.alloc(n);
      for (let i = 0; i < n; i++) tail[i] = rng.int(256);
      notes.push(`+${n} bytes`);
      return Buffer.concat([d, tail]);
    }
  }
}

/** NaN, infinities or float32's largest value at float-aligned places among the weights. */
function mutateValues(rng: Rng, d: Buffer, layout: FileLayout, notes: string[]): Buffer {
  const n = 1 + rng.int(rng.chance(0.5) ? 4 : 64);
  for (let i = 0; i < n; i++) d.writeUInt32LE(rng.pick(nanBits32), layout.dataBegin + 4 * rng.int((d.length - layout.dataBegin) >> 2));
  notes.push(`values x${n}`);
  return d;
}

// ---- JSON mutations (config.json, the safetensors header) -----------------------------------------------------
const oddValues: readonly unknown[] = [0, -1, 1, 2, 3, 63, 65, 127, 129, 1e6, 1e9, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 1e308,
  -1e308, 1.5, 0.5, '64', '', null, true, false, [], {}, [64], 'NaN'];

function mutateConfig(rng: Rng, json: Record<string, unknown>, notes: string[]): string {
  const keys = ['vocab_size', 'hidden_size', 'exit_dim', 'num_draft_layers', 'rnn', 'model_type', 'num_lookback_tokens'];
  const n = 1 + rng.int(2);
  for (let i = 0; i < n; i++) {
    const key = rng.pick(keys);
    if (rng.chance(0.15)) {
      delete json[key];
      notes.push(`-${key}`);
    } else {
      const orig = json[key];
      const v = typeof orig === 'number' && rng.chance(0.4) ? rng.pick([orig * 2, orig + 1, orig - 1, orig / 2, -orig]) : rng.pick(oddValues);
      json[key] = v;
      notes.push(`${key}=${JSON.stringify(v)}`);
    }
  }
  return JSON.stringify(json, null, 2);
}

function mutateSafetensorsHeader(rng: Rng, header: Record<string, unknown>, notes: string[]): void {
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const name = rng.pick(names);
  const entry = header[name] as { dtype: unknown; shape: unknown[]; data_offsets: unknown[] };
  if (!entry || typeof entry !== 'object' || !Array.isArray(entry.shape) || !Array.isArray(entry.data_offsets)) {
    header[name] = { dtype: 'F32', shape: [1], data_offsets: [0, 4] };  // an earlier edit left no entry to edit
    notes.push(`${name}=F32[1]`);
    return;
  }
  switch (rng.int(8)) {
    case 0:
      entry.dtype = rng.pick(['F32', 'F16', 'BF16', 'F64', 'I8', 'U8', 'I32', 'I64', 'BOOL', 'F8_E4M3', 'F4', 'f32', '', 7, null]);
      notes.push(`${name}.dtype=${JSON.stringify(entry.dtype)}`);
      break;
    case 1: {
      const i = rng.int(entry.shape.length);
      const d = entry.shape[i] as number;
      entry.shape[i] = rng.pick([0, -1, 1, d * 2, d + 1, d - 1, 2 ** 31, 2 ** 40, 2 ** 53, 1.5, '64', null]);
      notes.push(`${name}.shape[${i}]=${JSON.stringify(entry.shape[i])}`);
      break;
    }
    case 2:
      if (rng.chance(0.5)) entry.shape.push(rng.pick([1, 2, 64]));
      else entry.shape.pop();
      notes.push(`${name}.shape=${JSON.stringify(entry.shape)}`);
      break;
    case 3: {
      const i = rng.int(2);
      const o = entry.data_offsets[i] as number;
      entry.data_offsets[i] = rng.pick([0, -1, o + 1, o - 1, o + 4, o - 4, o * 2, 2 ** 32, 2 ** 53, 2 ** 64, 1.5, null]);
      notes.push(`${name}.data_offsets[${i}]=${JSON.stringify(entry.data_offsets[i])}`);
      break;
    }
    case 4: {  // its data moved onto another tensor's
      const other = header[rng.pick(names)] as { data_offsets: unknown[] };
      entry.data_offsets = [...other.data_offsets];
      notes.push(`${name}.data_offsets=${JSON.stringify(entry.data_offsets)}`);
      break;
    }
    case 5:
      delete header[name];
      notes.push(`-${name}`);
      break;
    case 6: {
      const renamed = name.replace(/\d+/, (m) => String(Number(m) + rng.pick([1, 7, 1000]))).replace(/weight$/, rng.pick(['weight', 'bias', 'w']));
      header[renamed] = entry;
      if (renamed !== name) delete header[name];
      notes.push(`${name}->${renamed}`);
      break;
    }
    default:
      header.__metadata__ = rng.pick([{ a: 1 }, [], 'x', null, { format: { x: 1 } }]);
      notes.push(`__metadata__=${JSON.stringify(header.__metadata__)}`);
  }
}

function mutateText(rng: Rng, text: Buffer, notes: string[]): Buffer {
  switch (rng.int(3)) {
    case 0:
      notes.push('text truncated');
      return text.subarray(0, rng.int(text.length));
    case 1: {
      const d = Buffer.from(text);
      for (let i = 0, n = 1 + rng.int(4); i < n; i++) d[rng.int(d.length)] = rng.pick([0x00, 0x22, 0x2c, 0x7b, 0x7d, 0x5b, 0x39, 0xff, 0x80, rng.int(256)]);
      notes.push('text bytes');
      return d;
    }
    default:
      notes.push('text flipped');
      return Buffer.from(text).fill(rng.int(256), rng.int(text.length), rng.int(text.length));
  }
}

function parseHeader(file: Buffer): { n: number; header: Record<string, unknown> | undefined } {
  if (file.length < 8) return { n: 0, header: undefined };
  const n = Number(file.readBigUInt64LE(0));
  try {
    const header = JSON.parse(file.subarray(8, 8 + n).toString('utf8')) as unknown;
    return { n, header: header && typeof header === 'object' && !Array.isArray(header) ? header as Record<string, unknown> : undefined };
  } catch {
    return { n, header: undefined };  // an earlier edit broke it
  }
}

function mutateSafetensors(rng: Rng, file: Buffer, notes: string[], valuesOnly = false): Buffer {
  const { n, header } = parseHeader(file);
  const data = file.subarray(Math.min(8 + n, file.length));
  switch (valuesOnly ? 3 : header && Object.keys(header).length > 1 ? rng.int(5) : 4) {
    case 0:
    case 1: {  // a structural change to the header, re-serialized (and its length field kept right, mostly)
      if (!header) return file;
      for (let i = 0, k = 1 + rng.int(2); i < k; i++) mutateSafetensorsHeader(rng, header, notes);
      const text = Buffer.from(JSON.stringify(header));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(text.length + (rng.chance(0.9) ? 0 : rng.pick([1, -1, 8]))));
      return Buffer.concat([len, text, data]);
    }
    case 2: {  // the header length field
      const d = Buffer.from(file);
      const v = rng.pick([0n, 1n, 2n, BigInt(n - 1), BigInt(n + 1), BigInt(file.length), 100_000_001n, 1n << 32n, (1n << 64n) - 1n]);
      d.writeBigUInt64LE(v, 0);
      notes.push(`header length=${v}`);
      return d;
    }
    case 3: {  // NaN, infinities and huge values in the weights (F32, F16 and BF16 bit patterns, any half of an F32)
      const d = Buffer.from(file);
      const k = 1 + rng.int(16);
      for (let i = 0; i < k; i++) {
        const at = 8 + n + 2 * rng.int((d.length - 8 - n) >> 1);
        d.writeUInt16LE(rng.pick([0x7fc0, 0x7f80, 0xff80, 0x7c00, 0x7e00, 0xfc00, 0xffff, 0x7f7f, 0x7bff, 0x7f00]), at);
      }
      notes.push(`nan x${k}`);
      return d;
    }
    default:
      return mutateBinary(rng, Buffer.from(file), { fields: [{ at: 0, width: 8, kind: 'count' }], headerBytes: Math.min(8 + n, file.length), dataBegin: 0 }, notes);
  }
}

// ---- the corpus -----------------------------------------------------------------------------------------------
interface BinarySource {
  bytes: Buffer;
  layout: FileLayout;
}
export interface Corpus {
  dir: string;
  v0: BinarySource;
  q80: BinarySource;
  ggufs: BinarySource[];
  tokBin: BinarySource;
  drafters: { config: Record<string, unknown>; weights: Buffer }[];
}

/** The original files, under `dir` (GGUFs converted from the fixtures, drafters re-saved in F16 and BF16). */
export async function prepareCorpus(dir: string): Promise<Corpus> {
  mkdirSync(dir, { recursive: true });
  const bin = (path: string, layout: (d: Buffer) => FileLayout): BinarySource => {
    const bytes = readFileSync(path);
    return { bytes, layout: layout(bytes) };
  };
  const ggufs: BinarySource[] = [];
  for (const type of ['f32', 'q8_0', 'f16'] as const) {
    const out = join(dir, `source-${type}.gguf`);
    await convertModelFile({ model: fixtures.stories260K, tokenizer: fixtures.tok512, out, type });
    ggufs.push(bin(out, ggufLayout));
  }
  const config = JSON.parse(readFileSync(join(stories260KDrafterDir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const drafters = [{ config, weights: readFileSync(join(stories260KDrafterDir, 'model.safetensors')) }];
  const original = await loadDrafter(stories260KDrafterDir);
  for (const dtype of ['F16', 'BF16'] as const) {
    const out = join(dir, `source-drafter-${dtype}`);
    await saveDrafter(out, original.config, original.tensors(), { dtype });
    drafters.push({ config: JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')), weights: readFileSync(join(out, 'model.safetensors')) });
  }
  return {
    dir,
    v0: bin(fixtures.stories260K, llama2cLayout),
    q80: bin(fixtures.stories260KQ80, llama2cLayout),
    ggufs,
    tokBin: bin(fixtures.tok512, tokenizerBinLayout),
    drafters,
  };
}

// ---- cases ------------------------------------------------------------------------------------------------------
export type CaseKind = 'model-v0' | 'model-q80' | 'model-gguf' | 'tokenizer-bin' | 'tokenizer-gguf' | 'drafter-config' | 'drafter-weights';
const kinds: readonly CaseKind[] = ['model-v0', 'model-q80', 'model-gguf', 'tokenizer-bin', 'tokenizer-gguf', 'drafter-config', 'drafter-weights'];

export interface FuzzCase {
  index: number;
  kind: CaseKind;
  description: string;
  /** the mutated file's path (for a drafter: the file of its directory that was mutated) */
  file: string;
  run: () => Promise<'loaded' | 'rejected'>;
}

export class FuzzFailure extends Error {}

const allowedCodes = new Set(['ERR_REDRAFTER_INVALID_MODEL', 'ERR_REDRAFTER_UNSUPPORTED', 'ERR_REDRAFTER_OUT_OF_MEMORY']);

/** A few greedy and sampled tokens on what loaded (prompts that fit the context it declares, however short). */
async function use(engine: Awaited<ReturnType<typeof loadEngine>>, drafted: boolean): Promise<void> {
  try {
    const roomy = engine.contextLength >= 16;
    const session = engine.createSession();
    await session.complete(roomy ? 'Once upon' : [1], { maxTokens: 4 });
    if (roomy) await session.complete([1, 300], { maxTokens: 4, temperature: 1, seed: 7 });
    if (drafted) await engine.createSession({ beamWidth: 4, beamLength: 3 }).complete('', { maxTokens: 6, temperature: 0.8, seed: 3 });
  } finally {
    await engine.dispose();
  }
}

/** Case `index` of `seed`: one mutation (1-3 edits) of one file, and the load that uses it. */
export function makeCase(corpus: Corpus, seed: number, index: number): FuzzCase {
  const rng = new Rng(seed, index);
  const kind = kinds[index % kinds.length]!;
  const notes: string[] = [];
  const edits = 1 + rng.int(3);
  const caseDir = join(corpus.dir, 'case');
  // a third of the binary cases only change weights (NaN, infinities, huge values): the file stays well-formed and
  // loads, and what it computes is exercised
  const valuesOnly = rng.chance(0.33);
  const binary = (source: BinarySource, name: string) => {
    let d: Buffer = Buffer.from(source.bytes);
    const layout = valuesOnly && source.layout.dataBegin > 0 ? { ...source.layout, fields: [] } : source.layout;
    for (let i = 0; i < edits; i++) d = valuesOnly && layout.dataBegin > 0 ? mutateValues(rng, d, layout, notes) : mutateBinary(rng, d, layout, notes);
    const file = join(caseDir, name);
    return { file, write: () => writeFileSync(file, d) };
  };
  let file: string;
  let named: string | undefined;  // a drafter's directory
  let write: () => void;
  let load: () => Promise<'loaded'>;
  switch (kind) {
    case 'model-v0':
    case 'model-q80': {
      ({ file, write } = binary(kind === 'model-v0' ? corpus.v0 : corpus.q80, `${kind}.bin`));
      load = async () => (await use(await loadEngine({ model: file, tokenizer: fixtures.tok512, backend: 'cpu', threads: 1, drafter: null }), false), 'loaded');
      break;
    }
    case 'model-gguf': {
      const g = rng.int(corpus.ggufs.length);
      ({ file, write } = binary(corpus.ggufs[g]!, `model-${g}.gguf`));
      load = async () => (await use(await loadEngine({ model: file, backend: 'cpu', threads: 1, drafter: null }), false), 'loaded');
      break;
    }
    case 'tokenizer-bin':
    case 'tokenizer-gguf': {
      const g = rng.int(corpus.ggufs.length);
      ({ file, write } = kind === 'tokenizer-bin' ? binary(corpus.tokBin, 'tokenizer.bin') : binary(corpus.ggufs[g]!, `tokenizer-${g}.gguf`));
      const withModel = kind === 'tokenizer-bin' && rng.chance(0.25);
      load = async () => {
        if (withModel) {
          await use(await loadEngine({ model: fixtures.stories260K, tokenizer: file, backend: 'cpu', threads: 1, drafter: null }), false);
          return 'loaded';
        }
        const t = await Tokenizer.load(file);
        for (const text of ['Once upon a time', '😀 <s> x', '', '\u00ff broken']) t.decode(t.encode(text, { bos: true }));
        t.decode(Int32Array.from({ length: t.vocabSize }, (_, i) => i));
        return 'loaded';
      };
      break;
    }
    case 'drafter-config':
    case 'drafter-weights': {
      const d = rng.int(corpus.drafters.length);
      const source = corpus.drafters[d]!;
      const drafterDir = join(caseDir, `drafter-${d}`);
      named = drafterDir;
      const configFile = join(drafterDir, 'config.json');
      const weightsFile = join(drafterDir, 'model.safetensors');
      let config: Buffer = Buffer.from(JSON.stringify(source.config, null, 2));
      let weights = source.weights;
      if (kind === 'drafter-config') {
        config = rng.chance(0.75) ? Buffer.from(mutateConfig(rng, structuredClone(source.config), notes)) : mutateText(rng, config, notes);
        file = configFile;
      } else {
        for (let i = 0; i < edits; i++) weights = mutateSafetensors(rng, weights, notes, valuesOnly);
        file = weightsFile;
      }
      write = () => {
        mkdirSync(drafterDir, { recursive: true });
        writeFileSync(configFile, config);
        writeFileSync(weightsFile, weights);
      };
      const standalone = rng.chance(0.3);
      load = async () => {
        if (standalone) {
          await loadDrafter(drafterDir);
          return 'loaded';
        }
        await use(await loadEngine({ model: fixtures.stories260K, tokenizer: fixtures.tok512, backend: 'cpu', threads: 1, drafter: drafterDir }), true);
        return 'loaded';
      };
      break;
    }
  }
  const description = `seed ${seed} case ${index} ${kind}: ${notes.join(', ')}`;
  const mutated = file!;
  return {
    index,
    kind,
    description,
    file: mutated,
    run: async () => {
      mkdirSync(caseDir, { recursive: true });
      write();
      try {
        return await load();
      } catch (e) {
        if (!isRedrafterError(e)) throw new FuzzFailure(`${description}: not a redrafter error: ${(e as Error)?.stack ?? String(e)}`);
        // a GGUF model whose tokenizer metadata a mutation removed: loadEngine asks for the tokenizer option
        const noTokenizer = kind === 'model-gguf' && e.code === 'ERR_REDRAFTER_INVALID_ARGUMENT' &&
          e.message.startsWith(`tokenizer is required for ${mutated}: this gguf file carries no tokenizer`);
        if (!allowedCodes.has(e.code) && !noTokenizer) throw new FuzzFailure(`${description}: code ${e.code}: ${e.message}`);
        // the file, or for a drafter its directory (what the user named: the native checks name it)
        if (!e.message.includes(mutated) && !(named !== undefined && e.message.includes(named)))
          throw new FuzzFailure(`${description}: the message does not name ${mutated}${named ? ` or ${named}` : ''}: ${e.message}`);
        return 'rejected';
      }
    },
  };
}

// ---- running cases in a child process ---------------------------------------------------------------------------
export interface FuzzSummary {
  cases: number;
  loaded: number;
  rejected: number;
  byKind: Record<string, { loaded: number; rejected: number }>;
  failures: string[];
  /** peak resident set (bytes) after the warm-up cases, and at the end */
  maxRssAfterWarmup: number;
  maxRssAtEnd: number;
  seconds: number;
}

export interface FuzzOptions {
  seed: number;
  count: number;
  first?: number;
  /** per-case limit: a case that reports nothing for this long is a hang (default 10 s) */
  caseLimitMs?: number;
  /** cases before the warm-up RSS reading (default 200) */
  warmup?: number;
  /** where the corpus and the mutated files go (removed afterwards) */
  dir: string;
  onProgress?: (done: number, count: number, rss: number) => void;
}

/** Runs the cases in a child process (file-fuzz-child.ts); rejects naming the case on a crash or a hang. */
export function fuzzInChild(options: FuzzOptions): Promise<FuzzSummary> {
  const limit = options.caseLimitMs ?? 10_000;
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'bench', 'file-fuzz-child.ts'), JSON.stringify({ ...options, onProgress: undefined })], {
    stdio: ['ignore', 'inherit', 'inherit', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let last = 'the corpus setup';
    let summary: FuzzSummary | undefined;
    let buffered = '';
    let timer: NodeJS.Timeout;
    const arm = (ms: number) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`HANG: ${last} ran longer than ${ms} ms`));
      }, ms);
    };
    arm(120_000);  // the corpus setup converts GGUFs
    child.stdio[3]!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        const message = JSON.parse(line) as { case?: string; done?: number; rss?: number; summary?: FuzzSummary };
        if (message.case !== undefined) last = message.case;
        if (message.done !== undefined) options.onProgress?.(message.done, options.count, message.rss ?? 0);
        if (message.summary) summary = message.summary;
        arm(limit);
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (summary && code === 0) resolve(summary);
      else reject(new Error(`CRASH: the fuzzing process ended (${signal ?? `exit code ${code}`}) during ${last}`));
    });
  });
}

/** The child's side: runs cases first..first+count-1, reporting on fd 3. */
export async function runChild(options: FuzzOptions): Promise<void> {
  const report = (message: object) => writeFileSync(3, `${JSON.stringify(message)}\n`);
  const t0 = performance.now();
  rmSync(options.dir, { recursive: true, force: true });
  const corpus = await prepareCorpus(options.dir);
  const first = options.first ?? 0;
  const warmup = Math.min(options.warmup ?? 200, options.count);
  const summary: FuzzSummary = { cases: 0, loaded: 0, rejected: 0, byKind: {}, failures: [], maxRssAfterWarmup: 0, maxRssAtEnd: 0, seconds: 0 };
  for (let i = first; i < first + options.count; i++) {
    report({ case: `seed ${options.seed} case ${i} (making it)` });
    const c = makeCase(corpus, options.seed, i);
    report({ case: c.description });
    try {
      const outcome = await c.run();
      summary[outcome]++;
      const k = (summary.byKind[c.kind] ??= { loaded: 0, rejected: 0 });
      k[outcome]++;
    } catch (e) {
      if (summary.failures.length < 20) summary.failures.push(e instanceof FuzzFailure ? e.message : `${c.description}: ${(e as Error).stack}`);
    }
    summary.cases++;
    if (summary.cases === warmup) summary.maxRssAfterWarmup = process.resourceUsage().maxRSS * 1024;
    if (summary.cases % 100 === 0) report({ done: summary.cases, rss: process.memoryUsage().rss });
  }
  summary.maxRssAtEnd = process.resourceUsage().maxRSS * 1024;
  summary.seconds = (performance.now() - t0) / 1000;
  rmSync(options.dir, { recursive: true, force: true });
  report({ summary });
}


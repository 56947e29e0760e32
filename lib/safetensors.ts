// safetensors (https://github.com/huggingface/safetensors) reading and writing.
//
// File layout: u64 little-endian N, then N bytes of UTF-8 JSON header
//   { "<name>": { "dtype": "F32", "shape": [..], "data_offsets": [begin, end] }, ..., "__metadata__": {str: str} }
// then the byte buffer; offsets are relative to the start of the buffer (8 + N). Values are little-endian.
//
// The reader parses and validates the header (every error names the file) and reads tensors lazily through a file
// handle, so a large checkpoint is streamed tensor by tensor, never loaded whole. The writer streams tensors into a
// temporary file beside the target and renames it into place only when complete, so a failure leaves nothing
// half-written.
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { codedError, ErrorCodes, type ErrorCode, type RedrafterError } from './errors.js';

export type SafetensorsDType =
  | 'BOOL' | 'U8' | 'I8' | 'F8_E5M2' | 'F8_E4M3' | 'I16' | 'U16' | 'F16' | 'BF16'
  | 'I32' | 'U32' | 'F32' | 'F64' | 'I64' | 'U64';

/** Bytes per element of each safetensors dtype. */
export const dtypeBytes: Readonly<Record<SafetensorsDType, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  F64: 8, I64: 8, U64: 8,
};

/** The float dtypes readFloat32/write convert from and to. */
export const floatDTypes: readonly SafetensorsDType[] = ['F32', 'F16', 'BF16', 'F64'];

export interface TensorInfo {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** Number of elements (product of the shape; 1 for a scalar). */
  readonly elements: number;
  /** Absolute offset of the tensor's first byte in the file. */
  readonly fileOffset: number;
  readonly byteLength: number;
}

/** Headers larger than this are refused (the reference implementation's limit is 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;
const READ_CHUNK_BYTES = 1 << 30;

function badFile(path: string, message: string): RedrafterError {
  return codedError(ErrorCodes.INVALID_MODEL, `${path}: not a valid safetensors file: ${message}`);
}

function ioError(path: string, action: string, cause: unknown): RedrafterError {
  const err = codedError(ErrorCodes.IO, `${path}: cannot ${action}: ${(cause as Error)?.message ?? String(cause)}`);
  (err as Error & { cause?: unknown }).cause = cause;
  return err;
}

function requireLittleEndianHost(): void {
  if (endianness() !== 'LE') throw codedError(ErrorCodes.UNSUPPORTED, 'safetensors: big-endian hosts are not supported');
}

function isDType(value: unknown): value is SafetensorsDType {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(dtypeBytes, value);
}

/**
 * Parses and validates a safetensors header (the JSON text) against the size of the data buffer that follows it.
 * `dataStart` is 8 + header length. Throws naming `path`.
 */
export function parseHeader(
  path: string,
  json: string,
  dataStart: number,
  dataBytes: number,
): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  let header: unknown;
  try {
    header = JSON.parse(json);
  } catch (err) {
    throw badFile(path, `header is not valid JSON (${(err as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw badFile(path, 'header is not a JSON object');
  }
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorInfo>();
  const spans: Array<[number, number, string]> = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
        throw badFile(path, '__metadata__ is not an object');
      }
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') throw badFile(path, `__metadata__.${k} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      throw badFile(path, `tensor "${name}" is not an object`);
    }
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (!isDType(dtype)) throw badFile(path, `tensor "${name}" has unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw badFile(path, `tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw badFile(path, `tensor "${name}" has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    const elements = (shape as number[]).reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(elements * dtypeBytes[dtype])) throw badFile(path, `tensor "${name}" is too large`);
    const byteLength = elements * dtypeBytes[dtype];
    if (end < begin || end - begin !== byteLength) {
      throw badFile(
        path,
        `tensor "${name}" (${dtype} [${(shape as number[]).join(', ')}]) needs ${byteLength} bytes but data_offsets ` +
          `[${begin}, ${end}] span ${end - begin}`,
      );
    }
    if (end > dataBytes) {
      throw badFile(path, `tensor "${name}" data_offsets [${begin}, ${end}] run past the end of the file ` +
        `(data is ${dataBytes} bytes; the file is truncated?)`);
    }
    spans.push([begin, end, name]);
    tensors.set(name, { name, dtype, shape: [...(shape as number[])], elements, fileOffset: dataStart + begin, byteLength });
  }
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i]![0] < spans[i - 1]![1]) {
      throw badFile(path, `tensors "${spans[i - 1]![2]}" and "${spans[i]![2]}" overlap`);
    }
  }
  return { tensors, metadata };
}

/** A safetensors file open for lazy, per-tensor reads. Close it (or `await using`) when done. */
export class SafetensorsReader implements AsyncDisposable {
  private constructor(
    readonly path: string,
    private handle: FileHandle | null,
    readonly tensors: ReadonlyMap<string, TensorInfo>,
    readonly metadata: Readonly<Record<string, string>>,
    readonly fileBytes: number,
  ) {}

  /** Opens `path` and validates its header; throws ERR_REDRAFTER_IO / ERR_REDRAFTER_INVALID_MODEL naming the file. */
  static async open(path: string): Promise<SafetensorsReader> {
    requireLittleEndianHost();
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      throw ioError(path, 'open', err);
    }
    try {
      const size = (await handle.stat()).size;
      if (size < 8) throw badFile(path, `the file is ${size} bytes, shorter than the 8-byte header length`);
      const lenBuf = Buffer.alloc(8);
      await readExactly(handle, path, lenBuf, 0);
      const headerLen = lenBuf.readBigUInt64LE(0);
      if (headerLen > BigInt(MAX_HEADER_BYTES)) {
        throw badFile(path, `header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
      }
      if (headerLen > BigInt(size - 8)) {
        throw badFile(path, `header length ${headerLen} is larger than the rest of the file (${size - 8} bytes)`);
      }
      const n = Number(headerLen);
      if (n < 2) throw badFile(path, `header length ${n} is too small for a JSON object`);
      const headerBuf = Buffer.alloc(n);
      await readExactly(handle, path, headerBuf, 8);
      let json: string;
      try {
        json = new TextDecoder('utf-8', { fatal: true }).decode(headerBuf);
      } catch {
        throw badFile(path, 'header is not valid UTF-8');
      }
      const { tensors, metadata } = parseHeader(path, json, 8 + n, size - 8 - n);
      return new SafetensorsReader(path, handle, tensors, metadata, size);
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  /** The tensor's header entry; throws ERR_REDRAFTER_INVALID_MODEL naming the file and tensor if absent. */
  info(name: string): TensorInfo {
    const info = this.tensors.get(name);
    if (!info) throw codedError(ErrorCodes.INVALID_MODEL, `${this.path}: tensor "${name}" is missing`);
    return info;
  }

  /** The tensor's raw little-endian bytes. */
  async readBytes(name: string): Promise<Uint8Array> {
    const info = this.info(name);
    const out = new Uint8Array(info.byteLength);
    await readExactly(this.requireOpen(), this.path, out, info.fileOffset);
    return out;
  }

  /** The tensor converted to float32 (from F32, F16, BF16 or F64). */
  async readFloat32(name: string): Promise<Float32Array> {
    const info = this.info(name);
    if (!floatDTypes.includes(info.dtype)) {
      throw codedError(ErrorCodes.UNSUPPORTED, `${this.path}: tensor "${name}" has dtype ${info.dtype}, not a float type`);
    }
    if (info.dtype === 'F32') {
      const out = new Float32Array(info.elements);
      await readExactly(this.requireOpen(), this.path, new Uint8Array(out.buffer), info.fileOffset);
      return out;
    }
    const bytes = await this.readBytes(name);
    return toFloat32(bytes, info.dtype);
  }

  async close(): Promise<void> {
    const h = this.handle;
    this.handle = null;
    if (h) await h.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private requireOpen(): FileHandle {
    if (!this.handle) throw codedError(ErrorCodes.DISPOSED, `${this.path}: the safetensors reader is closed`);
    return this.handle;
  }
}

async function readExactly(handle: FileHandle, path: string, into: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < into.byteLength) {
    const len = Math.min(READ_CHUNK_BYTES, into.byteLength - done);
    let bytesRead: number;
    try {
      ({ bytesRead } = await handle.read(into, done, len, position + done));
    } catch (err) {
      throw ioError(path, 'read', err);
    }
    if (bytesRead === 0) throw badFile(path, `unexpected end of file at byte ${position + done}`);
    done += bytesRead;
  }
}

// ---------------------------------------------------------------------------------------------
// float conversions: the one home of float16/bfloat16 <-> float32 in TypeScript. Round to nearest even, overflow to
// infinity, and PyTorch's NaNs (c10::Half: sign | 0x7E00; c10::BFloat16: 0x7FC0), so that converted weights are
// bit-identical to what torch's `tensor.to(dtype)` writes (lib/trtllm/torch-cast.ts relies on it).
// ---------------------------------------------------------------------------------------------
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);
let f16Table: Float32Array | undefined;

/** One IEEE half (its bits) -> float32 (exact). */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** IEEE half bits -> float32. */
export function f16ToF32(bits: Uint16Array, out: Float32Array = new Float32Array(bits.length)): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = f16BitsToF32(i);
  }
  const table = f16Table;
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]!]!;
  return out;
}

/** One float32 value -> IEEE half bits. */
export function f32ToF16Bits(value: number): number {
  scratchF32[0] = value;
  const x = scratchU32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const abs = x & 0x7fffffff;
  if (abs > 0x7f800000) return sign | 0x7e00;  // NaN
  const mant = abs & 0x7fffff;
  const e = (abs >>> 23) - 112;  // rebias 127 -> 15
  if (e >= 31) return sign | 0x7c00;  // overflow (and inf)
  if (e <= 0) {
    if (e < -10) return sign;  // below half the smallest subnormal: +-0
    const m = mant | 0x800000;
    const shift = 14 - e;
    let half = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;  // may carry into the exponent (-> inf): correct
  return sign | half;
}

export function f32ToF16(values: Float32Array, out: Uint16Array = new Uint16Array(values.length)): Uint16Array {
  for (let i = 0; i < values.length; i++) out[i] = f32ToF16Bits(values[i]!);
  return out;
}

/** One bfloat16 (its bits) -> float32 (exact). */
export function bf16BitsToF32(b: number): number {
  scratchU32[0] = (b << 16) >>> 0;
  return scratchF32[0]!;
}

/** bfloat16 bits -> float32 (exact). */
export function bf16ToF32(bits: Uint16Array, out: Float32Array = new Float32Array(bits.length)): Float32Array {
  const u = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i]! << 16;
  return out;
}

/** One float32 value -> bfloat16 bits. */
export function f32ToBf16Bits(value: number): number {
  scratchF32[0] = value;
  const x = scratchU32[0]!;
  if ((x & 0x7fffffff) > 0x7f800000) return 0x7fc0;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

export function f32ToBf16(values: Float32Array, out: Uint16Array = new Uint16Array(values.length)): Uint16Array {
  const u = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < u.length; i++) {
    const x = u[i]!;
    out[i] = (x & 0x7fffffff) > 0x7f800000 ? 0x7fc0 : ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
  }
  return out;
}

/** Little-endian bytes of a float tensor -> float32. */
export function toFloat32(bytes: Uint8Array, dtype: SafetensorsDType): Float32Array {
  const aligned = bytes.byteOffset % dtypeBytes[dtype] === 0 ? bytes : bytes.slice();
  const n = aligned.byteLength / dtypeBytes[dtype];
  switch (dtype) {
    case 'F32':
      return new Float32Array(aligned.buffer.slice(aligned.byteOffset, aligned.byteOffset + aligned.byteLength));
    case 'F16':
      return f16ToF32(new Uint16Array(aligned.buffer, aligned.byteOffset, n));
    case 'BF16':
      return bf16ToF32(new Uint16Array(aligned.buffer, aligned.byteOffset, n));
    case 'F64':
      return Float32Array.from(new Float64Array(aligned.buffer, aligned.byteOffset, n));
    default:
      throw codedError(ErrorCodes.UNSUPPORTED, `safetensors: cannot convert ${dtype} to float32`);
  }
}

/** float32 -> little-endian bytes of a float dtype. */
export function fromFloat32(values: Float32Array, dtype: SafetensorsDType): Uint8Array {
  switch (dtype) {
    case 'F32':
      return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    case 'F16': {
      const out = f32ToF16(values);
      return new Uint8Array(out.buffer);
    }
    case 'BF16': {
      const out = f32ToBf16(values);
      return new Uint8Array(out.buffer);
    }
    case 'F64': {
      const out = Float64Array.from(values);
      return new Uint8Array(out.buffer);
    }
    default:
      throw codedError(ErrorCodes.UNSUPPORTED, `safetensors: cannot convert float32 to ${dtype}`);
  }
}

// ---------------------------------------------------------------------------------------------
// writing
// ---------------------------------------------------------------------------------------------
export interface TensorSpec {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
}

export interface TensorEntry extends TensorSpec {
  /** A Float32Array is converted to `dtype` (a float dtype); any other view is written as raw little-endian bytes. */
  readonly data: ArrayBufferView;
}

const WRITE_CHUNK_ELEMENTS = 1 << 20;

/**
 * Streams a safetensors file: the tensors are declared up front (the header comes first), then each one's data is
 * written in the declared order. Data goes to a temporary file beside `path`; finish() renames it into place,
 * abort() (or any failed write) removes it.
 */
export class SafetensorsWriter {
  private next = 0;
  private position: number;
  private done = false;

  private constructor(
    readonly path: string,
    private readonly tempPath: string,
    private readonly handle: FileHandle,
    private readonly specs: readonly (TensorSpec & { byteLength: number })[],
    dataStart: number,
  ) {
    this.position = dataStart;
  }

  static async create(
    path: string,
    specs: readonly TensorSpec[],
    metadata: Readonly<Record<string, string>> = {},
  ): Promise<SafetensorsWriter> {
    requireLittleEndianHost();
    const header: Record<string, unknown> = {};
    if (Object.keys(metadata).length) header.__metadata__ = { ...metadata };
    let offset = 0;
    const sized: (TensorSpec & { byteLength: number })[] = [];
    const seen = new Set<string>();
    for (const spec of specs) {
      if (spec.name === '__metadata__' || seen.has(spec.name)) {
        throw codedError(ErrorCodes.INVALID_ARGUMENT, `${path}: tensor name "${spec.name}" is reserved or repeated`);
      }
      seen.add(spec.name);
      if (!isDType(spec.dtype)) throw codedError(ErrorCodes.INVALID_ARGUMENT, `${path}: tensor "${spec.name}" has unknown dtype ${spec.dtype}`);
      if (!spec.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
        throw codedError(ErrorCodes.INVALID_ARGUMENT, `${path}: tensor "${spec.name}" has an invalid shape`);
      }
      const byteLength = spec.shape.reduce((a, b) => a * b, 1) * dtypeBytes[spec.dtype];
      header[spec.name] = { dtype: spec.dtype, shape: [...spec.shape], data_offsets: [offset, offset + byteLength] };
      sized.push({ ...spec, byteLength });
      offset += byteLength;
    }
    let json = JSON.stringify(header);
    const jsonBytes = Buffer.byteLength(json, 'utf8');
    json += ' '.repeat((8 - ((8 + jsonBytes) % 8)) % 8);  // align the data buffer to 8 bytes, as the reference writer does
    const headerBuf = Buffer.from(json, 'utf8');
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(headerBuf.byteLength), 0);

    const tempPath = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    let handle: FileHandle;
    try {
      handle = await open(tempPath, 'wx');
    } catch (err) {
      throw ioError(path, 'create a temporary file to write', err);
    }
    const writer = new SafetensorsWriter(path, tempPath, handle, sized, 8 + headerBuf.byteLength);
    try {
      await writer.writeAt(Buffer.concat([prefix, headerBuf]), 0);
    } catch (err) {
      await writer.abort();
      throw err;
    }
    return writer;
  }

  /** Writes the next tensor's data (in declared order). On failure the temporary file is removed. */
  async write(name: string, data: ArrayBufferView): Promise<void> {
    if (this.done) throw codedError(ErrorCodes.DISPOSED, `${this.path}: the safetensors writer is finished`);
    try {
      const spec = this.specs[this.next];
      if (!spec || spec.name !== name) {
        throw codedError(ErrorCodes.INVALID_ARGUMENT,
          `${this.path}: tensor "${name}" written out of order (expected ${spec ? `"${spec.name}"` : 'no more tensors'})`);
      }
      if (data instanceof Float32Array && spec.dtype !== 'F32' && floatDTypes.includes(spec.dtype)) {
        const elements = spec.byteLength / dtypeBytes[spec.dtype];
        if (data.length !== elements) {
          throw codedError(ErrorCodes.INVALID_ARGUMENT,
            `${this.path}: tensor "${name}" has ${data.length} values, its shape [${spec.shape.join(', ')}] needs ${elements}`);
        }
        for (let i = 0; i < data.length; i += WRITE_CHUNK_ELEMENTS) {
          const chunk = fromFloat32(data.subarray(i, Math.min(data.length, i + WRITE_CHUNK_ELEMENTS)), spec.dtype);
          await this.writeAt(chunk, this.position);
          this.position += chunk.byteLength;
        }
      } else {
        if (data.byteLength !== spec.byteLength) {
          throw codedError(ErrorCodes.INVALID_ARGUMENT,
            `${this.path}: tensor "${name}" has ${data.byteLength} bytes, ${spec.dtype} [${spec.shape.join(', ')}] needs ${spec.byteLength}`);
        }
        await this.writeAt(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), this.position);
        this.position += data.byteLength;
      }
      this.next++;
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  /** Flushes, closes and renames the file into place; every declared tensor must have been written. */
  async finish(): Promise<void> {
    if (this.done) throw codedError(ErrorCodes.DISPOSED, `${this.path}: the safetensors writer is finished`);
    if (this.next !== this.specs.length) {
      const missing = this.specs[this.next]!.name;
      await this.abort();
      throw codedError(ErrorCodes.INVALID_ARGUMENT, `${this.path}: tensor "${missing}" was declared but never written`);
    }
    this.done = true;
    try {
      await this.handle.sync();
      await this.handle.close();
      await rename(this.tempPath, this.path);
    } catch (err) {
      await this.handle.close().catch(() => undefined);
      await rm(this.tempPath, { force: true }).catch(() => undefined);
      throw ioError(this.path, 'write', err);
    }
  }

  /** Discards everything written so far. */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.handle.close().catch(() => undefined);
    await rm(this.tempPath, { force: true }).catch(() => undefined);
  }

  private async writeAt(bytes: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < bytes.byteLength) {
      try {
        const { bytesWritten } = await this.handle.write(bytes, done, bytes.byteLength - done, position + done);
        done += bytesWritten;
      } catch (err) {
        throw ioError(this.path, 'write', err);
      }
    }
  }
}

/** Writes a whole safetensors file at once (streamed through SafetensorsWriter). */
export async function writeSafetensors(
  path: string,
  tensors: readonly TensorEntry[],
  metadata: Readonly<Record<string, string>> = {},
): Promise<void> {
  const writer = await SafetensorsWriter.create(path, tensors, metadata);
  for (const t of tensors) await writer.write(t.name, t.data);
  await writer.finish();
}

// safetensors reader/writer: round trips in every float dtype, exact conversions, corrupt-header errors naming the
// file, and writes that fail leaving nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  SafetensorsReader,
  SafetensorsWriter,
  writeSafetensors,
  f32ToF16,
  f16ToF32,
  f32ToBf16,
  bf16ToF32,
  f32ToF16Bits,
} from '../lib/safetensors.ts';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'redrafter-st-'));
}

/** A file built by hand in the format's documented layout. */
function handMade(header: unknown, data: Uint8Array, headerText?: string): Buffer {
  const json = Buffer.from(headerText ?? JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.byteLength));
  return Buffer.concat([prefix, json, data]);
}

test('reads a hand-made file: F32 and F16 values, metadata, shapes', async () => {
  const dir = tempDir();
  try {
    const a = new Float32Array([1, -2.5, 3.25, 0]);
    const h = new Uint16Array([0x3c00, 0xc000, 0x7bff]);  // 1, -2, 65504
    const data = Buffer.concat([Buffer.from(a.buffer), Buffer.from(h.buffer)]);
    const file = join(dir, 'm.safetensors');
    writeFileSync(file, handMade({
      __metadata__: { format: 'pt' },
      b: { dtype: 'F16', shape: [3], data_offsets: [16, 22] },
      a: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] },
    }, data));
    await using r = await SafetensorsReader.open(file);
    assert.deepEqual(r.metadata, { format: 'pt' });
    assert.deepEqual(r.names().sort(), ['a', 'b']);
    assert.deepEqual(r.info('a').shape, [2, 2]);
    assert.deepEqual([...(await r.readFloat32('a'))], [1, -2.5, 3.25, 0]);
    assert.deepEqual([...(await r.readFloat32('b'))], [1, -2, 65504]);
    await assert.rejects(() => r.readFloat32('missing'), (e: Error & { code: string }) =>
      e.code === 'ERR_REDRAFTER_INVALID_MODEL' && e.message.includes(file) && e.message.includes('"missing"'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('round trip in F32, F16, BF16 and F64 with raw integer tensors', async () => {
  const dir = tempDir();
  try {
    const values = new Float32Array(1000);
    for (let i = 0; i < values.length; i++) values[i] = Math.sin(i * 0.37) * 10 ** ((i % 9) - 4);
    const ints = new Int32Array([7, -1, 2 ** 30]);
    const file = join(dir, 'rt.safetensors');
    await writeSafetensors(file, [
      { name: 'x.f32', dtype: 'F32', shape: [10, 100], data: values },
      { name: 'x.f16', dtype: 'F16', shape: [1000], data: values },
      { name: 'x.bf16', dtype: 'BF16', shape: [10, 10, 10], data: values },
      { name: 'x.f64', dtype: 'F64', shape: [1000], data: values },
      { name: 'ids', dtype: 'I32', shape: [3], data: ints },
      { name: 'empty', dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
    ], { note: 'test' });
    // The data buffer starts 8-byte aligned, like the reference writer's output.
    const raw = readFileSync(file);
    assert.equal((8 + Number(raw.readBigUInt64LE(0))) % 8, 0);
    await using r = await SafetensorsReader.open(file);
    assert.deepEqual(r.metadata, { note: 'test' });
    assert.deepEqual(await r.readFloat32('x.f32'), values);
    assert.deepEqual(await r.readFloat32('x.f64'), values);
    assert.deepEqual(await r.readFloat32('x.f16'), f16ToF32(f32ToF16(values)));
    assert.deepEqual(await r.readFloat32('x.bf16'), bf16ToF32(f32ToBf16(values)));
    const f16 = await r.readFloat32('x.f16');
    const bf16 = await r.readFloat32('x.bf16');
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (Math.abs(v) > 1e-4) assert.ok(Math.abs(f16[i]! - v) <= Math.abs(v) * 2 ** -11, `f16 ${v} -> ${f16[i]}`);
      assert.ok(Math.abs(bf16[i]! - v) <= Math.abs(v) * 2 ** -8, `bf16 ${v} -> ${bf16[i]}`);
    }
    assert.deepEqual(new Int32Array((await r.readBytes('ids')).buffer), ints);
    assert.equal((await r.readFloat32('empty')).length, 0);
    await assert.rejects(() => r.readFloat32('ids'), /dtype I32, not a float type/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('float16 and bfloat16 conversions round to nearest even and keep specials', () => {
  assert.equal(f32ToF16Bits(1), 0x3c00);
  assert.equal(f32ToF16Bits(-0), 0x8000);
  assert.equal(f32ToF16Bits(65504), 0x7bff);
  assert.equal(f32ToF16Bits(65520), 0x7c00);  // rounds up to infinity
  assert.equal(f32ToF16Bits(Infinity), 0x7c00);
  assert.equal(f32ToF16Bits(-Infinity), 0xfc00);
  assert.ok(Number.isNaN(f16ToF32(new Uint16Array([f32ToF16Bits(NaN)]))[0]));
  assert.equal(f32ToF16Bits(2 ** -24), 0x0001);  // smallest subnormal
  assert.equal(f32ToF16Bits(2 ** -25), 0x0000);  // halfway to zero: ties to even
  assert.equal(f32ToF16Bits(3 * 2 ** -25), 0x0002);  // 1.5 ulp: ties to even (2)
  assert.equal(f32ToF16Bits(1 + 2 ** -11), 0x3c00);  // halfway between 1 and next: even
  assert.equal(f32ToF16Bits(1 + 3 * 2 ** -11), 0x3c02);
  // every half value survives f16 -> f32 -> f16
  const all = new Uint16Array(65536).map((_, i) => i);
  const back = f32ToF16(f16ToF32(all));
  for (let i = 0; i < 65536; i++) {
    const isNaN16 = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0;
    if (!isNaN16) assert.equal(back[i], i);
  }
  const bf = f32ToBf16(new Float32Array([1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, -Infinity, NaN]));
  assert.deepEqual([...bf.slice(0, 4)], [0x3f80, 0x3f80, 0x3f82, 0xff80]);
  assert.ok(Number.isNaN(bf16ToF32(bf.slice(4))[0]));
});

test('corrupt headers are rejected with errors naming the file and the problem', async () => {
  const dir = tempDir();
  try {
    const data = new Uint8Array(16);
    const cases: Array<[string, Buffer, RegExp]> = [
      ['short', Buffer.from([1, 2, 3]), /shorter than the 8-byte header length/],
      ['hugelen', (() => { const b = Buffer.alloc(16); b.writeBigUInt64LE(1n << 40n); return b; })(), /exceeds the/],
      ['pastend', (() => { const b = Buffer.alloc(16); b.writeBigUInt64LE(100n); return b; })(), /larger than the rest of the file/],
      ['badjson', handMade(null, data, '{"a": {'), /not valid JSON/],
      ['array', handMade([1, 2], data), /not a JSON object/],
      ['dtype', handMade({ a: { dtype: 'F12', shape: [4], data_offsets: [0, 16] } }, data), /unknown dtype "F12"/],
      ['shape', handMade({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 16] } }, data), /invalid shape/],
      ['span', handMade({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } }, data), /needs 12 bytes/],
      ['trunc', handMade({ a: { dtype: 'F32', shape: [8], data_offsets: [0, 32] } }, data), /past the end of the file/],
      ['overlap', handMade({
        a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] },
        b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] },
      }, data), /"a" and "b" overlap/],
      ['meta', handMade({ __metadata__: { n: 1 } }, data), /__metadata__.n is not a string/],
    ];
    for (const [name, bytes, pattern] of cases) {
      const file = join(dir, `${name}.safetensors`);
      writeFileSync(file, bytes);
      await assert.rejects(() => SafetensorsReader.open(file), (e: Error & { code: string }) => {
        assert.equal(e.code, 'ERR_REDRAFTER_INVALID_MODEL', name);
        assert.ok(e.message.includes(file), `${name}: ${e.message}`);
        assert.match(e.message, pattern, name);
        return true;
      });
    }
    await assert.rejects(() => SafetensorsReader.open(join(dir, 'nope.safetensors')),
      (e: Error & { code: string }) => e.code === 'ERR_REDRAFTER_IO' && e.message.includes('nope.safetensors'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a failed or aborted write leaves nothing behind and never replaces the old file', async () => {
  const dir = tempDir();
  try {
    const file = join(dir, 'out.safetensors');
    writeFileSync(file, 'old');
    const w = await SafetensorsWriter.create(file, [
      { name: 'a', dtype: 'F32', shape: [4] },
      { name: 'b', dtype: 'BF16', shape: [2] },
    ]);
    await w.write('a', new Float32Array(4));
    await assert.rejects(() => w.write('b', new Float32Array(3)), /has 3 values, its shape \[2\] needs 2/);
    assert.deepEqual(readdirSync(dir), ['out.safetensors']);
    assert.equal(readFileSync(file, 'utf8'), 'old');

    const w2 = await SafetensorsWriter.create(file, [{ name: 'a', dtype: 'F32', shape: [1] }]);
    await assert.rejects(() => w2.finish(), /"a" was declared but never written/);
    assert.deepEqual(readdirSync(dir), ['out.safetensors']);

    await assert.rejects(() => writeSafetensors(join(dir, 'missing-dir', 'x.safetensors'), []),
      (e: Error & { code: string }) => e.code === 'ERR_REDRAFTER_IO');
    assert.ok(!existsSync(join(dir, 'missing-dir')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

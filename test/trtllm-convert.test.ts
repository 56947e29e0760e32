// `redrafter build` checkpoint conversion against TensorRT-LLM's examples/redrafter/convert_checkpoint.py semantics.
// Checkpoints are built here with small tensors; expectations are derived independently from the reference:
// names and shapes by explicit split arithmetic (torch.chunk on dim 0 => rank r gets rows [r*n/tp, (r+1)*n/tp)),
// bytes by reading the source element at (global row, col), config.json as the literal text Python's
// json.dump(indent=4) writes, and the file layout as safetensors' save_file lays it out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertCheckpoint } from '../lib/trtllm/convert-checkpoint.ts';
import { castBytes } from '../lib/trtllm/torch-cast.ts';
import { dumpPythonJson, parsePythonJson, pythonFloatRepr } from '../lib/trtllm/pyjson.ts';
import { repoRoot } from './helpers/fixtures.ts';

type DT = 'F32' | 'F16' | 'BF16' | 'I32' | 'I8';
const SIZE: Record<DT, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, I8: 1 };

/** Writes a safetensors file by hand (header order as given, no padding tricks beyond the format's 8-byte rule). */
function writeSt(path: string, tensors: Array<{ name: string; dtype: DT; shape: number[]; data: Uint8Array }>): void {
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.data.byteLength] };
    off += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  while (json.length % 8) json += ' ';
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([len, Buffer.from(json), ...tensors.map((t) => Buffer.from(t.data))]));
}

interface StFile {
  headerText: string;
  entries: Array<{ name: string; dtype: string; shape: number[]; begin: number; end: number }>;
  data: Buffer;
}
function readSt(path: string): StFile {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const headerText = buf.subarray(8, 8 + n).toString('utf8');
  // keys in file order (JSON.parse would reorder integer-like keys; our names never are)
  const parsed = JSON.parse(headerText) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const entries = Object.entries(parsed).map(([name, e]) => ({ name, dtype: e.dtype, shape: e.shape, begin: e.data_offsets[0], end: e.data_offsets[1] }));
  return { headerText, entries, data: buf.subarray(8 + n) };
}

/** Values exactly representable in f16 and bf16, distinct per (tensor seed, index). */
function exactValue(seed: number, i: number): number {
  return (((i * 7 + seed * 13) % 61) - 30) / 8;
}
function f32Bytes(n: number, seed: number): Uint8Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = exactValue(seed, i);
  return new Uint8Array(a.buffer);
}
function decode(bytes: Buffer | Uint8Array, dtype: string): number[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: number[] = [];
  const size = SIZE[dtype as DT];
  for (let k = 0; k < bytes.byteLength / size; k++) {
    if (dtype === 'F32') out.push(dv.getFloat32(k * 4, true));
    else if (dtype === 'BF16') {
      const f = new Float32Array(1);
      new Uint32Array(f.buffer)[0] = dv.getUint16(k * 2, true) << 16;
      out.push(f[0]!);
    } else if (dtype === 'F16') {
      const h = dv.getUint16(k * 2, true);
      const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, m = h & 1023;
      out.push(e === 0 ? s * m * 2 ** -24 : s * (1 + m / 1024) * 2 ** (e - 15));
    } else throw new Error(dtype);
  }
  return out;
}

// A base config as TensorRT-LLM's LLaMA converter writes it (json.dump indent=4; floats as Python floats).
function baseConfigText(tp: number, arch = 'LlamaForCausalLM', hidden = 8, vocab = 16, excludeModules = 'null'): string {
  return `{
    "architecture": "${arch}",
    "dtype": "float16",
    "logits_dtype": "float32",
    "vocab_size": ${vocab},
    "max_position_embeddings": 256,
    "hidden_size": ${hidden},
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
    "head_size": 4,
    "hidden_act": "silu",
    "intermediate_size": 16,
    "norm_epsilon": 1e-05,
    "position_embedding_type": "rope_gpt_neox",
    "mapping": {
        "world_size": ${tp},
        "gpus_per_node": 8,
        "cp_size": 1,
        "tp_size": ${tp},
        "pp_size": 1,
        "moe_tp_size": ${tp},
        "moe_ep_size": 1
    },
    "quantization": {
        "quant_algo": null,
        "kv_cache_quant_algo": null,
        "exclude_modules": ${excludeModules}
    },
    "rotary_base": 10000.0,
    "rotary_scaling": null,
    "tie_word_embeddings": false,
    "model_name": "t\\u00e9st"
}`;
}

interface Case {
  tp: number;
  rnn: boolean;
  hidden: number;
  exit: number;
  vocab: number;
  layers: number;
  drafterDtype: DT;
  names?: 'apple' | 'plural' | 'numbered';
}

/** The drafter's source tensors (Apple names by default) as [name, rows, cols|undefined]. */
function drafterSourceTensors(c: Case): Array<[string, number[]]> {
  const list: Array<[string, number[]]> = [];
  const inputName = c.names === 'plural' ? 'input_projs' : 'input_proj';
  const layerPrefix = c.names === 'plural' ? 'lm_heads' : c.names === 'numbered' ? '0' : 'lm_head';
  if (c.exit !== 2 * c.hidden) {
    list.push([`${inputName}.weight`, [c.exit, 2 * c.hidden]], [`${inputName}.bias`, [c.exit]]);
  }
  for (let i = 0; i < c.layers; i++) {
    list.push([`${layerPrefix}.${i}.linear.weight`, [c.exit, c.exit]], [`${layerPrefix}.${i}.linear.bias`, [c.exit]]);
  }
  list.push([`${layerPrefix}.${c.layers}.weight`, [c.vocab, c.exit]]);
  if (c.rnn) list.push(['rnn_u.weight', [c.hidden, c.hidden]], ['rnn_u.bias', [c.hidden]], ['rnn_w.weight', [c.hidden, c.hidden]]);
  return list;
}

/** Output name of each source tensor, per the converter's table. */
function outputName(src: string): string {
  return 'drafter.' + src
    .replace(/^input_projs?\./, 'input_proj.')
    .replace(/^(?:lm_heads?|0)\.(\d+)\.linear\./, 'layers.$1.linear.')
    .replace(/^(?:lm_heads?|0)\.\d+\.weight$/, 'lm_head.weight');
}

function encode(values: Uint8Array, dtype: DT): Uint8Array {
  // source tensors are built from exact values, so any dtype holds them exactly
  return dtype === 'F32' ? values : castBytes(values, 'F32', dtype);
}

function makeFixture(root: string, c: Case, opts: { baseConfig?: string; drafterConfig?: string } = {}) {
  const base = join(root, 'base');
  const drafter = join(root, 'drafter');
  mkdirSync(base);
  mkdirSync(drafter);
  writeFileSync(join(base, 'config.json'), opts.baseConfig ?? baseConfigText(c.tp, 'LlamaForCausalLM', c.hidden, c.vocab));
  for (let r = 0; r < c.tp; r++) {
    // base rank tensors in several dtypes; content distinct per rank
    writeSt(join(base, `rank${r}.safetensors`), [
      { name: 'transformer.vocab_embedding.weight', dtype: 'F16', shape: [c.vocab, c.hidden], data: encode(f32Bytes(c.vocab * c.hidden, 100 + r), 'F16') },
      { name: 'lm_head.weight', dtype: 'F16', shape: [c.vocab / c.tp, c.hidden], data: encode(f32Bytes((c.vocab / c.tp) * c.hidden, 200 + r), 'F16') },
      { name: 'transformer.ln_f.weight', dtype: 'F32', shape: [c.hidden], data: f32Bytes(c.hidden, 300 + r) },
      { name: 'transformer.layers.0.attention.qkv.weight', dtype: 'I8', shape: [3, c.hidden], data: Uint8Array.from({ length: 3 * c.hidden }, (_, k) => (k * 5 + r) & 0xff) },
      { name: 'transformer.layers.0.attention.kv_cache_scaling_factor', dtype: 'I32', shape: [1], data: new Uint8Array(new Int32Array([r + 1]).buffer) },
      { name: 'transformer.layers.0.input_layernorm.weight', dtype: 'BF16', shape: [c.hidden], data: encode(f32Bytes(c.hidden, 400 + r), 'BF16') },
    ]);
  }
  writeFileSync(join(drafter, 'config.json'), opts.drafterConfig ?? JSON.stringify({
    vocab_size: c.vocab, hidden_size: c.hidden, exit_dim: c.exit, num_draft_layers: c.layers, num_lookback_tokens: 1,
    rnn: c.rnn, model_type: 'recurrent_drafting_drafter',
  }));
  const sources = drafterSourceTensors(c);
  writeSt(join(drafter, 'model.safetensors'), sources.map(([name, shape], k) => ({
    name, dtype: c.drafterDtype, shape, data: encode(f32Bytes(shape.reduce((a, b) => a * b, 1), k), c.drafterDtype),
  })));
  return { base, drafter, sources };
}

const order: Record<string, number> = { F32: 11, BF16: 8, F16: 7, I32: 9, I8: 2 };

async function checkCase(c: Case, dtype: 'float16' | 'bfloat16' | 'float32' = 'float16') {
  const root = mkdtempSync(join(tmpdir(), 'redrafter-conv-'));
  try {
    const { base, drafter, sources } = makeFixture(root, c);
    const out = join(root, 'out');
    const result = await convertCheckpoint({
      baseCheckpointDir: base, drafterDir: drafter, outputDir: out, dtype, numBeams: 4, draftLenPerBeam: 3, trtllmVersion: '1.2.0',
    });
    assert.equal(result.tpSize, c.tp);
    assert.deepEqual(readdirSync(out).sort(), ['config.json', ...Array.from({ length: c.tp }, (_, r) => `rank${r}.safetensors`)].sort());
    assert.deepEqual(readdirSync(root).sort(), ['base', 'drafter', 'out'], 'no temporary directory left behind');

    const outDtype = { float16: 'F16', bfloat16: 'BF16', float32: 'F32' }[dtype];
    const srcFile = readSt(join(drafter, 'model.safetensors'));
    for (let r = 0; r < c.tp; r++) {
      const baseFile = readSt(join(base, `rank${r}.safetensors`));
      const outFile = readSt(join(out, `rank${r}.safetensors`));
      // expected set: every base tensor unchanged + the drafter tensors split on dim 0
      const expected = new Map<string, { dtype: string; shape: number[]; bytes: Buffer }>();
      for (const e of baseFile.entries) expected.set(e.name, { dtype: e.dtype, shape: e.shape, bytes: baseFile.data.subarray(e.begin, e.end) });
      for (const [name, shape] of sources) {
        const src = srcFile.entries.find((e) => e.name === name)!;
        const values = decode(srcFile.data.subarray(src.begin, src.end), src.dtype);
        const rows = shape[0]!;
        const cols = shape.length === 2 ? shape[1]! : 1;
        const per = rows / c.tp;
        const slice: number[] = [];
        for (let row = r * per; row < (r + 1) * per; row++) for (let col = 0; col < cols; col++) slice.push(values[row * cols + col]!);
        const outShape = shape.length === 2 ? [per, cols] : [per];
        expected.set(outputName(name), { dtype: outDtype, shape: outShape, bytes: Buffer.from(encode(new Uint8Array(new Float32Array(slice).buffer), outDtype as DT)) });
      }
      // layout: sorted by dtype rank descending then name; offsets contiguous; header padded to 8 with spaces
      const wantOrder = [...expected.keys()].sort((a, b) => order[expected.get(b)!.dtype]! - order[expected.get(a)!.dtype]! || (a < b ? -1 : a > b ? 1 : 0));
      assert.deepEqual(outFile.entries.map((e) => e.name), wantOrder, `rank ${r} tensor order`);
      assert.ok(!outFile.headerText.includes('__metadata__'));
      assert.equal((8 + outFile.headerText.length) % 8, 0);
      assert.equal(outFile.headerText.trimEnd(), JSON.stringify(Object.fromEntries(outFile.entries.map((e) => [e.name, { dtype: e.dtype, shape: e.shape, data_offsets: [e.begin, e.end] }]))));
      let offset = 0;
      for (const e of outFile.entries) {
        const want = expected.get(e.name)!;
        assert.equal(e.dtype, want.dtype, `${e.name} dtype`);
        assert.deepEqual(e.shape, want.shape, `${e.name} shape`);
        assert.equal(e.begin, offset);
        offset = e.end;
        assert.ok(outFile.data.subarray(e.begin, e.end).equals(want.bytes), `rank ${r} ${e.name} bytes`);
      }
      assert.equal(offset, outFile.data.byteLength);
    }

    // config.json: the base config text with the ReDrafter keys, exactly as json.dump(indent=4) writes it
    const baseText = baseConfigText(c.tp, 'LlamaForCausalLM', c.hidden, c.vocab);
    const wantConfig = baseText
      .replace('"architecture": "LlamaForCausalLM"', '"architecture": "ReDrafterForLLaMALM"')
      .replace(/\n}$/, `,
    "base_model_architecture": "LlamaForCausalLM",
    "redrafter_num_layers": ${c.layers},
    "redrafter_hidden_size": ${c.hidden},
    "redrafter_exit_dim": ${c.exit},
    "redrafter_is_rnn": ${c.rnn},
    "redrafter_num_beams": 4,
    "redrafter_draft_len_per_beam": 3,
    "redrafter_greedy_search": true
}`);
    assert.equal(readFileSync(join(out, 'config.json'), 'utf8'), wantConfig);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

for (const tp of [1, 2, 4]) {
  for (const rnn of [true, false]) {
    for (const inputProj of [false, true]) {
      test(`converts tp=${tp} rnn=${rnn} ${inputProj ? 'with input_proj' : 'exit_dim = 2*hidden'}`, async () => {
        await checkCase({ tp, rnn, hidden: 8, exit: inputProj ? 12 : 16, vocab: 16, layers: 2, drafterDtype: 'F32' });
      });
    }
  }
}

test('accepts the converter\'s alternative drafter names and casts BF16 drafters', async () => {
  await checkCase({ tp: 2, rnn: false, hidden: 4, exit: 4, vocab: 8, layers: 1, drafterDtype: 'BF16', names: 'plural' }, 'float16');
  await checkCase({ tp: 1, rnn: true, hidden: 4, exit: 8, vocab: 8, layers: 3, drafterDtype: 'F16', names: 'numbered' }, 'bfloat16');
  await checkCase({ tp: 4, rnn: true, hidden: 4, exit: 8, vocab: 8, layers: 0, drafterDtype: 'F32' }, 'float32');
});

test('casts like torch: round to nearest even, overflow to inf, NaN patterns', () => {
  const f32 = new Float32Array([1 / 3, 65520, 2 ** -25, 3 * 2 ** -25, NaN, -0, 1 + 2 ** -11, 1 + 3 * 2 ** -11]);
  const half = new Uint16Array(castBytes(new Uint8Array(f32.buffer), 'F32', 'F16').buffer);
  assert.deepEqual([...half].map((h) => h.toString(16)), ['3555', '7c00', '0', '2', '7e00', '8000', '3c00', '3c02']);
  const bf = new Uint16Array(castBytes(new Uint8Array(f32.buffer), 'F32', 'BF16').buffer);
  assert.deepEqual([...bf].map((h) => h.toString(16)), ['3eab', '4780', '3300', '33c0', '7fc0', '8000', '3f80', '3f80']);
});

test('Python json: floats stay floats, ints stay ints, repr and escapes as Python writes them', () => {
  assert.deepEqual([1e-5, 10000, 0.0001, 1e16, 1e15, 1.5e-7, -0, 123.456, 5e-324].map(pythonFloatRepr),
    ['1e-05', '10000.0', '0.0001', '1e+16', '1000000000000000.0', '1.5e-07', '-0.0', '123.456', '5e-324']);
  const text = '{"a": 1, "b": 1.0, "c": [true, null, "\\u00e9\\n"], "d": {}, "e": [], "f": 12345678901234567890}';
  assert.equal(dumpPythonJson(parsePythonJson(text)),
    '{\n    "a": 1,\n    "b": 1.0,\n    "c": [\n        true,\n        null,\n        "\\u00e9\\n"\n    ],\n    "d": {},\n    "e": [],\n    "f": 12345678901234567890\n}');
});

test('the architecture written follows the target release: ReDrafterForCausalLM before 1.0, ReDrafterForLLaMALM from 1.0', async () => {
  const root = mkdtempSync(join(tmpdir(), 'redrafter-conv-'));
  try {
    const c: Case = { tp: 1, rnn: false, hidden: 4, exit: 8, vocab: 8, layers: 1, drafterDtype: 'F32' };
    const { base, drafter } = makeFixture(root, c);
    for (const [version, arch] of [['0.15.0', 'ReDrafterForCausalLM'], ['0.21.0', 'ReDrafterForCausalLM'], ['1.0.0', 'ReDrafterForLLaMALM'],
      ['1.3.0rc20', 'ReDrafterForLLaMALM']] as const) {
      const out = join(root, `out-${version}`);
      const result = await convertCheckpoint({ baseCheckpointDir: base, drafterDir: drafter, outputDir: out, trtllmVersion: version });
      assert.equal(result.architecture, arch, version);
      const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
      assert.equal(config.architecture, arch, version);
      assert.equal(config.base_model_architecture, 'LlamaForCausalLM');
    }
    // without --trtllm-version, the installed release (TRTLLM_ROOT's version.py) decides
    const pkg = join(root, 'tensorrt_llm');
    mkdirSync(pkg);
    writeFileSync(join(pkg, 'version.py'), '__version__ = "0.16.0"\n');
    const saved = process.env.TRTLLM_ROOT;
    process.env.TRTLLM_ROOT = pkg;
    try {
      const result = await convertCheckpoint({ baseCheckpointDir: base, drafterDir: drafter, outputDir: join(root, 'out-installed') });
      assert.equal(result.architecture, 'ReDrafterForCausalLM');
      assert.equal(result.trtllmVersion, '0.16.0');
    } finally {
      if (saved === undefined) delete process.env.TRTLLM_ROOT;
      else process.env.TRTLLM_ROOT = saved;
    }
    // a release outside the range, and a Qwen base on a release whose only ReDrafter model is LLaMA's, write nothing
    await assert.rejects(convertCheckpoint({ baseCheckpointDir: base, drafterDir: drafter, outputDir: join(root, 'x1'), trtllmVersion: '1.3.0' }),
      /--trtllm-version: TensorRT-LLM 1\.3\.0 is newer than the last release/);
    mkdirSync(join(root, 'q'));
    const qwen = makeFixture(join(root, 'q'), c, { baseConfig: baseConfigText(1, 'Qwen2ForCausalLM', 4, 8) });
    await assert.rejects(convertCheckpoint({ baseCheckpointDir: qwen.base, drafterDir: qwen.drafter, outputDir: join(root, 'x2'), trtllmVersion: '0.18.0' }),
      /architecture "Qwen2ForCausalLM" has no ReDrafter model in TensorRT-LLM 0\.18\.0 \(supported: LlamaForCausalLM\)/);
    assert.ok(!existsSync(join(root, 'x1')) && !existsSync(join(root, 'x2')));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('quantization.exclude_modules gets the drafter modules when it is a list', async () => {
  const root = mkdtempSync(join(tmpdir(), 'redrafter-conv-'));
  try {
    const c: Case = { tp: 1, rnn: true, hidden: 4, exit: 8, vocab: 8, layers: 2, drafterDtype: 'F32' };
    const { base, drafter } = makeFixture(root, c, { baseConfig: baseConfigText(1, 'Qwen2ForCausalLM', 4, 8, '[\n            "lm_head"\n        ]') });
    await convertCheckpoint({ baseCheckpointDir: base, drafterDir: drafter, outputDir: join(root, 'out'), trtllmVersion: '1.0.0' });
    const config = JSON.parse(readFileSync(join(root, 'out', 'config.json'), 'utf8'));
    assert.equal(config.architecture, 'ReDrafterForQWenLM');
    assert.equal(config.base_model_architecture, 'Qwen2ForCausalLM');
    assert.deepEqual(config.quantization.exclude_modules, ['lm_head', 'drafter', 'drafter.layers', 'drafter.lm_head',
      'drafter.rnn_u', 'drafter.rnn_w', 'drafter.layers.0', 'drafter.layers.0.linear', 'drafter.layers.1', 'drafter.layers.1.linear']);
    assert.equal(config.redrafter_num_beams, 5);
    assert.equal(config.redrafter_draft_len_per_beam, 5);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

// ---- bad inputs: a clear error naming the problem, and nothing left behind ---------------------------------
const good: Case = { tp: 2, rnn: true, hidden: 4, exit: 12, vocab: 8, layers: 1, drafterDtype: 'F32' };

async function expectFailure(
  name: string,
  mutate: (paths: { root: string; base: string; drafter: string }) => void,
  message: RegExp,
  extra: Partial<Parameters<typeof convertCheckpoint>[0]> = {},
  c: Case = good,
) {
  test(`rejects ${name}`, async () => {
    const root = mkdtempSync(join(tmpdir(), 'redrafter-conv-'));
    try {
      const { base, drafter } = makeFixture(root, c);
      mutate({ root, base, drafter });
      const out = join(root, 'out');
      await assert.rejects(convertCheckpoint({ baseCheckpointDir: base, drafterDir: drafter, outputDir: out, trtllmVersion: '1.2.0', ...extra }), (e: Error & { code?: string }) => {
        assert.match(e.message, message);
        assert.match(e.code ?? '', /^ERR_REDRAFTER_/);
        return true;
      });
      assert.equal(existsSync(out), false, 'no output directory');
      assert.deepEqual(readdirSync(root).filter((f) => f !== 'base' && f !== 'drafter'), [], 'no temporary files');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
}

const rewriteDrafter = (drop: string[], change: Record<string, { dtype?: DT; shape?: number[] }> = {}) =>
  ({ drafter }: { drafter: string }) => {
    const sources = drafterSourceTensors(good).filter(([n]) => !drop.includes(n));
    writeSt(join(drafter, 'model.safetensors'), sources.map(([n, shape], k) => {
      const dtype = change[n]?.dtype ?? 'F32';
      const s = change[n]?.shape ?? shape;
      const count = s.reduce((a, b) => a * b, 1);
      return { name: n, dtype, shape: s, data: dtype === 'I32' ? new Uint8Array(count * 4) : f32Bytes(count, k) };
    }));
  };

expectFailure('a drafter missing its LM head', rewriteDrafter(['lm_head.1.weight']), /missing the LM head tensors \(looked for lm_head\.1\.weight or lm_heads\.1\.weight or 0\.1\.weight\)/);
expectFailure('a drafter missing a bias', rewriteDrafter(['lm_head.0.linear.bias']), /missing the residual block 0 tensors/);
expectFailure('an rnn drafter without rnn_w', rewriteDrafter(['rnn_w.weight']), /missing the RNN \(rnn_w\) tensors/);
expectFailure('a drafter without input_proj when exit_dim != 2*hidden', rewriteDrafter(['input_proj.weight', 'input_proj.bias']), /missing the input projection tensors/);
expectFailure('a drafter LM head for another vocabulary', rewriteDrafter([], { 'lm_head.1.weight': { shape: [10, 12] } }), /"lm_head\.1\.weight" has shape \[10, 12\], expected \[8, 12\]/);
expectFailure('an integer drafter tensor', rewriteDrafter([], { 'rnn_u.bias': { dtype: 'I32' } }), /"rnn_u\.bias" has dtype I32/);
expectFailure('a drafter hidden size that differs from the base model', ({ drafter }) => {
  writeFileSync(join(drafter, 'config.json'), JSON.stringify({ vocab_size: 8, hidden_size: 6, exit_dim: 12, num_draft_layers: 1, rnn: true }));
}, /drafter hidden_size 6 does not match the base model's hidden_size 4/);
expectFailure('a drafter vocab size that differs from the base model', ({ drafter }) => {
  writeFileSync(join(drafter, 'config.json'), JSON.stringify({ vocab_size: 9, hidden_size: 4, exit_dim: 12, num_draft_layers: 1, rnn: true }));
}, /drafter vocab_size 9 does not match the base model's vocab_size 8/);
expectFailure('a missing drafter model.safetensors', ({ drafter }) => rmSync(join(drafter, 'model.safetensors')), /model\.safetensors: the drafter weights file does not exist/);
expectFailure('a missing base rank file', ({ base }) => rmSync(join(base, 'rank1.safetensors')), /rank1\.safetensors: the base checkpoint has no rank 1 weights/);
expectFailure('a missing base config', ({ base }) => rmSync(join(base, 'config.json')), /config\.json: cannot read the base checkpoint config/);
expectFailure('a malformed drafter config', ({ drafter }) => writeFileSync(join(drafter, 'config.json'), '{"hidden_size": 4,'), /the drafter config is not valid JSON/);
expectFailure('a truncated base rank file', ({ base }) => {
  const f = join(base, 'rank1.safetensors');
  writeFileSync(f, readFileSync(f).subarray(0, 100));
}, /rank1\.safetensors/);
expectFailure('an architecture without a ReDrafter model', ({ base }) => {
  writeFileSync(join(base, 'config.json'), baseConfigText(2, 'GPTJForCausalLM', 4, 8));
}, /architecture "GPTJForCausalLM" has no ReDrafter model/);
expectFailure('a tp size other than the base checkpoint\'s', () => {}, /tpSize 4 does not match the base checkpoint's mapping\.tp_size 2/, { tpSize: 4 });
expectFailure('sizes that do not split evenly', ({ base, drafter }) => {
  writeFileSync(join(drafter, 'config.json'), JSON.stringify({ vocab_size: 8, hidden_size: 4, exit_dim: 9, num_draft_layers: 1, rnn: true }));
}, /exit_dim 9 is not divisible by tp_size 2/);

test('refuses an existing output directory without overwrite, replaces it with overwrite', async () => {
  const root = mkdtempSync(join(tmpdir(), 'redrafter-conv-'));
  try {
    const { base, drafter } = makeFixture(root, good);
    const out = join(root, 'out');
    mkdirSync(out);
    writeFileSync(join(out, 'keep'), 'x');
    await assert.rejects(convertCheckpoint({ baseCheckpointDir: base, drafterDir: drafter, outputDir: out, trtllmVersion: '1.2.0' }), /already exists/);
    assert.deepEqual(readdirSync(out), ['keep']);
    await convertCheckpoint({ baseCheckpointDir: base, drafterDir: drafter, outputDir: out, overwrite: true, trtllmVersion: '1.2.0' });
    assert.deepEqual(readdirSync(out).sort(), ['config.json', 'rank0.safetensors', 'rank1.safetensors']);
    assert.deepEqual(readdirSync(root).sort(), ['base', 'drafter', 'out']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

// ---- the CLI ------------------------------------------------------------------------------------------------
function cli(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'lib', 'cli', 'main.ts'), ...args], {
    cwd: repoRoot, encoding: 'utf8', env: { ...process.env, ...env },
  });
}

test('redrafter build prints the exact trtllm-build command when trtllm-build is not installed', () => {
  const root = mkdtempSync(join(tmpdir(), 'redrafter-conv-'));
  try {
    const { base, drafter } = makeFixture(root, good);
    const out = join(root, 'ckpt');
    const r = cli(['build', '--base-checkpoint', base, '--drafter', drafter, '--checkpoint-out', out, '--num-beams', '4',
      '--max-batch-size', '8', '--trtllm-version', '1.2.0', '--trtllm-build', 'trtllm-build-absent-for-test'], { PATH: '/nonexistent' + ':' + (process.env.PATH ?? '') });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.at(-1), `trtllm-build-absent-for-test --checkpoint_dir ${out} --output_dir ${out}-engine --gemm_plugin float16 ` +
      '--speculative_decoding_mode explicit_draft_tokens --use_paged_context_fmha enable --max_draft_len 20 ' +
      '--max_batch_size 8 --workers 2');
    assert.match(r.stdout, /trtllm-build-absent-for-test is not on PATH/);
    assert.equal(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).redrafter_num_beams, 4);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('redrafter build runs trtllm-build when present and reports its failure in one line', () => {
  const root = mkdtempSync(join(tmpdir(), 'redrafter-conv-'));
  try {
    const { base, drafter } = makeFixture(root, good);
    const fake = join(root, 'fake-trtllm-build');
    writeFileSync(fake, '#!/bin/sh\necho "[TRT-LLM] building with $*"\necho "engine build failed: out of memory" >&2\nexit 3\n', { mode: 0o755 });
    const r = cli(['build', '--base-checkpoint', base, '--drafter', drafter, '--checkpoint-out', join(root, 'ckpt'), '--trtllm-version', '0.15.0', '--trtllm-build', fake]);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /\[TRT-LLM\] building with --checkpoint_dir .*--speculative_decoding_mode explicit_draft_tokens/);
    const errLines = r.stderr.trim().split('\n');
    assert.equal(errLines.at(-1), 'redrafter: trtllm-build exited with code 3: engine build failed: out of memory [ERR_REDRAFTER_BACKEND]');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('redrafter build: errors are one line on stderr with exit code 1; --help works', () => {
  const r = cli(['build', '--base-checkpoint', '/nonexistent/base', '--drafter', '/nonexistent/d', '--checkpoint-out', '/tmp/x-never']);
  assert.equal(r.status, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /^redrafter: .*\/nonexistent\/base: the base checkpoint directory does not exist/);
  const h = cli(['build', '--help']);
  assert.equal(h.status, 0);
  assert.match(h.stdout, /--speculative|trtllm-build/);
});

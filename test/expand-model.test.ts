// The benchmark model (bench/expand-model.ts) on a small expansion of stories260K (D=256, 8 layers, head size
// 8 -> 32): it keeps the source's function exactly (same greedy tokens, same hidden state in the first 64
// coordinates, zeros elsewhere), llama.cpp loads it and agrees, and the expanded drafter computes the same
// logits (hence drafts the same beams) from the expanded model's hidden state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Model } from '../lib/model.js';
import { SafetensorsReader, writeSafetensors } from '../lib/safetensors.js';
import { loadDrafter } from '../lib/drafter/index.js';
import { expandDrafterOnly, expandModel } from '../bench/expand-model.js';
import { planExpansion } from '../bench/expand-plan.js';
import { fixtures, knownGoodFirstTokens, requireFixtures } from './helpers/fixtures.js';

requireFixtures();

const target = { dim: 256, hiddenDim: 512, nLayers: 8, nHeads: 8, nKvHeads: 4 };
const dir = mkdtempSync(join(tmpdir(), 'redrafter-expand-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function argmax(v: Float32Array, offset: number, n: number): number {
  let best = offset;
  for (let i = offset; i < offset + n; ++i) if (v[i] > v[best]) best = i;
  return best - offset;
}

async function greedy(path: string, steps: number, prompt = [1]): Promise<{ tokens: number[]; hidden: Float32Array[] }> {
  const model = await Model.load(path, { threads: 1 });
  const ctx = model.createContext({ capacity: prompt.length + steps + 1 });
  const tokens: number[] = [];
  const hidden: Float32Array[] = [];
  let input = prompt;
  for (let i = 0; i < steps; i++) {
    const r = await ctx.forward(input, { outputs: [input.length - 1], hidden: true });
    const next = argmax(r.logits, 0, model.config.vocabSize);
    tokens.push(next);
    hidden.push(r.hidden!);
    input = [next];
  }
  ctx.dispose();
  model.dispose();
  return { tokens, hidden };
}

// A seeded random drafter of stories260K's shape in Apple's layout (the test needs any weights: the expansion
// must preserve whatever the drafter computes).
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}
async function writeRandomDrafter(out: string, exitDim: number, blocks: number): Promise<void> {
  const { mkdirSync, writeFileSync } = await import('node:fs');
  mkdirSync(out, { recursive: true });
  const H = 64;
  const V = 512;
  const r = rng(exitDim * 7 + blocks);
  const t = (name: string, shape: number[]) => ({
    name,
    dtype: 'F32' as const,
    shape,
    data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r() * 0.5),
  });
  const tensors = [];
  if (exitDim !== 2 * H) tensors.push(t('input_proj.weight', [exitDim, 2 * H]), t('input_proj.bias', [exitDim]));
  for (let i = 0; i < blocks; i++)
    tensors.push(t(`lm_head.${i}.linear.weight`, [exitDim, exitDim]), t(`lm_head.${i}.linear.bias`, [exitDim]));
  tensors.push(t(`lm_head.${blocks}.weight`, [V, exitDim]));
  tensors.push(t('rnn_u.weight', [H, H]), t('rnn_u.bias', [H]), t('rnn_w.weight', [H, H]));
  await writeSafetensors(join(out, 'model.safetensors'), tensors, { format: 'pt' });
  writeFileSync(
    join(out, 'config.json'),
    JSON.stringify({
      model_type: 'recurrent_drafting_drafter',
      vocab_size: V,
      hidden_size: H,
      exit_dim: exitDim,
      num_draft_layers: blocks,
      rnn: true,
    }),
  );
}

// Straightforward reference of Apple's drafter head and recurrence (row-major [out, in] matrices).
type Weights = Map<string, Float32Array>;
async function readDrafter(d: string): Promise<{ cfg: Record<string, number>; w: Weights }> {
  const cfg = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8')) as Record<string, number>;
  const w: Weights = new Map();
  await using r = await SafetensorsReader.open(join(d, 'model.safetensors'));
  for (const n of r.names()) w.set(n, await r.readFloat32(n));
  return { cfg, w };
}
function linear(W: Float32Array, b: Float32Array | undefined, x: Float64Array, out: number): Float64Array {
  const n = x.length;
  const y = new Float64Array(out);
  for (let i = 0; i < out; i++) {
    let s = b ? b[i] : 0;
    for (let j = 0; j < n; j++) s += W[i * n + j] * x[j];
    y[i] = s;
  }
  return y;
}
const silu = (v: number) => v / (1 + Math.exp(-v));
function drafterLogits(d: { cfg: Record<string, number>; w: Weights }, h: Float64Array, s: Float64Array): Float64Array {
  const H = d.cfg.hidden_size;
  const E = d.cfg.exit_dim;
  let x: Float64Array = new Float64Array(2 * H);
  x.set(h, 0);
  x.set(s, H);
  if (E !== 2 * H) x = linear(d.w.get('input_proj.weight')!, d.w.get('input_proj.bias'), x, E);
  for (let i = 0; i < d.cfg.num_draft_layers; i++) {
    const y = linear(d.w.get(`lm_head.${i}.linear.weight`)!, d.w.get(`lm_head.${i}.linear.bias`), x, E);
    x = x.map((v, k) => v + silu(y[k]));
  }
  return linear(d.w.get(`lm_head.${d.cfg.num_draft_layers}.weight`)!, undefined, x, d.cfg.vocab_size);
}
function drafterState(d: { cfg: Record<string, number>; w: Weights }, emb: Float64Array, s: Float64Array): Float64Array {
  const H = d.cfg.hidden_size;
  const a = linear(d.w.get('rnn_w.weight')!, undefined, emb, H);
  const b = linear(d.w.get('rnn_u.weight')!, d.w.get('rnn_u.bias'), s, H);
  return a.map((v, k) => silu(v + b[k]));
}

const built = (async () => {
  await writeRandomDrafter(join(dir, 'src-drafter'), 128, 2);
  await writeRandomDrafter(join(dir, 'src-drafter-proj'), 96, 1);
  const main = await expandModel({
    source: fixtures.stories260K,
    tokenizer: fixtures.tok512,
    drafter: join(dir, 'src-drafter'),
    out: join(dir, 'expanded'),
    target,
    types: ['f32', 'f16'],
  });
  const proj = await expandModel({
    source: fixtures.stories260K,
    tokenizer: fixtures.tok512,
    drafter: join(dir, 'src-drafter-proj'),
    out: join(dir, 'expanded-proj'),
    target,
    types: [],
  });
  return { main, proj };
})();

test('the expansion plan maps heads onto the same RoPE frequencies and keeps GQA groups', () => {
  const src = { dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, contextLength: 512,
    normEps: 1e-5, ropeTheta: 10000, tiedClassifier: true };
  const plan = planExpansion(src, { dim: 2048, hiddenDim: 5632, nLayers: 22, nHeads: 32, nKvHeads: 4 });
  assert.equal(plan.headRatio, 8);
  assert.deepEqual(plan.queryHeadOf, [0, 1, 8, 9, 16, 17, 24, 25]); // kv head floor(h/2) -> group of 8
  assert.deepEqual(plan.layerOf, [0, 4, 8, 13, 17]);
  assert.ok(Math.abs(plan.normEps - 1e-5 / 32) < 1e-15);
  assert.throws(() => planExpansion(src, { ...target, nHeads: 6 }), RangeError); // 256/6 not an integer head
  assert.throws(() => planExpansion(src, { ...target, nKvHeads: 8 }), /group size/);
  assert.throws(() => planExpansion(src, { ...target, dim: 32, nHeads: 4 }), /dim/);
});

test('expanded model: same greedy tokens and hidden state as stories260K', async () => {
  const { main } = await built;
  const steps = 48;
  const a = await greedy(fixtures.stories260K, steps);
  const b = await greedy(main.models.f32, steps);
  assert.deepEqual(a.tokens.slice(0, knownGoodFirstTokens.length), knownGoodFirstTokens);
  assert.deepEqual(b.tokens, a.tokens);
  for (let i = 0; i < steps; i++) {
    const h0 = a.hidden[i];
    const h1 = b.hidden[i];
    assert.equal(h1.length, 256);
    for (let c = 0; c < 64; c++) assert.ok(Math.abs(h0[c] - h1[c]) <= 1e-4 * (1 + Math.abs(h0[c])), `step ${i} c ${c}`);
    for (let c = 64; c < 256; c++) assert.equal(h1[c], 0);
  }
  const prompt = [1, 403, 407, 261, 378, 432, 383];
  assert.deepEqual((await greedy(main.models.f32, 16, prompt)).tokens, (await greedy(fixtures.stories260K, 16, prompt)).tokens);
});

test('llama.cpp (node-llama-cpp) loads the expanded GGUF (f32 and f16) and agrees on greedy tokens', async () => {
  const { main } = await built;
  const { getLlama } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  for (const type of ['f32', 'f16'] as const) {
    const ours = (await greedy(main.models[type], 32)).tokens;
    const model = await llama.loadModel({ modelPath: main.models[type] });
    const ctx = await model.createContext({ contextSize: 128, threads: 1 });
    const seq = ctx.getSequence();
    const theirs: number[] = [];
    for await (const tok of seq.evaluate([1 as never], { temperature: 0 })) {
      theirs.push(tok as number);
      if (theirs.length >= ours.length) break;
    }
    await ctx.dispose();
    await model.dispose();
    assert.deepEqual(theirs, ours, `${type}: llama.cpp vs redrafter`);
  }
  await llama.dispose();
});

test('expanded drafter: same logits and recurrent state from the expanded hidden state (so the same beams)', async () => {
  const built_ = await built;
  const steps = 6;
  const src = await greedy(fixtures.stories260K, steps);
  const big = await greedy(built_.main.models.f32, steps);
  const srcModel = new Map<string, Float32Array>();
  const { benchModel } = await import('../bench/bench-addon.js');
  const emb = benchModel().readModelTensors(fixtures.stories260K).tensors['token_embd.weight'].data;
  const bigEmb = benchModel().readModelTensors(built_.main.models.f32).tensors['token_embd.weight'].data;
  srcModel.clear();
  for (const [srcDir, outDir] of [
    ['src-drafter', built_.main.drafter!],
    ['src-drafter-proj', built_.proj.drafter!],
  ]) {
    const d0 = await readDrafter(join(dir, srcDir));
    const d1 = await readDrafter(outDir);
    assert.equal(d1.cfg.hidden_size, 256);
    assert.equal(d1.cfg.exit_dim, d0.cfg.exit_dim === 128 ? 512 : (d0.cfg.exit_dim * 256) / 64);
    let s0: Float64Array = new Float64Array(64);
    let s1: Float64Array = new Float64Array(256);
    for (let i = 0; i < steps; i++) {
      const l0 = drafterLogits(d0, Float64Array.from(src.hidden[i]), s0);
      const l1 = drafterLogits(d1, Float64Array.from(big.hidden[i]), s1);
      for (let v = 0; v < 512; v++) assert.ok(Math.abs(l0[v] - l1[v]) <= 1e-3 * (1 + Math.abs(l0[v])), `${srcDir} step ${i} v ${v}`);
      const tok = src.tokens[i];
      s0 = drafterState(d0, Float64Array.from(emb.subarray(tok * 64, tok * 64 + 64)), s0);
      s1 = drafterState(d1, Float64Array.from(bigEmb.subarray(tok * 256, tok * 256 + 256)), s1);
      for (let c = 0; c < 64; c++) assert.ok(Math.abs(s0[c] - s1[c]) < 1e-9);
      for (let c = 64; c < 256; c++) assert.equal(s1[c], 0);
    }
  }
});

test('expanded drafter drafts the same beams as the source drafter (native beam search)', async () => {
  const b = await built;
  const small = await Model.load(fixtures.stories260K, { threads: 1 });
  const big = await Model.load(b.main.models.f32, { threads: 1 });
  for (const [srcDir, outDir] of [
    [join(dir, 'src-drafter'), b.main.drafter!],
    [join(dir, 'src-drafter-proj'), b.proj.drafter!],
  ]) {
    const d0 = await loadDrafter(srcDir, { model: small });
    const d1 = await loadDrafter(outDir, { model: big });
    const c0 = small.createContext({ capacity: 64 });
    const c1 = big.createContext({ capacity: 64 });
    let input = [1];
    for (let step = 0; step < 8; step++) {
      const r0 = await c0.forward(input, { outputs: [input.length - 1], hidden: true });
      const r1 = await c1.forward(input, { outputs: [input.length - 1], hidden: true });
      const next = argmax(r0.logits, 0, 512);
      for (const [width, length] of [[1, 4], [4, 5], [8, 3]]) {
        const a = await d0.draft(small, r0.hidden!, Int32Array.of(next), { beamWidth: width, beamLength: length });
        const z = await d1.draft(big, r1.hidden!, Int32Array.of(next), { beamWidth: width, beamLength: length });
        assert.deepEqual([...z.beams], [...a.beams], `${srcDir} step ${step} W=${width} L=${length}`);
      }
      input = [next];
    }
    c0.dispose();
    c1.dispose();
  }
  small.dispose();
  big.dispose();
});

test('--drafter-only: the drafter alone, the same files as the full expansion writes, and nothing else', async () => {
  const b = await built;
  const out = join(dir, 'drafter-only');
  assert.equal(await expandDrafterOnly({ source: fixtures.stories260K, drafter: join(dir, 'src-drafter'), out, target }), out);
  assert.deepEqual(readdirSync(out).sort(), ['config.json', 'model.safetensors']);
  for (const f of ['config.json', 'model.safetensors'])
    assert.ok(readFileSync(join(out, f)).equals(readFileSync(join(b.main.drafter!, f))), f);
});

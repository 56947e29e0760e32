// The drafter from TypeScript: a drafter written in Apple's layout (config.json + model.safetensors with Apple's
// tensor names, F32 and BF16) loads and drafts exactly what a plain reference computes; mismatched or malformed
// drafters are rejected naming the file and both values; training lowers the loss, reports progress, and stop()
// yields a usable checkpoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSafetensors, f32ToBf16, bf16ToF32, type SafetensorsDType } from '../lib/safetensors.ts';
import { Model } from '../lib/model.ts';
import { loadDrafter, saveDrafter, Drafter } from '../lib/drafter/drafter.ts';
import { drafterTensorShapes, type DrafterConfig } from '../lib/drafter/config.ts';
import { defaultEvaluationPrompts, measureAcceptance, startDrafterTraining, type TrainingProgress } from '../lib/drafter/training.ts';
import { fixtures, repoRoot } from './helpers/fixtures.ts';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'redrafter-drafter-'));
}

/** Writes a drafter directory by hand, in Apple's layout, with random weights; returns the weights as stored. */
async function writeAppleDrafter(dir: string, c: DrafterConfig, dtype: SafetensorsDType, seed: number):
  Promise<Record<string, Float32Array>> {
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    architectures: ['Drafter'], model_type: 'recurrent_drafting_drafter', vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize, exit_dim: c.exitDim, num_draft_layers: c.numDraftLayers, num_lookback_tokens: -1,
    rnn: c.rnn, torch_dtype: dtype === 'BF16' ? 'bfloat16' : 'float32', transformers_version: '4.40.0',
  }));
  const r = rng(seed);
  const names: Array<[string, number[]]> = [];
  if (c.exitDim !== 2 * c.hiddenSize) {
    names.push(['input_proj.weight', [c.exitDim, 2 * c.hiddenSize]], ['input_proj.bias', [c.exitDim]]);
  }
  for (let i = 0; i < c.numDraftLayers; i++) {
    names.push([`lm_head.${i}.linear.weight`, [c.exitDim, c.exitDim]], [`lm_head.${i}.linear.bias`, [c.exitDim]]);
  }
  names.push([`lm_head.${c.numDraftLayers}.weight`, [c.vocabSize, c.exitDim]]);
  if (c.rnn) {
    names.push(['rnn_u.weight', [c.hiddenSize, c.hiddenSize]], ['rnn_u.bias', [c.hiddenSize]],
      ['rnn_w.weight', [c.hiddenSize, c.hiddenSize]]);
  }
  const stored: Record<string, Float32Array> = {};
  const entries = names.reverse().map(([name, shape]) => {  // any order in the file
    const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (r() * 2 - 1) * 0.8);
    stored[name] = dtype === 'BF16' ? bf16ToF32(f32ToBf16(data)) : data;
    return { name, dtype, shape, data };
  });
  await writeSafetensors(join(dir, 'model.safetensors'), entries);
  return stored;
}

/** Apple's Drafter.beam_search_candidates for one sequence, written plainly. */
function referenceDraft(c: DrafterConfig, w: Record<string, Float32Array>, emb: Float32Array, hidden: Float32Array,
  token: number, W: number, L: number): { beams: number[][]; logProbs: number[][] } {
  const H = c.hiddenSize;
  const linear = (m: Float32Array, b: Float32Array | undefined, x: number[], out: number): number[] =>
    Array.from({ length: out }, (_, o) => x.reduce((s, v, k) => s + m[o * x.length + k]! * v, b ? b[o]! : 0));
  const silu = (a: number): number => a / (1 + Math.exp(-a));
  const step = (s: number[], t: number): number[] => {
    const e = Array.from(emb.subarray(t * H, (t + 1) * H));
    if (!c.rnn) return s.map((v, i) => v + e[i]!);
    const a = linear(w['rnn_w.weight']!, undefined, e, H);
    const u = linear(w['rnn_u.weight']!, w['rnn_u.bias'], s, H);
    return a.map((v, i) => silu(v + u[i]!));
  };
  const logProbs = (s: number[]): number[] => {
    let x = [...hidden, ...s];
    if (c.exitDim !== 2 * H) x = linear(w['input_proj.weight']!, w['input_proj.bias'], x, c.exitDim);
    for (let i = 0; i < c.numDraftLayers; i++) {
      const u = linear(w[`lm_head.${i}.linear.weight`]!, w[`lm_head.${i}.linear.bias`], x, c.exitDim);
      x = x.map((v, k) => v + silu(u[k]!));
    }
    let l = linear(w[`lm_head.${c.numDraftLayers}.weight`]!, undefined, x, c.vocabSize);
    const mx = Math.max(...l);
    l = l.map((v) => v - mx);
    const kth = [...l].sort((a, b) => b - a)[Math.min(50, l.length) - 1]!;
    l = l.map((v) => (v < kth ? -50000 : v));
    const z = Math.log(l.reduce((s, v) => s + Math.exp(v), 0));
    return l.map((v) => v - z);
  };
  let score: number[] = Array.from({ length: W }, (_, i) => (i === 0 ? 0 : -50000));
  let beams = Array.from({ length: W }, () => [token]);
  let states = Array.from({ length: W }, () => new Array<number>(H).fill(0));
  let lps = Array.from({ length: W }, () => [] as number[]);
  for (let t = 0; t < L - 1; t++) {
    const next = states.map((s, b) => step(s, beams[b]!.at(-1)!));
    const lp = next.map((s) => logProbs(s));
    const cand = lp.flatMap((row, b) => row.map((v, tok) => ({ v: v + score[b]!, b, tok })));
    cand.sort((x, y) => y.v - x.v || (x.b * c.vocabSize + x.tok) - (y.b * c.vocabSize + y.tok));
    const top = cand.slice(0, W);
    beams = top.map(({ b, tok }) => [...beams[b]!, tok]);
    states = top.map(({ b }) => next[b]!);
    lps = top.map(({ b }) => [...lps[b]!, ...lp[b]!]);
    score = top.map(({ v }) => v);
  }
  return { beams, logProbs: lps };
}

for (const dtype of ['F32', 'BF16'] as const) {
  test(`a drafter in Apple's layout (${dtype}) loads and drafts what the plain reference computes`, async () => {
    const dir = tempDir();
    try {
      const c: DrafterConfig = { vocabSize: 67, hiddenSize: 4, exitDim: 10, numDraftLayers: 2, rnn: true };
      const weights = await writeAppleDrafter(dir, c, dtype, dtype === 'F32' ? 1 : 2);
      const drafter = await loadDrafter(dir);
      assert.deepEqual(drafter.config, c);
      const r = rng(7);
      const emb = Float32Array.from({ length: c.vocabSize * c.hiddenSize }, () => r() * 2 - 1);
      const batch = 2, W = 4, L = 4;
      const hidden = Float32Array.from({ length: batch * c.hiddenSize }, () => r() * 4 - 2);
      const last = Int32Array.from([5, 66]);
      const out = await drafter.draft(emb, hidden, last, { beamWidth: W, beamLength: L });
      assert.equal(out.beams.length, batch * W * L);
      assert.equal(out.logProbs.length, batch * W * (L - 1) * c.vocabSize);
      for (let b = 0; b < batch; b++) {
        const ref = referenceDraft(c, weights, emb, hidden.subarray(b * c.hiddenSize, (b + 1) * c.hiddenSize),
          last[b]!, W, L);
        assert.deepEqual(Array.from(out.beams.subarray(b * W * L, (b + 1) * W * L)), ref.beams.flat());
        const got = out.logProbs.subarray(b * W * (L - 1) * c.vocabSize, (b + 1) * W * (L - 1) * c.vocabSize);
        const want = ref.logProbs.flat();
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
        assert.ok(worst < 2e-3, `log-probabilities differ by ${worst}`);
      }
      // saveDrafter writes the same layout back; it reloads to the same tensors.
      const copy = join(dir, 'copy');
      await saveDrafter(copy, c, drafter.tensors(), { dtype });
      const again = await loadDrafter(copy);
      for (const { name } of drafterTensorShapes(c)) assert.deepEqual(again.tensors()[name], weights[name], name);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('malformed drafter directories are rejected naming the file and the problem', async () => {
  const dir = tempDir();
  try {
    const c: DrafterConfig = { vocabSize: 20, hiddenSize: 4, exitDim: 8, numDraftLayers: 1, rnn: true };
    await writeAppleDrafter(dir, c, 'F32', 3);
    const cfg = join(dir, 'config.json');
    // exit_dim 10 needs input_proj, which the file lacks.
    writeFileSync(cfg, JSON.stringify({ model_type: 'recurrent_drafting_drafter', vocab_size: 20, hidden_size: 4,
      exit_dim: 10, num_draft_layers: 1, rnn: true }));
    await assert.rejects(() => loadDrafter(dir), (e: Error & { code: string }) =>
      e.code === 'ERR_REDRAFTER_INVALID_MODEL' && e.message.includes('model.safetensors') &&
      /shape|missing|unexpected/.test(e.message));
    writeFileSync(cfg, JSON.stringify({ model_type: 'llama', vocab_size: 20, hidden_size: 4, exit_dim: 8,
      num_draft_layers: 1, rnn: true }));
    await assert.rejects(() => loadDrafter(dir), /config\.json: model_type must be "recurrent_drafting_drafter"/);
    writeFileSync(cfg, JSON.stringify({ model_type: 'recurrent_drafting_drafter', vocab_size: 20, hidden_size: 4,
      exit_dim: 8, num_draft_layers: 2, rnn: true }));
    await assert.rejects(() => loadDrafter(dir), /tensor lm_head\.1\.linear\.weight is missing|unexpected tensor/);
    writeFileSync(cfg, '{"model_type": ');
    await assert.rejects(() => loadDrafter(dir), (e: Error & { code: string }) =>
      e.code === 'ERR_REDRAFTER_INVALID_MODEL' && e.message.includes(cfg));
    await assert.rejects(() => loadDrafter(join(dir, 'absent')), (e: Error & { code: string }) =>
      e.code === 'ERR_REDRAFTER_IO' && e.message.includes('absent'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a drafter made for another model is rejected with a clear error naming both values', async () => {
  const dir = tempDir();
  const model = await Model.load(fixtures.stories260K, { threads: 1 });
  try {
    await writeAppleDrafter(dir, { vocabSize: 512, hiddenSize: 32, exitDim: 64, numDraftLayers: 1, rnn: true }, 'F32', 4);
    await assert.rejects(() => loadDrafter(dir, { model }), (e: Error & { code: string }) => {
      assert.equal(e.code, 'ERR_REDRAFTER_INVALID_MODEL');
      assert.match(e.message, /drafter hidden_size 32 does not match the model's hidden size 64/);
      assert.ok(e.message.includes(dir));
      return true;
    });
    // The native check (used by the engine and training) says the same.
    const unchecked = await loadDrafter(dir);
    assert.throws(() => unchecked.checkModel(model), /hidden_size 32 does not match the model's hidden size 64/);
    await assert.rejects(
      () => unchecked.draft(model, new Float32Array(32), Int32Array.from([1]), { beamWidth: 2, beamLength: 3 }),
      /hidden_size 32 does not match/);
    await writeAppleDrafter(dir, { vocabSize: 1000, hiddenSize: 64, exitDim: 128, numDraftLayers: 1, rnn: true }, 'F32', 5);
    await assert.rejects(() => loadDrafter(dir, { model }),
      /drafter vocab_size 1000 does not match the model's vocabulary size 512/);
  } finally {
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('self-distillation training lowers the loss, reports progress, and its result drafts for the model', async () => {
  const model = await Model.load(fixtures.stories260K, { threads: 2 });
  const dir = tempDir();
  try {
    const phases = new Set<string>();
    let firstTrain: TrainingProgress | undefined;
    const run = startDrafterTraining(model, {
      tokens: 4000, sequenceLength: 100, steps: 60, batchSize: 128, learningRate: 5e-3, seed: 3, stopTokens: [1, 2],
      threads: 2, tokenizer: fixtures.tok512, prompts: ['Once upon a time', 'Tom and'], evalPrompts: ['The old man'],
    }, (p: TrainingProgress) => {
      phases.add(p.phase);
      if (p.phase === 'train' && firstTrain === undefined) firstTrain = p;
    });
    const result = await run.result;
    assert.ok(phases.has('generate') && phases.has('train'), [...phases].join());
    const r = result.report;
    assert.equal(r.steps, 60);
    assert.equal(r.stopped, false);
    assert.ok(r.corpusTokens >= 3000 && r.corpusTokens <= 4000, String(r.corpusTokens));
    // Untrained, each of the 4 unrolled steps costs about ln(512) = 6.2 nats. Progress is throttled (one report per
    // 0.1 s), so the first report seen may come after a few steps: only a step-1 report shows the untrained loss.
    const untrained = 4 * Math.log(512);
    assert.ok(firstTrain && firstTrain.loss !== undefined, 'training reported its loss');
    if (firstTrain.done <= 1) assert.ok(firstTrain.loss! > 20, `first loss ${firstTrain.loss}`);
    assert.ok(r.lastBatch!.loss < 0.6 * untrained, `loss ${firstTrain.loss} (step ${firstTrain.done}) -> ${r.lastBatch!.loss}`);
    assert.ok(r.heldOut, 'the report has a held-out evaluation');
    assert.equal(r.heldOut.texts, 1);
    assert.ok(r.heldOut.acceptance.tokensPerStep >= 1 && r.heldOut.acceptance.tokensPerStep <= 5);
    await saveDrafter(dir, result.config!, result.tensors!, { dtype: 'F16' });
    const drafter = await loadDrafter(dir, { model });
    const out = await drafter.draft(model, new Float32Array(64).fill(0.5), Int32Array.from([1]),
      { beamWidth: 3, beamLength: 4 });
    assert.equal(out.beams[0], 1);
    assert.ok(out.beams.every((t) => t >= 0 && t < 512));
  } finally {
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('stop() during training ends it with a usable checkpoint', async () => {
  const model = await Model.load(fixtures.stories260K, { threads: 2 });
  try {
    let run: ReturnType<typeof startDrafterTraining> | undefined;
    run = startDrafterTraining(model, { tokens: 2000, sequenceLength: 100, steps: 1_000_000, batchSize: 64, seed: 1,
      stopTokens: [1, 2], threads: 2 }, (p) => {
      if (p.phase === 'train') run!.stop();
    });
    const result = await run.result;
    assert.equal(result.report.stopped, true);
    assert.ok(result.report.steps >= 1 && result.report.steps < 1_000_000);
    assert.ok(result.tensors && result.config);
    const drafter = Drafter.fromTensors(result.config!, result.tensors!);
    drafter.checkModel(model);
  } finally {
    model.dispose();
  }
});

test('the committed stories260K drafter fits its model and drafts from its embedding table', async () => {
  const model = await Model.load(fixtures.stories260K, { threads: 1 });
  try {
    const drafter = await loadDrafter(join(repoRoot, 'models', 'stories260K-drafter'), { model });
    assert.equal(drafter.config.hiddenSize, 64);
    assert.equal(drafter.config.vocabSize, 512);
    const out = await drafter.draft(model, new Float32Array(64 * 2).fill(0.1), Int32Array.from([403, 407]),
      { beamWidth: 8, beamLength: 5 });
    assert.equal(out.beams.length, 2 * 8 * 5);
    // Beams come sorted by score, best first.
    for (let b = 0; b < 2; b++)
      for (let w = 1; w < 8; w++) assert.ok(out.scores[b * 8 + w - 1]! >= out.scores[b * 8 + w]!);
  } finally {
    model.dispose();
  }
});

test('distillation: the option reaches the trainer, changes what is learned, and is range-checked', async () => {
  const model = await Model.load(fixtures.stories260K, { threads: 1 });
  try {
    const train = async (distill: number) => (await startDrafterTraining(model, {
      tokens: 1500, sequenceLength: 60, steps: 6, batchSize: 64, seed: 2, stopTokens: [1, 2], threads: 1, evalTexts: 0,
      distill,
    }).result);
    const hard = await train(0);
    const soft = await train(0.5);
    assert.equal(hard.report.distill, 0);
    assert.equal(soft.report.distill, 0.5);
    assert.notDeepEqual(hard.tensors!['lm_head.2.weight'], soft.tensors!['lm_head.2.weight']);
    assert.throws(() => startDrafterTraining(model, { distill: 1.5 }), /distill/);
  } finally {
    model.dispose();
  }
});

// The committed drafter's quality, as the README of models/stories260K-drafter states it: exact greedy replay on the
// model's greedy continuations of the 16 held-out prompts (bench/drafter-acceptance.ts). The replay is deterministic
// for a CPU kernel set; the bounds sit a little under the measured values (W=1 L=8 4.08, W=8 L=5 4.22) and above
// the previous drafter's (3.51, 3.90: trained with --unroll 4), so a regression to it fails.
test('the committed stories260K drafter keeps its greedy acceptance on held-out prompts (W=1 L=8 and W=8 L=5)', async () => {
  const model = await Model.load(fixtures.stories260K, { threads: 1 });
  try {
    const drafter = await loadDrafter(join(repoRoot, 'models', 'stories260K-drafter'), { model });
    const { rows } = await measureAcceptance(model, drafter, {
      tokenizer: fixtures.tok512, prompts: [...defaultEvaluationPrompts], length: 160, stopTokens: [1, 2],
      widths: [1, 8], lengths: [5, 8],
    });
    const at = (w: number, l: number) => rows.find((r) => r.beamWidth === w && r.beamLength === l)!.tokensPerStep;
    assert.ok(at(1, 8) >= 3.95, `W=1 L=8: ${at(1, 8)} tokens/step`);
    assert.ok(at(8, 5) >= 4.1, `W=8 L=5: ${at(8, 5)} tokens/step`);
  } finally {
    model.dispose();
  }
});

test('training is deterministic for a seed, whatever the thread count', async () => {
  const model = await Model.load(fixtures.stories260K, { threads: 2 });
  try {
    const train = async (threads: number, seed: number) => (await startDrafterTraining(model, {
      tokens: 1500, sequenceLength: 60, steps: 8, batchSize: 64, seed, stopTokens: [1, 2], threads, evalTexts: 0,
    }).result).tensors!;
    const a = await train(1, 5);
    const b = await train(2, 5);
    const c = await train(2, 6);
    for (const name of Object.keys(a)) assert.deepEqual(a[name], b[name], name);
    assert.notDeepEqual(a['lm_head.2.weight'], c['lm_head.2.weight']);
  } finally {
    model.dispose();
  }
});

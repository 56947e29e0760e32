// The GPU proof's host-side tools (bench/gpu/, docs/gpu.md "Running the H100 proof"), which run where there is no
// Node: expand_model.py must write exactly what bench/expand-model.ts writes (same bytes) and a model the CPU engine
// and llama.cpp run with stories260K's greedy tokens, its drafter included; compare.py must apply the pass
// rule; report.py must decide hit or miss from the numbers it is given. Small target shapes keep it fast: one with
// TinyLlama's head ratio (8 -> 64) and one with Llama-3-8B's head size (8 -> 128).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadEngine } from '../dist/index.js';
import { expandModel } from '../bench/expand-model.js';
import { fixtures, repoRoot, requireFixtures } from './helpers/fixtures.js';

requireFixtures();

// expand_model.py needs numpy; compare.py and report.py only python3. Where they are missing the tests say so and skip.
const python = process.env.PYTHON ?? 'python3';
const probe = (code: string) => spawnSync(python, ['-c', code], { encoding: 'utf8' }).status === 0;
const skipPython = probe('import json') ? false : `${python} is not available here (bench/gpu/*.py need it)`;
const skip = skipPython || (probe('import numpy') ? false : `${python} has no numpy here (bench/gpu/expand_model.py needs it)`);
if (skip) console.log(`# skipping GPU bench tool tests: ${skip}`);

const tool = (name: string) => join(repoRoot, 'bench', 'gpu', name);
const dir = mkdtempSync(join(tmpdir(), 'redrafter-gpu-tools-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const drafterDir = join(repoRoot, 'models', 'stories260K-drafter');

function py(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(python, args, { encoding: 'utf8', env: { ...process.env, REDRAFTER_MODELS: '' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// TinyLlama's head ratio (head size 64, 8x the source's) and Llama-3-8B's head size (128, 16x)
const shapes = {
  hd64: { dim: 512, hiddenDim: 512, nLayers: 7, nHeads: 8, nKvHeads: 4 },
  hd128: { dim: 1024, hiddenDim: 768, nLayers: 6, nHeads: 8, nKvHeads: 4 },
};

function expandPy(name: keyof typeof shapes, types: string): string {
  const t = shapes[name];
  const out = join(dir, `py-${name}`);
  const r = py([tool('expand_model.py'), '--out', out, '--dim', `${t.dim}`, '--ffn', `${t.hiddenDim}`,
    '--layers', `${t.nLayers}`, '--heads', `${t.nHeads}`, '--kv-heads', `${t.nKvHeads}`, '--types', types,
    '--source', fixtures.stories260K, '--tokenizer', fixtures.tok512, '--drafter', drafterDir]);
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout) as { headDim: number; models: Record<string, string>; weightBytes: Record<string, number> };
  assert.equal(summary.headDim, t.dim / t.nHeads);
  return out;
}

const built = skip ? null : (async () => {
  const out = { hd64: expandPy('hd64', 'f16,f32'), hd128: expandPy('hd128', 'f16') };
  for (const [name, types] of [['hd64', ['f16', 'f32']], ['hd128', ['f16']]] as const) {
    await expandModel({
      source: fixtures.stories260K, tokenizer: fixtures.tok512, drafter: drafterDir, out: join(dir, `ts-${name}`),
      target: shapes[name], types: [...types],
    });
  }
  return out;
})();

const prompts = ['Once upon a time', 'Lily and Ben went to the park. They saw', 'The little dog'];

async function greedyTokens(model: string, drafter: string | null, maxTokens = 40): Promise<{ tokens: number[][]; perStep: number }> {
  const engine = await loadEngine({ backend: 'cpu', model, tokenizer: fixtures.tok512, drafter, threads: 1 });
  try {
    const tokens: number[][] = [];
    let steps = 0;
    let stepTokens = 0;
    for (const p of prompts) {
      // the fixed W=1 L=8 chain of the GPU runs (not the CPU engine's adaptive shape for small models)
      const session = engine.createSession(drafter ? { beamWidth: 1, beamLength: 8, adaptiveDraft: false } : {});
      const r = await session.complete(p, { maxTokens, temperature: 0 });
      tokens.push(r.tokens);
      steps += r.stats.steps;
      stepTokens += r.stats.tokensPerStep * r.stats.steps;
    }
    return { tokens, perStep: steps ? stepTokens / steps : 0 };
  } finally {
    await engine.dispose();
  }
}

test('expand_model.py writes the same bytes as bench/expand-model.ts (model f16 and f32, drafter)', { skip }, async () => {
  await built;
  const files = [
    ['hd64', 'model-f16.gguf'], ['hd64', 'model-f32.gguf'], ['hd64', 'drafter/config.json'],
    ['hd64', 'drafter/model.safetensors'], ['hd128', 'model-f16.gguf'], ['hd128', 'drafter/config.json'],
    ['hd128', 'drafter/model.safetensors'],
  ];
  for (const [name, file] of files) {
    const a = readFileSync(join(dir, `py-${name}`, file));
    const b = readFileSync(join(dir, `ts-${name}`, file));
    assert.equal(a.length, b.length, `${name}/${file}: size`);
    assert.ok(a.equals(b), `${name}/${file}: bytes differ`);
  }
});

test('the CPU engine runs the Python expansion with stories260K\'s greedy tokens, the expanded drafter drafting', { skip }, async () => {
  const out = (await built)!;
  const source = await greedyTokens(fixtures.stories260K, null);
  const plain = await greedyTokens(join(out.hd64, 'model-f32.gguf'), null);
  assert.deepEqual(plain.tokens, source.tokens, 'f32 expansion, plain decoding');
  const drafted = await greedyTokens(join(out.hd64, 'model-f32.gguf'), join(out.hd64, 'drafter'));
  assert.deepEqual(drafted.tokens, source.tokens, 'f32 expansion with the expanded drafter');
  assert.ok(drafted.perStep > 4, `the expanded drafter's drafts are accepted (${drafted.perStep.toFixed(2)} tokens/step)`);
  for (const name of ['hd64', 'hd128'] as const) {
    const f16 = await greedyTokens(join(out[name], 'model-f16.gguf'), join(out[name], 'drafter'));
    assert.deepEqual(f16.tokens, source.tokens, `${name} f16 expansion with its drafter`);
    assert.ok(f16.perStep > 4, `${name}: ${f16.perStep.toFixed(2)} tokens/step`);
  }
});

test('llama.cpp (node-llama-cpp) loads the Python expansion at head size 128 (f16) and agrees on greedy tokens', { skip }, async () => {
  const out = (await built)!;
  const model = join(out.hd128, 'model-f16.gguf');
  const ours = (await greedyTokens(model, null, 24)).tokens[0];
  const { getLlama } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  try {
    const m = await llama.loadModel({ modelPath: model });
    const ctx = await m.createContext({ contextSize: 128, threads: 1 });
    const prompt = m.tokenize(prompts[0]);
    const theirs: number[] = [];
    for await (const tok of ctx.getSequence().evaluate([1 as never, ...prompt], { temperature: 0 })) {
      theirs.push(tok as number);
      if (theirs.length >= ours.length) break;
    }
    await ctx.dispose();
    await m.dispose();
    assert.deepEqual(theirs, ours);
  } finally {
    await llama.dispose();
  }
});

test('expand_model.py refuses bad input with one line naming the field or file', { skip }, () => {
  const base = [tool('expand_model.py'), '--out', join(dir, 'bad'), '--source', fixtures.stories260K,
    '--tokenizer', fixtures.tok512, '--drafter', 'none'];
  let r = py([...base, '--dim', '96', '--ffn', '512', '--layers', '6', '--heads', '8', '--kv-heads', '4']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /nHeads must give a head size \(12\) that is a multiple of the source's 8/);
  r = py([...base, '--dim', '512', '--ffn', '512', '--layers', '6', '--heads', '8', '--kv-heads', '2']);
  assert.match(r.stderr, /nKvHeads must be at least the source's 4/);
  r = py([...base, '--shape', 'tinyllama', '--source', join(dir, 'missing.bin')]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--source: .*missing\.bin does not exist/);
  r = py([...base, '--shape', 'tinyllama', '--tokenizer', fixtures.stories260K]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^expand_model\.py: .*stories260K\.bin: /);
});

// ---- compare.py and report.py on hand-made run files (their logic only: no number here is a measurement) --------
function run(prompts: { prompt: string; tokens: number[]; gaps?: number[] }[], extra: Record<string, unknown> = {}) {
  return { device: 'test', mode: 'ar', batch: 1, model: 'm.gguf', prompts, ...extra };
}
function writeJson(path: string, value: unknown): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, JSON.stringify(value));
  return path;
}

test('compare.py: identical passes; a first difference passes only where the reference\'s top-2 gap < 1e-2', { skip: skipPython }, () => {
  const ref = writeJson(join(dir, 'cmp', 'ref.json'), run([
    { prompt: 'a', tokens: [5, 6, 7, 8], gaps: [1, 0.5, 0.004, 2] },
    { prompt: 'b', tokens: [9, 10, 11], gaps: [3, 0.02, 1] },
  ]));
  const same = writeJson(join(dir, 'cmp', 'same.json'), run([{ prompt: 'b', tokens: [9, 10, 11] }, { prompt: 'a', tokens: [5, 6, 7, 8] }]));
  let r = py([tool('compare.py'), ref, same]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /compare: 2 identical, 0 tolerated, 0 failed/);
  // 'a' differs at 2 (gap 0.004: a near tie, tolerated, and what follows is not compared)
  const nearTie = writeJson(join(dir, 'cmp', 'tie.json'), run([{ prompt: 'a', tokens: [5, 6, 99, 1] }, { prompt: 'b', tokens: [9, 10, 11] }, { prompt: 'a', tokens: [5, 6, 7, 8] }]));
  r = py([tool('compare.py'), ref, nearTie, '--json', join(dir, 'cmp', 'tie-out.json')]);
  assert.equal(r.status, 0, r.stdout);
  assert.match(r.stdout, /compare: 2 identical, 1 tolerated, 0 failed/);
  const out = JSON.parse(readFileSync(join(dir, 'cmp', 'tie-out.json'), 'utf8'));
  assert.deepEqual(out.summary.gaps, [{ index: 0, position: 2, gap: 0.004 }]);
  // 'b' differs at 1 where the gap is 0.02: a real difference
  const wrong = writeJson(join(dir, 'cmp', 'wrong.json'), run([{ prompt: 'b', tokens: [9, 12, 11] }]));
  r = py([tool('compare.py'), ref, wrong]);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /first difference at token 1: reference 10, candidate 12; top-2 gap 0.02 >= 0.01/);
  // a reference without gaps cannot excuse a difference; a shorter run is a difference too
  const noGaps = writeJson(join(dir, 'cmp', 'nogaps.json'), run([{ prompt: 'a', tokens: [5, 6, 7, 8] }]));
  r = py([tool('compare.py'), noGaps, writeJson(join(dir, 'cmp', 'short.json'), run([{ prompt: 'a', tokens: [5, 6, 0] }]))]);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /run it with --gaps/);
  r = py([tool('compare.py'), ref, writeJson(join(dir, 'cmp', 'other.json'), run([{ prompt: 'zzz', tokens: [1] }]))]);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /the reference has no such prompt/);
  // unusable input: exit 2 naming the file
  writeFileSync(join(dir, 'cmp', 'broken.json'), '{"prompts": 3}');
  r = py([tool('compare.py'), ref, join(dir, 'cmp', 'broken.json')]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /candidate .*broken\.json: no 'prompts' list/);
});

test('report.py: every target\'s ratio, tokens/step and hit/miss from the run files; missing runs are not measured', { skip: skipPython }, () => {
  const res = join(dir, 'report');
  const p = [{ prompt: 'a', tokens: [1, 2] }];
  writeJson(join(res, 'device.json'), { name: 'Test GPU', driver: '1.0', date: '2000-01-01' });
  writeJson(join(res, 'bandwidth.json'), { bytesPerSecond: 3e12 });
  writeJson(join(res, '1b', 'ar-b1.json'), run(p, { tokensPerSecond: 400, tokensPerStep: 1 }));
  writeJson(join(res, '1b', 'redrafter-b1.json'), run(p, { mode: 'redrafter', tokensPerSecond: 1200, tokensPerStep: 5.5 }));
  writeJson(join(res, '1b', 'llama-cpp.json'), { tokensPerSecond: 500, build: 'abc' });
  writeJson(join(res, '1b', 'compare-redrafter-b1.json'), { summary: { identical: 9, tolerated: 1, failed: 0, pass: true, gaps: [{ index: 3, position: 40, gap: 0.003 }] } });
  writeJson(join(res, '8b', 'model.json'), { weightBytes: { f16: 15e9 } });
  writeJson(join(res, '8b', 'ar-b1.json'), run(p, { tokensPerSecond: 150, tokensPerStep: 1 }));
  writeJson(join(res, '8b', 'llama-cpp.json'), { tokensPerSecond: 160 });
  writeJson(join(res, '8b', 'ar-b16.json'), run(p, { batch: 16, tokensPerSecond: 2000 }));
  writeJson(join(res, '8b', 'redrafter-b16.json'), run(p, { batch: 16, mode: 'redrafter', tokensPerSecond: 2900, tokensPerStep: 5 }));
  const r = py([tool('report.py'), res, '--json', join(dir, 'report.json')]);
  assert.equal(r.status, 0, r.stderr);
  const rows = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { shape: string; target: string; ratio: number | null; result: string }[];
  const row = (shape: string, prefix: string) => {
    const x = rows.find((t) => t.shape === shape && t.target.startsWith(prefix));
    assert.ok(x, `${shape} ${prefix}`);
    return x;
  };
  assert.equal(row('1b', 'ReDrafter / own GPU AR').ratio, 3);
  assert.equal(row('1b', 'ReDrafter / own GPU AR').result, '**hit**');
  assert.equal(row('1b', 'ReDrafter / llama.cpp').ratio, 2.4);
  assert.equal(row('1b', 'ReDrafter / llama.cpp').result, '**miss**');
  assert.equal(row('1b', 'tokens: ReDrafter').result, '**hit**');
  assert.equal(row('1b', 'tokens: GPU AR = CPU').result, 'not measured');
  assert.equal(row('8b', 'ReDrafter / llama.cpp').result, 'not measured');
  assert.equal(row('8b', 'own GPU AR / llama.cpp').result, '**hit**'); // 150/160 = 0.94 >= 0.9
  assert.equal(row('8b', 'own GPU AR / bandwidth').ratio, 150 / (3e12 / 15e9)); // 150 of a 200 tok/s limit
  assert.equal(row('8b', 'own GPU AR / bandwidth').result, '**hit**');
  assert.equal(row('8b', 'batch 16').ratio, 1.45);
  assert.equal(row('8b', 'batch 16').result, '**miss**'); // needs 1.5
  assert.match(r.stdout, /\| 1b \| ReDrafter \/ own GPU AR \(batch 1\) \| 1,200\.0 \/ 400\.0 tok\/s \| 3\.00x \| 5\.50 \| ≥ 2\.5x \| \*\*hit\*\* \|/);
});

// Model files through the TypeScript API and the CLI: inspect reports the real fixtures' configs and tensors,
// convert writes GGUFs of every type that read back with the same config and values, and bad inputs give coded
// errors naming the file, leaving no partial output.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { convertModelFile, ggufTypes, inspectModelFile, type ModelFileSummary } from '../lib/model-file.js';
import { Tokenizer } from '../lib/tokenizer.js';
import { getLlama } from 'node-llama-cpp';

import { fixtures, knownGoodFirstTokens, repoRoot, requireFixtures } from './helpers/fixtures.js';

requireFixtures();

const dir = mkdtempSync(join(tmpdir(), 'redrafter-model-files-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const storiesConfig = {
  dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, headDim: 8, vocabSize: 512, contextLength: 512,
  ropeTheta: 10000, tiedClassifier: true,
};

function checkStoriesConfig(s: ModelFileSummary): void {
  assert.ok(s.config);
  const { normEps, ...rest } = s.config;
  assert.deepEqual(rest, storiesConfig);
  assert.ok(Math.abs(normEps - 1e-5) < 1e-9);
}

async function rejectsWith(p: Promise<unknown>, code: string, text: string | RegExp): Promise<void> {
  await assert.rejects(p, (e: Error & { code?: string }) => {
    assert.equal(e.code, code, e.message);
    if (typeof text === 'string') assert.ok(e.message.includes(text), e.message);
    else assert.match(e.message, text);
    return true;
  });
}

test('inspect: the llama2.c v0 and runq v2 fixtures and the tokenizer', async () => {
  const v0 = await inspectModelFile(fixtures.stories260K);
  assert.equal(v0.kind, 'model');
  assert.equal(v0.format, 'llama2c');
  assert.equal(v0.fileBytes, 1056540);
  checkStoriesConfig(v0);
  assert.equal(v0.unsupported, null);
  assert.equal(v0.tensors.length, 47);
  assert.deepEqual(v0.tensors[0], { name: 'tok_embeddings.weight', type: 'f32', shape: [512, 64], bytes: 131072, offset: 28 });
  assert.ok(v0.tensors.every((t) => t.type === 'f32'));
  assert.equal(v0.tokenizer, null);

  const q = await inspectModelFile(fixtures.stories260KQ80);
  assert.equal(q.format, 'llama2c-q8');
  assert.equal(q.version, 2);
  checkStoriesConfig(q);
  assert.equal(q.tensors.filter((t) => t.type === 'q8_g_f32').length, 36);
  assert.equal(q.tensors.filter((t) => t.type === 'f32').length, 11);

  const tok = await inspectModelFile(fixtures.tok512);
  assert.equal(tok.kind, 'tokenizer');
  assert.equal(tok.config, null);
  assert.deepEqual(tok.tokenizer?.tokenTypes, { normal: 253, control: 2, byte: 256, unknown: 1, other: 0 });
  assert.equal(tok.tokenizer?.vocabSize, 512);
});

for (const type of ggufTypes) {
  test(`convert to ${type}: a GGUF with the same config, types as asked, and the same tokenizer`, async () => {
    const out = join(dir, `stories-${type}.gguf`);
    const r = await convertModelFile({ model: fixtures.stories260K, tokenizer: fixtures.tok512, out, type });
    assert.equal(r.out, out);
    assert.equal(r.tensors, 47);
    const s = await inspectModelFile(out);
    assert.equal(s.format, 'gguf');
    assert.equal(s.version, 3);
    assert.equal(s.kind, 'model');
    checkStoriesConfig(s);
    assert.equal(r.bytes, s.fileBytes);
    const norms = s.tensors.filter((t) => t.name.endsWith('norm.weight'));
    assert.equal(norms.length, 11);
    assert.ok(norms.every((t) => t.type === 'f32'));
    const matrices = s.tensors.filter((t) => !t.name.endsWith('norm.weight'));
    // dim 64 and hidden 172: ffn_down's 172 columns take no block type (f16); the 256-value k types fit no matrix
    // here (q8_0 instead); q4_k_m's classifier (the tied token_embd) is q6_k, likewise q8_0
    const blocked = type !== 'f32' && type !== 'f16' && type !== 'bf16';
    const k = type.startsWith('q4_k') || type === 'q5_k' || type === 'q6_k';
    const expected = (name: string) => (blocked && name.endsWith('ffn_down.weight') ? 'f16' : k ? 'q8_0' : type);
    for (const t of matrices) assert.equal(t.type, expected(t.name), t.name);
    assert.deepEqual(r.fallbacks, !blocked ? [] : matrices.filter((t) => expected(t.name) !== type).map((t) => t.name));
    assert.deepEqual(s.tensors.find((t) => t.name === 'blk.0.attn_k.weight')?.shape, [32, 64]);
    const meta = new Map(s.metadata.map((m) => [m.key, m.value]));
    assert.equal(meta.get('general.architecture'), 'llama');
    assert.equal(meta.get('tokenizer.ggml.model'), 'llama');
    assert.equal(meta.get('llama.rope.freq_base'), '10000');
    assert.equal(s.tokenizer?.vocabSize, 512);
    const a = await Tokenizer.load(fixtures.tok512);
    const b = await Tokenizer.load(out);
    for (let id = 0; id < 512; ++id) assert.deepEqual(b.token(id), a.token(id));
  });
}

test('llama.cpp (node-llama-cpp 3.21.1) loads every converted type and decodes the known-good tokens greedily', async () => {
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  try {
    for (const type of ggufTypes) {
      const model = await llama.loadModel({ modelPath: join(dir, `stories-${type}.gguf`) });
      assert.equal(model.tokens.bos, 1);
      assert.equal(model.tokens.eos, 2);
      const context = await model.createContext({ contextSize: 64, threads: 1 });
      const tokens: number[] = [];
      for await (const token of context.getSequence().evaluate([1 as never], { temperature: 0 })) {
        tokens.push(token as number);
        if (tokens.length === knownGoodFirstTokens.length) break;
      }
      assert.deepEqual(tokens, knownGoodFirstTokens, type);
      await context.dispose();
      await model.dispose();
    }
  } finally {
    await llama.dispose();
  }
});

test('convert from the runq model and from a GGUF (its own tokenizer)', async () => {
  const fromQ = join(dir, 'from-q80.gguf');
  const progress: [number, number][] = [];
  await convertModelFile({
    model: fixtures.stories260KQ80, tokenizer: fixtures.tok512, out: fromQ, type: 'q8_0',
    onProgress: (done, total) => progress.push([done, total]),
  });
  // Progress calls come through their own queue: let it drain.
  for (let i = 0; i < 200 && progress.length < 47; ++i) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(progress.length, 47);
  assert.deepEqual(progress.at(-1), [47, 47]);
  assert.ok(progress.every(([done], i) => done === i + 1));
  checkStoriesConfig(await inspectModelFile(fromQ));
  const again = join(dir, 'again.gguf');
  const r = await convertModelFile({ model: fromQ, out: again, type: 'bf16' });
  assert.equal(r.type, 'bf16');
  checkStoriesConfig(await inspectModelFile(again));
});

test('bad arguments and files: coded errors naming the file, no partial output', async () => {
  await rejectsWith(inspectModelFile(''), 'ERR_REDRAFTER_INVALID_ARGUMENT', 'path');
  await rejectsWith(inspectModelFile(join(dir, 'nope.bin')), 'ERR_REDRAFTER_IO', 'nope.bin');
  const junk = join(dir, 'junk.bin');
  writeFileSync(junk, 'this is not a model file at all');
  await rejectsWith(inspectModelFile(junk), 'ERR_REDRAFTER_INVALID_MODEL', junk);
  const truncated = join(dir, 'truncated.gguf');
  await convertModelFile({ model: fixtures.stories260K, tokenizer: fixtures.tok512, out: truncated });
  const full = readFileSync(truncated);
  writeFileSync(truncated, full.subarray(0, full.length - 100));
  await rejectsWith(inspectModelFile(truncated), 'ERR_REDRAFTER_INVALID_MODEL', truncated);

  const out = join(dir, 'fail.gguf');
  await rejectsWith(convertModelFile({ model: fixtures.stories260K, out, type: 'q4' as never }), 'ERR_REDRAFTER_INVALID_ARGUMENT', 'type');
  await rejectsWith(convertModelFile({ model: fixtures.stories260K, out }), 'ERR_REDRAFTER_INVALID_ARGUMENT', 'tokenizer');
  await rejectsWith(convertModelFile({ model: fixtures.stories260K, out, onProgress: 5 as never }), 'ERR_REDRAFTER_INVALID_ARGUMENT', 'onProgress');
  await rejectsWith(convertModelFile({ model: fixtures.stories260K, tokenizer: junk, out }), 'ERR_REDRAFTER_INVALID_MODEL', junk);
  await rejectsWith(convertModelFile({ model: fixtures.stories260K, tokenizer: fixtures.tok512, out: fixtures.stories260K }),
    'ERR_REDRAFTER_INVALID_ARGUMENT', 'differ');
  await rejectsWith(convertModelFile({ model: fixtures.stories260K, tokenizer: fixtures.tok512, out: join(dir, 'no', 'such', 'dir.gguf') }),
    'ERR_REDRAFTER_IO', 'dir.gguf');
  assert.equal(existsSync(out), false);
  // A failed conversion leaves an existing output as it was, and no temporary files.
  writeFileSync(out, 'keep me');
  await rejectsWith(convertModelFile({ model: junk, tokenizer: fixtures.tok512, out }), 'ERR_REDRAFTER_INVALID_MODEL', junk);
  assert.equal(readFileSync(out, 'utf8'), 'keep me');
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp-')), []);
});

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'lib', 'cli', 'main.ts'), ...args], {
    encoding: 'utf8',
    cwd: repoRoot,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('CLI: redrafter convert and inspect, and one-line errors with exit code 1', () => {
  const out = join(dir, 'cli.gguf');
  const c = cli('convert', fixtures.stories260K, '--tokenizer', fixtures.tok512, '--to', 'gguf', out, '--dtype', 'f16');
  assert.equal(c.status, 0, c.stderr);
  assert.match(c.stdout, /wrote .*cli\.gguf: 47 tensors, f16/);
  const i = cli('inspect', out);
  assert.equal(i.status, 0, i.stderr);
  assert.match(i.stdout, /dim 64, hidden 172, layers 5, heads 8 \(kv 4, head size 8\)/);
  assert.match(i.stdout, /blk\.0\.attn_q\.weight\s+f16\s+\[64, 64\]/);
  assert.match(i.stdout, /tokenizer: gguf, 512 tokens/);
  const t = cli('inspect', fixtures.tok512, '--json');
  assert.equal(t.status, 0, t.stderr);
  assert.equal((JSON.parse(t.stdout) as ModelFileSummary).tokenizer?.vocabSize, 512);
  const bad = cli('inspect', join(dir, 'missing.gguf'));
  assert.equal(bad.status, 1);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
  assert.match(bad.stderr, /missing\.gguf.*ERR_REDRAFTER_IO/);
  const noTok = cli('convert', fixtures.stories260K, '--to', 'gguf', join(dir, 'x.gguf'));
  assert.equal(noTok.status, 1);
  assert.match(noTok.stderr, /tokenizer/);
});

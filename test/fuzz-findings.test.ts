// Regression tests for what the file fuzzer (bench/file-fuzz.ts, test/cpp/fuzz_files_test.cpp) found: each
// fails on the code before its fix. (The fuzzer itself runs in CI: test/reliability/.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Drafter, loadDrafter, saveDrafter } from '../lib/drafter/drafter.js';
import { loadEngine } from '../lib/engine.js';
import { convertModelFile } from '../lib/model-file.js';
import { fixtures, knownGoodFirstTokens, requireFixtures } from './helpers/fixtures.js';
import { stories260KDrafterDir } from './helpers/drafter.js';

requireFixtures();

const dir = mkdtempSync(join(tmpdir(), 'redrafter-fuzz-findings-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const DIM = 64, VOCAB = 512;
const embeddingRow = (token: number) => 28 + 4 * token * DIM;  // llama2.c v0: 28-byte header, then token_embedding

/**
 * stories260K as a llama2.c v0 file with an untied classifier (negative vocab_size, the classifier a copy of the
 * embedding appended at the end: the same model), with `poison` applied.
 */
function untiedStories(name: string, poison: (bytes: Buffer) => void): string {
  const original = readFileSync(fixtures.stories260K);
  const bytes = Buffer.concat([original, original.subarray(28, 28 + 4 * VOCAB * DIM)]);
  bytes.writeInt32LE(-VOCAB, 20);
  poison(bytes);
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

test('NaN weights that reach the logits fail the request with INVALID_MODEL naming the file (not garbage tokens or INVALID_ARGUMENT)', async () => {
  // rms_final is the last dim floats before freq_cis (tied v0): NaN there makes every logit NaN
  const original = readFileSync(fixtures.stories260K);
  const finalNorm = original.length - 2 * 4 * 512 * 4 - 4 * DIM;  // then freq_cis_real/imag: [seq_len 512, head_size/2 4] each
  const bytes = Buffer.from(original);
  bytes.writeFloatLE(NaN, finalNorm + 4 * 5);
  const nanModel = join(dir, 'nan-final-norm.bin');
  writeFileSync(nanModel, bytes);
  const engine = await loadEngine({ model: nanModel, tokenizer: fixtures.tok512, backend: 'cpu', threads: 1, drafter: null });
  try {
    for (const options of [{}, { temperature: 0.8, seed: 1 }]) {
      await assert.rejects(engine.createSession().complete('Once upon a time', { maxTokens: 5, ...options }), (e: NodeJS.ErrnoException) => {
        assert.equal(e.code, 'ERR_REDRAFTER_INVALID_MODEL');
        assert.match(e.message, new RegExp(`^${nanModel}: the model computed non-finite logits`));
        return true;
      });
    }
  } finally {
    await engine.dispose();
  }
});

test('non-finite logits in a decoding step fail that request only; a request beside it goes on', async () => {
  const healthy = untiedStories('untied.bin', () => undefined);
  const a = [1], b = [1, 300, 301, 302];
  let poisoned = -1;
  {
    await using engine = await loadEngine({ model: healthy, tokenizer: fixtures.tok512, backend: 'cpu', threads: 1, drafter: null });
    const ra = await engine.createSession().complete(a, { maxTokens: 20 });
    const rb = await engine.createSession().complete(b, { maxTokens: 20 });
    assert.deepEqual(ra.tokens.slice(0, 10), knownGoodFirstTokens, 'the untied copy is the same model');
    // a token that a's generation feeds back at its third step, and b never sees
    poisoned = ra.tokens.slice(2).find((t) => !rb.tokens.includes(t) && !b.includes(t) && !ra.tokens.slice(0, 2).includes(t)) ?? -1;
    assert.ok(poisoned >= 0);
  }
  const model = untiedStories('untied-nan-row.bin', (bytes) => bytes.writeFloatLE(NaN, embeddingRow(poisoned) + 8));
  await using engine = await loadEngine({ model, tokenizer: fixtures.tok512, backend: 'cpu', threads: 1, drafter: null });
  const [ra, rb] = await Promise.allSettled([
    engine.createSession().complete(a, { maxTokens: 20 }),
    engine.createSession().complete(b, { maxTokens: 20 }),
  ]);
  assert.equal(ra.status, 'rejected');
  const e = (ra as PromiseRejectedResult).reason as NodeJS.ErrnoException & { partial: { tokens: number[] } };
  assert.equal(e.code, 'ERR_REDRAFTER_INVALID_MODEL');
  assert.ok(e.message.startsWith(`${model}: the model computed non-finite logits`), e.message);
  assert.ok(e.partial.tokens.includes(poisoned), 'it failed in a step, after the poisoned token was generated');
  assert.equal(rb.status, 'fulfilled', 'the other request completes');
  // a prompt holding the token fails in its prefill
  await assert.rejects(engine.createSession().complete([1, poisoned], { maxTokens: 3 }), { code: 'ERR_REDRAFTER_INVALID_MODEL' });
});

test('a drafter whose weights hold NaN or infinity is refused at load, naming the tensor and the index', async () => {
  const original = await loadDrafter(stories260KDrafterDir);
  for (const [value, dtype] of [[NaN, 'F32'], [Infinity, 'F16'], [-Infinity, 'BF16']] as const) {
    const tensors = original.tensors();
    tensors['rnn_u.bias']![3] = value;
    const out = join(dir, `drafter-${dtype}`);
    await saveDrafter(out, original.config, tensors, { dtype });
    await assert.rejects(loadDrafter(out), (e: NodeJS.ErrnoException) => {
      assert.equal(e.code, 'ERR_REDRAFTER_INVALID_MODEL');
      assert.match(e.message, new RegExp(`^${out}: tensor rnn_u\\.bias holds a non-finite value \\((-?inf|nan)\\) at index 3$`));
      return true;
    });
    assert.throws(() => Drafter.fromTensors(original.config, tensors, 'mine'), /^Error: mine: tensor rnn_u\.bias holds a non-finite value/);
  }
});

test('a drafter whose finite weights overflow while drafting fails the request with INVALID_MODEL naming it', async () => {
  const original = await loadDrafter(stories260KDrafterDir);
  const tensors = original.tensors();
  const head = tensors[`lm_head.${original.config.numDraftLayers}.weight`]!;
  for (let i = 0; i < head.length; i++) head[i] = i % 2 ? 3e38 : -3e38;  // finite; their products with the input are not
  const drafter = Drafter.fromTensors(original.config, tensors, 'overflowing-drafter');
  await using engine = await loadEngine({ model: fixtures.stories260K, tokenizer: fixtures.tok512, backend: 'cpu', threads: 1, drafter });
  await assert.rejects(engine.createSession({ beamWidth: 2, beamLength: 3 }).complete('Once', { maxTokens: 8 }), (e: NodeJS.ErrnoException) => {
    assert.equal(e.code, 'ERR_REDRAFTER_INVALID_MODEL');
    assert.match(e.message, /^overflowing-drafter: the drafter computed non-finite logits/);
    return true;
  });
  // the engine goes on: plain decoding does not draft
  const r = await engine.createSession({ beamWidth: 0 }).complete('', { maxTokens: 10 });
  assert.deepEqual(r.tokens, knownGoodFirstTokens);
});

test('a drafter config that does not match its weights file: the message names both files', async () => {
  const d = join(dir, 'drafter-mismatch');
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'model.safetensors'), readFileSync(join(stories260KDrafterDir, 'model.safetensors')));
  const config = JSON.parse(readFileSync(join(stories260KDrafterDir, 'config.json'), 'utf8'));
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ vocab_size: 1024 }, /model\.safetensors: tensor lm_head\.2\.weight has shape \[512, 128\], .*config\.json needs \[1024, 128\]/],
    [{ hidden_size: 128 }, /model\.safetensors: tensor input_proj\.weight is missing; .*config\.json \(exit_dim 128, hidden_size 128, num_draft_layers 2, rnn true\) needs it/],
    [{ rnn: false }, /model\.safetensors: unexpected tensor rnn_u\.weight for .*config\.json \(exit_dim 128, hidden_size 64, num_draft_layers 2, rnn false\)/],
  ];
  for (const [change, message] of cases) {
    writeFileSync(join(d, 'config.json'), JSON.stringify({ ...config, ...change }));
    await assert.rejects(loadDrafter(d), (e: NodeJS.ErrnoException) => {
      assert.equal(e.code, 'ERR_REDRAFTER_INVALID_MODEL');
      assert.match(e.message, message);
      return true;
    });
  }
});

test('a declared context whose KV cache is over the memory budget: OUT_OF_MEMORY names the model file', async () => {
  // llama2.c v2 (ak42): seq_len (offset 32) does not change the file's size; 2^24 tokens need 21 GB of cache
  const bytes = readFileSync(fixtures.stories260KQ80);
  bytes.writeInt32LE(1 << 24, 32);
  const model = join(dir, 'q80-context-2^24.bin');
  writeFileSync(model, bytes);
  await assert.rejects(loadEngine({ model, tokenizer: fixtures.tok512, backend: 'cpu', threads: 1, drafter: null, maxKvCacheBytes: 1 << 30 }),
    (e: NodeJS.ErrnoException) => {
      assert.equal(e.code, 'ERR_REDRAFTER_OUT_OF_MEMORY');
      assert.ok(e.message.startsWith(`${model}: a context of 16777216 tokens needs a KV cache of 21474836480 bytes`), e.message);
      return true;
    });
});

test('a GGUF model without tokenizer metadata, loaded without a tokenizer: the error says so of that file', async () => {
  // stories260K converted with its tokenizer, then every tokenizer.ggml.* key renamed (same length)
  const path = join(dir, 'no-tokenizer.gguf');
  await convertModelFile({ model: fixtures.stories260K, tokenizer: fixtures.tok512, out: path, type: 'f32' });
  const bytes = readFileSync(path);
  for (let at = bytes.indexOf('tokenizer.ggml.'); at >= 0; at = bytes.indexOf('tokenizer.ggml.', at + 1)) bytes.write('xokenizer', at);
  writeFileSync(path, bytes);
  await assert.rejects(loadEngine({ model: path, backend: 'cpu', threads: 1, drafter: null }), (e: NodeJS.ErrnoException) => {
    assert.equal(e.code, 'ERR_REDRAFTER_INVALID_ARGUMENT');
    assert.equal(e.message, `tokenizer is required for ${path}: this gguf file carries no tokenizer (no tokenizer.ggml.* metadata); give its tokenizer`);
    return true;
  });
  // with one, it loads
  await using engine = await loadEngine({ model: path, tokenizer: fixtures.tok512, backend: 'cpu', threads: 1, drafter: null });
  assert.deepEqual((await engine.createSession().complete('', { maxTokens: 10 })).tokens, knownGoodFirstTokens);
});

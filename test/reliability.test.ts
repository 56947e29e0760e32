// Regression tests for the defects a hostile-input probe found (issue 14): each fails on the code before the fix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadDrafter } from '../lib/drafter/drafter.js';
import { loadEngine, type Engine } from '../lib/engine.js';
import { convertModelFile } from '../lib/model-file.js';
import { Tokenizer } from '../lib/tokenizer.js';
import { fixtures, knownGoodFirstTokens, repoRoot, requireFixtures } from './helpers/fixtures.js';
import { stories260KDrafterDir } from './helpers/drafter.js';

requireFixtures();

const dir = mkdtempSync(join(tmpdir(), 'redrafter-reliability-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

async function withEngine<T>(options: Record<string, unknown>, body: (e: Engine) => Promise<T>): Promise<T> {
  const engine = await loadEngine({ model: fixtures.stories260K, tokenizer: fixtures.tok512, backend: 'cpu', threads: 1, drafter: null, ...options });
  try {
    return await body(engine);
  } finally {
    await engine.dispose();
  }
}

/** stories260K as a GGUF (its tokenizer inside) whose llama.context_length says `contextLength`. */
async function withContext(contextLength: number): Promise<string> {
  const path = join(dir, `stories260K-ctx${contextLength}.gguf`);
  await convertModelFile({ model: fixtures.stories260K, tokenizer: fixtures.tok512, out: path, type: 'f32' });
  const bytes = readFileSync(path);
  const key = Buffer.from('llama.context_length');
  const at = bytes.indexOf(key);
  assert.ok(at > 0 && bytes.readUInt32LE(at + key.length) === 4 /* GGUF uint32 */);
  bytes.writeUInt32LE(contextLength, at + key.length + 4);
  writeFileSync(path, bytes);
  return path;
}

test('a drafter config declaring more residual blocks than its weights file holds fails at once, naming the field and both files', async () => {
  const d = join(dir, 'drafter-huge-layers');
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d, { recursive: true });
  copyFileSync(join(stories260KDrafterDir, 'model.safetensors'), join(d, 'model.safetensors'));
  const config = JSON.parse(readFileSync(join(stories260KDrafterDir, 'config.json'), 'utf8'));
  for (const layers of [1e9, 1e6]) {
    writeFileSync(join(d, 'config.json'), JSON.stringify({ ...config, num_draft_layers: layers }));
    const t0 = performance.now();
    await assert.rejects(loadDrafter(d), (e: NodeJS.ErrnoException) => {
      assert.equal(e.code, 'ERR_REDRAFTER_INVALID_MODEL');
      assert.match(e.message, new RegExp(`config\\.json: num_draft_layers ${layers} .*model\\.safetensors`));
      return true;
    });
    assert.ok(performance.now() - t0 < 1000, `refused in ${(performance.now() - t0).toFixed(0)} ms`);
  }
});

test('a declared context whose KV cache exceeds maxKvCacheBytes is refused at load with OUT_OF_MEMORY naming the bytes', async () => {
  // stories260K: 5 layers x 32 kv values x 4 bytes x 2 (K and V) = 1280 bytes per token
  await assert.rejects(withEngine({ maxKvCacheBytes: 512 * 1280 - 1 }, async () => {}), (e: NodeJS.ErrnoException) => {
    assert.equal(e.code, 'ERR_REDRAFTER_OUT_OF_MEMORY');
    assert.match(e.message, /512 tokens needs a KV cache of 655360 bytes per session, more than maxKvCacheBytes 655359/);
    return true;
  });
  await withEngine({ maxKvCacheBytes: 512 * 1280 }, async (e) => assert.equal(e.contextLength, 512));
  // a tiny file declaring a 2^24-token context: 21 GB of cache, over the default budget (half of the memory) on
  // machines under 43 GB; the error says what to do
  const huge = await withContext(1 << 24);
  await assert.rejects(
    loadEngine({ model: huge, backend: 'cpu', threads: 1, drafter: null, maxKvCacheBytes: 1 << 30 }),
    /21474836480 bytes per session, more than maxKvCacheBytes 1073741824; pass a smaller contextLength/,
  );
});

test('a large declared context costs only the cache memory a request uses (no eager fill)', async () => {
  const huge = await withContext(1 << 24);
  const before = process.memoryUsage().rss;
  const engine = await loadEngine({ model: huge, backend: 'cpu', threads: 1, drafter: null, maxKvCacheBytes: 2 ** 40 });
  try {
    const r = await engine.createSession().complete([1], { maxTokens: 10 });
    assert.deepEqual(r.tokens, knownGoodFirstTokens);
    const grown = process.memoryUsage().rss - before;
    assert.ok(grown < 256 * 2 ** 20, `RSS grew by ${(grown / 2 ** 20).toFixed(0)} MiB for a 21 GB reservation`);
  } finally {
    await engine.dispose();
  }
});

test('contextLength above the model\'s is a RangeError naming both values', async () => {
  await assert.rejects(withEngine({ contextLength: 4096 }, async () => {}), (e: NodeJS.ErrnoException) => {
    assert.ok(e instanceof RangeError, e.constructor.name);
    assert.equal(e.code, 'ERR_REDRAFTER_INVALID_ARGUMENT');
    assert.match(e.message, /^contextLength 4096 is larger than the model's context length 512/);
    return true;
  });
});

test('a tokenizer whose vocabulary differs from the model\'s is INVALID_MODEL naming both sizes (not DISPOSED)', async () => {
  // tok512.bin cut after 300 tokens: int32 max_token_length, then { float32 score, int32 len, len bytes } per token
  const bytes = readFileSync(fixtures.tok512);
  let at = 4;
  for (let i = 0; i < 300; i++) at += 8 + bytes.readInt32LE(at + 4);
  const cut = join(dir, 'tok300.bin');
  writeFileSync(cut, bytes.subarray(0, at));
  await assert.rejects(withEngine({ tokenizer: cut }, async () => {}), (e: NodeJS.ErrnoException) => {
    assert.equal(e.code, 'ERR_REDRAFTER_INVALID_MODEL');
    assert.match(e.message, /has 300 tokens but model .* has a vocabulary of 512/);
    return true;
  });
});

test('prompt token ids outside the vocabulary are a RangeError naming the index, and nothing is recorded', async () => {
  await withEngine({}, async (engine) => {
    const session = engine.createSession();
    for (const bad of [[1, 2 ** 32 + 5], [1, 512], Int32Array.from([1, -3])]) {
      assert.throws(() => session.generate(bad), (e: NodeJS.ErrnoException) => {
        assert.ok(e instanceof RangeError || e instanceof TypeError);
        assert.equal(e.code, 'ERR_REDRAFTER_INVALID_ARGUMENT');
        assert.match(e.message, /^prompt\[1\] must be a token id/);
        return true;
      });
    }
    assert.throws(() => session.generate([1, 2 ** 32 + 5]), /prompt\[1\] must be a token id in \[0, 512\) \(the vocabulary size\), got 4294967301/);
    assert.deepEqual(session.history, []);
    const r = await session.complete([1], { maxTokens: 10 });
    assert.deepEqual(r.tokens, knownGoodFirstTokens);
  });
});

test('temperature has one bound, 1e6, whatever the layer', async () => {
  await withEngine({}, async (engine) => {
    const session = engine.createSession();
    assert.throws(() => session.generate('a', { temperature: 1e308 }), (e: Error) => e instanceof RangeError && /temperature must be in \[0, 1000000\]/.test(e.message));
    const r = await session.complete([1], { maxTokens: 4, temperature: 1e6, seed: 3 });
    assert.equal(r.tokens.length, 4);
  });
});

test('a prompt far longer than the context is refused by its byte length, without tokenizing it on the event loop', async () => {
  await withEngine({}, async (engine) => {
    const session = engine.createSession();
    const prompt = 'Once upon a time there was a little dog. '.repeat(26000);  // ~1 MiB
    const t0 = performance.now();
    await assert.rejects(session.complete(prompt, { maxTokens: 1 }), (e: NodeJS.ErrnoException) => {
      assert.equal(e.code, 'ERR_REDRAFTER_CONTEXT_OVERFLOW');
      assert.match(e.message, /^prompt of 1066000 bytes has at least \d+ tokens, more than the 512 left in the context length 512/);
      return true;
    });
    const ms = performance.now() - t0;
    assert.ok(ms < 150, `refused in ${ms.toFixed(0)} ms`);
    assert.deepEqual(session.history, []);
  });
});

test('Tokenizer.encodeAsync gives encode()\'s ids off the event loop', async () => {
  const tok = await Tokenizer.load(fixtures.tok512);
  const text = 'Lily and Ben went to the park. They saw a big tree. 🌳 '.repeat(400);
  const ticks: number[] = [];
  const timer = setInterval(() => ticks.push(performance.now()), 1);
  const ids = await tok.encodeAsync(text, { bos: true });
  clearInterval(timer);
  assert.deepEqual(Array.from(ids), Array.from(tok.encode(text, { bos: true })));
  assert.ok(tok.maxTokenBytes >= 1);
  const atLeast = Math.floor(Buffer.byteLength(text) / tok.maxTokenBytes);
  assert.ok(ids.length >= atLeast, `${ids.length} tokens, the byte bound says at least ${atLeast}`);
});

test('CLI: --beam-width / --beam-length without --drafter fail as the API does', () => {
  for (const flag of ['--beam-width', '--beam-length']) {
    const r = spawnSync(process.execPath, [join(repoRoot, 'dist', 'cli', 'main.js'), 'generate', '--model', fixtures.stories260K,
      '--tokenizer', fixtures.tok512, '--prompt', 'Once', '--max-tokens', '4', flag, '4'], { encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, flag === '--beam-width' ? /beamWidth must be 0: the engine was loaded without a drafter/ :
      /beamLength must be left out \(or 0\): the engine was loaded without a drafter/);
  }
});

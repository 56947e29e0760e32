// The generation smoke test of the sanitizer job (scripts/sanitize.sh): run in node with libasan preloaded and the
// instrumented addon ($REDRAFTER_SANITIZER_ADDON), it exercises what a user does: tokenizer, plain and drafted
// generation (greedy: the known-good story; sampled, Apple's acceptance), several sessions at once, aborts, disposal,
// GGUF conversion and inspection, the drafter's own beam search, a few steps of drafter training, and mutated files
// through the public API (bench/file-fuzz.ts). AddressSanitizer or UBSan end the process on any report.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { loadDrafter } from '../../lib/drafter/drafter.js';
import { startDrafterTraining } from '../../lib/drafter/training.js';
import { loadEngine } from '../../lib/engine.js';
import { convertModelFile, inspectModelFile } from '../../lib/model-file.js';
import { Model } from '../../lib/model.js';
import { native } from '../../lib/native.js';
import { Tokenizer } from '../../lib/tokenizer.js';
import { fuzzInChild } from '../../bench/file-fuzz.js';
import { fixtures, knownGoodFirstTokens, knownGoodStory, requireFixtures } from '../helpers/fixtures.js';
import { stories260KDrafter } from '../helpers/drafter.js';

requireFixtures();
const t0 = performance.now();
const step = (what: string) => console.log(`sanitizer smoke: ${what} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);

// The instrumented addon is the one loaded (a missing $REDRAFTER_ADDON would fall back to build-cmake's silently).
const expected = process.env.REDRAFTER_SANITIZER_ADDON;
assert.ok(expected, 'REDRAFTER_SANITIZER_ADDON names the instrumented addon');
native();
const maps = readFileSync('/proc/self/maps', 'utf8');
assert.ok(maps.includes(resolve(expected)), `${resolve(expected)} is mapped into this process`);
assert.ok(/libasan\.so/.test(maps), 'libasan is loaded');
step(`addon ${expected} loaded with libasan`);

const story = knownGoodStory();
const dir = join(tmpdir(), `redrafter-sanitizer-${process.pid}`);
mkdirSync(dir, { recursive: true });
try {
  const tok = await Tokenizer.load(fixtures.tok512);
  for (const text of ['Once upon a time', '😀 ünïcödé \u0000 <s>', '']) assert.equal(tok.decode(tok.encode(text)), text);
  step('tokenizer');

  const drafter = await stories260KDrafter();
  for (const withDrafter of [false, true]) {
    const engine = await loadEngine({ model: fixtures.stories260K, tokenizer: fixtures.tok512, backend: 'cpu', threads: 2, drafter: withDrafter ? drafter : null });
    try {
      assert.equal((await engine.createSession().complete('', { maxTokens: 256 })).text, story);
      if (withDrafter) {
        for (const [beamWidth, beamLength] of [[8, 5], [1, 2], [16, 6]]) {
          const r = await engine.createSession({ beamWidth, beamLength }).complete('', { maxTokens: 64 });
          assert.deepEqual(r.tokens.slice(0, 10), knownGoodFirstTokens);
        }
        await engine.createSession({ beamWidth: 4, beamLength: 4 }).complete('The little dog', { maxTokens: 64, temperature: 0.9, seed: 5, acceptance: 'apple' });
      }
      await engine.createSession().complete('Lily and Ben', { maxTokens: 64, temperature: 1, topK: 20, topP: 0.9, seed: 3 });
      // several at once, with aborts and a disposed session among them
      const runs = Array.from({ length: 12 }, (_, i) => {
        const session = engine.createSession();
        const signal = i % 3 === 1 ? AbortSignal.timeout(1 + i) : undefined;
        const run = session.complete(i % 2 ? 'Once upon a time' : [1, 300 + i], { maxTokens: 100, signal });
        if (i % 3 === 2) setTimeout(() => session.dispose(), i);
        return run.catch((e: { code?: string }) => assert.ok(e.code === 'ERR_REDRAFTER_ABORTED' || e.code === 'ERR_REDRAFTER_DISPOSED', String(e)));
      });
      await Promise.all(runs);
      // disposing with requests in flight
      const inFlight = assert.rejects(engine.createSession().complete('Once', { maxTokens: 300 }), { code: 'ERR_REDRAFTER_DISPOSED' });
      await engine.dispose();
      await inFlight;
    } finally {
      await engine.dispose();
    }
    step(`generation ${withDrafter ? 'with' : 'without'} the drafter`);
  }

  for (const type of ['q8_0', 'f16'] as const) {
    const out = join(dir, `stories260K-${type}.gguf`);
    await convertModelFile({ model: fixtures.stories260KQ80, tokenizer: fixtures.tok512, out, type });
    assert.equal((await inspectModelFile(out)).format, 'gguf');
    await using engine = await loadEngine({ model: out, backend: 'cpu', threads: 1, drafter });
    await engine.createSession({ beamWidth: 4, beamLength: 4 }).complete('Once upon a time', { maxTokens: 40 });
  }
  step('GGUF conversion, inspection and generation');

  const model = await Model.load(fixtures.stories260K, { threads: 1 });
  const d = await loadDrafter(drafter, { model });
  const ctx = model.createContext({ capacity: 64 });
  const out = await ctx.forward(Int32Array.of(1, 403, 407), { outputs: [2] });
  assert.equal(out.logits.length, 512);
  const run = startDrafterTraining(model, { tokenizer: fixtures.tok512, threads: 2, tokens: 1500, steps: 3, batchSize: 8, numDraftLayers: 1, evalTexts: 1, seed: 1 });
  await run.result;
  ctx.dispose();
  model.dispose();
  void d;
  step('model forward, drafter load and training');

  const fuzz = await fuzzInChild({ seed: 7, count: Number(process.env.SANITIZE_FUZZ_CASES ?? 2000), dir: join(dir, 'fuzz'), caseLimitMs: 60_000 });
  assert.deepEqual(fuzz.failures, []);
  step(`${fuzz.cases} mutated files through the public API (${fuzz.loaded} loaded, ${fuzz.rejected} refused)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

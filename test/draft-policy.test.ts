// The adaptive draft shape (SessionOptions.adaptiveDraft, native/cpu/executor/draft_policy.h): whatever shape the
// engine picks step by step, greedy output equals plain decoding; with a drafter that cannot pay (random weights,
// nothing accepted) the engine ends up decoding plainly instead of verifying useless trees.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { defaultDrafterWeightType } from '../lib/cpu-backend.js';
import { loadEngine } from '../lib/engine.js';
import { defaultAdaptiveDraft, defaultBeamShape, resolveAdaptiveDraft } from '../lib/generation-options.js';
import { loadDrafter, saveDrafter } from '../lib/drafter/drafter.js';
import { native } from '../lib/native.js';
import { fixtures, requireFixtures } from './helpers/fixtures.js';
import { stories260KDrafter } from './helpers/drafter.js';

requireFixtures();
const dir = mkdtempSync(join(tmpdir(), 'redrafter-policy-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const prompts = ['Once upon a time', 'Lily and Ben', 'The dog ran to the'];

test('adaptive drafting: greedy output equals plain decoding', async () => {
  const drafter = await stories260KDrafter();
  await using engine = await loadEngine({ model: fixtures.stories260K, tokenizer: fixtures.tok512, drafter, threads: 1 });
  for (const prompt of prompts) {
    const plain = await engine.createSession({ beamWidth: 0 }).complete(prompt, { maxTokens: 120 });
    const adaptive = await engine
      .createSession({ beamWidth: 4, beamLength: 6, adaptiveDraft: true })
      .complete(prompt, { maxTokens: 120 });
    assert.deepEqual(adaptive.tokens, plain.tokens, prompt);
    assert.equal(adaptive.stats.tokensPerStepHistogram.reduce((a, b) => a + b, 0), adaptive.stats.steps);
  }
});

test('adaptive drafting: a drafter that is never right is dropped for plain decoding', async () => {
  // a random drafter of stories260K's shape: its drafts are almost never accepted
  let s = 12345;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 0.2;
  const H = 64;
  const E = 128;
  const t = (n: number) => Float32Array.from({ length: n }, rnd);
  const config = { vocabSize: 512, hiddenSize: H, exitDim: E, numDraftLayers: 1, rnn: true };
  await saveDrafter(join(dir, 'random'), config, {
    'lm_head.0.linear.weight': t(E * E),
    'lm_head.0.linear.bias': t(E),
    'lm_head.1.weight': t(512 * E),
    'rnn_u.weight': t(H * H),
    'rnn_u.bias': t(H),
    'rnn_w.weight': t(H * H),
  });
  await using engine = await loadEngine({
    model: fixtures.stories260K,
    tokenizer: fixtures.tok512,
    drafter: join(dir, 'random'),
    threads: 1,
  });
  const plain = await engine.createSession({ beamWidth: 0 }).complete('Once upon a time', { maxTokens: 200 });
  const fixed = await engine
    .createSession({ beamWidth: 8, beamLength: 6, adaptiveDraft: false })
    .complete('Once upon a time', { maxTokens: 200 });
  const adaptive = await engine
    .createSession({ beamWidth: 8, beamLength: 6, adaptiveDraft: true })
    .complete('Once upon a time', { maxTokens: 200 });
  assert.deepEqual(adaptive.tokens, plain.tokens);
  assert.deepEqual(fixed.tokens, plain.tokens);
  // Nothing to gain from drafting: after its warm-up and occasional probes the engine decodes plainly, which is
  // counted as drafting time near zero (the warm-up and probes draft a few times only).
  assert.ok(adaptive.stats.draftingSeconds < fixed.stats.draftingSeconds / 3,
    `adaptive drafting time ${adaptive.stats.draftingSeconds} vs fixed ${fixed.stats.draftingSeconds}`);
});

for (const drafterWeightType of ['f32', 'f16', 'q8_0', 'q4_0'] as const) {
  test(`drafter weights ${drafterWeightType} (drafterWeightType): drafts are still accepted and greedy output equals plain decoding`, async () => {
    const drafter = await stories260KDrafter();
    await using engine = await loadEngine({
      model: fixtures.stories260K,
      tokenizer: fixtures.tok512,
      drafter,
      threads: 1,
      drafterWeightType,
    });
    for (const prompt of prompts) {
      const plain = await engine.createSession({ beamWidth: 0 }).complete(prompt, { maxTokens: 100 });
      for (const [beamWidth, beamLength] of [[2, 6], [1, 8]]) {
        const drafted = await engine
          .createSession({ beamWidth, beamLength, adaptiveDraft: false })  // acceptance is asserted: a fixed shape
          .complete(prompt, { maxTokens: 100 });
        assert.deepEqual(drafted.tokens, plain.tokens, `${prompt} W=${beamWidth} L=${beamLength}`);
        assert.ok(drafted.stats.tokensPerStep > 2, `${prompt}: ${drafted.stats.tokensPerStep} tokens/step`);
      }
    }
  });
}

test('the default drafter weight type: q8_0 for drafters of 16 MB of weights and more, f32 for smaller ones', () => {
  const sized = (name: string, bytes: number) => {
    const d = join(dir, name);
    mkdirSync(d);
    writeFileSync(join(d, 'model.safetensors'), '');
    truncateSync(join(d, 'model.safetensors'), bytes);  // sparse: only the size is read
    return d;
  };
  assert.equal(defaultDrafterWeightType(sized('large', 16 << 20)), 'q8_0');
  assert.equal(defaultDrafterWeightType(sized('small', (16 << 20) - 1)), 'f32');
  assert.equal(defaultDrafterWeightType(join(dir, 'missing')), 'f32');  // loadDrafter reports it
});

test('drafter weight types: loadDrafter and loadEngine take f32, f16, q8_0, q4_0 (and the deprecated boolean aliases); others are refused naming the field', async () => {
  const dir = await stories260KDrafter();
  for (const weightType of ['f32', 'f16', 'q8_0', 'q4_0'] as const)
    assert.equal((await loadDrafter(dir, { weightType })).weightType, weightType);
  assert.equal((await loadDrafter(dir)).weightType, 'f32');
  assert.equal((await loadDrafter(dir, { halfWeights: true })).weightType, 'f16');
  assert.equal((await loadDrafter(dir, { halfWeights: false })).weightType, 'f32');
  const refused = (field: string) => (e: unknown) => {
    const err = e as { code?: string; message: string };
    assert.equal(err.code, 'ERR_REDRAFTER_INVALID_ARGUMENT');
    assert.match(err.message, new RegExp(`^${field} `));
    return true;
  };
  await assert.rejects(loadDrafter(dir, { weightType: 'q4_k' as never }), refused('weightType'));
  await assert.rejects(loadDrafter(dir, { weightType: 'f16', halfWeights: true }), refused('halfWeights'));
  // the native contract validates too (the value reaches C++ unchecked when the facade is bypassed)
  await assert.rejects(async () => native().Drafter.load(dir, { weightType: 'F16' as never }), refused('weightType'));
  const base = { model: fixtures.stories260K, tokenizer: fixtures.tok512, drafter: dir, threads: 1 };
  await assert.rejects(loadEngine({ ...base, drafterWeightType: 'bf16' as never }), refused('drafterWeightType'));
  await assert.rejects(loadEngine({ ...base, drafterWeightType: 'f16', drafterHalfWeights: false }),
    refused('drafterHalfWeights'));
  await assert.rejects(loadEngine({ ...base, drafterHalfWeights: 'yes' as never }), refused('drafterHalfWeights'));
  // the deprecated alias still loads
  await using engine = await loadEngine({ ...base, drafterHalfWeights: true });
  const r = await engine.createSession({ beamWidth: 1, beamLength: 8, adaptiveDraft: false }).complete('Once upon a time', { maxTokens: 40 });
  assert.ok(r.stats.tokensPerStep > 2);
});

test('default session on the CPU engine: beam shape by model size; small models adaptive for greedy, fixed (reproducible) when sampling', async () => {
  assert.deepEqual(defaultBeamShape(1.1e9), { beamWidth: 1, beamLength: 8 });
  assert.deepEqual(defaultBeamShape(90e6), { beamWidth: 1, beamLength: 8 });
  assert.deepEqual(defaultBeamShape(20e6), { beamWidth: 1, beamLength: 4 });
  assert.deepEqual(defaultBeamShape(260e3), { beamWidth: 1, beamLength: 4 });
  assert.equal(defaultAdaptiveDraft(260e3), 'greedy');
  assert.equal(defaultAdaptiveDraft(1.1e9), false);
  assert.equal(resolveAdaptiveDraft(undefined, { hasDrafter: true, parameters: 1.1e9 }), false);
  assert.equal(resolveAdaptiveDraft({ adaptiveDraft: true }, { hasDrafter: true, parameters: 1.1e9 }), true);
  assert.equal(resolveAdaptiveDraft({ adaptiveDraft: true }, { hasDrafter: true, fixedBeamShape: true }), false);
  const drafter = await stories260KDrafter();
  await using engine = await loadEngine({ model: fixtures.stories260K, tokenizer: fixtures.tok512, drafter, threads: 1 });
  // stories260K: dim 64, 5 layers, 8 heads / 4 KV heads, FFN 172, vocab 512, tied classifier
  const expected = 512 * 64 + 64 + 5 * (64 + 64 * 64 + 2 * 32 * 64 + 64 * 64 + 64 + 3 * 172 * 64);
  assert.equal(engine.info.parameters, expected);
  const session = engine.createSession();
  assert.equal(session.beamWidth, 1);
  assert.equal(session.beamLength, 4);
  assert.equal(session.adaptiveDraft, 'greedy');
  const plain = await engine.createSession({ beamWidth: 0 }).complete('Once upon a time', { maxTokens: 80 });
  assert.deepEqual((await session.complete('Once upon a time', { maxTokens: 80 })).tokens, plain.tokens);
  // sampling with the default: the same seed gives the same tokens (the shape does not vary with timing)
  const a = await engine.createSession().complete('The dog', { maxTokens: 60, temperature: 0.9, seed: 7 });
  const b = await engine.createSession().complete('The dog', { maxTokens: 60, temperature: 0.9, seed: 7 });
  assert.deepEqual(a.tokens, b.tokens);
  assert.throws(() => engine.createSession({ adaptiveDraft: 'always' as never }), (e: Error) => e instanceof TypeError && /adaptiveDraft/.test(e.message));
  // no drafter: plain decoding, nothing adaptive
  await using plainEngine = await loadEngine({ model: fixtures.stories260K, tokenizer: fixtures.tok512, drafter: null, threads: 1 });
  const p = plainEngine.createSession();
  assert.equal(p.beamWidth, 0);
  assert.equal(p.adaptiveDraft, false);
});

// ReDrafter generation through the public API on the real stories260K model: lossless greedy decoding, exact
// sampling, concurrent sessions, abort, dispose, multi-turn, stop strings, incremental text, option errors, CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { loadEngine, type Engine } from '../lib/engine.js';
import { Model } from '../lib/model.js';
import type { GenerationResult } from '../lib/session.js';
import { fixtures, knownGoodFirstTokens, repoRoot, requireFixtures } from './helpers/fixtures.js';
import { stories260KDrafter } from './helpers/drafter.js';

requireFixtures();

const model = fixtures.stories260K;
const tokenizer = fixtures.tok512;

async function withEngine<T>(options: { drafter?: string | null; contextLength?: number }, body: (e: Engine) => Promise<T>): Promise<T> {
  const engine = await loadEngine({ model, tokenizer, backend: 'cpu', threads: 1, drafter: null, ...options });
  try {
    return await body(engine);
  } finally {
    await engine.dispose();
  }
}

// Prompts of different lengths and kinds (text and raw token ids).
const prompts: (string | number[])[] = [
  '',
  'Once upon a time',
  'The little dog',
  'Lily and Ben went to the park. They saw a big tree.',
  'One day, a cat',
  'Tom said, "I want to play!"',
  [1, 300, 301, 302],
  [1, 450, 260, 270, 280, 290, 310, 320],
];

test('lossless greedy: drafted tokens equal plain greedy tokens, alone and several in flight, through EOS and up to the context limit', async () => {
  const drafter = await stories260KDrafter();
  // A small context so that some generations run into it; long maxTokens so that others end with EOS.
  const contextLength = 96;
  const plain: GenerationResult[] = await withEngine({ contextLength }, async (e) => {
    const out = [];
    for (const p of prompts) out.push(await e.createSession().complete(p, { maxTokens: 1000 }));
    return out;
  });
  const reasons = new Set(plain.map((r) => r.finishReason));
  assert.ok(reasons.has('context'), `some plain runs reach the context limit: ${[...reasons]}`);
  await withEngine({ drafter, contextLength }, async (e) => {
    let accepted = 0;
    // Alone, for several beam shapes.
    for (const [w, l] of [[8, 5], [4, 3], [1, 2], [16, 6]]) {
      for (const [i, p] of prompts.entries()) {
        const r = await e.createSession({ beamWidth: w, beamLength: l }).complete(p, { maxTokens: 1000 });
        assert.deepEqual(r.tokens, plain[i].tokens, `prompt ${i}, W=${w} L=${l}`);
        assert.equal(r.finishReason, plain[i].finishReason);
        assert.equal(r.text, plain[i].text);
        accepted += r.stats.generatedTokens - 1 - r.stats.steps;
      }
    }
    assert.ok(accepted > 0, 'some drafted tokens were accepted');
    // Several in flight at once, and short maxTokens that end inside a step.
    const runs = prompts.map((p, i) => e.createSession({ beamWidth: 8, beamLength: 5 }).complete(p, { maxTokens: 1000 }));
    const together = await Promise.all(runs);
    for (const [i, r] of together.entries()) assert.deepEqual(r.tokens, plain[i].tokens, `in flight: prompt ${i}`);
    for (const n of [1, 2, 3, 7, 13]) {
      const r = await e.createSession().complete(prompts[1], { maxTokens: n });
      assert.deepEqual(r.tokens, plain[1].tokens.slice(0, n));
      assert.equal(r.finishReason, plain[1].tokens.length > n ? 'length' : plain[1].finishReason);
    }
  });
});

test('greedy from BOS gives the known-good story start', async () => {
  await withEngine({}, async (e) => {
    const r = await e.createSession().complete('', { maxTokens: 10 });
    assert.deepEqual(r.tokens, knownGoodFirstTokens);
    assert.equal(r.finishReason, 'length');
    assert.match(r.text, /^Once upon a time/);
    // A long prompt is prefilled in chunks: the continuation equals a plain forward of the whole prompt at once.
    const prompt = [1, ...Array.from({ length: 299 }, (_, i) => 260 + ((i * 7) % 240))];
    const long = await e.createSession().complete(prompt, { maxTokens: 5 });
    const m = await Model.load(model, { threads: 1 });
    const ctx = m.createContext({ capacity: 512 });
    let out = await ctx.forward(Int32Array.from(prompt), { outputs: [prompt.length - 1] });
    const expected: number[] = [];
    for (let i = 0; i < 5; ++i) {
      let best = 0;
      for (let j = 1; j < out.logits.length; ++j) if (out.logits[j]! > out.logits[best]!) best = j;
      expected.push(best);
      out = await ctx.forward(Int32Array.of(best));
    }
    m.dispose();
    assert.deepEqual(long.tokens, expected);
  });
});

// Two-sample chi-square homogeneity statistic over categories, merging rare ones; returns [statistic, dof].
function chiSquare(a: Map<string, number>, b: Map<string, number>, na: number, nb: number): [number, number] {
  const keys = [...new Set([...a.keys(), ...b.keys()])];
  const bins: [number, number][] = [];
  let rare: [number, number] = [0, 0];
  for (const k of keys) {
    const x = a.get(k) ?? 0, y = b.get(k) ?? 0;
    if (x + y >= 10) bins.push([x, y]);
    else rare = [rare[0] + x, rare[1] + y];
  }
  if (rare[0] + rare[1] > 0) bins.push(rare);
  let stat = 0;
  const n = na + nb;
  for (const [x, y] of bins) {
    const ex = ((x + y) * na) / n, ey = ((x + y) * nb) / n;
    stat += (x - ex) ** 2 / ex + (y - ey) ** 2 / ey;
  }
  return [stat, bins.length - 1];
}

test('exact sampling: with drafting the first tokens follow the model\'s own sampling distribution', async () => {
  const drafter = await stories260KDrafter();
  const seeds = 800;
  // High temperatures spread the model's (very confident) distribution over many tokens: more power.
  const settings = [
    { prompt: 'Once upon a time', temperature: 1.5 },
    { prompt: 'The little dog', temperature: 1.2, topK: 40 },
    { prompt: 'One day, a cat', temperature: 1.3, topP: 0.9 },
  ];
  for (const s of settings) {
    const counts = async (drafted: boolean) => {
      return withEngine({ drafter: drafted ? drafter : null }, async (e) => {
        const first = new Map<string, number>(), pair = new Map<string, number>(), third = new Map<string, number>();
        let tokensPerStep = 0;
        for (let seed = 0; seed < seeds; ++seed) {
          const session = e.createSession(drafted ? { beamWidth: 8, beamLength: 4 } : {});
          const r = await session.complete(s.prompt, { maxTokens: 4, temperature: s.temperature, topK: s.topK, topP: s.topP, seed });
          const add = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
          add(first, String(r.tokens[0]));
          add(pair, r.tokens.slice(0, 2).join(','));
          add(third, String(r.tokens[2]));
          tokensPerStep += r.stats.tokensPerStep;
        }
        return { first, pair, third, tokensPerStep: tokensPerStep / seeds };
      });
    };
    const plain = await counts(false);
    const drafted = await counts(true);
    assert.ok(drafted.tokensPerStep > 1.05, `drafts are accepted while sampling (${drafted.tokensPerStep} tokens/step)`);
    for (const key of ['first', 'pair', 'third'] as const) {
      const [stat, dof] = chiSquare(plain[key], drafted[key], seeds, seeds);
      // Wilson-Hilferty: (stat/dof)^(1/3) is ~normal with mean 1-2/(9 dof) and variance 2/(9 dof). Fail past 4 sigma.
      const z = dof > 0 ? (Math.cbrt(stat / dof) - (1 - 2 / (9 * dof))) / Math.sqrt(2 / (9 * dof)) : 0;
      assert.ok(z < 4, `${s.prompt} ${key}: chi-square ${stat.toFixed(1)} on ${dof} dof (z=${z.toFixed(2)})`);
    }
  }
});

test('several sessions on one engine, concurrently, each get what they get alone (greedy and seeded sampling)', async () => {
  const drafter = await stories260KDrafter();
  await withEngine({ drafter }, async (e) => {
    const jobs = prompts.map((p, i) => ({ p, options: { maxTokens: 40, temperature: i % 2 ? 0.8 : 0, seed: 100 + i } }));
    const alone = [];
    for (const j of jobs) alone.push(await e.createSession().complete(j.p, j.options));
    const together = await Promise.all(jobs.map((j) => e.createSession().complete(j.p, j.options)));
    for (const [i, r] of together.entries()) assert.deepEqual(r.tokens, alone[i].tokens, `job ${i}`);
  });
});

test("acceptance: 'apple' runs Apple's rule when sampling and stays lossless when greedy", async () => {
  const drafter = await stories260KDrafter();
  await withEngine({ drafter }, async (e) => {
    const greedyExact = await e.createSession().complete('The little dog', { maxTokens: 60 });
    const greedyApple = await e.createSession().complete('The little dog', { maxTokens: 60, acceptance: 'apple' });
    assert.deepEqual(greedyApple.tokens, greedyExact.tokens);
    let tokensPerStep = 0;
    for (let seed = 0; seed < 20; ++seed) {
      const r = await e.createSession().complete('The little dog', { maxTokens: 30, temperature: 0.8, seed, acceptance: 'apple' });
      assert.equal(r.tokens.length, 30);
      tokensPerStep += r.stats.tokensPerStep / 20;
      const again = await e.createSession().complete('The little dog', { maxTokens: 30, temperature: 0.8, seed, acceptance: 'apple' });
      assert.deepEqual(again.tokens, r.tokens, 'seeded: reproducible');
    }
    assert.ok(tokensPerStep > 1.2, `Apple's rule accepts drafts (${tokensPerStep.toFixed(2)} tokens/step)`);
  });
});

test('generation never blocks the event loop', async () => {
  const drafter = await stories260KDrafter();
  await withEngine({ drafter }, async (e) => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 2);
    const start = performance.now();
    const runs = [0, 1, 2].map((i) => e.createSession({ beamWidth: 8, beamLength: 5 }).complete(prompts[i], { maxTokens: 400 }));
    await Promise.all(runs);
    const elapsed = performance.now() - start;
    clearInterval(timer);
    assert.ok(elapsed > 50, `long enough to measure (${elapsed.toFixed(0)} ms)`);
    assert.ok(ticks >= elapsed / 2 / 4, `${ticks} timer ticks in ${elapsed.toFixed(0)} ms`);
  });
});

test('streamed chunks add up to the result; several tokens per chunk with drafting', async () => {
  const drafter = await stories260KDrafter();
  await withEngine({ drafter }, async (e) => {
    const session = e.createSession({ beamWidth: 8, beamLength: 5, adaptiveDraft: false });
    const stream = session.generate('Once upon a time', { maxTokens: 60 });
    let text = '';
    const tokens: number[] = [];
    let chunks = 0, maxChunk = 0;
    for (;;) {
      const r = await stream.next();
      if (r.done) {
        assert.equal(r.value.text, text);
        assert.deepEqual(r.value.tokens, tokens);
        assert.equal(r.value.stats.generatedTokens, tokens.length);
        assert.equal(r.value.stats.tokensPerStepHistogram.reduce((a, b) => a + b, 0), r.value.stats.steps);
        // where the decoding time went: every part of a drafting step was timed, and the parts add up
        const st = r.value.stats;
        for (const part of ['draftingSeconds', 'treeBuildingSeconds', 'forwardSeconds', 'acceptanceSeconds', 'commitSeconds'] as const)
          assert.ok(st[part] > 0, `${part} = ${st[part]}`);
        assert.ok(Math.abs(st.verificationSeconds - st.forwardSeconds - st.acceptanceSeconds) < 1e-9);
        const parts = st.draftingSeconds + st.treeBuildingSeconds + st.verificationSeconds + st.commitSeconds;
        assert.ok(parts <= st.totalSeconds - st.prefillSeconds + 1e-6, `parts ${parts} within decoding time`);
        assert.ok(Math.abs(st.prefillSeconds + parts + st.otherSeconds - st.totalSeconds) < 1e-6);
        break;
      }
      chunks++;
      maxChunk = Math.max(maxChunk, r.value.tokens.length);
      text += r.value.text;
      tokens.push(...r.value.tokens);
    }
    assert.ok(chunks > 1, 'streams more than one chunk');
    assert.ok(maxChunk > 1, 'some step emits several tokens');
  });
});

test('text is decoded incrementally without ever splitting a UTF-8 character', async () => {
  await withEngine({}, async (e) => {
    const text = 'héllo 😀 wörld ✓ 日本';
    const ids = Array.from(e.codec.encode(text, { bos: true }));
    const decoder = e.codec.createDecoder(ids[0]);
    let out = '';
    for (const t of ids.slice(1)) {
      const piece = decoder.push(t);
      assert.ok(!piece.includes('\uFFFD'), `no replacement character in ${JSON.stringify(piece)}`);
      out += piece;
    }
    out += decoder.flush();
    assert.equal(out, text);
  });
});

test('stop strings end generation before them, and multi-turn sessions reuse their KV cache', async () => {
  const drafter = await stories260KDrafter();
  await withEngine({ drafter }, async (e) => {
    const full = await e.createSession().complete('', { maxTokens: 60 });
    assert.match(full.text, /Lily/);
    const stopped = await e.createSession().complete('', { maxTokens: 60, stop: ['Lily', 'never-appears'] });
    assert.equal(stopped.finishReason, 'stop');
    assert.equal(stopped.text, full.text.slice(0, full.text.indexOf('Lily')));

    const session = e.createSession();
    const first = await session.complete('Once upon a time', { maxTokens: 20 });
    const second = await session.complete(' The end', { maxTokens: 20 });
    assert.ok(second.stats.reusedPromptTokens >= session.history.length - second.tokens.length - 10);
    assert.ok(second.stats.reusedPromptTokens > first.tokens.length);
    // A fresh session given the same history as tokens continues identically.
    const history = session.history.slice(0, session.history.length - second.tokens.length);
    const fresh = await e.createSession().complete(history, { maxTokens: 20 });
    assert.deepEqual(fresh.tokens, second.tokens);
  });
});

test('an AbortSignal stops generation within a step and leaves the session usable', async () => {
  const drafter = await stories260KDrafter();
  await withEngine({ drafter }, async (e) => {
    const session = e.createSession();
    const controller = new AbortController();
    const stream = session.generate('Once upon a time', { maxTokens: 400, signal: controller.signal });
    let received = 0;
    await assert.rejects(
      (async () => {
        for await (const chunk of stream) {
          received += chunk.tokens.length;
          if (received >= 5 && !controller.signal.aborted) controller.abort();
        }
      })(),
      (err: Error & { code?: string }) => err.name === 'AbortError' && err.code === 'ERR_REDRAFTER_ABORTED',
    );
    assert.ok(received < 400, `stopped early (${received} tokens)`);
    // The session goes on from what was received, like a fresh session given that history.
    const next = await session.complete(' Then', { maxTokens: 15 });
    const history = session.history.slice(0, session.history.length - next.tokens.length);
    const fresh = await e.createSession().complete(history, { maxTokens: 15 });
    assert.deepEqual(next.tokens, fresh.tokens);
    // An already aborted signal rejects at once.
    await assert.rejects(session.complete('x', { signal: AbortSignal.abort() }), { name: 'AbortError' });
  });
});

test('disposing an engine with requests in flight rejects them with ERR_REDRAFTER_DISPOSED', async () => {
  const drafter = await stories260KDrafter();
  const engine = await loadEngine({ model, tokenizer, drafter, backend: 'cpu', threads: 1 });
  const sessions = [0, 1, 2].map(() => engine.createSession());
  const runs = Promise.allSettled(sessions.map((s, i) => s.complete(prompts[i], { maxTokens: 100000, temperature: 1, seed: i })));
  await new Promise((r) => setTimeout(r, 20));
  await engine.dispose();
  const results = await runs;
  for (const r of results)
    if (r.status === 'fulfilled') assert.equal(r.value.finishReason, 'context');
    else assert.equal((r.reason as { code?: string }).code, 'ERR_REDRAFTER_DISPOSED');
  assert.ok(results.some((r) => r.status === 'rejected'));
  assert.throws(() => engine.createSession(), { code: 'ERR_REDRAFTER_DISPOSED' });
  assert.throws(() => sessions[0].generate('x'), { code: 'ERR_REDRAFTER_DISPOSED' });
  await engine.dispose();  // idempotent
  // `await using` disposes too.
  {
    await using e2 = await loadEngine({ model, tokenizer, backend: 'cpu', threads: 1 });
    assert.equal((await e2.createSession().complete('', { maxTokens: 3 })).tokens.length, 3);
  }
});

test('invalid options throw TypeError/RangeError naming the field', async () => {
  await assert.rejects(loadEngine({ model, tokenizer, backend: 'gpu' as 'cpu' }), (e: Error) => e instanceof RangeError && /backend/.test(e.message));
  await assert.rejects(loadEngine({ model, tokenizer, threads: 1.5 }), (e: Error) => e instanceof TypeError && /threads/.test(e.message));
  await assert.rejects(loadEngine({ model: join(repoRoot, 'nope.bin') }), { code: 'ERR_REDRAFTER_IO', message: /nope\.bin/ });
  await assert.rejects(loadEngine({} as never), (e: Error) => e instanceof TypeError && /model/.test(e.message));
  await withEngine({}, async (e) => {
    assert.throws(() => e.createSession({ beamWidth: 4 }), (x: Error) => x instanceof RangeError && /beamWidth/.test(x.message));
    const s = e.createSession();
    const bad: [object, ErrorConstructor, RegExp][] = [
      [{ maxTokens: 0 }, RangeError, /maxTokens/],
      [{ maxTokens: 2.5 }, TypeError, /maxTokens/],
      [{ temperature: 'hot' }, TypeError, /temperature/],
      [{ temperature: -1 }, RangeError, /temperature/],
      [{ topK: -3 }, RangeError, /topK/],
      [{ topP: 0 }, RangeError, /topP/],
      [{ topP: 1.5 }, RangeError, /topP/],
      [{ seed: -1 }, RangeError, /seed/],
      [{ stop: [''] }, RangeError, /stop\[0\]/],
      [{ stop: 5 }, TypeError, /stop/],
      [{ signal: {} }, TypeError, /signal/],
      [{ acceptance: 'maybe' }, RangeError, /acceptance/],
    ];
    for (const [options, kind, field] of bad) {
      assert.throws(() => s.generate('x', options as never), (x: Error) => x instanceof kind && field.test(x.message), JSON.stringify(options));
      await assert.rejects(s.complete('x', options as never), (x: Error) => x instanceof kind && field.test(x.message));
    }
    assert.throws(() => s.generate({} as never), (x: Error) => x instanceof TypeError && /prompt/.test(x.message));
    await assert.rejects(s.complete('a '.repeat(600)), { code: 'ERR_REDRAFTER_CONTEXT_OVERFLOW' });
    // The session is still usable after all that.
    assert.equal((await s.complete('', { maxTokens: 2 })).tokens.length, 2);
  });
  const drafter = await stories260KDrafter();
  await withEngine({ drafter }, async (e) => {
    assert.throws(() => e.createSession({ beamWidth: -1 }), (x: Error) => x instanceof RangeError && /beamWidth/.test(x.message));
    assert.throws(() => e.createSession({ beamLength: 1 }), (x: Error) => x instanceof RangeError && /beamLength/.test(x.message));
    assert.throws(() => e.createSession({ beamWidth: 'x' as never }), (x: Error) => x instanceof TypeError && /beamWidth/.test(x.message));
  });
});

function cli(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'lib', 'cli', 'main.ts'), ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 120_000,
  });
}

test('CLI generate: --json prints exactly one JSON object on stdout (the text streams to stderr), errors exit 1 with one stderr line', async () => {
  const drafter = await stories260KDrafter();
  const r = cli(['generate', '--model', model, '--tokenizer', tokenizer, '--drafter', drafter, '--max-tokens', '30',
    '--beam-width', '4', '--beam-length', '4', '--threads', '1', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout);
  assert.equal(r.stdout.trim().split('\n').length, 1);
  assert.deepEqual(Object.keys(result).sort(), ['finishReason', 'stats', 'text', 'tokens']);
  assert.deepEqual(result.tokens.slice(0, 10), knownGoodFirstTokens);
  assert.equal(result.finishReason, 'length');
  for (const k of ['steps', 'generatedTokens', 'tokensPerStep', 'tokensPerSecond', 'tokensPerStepHistogram'])
    assert.ok(k in result.stats, k);
  assert.equal(result.stats.generatedTokens, 30);
  assert.ok(r.stderr.startsWith(result.text), 'the text was streamed to stderr');
  // the given shape is pinned: every step drafts it, but for the last, which drafts no further than maxTokens
  const shapes: { beamWidth: number; beamLength: number; steps: number }[] = result.stats.beamShapes;
  assert.deepEqual({ ...shapes[0], steps: 0 }, { beamWidth: 4, beamLength: 4, steps: 0 }, JSON.stringify(shapes));
  assert.ok(shapes[0]!.steps >= result.stats.steps - 1, JSON.stringify(shapes));

  const plain = cli(['generate', '--model', model, '--tokenizer', tokenizer, '--drafter', drafter, '--no-draft',
    '--max-tokens', '30', '--json']);
  assert.equal(plain.status, 0, plain.stderr);
  const p = JSON.parse(plain.stdout);
  assert.deepEqual(p.tokens, result.tokens);
  assert.equal(p.stats.tokensPerStep, 1);

  for (const bad of [
    ['generate', '--model', join(repoRoot, 'missing.bin')],
    ['generate', '--model', model, '--max-tokens', 'many'],
    ['generate', '--model', model, '--tokenizer', tokenizer, '--top-p', '3'],
    ['generate'],
  ]) {
    const b = cli(bad);
    assert.equal(b.status, 1, bad.join(' '));
    assert.equal(b.stderr.trim().split('\n').length, 1, b.stderr);
  }
  const help = cli(['generate', '--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--beam-width/);
});

test('CLI demo: streams a story, compares with plain decoding, fails in one line without its files', async () => {
  await stories260KDrafter();
  const drafterArgs = existsSync(join(repoRoot, 'models', 'stories260K-drafter', 'config.json'))
    ? [] : ['--drafter', await stories260KDrafter()];
  const r = cli(['demo', '--max-tokens', '40', '--threads', '1', ...drafterArgs]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Once upon a time/);
  assert.match(r.stdout, /tokens\/step/);
  assert.match(r.stdout, /plain decoding +1\.00 tokens\/step/);
  assert.match(r.stdout, /lossless: every drafted story is token for token the plain greedy story/);
  const missing = cli(['demo', '--models', join(repoRoot, 'no-such-folder')]);
  assert.equal(missing.status, 1);
  assert.equal(missing.stderr.trim().split('\n').length, 1);
  assert.match(missing.stderr, /REDRAFTER_MODELS/);
  const noDrafter = cli(['demo', '--drafter', join(repoRoot, 'no-such-drafter')]);
  assert.equal(noDrafter.status, 1);
  assert.match(noDrafter.stderr, /train-drafter/);
  assert.equal(cli(['demo', '--help']).status, 0);
});

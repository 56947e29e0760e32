// 1000 generations aborted at random points (an AbortSignal fired after a random delay or a random number of chunks,
// a signal already aborted, AbortSignal.timeout, leaving the iteration early, disposing the session), with and
// without the drafter, several at once: each ends as the API says (its result, or an AbortError whose partial
// tokens are what greedy decoding gives), and afterwards the engine still produces the known-good story, with
// resident memory flat after a warm-up. Run in CI (.ci/run); `node scripts/test-js.mjs test/reliability/abort-soak.test.ts`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';

import { loadEngine, type Engine } from '../../lib/engine.js';
import type { GenerationError, GenerationResult, GenerationStream } from '../../lib/session.js';
import { Rng } from '../../bench/file-fuzz.js';
import { fixtures, knownGoodStory, requireFixtures } from '../helpers/fixtures.js';
import { stories260KDrafter } from '../helpers/drafter.js';

requireFixtures();
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const GENERATIONS = Number(process.env.REDRAFTER_SOAK_GENERATIONS ?? 1000);
const WARMUP = 150;  // per engine, of its GENERATIONS / 2
const RSS_GROWTH_BOUND = 24 * 2 ** 20;

const prompts: (string | number[])[] = ['', 'Once upon a time', 'The little dog', 'Lily and Ben went to the park.', [1, 300, 301, 302], 'Tom said, "I want to play!"'];

function rssAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().rss;
}

/** Greedy continuations of every prompt from a fresh session (what any greedy partial must be a prefix of). */
async function greedyReference(engine: Engine): Promise<number[][]> {
  const out: number[][] = [];
  for (const p of prompts) out.push((await engine.createSession().complete(p, { maxTokens: 300 })).tokens);
  return out;
}

type Mode = 'timer' | 'chunks' | 'break' | 'pre-aborted' | 'timeout' | 'session-dispose';
const modes: readonly Mode[] = ['timer', 'chunks', 'break', 'pre-aborted', 'timeout', 'session-dispose'];

interface Tally {
  finished: number;
  aborted: number;
  disposed: number;
}

/** One generation, ended by `mode`; checks how it ended. */
async function abortedGeneration(engine: Engine, rng: Rng, reference: number[][], tally: Tally): Promise<void> {
  const p = rng.int(prompts.length);
  const mode = rng.pick(modes);
  const greedy = rng.chance(0.7);
  const session = engine.createSession();
  const controller = new AbortController();
  const signal = mode === 'pre-aborted' ? AbortSignal.abort() : mode === 'timeout' ? AbortSignal.timeout(1 + rng.int(12)) : controller.signal;
  const delay = rng.int(15);
  const stopAfter = rng.int(12);
  const stream: GenerationStream = session.generate(prompts[p]!, {
    maxTokens: 20 + rng.int(280),
    signal,
    ...(greedy ? {} : { temperature: 0.5 + rng.int(10) / 10, seed: rng.u32() }),
  });
  let timer: NodeJS.Timeout | undefined;
  if (mode === 'timer') timer = setTimeout(() => controller.abort(), delay);
  if (mode === 'session-dispose') timer = setTimeout(() => session.dispose(), delay);
  const received: number[] = [];
  let chunks = 0;
  let iterated = false;  // the iteration ran to its end
  let result: GenerationResult | undefined;
  let error: GenerationError | undefined;
  try {
    for await (const chunk of stream) {
      received.push(...chunk.tokens);
      if (++chunks > stopAfter) {
        if (mode === 'chunks') controller.abort();
        if (mode === 'break') break;
      }
    }
    iterated = mode !== 'break' || chunks <= stopAfter;
    result = await stream.result;  // (after a break: rejects unless it had finished)
  } catch (err) {
    error = err as GenerationError;
  } finally {
    clearTimeout(timer);
  }
  const what = `prompt ${p}, ${mode}, ${greedy ? 'greedy' : 'sampled'}`;
  if (result) {  // finished before the abort
    assert.deepEqual(iterated ? result.tokens : result.tokens.slice(0, received.length), received, what);
    if (greedy) assert.deepEqual(result.tokens, reference[p]!.slice(0, result.tokens.length), what);
    tally.finished++;
  } else {
    const e = error!;
    if (mode === 'session-dispose') {
      assert.equal(e.code, 'ERR_REDRAFTER_DISPOSED', e.stack);
      tally.disposed++;
    } else {
      assert.equal(e.name, 'AbortError', e.stack);
      assert.equal(e.code, 'ERR_REDRAFTER_ABORTED');
      tally.aborted++;
    }
    assert.ok(e.partial, 'the error carries partial');
    assert.deepEqual(e.partial.tokens.slice(0, received.length), received, `${what}: partial holds the chunks received`);
    if (greedy) assert.deepEqual(e.partial.tokens, reference[p]!.slice(0, e.partial.tokens.length), what);
  }
  if (rng.chance(0.5)) session.dispose();  // the rest are left to the garbage collector
}

test(`${GENERATIONS} generations aborted at random points leave the engine producing the known-good story, with flat RSS`, { timeout: 600_000 }, async () => {
  const story = knownGoodStory();
  const drafter = await stories260KDrafter();
  const rng = new Rng(2024);
  const tally: Tally = { finished: 0, aborted: 0, disposed: 0 };
  let done = 0;
  const growth: string[] = [];
  for (const withDrafter of [false, true]) {
    const name = withDrafter ? 'with the drafter' : 'without the drafter';
    const engine = await loadEngine({ model: fixtures.stories260K, tokenizer: fixtures.tok512, backend: 'cpu', threads: 1, drafter: withDrafter ? drafter : null });
    try {
      const reference = await greedyReference(engine);
      const storyRun = async () => (await engine.createSession().complete('', { maxTokens: 256 })).text;
      assert.equal(await storyRun(), story, 'before the aborts');
      let rssAfterWarmup = 0;
      for (let i = 0; i < GENERATIONS / 2; ) {
        // one to four generations at once on the same engine
        const together = Math.min(1 + rng.int(4), GENERATIONS / 2 - i);
        await Promise.all(Array.from({ length: together }, () => abortedGeneration(engine, rng, reference, tally)));
        i += together;
        done += together;
        if (rssAfterWarmup === 0 && i >= WARMUP) rssAfterWarmup = rssAfterGc();
        if (process.env.REDRAFTER_SOAK_TRACE && done % 500 < together) console.log(done, (rssAfterGc() / 2 ** 20).toFixed(1));
      }
      const rssAtEnd = rssAfterGc();
      growth.push(`${name}: ${(rssAfterWarmup / 2 ** 20).toFixed(1)} -> ${(rssAtEnd / 2 ** 20).toFixed(1)} MiB`);
      assert.ok(rssAtEnd - rssAfterWarmup < RSS_GROWTH_BOUND, `RSS grew by ${((rssAtEnd - rssAfterWarmup) / 2 ** 20).toFixed(1)} MiB after the warm-up (${name})`);
      assert.equal(await storyRun(), story, `after the aborts (${name})`);
      // a session that was aborted goes on as a fresh one given its history
      const session = engine.createSession();
      await assert.rejects(session.complete('Once upon a time', { maxTokens: 300, signal: AbortSignal.timeout(3) }), { name: 'AbortError' });
      const next = await session.complete(' Then', { maxTokens: 12 });
      const fresh = await engine.createSession().complete(session.history.slice(0, session.history.length - next.tokens.length), { maxTokens: 12 });
      assert.deepEqual(next.tokens, fresh.tokens);
    } finally {
      await engine.dispose();
    }
  }
  console.log(`${done} generations: ${tally.finished} finished first, ${tally.aborted} aborted, ${tally.disposed} ended by ` +
    `session.dispose(); RSS after the warm-up and at the end ${growth.join(', ')}`);
  assert.equal(done, GENERATIONS);
  assert.ok(tally.aborted > GENERATIONS / 3, `most generations are aborted (${tally.aborted})`);
});

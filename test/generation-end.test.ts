// The end of a generation (issue 18, item 10): generate() returns a GenerationStream, an async iterable of chunks with
// `result`; an abort rejects with an AbortError carrying `partial`; disposing the engine or the session rejects what is
// in flight or queued with ERR_REDRAFTER_DISPOSED and `partial`; calls on a busy session queue in order. Also which
// beam shapes ran (stats.beamShapes) and that an explicit shape is pinned (item 7).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { loadEngine, type Engine } from '../lib/engine.js';
import type { GenerationError, GenerationResult } from '../lib/session.js';
import { fixtures, knownGoodFirstTokens, requireFixtures } from './helpers/fixtures.js';
import { stories260KDrafter } from './helpers/drafter.js';

requireFixtures();

async function withEngine<T>(drafter: string | null, body: (e: Engine) => Promise<T>): Promise<T> {
  const engine = await loadEngine({ model: fixtures.stories260K, tokenizer: fixtures.tok512, backend: 'cpu', threads: 1, drafter });
  try {
    return await body(engine);
  } finally {
    await engine.dispose();
  }
}

function isGenerationError(code: string, name?: string) {
  return (e: unknown) => {
    const g = e as GenerationError;
    assert.equal(g.code, code, String(e));
    if (name) assert.equal(g.name, name);
    assert.ok(g.partial && typeof g.partial.text === 'string' && Array.isArray(g.partial.tokens), 'carries partial');
    return true;
  };
}

test('generate() is iterable and has result: the chunks add up to it; result alone runs the generation', async () => {
  await withEngine(await stories260KDrafter(), async (e) => {
    const stream = e.createSession().generate('', { maxTokens: 40 });
    let text = '';
    const tokens: number[] = [];
    for await (const chunk of stream) {
      text += chunk.text;
      tokens.push(...chunk.tokens);
    }
    const result = await stream.result;
    assert.equal(result.text, text);
    assert.deepEqual(result.tokens, tokens);
    assert.deepEqual(tokens.slice(0, 10), knownGoodFirstTokens);
    assert.equal(result.finishReason, 'length');
    // never iterated: the generation still runs to its end
    const alone = await e.createSession().generate('', { maxTokens: 40 }).result;
    assert.deepEqual(alone.tokens, tokens);
    // result first, then the chunks (kept until read)
    const late = e.createSession().generate('', { maxTokens: 40 });
    const r = await late.result;
    const seen: number[] = [];
    for await (const chunk of late) seen.push(...chunk.tokens);
    assert.deepEqual(seen, r.tokens);
  });
});

test('an aborted signal rejects result and the iteration with the same AbortError carrying partial', async () => {
  await withEngine(await stories260KDrafter(), async (e) => {
    const session = e.createSession();
    const controller = new AbortController();
    const stream = session.generate('Once upon a time', { maxTokens: 400, signal: controller.signal });
    let text = '';
    const tokens: number[] = [];
    let thrown: unknown;
    try {
      for await (const chunk of stream) {
        text += chunk.text;
        tokens.push(...chunk.tokens);
        if (tokens.length >= 5) controller.abort();
      }
    } catch (err) {
      thrown = err;
    }
    assert.ok(thrown, 'the iteration threw');
    isGenerationError('ERR_REDRAFTER_ABORTED', 'AbortError')(thrown);
    await assert.rejects(stream.result, (err) => err === thrown);
    const { partial } = thrown as GenerationError;
    assert.ok(tokens.length >= 5 && tokens.length < 400);
    assert.deepEqual(partial.tokens, tokens, 'partial holds every token generated, and the chunks gave them all');
    assert.equal(partial.text, text);
    assert.deepEqual(session.history.slice(-tokens.length), tokens, 'the partial output is in the conversation');
    // an already aborted signal: AbortError with an empty partial; an unobserved result is not an unhandled rejection
    await assert.rejects(session.complete('x', { signal: AbortSignal.abort() }), (err) => {
      isGenerationError('ERR_REDRAFTER_ABORTED', 'AbortError')(err);
      assert.deepEqual((err as GenerationError).partial, { text: '', tokens: [] });
      return true;
    });
    session.generate('x', { signal: AbortSignal.abort() });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal((await session.complete(' The end', { maxTokens: 3 })).tokens.length, 3, 'the session stays usable');
  });
});

test('leaving the iteration early cancels the generation: result rejects with an AbortError; the session goes on', async () => {
  await withEngine(null, async (e) => {
    const session = e.createSession();
    const stream = session.generate('', { maxTokens: 400 });
    let received = 0;
    for await (const chunk of stream) {
      received += chunk.tokens.length;
      if (received >= 3) break;
    }
    await assert.rejects(stream.result, (err) => {
      isGenerationError('ERR_REDRAFTER_ABORTED', 'AbortError')(err);
      const p = (err as GenerationError).partial;
      assert.ok(p.tokens.length >= 3 && p.tokens.length < 400, `${p.tokens.length} tokens`);
      assert.deepEqual(p.tokens.slice(0, 3), knownGoodFirstTokens.slice(0, 3));
      return true;
    });
    assert.equal((await session.complete(' Then', { maxTokens: 2 })).tokens.length, 2);
  });
});

test('calls on a busy session queue behind it and run in call order, each continuing the conversation', async () => {
  await withEngine(await stories260KDrafter(), async (e) => {
    const prompts = ['Once upon a time', ' Then', ' The dog', ' Lily said', ' The end'];
    // serially, awaiting each
    const serial = e.createSession();
    const expected: GenerationResult[] = [];
    for (const p of prompts) expected.push(await serial.complete(p, { maxTokens: 12 }));
    // all at once, nothing awaited in between
    const session = e.createSession();
    const finished: number[] = [];
    const streams = prompts.map((p, i) => session.generate(p, { maxTokens: 12 }));
    const results = await Promise.all(streams.map((s, i) => s.result.then((r) => (finished.push(i), r))));
    assert.deepEqual(finished, [0, 1, 2, 3, 4], 'they ended in call order');
    for (const [i, r] of results.entries()) assert.deepEqual(r.tokens, expected[i]!.tokens, `call ${i}`);
    assert.deepEqual(session.history, serial.history);
    // a queued call aborted while it waits rejects at once; the ones behind it keep their order
    const first = session.generate(' Once more', { maxTokens: 200 });
    const controller = new AbortController();
    const second = session.generate(' x', { maxTokens: 5, signal: controller.signal });
    const third = session.generate(' Then', { maxTokens: 5 });
    const order: string[] = [];
    first.result.then(() => order.push('first'));
    third.result.then(() => order.push('third'));
    controller.abort();
    await assert.rejects(second.result, isGenerationError('ERR_REDRAFTER_ABORTED', 'AbortError'));
    order.push('second');
    await third.result;
    assert.deepEqual(order, ['second', 'first', 'third']);
  });
});

test('disposing the engine rejects generations in flight and queued with ERR_REDRAFTER_DISPOSED and their partial', async () => {
  const engine = await loadEngine({ model: fixtures.stories260K, tokenizer: fixtures.tok512, backend: 'cpu', threads: 1,
    drafter: await stories260KDrafter() });
  const sessions = [0, 1, 2].map(() => engine.createSession());
  const streams = sessions.map((s, i) => s.generate('Once upon a time', { maxTokens: 100000, temperature: 1, seed: i }));
  const queued = sessions[0]!.generate(' more', { maxTokens: 10 });
  // every stream has produced something before the engine goes away
  const firsts = streams.map((s) => s.next());
  await Promise.all(firsts);
  await engine.dispose();
  const outcomes = await Promise.allSettled(streams.map((s) => s.result));
  let disposed = 0;
  for (const o of outcomes) {
    if (o.status === 'fulfilled') {
      assert.equal(o.value.finishReason, 'context', 'a generation that ended before the dispose ran into the context');
      continue;
    }
    isGenerationError('ERR_REDRAFTER_DISPOSED')(o.reason);
    assert.ok((o.reason as GenerationError).partial.tokens.length >= 1, 'partial holds the tokens generated');
    disposed++;
  }
  assert.ok(disposed >= 1, 'some generation was in flight');
  await assert.rejects(queued.result, (err) => {
    isGenerationError('ERR_REDRAFTER_DISPOSED')(err);
    assert.deepEqual((err as GenerationError).partial.tokens, []);
    return true;
  });
  assert.throws(() => sessions[1]!.generate('x'), { code: 'ERR_REDRAFTER_DISPOSED' });
});

test('disposing a session rejects its generation in flight with ERR_REDRAFTER_DISPOSED and partial', async () => {
  await withEngine(null, async (e) => {
    const session = e.createSession();
    const stream = session.generate('', { maxTokens: 100000 });
    await stream.next();
    session.dispose();
    await assert.rejects(stream.result, (err) => {
      isGenerationError('ERR_REDRAFTER_DISPOSED')(err);
      assert.match((err as Error).message, /session was disposed/);
      return true;
    });
    // the iteration gives the chunks generated, then the same error
    await assert.rejects((async () => { for await (const _ of stream); })(), { code: 'ERR_REDRAFTER_DISPOSED' });
  });
});

test('stats.beamShapes: an explicit beam shape is pinned; the default small-model session adapts; plain is width 0', async () => {
  await withEngine(await stories260KDrafter(), async (e) => {
    const pinned = e.createSession({ beamWidth: 8, beamLength: 5 });
    assert.equal(pinned.adaptiveDraft, false);
    const r = await pinned.complete('Once upon a time', { maxTokens: 120 });
    const shapes = r.stats.beamShapes;
    assert.equal(shapes.reduce((n, s) => n + s.steps, 0), r.stats.steps);
    assert.deepEqual({ ...shapes[0], steps: 0 }, { beamWidth: 8, beamLength: 5, steps: 0 }, JSON.stringify(shapes));
    // every step drafts the given shape, but for the last, which drafts no further than maxTokens allows
    assert.ok(shapes[0]!.steps >= r.stats.steps - 1, JSON.stringify(shapes));
    for (const s of shapes.slice(1)) assert.ok(s.beamLength < 5, JSON.stringify(shapes));

    const adaptive = e.createSession({ beamWidth: 8, beamLength: 5, adaptiveDraft: true });
    const a = await adaptive.complete('Once upon a time', { maxTokens: 120 });
    assert.equal(a.stats.beamShapes.reduce((n, s) => n + s.steps, 0), a.stats.steps);
    assert.ok(a.stats.beamShapes.length > 1, `the adaptive shape tried others: ${JSON.stringify(a.stats.beamShapes)}`);
    assert.deepEqual(a.tokens, r.tokens);

    const plain = await e.createSession({ beamWidth: 0 }).complete('Once upon a time', { maxTokens: 20 });
    assert.deepEqual(plain.stats.beamShapes, [{ beamWidth: 0, beamLength: 1, steps: plain.stats.steps }]);
  });
});

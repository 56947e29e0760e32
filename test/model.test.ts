// The CPU engine through its TypeScript API: known-good greedy tokens, tree forwards with commit/truncate, and
// coded errors that leave contexts usable.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Model } from '../lib/model.js';
import { fixtures, knownGoodFirstTokens, requireFixtures } from './helpers/fixtures.js';

requireFixtures();

function argmax(v: Float32Array, offset = 0, n = v.length - offset): number {
  let best = offset;
  for (let i = offset; i < offset + n; ++i) if (v[i] > v[best]) best = i;
  return best - offset;
}

async function rejectsWith(p: Promise<unknown>, code: string, text: RegExp): Promise<void> {
  await assert.rejects(p, (e: Error & { code?: string }) => {
    assert.equal(e.code, code, e.message);
    assert.match(e.message, text);
    return true;
  });
}

test('stories260K: config and greedy from BOS reproduce the known-good tokens', async () => {
  const model = await Model.load(fixtures.stories260K, { threads: 2 });
  const c = model.config;
  assert.deepEqual([c.dim, c.hiddenDim, c.nLayers, c.nHeads, c.nKvHeads, c.vocabSize, c.contextLength],
    [64, 172, 5, 8, 4, 512, 512]);
  assert.equal(c.format, 'llama2c');
  assert.equal(c.threads, 2);
  const ctx = model.createContext({ capacity: 64 });
  const out: number[] = [];
  let token = 1;
  for (let i = 0; i < knownGoodFirstTokens.length; ++i) {
    const { logits } = await ctx.forward([token]);
    assert.equal(logits.length, 512);
    token = argmax(logits);
    out.push(token);
  }
  assert.deepEqual(out, knownGoodFirstTokens);
  assert.equal(ctx.length, 10);
  model.dispose();
});

test('prefill returns the same logits as decoding, outputs/hidden select rows', async () => {
  const model = await Model.load(fixtures.stories260K, { threads: 2 });
  const prompt = [1, 403, 407, 261, 378, 432];
  const a = model.createContext({ capacity: 32 });
  const step: Float32Array[] = [];
  for (const t of prompt) step.push((await a.forward([t])).logits);
  const b = model.createContext({ capacity: 32 });
  const all = await b.forward(prompt, { outputs: [5, 0], hidden: true });
  assert.equal(all.logits.length, 2 * 512);
  assert.equal(all.hidden?.length, 2 * 64);
  assert.deepEqual(all.logits.subarray(0, 512), step[5]);  // bit-exact (batch invariance)
  assert.deepEqual(all.logits.subarray(512), step[0]);
  model.dispose();
});

test('tree forward, commit of the accepted path and truncate keep the cache consistent', async () => {
  const model = await Model.load(fixtures.stories260K, { threads: 2 });
  const prefix = [1, 403, 407];
  // tree: 0 -> 1 -> 3, 0 -> 2 -> 4 (packed, parents before children)
  const tokens = [261, 378, 290, 432, 300];
  const parents = [-1, 0, 0, 1, 2];
  const depth = [0, 1, 1, 2, 2];
  const n = tokens.length;
  const mask = new Uint8Array(n * n);
  for (let i = 0; i < n; ++i) for (let j = i; j >= 0; j = parents[j]) mask[i * n + j] = 1;
  const ctx = model.createContext({ capacity: 64 });
  await ctx.forward(prefix);
  const positions = Int32Array.from(depth, (d) => prefix.length + d);
  const tree = await ctx.forward(tokens, { positions, mask, hidden: true });
  assert.equal(ctx.length, prefix.length + n);
  // node 4's logits equal running its path 0 -> 2 -> 4
  const ref = model.createContext({ capacity: 64 });
  await ref.forward(prefix);
  const path = await ref.forward([tokens[0], tokens[2], tokens[4]]);
  const mine = tree.logits.subarray(4 * 512, 5 * 512);
  const theirs = path.logits.subarray(2 * 512);
  for (let i = 0; i < 512; ++i) assert.ok(Math.abs(mine[i] - theirs[i]) <= 1e-5 * (1 + Math.abs(theirs[i])));
  // accept 0 -> 2 -> 4, then continuing equals continuing the plain path
  assert.equal(ctx.commit([0, 2, 4]), prefix.length + 3);
  assert.equal(ctx.length, prefix.length + 3);
  assert.throws(() => ctx.commit([0]), /acceptedPacked has nothing to commit/);
  const next = await ctx.forward([500]);
  const plainNext = await ref.forward([500]);
  for (let i = 0; i < 512; ++i) assert.ok(Math.abs(next.logits[i] - plainNext.logits[i]) <= 1e-5 * (1 + Math.abs(plainNext.logits[i])));
  // truncate rolls back and recomputing gives the same bits
  assert.equal(ctx.truncate(prefix.length + 3), prefix.length + 3);
  assert.deepEqual((await ctx.forward([500])).logits, next.logits);
  model.dispose();
});

test('errors name the field, carry codes, and leave the context usable', async () => {
  const model = await Model.load(fixtures.stories260K, { threads: 1 });
  const ctx = model.createContext({ capacity: 4 });
  await rejectsWith(ctx.forward([1, 2, 3, 4, 5]), 'ERR_REDRAFTER_CONTEXT_OVERFLOW', /capacity 4/);
  await rejectsWith(ctx.forward([1, 600]), 'ERR_REDRAFTER_INVALID_ARGUMENT', /tokens\[1\]/);
  await rejectsWith(ctx.forward([1, 2], { mask: [1, 1, 1, 1] }), 'ERR_REDRAFTER_INVALID_ARGUMENT', /mask/);
  await rejectsWith(ctx.forward([1, 2], { mask: [1, 0, 1] }), 'ERR_REDRAFTER_INVALID_ARGUMENT', /mask/);
  await rejectsWith(ctx.forward([1, 2], { positions: [0] }), 'ERR_REDRAFTER_INVALID_ARGUMENT', /positions/);
  await rejectsWith(ctx.forward([1, 2], { outputs: [2] }), 'ERR_REDRAFTER_INVALID_ARGUMENT', /outputs/);
  await rejectsWith(ctx.forward([]), 'ERR_REDRAFTER_INVALID_ARGUMENT', /tokens/);
  await rejectsWith(ctx.forward('abc' as never), 'ERR_REDRAFTER_INVALID_ARGUMENT', /tokens/);
  assert.equal(ctx.length, 0);
  // one forward at a time per context
  const first = ctx.forward([1]);
  await rejectsWith(ctx.forward([2]), 'ERR_REDRAFTER_INVALID_ARGUMENT', /still running/);
  assert.throws(() => ctx.truncate(0), /still running/);
  await first;
  assert.equal(ctx.length, 1);
  await ctx.forward([2, 3, 4]);
  assert.equal(ctx.length, 4);
  await rejectsWith(ctx.forward([5]), 'ERR_REDRAFTER_CONTEXT_OVERFLOW', /capacity/);
  assert.throws(() => ctx.truncate(5), (e: Error & { code?: string }) => e.code === 'ERR_REDRAFTER_INVALID_ARGUMENT');
  assert.equal(ctx.truncate(1), 1);
  await ctx.forward([2]);
  assert.throws(() => model.createContext({ capacity: 0 }), /capacity/);
  assert.throws(() => model.createContext({ capacity: 513 }), /capacity/);
  await rejectsWith(Model.load('/nonexistent/model.bin'), 'ERR_REDRAFTER_IO', /nonexistent/);
  await assert.rejects(Model.load(fixtures.stories260K, { threads: -1 }), RangeError);
  // disposal
  const other = model.createContext({ capacity: 8 });
  other.dispose();
  await rejectsWith(other.forward([1]), 'ERR_REDRAFTER_DISPOSED', /disposed/);
  model.dispose();
  assert.equal(model.disposed, true);
  await rejectsWith(ctx.forward([1]), 'ERR_REDRAFTER_DISPOSED', /disposed/);
  assert.throws(() => model.createContext(), (e: Error & { code?: string }) => e.code === 'ERR_REDRAFTER_DISPOSED');
  assert.throws(() => model.config, (e: Error & { code?: string }) => e.code === 'ERR_REDRAFTER_DISPOSED');
});

test('several contexts run forwards concurrently on one model', async () => {
  const model = await Model.load(fixtures.stories260K, { threads: 2 });
  const seqs = [[1, 403], [1, 407, 261], [1]];
  const alone: Float32Array[] = [];
  for (const s of seqs) alone.push((await model.createContext({ capacity: 8 }).forward(s)).logits);
  const together = await Promise.all(seqs.map((s) => model.createContext({ capacity: 8 }).forward(s)));
  together.forEach((r, i) => assert.deepEqual(r.logits, alone[i]));
  model.dispose();
});

test('forwardBatch runs several contexts in one pass with the bits each gets alone', async () => {
  const model = await Model.load(fixtures.stories260K, { threads: 2 });
  const other = await Model.load(fixtures.stories260K, { threads: 1 });
  const a = model.createContext({ capacity: 32 }), b = model.createContext({ capacity: 32 });
  await a.forward([1, 403]);
  // b: a 3-token tree 0 -> {1, 2} after BOS
  const mask = [1, 0, 0, 1, 1, 0, 1, 0, 1];
  const results = await model.forwardBatch([
    { context: a, tokens: [407, 261] },
    { context: b, tokens: [1, 403, 300], positions: [0, 1, 1], mask, outputs: [2, 1], hidden: true },
  ]);
  assert.equal(results.length, 2);
  assert.equal(a.length, 4);
  assert.equal(b.length, 3);
  const a2 = model.createContext({ capacity: 32 }), b2 = model.createContext({ capacity: 32 });
  await a2.forward([1, 403]);
  assert.deepEqual(results[0].logits, (await a2.forward([407, 261])).logits);
  const alone = await b2.forward([1, 403, 300], { positions: [0, 1, 1], mask, outputs: [2, 1], hidden: true });
  assert.deepEqual(results[1].logits, alone.logits);
  assert.deepEqual(results[1].hidden, alone.hidden);
  assert.equal(b.commit([0, 2]), 2);  // commit works after a batched forward
  // validation names the item and field; nothing runs
  await rejectsWith(model.forwardBatch([{ context: a, tokens: [1] }, { context: a, tokens: [2] }]),
    'ERR_REDRAFTER_INVALID_ARGUMENT', /items\[1\]\.context appears twice/);
  await rejectsWith(model.forwardBatch([{ context: a, tokens: [1] }, { context: b, tokens: [999] }]),
    'ERR_REDRAFTER_INVALID_ARGUMENT', /items\[1\]\.tokens\[0\]/);
  await rejectsWith(model.forwardBatch([{ context: other.createContext({ capacity: 4 }), tokens: [1] }]),
    'ERR_REDRAFTER_INVALID_ARGUMENT', /another model/);
  await rejectsWith(model.forwardBatch([]), 'ERR_REDRAFTER_INVALID_ARGUMENT', /items/);
  assert.equal(a.length, 4);
  const running = a.forward([5]);
  await rejectsWith(model.forwardBatch([{ context: a, tokens: [1] }]), 'ERR_REDRAFTER_INVALID_ARGUMENT', /still running/);
  await running;  // the busy context was not released by the rejected batch
  assert.equal(a.length, 5);
  model.dispose();
  other.dispose();
});

test('Model.measureRoofline: this machine\'s read bandwidth and FMA peak, per ISA; a bad ISA name is refused', async () => {
  const r = await Model.measureRoofline({ threads: 1, isa: 'portable' });
  assert.equal(r.threads, 1);
  assert.equal(r.isa, 'portable');
  assert.ok(r.readBytesPerSecond > 1e8 && r.readBytesPerSecond < 1e13, String(r.readBytesPerSecond));
  assert.ok(r.fmaFlopsPerSecond > 1e7 && r.fmaFlopsPerSecond < 1e13, String(r.fmaFlopsPerSecond));
  await assert.rejects(Model.measureRoofline({ isa: 'sse9' }), { code: 'ERR_REDRAFTER_INVALID_ARGUMENT' });
});

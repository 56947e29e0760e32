// The core operators through JS: worked examples, and the errors bad input gets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ops, ErrorCodes, isRedrafterError } from '../lib/index.ts';
import { native } from '../lib/native.ts';

const i32 = (...v: number[]) => new Int32Array(v);
const f32 = (...v: number[]) => new Float32Array(v);

function throwsCoded(fn: () => unknown, kind: typeof TypeError | typeof RangeError, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof kind, `expected ${kind.name}, got ${String(err)}`);
    assert.ok(isRedrafterError(err));
    assert.equal(err.code, ErrorCodes.INVALID_ARGUMENT);
    assert.match(err.message, message);
    return true;
  });
}

test('buildTree packs shared prefixes in Apple order', () => {
  // [[91,92,93],[91,92,94]] -> [91,92,93,94]
  const t = ops.buildTree(i32(91, 92, 93, 91, 92, 94), { batch: 1, width: 2, length: 3 });
  assert.equal(t.maxLength, 4);
  assert.deepEqual(t.lengths, i32(4));
  assert.deepEqual(t.tokens, i32(91, 92, 93, 94));
  assert.deepEqual(t.beamTokenIndex, i32(0, 1, 2, 5));
  assert.deepEqual(t.positionOffsets, i32(0, 1, 2, 2));
  assert.deepEqual(t.parents, i32(-1, 0, 1, 1));
  assert.deepEqual(t.unpacker, i32(0, 1, 2, 0, 1, 3));
  // prettier-ignore
  assert.deepEqual(t.mask, new Uint8Array([
    1, 0, 0, 0,
    1, 1, 0, 0,
    1, 1, 1, 0,
    1, 1, 0, 1,
  ]));
});

test('buildTree pads batch rows of different sizes (-1 in index arrays, 0 in tokens and mask)', () => {
  const beams = i32(
    1, 2, 3, 1, 2, 3, // row 0: identical beams -> 3 tokens
    1, 2, 3, 1, 4, 5, // row 1: a branch -> 5 tokens
  );
  const t = ops.buildTree(beams, { batch: 2, width: 2, length: 3 });
  assert.equal(t.maxLength, 5);
  assert.deepEqual(t.lengths, i32(3, 5));
  assert.deepEqual(t.tokens, i32(1, 2, 3, 0, 0, 1, 2, 3, 4, 5));
  assert.deepEqual(t.beamTokenIndex, i32(0, 1, 2, -1, -1, 0, 1, 2, 4, 5));
  assert.deepEqual(t.positionOffsets, i32(0, 1, 2, -1, -1, 0, 1, 2, 1, 2));
  assert.deepEqual(t.parents, i32(-1, 0, 1, -1, -1, -1, 0, 1, 0, 3));
  assert.equal(t.mask.length, 2 * 5 * 5);
  for (let i = 3; i < 5; i++) for (let j = 0; j < 5; j++) assert.equal(t.mask[i * 5 + j], 0);
  // tokens[row][unpacker] == beams
  for (let b = 0; b < 2; b++) {
    for (let k = 0; k < 6; k++) assert.equal(t.tokens[b * 5 + t.unpacker[b * 6 + k]!], beams[b * 6 + k]);
  }
});

test('beamSearchStep: the first step grows beam 0 only; later steps mix beams', () => {
  const lp = [Math.log(0.1), Math.log(0.4), Math.log(0.2), Math.log(0.3)];
  const first = ops.beamSearchStep(f32(0, 0, 0), f32(...lp, ...lp, ...lp), { batch: 1, width: 3, vocab: 4, firstStep: true });
  assert.deepEqual(first.parents, i32(0, 0, 0));
  assert.deepEqual(first.tokens, i32(1, 3, 2));
  assert.ok(Math.abs(first.scores[0]! - Math.log(0.4)) < 1e-6);
  const later = ops.beamSearchStep(f32(-1, -0.5), f32(-0.1, -2, -3, -1, -0.7, -4), { batch: 1, width: 2, vocab: 3 });
  assert.deepEqual(later.parents, i32(0, 1));
  assert.deepEqual(later.tokens, i32(0, 1));
  assert.ok(Math.abs(later.scores[1]! - -1.2) < 1e-6);
});

test('appleProcessLogits keeps the top k and log-softmaxes, per row', () => {
  const out = ops.appleProcessLogits(f32(1, 3, 2, -1, 0, 0, 0, 0), { vocab: 4, topK: 2 });
  const lse = Math.log(1 + Math.exp(-1));
  assert.ok(Math.abs(out[1]! - -lse) < 1e-6);
  assert.ok(Math.abs(out[2]! - (-1 - lse)) < 1e-6);
  assert.ok(out[0]! < -49000 && out[3]! < -49000);
  // the second row: all tied -> all kept, uniform
  for (let i = 4; i < 8; i++) assert.ok(Math.abs(out[i]! - Math.log(0.25)) < 1e-6);
});

test('verifyGreedy with argmax or logits', () => {
  // root 1; beams [1,2,3], [1,2,4], [1,5,6]; packed 1,2,3,4,5,6
  const beams = i32(1, 2, 3, 1, 2, 4, 1, 5, 6);
  const shape = { batch: 1, width: 3, length: 3 };
  const v = ops.verifyGreedy(beams, { ...shape, argmax: i32(2, 4, 9, 7, 0, 0) });
  assert.deepEqual(v.beam, i32(1));
  assert.deepEqual(v.acceptedLength, i32(2));
  assert.deepEqual(v.acceptedTokens, i32(2, 4));
  assert.deepEqual(v.nextToken, i32(7));
  assert.deepEqual(v.acceptedPacked, i32(0, 1, 3));
  // the same through logits [1, 6, vocab 10]
  const logits = new Float32Array(6 * 10);
  [2, 4, 9, 7, 0, 0].forEach((tok, p) => (logits[p * 10 + tok] = 5));
  const w = ops.verifyGreedy(beams, { ...shape, logits, vocab: 10 });
  assert.deepEqual(w, v);
  // nothing accepted: padding -1
  const none = ops.verifyGreedy(beams, { ...shape, argmax: i32(8, 0, 0, 0, 0, 0) });
  assert.deepEqual(none.acceptedTokens, i32(-1, -1));
  assert.deepEqual(none.acceptedPacked, i32(0, -1, -1));
  assert.deepEqual(none.nextToken, i32(8));
});

test('verifySampling: certain acceptance, seeded reproducibility, Apple rule', () => {
  // beams [[0,1,2],[0,3,1]], vocab 4; packed 0,1,2,3,1
  const beams = i32(0, 1, 2, 0, 3, 1);
  const shape = { batch: 1, width: 2, length: 3, vocab: 4 };
  const oneHot = (picks: number[]) => {
    const l = new Float32Array(5 * 4).fill(-1e4);
    picks.forEach((tok, p) => (l[p * 4 + tok] = 0));
    return l;
  };
  const v = ops.verifySampling(beams, oneHot([3, 0, 0, 1, 2]), { ...shape, seed: 7 });
  assert.deepEqual(v.acceptedTokens, i32(3, 1));
  assert.deepEqual(v.acceptedPacked, i32(0, 3, 4));
  assert.deepEqual(v.nextToken, i32(2));
  assert.deepEqual(v.beam, i32(1));

  // uniform logits over 8 rows: same seed, same result; another seed, another result
  const rows = 8;
  const many = new Int32Array(rows * 6);
  for (let b = 0; b < rows; b++) many.set(beams, b * 6);
  const uniform = new Float32Array(rows * 5 * 4);
  const opts = { batch: rows, width: 2, length: 3, vocab: 4, temperature: 0.9 };
  const a = ops.verifySampling(many, uniform, { ...opts, seed: 1 });
  const b = ops.verifySampling(many, uniform, { ...opts, seed: 1 });
  const c = ops.verifySampling(many, uniform, { ...opts, seed: 2 });
  assert.deepEqual(a, b);
  assert.notDeepEqual([a.nextToken, a.acceptedTokens], [c.nextToken, c.acceptedTokens]);

  // Apple: q == p everywhere -> every drafted token accepted
  const q = new Float32Array(2 * 2 * 4).fill(Math.log(0.25));
  const apple = ops.verifySampling(beams, new Float32Array(5 * 4), { ...shape, acceptance: 'apple', drafterLogProbs: q, seed: 3 });
  assert.deepEqual(apple.acceptedLength, i32(2));
  assert.deepEqual(apple.beam, i32(0));
});

test('kvCommitPlan moves the accepted path down after the cached prefix', () => {
  const plan = ops.kvCommitPlan(i32(0, 3, 4), { cachedLength: 10 });
  assert.deepEqual(plan.from, i32(13, 14));
  assert.deepEqual(plan.to, i32(11, 12));
  assert.equal(plan.newLength, 13);
  const none = ops.kvCommitPlan(i32(0, 1), { cachedLength: 5 });
  assert.equal(none.from.length, 0);
  assert.equal(none.newLength, 7);
});

test('bad input: errors name the field, with the invalid-argument code', () => {
  const shape = { batch: 1, width: 2, length: 3 };
  throwsCoded(() => ops.buildTree(new Float32Array(6) as unknown as Int32Array, shape), TypeError, /^beams must be an Int32Array/);
  throwsCoded(() => ops.buildTree(new Int32Array(5), shape), TypeError, /^beams must have batch\*width\*length = 6 elements, got 5/);
  throwsCoded(() => ops.buildTree(new Int32Array(6), { ...shape, width: -2 }), RangeError, /^width must be in \[1, /);
  throwsCoded(() => ops.buildTree(new Int32Array(6), { ...shape, length: 1.5 }), TypeError, /^length must be an integer/);
  throwsCoded(() => ops.buildTree(new Int32Array(6), null as unknown as typeof shape), TypeError, /^options must be an object/);
  throwsCoded(() => ops.buildTree(i32(0, 1, -4, 0, 1, 2), shape), TypeError, /^beams must hold token ids >= 0/);
  throwsCoded(() => ops.beamSearchStep(f32(0), f32(0, 0), { batch: 1, width: 1, vocab: 3 }), TypeError, /^logProbs must have/);
  throwsCoded(() => ops.appleProcessLogits(f32(1, 2, 3), { vocab: 2 }), TypeError, /^logits must have rows\*vocab/);
  throwsCoded(() => ops.appleProcessLogits(f32(1, 2), { vocab: 2, topK: 0 }), RangeError, /^topK must be in/);
  const beams = i32(0, 1, 2, 0, 1, 3);
  // logits must match the tree built from the beams (maxLength 4): checked natively
  throwsCoded(() => ops.verifySampling(beams, new Float32Array(3 * 2), { ...shape, vocab: 2 }), TypeError, /^logits must have batch\*maxLength\*vocab = 8 elements, got 6/);
  throwsCoded(() => ops.verifySampling(beams, new Float32Array(8), { ...shape, vocab: 2, temperature: 0 }), RangeError, /^temperature must be/);
  throwsCoded(() => ops.verifySampling(beams, new Float32Array(8), { ...shape, vocab: 2, topP: 1.5 }), RangeError, /^topP must be/);
  throwsCoded(() => ops.verifySampling(beams, new Float32Array(8), { ...shape, vocab: 2, acceptance: 'maybe' as 'exact' }), RangeError, /^acceptance must be 'exact' or 'apple'/);
  throwsCoded(() => ops.verifySampling(beams, new Float32Array(8), { ...shape, vocab: 2, acceptance: 'apple' }), TypeError, /^drafterLogProbs is required/);
  throwsCoded(() => ops.verifySampling(beams, new Float32Array(8), { ...shape, vocab: 2 }), TypeError, /^beams token 2 is outside the vocabulary \(2\)/);
  throwsCoded(() => ops.verifyGreedy(beams, { ...shape } as never), TypeError, /^argmax or logits is required/);
  throwsCoded(() => ops.verifyGreedy(beams, { ...shape, argmax: i32(1, 2) }), TypeError, /^argmax must have batch\*maxLength = 4 elements, got 2/);
  throwsCoded(() => ops.kvCommitPlan(i32(0, 2, 2), { cachedLength: 0 }), TypeError, /^acceptedPacked must be strictly increasing/);
  throwsCoded(() => ops.kvCommitPlan(i32(0), { cachedLength: -1 }), RangeError, /^cachedLength must be in/);
});

test('the native layer validates on its own too (bad input never aborts the process)', () => {
  const raw = native().ops;
  throwsCoded(() => raw.buildTree(new Int32Array(6), { batch: 1, width: 0, length: 6 }), TypeError, /^width must be in/);
  throwsCoded(() => raw.buildTree(new Uint8Array(6) as unknown as Int32Array, { batch: 1, width: 2, length: 3 }), TypeError, /^beams must be an Int32Array/);
  throwsCoded(() => raw.buildTree(new Int32Array(6), undefined as never), TypeError, /^options must be an object/);
  throwsCoded(() => raw.kvCommitPlan(i32(0, 1), {} as never), TypeError, /^cachedLength must be an integer/);
  throwsCoded(
    () => raw.verifySampling(i32(0, 1), new Float32Array(4), { batch: 1, width: 1, length: 2, vocab: 2, temperature: 1, topK: 0, topP: 1, seed: 0, acceptance: 'nope' as 'exact' }),
    TypeError,
    /^acceptance must be 'exact' or 'apple'/,
  );
});

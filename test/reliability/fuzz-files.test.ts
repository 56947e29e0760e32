// The file fuzzer through the public API (bench/file-fuzz.ts): mutated model files, tokenizers and drafter
// directories given to loadEngine, Tokenizer.load and loadDrafter. No crash, no hang (a per-case limit), every
// failure a redrafter error naming the mutated file, and the process's peak resident memory flat after a warm-up
// (a load that allocated what a header declares, rather than what the file holds, would raise it). Run in CI
// (.ci/run); bench/fuzz-files.ts runs the same cases by the hundred thousand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { fuzzInChild } from '../../bench/file-fuzz.js';
import { requireFixtures } from '../helpers/fixtures.js';

requireFixtures();

const CASES = Number(process.env.REDRAFTER_FUZZ_CASES ?? 6000);
const SEED = Number(process.env.REDRAFTER_FUZZ_SEED ?? 1);
// The largest file fuzzed is 1 MB: peak RSS may rise after the warm-up by a few times that, not by what a header claims.
const RSS_BOUND = 48 * 2 ** 20;

test(`${CASES} mutated model, tokenizer and drafter files: loaded and used, or refused with a coded error naming the file`, { timeout: 900_000 }, async () => {
  const s = await fuzzInChild({ seed: SEED, count: CASES, dir: join(tmpdir(), `redrafter-fuzz-${process.pid}`), caseLimitMs: 20_000 });
  const grown = s.maxRssAtEnd - s.maxRssAfterWarmup;
  console.log(`${s.cases} cases in ${s.seconds.toFixed(0)} s: ${s.loaded} loaded, ${s.rejected} refused; ` +
    Object.entries(s.byKind).map(([k, v]) => `${k} ${v.loaded}/${v.rejected}`).join(', ') +
    `; peak RSS ${(s.maxRssAfterWarmup / 2 ** 20).toFixed(0)} MiB after the warm-up, ${(s.maxRssAtEnd / 2 ** 20).toFixed(0)} MiB at the end`);
  assert.deepEqual(s.failures, []);
  assert.equal(s.cases, CASES);
  for (const [kind, v] of Object.entries(s.byKind)) {
    assert.ok(v.rejected > 0 && v.loaded > 0, `${kind}: the mutations hit the checks and some loads survive (${v.loaded} loaded, ${v.rejected} refused)`);
  }
  assert.ok(grown <= RSS_BOUND, `peak RSS grew by ${(grown / 2 ** 20).toFixed(0)} MiB after the warm-up`);
});

// Long runs of the file fuzzers (CI runs a few thousand cases of each):
//   node --import tsx bench/fuzz-files.ts [--seed 1] [--count 100000] [--cpp-count 104000] [--jobs 2]
// --count mutated files through the public API (bench/file-fuzz.ts: loadEngine, Tokenizer.load, loadDrafter,
// in --jobs child processes, each watched for crashes and hangs), and --cpp-count mutated loads by the C++ readers
// with the heap counted per load (test/cpp/fuzz_files_test.cpp, 13 files: --cpp-count / 13 rounds each; built here
// in build-cmake if needed). Defaults: 200k loads in all. A failing case is rerun alone with
// `--seed S --first I --count 1 --cpp-count 0` (the API fuzzer) or REDRAFTER_FUZZ_SEED=S build-cmake/fuzz_files_test.
import { Command } from 'commander';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { fuzzInChild, type FuzzSummary } from './file-fuzz.js';
import { repoRoot } from './fixtures.js';

const CPP_FILES = 13;  // the files fuzz_files_test mutates

const o = new Command()
  .option('--seed <n>', 'seed', '1')
  .option('--count <n>', 'cases through the public API', '100000')
  .option('--first <n>', 'first case index', '0')
  .option('--cpp-count <n>', 'mutated loads by the C++ readers (0: none)', '104000')
  .option('--jobs <n>', 'API fuzzing processes', '2')
  .parse()
  .opts();
const seed = Number(o.seed), count = Number(o.count), first = Number(o.first), cppCount = Number(o.cppCount);
const jobs = Math.max(1, Math.min(Number(o.jobs), count || 1));
const t0 = performance.now();
const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(0)} s`;

// The C++ fuzzer, in parallel with the API fuzzing.
let cpp: Promise<{ ok: boolean; tail: string }> = Promise.resolve({ ok: true, tail: '' });
if (cppCount > 0) {
  const binary = join(repoRoot, 'build-cmake', 'fuzz_files_test');
  const built = spawnSync('cmake', ['--build', join(repoRoot, 'build-cmake'), '--target', 'fuzz_files_test'], { stdio: 'inherit' });
  if (built.status !== 0 || !existsSync(binary)) throw new Error('cannot build fuzz_files_test in build-cmake (run `npm test` once first)');
  const rounds = Math.ceil(cppCount / CPP_FILES);
  cpp = new Promise((resolve) => {
    const child = spawn(binary, ['--test-case=mutated*'], {
      env: { ...process.env, REDRAFTER_FUZZ_ROUNDS: String(rounds), REDRAFTER_FUZZ_SEED: String(seed) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('exit', (code) => {
      const messages = out.split('\n').filter((l) => /MESSAGE:|ERROR|logged:|HANG|assertions:/.test(l)).join('\n');
      console.log(`C++ readers: ${rounds * CPP_FILES} mutated loads (seed ${seed}), ${code === 0 ? 'passed' : 'FAILED'} after ${elapsed()}\n${messages}`);
      resolve({ ok: code === 0, tail: out.slice(-4000) });
    });
  });
}

// The API fuzzing: `jobs` children over consecutive ranges of cases.
const parts: Promise<FuzzSummary>[] = [];
const done = new Array<number>(jobs).fill(0);
let lastReport = 0;
for (let j = 0; j < jobs; j++) {
  const from = first + Math.floor((count * j) / jobs), to = first + Math.floor((count * (j + 1)) / jobs);
  if (to <= from) continue;
  parts.push(fuzzInChild({
    seed, first: from, count: to - from, dir: join(tmpdir(), `redrafter-fuzz-bench-${process.pid}-${j}`), caseLimitMs: 30_000,
    onProgress: (n, _c, rss) => {
      done[j] = n;
      const total = done.reduce((a, b) => a + b, 0);
      if (total - lastReport >= 10_000 || total === count) {
        lastReport = total;
        console.log(`API: ${total} / ${count} cases, ${elapsed()}, child RSS ${(rss / 2 ** 20).toFixed(0)} MiB`);
      }
    },
  }));
}
const results = await Promise.allSettled(parts);
let failed = false;
const sum = { cases: 0, loaded: 0, rejected: 0 };
const byKind: Record<string, { loaded: number; rejected: number }> = {};
for (const r of results) {
  if (r.status === 'rejected') {
    failed = true;
    console.log(`API fuzzing: ${(r.reason as Error).message}`);
    continue;
  }
  const s = r.value;
  sum.cases += s.cases, sum.loaded += s.loaded, sum.rejected += s.rejected;
  for (const [k, v] of Object.entries(s.byKind)) {
    const t = (byKind[k] ??= { loaded: 0, rejected: 0 });
    t.loaded += v.loaded, t.rejected += v.rejected;
  }
  for (const f of s.failures) console.log(`FAILURE: ${f}`);
  if (s.failures.length) failed = true;
  console.log(`  a child: ${s.cases} cases in ${s.seconds.toFixed(0)} s, peak RSS ${(s.maxRssAfterWarmup / 2 ** 20).toFixed(0)} MiB after its ` +
    `warm-up, ${(s.maxRssAtEnd / 2 ** 20).toFixed(0)} MiB at the end`);
}
console.log(`API: ${sum.cases} cases (seed ${seed}, from ${first}): ${sum.loaded} loaded, ${sum.rejected} refused; ` +
  Object.entries(byKind).map(([k, v]) => `${k} ${v.loaded}/${v.rejected}`).join(', '));
const c = await cpp;
if (!c.ok) console.log(c.tail);
console.log(`${sum.cases + (cppCount > 0 ? Math.ceil(cppCount / CPP_FILES) * CPP_FILES : 0)} mutated loads in ${elapsed()}: ` +
  (failed || !c.ok ? 'FAILURES above' : 'no crash, no hang, every failure coded and naming its file'));
process.exit(failed || !c.ok ? 1 : 0);

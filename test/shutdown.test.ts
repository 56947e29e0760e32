// Ending a process or worker thread while an engine generates, and collecting an engine nobody disposed: a prompt
// exit with code 0 and no crash (native/addon/engine.h: the environment cleanup hook, a finalizer that never waits,
// a thread-safe function that cannot outlive its engine). CPU engine only: the TensorRT-LLM backend shares this glue
// but cannot run without a GPU (docs/tensorrt-llm.md, "What was verified").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

import { repoRoot, requireFixtures } from './helpers/fixtures.ts';

requireFixtures();
const child = join(repoRoot, 'test', 'helpers', 'shutdown-child.ts');

function run(mode: string): { stdout: string; seconds: number } {
  const started = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', child, mode], {
    cwd: repoRoot, encoding: 'utf8', timeout: 60_000,
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  assert.equal(r.signal, null, `${mode}: killed by ${r.signal}\n${r.stderr}`);
  assert.equal(r.status, 0, `${mode}: exit code ${r.status}\n${r.stderr}`);
  assert.equal(r.stderr, '', `${mode}: stderr`);
  // loading tsx and the model takes about a second; an exit that waited for the generations to run out or for a
  // drain would take much longer on a loaded machine, and a hang hits the timeout above
  assert.ok(seconds < 30, `${mode}: took ${seconds.toFixed(1)} s`);
  return { stdout: r.stdout, seconds };
}

test('process.exit() with generations in flight exits with code 0', () => {
  for (let i = 0; i < 3; i++) run('exit');
});

test('returning from main with generations in flight and the engine undisposed and unreferenced exits with code 0', () => {
  run('return');
});

test('an undisposed engine is collected after its generations without blocking or crashing', () => {
  assert.match(run('collect').stdout, /collected engine/);
});

test('a native Engine collected with requests in flight stops them (each ends) and the process exits with code 0', () => {
  const { stdout } = run('collect-in-flight');
  assert.match(stdout, /collected engine/);
  assert.match(stdout, /^finals( (abort|context)){4}$/m);
});

test('process.exit() in worker threads with generations in flight: each worker exits with code 0, the process lives on', () => {
  assert.equal(run('worker-exit').stdout, 'worker exited with 0\n'.repeat(3));
});

test('worker.terminate() while the workers\' engines generate', () => {
  assert.equal(run('worker-terminate').stdout, 'worker exited with 1\n'.repeat(3));
});

test('worker threads returning with generations in flight and their engines undisposed', () => {
  assert.equal(run('worker-return').stdout, 'worker exited with 0\n'.repeat(3));
});

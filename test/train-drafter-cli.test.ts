// `redrafter train-drafter` end to end: a tiny budget writes a loadable drafter and a JSON report; bad input is one
// clear line on stderr with exit code 1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model } from '../lib/model.ts';
import { loadDrafter } from '../lib/drafter/drafter.ts';
import { fixtures, repoRoot } from './helpers/fixtures.ts';

function cli(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'lib', 'cli', 'main.ts'), ...args], {
    cwd: repoRoot, encoding: 'utf8', timeout: 120_000,
  });
}

test('train-drafter writes a drafter in Apple\'s layout and reports as JSON', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'redrafter-cli-'));
  try {
    const out = join(dir, 'drafter');
    const r = cli(['train-drafter', '--model', fixtures.stories260K, '--tokenizer', fixtures.tok512, '--out', out,
      '--tokens', '2000', '--steps', '20', '--threads', '2', '--seed', '1', '--dtype', 'bf16', '--blocks', '1',
      '--exit-dim', '96', '--json', '--no-progress']);
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    assert.equal(report.steps, 20);
    assert.equal(report.seed, 1);
    assert.deepEqual(report.config, { vocabSize: 512, hiddenSize: 64, exitDim: 96, numDraftLayers: 1, rnn: true });
    assert.ok(report.heldOut.acceptance.tokensPerStep >= 1);
    const model = await Model.load(fixtures.stories260K, { threads: 1 });
    try {
      const drafter = await loadDrafter(out, { model });
      assert.ok('input_proj.weight' in drafter.tensors());  // exit_dim 96 != 2 * 64
    } finally {
      model.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('train-drafter with a missing model fails with one line naming the file and saves nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'redrafter-cli-'));
  try {
    const r = cli(['train-drafter', '--model', join(dir, 'nope.bin'), '--out', join(dir, 'd')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^redrafter: .*nope\.bin.*\n$/);
    assert.ok(!existsSync(join(dir, 'd')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Ctrl-C during train-drafter saves a loadable drafter and exits with 130', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'redrafter-cli-'));
  try {
    const out = join(dir, 'drafter');
    // a budget far beyond the test's patience: only the interrupt ends it
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'lib', 'cli', 'main.ts'), 'train-drafter',
      '--model', fixtures.stories260K, '--out', out, '--tokens', '3000', '--steps', '1000000', '--threads', '1',
      '--seed', '2', '--blocks', '1', '--no-progress'], { cwd: repoRoot });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // the corpus takes well under a second on stories260K; interrupt once training is surely under way
    await new Promise((resolve) => setTimeout(resolve, 6000));
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const code = await exited;
    clearTimeout(timer);
    assert.equal(code, 130, stderr);
    assert.match(stderr, /interrupted; saving the drafter trained so far/);
    assert.match(stdout, /^saved .*\[interrupted\]$/m);
    const model = await Model.load(fixtures.stories260K, { threads: 1 });
    try {
      const drafter = await loadDrafter(out, { model });
      assert.ok(Object.keys(drafter.tensors()).length > 0);
    } finally {
      model.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

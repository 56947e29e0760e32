// The command line as a newcomer meets it (issue 18, items 5-8): one spelling and one number parser for each concept
// across commands, errors printed once, generate's tokenizer and --json, bench without devDependencies, pinned beam
// shapes and --adaptive-draft, progress only on a terminal, inspect of drafter directories and safetensors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { convertModelFile } from '../lib/model-file.js';
import { fixtures, repoRoot, requireFixtures } from './helpers/fixtures.js';
import { stories260KDrafter } from './helpers/drafter.js';

requireFixtures();

const main = join(repoRoot, 'lib', 'cli', 'main.ts');

function cli(args: string[], options: { imports?: string[]; cwd?: string; script?: string } = {}) {
  const imports = (options.imports ?? []).flatMap((m) => ['--import', m]);
  return spawnSync(process.execPath, [...imports, '--import', 'tsx', options.script ?? main, ...args], {
    cwd: options.cwd ?? repoRoot, encoding: 'utf8', timeout: 300_000,
  });
}

const commands = ['demo', 'generate', 'chat', 'bench', 'train-drafter', 'inspect', 'convert', 'build'];

/** Every long flag a command's --help lists. */
function helpFlags(command: string): string[] {
  const r = cli([command, '--help']);
  assert.equal(r.status, 0, r.stderr);
  return [...r.stdout.matchAll(/(?:^|[\s,])(--[a-z][a-z0-9-]*)/gm)].map((m) => m[1]!);
}

test('one spelling per concept across commands: threads, beam width and length, dtype, progress', () => {
  const all = new Map(commands.map((c) => [c, helpFlags(c)]));
  for (const [command, flags] of all) {
    for (const f of flags) {
      if (/thread/.test(f)) assert.equal(f, '--threads', `${command} ${f}`);
      if (/(^|-)width/.test(f)) assert.match(f, /^--(eval-)?beam-width$/, `${command} ${f}`);
      if (/(^|-)length$/.test(f) && !/context|seq|input|sequence|draft-len/.test(f))
        assert.match(f, /^--(eval-)?beam-length$/, `${command} ${f}`);
      // convert's --type (issue 20) also names quantised formats, which are not a dtype; its --dtype is a hidden alias
      if (/type$/.test(f)) assert.equal(f, command === 'convert' ? '--type' : '--dtype', `${command} ${f}`);
      if (/progress/.test(f)) assert.equal(f, '--no-progress', `${command} ${f}`);
    }
  }
  for (const c of ['demo', 'generate', 'chat', 'bench', 'train-drafter']) assert.ok(all.get(c)!.includes('--threads'), c);
  for (const c of ['demo', 'generate', 'chat', 'bench']) {
    for (const f of ['--beam-width', '--beam-length', '--adaptive-draft', '--no-adaptive-draft']) assert.ok(all.get(c)!.includes(f), `${c} ${f}`);
  }
  assert.ok(all.get('convert')!.includes('--type') && all.get('train-drafter')!.includes('--dtype'));
});

test('one number parser: every command refuses a non-integer or out-of-range count with the same one-line message', () => {
  const cases: [string[], RegExp][] = [
    [['generate', '--model', fixtures.stories260K, '--threads', '1.5'], /option '--threads <n>' argument '1.5' is invalid\. must be an integer, got '1.5'\./],
    [['demo', '--max-tokens', '0'], /option '--max-tokens <n>' argument '0' is invalid\. must be in \[1, \d+\], got 0\./],
    [['bench', '--model', fixtures.stories260K, '--repeats', 'x'], /option '--repeats <n>' argument 'x' is invalid\. must be an integer, got 'x'\./],
    [['train-drafter', '--model', fixtures.stories260K, '--out', 'x', '--tokens', ''], /argument '' is invalid\. must be an integer, got ''\./],
    [['train-drafter', '--model', fixtures.stories260K, '--out', 'x', '--epochs', 'two'], /must be a number, got 'two'\./],
    [['build', '--base-checkpoint', 'a', '--drafter', 'b', '--checkpoint-out', 'c', '--num-beams', '0'], /must be in \[1, \d+\], got 0\./],
    [['bench', '--model', fixtures.stories260K, '--forward-cost', '1,x'], /option '--forward-cost <list>' argument '1,x' is invalid\. must be an integer, got 'x'\./],
    [['bench', '--model', fixtures.stories260K, '--drafter-weights', 'q4_k'], /option '--drafter-weights <type>' argument 'q4_k' is invalid\. Allowed choices are f32, f16, q8_0, q4_0\./],
    [['bench', '--model', fixtures.stories260K, '--drafter-weights', 'q8_0', '--drafter-f16'], /--drafter-f16 is a former form of --drafter-weights and differs from it \(f16 vs q8_0\)/],
    // commander's suggestions stay on the one line
    [['convert', 'a.bin', 'b.gguf', '--typ', 'f16'], /unknown option '--typ' \(Did you mean --type\?\)/],
    [['convert', 'a.bin', 'b.gguf', '--type', 'f16', '--dtype', 'q8_0'], /--dtype is the former name of --type and differs from it \(q8_0 vs f16\)/],
    [['generat'], /unknown command 'generat' \(Did you mean generate\?\)/],
  ];
  for (const [args, message] of cases) {
    const r = cli(args);
    assert.equal(r.status, 1, args.join(' '));
    assert.match(r.stderr, /^redrafter: [^\n]*\n$/, `one line: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
});

test('errors are printed once, also one whose message names the program (the addon loader\'s)', () => {
  // a copy of the sources with no addon beside it: the loader's own message starts with "redrafter: "
  mkdirSync(join(repoRoot, '.tmp'), { recursive: true });
  const dir = mkdtempSync(join(repoRoot, '.tmp', 'no-addon-'));
  try {
    cpSync(join(repoRoot, 'lib'), join(dir, 'lib'), { recursive: true });
    cpSync(join(repoRoot, 'package.json'), join(dir, 'package.json'));
    // data files the package ships beside lib/ (package.json "files": native/)
    cpSync(join(repoRoot, 'native', 'trtllm', 'supported-versions.json'), join(dir, 'native', 'trtllm', 'supported-versions.json'));
    const r = cli(['generate', '--model', fixtures.stories260K, '--tokenizer', fixtures.tok512], {
      script: join(dir, 'lib', 'cli', 'main.ts'),
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^redrafter: the native addon is not built .*\[ERR_REDRAFTER_ADDON_NOT_FOUND\]\n$/);
    assert.doesNotMatch(r.stderr, /redrafter: redrafter:/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('generate with a llama2.c model and no --tokenizer says which tokenizer it needs', () => {
  const r = cli(['generate', '--model', fixtures.stories260K, '--max-tokens', '3']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^redrafter: tokenizer is required for .*stories260K\.bin: a llama2\.c checkpoint has no tokenizer inside; give its tokenizer\.bin/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

test('generate --json: exactly one JSON object on stdout, also when the run is cut short', async () => {
  const drafter = await stories260KDrafter();
  const base = ['generate', '--model', fixtures.stories260K, '--tokenizer', fixtures.tok512, '--drafter', drafter, '--threads', '1', '--json'];
  const r = cli([...base, '--max-tokens', '20', '--prompt', 'Once upon a time']);
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(result).sort(), ['finishReason', 'stats', 'text', 'tokens']);
  assert.ok(r.stderr.startsWith(result.text));
  // --stop cuts it short: still one object
  const stopped = JSON.parse(cli([...base, '--max-tokens', '60', '--stop', 'Lily']).stdout);
  assert.equal(stopped.finishReason, 'stop');
});

test('an explicit beam shape is pinned; --adaptive-draft lets it adapt; the demo passes no shape of its own', async () => {
  const drafter = await stories260KDrafter();
  const base = ['generate', '--model', fixtures.stories260K, '--tokenizer', fixtures.tok512, '--drafter', drafter, '--threads', '1',
    '--json', '--max-tokens', '120', '--beam-width', '8', '--beam-length', '5'];
  type Shapes = { beamWidth: number; beamLength: number; steps: number }[];
  const pinned = JSON.parse(cli(base).stdout) as { stats: { steps: number; beamShapes: Shapes } };
  assert.deepEqual({ ...pinned.stats.beamShapes[0], steps: 0 }, { beamWidth: 8, beamLength: 5, steps: 0 });
  assert.ok(pinned.stats.beamShapes[0]!.steps >= pinned.stats.steps - 1, JSON.stringify(pinned.stats.beamShapes));
  const adaptive = JSON.parse(cli([...base, '--adaptive-draft']).stdout) as { stats: { beamShapes: Shapes } };
  assert.ok(adaptive.stats.beamShapes.length > 1, JSON.stringify(adaptive.stats.beamShapes));
  // the human-readable stats line names the shapes that ran
  const text = cli(base.filter((a) => a !== '--json'));
  assert.match(text.stderr, /shapes W=8 L=5 x\d+/);

  const demo = cli(['demo', '--max-tokens', '30', '--threads', '1', '--drafter', drafter]);
  assert.equal(demo.status, 0, demo.stderr);
  assert.match(demo.stdout, /^stories260K \+ ReDrafter \(W=1 L=4 adaptive: the engine's default for this model\), greedy:/);
  const given = cli(['demo', '--max-tokens', '30', '--threads', '1', '--drafter', drafter, '--beam-width', '2', '--beam-length', '3']);
  assert.match(given.stdout, /^stories260K \+ ReDrafter \(W=2 L=3\), greedy:/);
});

test('progress bars only on a terminal: nothing on a piped stderr; a spinner while loading on a terminal', async () => {
  const drafter = await stories260KDrafter();
  const args = ['generate', '--model', fixtures.stories260K, '--tokenizer', fixtures.tok512, '--drafter', drafter, '--max-tokens', '5', '--threads', '1'];
  const piped = cli(args);
  assert.equal(piped.status, 0, piped.stderr);
  assert.match(piped.stderr, /^\n?\[length\] 5 tokens in \d+ steps[^\n]*\n$/, 'only the stats line');
  const dir = mkdtempSync(join(tmpdir(), 'redrafter-cli-'));
  try {
    const out = join(dir, 'm.gguf');
    const convert = cli(['convert', fixtures.stories260K, out, '--tokenizer', fixtures.tok512, '--dtype', 'f16']);
    assert.equal(convert.status, 0, convert.stderr);
    assert.equal(convert.stderr, '', 'no progress on a pipe');
    assert.match(convert.stdout, /^wrote .*m\.gguf: \d+ tensors, f16/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // training: no bars on a pipe either (they used to be drawn there every 5 s)
  const out = mkdtempSync(join(tmpdir(), 'redrafter-cli-'));
  try {
    const train = cli(['train-drafter', '--model', fixtures.stories260K, '--out', join(out, 'd'), '--tokens', '600', '--steps', '3',
      '--threads', '1', '--blocks', '1']);
    assert.equal(train.status, 0, train.stderr);
    assert.equal(train.stderr, '');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  // on a terminal (script(1) gives the command a pseudo-terminal)
  if (spawnSync('script', ['--version']).status !== 0) return;
  const quoted = [process.execPath, '--import', 'tsx', main, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const tty = spawnSync('script', ['-qec', quoted, '/dev/null'], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  assert.equal(tty.status, 0, tty.stdout);
  assert.match(tty.stdout, /loading .*stories260K\.bin/, 'the spinner was drawn');
});

test('inspect reads a drafter directory and a .safetensors file: config and tensors', async () => {
  const drafter = await stories260KDrafter();
  const dir = cli(['inspect', drafter]);
  assert.equal(dir.status, 0, dir.stderr);
  assert.match(dir.stdout, /: drafter \(Apple's recurrent drafter layout\)/);
  assert.match(dir.stdout, /vocab 512, hidden 64, exit_dim \d+/);
  assert.match(dir.stdout, /^tensors: \d+, /m);
  assert.match(dir.stdout, /^ {2}lm_head\.\d+\.weight +F32|BF16|F16 /m);
  const json = JSON.parse(cli(['inspect', drafter, '--json']).stdout);
  assert.equal(json.kind, 'drafter');
  assert.equal(json.config.drafter.vocabSize, 512);
  const file = cli(['inspect', join(drafter, 'model.safetensors'), '--metadata']);
  assert.equal(file.status, 0, file.stderr);
  assert.match(file.stdout, /model\.safetensors: safetensors, /);
  assert.ok(json.tensors.every((t: { name: string }) => file.stdout.includes(t.name)));
  const notDrafter = cli(['inspect', join(repoRoot, 'lib')]);
  assert.equal(notDrafter.status, 1);
  assert.match(notDrafter.stderr, /^redrafter: .*lib: a directory, but not a drafter \(config\.json \+ model\.safetensors\)/);
});

test('bench runs with only dependencies installed: the llama.cpp comparison is skipped, saying how to enable it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'redrafter-bench-'));
  try {
    const gguf = join(dir, 'stories260K.gguf');
    await convertModelFile({ model: fixtures.stories260K, tokenizer: fixtures.tok512, out: gguf });
    const without = [join(repoRoot, 'test', 'helpers', 'without-node-llama-cpp.mjs')];
    const args = ['bench', '--model', gguf, '--max-tokens', '8', '--repeats', '1', '--prompt', 'Once', '--forward-cost', '', '--threads', '1'];
    const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> })
      .devDependencies['node-llama-cpp'];
    const r = cli(args, { imports: without });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stderr.includes(`npm install node-llama-cpp@${version}`), r.stderr);
    assert.match(r.stdout, /autoregressive \(llama\.cpp\) +\(not run\): node-llama-cpp is not installed/);
    const json = JSON.parse(cli([...args, '--json'], { imports: without }).stdout);
    assert.equal(json.llamaCpp, null);
    assert.match(json.llamaCppSkipped, /npm install node-llama-cpp@/);
    // asked for explicitly, it is an error naming the flag and the fix
    const required = cli([...args, '--llama-cpp'], { imports: without });
    assert.equal(required.status, 1);
    assert.match(required.stderr, /^redrafter: --llama-cpp: node-llama-cpp is not installed.*npm install node-llama-cpp@/);
    // a llama2.c model: skipped, saying why (the flag named exists)
    const bin = cli(['bench', '--model', fixtures.stories260K, '--tokenizer', fixtures.tok512, ...args.slice(3)], { imports: without });
    assert.equal(bin.status, 0, bin.stderr);
    assert.match(bin.stderr, /llama\.cpp comparison skipped: llama\.cpp reads GGUF models/);
    // where node-llama-cpp is installed (here, as a devDependency) the comparison runs
    if (existsSync(join(repoRoot, 'node_modules', 'node-llama-cpp'))) {
      const withIt = JSON.parse(cli([...args, '--json']).stdout);
      assert.ok(withIt.llamaCpp && withIt.llamaCpp.runs === 1, JSON.stringify(withIt.llamaCpp));
      assert.equal(withIt.identical.llamaCppEqualsAr, true);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

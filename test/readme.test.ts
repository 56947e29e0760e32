// README.md as a newcomer uses it (issue 18, item 4): every ```ts block type-checks (strict, NodeNext, as a user's
// ES module) and runs with tsx on Node 20 against the fixtures, and every `redrafter <command> --flag` it names is in
// that command's --help.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';

import { modelsDir, repoRoot, requireFixtures } from './helpers/fixtures.js';
import { stories260KDrafter, stories260KDrafterDir } from './helpers/drafter.js';

requireFixtures();

const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
const blocks = (lang: string) => [...readme.matchAll(new RegExp('^```' + lang + '\\n([\\s\\S]*?)^```', 'gm'))].map((m) => m[1]!);
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

test('every TypeScript block of the README type-checks and runs as written', async () => {
  const examples = blocks('ts');
  assert.ok(examples.length > 0, 'the README has TypeScript examples');
  // the examples use the repository's drafter; where it is absent the tests' own stands in
  const drafter = await stories260KDrafter();
  mkdirSync(join(repoRoot, '.tmp'), { recursive: true });
  const dir = mkdtempSync(join(repoRoot, '.tmp', 'readme-'));
  try {
    for (const [i, code] of examples.entries()) {
      // the one mapping: the package name to this checkout's sources (the package's "exports" point at dist/)
      let source = code.replace(/from 'redrafter'/g, `from '${relative(dir, join(repoRoot, 'lib', 'index.js'))}'`);
      if (drafter !== stories260KDrafterDir) source = source.replaceAll('drafter: stories260KDrafterDir,', `drafter: ${JSON.stringify(drafter)},`);
      const file = join(dir, `example-${i + 1}.ts`);
      writeFileSync(file, source);
      const check = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext',
        '--moduleResolution', 'nodenext', '--lib', 'es2022,esnext.disposable', '--types', 'node', '--skipLibCheck', file],
      { cwd: repoRoot, encoding: 'utf8', timeout: 300_000 });
      assert.equal(check.status, 0, `README ts block ${i + 1} does not type-check:\n${check.stdout}${check.stderr}`);
      const run = spawnSync(process.execPath, ['--import', 'tsx', file], {
        cwd: dir, encoding: 'utf8', timeout: 300_000, env: { ...process.env, REDRAFTER_MODELS: modelsDir },  // as in a user's project
      });
      assert.equal(run.status, 0, `README ts block ${i + 1} failed:\n${run.stdout}${run.stderr}`);
      assert.equal(run.stderr, '', `README ts block ${i + 1} wrote to stderr`);
      assert.ok(run.stdout.trim().length > 0);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** `redrafter <command> ... --flag ...` wherever the README names one (code blocks and inline code). */
function readmeCommands(): { command: string; flags: string[]; line: string }[] {
  const out: { command: string; flags: string[]; line: string }[] = [];
  const pieces = [...blocks('sh').flatMap((b) => b.split('\n')), ...[...readme.matchAll(/`([^`\n]*)`/g)].map((m) => m[1]!)];
  for (const piece of pieces) {
    for (const m of piece.matchAll(/\bredrafter ([a-z][a-z-]*)((?:\s+(?!#)[^\s#`]+)*)/g)) {
      const flags = [...m[2]!.matchAll(/(?:^|[\s[])(--[a-z][a-z0-9-]*)/g)].map((f) => f[1]!);
      out.push({ command: m[1]!, flags, line: m[0] });
    }
  }
  return out;
}

test('every command and flag the README names is in that command\'s --help', () => {
  const uses = readmeCommands();
  const commands = new Set(uses.map((u) => u.command));
  for (const c of ['demo', 'generate', 'train-drafter', 'convert', 'inspect', 'bench', 'build']) assert.ok(commands.has(c), c);
  const help = new Map<string, string>();
  for (const command of commands) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'lib', 'cli', 'main.ts'), command, '--help'], {
      cwd: repoRoot, encoding: 'utf8', timeout: 60_000,
    });
    assert.equal(r.status, 0, `redrafter ${command} --help: ${r.stderr}`);
    help.set(command, r.stdout);
  }
  let flags = 0;
  for (const u of uses) {
    for (const f of u.flags) {
      flags++;
      assert.match(help.get(u.command)!, new RegExp(`(^|[\\s,])${f}([\\s,]|$)`, 'm'), `README: "${u.line}": ${f} is not in redrafter ${u.command} --help`);
    }
  }
  assert.ok(flags >= 15, `the README's flags were found (${flags})`);
  // flags named in the prose (inline code that starts with one) belong to some command
  const anyHelp = [...help.values()].join('\n');
  const prose = [...readme.matchAll(/`(--[a-z][a-z0-9-]*)[^`]*`/g)].map((m) => m[1]!);
  assert.ok(prose.length >= 5, `the README's prose flags were found (${prose.length})`);
  for (const f of prose) assert.match(anyHelp, new RegExp(`(^|[\\s,])${f}([\\s,]|$)`, 'm'), `README names ${f}, which no command has`);
});

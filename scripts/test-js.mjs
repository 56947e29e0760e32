// Runs the TypeScript tests (test/**/*.test.ts) with node's built-in test runner through tsx.
// Node 20's --test does not expand globs or find .ts files in a folder, so list them here.
// test/reliability/ (the file fuzzer through the API, the abort soak, concurrent sessions: a minute or more) runs in CI
// as its own step (.ci/run), not in `npm test`: `node scripts/test-js.mjs test/reliability/*.test.ts`.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

function testFiles(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory()) return p === 'test/reliability' ? [] : testFiles(p);
      return e.name.endsWith('.test.ts') ? [p] : [];
    });
}

const files = process.argv.length > 2 ? process.argv.slice(2) : testFiles('test');
if (files.length === 0) {
  console.error('no test files found under test/');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);

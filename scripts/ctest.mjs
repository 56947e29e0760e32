// Runs the C++ unit tests (ctest) of the cmake-js build; fails if they were not built.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

const dir = 'build-cmake';
if (!existsSync(`${dir}/CTestTestfile.cmake`)) {
  const why = existsSync(`${dir}/TESTS_SKIPPED`) ? readFileSync(`${dir}/TESTS_SKIPPED`, 'utf8').trim() : 'not built';
  console.error(`C++ unit tests are missing: ${why}. Install it and run \`npm run build\`.`);
  process.exit(1);
}
const r = spawnSync('ctest', ['--test-dir', dir, '--output-on-failure', '--no-tests=error', '-j2'], { stdio: 'inherit' });
process.exit(r.status ?? 1);

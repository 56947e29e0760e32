// `npm run test:cpp`: brings the addon up to date with the sources (so the TypeScript tests that follow test them) and
// builds the C++ unit tests and the benchmark addon (targets redrafter_tests, redrafter_bench, which `npm install`
// does not build) in the cmake-js build folder, then runs the tests with ctest. A prerequisite found missing by an
// earlier configure (doctest) is looked for again.
//   node scripts/ctest.mjs [--out DIR] [--configure-only]
// --out: another build folder (default build-cmake); --configure-only: stop once the tests are configured (the check
// that doctest installed after a failed run is found: scripts/check-doctest-pickup.sh).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({ options: { out: { type: 'string' }, 'configure-only': { type: 'boolean' } } });
const dir = opts.out ?? 'build-cmake';
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { stdio: 'inherit', shell: process.platform === 'win32' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

// The addon's build configures the folder (`npm install` / `npm run build`); configure it here where it did not.
if (!existsSync(`${dir}/CMakeCache.txt`)) run('npx', ['cmake-js', 'configure', '--out', dir]);
if (/^REDRAFTER_TESTS:BOOL=OFF$/m.test(readFileSync(`${dir}/CMakeCache.txt`, 'utf8')))
  run('cmake', ['-S', '.', '-B', dir, '-DREDRAFTER_TESTS=ON']);
// CMake caches a failed search: configure again, so that doctest installed since the last run is found
if (!existsSync(`${dir}/CTestTestfile.cmake`) && existsSync(`${dir}/TESTS_SKIPPED`)) run('cmake', ['-S', '.', '-B', dir]);
if (!existsSync(`${dir}/CTestTestfile.cmake`)) {
  const why = existsSync(`${dir}/TESTS_SKIPPED`) ? readFileSync(`${dir}/TESTS_SKIPPED`, 'utf8').trim() : 'not configured';
  console.error(`C++ unit tests are missing: ${why}.`);
  process.exit(1);
}
if (opts['configure-only']) process.exit(0);
const jobs = String(Math.min(2, cpus().length));
run('cmake', ['--build', dir, '--config', 'Release', '--parallel', jobs, '--target', 'redrafter', 'redrafter_tests', 'redrafter_bench']);
run('ctest', ['--test-dir', dir, '--output-on-failure', '--no-tests=error', '-j', jobs, '-C', 'Release']);

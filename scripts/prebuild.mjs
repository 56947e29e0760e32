// `npm pack` / `npm publish` (package.json "prepack"): builds the CPU-only addon in build-prebuild (no CUDA, TensorRT,
// TensorRT-LLM, tests) and puts it in prebuilds/ under the name pkg-prebuilds gives it, so that `npm install` needs no
// compiler where it loads (scripts/install.mjs; lib/native.ts finds it). Prebuilds are made for linux-x64 only; on
// another platform the package is packed without one (installs build from source). The optional GPU module
// (redrafter_cuda.node) is never prebuilt. `node scripts/prebuild.mjs --clean` ("postpack") removes prebuilds/ again,
// so that a checkout never loads a prebuild older than its sources.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { relative } from 'node:path';

// The oldest glibc (and libstdc++, as its GLIBCXX_ symbol version) the prebuild may need: what Debian 12 builds
// against (glibc 2.36, GCC 12) asks for. README ("Install") states it; packing on a newer system that raises it fails
// here rather than shipping a prebuild that silently stops loading on the systems the README names.
const FLOOR = { GLIBC: '2.34', GLIBCXX: '3.4.30' };

const require = createRequire(import.meta.url);
const out = 'build-prebuild';

rmSync('prebuilds', { recursive: true, force: true });
if (process.argv.includes('--clean')) process.exit(0);

const fail = (msg) => {
  console.error(`redrafter prebuild: ${msg}`);
  process.exit(1);
};
const run = (cmd, args, options = {}) => {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...options });
  if (r.error) fail(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) process.exit(r.status ?? 1);
  return r;
};

const target = `${process.platform}-${process.arch}`;
if (target !== 'linux-x64') {
  console.log(`redrafter prebuild: none made on ${target} (prebuilds are made for linux-x64); installs build from source`);
  process.exit(0);
}

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const [napiVersion] = pkg.binary.napi_versions;
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const options = ['--out', out, '--CDREDRAFTER_CUDA=OFF', '--CDREDRAFTER_TENSORRT=OFF', '--CDREDRAFTER_TRTLLM=OFF',
  '--CDREDRAFTER_TESTS=OFF'];
run(process.execPath, [cmakeJs, 'configure', ...options]); // every time, so that the options above always hold
run(process.execPath, [cmakeJs, 'build', ...options, '--target', 'redrafter', '--parallel', String(Math.min(2, cpus().length))]);
run(process.execPath, [require.resolve('pkg-prebuilds/bin/copy.mjs'), '--baseDir', `${out}/Release`, '--source', 'redrafter.node',
  '--name', 'redrafter', '--napi_version', String(napiVersion), '--strip']);

const found = require('pkg-prebuilds').resolve(process.cwd(), { name: 'redrafter', napi_versions: [napiVersion] }, true, false);
if (!found) fail('pkg-prebuilds-copy made no prebuild');
const file = relative(process.cwd(), found);

// It loads here, and needs no newer glibc/libstdc++ than FLOOR.
run(process.execPath, ['-e', 'require(process.argv[1])', found]);
const symbols = spawnSync('objdump', ['-T', file], { encoding: 'utf8' });
if (symbols.status !== 0) fail(`objdump -T ${file} failed (binutils is needed to check the glibc floor): ${symbols.stderr || symbols.error}`);
const newer = (a, b) => a.localeCompare(b, 'en', { numeric: true }) > 0;
for (const [lib, floor] of Object.entries(FLOOR)) {
  const versions = [...symbols.stdout.matchAll(new RegExp(`\\b${lib}_([0-9.]+)\\b`, 'g'))].map((m) => m[1]);
  const needed = versions.reduce((max, v) => (newer(v, max) ? v : max), '0');
  if (newer(needed, floor))
    fail(`${file} needs ${lib}_${needed}, newer than the stated floor ${lib}_${floor}: pack on an older system ` +
      '(Debian 12) or raise the floor here and in README.md');
  console.log(`redrafter prebuild: ${file} needs ${lib}_${needed} at most (floor ${floor})`);
}

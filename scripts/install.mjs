// `npm install` (package.json "install"): uses the prebuilt addon that `npm pack` put in the package for this
// platform (linux-x64: scripts/prebuild.mjs) when it loads here; otherwise builds the addon from source with cmake-js
// (a C++17 compiler and CMake), after one line that says why. `npm install --build-from-source` (or
// npm_config_build_from_source=true) always builds. Where the addon is looked for at run time: lib/native.ts.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { relative } from 'node:path';

const require = createRequire(import.meta.url);
const root = process.cwd(); // npm runs install scripts in the package's folder
const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
// pkg-prebuilds names the prebuild (prebuilds/redrafter-linux-x64/node-napi-v8.node); the Node-API versions are the
// ones package.json's "binary" declares (cmake-js reads the same field)
const bindingOptions = { name: 'redrafter', napi_versions: pkg.binary.napi_versions };

/** Why the prebuilt addon is not used here, or undefined when it is (it exists and loads in a fresh node). */
function whyNotPrebuilt() {
  if (process.env.npm_config_build_from_source === 'true') return 'building from source as asked (--build-from-source)';
  const found = require('pkg-prebuilds').resolve(root, bindingOptions, true, false);
  if (!found) return `no prebuilt addon for ${process.platform}-${process.arch} in this package`;
  const probe = spawnSync(
    process.execPath,
    ['-e', 'try { require(process.argv[1]); } catch (e) { console.error(String(e.message).split("\\n")[0]); process.exit(1); }', found],
    { encoding: 'utf8' },
  );
  if (probe.status === 0) {
    console.log(`redrafter: using the prebuilt addon ${relative(root, found)}`);
    return undefined;
  }
  const reason = probe.stderr.trim().split('\n')[0] || (probe.signal ? `killed by ${probe.signal}` : `exit ${probe.status}`);
  return `the prebuilt addon ${relative(root, found)} does not load here (${reason})`;
}

const why = whyNotPrebuilt();
if (why !== undefined) {
  console.log(`redrafter: ${why}; building from source with cmake-js (needs a C++17 compiler and CMake >= 3.18)`);
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const r = spawnSync(process.execPath, [cmakeJs, 'compile', '--out', 'build-cmake'], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

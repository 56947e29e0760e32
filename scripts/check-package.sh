#!/usr/bin/env bash
# The npm package as a user gets it: `npm pack` (prepack builds the linux-x64 prebuild), the tarball installed in an
# empty folder, `npx redrafter demo --models DIR`; then the fallback: with a prebuild that does not load, the install
# script says why in one line and builds the addon from the packed sources (CPU only: CUDA off through cmake-js's npm
# config, to keep it short), and the demo runs on that build, with no unit test or benchmark target built.
#   bash scripts/check-package.sh [MODELS_DIR]      (default: $REDRAFTER_MODELS or ../shared/models)
# Reuses the npm cache that `npm ci` filled (--prefer-offline). About 2-3 minutes on 2 cores: two CPU-only compiles
# of the addon (the prebuild, the fallback), nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
models=$(realpath "${1:-${REDRAFTER_MODELS:-../shared/models}}")
[ -f "$models/stories260K.bin" ] || { echo "check-package: no stories260K.bin in $models" >&2; exit 1; }

work=$(mktemp -d)   # outside the checkout, so that nothing resolves to its node_modules
trap 'rm -rf "$work"' EXIT
step() { echo "check-package: $*"; }
fail() { echo "check-package: FAILED: $*" >&2; exit 1; }
loaded_addon() {  # the .node file `redrafter` loads in this folder
  node --input-type=module -e "import { native } from 'redrafter'; import { createRequire } from 'node:module';
    native(); console.log(Object.keys(createRequire(import.meta.url).cache).filter((k) => k.endsWith('.node')).join(' '))"
}

# 1. pack: the tarball carries the linux-x64 prebuild and no tests, benchmarks or build outputs
npm pack --pack-destination "$work" >"$work/pack.log" 2>&1 || { tail -40 "$work/pack.log"; fail "npm pack"; }
tarball=$(ls "$work"/redrafter-*.tgz)
listing=$(tar tzf "$tarball")
prebuild=package/prebuilds/redrafter-linux-x64/node-napi-v8.node
grep -qx "$prebuild" <<<"$listing" || fail "the tarball has no $prebuild"
if grep -E '^package/(test|bench|build[^/]*|node_modules)/' <<<"$listing"; then fail "the tarball carries the files above"; fi
[ ! -e prebuilds ] || fail "postpack left prebuilds/ in the checkout"
step "packed $(basename "$tarball"): $(wc -l <<<"$listing") files, $(du -k "$tarball" | cut -f1) KiB, with $prebuild"

# 2. install in an empty folder: the install script uses the prebuild (nothing compiled), and the demo runs
app=$work/app
mkdir "$app" && cd "$app"
npm init -y >/dev/null
npm install --foreground-scripts --prefer-offline --no-audit --no-fund "$tarball" >"$work/install.log" 2>&1 ||
  { tail -40 "$work/install.log"; fail "npm install of the tarball"; }
grep -q '^redrafter: using the prebuilt addon prebuilds/redrafter-linux-x64/node-napi-v8.node$' "$work/install.log" ||
  { tail -40 "$work/install.log"; fail "the install script did not use the prebuild"; }
[ ! -e node_modules/redrafter/build-cmake ] || fail "the install compiled the addon although the prebuild loads"
addon=$(loaded_addon)
[ "$addon" = "$app/node_modules/redrafter/prebuilds/redrafter-linux-x64/node-napi-v8.node" ] || fail "loaded $addon"
npx --no-install redrafter demo --models "$models" >"$work/demo.log" 2>&1 || { tail -40 "$work/demo.log"; fail "demo"; }
grep -q '^lossless: every drafted story is token for token the plain greedy story' "$work/demo.log" ||
  { tail -40 "$work/demo.log"; fail "the demo's stories differ"; }
step "installed from the tarball with the prebuild (no compile); npx redrafter demo ran on $addon"

# 3. fallback: a prebuild that does not load here makes the install script build from the packed sources
echo 'not a shared object' >"node_modules/redrafter/prebuilds/redrafter-linux-x64/node-napi-v8.node"
echo 'cmake_REDRAFTER_CUDA=OFF' >.npmrc   # cmake-js passes npm config cmake_X=V as -DX=V
npm rebuild redrafter --foreground-scripts >"$work/rebuild.log" 2>&1 || { tail -60 "$work/rebuild.log"; fail "npm rebuild"; }
why=$(grep '^redrafter: ' "$work/rebuild.log" | head -1)
[[ "$why" == 'redrafter: the prebuilt addon prebuilds/redrafter-linux-x64/node-napi-v8.node does not load here ('*'); building from source with cmake-js'* ]] ||
  { tail -60 "$work/rebuild.log"; fail "no line saying why it builds (got: $why)"; }
built=node_modules/redrafter/build-cmake
[ -f "$built/Release/redrafter.node" ] || fail "the fallback built no addon"
if find "$built" -maxdepth 3 -type f \( -name '*_test' -o -name 'redrafter_bench.node' -o -name 'redrafter-gpu-bench' \) | grep .; then
  fail "the install built the unit tests or benchmarks above"
fi
addon=$(loaded_addon)
[ "$addon" = "$app/$built/Release/redrafter.node" ] || fail "loaded $addon"
npx --no-install redrafter demo --models "$models" >"$work/demo2.log" 2>&1 || { tail -40 "$work/demo2.log"; fail "demo (fallback build)"; }
grep -q '^lossless: every drafted story' "$work/demo2.log" || { tail -40 "$work/demo2.log"; fail "the demo's stories differ (fallback build)"; }
step "fallback: \"$why\"; the addon built from the tarball's sources runs the demo"
cd "$repo"

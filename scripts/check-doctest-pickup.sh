#!/usr/bin/env bash
# A prerequisite installed after a failed `npm test` is picked up by the next one, with no build folder deleted by
# hand: in a fresh build folder, the C++ test step (scripts/ctest.mjs, configure only) runs once with doctest hidden
# (an empty folder mounted over Debian's doctest-dev files in a private mount namespace, so nothing outside this
# script sees it gone) and must fail naming what to install; then, doctest back, the same folder must configure the
# tests. Needs root (unshare -m) and doctest-dev installed; about a minute (two configures, nothing compiled).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=build-doctest-check
empty=$(mktemp -d)
trap 'rm -rf "$dir" "$empty"' EXIT
rm -rf "$dir"
hidden=()
for d in /usr/include/doctest /usr/lib/cmake/doctest; do [ -d "$d" ] && hidden+=("$d"); done
[ -f /usr/include/doctest/doctest.h ] || { echo "check-doctest-pickup: doctest-dev is not installed" >&2; exit 1; }

# 1. doctest missing: the test step fails and says what to install
set +e
out=$(unshare -m bash -c 'for d in "${@:2}"; do mount --bind "$1" "$d" || exit 97; done
                          [ ! -e /usr/include/doctest/doctest.h ] || exit 98
                          exec node scripts/ctest.mjs --out '"$dir"' --configure-only' _ "$empty" "${hidden[@]}" 2>&1)
rc=$?
set -e
case $rc in
  97 | 98) echo "check-doctest-pickup: could not hide doctest (unshare -m and mount need root)" >&2; exit 1 ;;
  0) echo "$out" | tail -20; echo "check-doctest-pickup: the tests configured with doctest hidden" >&2; exit 1 ;;
esac
grep -q 'C++ unit tests are missing: doctest not found (Debian: apt-get install doctest-dev)' <<<"$out" || {
  echo "$out" | tail -20; echo "check-doctest-pickup: no message naming doctest-dev" >&2; exit 1; }
echo "check-doctest-pickup: without doctest, the C++ test step fails with: $(grep -m1 'C++ unit tests are missing' <<<"$out")"

# 2. doctest back ("installed"): the next run configures the tests in the same folder
node scripts/ctest.mjs --out "$dir" --configure-only >/dev/null
[ -f "$dir/CTestTestfile.cmake" ] && [ ! -e "$dir/TESTS_SKIPPED" ] || {
  echo "check-doctest-pickup: doctest was not picked up by the next run" >&2; exit 1; }
echo "check-doctest-pickup: doctest installed afterwards is found by the next run ($(grep -c add_test "$dir/CTestTestfile.cmake") test executables)"

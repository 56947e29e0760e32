#!/usr/bin/env bash
# Cross-compiles the CPU engine (native/core, native/cpu) and its C++ unit tests for Windows with MinGW-w64, warnings
# as errors (the addon glue, native/addon, syntax only), and runs the tests under Wine where it is installed: the
# Windows code paths (file mapping, page release, aligned allocation, replacing files) compile and run without a
# Windows machine. MSVC, which node-gyp uses on Windows, is not checked. Not part of CI (the packages are large).
#   Debian: apt-get install g++-mingw-w64-x86-64-posix wine64     (doctest-dev for the tests)
#   Usage: scripts/check-windows.sh            (CXX_WIN=..., WINE=..., JOBS=N to override; COMPILE_ONLY=1 skips Wine)
set -euo pipefail
cd "$(dirname "$0")/.."
CXX_WIN=${CXX_WIN:-x86_64-w64-mingw32-g++-posix}
command -v "$CXX_WIN" >/dev/null || { echo "check-windows: $CXX_WIN not found (apt-get install g++-mingw-w64-x86-64-posix)" >&2; exit 2; }
WINE=${WINE:-$(command -v wine64 || ls /usr/lib/wine/wine64 2>/dev/null || true)}
JOBS=${JOBS:-2}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# doctest from the host's include folder, without the rest of /usr/include
mkdir -p "$out/inc" && ln -s /usr/include/doctest "$out/inc/doctest"
flags=(-std=c++17 -O2 -Wall -Wextra -Wno-unused-parameter -Werror -Inative -Itest/cpp -isystem "$out/inc")
start=$(date +%s)
status=0
compile() {  # source -> $out/<path with / as _>.o
  local o="$out/$(echo "$1" | tr / _).o"
  "$CXX_WIN" "${flags[@]}" -DREDRAFTER_SOURCE_DIR="\"$PWD\"" -c "$1" -o "$o" 2>"$o.err" || { echo "  FAIL $1"; cat "$o.err"; return 1; }
}
export -f compile && export CXX_WIN out && export FLAGS_STR="${flags[*]}"
lib=$(find native/core native/model native/tokenizer native/tools native/cpu -name '*.cpp' | sort)
tests=$(ls test/cpp/*_test.cpp)
# (bash functions with arrays do not export: rebuild the flags from the string)
printf '%s\n' $lib $tests test/cpp/main.cpp | xargs -P "$JOBS" -I{} bash -c 'flags=($FLAGS_STR); compile {}' || status=1
[ $status = 0 ] && echo "  ok $(echo "$lib" | wc -l) engine sources and $(echo "$tests" | wc -l) tests compile for Windows ($("$CXX_WIN" -dumpversion), -Werror)"
# the addon's glue, syntax only (linking it needs Node's Windows import library): Node's headers from this node
node_inc=$(node -p "require('path').join(process.execPath, '..', '..', 'include', 'node')" 2>/dev/null || true)
if [ -f "$node_inc/node_api.h" ] && [ -d node_modules/node-addon-api ]; then
  mkdir -p "$out/node" && ln -s "$node_inc" "$out/node/node"
  n=0
  for f in native/addon/*.cpp; do
    "$CXX_WIN" "${flags[@]}" -fsyntax-only -Inode_modules/node-addon-api -isystem "$out/node/node" -DNAPI_VERSION=8 \
      -DNAPI_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED "$f" || { echo "  FAIL $f"; status=1; }
    n=$((n + 1))
  done
  [ $status = 0 ] && echo "  ok $n addon sources compile for Windows (syntax only)"
else
  echo "  (addon sources not checked: Node's headers or node-addon-api not found)"
fi
if [ $status = 0 ]; then
  libobjs=()
  for f in $lib; do libobjs+=("$out/$(echo "$f" | tr / _).o"); done
  for t in $tests; do
    name=$(basename "$t" .cpp)
    "$CXX_WIN" -static -o "$out/$name.exe" "$out/$(echo "$t" | tr / _).o" "$out/test_cpp_main.cpp.o" "${libobjs[@]}" -lpthread \
      || { echo "  FAIL link $name"; status=1; }
  done
fi
if [ $status = 0 ] && [ "${COMPILE_ONLY:-0}" != 1 ]; then
  if [ -z "$WINE" ]; then
    echo "check-windows: Wine not found: the tests were built, not run (apt-get install wine64)"
  else
    export WINEDEBUG=-all WINEPREFIX="$out/wineprefix"
    for t in $tests; do
      name=$(basename "$t" .cpp)
      if log=$("$WINE" "$out/$name.exe" 2>&1); then
        echo "  ok   $name: $(echo "$log" | grep -o 'assertions: *[0-9]* | *[0-9]* passed' | tr -s ' ')"
      else
        echo "  FAIL $name"; echo "$log" | grep -E 'ERROR|FATAL|test cases' | head -20; status=1
      fi
    done
  fi
fi
echo "check-windows: $([ $status = 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - start )) s"
exit $status

#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer job (CI: .ci/run). In its own build folder (build-asan; ASAN_BUILD_DIR
# overrides), with the flags passed through cmake-js, it builds the addon and the C++ unit tests instrumented (-O1),
# checks that they really are, runs the C++ tests, then a generation smoke test in node with libasan preloaded
# (test/reliability/sanitizer-smoke.ts: generations plain and drafted, aborts, concurrent sessions, GGUF conversion,
# and the file fuzzer through the public API). Any report ends the job (halt_on_error, -fno-sanitize-recover).
#   bash scripts/sanitize.sh [C++ test targets...]     (default: every C++ test; names as in test/cpp, no .cpp)
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${ASAN_BUILD_DIR:-build-asan}
JOBS=${JOBS:-2}
FLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all"

# cmake-js passes --CD<name>=<value> on as -D<name>=<value>, before its own definitions: a CMAKE_CXX_FLAGS given that
# way is overridden by the one cmake-js sets (-DBUILDING_NODE_EXTENSION), so the flags go in the Release flags, which
# are ours alone (and replace -O3 -DNDEBUG: assertions stay on). The GPU parts are not built.
t0=$SECONDS
npx cmake-js compile --out "$DIR" --parallel "$JOBS" --target redrafter \
  "--CDCMAKE_CXX_FLAGS_RELEASE=$FLAGS" "--CDCMAKE_C_FLAGS_RELEASE=$FLAGS" \
  --CDREDRAFTER_CUDA=OFF --CDREDRAFTER_TENSORRT=OFF --CDREDRAFTER_TRTLLM=OFF --CDREDRAFTER_TESTS=ON >/dev/null
ADDON="$DIR/Release/redrafter.node"

# Instrumented for real: the flags reached the compile lines, the addon needs libasan and calls UBSan's handlers.
grep -q -- "-fsanitize=address,undefined" "$DIR/CMakeCache.txt" || { echo "sanitize: the flags are not in $DIR's cache"; exit 1; }
# (whole outputs first: grep -q stopping a pipe early would fail it under pipefail)
libs=$(ldd "$ADDON")
syms=$(nm -D --undefined-only "$ADDON")
grep -q 'libasan\.so' <<<"$libs" || { echo "sanitize: $ADDON does not link libasan"; exit 1; }
grep -q '__asan_report_load' <<<"$syms" || { echo "sanitize: $ADDON has no ASan checks"; exit 1; }
grep -q '__ubsan_handle_' <<<"$syms" || { echo "sanitize: $ADDON has no UBSan checks"; exit 1; }
echo "sanitize: $ADDON is instrumented (libasan, ASan and UBSan checks), built in $((SECONDS - t0)) s"

# The C++ unit tests (all, or the ones named), instrumented the same way.
if [ $# -gt 0 ]; then TESTS=("$@"); else
  mapfile -t TESTS < <(ls test/cpp/*_test.cpp | xargs -n1 basename | sed 's/\.cpp$//')
fi
t0=$SECONDS
cmake --build "$DIR" --parallel "$JOBS" --target "${TESTS[@]}" >/dev/null
echo "sanitize: ${#TESTS[@]} C++ tests built in $((SECONDS - t0)) s"
export ASAN_OPTIONS=halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
t0=$SECONDS
for t in "${TESTS[@]}"; do
  s=$SECONDS
  # the fuzzer's rounds are fewer here (each load is several times slower under the sanitizers)
  REDRAFTER_FUZZ_ROUNDS=${SANITIZE_FUZZ_ROUNDS:-60} "$DIR/$t" >"$DIR/$t.log" 2>&1 || { echo "sanitize: $t failed"; tail -60 "$DIR/$t.log"; exit 1; }
  echo "sanitize: $t passed ($((SECONDS - s)) s)"
done
echo "sanitize: C++ tests passed in $((SECONDS - t0)) s"

# The addon in node: libasan first (node itself is not instrumented; its own leaks are not this job's).
LIBASAN=$(g++ -print-file-name=libasan.so)
t0=$SECONDS
LD_PRELOAD="$LIBASAN" ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0:detect_stack_use_after_return=0" \
  REDRAFTER_ADDON="$ADDON" REDRAFTER_SANITIZER_ADDON="$ADDON" node --import tsx test/reliability/sanitizer-smoke.ts
echo "sanitize: the generation smoke test passed in $((SECONDS - t0)) s"

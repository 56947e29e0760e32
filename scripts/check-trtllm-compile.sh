#!/usr/bin/env bash
# Compiles the TensorRT-LLM backend's translation units against a TensorRT-LLM include tree, without a GPU, a
# TensorRT-LLM install or its libraries (nothing is linked). See docs/tensorrt-llm.md for how the header folder is
# made (it is never committed).
#
#   scripts/check-trtllm-compile.sh HEADER_DIR [--cmake]
#
# HEADER_DIR holds
#   trtllm/      TensorRT-LLM's cpp/include (tensorrt_llm/executor/executor.h, tensorrt_llm/plugins/api/...)
#   tensorrt/    TensorRT's include (NvInferRuntime.h, ...)
# CUDA runtime headers come from $CUDA_HOME/include (default /usr/local/cuda). The release is read from
# trtllm/tensorrt_llm/executor/version.h, or given as TRTLLM_VERSION=<release> (a git archive of cpp/include has no
# version.h: a build generates it).
#
# Checks, each must pass:
#   1. native/trtllm/*.cpp compile (-c) with _GLIBCXX_USE_CXX11_ABI=0 and =1 (TensorRT-LLM ships both);
#   2. native/addon/trtllm_engine.cpp compiles with REDRAFTER_TRTLLM_MODULE defined (the module's backend glue);
#   3. every TensorRT-LLM symbol the backend needs is listed (nm -C -u), for comparison with the libraries' exports;
#   4. with --cmake: the CMake wiring (cmake/TrtLlm.cmake -> native/trtllm/CMakeLists.txt, ABI detection, the module
#      redrafter_trtllm.node) configures and builds in a scratch build folder, with placeholder .so files (one
#      symbol each, one the backend calls) standing in for libtensorrt_llm / libnvinfer_plugin_tensorrt_llm: the
#      module links against them (a shared object may leave symbols undefined) and must NEED them with their folder
#      as its RUNPATH, every object in it must carry TensorRT-LLM's ABI setting (=0 here, unlike GCC's usual
#      default), and the CPU addon redrafter.node must need neither library, carry no such RUNPATH and no object
#      built with that setting. JOBS=<n> limits the build's parallel jobs; KEEP_SCRATCH=1 keeps the scratch folder.
set -euo pipefail

if [[ $# -lt 1 || ! -d "$1" ]]; then
  echo "usage: $0 HEADER_DIR [--cmake]   (HEADER_DIR/trtllm = TensorRT-LLM cpp/include, HEADER_DIR/tensorrt = TensorRT include)" >&2
  exit 2
fi
HEADERS=$(cd "$1" && pwd)
WITH_CMAKE=${2:-}
REPO=$(cd "$(dirname "$0")/.." && pwd)
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
CXX=${CXX:-g++}
NODE_INC=$(cd "$REPO" && node -p "require('node-api-headers').include_dir" 2>/dev/null || true)
ADDON_INC=$(cd "$REPO" && node -p "require('node-addon-api').include_dir" 2>/dev/null || true)

for f in "$HEADERS/trtllm/tensorrt_llm/executor/executor.h" "$HEADERS/trtllm/tensorrt_llm/plugins/api/tllmPlugin.h" \
         "$HEADERS/tensorrt/NvInferRuntime.h" "$CUDA_HOME/include/cuda_fp16.h"; do
  [[ -f "$f" ]] || { echo "missing $f" >&2; exit 2; }
done

OUT=$(mktemp -d)
if [[ -n "${KEEP_SCRATCH:-}" ]]; then echo "scratch folder (kept): $OUT"; else trap 'rm -rf "$OUT"' EXIT; fi
COMMON=(-std=c++17 -Wall -Wextra -Wno-unused-parameter -Werror -I"$REPO/native"
        -isystem "$HEADERS/trtllm" -isystem "$HEADERS/tensorrt" -isystem "$CUDA_HOME/include")

echo "== 1. native/trtllm against $HEADERS ($($CXX --version | head -1))"
for abi in 0 1; do
  for src in "$REPO"/native/trtllm/*.cpp; do
    $CXX "${COMMON[@]}" -D_GLIBCXX_USE_CXX11_ABI=$abi -c "$src" -o "$OUT/$(basename "$src" .cpp).abi$abi.o"
    echo "   ok  $(basename "$src")  _GLIBCXX_USE_CXX11_ABI=$abi"
  done
done

echo "== 2. native/addon/trtllm_engine.cpp with REDRAFTER_TRTLLM_MODULE"
$CXX -std=c++17 -Wall -Wextra -Wno-unused-parameter -Werror -DREDRAFTER_TRTLLM_MODULE=1 -DNAPI_VERSION=8 \
  -DNAPI_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED -I"$REPO/native" -I"$NODE_INC" -I"$REPO/$ADDON_INC" -I"$ADDON_INC" \
  -fsyntax-only "$REPO/native/addon/trtllm_engine.cpp"
echo "   ok  trtllm_engine.cpp"

echo "== 3. TensorRT-LLM symbols the backend links against"
nm -C -u "$OUT"/*.abi1.o | sed -n 's/^ *U //p' | grep -E 'tensorrt_llm::|initTrtLlmPlugins' | sed 's/(.*//' | sort -u | sed 's/^/   /'

if [[ "$WITH_CMAKE" == "--cmake" ]]; then
  echo "== 4. CMake wiring (scratch build; placeholder libraries)"
  B="$OUT/build"
  mkdir -p "$B/fake/lib"
  # Each placeholder defines one symbol the backend really calls (tensorrt_llm::executor::version(), mangled, and
  # initTrtLlmPlugins): the linker's --as-needed (GCC's default on Debian/Ubuntu) records a library as NEEDED only
  # when it resolves one of the module's references, which a symbol-less placeholder never does.
  echo 'void _ZN12tensorrt_llm8executor7versionEv(void) {}' > "$B/fake/trtllm.c"
  echo 'int initTrtLlmPlugins(void) { return 1; }' > "$B/fake/plugins.c"
  cc -shared -o "$B/fake/lib/libtensorrt_llm.so" "$B/fake/trtllm.c"
  cc -shared -o "$B/fake/lib/libnvinfer_plugin_tensorrt_llm.so" "$B/fake/plugins.c"
  cmake -S "$REPO" -B "$B" -G Ninja -DREDRAFTER_TRTLLM=ON -DREDRAFTER_TESTS=OFF -DREDRAFTER_CUDA=OFF \
    -DTRTLLM_INCLUDE_DIR="$HEADERS/trtllm" -DTRTLLM_LIBRARY="$B/fake/lib/libtensorrt_llm.so" \
    -DTENSORRT_INCLUDE_DIR="$HEADERS/tensorrt" -DCUDAToolkit_ROOT="$CUDA_HOME" -DTRTLLM_CXX11_ABI=0 \
    ${TRTLLM_VERSION:+-DTRTLLM_VERSION=$TRTLLM_VERSION} \
    -DCMAKE_JS_VERSION=check -DCMAKE_JS_INC="$NODE_INC" > "$B/configure.log"
  grep -E 'redrafter: TensorRT-LLM' "$B/configure.log" | sed 's/^/   /'
  ninja -C "$B" ${JOBS:+-j "$JOBS"} redrafter.node redrafter_trtllm.node > "$B/build.log" || { cat "$B/build.log"; exit 1; }
  module="$B/redrafter_trtllm.node"; addon="$B/redrafter.node"
  fail() { echo "   FAIL $*" >&2; exit 1; }
  # readelf's whole output is captured first: `readelf | grep -q` can fail under pipefail when grep closes the pipe
  module_dyn=$(readelf -d "$module") || fail "readelf -d $module"
  addon_dyn=$(readelf -d "$addon") || fail "readelf -d $addon"
  for lib in libtensorrt_llm.so libnvinfer_plugin_tensorrt_llm.so; do
    grep -q "NEEDED.*\[$lib\]" <<<"$module_dyn" || fail "redrafter_trtllm.node does not need $lib:"$'\n'"$module_dyn"
  done
  runpath=$(grep -E 'RUNPATH|RPATH' <<<"$module_dyn" || true)
  [[ "$runpath" == *"$B/fake/lib"* ]] || fail "redrafter_trtllm.node has no RUNPATH to $B/fake/lib:"$'\n'"$module_dyn"
  if grep -E 'tensorrt|nvinfer' <<<"$addon_dyn"; then fail "redrafter.node needs or looks for TensorRT-LLM"; fi
  if ninja -C "$B" -t commands redrafter_trtllm.node | grep -- ' -c ' | grep -v -- '-D_GLIBCXX_USE_CXX11_ABI=0'; then
    fail "an object of redrafter_trtllm.node was built without TensorRT-LLM's ABI setting"
  fi
  if ninja -C "$B" -t commands redrafter.node | grep -- '_GLIBCXX_USE_CXX11_ABI'; then
    fail "an object of redrafter.node was built with TensorRT-LLM's ABI setting"
  fi
  echo "   ok  redrafter_trtllm.node needs libtensorrt_llm and its plugins with their folder as RUNPATH, every object"
  echo "       built with _GLIBCXX_USE_CXX11_ABI=0; redrafter.node needs neither and has no object built with it"
fi
echo "all checks passed"

#!/usr/bin/env bash
# The peer of the GPU proof (issue 16): llama.cpp with CUDA, from the source node-llama-cpp's package carries
# (node_modules/node-llama-cpp/llama/gitRelease.bundle: a git bundle of one squashed commit, the llama.cpp release
# named in llama/llama.cpp.info.json).
#
#   bash bench/gpu/llama_cpp_peer.sh prepare          here (needs git and node_modules): the bundle's source, less
#                                                     what the build does not read (models, docs, tests, examples,
#                                                     other backends), into .dev/llama.cpp-src (~25 MB), which the
#                                                     device call carries
#   bash bench/gpu/llama_cpp_peer.sh build            on the GPU machine: llama-bench with CUDA for sm_90 (-j16)
#   bash bench/gpu/llama_cpp_peer.sh bench MODEL.gguf [OUT.json]
#                                                     llama-bench -p 0 -n 128 (plain decoding of 128 tokens at batch 1
#                                                     after an empty prompt, every layer on the GPU, flash attention
#                                                     at its default 'auto', 5 repetitions); prints one JSON object:
#                                                     {"model", "tokensPerSecond" (llama-bench's mean), "stddev",
#                                                     "samples", "build", "flashAttention", "nGen"}
# Environment: LLAMA_SRC (default .dev/llama.cpp-src), LLAMA_BUILD (default /tmp/redrafter-gpu/llama-build),
# JOBS (default: all cores), CUDA_ARCH (default 90).
# llama-bench times llama_decode alone (no sampling): greedy argmax over 512 logits is not part of either side's
# cost worth counting, and the prompts are empty, so its context (128) is about ours (prompt + 128).
# node-llama-cpp also ships patches/PR-22566.diff (memory accounting of models loaded with no_alloc); it does not
# touch decoding and is not applied.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
src=${LLAMA_SRC:-$root/.dev/llama.cpp-src}
build=${LLAMA_BUILD:-/tmp/redrafter-gpu/llama-build}
arch=${CUDA_ARCH:-90}
jobs=${JOBS:-$(nproc)}

prepare() {
  local bundle=$root/node_modules/node-llama-cpp/llama/gitRelease.bundle
  local info=$root/node_modules/node-llama-cpp/llama/llama.cpp.info.json
  [ -f "$bundle" ] || { echo "llama_cpp_peer: $bundle not found (npm ci first)" >&2; exit 2; }
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  git clone -q "$bundle" "$tmp/llama.cpp" 2>/dev/null
  local commit
  commit=$(git -C "$tmp/llama.cpp" rev-parse HEAD)
  rm -rf "$src"
  mkdir -p "$src"
  # what the CUDA build of llama-bench reads: the CMake tree, ggml (CPU + CUDA backends), src, include, common,
  # vendor and tools (tools/CMakeLists.txt adds them all; only llama-bench is built)
  git -C "$tmp/llama.cpp" archive --format=tar HEAD -- . ':!models' ':!docs' ':!tests' ':!examples' ':!pocs' \
    ':!benches' ':!media' ':!gguf-py' ':!conversion' ':!.github' ':!scripts' ':!app' ':!skills' ':!ci' \
    ':!requirements' ':!tools/ui' ':!tools/server' ':!tools/mtmd/test-*' ':!ggml/src/ggml-cann' ':!ggml/src/ggml-et' \
    ':!ggml/src/ggml-hexagon' ':!ggml/src/ggml-metal' ':!ggml/src/ggml-musa' ':!ggml/src/ggml-opencl' \
    ':!ggml/src/ggml-openvino' ':!ggml/src/ggml-sycl' ':!ggml/src/ggml-virtgpu' ':!ggml/src/ggml-vulkan' \
    ':!ggml/src/ggml-webgpu' ':!ggml/src/ggml-zdnn' ':!ggml/src/ggml-zendnn' ':!ggml/src/ggml-hip' |
    tar -x -C "$src"
  local release version
  release=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['tag'])" "$info")
  version=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['version'])" "$root/node_modules/node-llama-cpp/package.json")
  printf '{"commit": "%s", "release": "%s", "nodeLlamaCpp": "%s"}\n' "$commit" "$release" "$version" > "$src/REDRAFTER_SOURCE.json"
  echo "llama_cpp_peer: $src: llama.cpp $commit (node-llama-cpp $version, release $release), $(du -sm "$src" | cut -f1) MB"
}

build_llama() {
  [ -f "$src/CMakeLists.txt" ] || { echo "llama_cpp_peer: no llama.cpp source at $src (run 'prepare' here and carry .dev/llama.cpp-src)" >&2; exit 2; }
  local bin=$build/bin/llama-bench
  if [ -x "$bin" ] && cmp -s "$build/REDRAFTER_SOURCE.json" "$src/REDRAFTER_SOURCE.json"; then  # same commit
    echo "llama_cpp_peer: $bin is built"
    return
  fi
  # shellcheck source=cuda_env.sh
  source "$root/bench/gpu/cuda_env.sh"
  local t0=$SECONDS
  cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$arch" \
    -DGGML_NATIVE=ON -DGGML_CUDA_NCCL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
    -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TOOLS=ON -DGGML_CCACHE=OFF "${CUDA_CMAKE_HINTS[@]}" \
    > "$build.configure.log" 2>&1 || { tail -30 "$build.configure.log"; exit 1; }
  ninja -C "$build" -j "$jobs" llama-bench > "$build.build.log" 2>&1 || { grep -m20 -i -B2 -A6 'error' "$build.build.log" | head -80; exit 1; }
  cp "$src/REDRAFTER_SOURCE.json" "$build/REDRAFTER_SOURCE.json"
  echo "llama_cpp_peer: built $bin in $((SECONDS - t0)) s (sm_$arch, -j$jobs)"
}

bench() {
  local model=${1:?bench MODEL.gguf [OUT.json]} out=${2:-}
  local bin=$build/bin/llama-bench
  [ -x "$bin" ] || { echo "llama_cpp_peer: $bin is missing (run 'build' first)" >&2; exit 2; }
  [ -f "$model" ] || { echo "llama_cpp_peer: model $model not found" >&2; exit 2; }
  # shellcheck source=cuda_env.sh
  source "$root/bench/gpu/cuda_env.sh" > /dev/null
  local raw
  raw=$(mktemp)
  "$bin" -m "$model" -p 0 -n 128 -r 5 -o json > "$raw" 2> "$raw.err" || { tail -20 "$raw.err" >&2; exit 1; }
  python3 - "$raw" "$model" "$build/REDRAFTER_SOURCE.json" "$out" <<'EOF'
import json, sys
raw, model, source, out = sys.argv[1:5]
rows = [r for r in json.load(open(raw)) if r.get("n_gen") == 128 and r.get("n_prompt") == 0]
if not rows:
    sys.exit("llama_cpp_peer: llama-bench printed no tg128 row")
r = rows[0]
try:
    build = json.load(open(source))["commit"][:12]
except (OSError, ValueError, KeyError):
    build = r.get("build_commit")
res = {"model": model, "tokensPerSecond": r["avg_ts"], "stddev": r.get("stddev_ts"), "samples": r.get("samples_ts"),
       "build": build, "flashAttention": r.get("flash_attn"), "nGen": r["n_gen"], "gpu": r.get("gpu_info"),
       "backend": r.get("backends")}
text = json.dumps(res)
print(text)
if out:
    open(out, "w").write(text + "\n")
EOF
  rm -f "$raw" "$raw.err"
}

case "${1:-}" in
  prepare) prepare ;;
  build) build_llama ;;
  bench) shift; bench "$@" ;;
  *) echo "usage: bash bench/gpu/llama_cpp_peer.sh prepare|build|bench MODEL.gguf [OUT.json]" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# The CUDA engine's correctness check (backend 'cuda'), in two halves:
#
#   scripts/gpu-engine-check.sh prepare   (a machine with Node and the fixtures, e.g. a developer's)
#     expands stories260K and its drafter (bench/expand-model.ts) to a head-size-64 model the CUDA engine runs
#     (dim 512, 8 heads, 4 kv heads, 5 layers, f16 GGUF: a few MiB) and writes the prompts, into .dev/gpu-engine-check/
#     (ignored by git; carry it to the GPU machine).
#   scripts/gpu-engine-check.sh run       (the GPU machine: nvcc, cmake, cuBLAS headers, python3; no Node)
#     builds redrafter-gpu-bench for this GPU and checks, greedy, 10 prompts x $MAX_TOKENS tokens:
#       1. the CUDA engine's plain decoding (ar) gives the CPU engine's tokens (cpu-ar, the same f16 file),
#       2. ReDrafter on the CUDA engine (redrafter, W=$BEAM_WIDTH L=$BEAM_LENGTH) gives the CUDA engine's ar tokens,
#       3. the same with batch 4 (in-flight batching) and without CUDA graphs,
#     each pass: identical, or every first difference where the reference's top-1 / top-2 logits differ by less
#     than 1e-2 (the gaps are printed). Exit code 0 only when every check passed.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${REDRAFTER_GPU_CHECK_DIR:-.dev/gpu-engine-check}
MAX_TOKENS=${MAX_TOKENS:-64}
BEAM_WIDTH=${BEAM_WIDTH:-4}
BEAM_LENGTH=${BEAM_LENGTH:-5}

case "${1:-}" in
prepare)
  mkdir -p "$dir"
  node --import tsx bench/expand-model.ts --out "$dir" --dim 512 --ffn 1376 --layers 5 --heads 8 --kv-heads 4 \
    --types f16
  cat >"$dir/prompts.txt" <<'EOF'
Once upon a time
Lily and Ben went to the park
The little dog was sad because
One day, a girl named Sue
Tom had a big red ball
The cat sat on the mat and
There was a tall tree in the garden
Mom said it was time for bed
A bird flew over the house
The boy found a shiny stone
EOF
  ls -l "$dir" "$dir/drafter"
  ;;
run)
  [ -f "$dir/model-f16.gguf" ] || { echo "no $dir/model-f16.gguf: run 'scripts/gpu-engine-check.sh prepare' first"; exit 1; }
  export PATH="$PATH:/usr/local/cuda/bin"
  build=${REDRAFTER_GPU_BUILD:-build-gpu}
  if [ -z "${CUDA_ARCH:-}" ]; then
    CUDA_ARCH=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .' || true)
    [ -n "$CUDA_ARCH" ] || CUDA_ARCH=90
  fi
  gen=()
  command -v ninja >/dev/null && gen=(-G Ninja)
  t0=$(date +%s)
  cmake -S . -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DREDRAFTER_CUDA=ON -DREDRAFTER_TENSORRT=OFF \
    -DREDRAFTER_TRTLLM=OFF -DREDRAFTER_TESTS=OFF -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH" >"$build.configure.log" 2>&1 \
    || { cat "$build.configure.log"; exit 1; }
  grep "redrafter:" "$build.configure.log" || true
  cmake --build "$build" --target redrafter-gpu-bench -j "$(nproc)"
  echo "build: $(( $(date +%s) - t0 )) s (sm_$CUDA_ARCH)"
  bench=$(find "$build" -name redrafter-gpu-bench -type f | head -1)
  common=(--model "$dir/model-f16.gguf" --prompts "$dir/prompts.txt" --max-tokens "$MAX_TOKENS" --repeats 1)
  run() {  # name, args...
    local name=$1
    shift
    echo "== $name: $*"
    "$bench" "${common[@]}" "$@" >"$dir/$name.json"
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("  %s on %s: %.1f tokens/s, %.2f tokens/step, %.3f ms/step" % (r["mode"], r["device"], r["tokensPerSecond"], r["tokensPerStep"], r["stepMs"]))' "$dir/$name.json"
  }
  run cpu-ar --mode cpu-ar --gaps
  run ar --mode ar --gaps
  run redrafter --mode redrafter --drafter "$dir/drafter" --beam-width "$BEAM_WIDTH" --beam-length "$BEAM_LENGTH"
  run redrafter-b4 --mode redrafter --drafter "$dir/drafter" --beam-width "$BEAM_WIDTH" --beam-length "$BEAM_LENGTH" --batch 4
  run redrafter-nographs --mode redrafter --drafter "$dir/drafter" --beam-width "$BEAM_WIDTH" --beam-length "$BEAM_LENGTH" --no-graphs
  run ar-b4 --mode ar --batch 4 --gaps
  python3 - "$dir" <<'EOF'
import json, sys
d = sys.argv[1]
load = lambda n: json.load(open(f"{d}/{n}.json"))
def compare(name, ref, got, tolerance=1e-2):
    ok = True
    byText = {p["prompt"]: p for p in ref["prompts"]}  # batch runs repeat prompts: each request is checked
    for i, g in enumerate(got["prompts"]):
        r = byText[g["prompt"]]
        a, b = r["tokens"], g["tokens"]
        first = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]), None)
        if first is None and len(a) == len(b):
            continue
        if first is None:
            print(f"  FAIL {name} prompt {i}: lengths {len(a)} vs {len(b)}"); ok = False; continue
        gap = r.get("gaps", [None] * len(a))[first]
        verdict = "ok (near tie)" if gap is not None and gap < tolerance else "FAIL"
        if verdict == "FAIL": ok = False
        print(f"  {verdict} {name} prompt {i}: first difference at token {first} ({a[first]} vs {b[first]}), reference gap {gap}")
    print(f"{'PASS' if ok else 'FAIL'} {name}")
    return ok
cpu, ar = load("cpu-ar"), load("ar")
results = [
    compare("cuda ar == cpu ar (f16)", cpu, ar),
    compare("cuda redrafter == cuda ar", ar, load("redrafter")),
    compare("cuda redrafter batch 4 == cuda ar", ar, load("redrafter-b4")),
    compare("cuda redrafter without graphs == cuda ar", ar, load("redrafter-nographs")),
    compare("cuda ar batch 4 == cuda ar", ar, load("ar-b4")),
]
sys.exit(0 if all(results) else 1)
EOF
  ;;
*)
  echo "usage: scripts/gpu-engine-check.sh prepare|run"
  exit 2
  ;;
esac

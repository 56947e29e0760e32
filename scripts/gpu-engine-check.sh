#!/usr/bin/env bash
# The CUDA engine's correctness check (backend 'cuda'), in two halves:
#
#   scripts/gpu-engine-check.sh prepare   (here: a machine with the fixtures)
#     copies the stories260K fixture (stories260K.bin, tok512.bin: 1.1 MB) into .dev/models (ignored by git; carry
#     it to the GPU machine) and writes the check's model there too, to see that the expansion works.
#   scripts/gpu-engine-check.sh run       (the GPU machine: nvcc, cmake, cuBLAS headers, python3 with numpy; no Node)
#     expands stories260K and its drafter (bench/gpu/expand_model.py, numpy) to a head-size-64 model the CUDA engine
#     runs (dim 512, 8 heads, 4 kv heads, 5 layers, f16 GGUF) where it is not there yet, builds redrafter-gpu-bench
#     for this GPU and checks, greedy, 10 prompts x $MAX_TOKENS tokens:
#       1. the CUDA engine's plain decoding (ar) gives the CPU engine's tokens (cpu-ar, the same f16 file),
#       2. ReDrafter on the CUDA engine (redrafter, W=$BEAM_WIDTH L=$BEAM_LENGTH) gives the CUDA engine's ar tokens,
#       3. the same with batch 4 (in-flight batching), without CUDA graphs, and plain decoding at batch 4,
#     each pass: identical, or every first difference where the reference's top-1 / top-2 logits differ by less
#     than 1e-2 (the gaps are printed). A run that fails is reported and the others still run. Exit code 0 only
#     when every check passed. With $OUT set (the device tool's folder), the results and logs are copied there.
#
# Settings: MAX_TOKENS (64), BEAM_WIDTH (4), BEAM_LENGTH (5), RUN_TIMEOUT (seconds per harness run, 120), MODELS
# (the fixture folder: .dev/models, else ../shared/models), REDRAFTER_GPU_CHECK_DIR (.dev/gpu-engine-check),
# REDRAFTER_GPU_BUILD (build-gpu), CUDA_ARCH (the GPU's, from nvidia-smi).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${REDRAFTER_GPU_CHECK_DIR:-.dev/gpu-engine-check}
MAX_TOKENS=${MAX_TOKENS:-64}
BEAM_WIDTH=${BEAM_WIDTH:-4}
BEAM_LENGTH=${BEAM_LENGTH:-5}
RUN_TIMEOUT=${RUN_TIMEOUT:-120}
if [ -z "${MODELS:-}" ]; then
  MODELS=.dev/models
  [ -f "$MODELS/stories260K.bin" ] || [ ! -f ../shared/models/stories260K.bin ] || MODELS=../shared/models
fi

# The check's model and drafter, from the fixture (numpy; the same bytes as bench/expand-model.ts writes).
expand() {
  if [ -f "$dir/model-f16.gguf" ] && [ -f "$dir/drafter/model.safetensors" ]; then return 0; fi
  for f in stories260K.bin tok512.bin; do
    [ -f "$MODELS/$f" ] || { echo "gpu-engine-check: $MODELS/$f is missing: run 'scripts/gpu-engine-check.sh prepare' where the fixtures are, and carry .dev/models" >&2; exit 1; }
  done
  mkdir -p "$dir"
  python3 bench/gpu/expand_model.py --out "$dir" --dim 512 --ffn 1376 --layers 5 --heads 8 --kv-heads 4 --types f16 \
    --source "$MODELS/stories260K.bin" --tokenizer "$MODELS/tok512.bin" --drafter models/stories260K-drafter \
    > "$dir/model.json" 2> "$dir/expand.log" || { cat "$dir/expand.log"; exit 1; }
  echo "model: $(cat "$dir/model.json")"
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
}

case "${1:-}" in
prepare)
  [ -f ../shared/models/stories260K.bin ] || [ -f .dev/models/stories260K.bin ] ||
    { echo "gpu-engine-check: no stories260K fixture in ../shared/models or .dev/models" >&2; exit 1; }
  mkdir -p .dev/models
  for f in stories260K.bin tok512.bin; do [ -f ".dev/models/$f" ] || cp "../shared/models/$f" .dev/models/; done
  MODELS=.dev/models expand
  ls -l .dev/models "$dir" "$dir/drafter"
  echo "carry .dev/models to the GPU machine (the model is written again there: $dir need not travel)"
  ;;
run)
  copy_out() {
    [ -n "${OUT:-}" ] || return 0
    mkdir -p "$OUT/gpu-engine-check"
    cp "$dir"/*.json "$dir"/*.log "$OUT/gpu-engine-check/" 2>/dev/null || true
  }
  trap copy_out EXIT
  expand
  export PATH="$PATH:/usr/local/cuda/bin"
  # cuBLAS and libcuda where the toolkit lacks them (sets CUDA_CMAKE_HINTS, extends LD_LIBRARY_PATH)
  # shellcheck source=../bench/gpu/cuda_env.sh
  source bench/gpu/cuda_env.sh
  build=${REDRAFTER_GPU_BUILD:-build-gpu}
  if [ -z "${CUDA_ARCH:-}" ]; then
    CUDA_ARCH=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .' || true)
    [ -n "$CUDA_ARCH" ] || CUDA_ARCH=90
  fi
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  gen=()
  command -v ninja >/dev/null && gen=(-G Ninja)
  t0=$(date +%s)
  cmake -S . -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DREDRAFTER_CUDA=ON -DREDRAFTER_TENSORRT=OFF \
    -DREDRAFTER_TRTLLM=OFF -DREDRAFTER_TESTS=OFF -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH" "${CUDA_CMAKE_HINTS[@]}" \
    >"$dir/configure.log" 2>&1 || { tail -40 "$dir/configure.log"; exit 1; }
  grep "redrafter:" "$dir/configure.log" || true
  cmake --build "$build" --target redrafter-gpu-bench -j "$(nproc)" >"$dir/build.log" 2>&1 ||
    { grep -m20 -B2 -A8 -i 'error' "$dir/build.log" | head -120; exit 1; }
  echo "build: $(( $(date +%s) - t0 )) s (sm_$CUDA_ARCH)"
  bench=$(find "$build" -name redrafter-gpu-bench -type f -perm -u+x | head -1)
  common=(--model "$dir/model-f16.gguf" --prompts "$dir/prompts.txt" --max-tokens "$MAX_TOKENS" --repeats 1)
  run() {  # name, args...: one harness run; a failure is reported and the script goes on
    local name=$1 rc=0
    shift
    echo "== $name: $*"
    rm -f "$dir/$name.json"
    timeout "$RUN_TIMEOUT" "$bench" "${common[@]}" "$@" >"$dir/$name.json.tmp" 2>"$dir/$name.log" || rc=$?
    if [ $rc -ne 0 ]; then
      echo "  FAILED (exit $rc$([ $rc = 124 ] && echo ", over $RUN_TIMEOUT s")):"
      tail -5 "$dir/$name.log" | sed 's/^/    /'
      return 0
    fi
    mv "$dir/$name.json.tmp" "$dir/$name.json"
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("  %s on %s: %.1f tokens/s, %.2f tokens/step, %.3f ms/step" % (r["mode"], r["device"], r["tokensPerSecond"], r["tokensPerStep"], r["stepMs"]))' "$dir/$name.json"
  }
  redrafter=(--mode redrafter --drafter "$dir/drafter" --beam-width "$BEAM_WIDTH" --beam-length "$BEAM_LENGTH")
  run cpu-ar --mode cpu-ar --gaps
  run ar --mode ar --gaps
  run redrafter "${redrafter[@]}"
  run redrafter-b4 "${redrafter[@]}" --batch 4
  run redrafter-nographs "${redrafter[@]}" --no-graphs
  run ar-b4 --mode ar --batch 4 --gaps
  python3 - "$dir" <<'EOF'
import json, os, sys
d = sys.argv[1]
def load(n):
    p = f"{d}/{n}.json"
    return json.load(open(p)) if os.path.exists(p) else None
def compare(name, ref, got, tolerance=1e-2):
    if ref is None or got is None:
        print(f"FAIL {name}: a run is missing (see its FAILED line above)")
        return False
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

#!/usr/bin/env bash
# The H100 proof of issue 16, on the GPU machine (no Node, no network; docs/gpu.md "Running the H100 proof").
#
#   bash bench/gpu/run.sh step1      build (CMake, REDRAFTER_CUDA=ON, sm_90, -j16, target redrafter-gpu-bench), the
#                                    device facts and copy rate, the TinyLlama-1.1B-shape model + drafter, its runs
#                                    (GPU AR and ReDrafter at batch 1 and 16, CPU-engine AR), the token checks
#   bash bench/gpu/run.sh step2      llama.cpp CUDA build (the peer), the Llama-3-8B-shape model + drafter, its runs
#                                    and token checks, llama-bench on both models, the table
#   bash bench/gpu/run.sh all        both
# Finer steps, to repeat what a stretch of GPU time did not finish: build, facts, 1b, peer, 8b, report.
# Every step does what it needs that is not done yet (a fresh machine rebuilds) and skips the runs whose result is
# already there (REDO=1 runs them again). Each step ends with the table for bench/RESULTS.md.
#
# Environment: WORK (default /tmp/redrafter-gpu: builds, models, results), OUT (where the call's files go back:
# run-<step>.log, results-<step>.tar.gz, table.md, targets.json), JOBS (default: all cores), REPEATS (3),
# MAX_TOKENS (128), BEAM_WIDTH/BEAM_LENGTH (1/8), DEVICE (0), RUN_TIMEOUT (seconds per harness run, 300),
# MODELS (the stories260K fixture folder, default .dev/models), REDO.
set -Eeuo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
step=${1:-}
case "$step" in step1|step2|all|build|facts|1b|peer|8b|report) ;; *)
  echo "usage: bash bench/gpu/run.sh step1|step2|all|build|facts|1b|peer|8b|report" >&2; exit 2 ;;
esac
WORK=${WORK:-/tmp/redrafter-gpu}
JOBS=${JOBS:-$(nproc)}
REPEATS=${REPEATS:-3}
MAX_TOKENS=${MAX_TOKENS:-128}
BEAM_WIDTH=${BEAM_WIDTH:-1}
BEAM_LENGTH=${BEAM_LENGTH:-8}
DEVICE=${DEVICE:-0}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}
MODELS=${MODELS:-$root/.dev/models}
PROMPTS=$root/bench/gpu/prompts.txt
results=$WORK/results
logs=$WORK/logs
mkdir -p "$results/1b" "$results/8b" "$logs"
log=$logs/run-$step.log
exec > >(tee -a "$log") 2>&1
tee_pid=$!
started=$SECONDS
say() { printf '[%4ds] %s\n' $((SECONDS - started)) "$*"; }
trap 'say "run.sh: stopped: line $LINENO exited $?: $BASH_COMMAND"' ERR

bundle() {  # the files that go back from the device ($OUT): at most 8
  peer_build_wait
  [ -n "${OUT:-}" ] || return 0
  exec 1>&- 2>&-  # let tee write the log out before it is copied
  wait "$tee_pid" 2>/dev/null || true
  mkdir -p "$OUT"
  python3 "$root/bench/gpu/report.py" "$results" --json "$OUT/targets.json" > "$OUT/table.md" 2>/dev/null || true
  tar -czf "$OUT/results-$step.tar.gz" -C "$WORK" results logs 2>/dev/null || true
  cp "$log" "$OUT/run-$step.log" 2>/dev/null || true
}
trap bundle EXIT

# ---- the project's build (plain CMake: the top CMakeLists.txt builds the Node addon only under cmake-js) ---------
bench_bin=""
sources_stamp() {  # the C++/CUDA/CMake sources by content (a copied tree has new times, which would rebuild all)
  local d dirs=()
  for d in CMakeLists.txt cmake native plugins tools test/cpp; do [ -e "$root/$d" ] && dirs+=("$d"); done
  (cd "$root" && find "${dirs[@]}" -type f \( -name '*.cpp' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \
    -o -name '*.hpp' -o -name 'CMakeLists.txt' -o -name '*.cmake' \) | LC_ALL=C sort | xargs -r sha1sum | sha1sum |
    cut -c1-40)
}
build() {
  bench_bin=$(find "$WORK/build" -name redrafter-gpu-bench -type f -perm -u+x 2>/dev/null | head -1 || true)
  local stamp
  stamp=$(sources_stamp)
  if [ -n "$bench_bin" ] && [ "$(cat "$WORK/build/redrafter-sources.sha1" 2>/dev/null)" = "$stamp" ] &&
     [ "${REBUILD:-0}" != 1 ]; then say "build: $bench_bin is built from these sources"; return; fi
  # shellcheck source=cuda_env.sh
  source "$root/bench/gpu/cuda_env.sh"
  say "build: configuring (REDRAFTER_CUDA=ON, sm_90)"
  cmake -S "$root" -B "$WORK/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DREDRAFTER_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DREDRAFTER_TESTS=OFF -DREDRAFTER_TENSORRT=OFF -DREDRAFTER_TRTLLM=OFF \
    "${CUDA_CMAKE_HINTS[@]}" > "$logs/build-configure.log" 2>&1 || { tail -40 "$logs/build-configure.log"; exit 1; }
  say "build: ninja -j$JOBS redrafter-gpu-bench"
  ninja -C "$WORK/build" -j "$JOBS" redrafter-gpu-bench > "$logs/build.log" 2>&1 ||
    { grep -m20 -B2 -A8 -i 'error' "$logs/build.log" | head -120; exit 1; }
  bench_bin=$(find "$WORK/build" -name redrafter-gpu-bench -type f -perm -u+x | head -1)
  [ -n "$bench_bin" ] || { say "build: no redrafter-gpu-bench was built"; exit 1; }
  echo "$stamp" > "$WORK/build/redrafter-sources.sha1"
  say "build: done ($bench_bin)"
}

# ---- device facts and the copy rate the bandwidth limit is measured against ---------------------------------------
facts() {
  if [ -f "$results/device.json" ] && [ -f "$results/bandwidth.json" ] && [ "${REDO:-0}" != 1 ]; then return; fi
  say "facts: device, toolchain, device-to-device copy rate"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv,noheader || true
  { nvcc --version | tail -1; cmake --version | head -1; ninja --version; } || true
  python3 - "$results" <<'EOF'
import json, subprocess, sys, time
out = sys.argv[1]
q = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                   capture_output=True, text=True).stdout.strip().split("\n")[0].split(", ")
dev = {"name": q[0] if q else "?", "driver": q[1] if len(q) > 1 else None, "memory": q[2] if len(q) > 2 else None,
       "date": time.strftime("%Y-%m-%d")}
json.dump(dev, open(f"{out}/device.json", "w"))
import torch
n = 4 << 30  # 4 GiB copied device to device; the rate counts the bytes read and written (2n)
a = torch.empty(n, dtype=torch.uint8, device="cuda")
b = torch.empty_like(a)
for _ in range(3):
    b.copy_(a)
torch.cuda.synchronize()
times = []
for _ in range(20):
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record(); b.copy_(a); e.record(); e.synchronize()
    times.append(s.elapsed_time(e) / 1e3)
times.sort()
t = times[len(times) // 2]
bw = {"bytes": 2 * n, "seconds": t, "bytesPerSecond": 2 * n / t, "method": "torch device-to-device copy of 4 GiB, "
      "median of 20 (bytes read + written)", "torch": torch.__version__}
json.dump(bw, open(f"{out}/bandwidth.json", "w"))
print(f"facts: {dev['name']}, driver {dev['driver']}; copy rate {bw['bytesPerSecond'] / 1e12:.2f} TB/s")
EOF
}

# ---- models -------------------------------------------------------------------------------------------------------
models() {  # models 1b|8b
  local shape=$1 name
  name=$([ "$1" = 1b ] && echo tinyllama || echo llama3-8b)
  if [ -f "$WORK/models/$shape/model-f16.gguf" ] && [ -f "$WORK/models/$shape/drafter/model.safetensors" ] &&
     [ -f "$results/$shape/model.json" ]; then say "models $shape: there"; return; fi
  for f in stories260K.bin tok512.bin; do
    [ -f "$MODELS/$f" ] || { echo "run.sh: $MODELS/$f is missing: copy the stories260K fixture into .dev/models before the call (docs/gpu.md)" >&2; exit 2; }
  done
  say "models $shape: expanding stories260K and its drafter to the $name shape (f16)"
  python3 "$root/bench/gpu/expand_model.py" --shape "$name" --out "$WORK/models/$shape" --types f16 \
    --source "$MODELS/stories260K.bin" --tokenizer "$MODELS/tok512.bin" --drafter "$root/models/stories260K-drafter" \
    > "$results/$shape/model.json.tmp" 2> "$logs/expand-$shape.log" || { tail -5 "$logs/expand-$shape.log"; exit 1; }
  mv "$results/$shape/model.json.tmp" "$results/$shape/model.json"
  say "models $shape: $(python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print(f\"{m['parameters']/1e9:.2f} B parameters, {m['weightBytes']['f16']/1e9:.2f} GB read per token, head size {m['headDim']}\")" "$results/$shape/model.json")"
}

# ---- harness runs -------------------------------------------------------------------------------------------------
harness() {  # harness SHAPE NAME MODE BATCH REPEATS [--gaps]
  local shape=$1 name=$2 mode=$3 batch=$4 repeats=$5; shift 5
  local out=$results/$shape/$name.json
  if [ -f "$out" ] && [ "${REDO:-0}" != 1 ]; then say "$shape $name: done before"; summary "$out" "$shape $name"; return 0; fi
  local args=(--model "$WORK/models/$shape/model-f16.gguf" --prompts "$PROMPTS" --max-tokens "$MAX_TOKENS"
              --batch "$batch" --mode "$mode" --repeats "$repeats" --device "$DEVICE" "$@")
  [ "$mode" = redrafter ] && args+=(--drafter "$WORK/models/$shape/drafter" --beam-width "$BEAM_WIDTH" --beam-length "$BEAM_LENGTH")
  say "$shape $name: redrafter-gpu-bench ${args[*]}"
  local rc=0
  timeout "$RUN_TIMEOUT" "$bench_bin" "${args[@]}" > "$out.tmp" 2> "$logs/$shape-$name.err" || rc=$?
  if [ $rc -ne 0 ] || ! python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$out.tmp" 2>/dev/null; then
    say "$shape $name: FAILED (exit $rc$([ $rc = 124 ] && echo ", over ${RUN_TIMEOUT} s")); last lines:"
    tail -8 "$logs/$shape-$name.err"; mv "$out.tmp" "$logs/$shape-$name.stdout"; return 1
  fi
  mv "$out.tmp" "$out"
  summary "$out" "$shape $name"
}

summary() {
  python3 - "$1" "$2" <<'EOF' || true
import json, sys
r = json.load(open(sys.argv[1]))
f = lambda k, d=1: "n/a" if not isinstance(r.get(k), (int, float)) else f"{r[k]:.{d}f}"
print(f"    {sys.argv[2]}: {f('tokensPerSecond')} tok/s, {f('tokensPerStep', 2)} tok/step, step {f('stepMs', 3)} ms, "
      f"prefill {f('prefillMs', 2)} ms, device {r.get('device', '?')}")
EOF
}

check() {  # check SHAPE NAME REFERENCE CANDIDATE
  local shape=$1 name=$2 ref=$results/$1/$3.json cand=$results/$1/$4.json
  if [ ! -f "$ref" ] || [ ! -f "$cand" ]; then say "$shape $name: not checked ($3 or $4 missing)"; return 0; fi
  say "$shape $name: tokens of $4 against $3"
  python3 "$root/bench/gpu/compare.py" "$ref" "$cand" --json "$results/$shape/$name.json" || true
}

shape_runs() {  # shape_runs 1b|8b
  local shape=$1 failed=0
  models "$shape"
  # the references first (one repeat, with the top-2 gaps), then the timed runs
  harness "$shape" ar-b1-gaps ar 1 1 --gaps || failed=1
  harness "$shape" ar-b1 ar 1 "$REPEATS" || failed=1
  harness "$shape" redrafter-b1 redrafter 1 "$REPEATS" || failed=1
  harness "$shape" ar-b16 ar 16 "$REPEATS" || failed=1
  harness "$shape" redrafter-b16 redrafter 16 "$REPEATS" || failed=1
  if [ "$shape" = 1b ]; then
    # the GPU is timed; the CPU engine's run only gives tokens, so llama.cpp's build (step 2's longest part) may
    # share the CPU with it when its source was carried
    [ "${PEER_BUILD_EARLY:-1}" = 1 ] && [ -f "$root/.dev/llama.cpp-src/CMakeLists.txt" ] && peer_build_start
    harness "$shape" cpu-ar-gaps cpu-ar 1 1 --gaps || failed=1
  fi
  check "$shape" compare-redrafter-b1 ar-b1-gaps redrafter-b1
  check "$shape" compare-redrafter-b16 ar-b1-gaps redrafter-b16
  check "$shape" compare-ar-b16 ar-b1-gaps ar-b16
  check "$shape" compare-ar-b1-repeat ar-b1-gaps ar-b1
  [ "$shape" = 1b ] && check "$shape" compare-gpu-ar-vs-cpu cpu-ar-gaps ar-b1-gaps
  return $failed
}

peer_pid=""
peer_build_start() {
  say "peer: llama.cpp CUDA build started in the background (nice 10, -j$JOBS; log $logs/peer-build.log)"
  ( JOBS=$JOBS nice -n 10 bash "$root/bench/gpu/llama_cpp_peer.sh" build > "$logs/peer-build.log" 2>&1 ) &
  peer_pid=$!
}
peer_build_wait() {
  [ -n "$peer_pid" ] || return 0
  say "peer: waiting for the llama.cpp build"
  if wait "$peer_pid"; then say "peer: $(tail -1 "$logs/peer-build.log")"; else say "peer: build FAILED:"; tail -20 "$logs/peer-build.log"; fi
  peer_pid=""
}

peer() {
  peer_build_wait
  say "peer: llama.cpp CUDA build (sm_90, -j$JOBS)"
  JOBS=$JOBS bash "$root/bench/gpu/llama_cpp_peer.sh" build
  for shape in 1b 8b; do
    models "$shape"
    if [ -f "$results/$shape/llama-cpp.json" ] && [ "${REDO:-0}" != 1 ]; then say "peer $shape: done before"; continue; fi
    say "peer $shape: llama-bench -p 0 -n 128"
    bash "$root/bench/gpu/llama_cpp_peer.sh" bench "$WORK/models/$shape/model-f16.gguf" "$results/$shape/llama-cpp.json" ||
      say "peer $shape: FAILED"
  done
}

report() {
  say "report: the table for bench/RESULTS.md"
  python3 "$root/bench/gpu/report.py" "$results"
}

python3 - "$results/settings.json" "$PROMPTS" "$MAX_TOKENS" "$BEAM_WIDTH" "$BEAM_LENGTH" "$REPEATS" <<'EOF'
import json, sys
path, prompts, tokens, w, l, repeats = sys.argv[1:7]
n = sum(1 for line in open(prompts) if line.strip())
json.dump({"prompts": n, "maxTokens": int(tokens), "beamWidth": int(w), "beamLength": int(l), "repeats": int(repeats)},
          open(path, "w"))
EOF
status=0
case "$step" in
  build) build ;;
  facts) facts ;;
  1b) build; facts; shape_runs 1b || status=1; peer_build_wait; report ;;
  8b) build; facts; PEER_BUILD_EARLY=0 shape_runs 8b || status=1; report ;;
  peer) facts; peer; report ;;
  report) report ;;
  step1) build; facts; shape_runs 1b || status=1; peer_build_wait; report ;;
  step2) build; facts; peer; shape_runs 8b || status=1; report ;;
  all) build; facts; shape_runs 1b || status=1; peer; shape_runs 8b || status=1; report ;;
esac
say "$step: finished$([ $status = 0 ] || echo ' (some runs failed: see above)')"
exit $status

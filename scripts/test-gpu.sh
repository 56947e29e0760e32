#!/usr/bin/env bash
# npm run test:gpu (scripts/test-gpu.mjs runs this; machines without node run it directly):
# builds native/cuda with CMake + nvcc for this GPU, times the PyTorch versions of the operators where torch
# with CUDA is installed (scripts/gpu_torch_reference.py), then runs redrafter_gpu_check: every kernel against
# its CPU reference on fresh random inputs, timed, and the table. Exit code 0 only when every check passed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/cuda/bin"
build=${REDRAFTER_GPU_BUILD:-build-gpu}
if [ -z "${CUDA_ARCH:-}" ]; then
  CUDA_ARCH=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .' || true)
  [ -n "$CUDA_ARCH" ] || CUDA_ARCH="80;90"
fi
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv,noheader || true
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
t0=$(date +%s)
cmake -S . -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DREDRAFTER_CUDA=ON -DREDRAFTER_TENSORRT=OFF \
  -DREDRAFTER_TRTLLM=OFF -DREDRAFTER_TESTS=OFF -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH" >"$build.configure.log" 2>&1 \
  || { cat "$build.configure.log"; exit 1; }
cmake --build "$build" --target redrafter_gpu_check -j "$(nproc)"
echo "build: $(( $(date +%s) - t0 )) s (sm_$CUDA_ARCH)"

torch_times=$(mktemp)
if python3 -c 'import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  t0=$(date +%s)
  if timeout 180 python3 scripts/gpu_torch_reference.py >"$torch_times"; then
    echo "PyTorch $(python3 -c 'import torch; print(torch.__version__)') baseline: $(( $(date +%s) - t0 )) s"
    export REDRAFTER_TORCH_TIMES="$torch_times"
  else
    echo "PyTorch baseline failed; its column stays n/a"
  fi
else
  echo "PyTorch with CUDA not installed; its column stays n/a"
fi
exe=$(find "$build" -name redrafter_gpu_check -type f | head -1)
status=0
if [ "${REDRAFTER_GPU_PROFILE:-0}" = 1 ]; then
  # Nsight Compute over the timed launches only (gpu_check's profile mode: each once, in an NVTX range named for its
  # case): the full report to $REDRAFTER_GPU_PROFILE_DIR (default: the build folder), a one-line-per-launch summary
  # here. The checks still run and decide the exit code; the times printed are not measurements in this mode.
  ncu_bin=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1 || true)
  if [ -z "$ncu_bin" ]; then
    echo "REDRAFTER_GPU_PROFILE=1: ncu (Nsight Compute) not found; running the check without it"
    "$exe" || status=$?
  else
    dir=${REDRAFTER_GPU_PROFILE_DIR:-$build}
    mkdir -p "$dir"
    REDRAFTER_GPU_PROFILE=1 "$ncu_bin" --profile-from-start off --nvtx --set detailed -f -o "$dir/redrafter-profile" \
      "$exe" || status=$?
    metrics=gpu__time_duration.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,sm__throughput.avg.pct_of_peak_sustained_elapsed,sm__warps_active.avg.pct_of_peak_sustained_active,launch__registers_per_thread,launch__grid_size,launch__block_size
    "$ncu_bin" -i "$dir/redrafter-profile.ncu-rep" --page raw --csv --metrics "$metrics" >"$dir/redrafter-profile.csv" \
      && cut -c1-240 "$dir/redrafter-profile.csv" || echo "ncu summary failed (the report is $dir/redrafter-profile.ncu-rep)"
    "$ncu_bin" -i "$dir/redrafter-profile.ncu-rep" --page details --print-nvtx-rename kernel >"$dir/redrafter-profile.txt" 2>&1 \
      || "$ncu_bin" -i "$dir/redrafter-profile.ncu-rep" --page details >"$dir/redrafter-profile.txt" 2>&1 || true
    echo "Nsight Compute report: $dir/redrafter-profile.ncu-rep, details $dir/redrafter-profile.txt"
  fi
  exit $status
fi
"$exe" || status=$?
# TENSORRT_INCLUDE=<TensorRT include/ folder(s)>: the plugins' host check, whose GPU cases run each plugin's enqueue
# against its launcher on this device (the headers travel with the tree, e.g. in an ignored .dev/ folder)
if [ -n "${TENSORRT_INCLUDE:-}" ]; then
  echo "TensorRT plugins on this GPU (scripts/check-trt-plugins.sh RUN=1):"
  plugin_status=0
  CUDA_ARCH="$CUDA_ARCH" CUDA_OBJ_DIR="$build/trt-plugin-obj" RUN=1 bash scripts/check-trt-plugins.sh \
    >"$build/trt-plugins.log" 2>&1 || plugin_status=$?
  grep -v '^  ok   TensorRT' "$build/trt-plugins.log" | tail -12
  [ $plugin_status = 0 ] || status=1
fi
# REDRAFTER_GPU_SANITIZE=1: the small correctness cases again under compute-sanitizer (out-of-bounds accesses)
if [ "${REDRAFTER_GPU_SANITIZE:-0}" = 1 ] && command -v compute-sanitizer >/dev/null; then
  echo "compute-sanitizer memcheck (quick cases):"
  REDRAFTER_GPU_QUICK=1 timeout 150 compute-sanitizer --tool memcheck --error-exitcode 3 "$exe" | tail -4 || status=$?
fi
exit $status

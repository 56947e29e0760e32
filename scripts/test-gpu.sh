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
"$exe" || status=$?
# REDRAFTER_GPU_SANITIZE=1: the small correctness cases again under compute-sanitizer (out-of-bounds accesses)
if [ "${REDRAFTER_GPU_SANITIZE:-0}" = 1 ] && command -v compute-sanitizer >/dev/null; then
  echo "compute-sanitizer memcheck (quick cases):"
  REDRAFTER_GPU_QUICK=1 timeout 150 compute-sanitizer --tool memcheck --error-exitcode 3 "$exe" | tail -4 || status=$?
fi
exit $status

#!/usr/bin/env bash
# Compiles every CUDA source in native/cuda with the installed nvcc for sm_80 and sm_90, warnings as errors
# (nvcc's and the host compiler's). No GPU needed. CI runs it where nvcc exists (.ci/run).
# Usage: scripts/check-cuda.sh            (NVCC=/path/to/nvcc and JOBS=N to override)
set -euo pipefail
cd "$(dirname "$0")/.."
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
JOBS=${JOBS:-2}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
flags=(-std=c++17 -O3 -Inative -Inative/cuda
       -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90
       -Werror all-warnings -Xcompiler -Wall,-Wextra,-Wno-unused-parameter,-Werror)
echo "check-cuda: $("$NVCC" --version | tail -1)"
start=$(date +%s)
status=0
printf '%s\n' native/cuda/*.cu | xargs -P "$JOBS" -I{} sh -c \
  '"$0" "$@" -c {} -o "'"$out"'/$(basename {}).o" && echo "  ok {}"' "$NVCC" "${flags[@]}" || status=$?
# the headers the launchers expose must compile as plain C++ (no nvcc) too
CUDA_INC=${CUDA_INC:-$(ls -d "$(dirname "$(readlink -f "$NVCC")")/../include" /usr/local/cuda/include /usr/local/cuda-*/include 2>/dev/null | while read -r d; do [ -f "$d/cuda_runtime_api.h" ] && echo "$d" && break; done)}
for h in native/cuda/*.h; do
  echo "#include \"$h\"" | g++ -std=c++17 -Wall -Wextra -Werror -I. -Inative -I"$CUDA_INC" \
    -x c++ -fsyntax-only - || { echo "  FAIL $h (plain C++)"; status=1; }
done
echo "check-cuda: $([ $status = 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - start )) s"
exit $status

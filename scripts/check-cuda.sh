#!/usr/bin/env bash
# Compiles every CUDA source in native/cuda with the installed nvcc for sm_80 and sm_90, warnings as errors
# (nvcc's and the host compiler's). No GPU needed. CI runs it where nvcc exists (.ci/run).
# Usage: scripts/check-cuda.sh            (NVCC=/path/to/nvcc and JOBS=N to override)
#        BUILD_DIR=build-cmake scripts/check-cuda.sh
#   reuses a CMake build that already compiled native/cuda for sm_80 and sm_90 with the same flags (the cmake-js build
#   of `npm ci` does, where nvcc exists): it builds the GPU check's driver there instead of compiling every kernel again.
set -euo pipefail
cd "$(dirname "$0")/.."
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
JOBS=${JOBS:-2}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
base=(-std=c++17 -O3 -Inative -Inative/cuda -Werror all-warnings -Xcompiler -Wall,-Wextra,-Wno-unused-parameter,-Werror)
flags=("${base[@]}" -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90)
echo "check-cuda: $("$NVCC" --version | tail -1)"
start=$(date +%s)
status=0
both_archs() {  # the build compiles native/cuda for sm_80 and sm_90
  local f="$1/build.ninja"
  [ -f "$f" ] || f="$1/native/cuda/CMakeFiles/redrafter_cuda_kernels.dir/flags.make"
  [ -f "$f" ] && grep -q 'arch=compute_80,code=\[compute_80,sm_80\]' "$f" && grep -q 'arch=compute_90,code=\[compute_90,sm_90\]' "$f"
}
if [ -n "${BUILD_DIR:-}" ] && both_archs "$BUILD_DIR"; then
  # the kernels as that build compiled them (same -O3 and warnings-as-errors flags: native/cuda/CMakeLists.txt), and
  # the GPU check's driver with them
  engine=()
  grep -q redrafter_cuda_engine "$BUILD_DIR/build.ninja" 2>/dev/null && engine=(redrafter_cuda_engine)
  cmake --build "$BUILD_DIR" --target redrafter_cuda redrafter_gpu_check "${engine[@]}" -j "$JOBS" >"$out/build.log" 2>&1 \
    && echo "  ok native/cuda/*.cu, gpu_check.cu${engine:+ and native/cuda/engine} (sm_80, sm_90; built in $BUILD_DIR)" \
    || { cat "$out/build.log"; echo "  FAIL the CUDA targets of $BUILD_DIR"; status=1; }
else
  # the kernels for both architectures; the GPU check's driver (host code + one small kernel) for sm_90 only
  printf '%s\n' native/cuda/*.cu native/cuda/engine/*.cu | grep -v gpu_check | xargs -P "$JOBS" -I{} sh -c \
    '"$0" "$@" -c {} -o "'"$out"'/$(basename {}).o" && echo "  ok {} (sm_80, sm_90)"' "$NVCC" "${flags[@]}" || status=$?
  "$NVCC" "${base[@]}" -gencode arch=compute_90,code=sm_90 -c native/cuda/gpu_check.cu -o "$out/gpu_check.o" \
    && echo "  ok native/cuda/gpu_check.cu (sm_90)" || status=1
fi
CUDA_INC=${CUDA_INC:-$(ls -d "$(dirname "$(readlink -f "$NVCC")")/../include" /usr/local/cuda/include /usr/local/cuda-*/include 2>/dev/null | while read -r d; do [ -f "$d/cuda_runtime_api.h" ] && echo "$d" && break; done)}
# the launchers' plain C++ sources (validation and error messages), and the headers they expose, with g++ alone
for f in native/cuda/*.cpp; do
  g++ -std=c++17 -Wall -Wextra -Werror -Inative -Inative/cuda -I"$CUDA_INC" -c "$f" -o "$out/$(basename "$f").o" \
    && echo "  ok $f (g++)" || { echo "  FAIL $f (g++)"; status=1; }
done
# the CUDA engine's plain C++ (needs cuBLAS headers: CUBLAS_INC, else the pip wheel's or the toolkit's)
CUBLAS_INC=${CUBLAS_INC:-$(python3 -c "import site; print('\n'.join(site.getsitepackages()+[site.getusersitepackages()]))" 2>/dev/null \
  | while read -r d; do for s in nvidia/cu13/include nvidia/cublas/include; do [ -f "$d/$s/cublas_api.h" ] && echo "$d/$s" && break 2; done; done || true)}
[ -n "$CUBLAS_INC" ] || { [ -f "$CUDA_INC/cublas_api.h" ] && CUBLAS_INC=$CUDA_INC; }
if [ -n "$CUBLAS_INC" ]; then
  for f in native/cuda/engine/*.cpp; do
    g++ -std=c++17 -Wall -Wextra -Wno-unused-parameter -Werror -Inative -Inative/cuda -I"$CUDA_INC" -I"$CUBLAS_INC" \
      -fsyntax-only "$f" && echo "  ok $f (g++)" || { echo "  FAIL $f (g++)"; status=1; }
  done
else
  echo "  skip native/cuda/engine/*.cpp: no cuBLAS headers (pip install nvidia-cublas)"
fi
for h in native/cuda/*.h; do
  echo "#include \"$h\"" | g++ -std=c++17 -Wall -Wextra -Werror -I. -Inative -I"$CUDA_INC" \
    -x c++ -fsyntax-only - || { echo "  FAIL $h (plain C++)"; status=1; }
done
echo "check-cuda: $([ $status = 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - start )) s"
exit $status

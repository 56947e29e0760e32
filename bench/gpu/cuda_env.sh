# Sourced by bench/gpu/run.sh and bench/gpu/llama_cpp_peer.sh: where the CUDA pieces that CMake's FindCUDAToolkit
# may miss are. Sets CUDA_CMAKE_HINTS (an array of -D options for cmake) and extends LD_LIBRARY_PATH so that what was
# linked against a pip wheel's libcublas also finds it at run time. Prints one line saying what it found.
#   cuBLAS: the CUDA toolkit's own when it has one, else the nvidia-cublas wheel of python3 (machines whose toolkit
#           lacks cuBLAS, like the development machines, get it from pip; the H100 image ships the wheel).
#   libcuda: the toolkit's stub or the driver's library (CUDA::cuda_driver, which llama.cpp links).
CUDA_CMAKE_HINTS=()
_cuda_nvcc=$(command -v nvcc || true)
_cuda_dirs=()
for _d in "${CUDA_HOME:-}" "${CUDA_PATH:-}" /usr/local/cuda "$(dirname "$(dirname "$(readlink -f "${_cuda_nvcc:-/nonexistent}")")")"; do
  [ -n "$_d" ] && [ -d "$_d" ] && _cuda_dirs+=("$_d/lib64" "$_d/lib" "$_d/targets/x86_64-linux/lib" "$_d/lib64/stubs" "$_d/targets/x86_64-linux/lib/stubs")
done
_cuda_find() {  # _cuda_find NAME: the first DIR/NAME* among the toolkit folders
  local d f
  for d in "${_cuda_dirs[@]}"; do
    for f in "$d/$1" "$d/$1".*; do [ -e "$f" ] && { echo "$f"; return 0; }; done
  done
  return 1
}
_cuda_note=""
if _cuda_find libcublas.so >/dev/null; then
  _cuda_note="cuBLAS: the toolkit's ($(_cuda_find libcublas.so))"
else
  _cuda_wheel=$(python3 - <<'EOF' 2>/dev/null
import glob, os, site
dirs = site.getsitepackages() + [site.getusersitepackages()]
for d in dirs:
    hits = sorted(glob.glob(os.path.join(d, "nvidia", "**", "libcublas.so*"), recursive=True))
    if hits:
        print(os.path.dirname(hits[0]))
        break
EOF
  )
  if [ -n "$_cuda_wheel" ]; then
    _cuda_inc=$(dirname "$_cuda_wheel")/include
    _cublas=$(ls "$_cuda_wheel"/libcublas.so* | head -1)
    _cublaslt=$(ls "$_cuda_wheel"/libcublasLt.so* | head -1)
    CUDA_CMAKE_HINTS+=("-DCUDA_cublas_LIBRARY=$_cublas" "-DCUDA_cublasLt_LIBRARY=$_cublaslt"
                       "-DCMAKE_CUDA_FLAGS=-I$_cuda_inc" "-DCMAKE_CXX_FLAGS=-I$_cuda_inc" "-DCMAKE_C_FLAGS=-I$_cuda_inc")
    export LD_LIBRARY_PATH="$_cuda_wheel${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    _cuda_note="cuBLAS: the pip wheel's ($_cuda_wheel)"
  else
    _cuda_note="cuBLAS: NOT FOUND (neither the toolkit nor a python3 nvidia-cublas wheel has libcublas)"
  fi
fi
if ! _cuda_find libcuda.so >/dev/null; then
  for _f in /usr/lib/x86_64-linux-gnu/libcuda.so /usr/lib/x86_64-linux-gnu/libcuda.so.1 /usr/lib64/libcuda.so.1 \
            /usr/local/nvidia/lib64/libcuda.so.1 /usr/local/nvidia/lib/libcuda.so.1 \
            "$(ldconfig -p 2>/dev/null | awk '/libcuda\.so\.1 /{print $NF; exit}')"; do
    if [ -n "$_f" ] && [ -e "$_f" ]; then CUDA_CMAKE_HINTS+=("-DCUDA_cuda_driver_LIBRARY=$_f"); _cuda_note="$_cuda_note; libcuda: $_f"; break; fi
  done
fi
echo "cuda_env: nvcc ${_cuda_nvcc:-NOT FOUND}; $_cuda_note"
unset _d _f _cuda_nvcc _cuda_dirs _cuda_wheel _cuda_inc _cublas _cublaslt _cuda_note

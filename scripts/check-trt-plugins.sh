#!/usr/bin/env bash
# Compiles the TensorRT plugins (plugins/*.cpp) against one or more TensorRT public include/ folders, with
# warnings as errors: no TensorRT installation or GPU needed. The headers are never committed: take them from
# the NVIDIA/TensorRT repository into a temporary folder, e.g.
#   git --git-dir=<TensorRT clone>/.git archive v10.16 include | tar -x -C /tmp/trt-10
#   git --git-dir=<TensorRT clone>/.git archive v11.1 include | tar -x -C /tmp/trt-11
#   TENSORRT_INCLUDE="/tmp/trt-10/include /tmp/trt-11/include" scripts/check-trt-plugins.sh
# or let the script do that: TENSORRT_GIT=<TensorRT clone or bare git dir> TENSORRT_TAGS="v10.16 v11.1" scripts/check-trt-plugins.sh
# With LINK=1 it also builds libredrafter_trt_plugins.so (with nvcc's objects of native/cuda) against the first
# include folder and checks that it exports getCreators. With RUN=1 (implies LINK=1) it also builds and runs
# test/cpp/plugins/plugin_checks_test.cpp against the same objects: the plugins' attribute and shape checks and their
# logged messages, on the host (no GPU, no TensorRT library: only its headers). CUDA_OBJ_DIR=<folder> keeps nvcc's
# objects there between runs (rebuilt when a file in native/cuda is newer); CUDA_ARCH=80 builds them for sm_80 (default
# 90). Where a GPU is present, RUN=1 also runs each plugin's enqueue against its launcher on the device
# (scripts/test-gpu.sh does that when TENSORRT_INCLUDE names the headers).
set -euo pipefail
cd "$(dirname "$0")/.."
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
CUDA_INC=${CUDA_INC:-$(ls -d "$(dirname "$(readlink -f "$NVCC")")/../include" /usr/local/cuda/include /usr/local/cuda-*/include 2>/dev/null | while read -r d; do [ -f "$d/cuda_runtime_api.h" ] && echo "$d" && break; done)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
includes=(${TENSORRT_INCLUDE:-})
if [ -n "${TENSORRT_GIT:-}" ]; then
  for tag in ${TENSORRT_TAGS:-}; do
    mkdir -p "$tmp/$tag"
    git --git-dir="$TENSORRT_GIT" archive "$tag" include | tar -x -C "$tmp/$tag"
    includes+=("$tmp/$tag/include")
  done
fi
[ ${#includes[@]} -gt 0 ] || { echo "check-trt-plugins: set TENSORRT_INCLUDE (or TENSORRT_GIT and TENSORRT_TAGS)" >&2; exit 2; }
status=0
for inc in "${includes[@]}"; do
  ver=$(awk '/define (TRT_(MAJOR|MINOR|PATCH)_ENTERPRISE|NV_TENSORRT_(MAJOR|MINOR|PATCH)) [0-9]/{printf "%s%s", sep, $3; sep="."}' "$inc/NvInferVersion.h" 2>/dev/null || true)
  for f in plugins/*.cpp; do
    if g++ -std=c++17 -Wall -Wextra -Werror -Wno-unused-parameter -fsyntax-only -Iplugins -Inative \
         -isystem "$inc" -isystem "$CUDA_INC" "$f"; then
      echo "  ok   TensorRT ${ver:-?} ($inc): $f"
    else
      echo "  FAIL TensorRT ${ver:-?} ($inc): $f"; status=1
    fi
  done
done
[ "${RUN:-0}" = 1 ] && LINK=1
if [ "${LINK:-0}" = 1 ] && [ $status = 0 ]; then
  objs=()
  cuda_obj=${CUDA_OBJ_DIR:-$tmp}
  arch=${CUDA_ARCH:-90}  # the kernels' architecture (the GPU the RUN=1 test's GPU cases run on, where there is one)
  arch=${arch%%;*}
  mkdir -p "$cuda_obj"
  for f in native/cuda/{beam_search,beam_search_cluster,build_tree,tree_attention,accept_commit}.cu; do
    o="$cuda_obj/$(basename "$f").o"
    if [ ! -f "$o" ] || [ -n "$(find native/cuda -newer "$o" -print -quit)" ]; then
      "$NVCC" -std=c++17 -O3 -Xcompiler -fPIC -Inative -gencode "arch=compute_$arch,code=sm_$arch" -c "$f" -o "$o"
    fi
    objs+=("$o")
  done
  for f in native/cuda/*.cpp plugins/*.cpp; do
    g++ -std=c++17 -O2 -fPIC -fvisibility=hidden -Wall -Wextra -Werror -Wno-unused-parameter -Iplugins -Inative \
      -isystem "${includes[0]}" -isystem "$CUDA_INC" -c "$f" -o "$tmp/$(basename "$f").o"
    objs+=("$tmp/$(basename "$f").o")
  done
  g++ -shared -o "$tmp/libredrafter_trt_plugins.so" "${objs[@]}" -L"$CUDA_INC/../lib64" -lcudart -Wl,--no-undefined
  nm -D --defined-only "$tmp/libredrafter_trt_plugins.so" | grep -q ' T getCreators$' && echo "  ok   libredrafter_trt_plugins.so links and exports getCreators" || { echo "  FAIL getCreators not exported"; status=1; }
  if [ "${RUN:-0}" = 1 ] && [ $status = 0 ]; then
    # the host check: the same objects (the library's entry points included) with doctest's main
    # doctest from the system, or DOCTEST_INCLUDE=<folder holding doctest/doctest.h> (machines without doctest-dev)
    doctest_inc=()
    [ -n "${DOCTEST_INCLUDE:-}" ] && doctest_inc=(-isystem "$DOCTEST_INCLUDE")
    for f in test/cpp/plugins/plugin_checks_test.cpp test/cpp/main.cpp; do
      g++ -std=c++17 -O1 -Wall -Wextra -Werror -Wno-unused-parameter -Iplugins -Inative "${doctest_inc[@]}" \
        -isystem "${includes[0]}" -isystem "$CUDA_INC" -c "$f" -o "$tmp/test_$(basename "$f").o"
    done
    g++ -o "$tmp/plugin_checks_test" "$tmp/test_plugin_checks_test.cpp.o" "$tmp/test_main.cpp.o" "${objs[@]}" \
      -L"$CUDA_INC/../lib64" -lcudart -Wl,-rpath,"$(readlink -f "$CUDA_INC/../lib64")"
    if "$tmp/plugin_checks_test"; then
      echo "  ok   plugin_checks_test (TensorRT headers ${includes[0]})"
    else
      echo "  FAIL plugin_checks_test"; status=1
    fi
  fi
fi
echo "check-trt-plugins: $([ $status = 0 ] && echo passed || echo FAILED)"
exit $status

# REDRAFTER_TRTLLM: the TensorRT-LLM executor backend in native/trtllm (AUTO: built when everything below is found;
# ON: a missing piece is an error; OFF: skipped). When it cannot be built, configure prints one line saying why.
#
# Where TensorRT-LLM is looked for (TRTLLM_ROOT, environment or -D, first):
#   pip wheel / NGC container  <site-packages>/tensorrt_llm: include/, libs/libtensorrt_llm.so,
#                              libs/libnvinfer_plugin_tensorrt_llm.so, bin/executorWorker, version.py. Found without
#                              TRTLLM_ROOT through `python3` (importlib find_spec: nothing is imported).
#   source build               <TensorRT-LLM>/cpp/include, cpp/build/tensorrt_llm[/plugins]
# TensorRT's headers are found separately: the pip wheels (tensorrt, tensorrt_libs) ship no NvInferRuntime.h.
#   TENSORRT_ROOT (-D or environment; a TensorRT tar or /usr/local/tensorrt as in the NGC containers), else
#   /usr/include[/<multiarch>] (Debian/Ubuntu libnvinfer-dev).
# The release is read from tensorrt_llm/executor/version.h (generated into the include tree since 0.12) or the
# package's version.py, and must lie in native/trtllm/supported-versions.json's range.
set(REDRAFTER_TRTLLM_ENABLED OFF)
if(NOT REDRAFTER_TRTLLM STREQUAL "OFF")
  set(_trtllm_why "")
  set(_trtllm_hints $ENV{TRTLLM_ROOT} ${TRTLLM_ROOT})
  if(NOT _trtllm_hints)
    find_program(_trtllm_python NAMES python3 python)
    if(_trtllm_python)
      execute_process(
        COMMAND ${_trtllm_python} -c
                "import importlib.util, os; s = importlib.util.find_spec('tensorrt_llm'); print(os.path.dirname(s.origin) if s and s.origin else '')"
        OUTPUT_VARIABLE _trtllm_pip OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
      if(_trtllm_pip)
        set(_trtllm_hints ${_trtllm_pip})
      endif()
    endif()
  endif()
  find_path(TRTLLM_INCLUDE_DIR tensorrt_llm/executor/executor.h HINTS ${_trtllm_hints} PATH_SUFFIXES include cpp/include)
  find_library(TRTLLM_LIBRARY tensorrt_llm HINTS ${_trtllm_hints} PATH_SUFFIXES libs lib cpp/build/tensorrt_llm)
  find_path(TENSORRT_INCLUDE_DIR NvInferRuntime.h
            HINTS ${TENSORRT_ROOT} $ENV{TENSORRT_ROOT} /usr/local/tensorrt
            PATH_SUFFIXES include include/${CMAKE_LIBRARY_ARCHITECTURE})

  # The release, at build time (-DTRTLLM_VERSION=... for a header tree without version.h, as scripts/check-trtllm-compile.sh uses).
  if(NOT TRTLLM_VERSION AND TRTLLM_INCLUDE_DIR AND EXISTS ${TRTLLM_INCLUDE_DIR}/tensorrt_llm/executor/version.h)
    file(STRINGS ${TRTLLM_INCLUDE_DIR}/tensorrt_llm/executor/version.h _v REGEX "kTensorRtLlmVersion")
    string(REGEX MATCH "\"([^\"]+)\"" _m "${_v}")
    set(TRTLLM_VERSION "${CMAKE_MATCH_1}")
  endif()
  if(NOT TRTLLM_VERSION)
    foreach(_h ${_trtllm_hints})
      foreach(_f ${_h}/version.py ${_h}/tensorrt_llm/version.py)
        if(NOT TRTLLM_VERSION AND EXISTS ${_f})
          file(STRINGS ${_f} _v REGEX "__version__")
          string(REGEX MATCH "[\"']([^\"']+)[\"']" _m "${_v}")
          set(TRTLLM_VERSION "${CMAKE_MATCH_1}")
        endif()
      endforeach()
    endforeach()
  endif()

  # "1.2.0rc6.post2" -> "1.2.0.3.6" (stage: dev 0, a 1, b 2, rc 3, final 4), comparable with VERSION_LESS.
  function(_trtllm_sortable version out)
    string(REGEX MATCH "^v?([0-9]+)\\.([0-9]+)(\\.([0-9]+))?\\.?(dev|a|b|rc)?([0-9]*)" _m "${version}")
    set(_z "${CMAKE_MATCH_4}")
    if(_z STREQUAL "")
      set(_z 0)
    endif()
    set(_stage 4)
    set(_n 0)
    if(CMAKE_MATCH_5 STREQUAL "dev")
      set(_stage 0)
    elseif(CMAKE_MATCH_5 STREQUAL "a")
      set(_stage 1)
    elseif(CMAKE_MATCH_5 STREQUAL "b")
      set(_stage 2)
    elseif(CMAKE_MATCH_5 STREQUAL "rc")
      set(_stage 3)
    endif()
    if(NOT CMAKE_MATCH_6 STREQUAL "")
      set(_n ${CMAKE_MATCH_6})
    endif()
    set(${out} "${CMAKE_MATCH_1}.${CMAKE_MATCH_2}.${_z}.${_stage}.${_n}" PARENT_SCOPE)
  endfunction()
  file(READ ${CMAKE_CURRENT_SOURCE_DIR}/native/trtllm/supported-versions.json _trtllm_supported)
  string(JSON TRTLLM_FIRST_SUPPORTED GET "${_trtllm_supported}" first)
  string(JSON TRTLLM_LAST_SUPPORTED GET "${_trtllm_supported}" last)

  if(NOT TRTLLM_INCLUDE_DIR OR NOT TRTLLM_LIBRARY)
    set(_trtllm_why "TensorRT-LLM not found (set TRTLLM_ROOT to the pip package's tensorrt_llm directory or a source tree)")
  elseif(NOT TENSORRT_INCLUDE_DIR)
    set(_trtllm_why "TensorRT headers (NvInferRuntime.h) not found; the pip wheels ship none: set TENSORRT_ROOT to a TensorRT tar or install libnvinfer-dev")
  elseif(NOT TRTLLM_VERSION)
    set(_trtllm_why "cannot read the TensorRT-LLM version (no tensorrt_llm/executor/version.h under ${TRTLLM_INCLUDE_DIR}, no version.py)")
  else()
    _trtllm_sortable("${TRTLLM_VERSION}" _have)
    _trtllm_sortable("${TRTLLM_FIRST_SUPPORTED}" _first)
    _trtllm_sortable("${TRTLLM_LAST_SUPPORTED}" _last)
    if(_have VERSION_LESS _first OR _have VERSION_GREATER _last)
      set(_trtllm_why "TensorRT-LLM ${TRTLLM_VERSION} (${TRTLLM_INCLUDE_DIR}) is outside the supported ${TRTLLM_FIRST_SUPPORTED} to ${TRTLLM_LAST_SUPPORTED}")
    endif()
  endif()

  if(_trtllm_why STREQUAL "")
    set(REDRAFTER_TRTLLM_ENABLED ON)
  elseif(REDRAFTER_TRTLLM STREQUAL "ON")
    message(FATAL_ERROR "REDRAFTER_TRTLLM=ON but the TensorRT-LLM backend cannot be built: ${_trtllm_why}")
  else()
    message(STATUS "redrafter: TensorRT-LLM backend not built: ${_trtllm_why}")
  endif()
endif()
if(REDRAFTER_TRTLLM_ENABLED AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/native/trtllm/CMakeLists.txt)
  add_subdirectory(native/trtllm)
endif()

// cuBLAS, loaded at run time (dlopen) so that the CUDA module builds against headers alone and finds the library
// where the user has it: REDRAFTER_CUBLAS_PATH (a file or a directory), the CUDA toolkit ($CUDA_HOME, $CUDA_PATH,
// /usr/local/cuda, the toolkit the module was built with), the pip wheel nvidia-cublas (the one found at build
// time, $VIRTUAL_ENV's and the user's site-packages), then the system loader's own search (LD_LIBRARY_PATH,
// ld.so.cache). libcublasLt comes with it (the library's RUNPATH finds it beside). When none loads, the error
// lists every place tried and why each failed.
#pragma once
#include <string>
#include <vector>

#include <cublas_api.h>

namespace redrafter::cuda::engine {

// Where to look, in order (the pure part of the search, testable without any library).
struct CublasSearch {
  std::string userPath;                  // REDRAFTER_CUBLAS_PATH: a library file, or a directory holding it
  std::vector<std::string> toolkitDirs;  // <toolkit>/lib64, <toolkit>/lib
  std::vector<std::string> wheelDirs;    // site-packages/nvidia/cu13/lib, site-packages/nvidia/cublas/lib
  std::string soname;                    // e.g. libcublas.so.13 (the major version built against)
};

// The paths to try, in order: the user's (a directory gets the soname appended), the toolkit's, the wheels', then
// the bare soname for the system loader. Duplicates are dropped.
std::vector<std::string> cublasCandidates(const CublasSearch& search);

// The search from this process's environment and the build's configuration (existing site-packages directories
// are listed from the file system).
CublasSearch cublasSearchFromEnvironment();

// The cuBLAS entry points the engine calls.
struct CublasApi {
  decltype(&::cublasCreate_v2) create = nullptr;
  decltype(&::cublasDestroy_v2) destroy = nullptr;
  decltype(&::cublasSetStream_v2) setStream = nullptr;
  decltype(&::cublasSetWorkspace_v2) setWorkspace = nullptr;
  decltype(&::cublasSetMathMode) setMathMode = nullptr;
  // the C entry point (C++ also sees an overload taking cudaDataType_t as the compute type)
  using GemmEx = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*,
                                    const void*, cudaDataType, int, const void*, cudaDataType, int, const void*,
                                    void*, cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);
  GemmEx gemmEx = nullptr;
  decltype(&::cublasGetStatusString) statusString = nullptr;
  std::string path;  // the library that was loaded
};

// Loads cuBLAS once per process (later calls return the same table). Throws redrafter::Error Unsupported listing
// every candidate and the loader's reason when none loads or one lacks an entry point.
const CublasApi& loadCublas();

}  // namespace redrafter::cuda::engine

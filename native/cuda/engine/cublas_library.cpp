#include "engine/cublas_library.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "core/error.h"

#ifndef REDRAFTER_CUBLAS_SONAME
#define REDRAFTER_CUBLAS_SONAME "libcublas.so.13"
#endif
#ifndef REDRAFTER_CUBLAS_BUILD_DIR  // the directory of the libcublas the build found (toolkit or wheel), or ""
#define REDRAFTER_CUBLAS_BUILD_DIR ""
#endif

namespace redrafter::cuda::engine {

std::vector<std::string> cublasCandidates(const CublasSearch& s) {
  std::vector<std::string> out;
  auto add = [&](const std::string& p) {
    if (!p.empty() && std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  };
  auto inDir = [&](const std::string& dir) {
    if (dir.empty()) return std::string();
    return dir.back() == '/' ? dir + s.soname : dir + "/" + s.soname;
  };
  if (!s.userPath.empty()) {
    const bool looksLikeFile = s.userPath.find(".so") != std::string::npos &&
                               s.userPath.substr(s.userPath.find_last_of('/') + 1).find("libcublas") == 0;
    add(looksLikeFile ? s.userPath : inDir(s.userPath));
  }
  for (const auto& d : s.toolkitDirs) add(inDir(d));
  for (const auto& d : s.wheelDirs) add(inDir(d));
  add(s.soname);
  return out;
}

CublasSearch cublasSearchFromEnvironment() {
  namespace fs = std::filesystem;
  CublasSearch s;
  s.soname = REDRAFTER_CUBLAS_SONAME;
  if (const char* p = std::getenv("REDRAFTER_CUBLAS_PATH")) s.userPath = p;
  for (const char* var : {"CUDA_HOME", "CUDA_PATH"})
    if (const char* root = std::getenv(var); root && *root) {
      s.toolkitDirs.push_back(std::string(root) + "/lib64");
      s.toolkitDirs.push_back(std::string(root) + "/lib");
    }
  s.toolkitDirs.push_back("/usr/local/cuda/lib64");
  const std::string built = REDRAFTER_CUBLAS_BUILD_DIR;
  if (built.find("site-packages") != std::string::npos || built.find("dist-packages") != std::string::npos)
    s.wheelDirs.push_back(built);
  else if (!built.empty())
    s.toolkitDirs.push_back(built);
  // site-packages of a virtual environment, the user's and the system's Pythons
  std::vector<fs::path> libRoots;
  if (const char* venv = std::getenv("VIRTUAL_ENV"); venv && *venv) libRoots.emplace_back(std::string(venv) + "/lib");
  if (const char* home = std::getenv("HOME"); home && *home) libRoots.emplace_back(std::string(home) + "/.local/lib");
  libRoots.emplace_back("/usr/local/lib");
  libRoots.emplace_back("/usr/lib");
  for (const fs::path& root : libRoots) {
    std::error_code ec;
    std::vector<std::string> found;
    for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.rfind("python3", 0) != 0) continue;
      for (const char* packages : {"site-packages", "dist-packages"})
        for (const char* sub : {"nvidia/cu13/lib", "nvidia/cublas/lib"}) {
          fs::path dir = it->path() / packages / sub;
          if (fs::is_directory(dir, ec)) found.push_back(dir.string());
        }
    }
    std::sort(found.begin(), found.end());
    s.wheelDirs.insert(s.wheelDirs.end(), found.begin(), found.end());
  }
  return s;
}

namespace {

template <typename F>
void bind(void* lib, const char* name, F& fn, std::string& missing) {
  fn = reinterpret_cast<F>(dlsym(lib, name));
  if (!fn) missing += std::string(missing.empty() ? "" : ", ") + name;
}

}  // namespace

const CublasApi& loadCublas() {
  static std::mutex mutex;
  static CublasApi api;
  static bool loaded = false;
  std::lock_guard<std::mutex> lock(mutex);
  if (loaded) return api;
  std::string tried;
  for (const std::string& path : cublasCandidates(cublasSearchFromEnvironment())) {
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char* why = dlerror();
      tried += "\n  " + path + ": " + (why ? why : "not loadable");
      continue;
    }
    CublasApi a;
    std::string missing;
    bind(lib, "cublasCreate_v2", a.create, missing);
    bind(lib, "cublasDestroy_v2", a.destroy, missing);
    bind(lib, "cublasSetStream_v2", a.setStream, missing);
    bind(lib, "cublasSetWorkspace_v2", a.setWorkspace, missing);
    bind(lib, "cublasSetMathMode", a.setMathMode, missing);
    bind(lib, "cublasGemmEx", a.gemmEx, missing);
    bind(lib, "cublasGetStatusString", a.statusString, missing);
    if (!missing.empty()) {
      tried += "\n  " + path + ": lacks " + missing;
      dlclose(lib);
      continue;
    }
    a.path = path;
    api = a;
    loaded = true;
    return api;
  }
  fail(ErrorCode::Unsupported,
       std::string("cuBLAS (") + REDRAFTER_CUBLAS_SONAME +
           ") was not found; set REDRAFTER_CUBLAS_PATH to it or its directory, install the CUDA toolkit, or "
           "`pip install nvidia-cublas`. Tried:" + tried);
}

}  // namespace redrafter::cuda::engine

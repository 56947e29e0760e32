{
  # node-gyp fallback build (`npm run build:gyp`): the same CPU-only addon as CMakeLists.txt, no CUDA/TensorRT.
  "targets": [
    {
      "target_name": "redrafter",
      "sources": ["<!@(node scripts/gyp-sources.mjs)"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++14", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O3"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17"
      },
      "msvs_settings": { "VCCLCompilerTool": { "ExceptionHandling": 1 } },
      "libraries": ["-lpthread"]
    }
  ]
}

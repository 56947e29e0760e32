// The entry point of the addon and of each backend module (CMakeLists.txt): every part registered with
// REDRAFTER_ADDON_PART adds its exports here.
#include "addon/registry.h"

namespace redrafter::addon {

std::vector<std::pair<const char*, InitFn>>& parts() {
  static std::vector<std::pair<const char*, InitFn>> registered;
  return registered;
}

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Napi::Array names = Napi::Array::New(env);
  uint32_t i = 0;
  for (auto& [name, fn] : parts()) {
    fn(env, exports);
    names.Set(i++, Napi::String::New(env, name));
  }
  exports.Set("parts", names);
  return exports;
}

}  // namespace
}  // namespace redrafter::addon

static Napi::Object InitRedrafter(Napi::Env env, Napi::Object exports) { return redrafter::addon::Init(env, exports); }

NODE_API_MODULE(redrafter, InitRedrafter)

#include "addon/class_registry.h"

#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "core/error.h"

namespace redrafter::addon {
namespace {

std::mutex& registryMutex() {
  static std::mutex m;
  return m;
}
// (env, class name) -> constructor; entries are dropped when their environment shuts down.
std::map<std::pair<napi_env, std::string>, Napi::FunctionReference>& registry() {
  static std::map<std::pair<napi_env, std::string>, Napi::FunctionReference> r;
  return r;
}

}  // namespace

void storeConstructor(Napi::Env env, const char* className, Napi::Function constructor) {
  std::pair<napi_env, std::string> key(env, className);
  {
    std::lock_guard<std::mutex> lock(registryMutex());
    registry()[key] = Napi::Persistent(constructor);
  }
  env.AddCleanupHook([key] {
    std::lock_guard<std::mutex> lock(registryMutex());
    auto it = registry().find(key);
    if (it != registry().end()) {
      it->second.SuppressDestruct();
      registry().erase(it);
    }
  });
}

Napi::Function constructorOf(Napi::Env env, const char* className) {
  std::lock_guard<std::mutex> lock(registryMutex());
  auto it = registry().find({env, className});
  if (it == registry().end()) fail(ErrorCode::Internal, std::string("class ") + className + " is not registered");
  return it->second.Value();
}

}  // namespace redrafter::addon

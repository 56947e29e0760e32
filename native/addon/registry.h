// Each addon source registers the part of the JS surface it owns; module.cpp runs them all.
// Usage, at namespace scope in one .cpp:  REDRAFTER_ADDON_PART(ops, InitOps)
#pragma once
#include <napi.h>

#include <utility>
#include <vector>

namespace redrafter::addon {

using InitFn = void (*)(Napi::Env env, Napi::Object exports);

std::vector<std::pair<const char*, InitFn>>& parts();

struct PartRegistrar {
  PartRegistrar(const char* name, InitFn fn) { parts().emplace_back(name, fn); }
};

}  // namespace redrafter::addon

#define REDRAFTER_ADDON_PART(name, fn) \
  static ::redrafter::addon::PartRegistrar redrafter_addon_part_##name(#name, fn);

// Per-environment constructors of the addon's JS classes (worker_threads safe, unlike a plain static): each
// class stores its constructor under its name when its part initialises, and finds it again to create instances.
#pragma once
#include <napi.h>

namespace redrafter::addon {

void storeConstructor(Napi::Env env, const char* className, Napi::Function constructor);
Napi::Function constructorOf(Napi::Env env, const char* className);

}  // namespace redrafter::addon

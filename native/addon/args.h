// Argument readers for the addon: each names the offending field in its error.
#pragma once
#include <napi.h>

#include <cstdint>
#include <optional>
#include <string>

#include "core/error.h"

namespace redrafter::addon {

template <class T>
struct TypedView {
  T* data = nullptr;
  size_t length = 0;
};

template <class T>
struct TypedArrayTraits;
template <> struct TypedArrayTraits<int32_t> { static constexpr napi_typedarray_type type = napi_int32_array; static constexpr const char* name = "Int32Array"; };
template <> struct TypedArrayTraits<float> { static constexpr napi_typedarray_type type = napi_float32_array; static constexpr const char* name = "Float32Array"; };
template <> struct TypedArrayTraits<uint8_t> { static constexpr napi_typedarray_type type = napi_uint8_array; static constexpr const char* name = "Uint8Array"; };

// value must be a T typed array (e.g. Int32Array); `field` names it in the error.
template <class T>
TypedView<T> typedArray(Napi::Value value, const char* field) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != TypedArrayTraits<T>::type)
    fail(ErrorCode::InvalidArgument, std::string(field) + " must be an " + TypedArrayTraits<T>::name);
  auto array = value.As<Napi::TypedArrayOf<T>>();
  return {array.Data(), array.ElementLength()};
}

template <class T>
Napi::TypedArrayOf<T> newTypedArray(Napi::Env env, size_t length, const T* source = nullptr) {
  auto array = Napi::TypedArrayOf<T>::New(env, length);
  if (source && length) std::copy(source, source + length, array.Data());
  return array;
}

// obj[key] must be an integer in [min, max].
int64_t intField(Napi::Object obj, const char* key, int64_t min, int64_t max);
// obj[key] if present (else `fallback`), an integer in [min, max].
int64_t intFieldOr(Napi::Object obj, const char* key, int64_t fallback, int64_t min, int64_t max);
// obj[key] if present (else `fallback`), a finite number in [min, max].
double numberFieldOr(Napi::Object obj, const char* key, double fallback, double min, double max);
// obj[key] if present (else `fallback`), a string.
std::string stringFieldOr(Napi::Object obj, const char* key, const std::string& fallback);
// obj[key] if present (else `fallback`), a boolean.
bool boolFieldOr(Napi::Object obj, const char* key, bool fallback);
// obj[key] if present (not undefined or null): an integer in [min, max], a finite number, a boolean, a string.
std::optional<int64_t> optionalInt(Napi::Object obj, const char* key, int64_t min, int64_t max);
std::optional<double> optionalNumber(Napi::Object obj, const char* key);
std::optional<bool> optionalBool(Napi::Object obj, const char* key);
std::optional<std::string> optionalString(Napi::Object obj, const char* key);
// info[index] must be an object; `name` names it in the error.
Napi::Object objectArg(const Napi::CallbackInfo& info, size_t index, const char* name);

}  // namespace redrafter::addon

#include "addon/args.h"

#include <cmath>

namespace redrafter::addon {

int64_t intField(Napi::Object obj, const char* key, int64_t min, int64_t max) {
  Napi::Value v = obj.Get(key);
  if (!v.IsNumber()) fail(ErrorCode::InvalidArgument, std::string(key) + " must be an integer");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d) fail(ErrorCode::InvalidArgument, std::string(key) + " must be an integer");
  if (d < double(min) || d > double(max))
    fail(ErrorCode::InvalidArgument,
         std::string(key) + " must be in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " +
             std::to_string(int64_t(d)));
  return int64_t(d);
}

int64_t intFieldOr(Napi::Object obj, const char* key, int64_t fallback, int64_t min, int64_t max) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  return intField(obj, key, min, max);
}

double numberFieldOr(Napi::Object obj, const char* key, double fallback, double min, double max) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsNumber()) fail(ErrorCode::InvalidArgument, std::string(key) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d < min || d > max)
    fail(ErrorCode::InvalidArgument,
         std::string(key) + " must be in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  return d;
}

std::string stringFieldOr(Napi::Object obj, const char* key, const std::string& fallback) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsString()) fail(ErrorCode::InvalidArgument, std::string(key) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

bool boolFieldOr(Napi::Object obj, const char* key, bool fallback) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsBoolean()) fail(ErrorCode::InvalidArgument, std::string(key) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::optional<int64_t> optionalInt(Napi::Object obj, const char* key, int64_t min, int64_t max) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  return intField(obj, key, min, max);
}

std::optional<double> optionalNumber(Napi::Object obj, const char* key) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  if (!v.IsNumber() || !std::isfinite(v.As<Napi::Number>().DoubleValue()))
    fail(ErrorCode::InvalidArgument, std::string(key) + " must be a finite number");
  return v.As<Napi::Number>().DoubleValue();
}

std::optional<bool> optionalBool(Napi::Object obj, const char* key) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  return boolFieldOr(obj, key, false);
}

std::optional<std::string> optionalString(Napi::Object obj, const char* key) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  return stringFieldOr(obj, key, "");
}

Napi::Object objectArg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (info.Length() <= index || !info[index].IsObject())
    fail(ErrorCode::InvalidArgument, std::string(name) + " must be an object");
  return info[index].As<Napi::Object>();
}

}  // namespace redrafter::addon

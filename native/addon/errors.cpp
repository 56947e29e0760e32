#include "addon/errors.h"

#include <new>

namespace redrafter::addon {

Napi::Error makeError(Napi::Env env, ErrorCode code, const std::string& message, bool outOfRange) {
  Napi::Error error = code != ErrorCode::InvalidArgument ? Napi::Error::New(env, message)
                      : outOfRange                        ? Napi::Error(Napi::RangeError::New(env, message))
                                                          : Napi::Error(Napi::TypeError::New(env, message));
  error.Set("code", Napi::String::New(env, errorCodeName(code)));
  return error;
}

CaughtError describe(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    return {e.code(), e.what(), e.outOfRange()};
  } catch (const std::bad_alloc&) {
    return {ErrorCode::OutOfMemory, "out of memory"};
  } catch (const std::exception& e) {
    return {ErrorCode::Internal, std::string("internal error: ") + e.what()};
  } catch (...) {
    return {ErrorCode::Internal, "internal error: unknown exception"};
  }
}

}  // namespace redrafter::addon

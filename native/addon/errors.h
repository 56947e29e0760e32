// C++ exceptions -> JS errors with a stable `code` (see core/error.h for the codes).
#pragma once
#include <napi.h>

#include <exception>
#include <string>

#include "core/error.h"

namespace redrafter::addon {

// A JS Error (TypeError/RangeError for argument errors when `kind` says so) with `code` set.
Napi::Error makeError(Napi::Env env, ErrorCode code, const std::string& message, bool outOfRange = false);

// The code and message of whatever `error` holds (redrafter::Error, std::bad_alloc, std::exception, ...).
struct CaughtError {
  ErrorCode code = ErrorCode::Internal;
  std::string message;
  bool outOfRange = false;  // an InvalidArgument to raise as a RangeError
};
CaughtError describe(std::exception_ptr error);

// Runs `body`, turning any C++ exception into a thrown JS error with its code.
template <class Body>
auto guarded(Napi::Env env, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    CaughtError e = describe(std::current_exception());
    throw makeError(env, e.code, e.message, e.outOfRange);
  }
}

// Base for the one-async-worker-per-native-operation rule: Run() executes off the event loop; any
// exception it throws rejects the promise with a coded JS error; Resolve() builds the result.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  explicit PromiseWorker(Napi::Env env) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  virtual void Run() = 0;                          // worker thread
  virtual Napi::Value Resolve(Napi::Env env) = 0;  // main thread, after Run() succeeded

 private:
  void Execute() override {
    try {
      Run();
    } catch (...) {
      error_ = describe(std::current_exception());
      failed_ = true;
    }
  }
  // Settling the promise fails only where JS cannot run any more (the environment is exiting, e.g. a worker thread
  // terminated while this ran): nothing is left to tell, and an exception out of here would end the process.
  void OnOK() override {
    try {
      settle();
    } catch (const Napi::Error&) {
    }
  }
  void OnError(const Napi::Error& e) override {
    try {
      deferred_.Reject(e.Value());
    } catch (const Napi::Error&) {
    }
  }
  void settle() {
    Napi::Env env = Env();
    if (failed_) {
      deferred_.Reject(makeError(env, error_.code, error_.message, error_.outOfRange).Value());
      return;
    }
    try {
      deferred_.Resolve(Resolve(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (...) {
      CaughtError e = describe(std::current_exception());
      deferred_.Reject(makeError(env, e.code, e.message, e.outOfRange).Value());
    }
  }

  Napi::Promise::Deferred deferred_;
  CaughtError error_;
  bool failed_ = false;
};

}  // namespace redrafter::addon

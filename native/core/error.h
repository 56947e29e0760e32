// Errors raised by the native code. Every failure the user can cause is a redrafter::Error with a
// stable code; the addon turns it into a JS Error whose `code` is errorCodeName(code).
#pragma once
#include <stdexcept>
#include <string>

namespace redrafter {

enum class ErrorCode {
  InvalidArgument,  // ERR_REDRAFTER_INVALID_ARGUMENT: a bad value passed by the caller
  InvalidModel,     // ERR_REDRAFTER_INVALID_MODEL: a model/tokenizer/drafter file is malformed
  Io,               // ERR_REDRAFTER_IO: a file cannot be opened, read or written
  Unsupported,      // ERR_REDRAFTER_UNSUPPORTED: valid but not supported (format version, tensor type, ...)
  OutOfMemory,      // ERR_REDRAFTER_OUT_OF_MEMORY
  ContextOverflow,  // ERR_REDRAFTER_CONTEXT_OVERFLOW: the KV cache / context limit would be exceeded
  Aborted,          // ERR_REDRAFTER_ABORTED: cancelled by the caller
  Disposed,         // ERR_REDRAFTER_DISPOSED: the object was disposed
  Backend,          // ERR_REDRAFTER_BACKEND: CUDA/TensorRT/TensorRT-LLM reported a failure
  Internal,         // ERR_REDRAFTER_INTERNAL: a bug
};

const char* errorCodeName(ErrorCode code) noexcept;

class Error : public std::runtime_error {
 public:
  // `outOfRange`: an InvalidArgument whose value has the right type but lies outside its bounds (a RangeError in
  // JS; other InvalidArguments are TypeErrors).
  Error(ErrorCode code, const std::string& message, bool outOfRange = false)
      : std::runtime_error(message), code_(code), outOfRange_(outOfRange) {}
  ErrorCode code() const noexcept { return code_; }
  bool outOfRange() const noexcept { return outOfRange_; }

 private:
  ErrorCode code_;
  bool outOfRange_;
};

[[noreturn]] inline void fail(ErrorCode code, const std::string& message) { throw Error(code, message); }

// Throws InvalidArgument "<field><message>" (what RD_REQUIRE and RD_REQUIRE_AT raise).
[[noreturn]] void failArgument(const char* field, const std::string& message);
// Throws InvalidArgument "<field> <message>" for a value outside its bounds (a RangeError in JS).
[[noreturn]] void failRange(const char* field, const std::string& message);

}  // namespace redrafter

// RD_REQUIRE(condition, field, message): throws InvalidArgument "<field> <message>" unless `condition` holds.
// RD_REQUIRE_AT(condition, field, message): the same with no space, for a message that starts with an index
// ("[3] must be ...").
// Macros, so that `message` (often built with std::to_string and +) is evaluated only when the check fails: the
// checks run on every decoding step, and a message may read what the condition guards (`i == 0 || a[i - 1] < a[i]`).
#define RD_REQUIRE(condition, field, message) \
  do {                                        \
    if (!(condition)) ::redrafter::failArgument(field, std::string(" ") + (message)); \
  } while (false)
#define RD_REQUIRE_AT(condition, field, message) \
  do {                                           \
    if (!(condition)) ::redrafter::failArgument(field, (message)); \
  } while (false)


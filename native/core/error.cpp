#include "core/error.h"

namespace redrafter {

const char* errorCodeName(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::InvalidArgument: return "ERR_REDRAFTER_INVALID_ARGUMENT";
    case ErrorCode::InvalidModel: return "ERR_REDRAFTER_INVALID_MODEL";
    case ErrorCode::Io: return "ERR_REDRAFTER_IO";
    case ErrorCode::Unsupported: return "ERR_REDRAFTER_UNSUPPORTED";
    case ErrorCode::OutOfMemory: return "ERR_REDRAFTER_OUT_OF_MEMORY";
    case ErrorCode::ContextOverflow: return "ERR_REDRAFTER_CONTEXT_OVERFLOW";
    case ErrorCode::Aborted: return "ERR_REDRAFTER_ABORTED";
    case ErrorCode::Disposed: return "ERR_REDRAFTER_DISPOSED";
    case ErrorCode::Backend: return "ERR_REDRAFTER_BACKEND";
    case ErrorCode::Internal: return "ERR_REDRAFTER_INTERNAL";
  }
  return "ERR_REDRAFTER_INTERNAL";
}

void failRange(const char* field, const std::string& message) {
  throw Error(ErrorCode::InvalidArgument, std::string(field) + " " + message, true);
}

void failArgument(const char* field, const std::string& message) {
  throw Error(ErrorCode::InvalidArgument, std::string(field) + message);
}

}  // namespace redrafter

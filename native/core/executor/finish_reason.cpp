#include "core/executor/executor_interface.h"

namespace redrafter::executor {

const char* finishReasonName(FinishReason reason) noexcept {
  switch (reason) {
    case FinishReason::NotFinished: return "";
    case FinishReason::Eos: return "eos";
    case FinishReason::Stop: return "stop";
    case FinishReason::Length: return "length";
    case FinishReason::Context: return "context";
    case FinishReason::Abort: return "abort";
    case FinishReason::Error: return "error";
  }
  return "error";
}

}  // namespace redrafter::executor

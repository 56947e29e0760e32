#include "launch_error.h"

#include <utility>

namespace redrafter::cuda {

namespace {
thread_local std::string tMessage;
}

const char* lastLaunchError() { return tMessage.c_str(); }

namespace detail {

cudaError_t rejectLaunch(std::string message) {
  tMessage = std::move(message);
  return cudaErrorInvalidValue;
}

cudaError_t finishLaunch(const char* operation, cudaError_t err) {
  if (err == cudaSuccess)
    tMessage.clear();
  else
    tMessage = std::string(operation) + ": " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
  return err;
}

std::string fieldMessage(const char* field, long long value, const char* rule) {
  return std::string(field) + " (" + std::to_string(value) + ") " + rule;
}

}  // namespace detail

}  // namespace redrafter::cuda

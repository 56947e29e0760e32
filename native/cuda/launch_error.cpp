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

std::string fieldMessage(const std::string& field, long long value, const std::string& rule) {
  return field + " (" + std::to_string(value) + ") " + rule;
}

std::string nullPointerMessage(std::initializer_list<std::pair<const void*, const char*>> pointers) {
  for (const auto& [pointer, name] : pointers)
    if (!pointer) return std::string(name) + " is null";
  return {};
}

}  // namespace detail

}  // namespace redrafter::cuda

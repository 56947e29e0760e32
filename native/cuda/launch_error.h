// Why a launcher refused or failed: every launcher (launchBeamSearchStep, launchBuildTree, launchTreeAttention,
// launchAcceptCommit) returns a cudaError_t and, on this thread, leaves a sentence naming the parameter field and the
// rule it broke, e.g. "BeamSearchParams.topK (70) must be at most 64", or the CUDA error of a launch that failed.
// Plain C++ (no nvcc needed): the plugins log it, the host tests assert it.
#pragma once
#include <initializer_list>
#include <string>
#include <utility>

#include <cuda_runtime_api.h>

namespace redrafter::cuda {

// The last launcher call's message on this thread ("" after one that succeeded).
const char* lastLaunchError();

namespace detail {
// Records `message` and returns cudaErrorInvalidValue (a refused launch).
cudaError_t rejectLaunch(std::string message);
// Records the outcome of a launch that passed validation: "" on success, else "<operation>: <CUDA error text>".
cudaError_t finishLaunch(const char* operation, cudaError_t err);
// "<field> (<value>) <rule>", for the messages above.
std::string fieldMessage(const std::string& field, long long value, const std::string& rule);
// "<name> is null" for the first null pointer of a launch's (pointer, name) list, or "".
std::string nullPointerMessage(std::initializer_list<std::pair<const void*, const char*>> pointers);
}  // namespace detail

}  // namespace redrafter::cuda

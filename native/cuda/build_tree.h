// GPU tree builder: prefix dedup, packing, position offsets, parents, unpacker and the packed tree mask for a
// batch of drafted beams, in one launch (one block per sequence). The CPU reference is redrafter::buildTree.
#pragma once
#include <cstdint>
#include <string>
#include <cuda_runtime_api.h>

#include "launch_error.h"

namespace redrafter::cuda {

struct BuildTreeParams {
  const int32_t* beams = nullptr;  // [batch, width, length]
  int batch = 0, width = 0, length = 0;
  int capacity = 0;                // >= width*length: the padded maxLength of the packed outputs
  int32_t* lengths = nullptr;          // [batch] packed tokens per sequence
  int32_t* tokens = nullptr;           // [batch, capacity] padding 0
  int32_t* beamTokenIndex = nullptr;   // [batch, capacity] w*length+l; padding -1
  int32_t* positionOffsets = nullptr;  // [batch, capacity] depth l; padding -1
  int32_t* parents = nullptr;          // [batch, capacity] packed parent; -1 at the root and padding
  int32_t* unpacker = nullptr;         // [batch, width, length] packed index of every beam token
  int32_t* packedMask = nullptr;       // [batch, capacity, ceil(capacity/32)] bitmasks; padding rows 0
};

constexpr int kBuildTreeMaxTokens = 1024;  // width * length: one thread per beam token, one block per sequence

// Why these shapes cannot run (the field named, e.g. "BuildTreeParams.capacity (30) must be at least width * length
// (40)"), or "" where they can. Pointers are not checked here.
std::string buildTreeShapeError(const BuildTreeParams& p);

// cudaErrorInvalidValue for bad shapes (buildTreeShapeError) and null pointers; lastLaunchError() says which.
cudaError_t launchBuildTree(const BuildTreeParams& p, cudaStream_t stream);

}  // namespace redrafter::cuda

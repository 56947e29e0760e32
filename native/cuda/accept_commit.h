// GPU greedy acceptance and KV commit: for each sequence, verify the drafted beams against the LLM's argmax over
// the packed tree (longest accepted prefix, ties to the lowest beam), then move the accepted path's K/V rows
// (every layer, both caches, every kv head) from slots pastLength + packedIndex to pastLength + k, in place.
// CPU references: redrafter::verifyGreedy and redrafter::kvCommitPlan.
#pragma once
#include <cstdint>
#include <string>
#include <cuda_runtime_api.h>

#include "kv_cache.h"
#include "launch_error.h"

namespace redrafter::cuda {

struct AcceptCommitParams {
  int batch = 0, width = 0, length = 0;  // length <= 64
  int treeCapacity = 0;                  // stride of argmax
  const int32_t* beams = nullptr;        // [batch, width, length]
  const int32_t* unpacker = nullptr;     // [batch, width, length] (build tree's)
  const int32_t* argmax = nullptr;       // [batch, treeCapacity] the LLM's argmax at each packed position
  const int32_t* pastLengths = nullptr;  // [batch] cached tokens before the tree
  int32_t* bestBeam = nullptr;           // [batch]
  int32_t* acceptedLength = nullptr;     // [batch] drafted tokens accepted (0..length-1)
  int32_t* nextToken = nullptr;          // [batch] the LLM's token after them
  int32_t* acceptedTokens = nullptr;     // [batch, length-1] padding -1
  int32_t* acceptedPacked = nullptr;     // [batch, length] path's packed indices, root first; padding -1
  int32_t* newLengths = nullptr;         // [batch] pastLength + 1 + acceptedLength
  KvCacheView cache;                     // k and v rows moved; may have k == v == nullptr (no commit)
  int layers = 0;
  int elementBytes = 2;                  // 2 (fp16/bf16) or 4; length*headDim*elementBytes <= 16 KiB
};

// Why these shapes cannot run (the field named, e.g. "AcceptCommitParams.length (80) must be in 1..64"), or "" where
// they can. Checks the cache view where cache.k and cache.v are set; the other pointers are not checked here.
std::string acceptCommitShapeError(const AcceptCommitParams& p);

// cudaErrorInvalidValue for bad shapes (acceptCommitShapeError) and null pointers; lastLaunchError() says which.
cudaError_t launchAcceptCommit(const AcceptCommitParams& p, cudaStream_t stream);

}  // namespace redrafter::cuda

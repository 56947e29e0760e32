// GPU drafter beam-search step, fused with Apple's logit processing: for each sequence, each expanded beam's raw
// logits get max-subtract, the top-`topK` warp and log-softmax, and the top `width` (beam, token) pairs over
// width*vocab by score + log-probability are chosen (on the first step only beam 0 is expanded). One launch (two for
// the merge-kernel variants); the logits are read once. CPU reference: redrafter::appleProcessLogits + beamSearchStep.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <cuda_runtime_api.h>

#include "launch_error.h"

namespace redrafter::cuda {

constexpr int kBeamSearchMaxTopK = 64;     // topK and width limit
constexpr int kBeamSearchMaxVocab = 331776;  // 81 chunks of 4096

// Which kernel runs the step (docs/gpu.md has their stages and costs). kAuto on sm_90+ (vocab <= 131072): the first
// of kClusterDense, kClusterWideDense, kCluster, kClusterWide whose row clusters all fit on the device at once
// (cudaOccupancyMaxActiveClusters, cached per device), else the one with the most resident clusters (fewest
// waves); where W * W > 1024 the cluster kernel with the merge kernel; else (and before sm_90) the chunked kernel.
// Every variant computes the same result.
enum class BeamSearchVariant : int {
  kAuto = 0,
  kChunked,               // any sm_80+: 4096-logit blocks, the last block of a row merges it, the last row the sequence
  kCluster,               // sm_90+: one block cluster per row (distributed shared memory), the last row merges
  kClusterMergeKernel,    // sm_90+: the cluster rows, then a second kernel merges each sequence
  kClusterMergeKernelPdl, // the same, the merge kernel as a programmatic dependent launch
  kClusterWide,           // kCluster with at least 32 logits per thread (half the blocks per row)
  kClusterDense,          // kCluster compiled for 5 blocks per SM (<= 48 registers): more row clusters resident
  kClusterWideDense       // kClusterWide compiled for 3 blocks per SM (<= 80 registers)
};

struct BeamSearchParams {
  const float* logits = nullptr;  // [batch, width, vocab] raw drafter logits
  const float* scores = nullptr;  // [batch, width] running beam log-probabilities
  int batch = 0, width = 0, vocab = 0;
  int topK = 50;                  // Apple's top-k warp (<= kBeamSearchMaxTopK, >= width)
  bool firstStep = false;
  float* outScores = nullptr;     // [batch, width] sorted by descending score
  int32_t* outParent = nullptr;   // [batch, width] parent beam
  int32_t* outToken = nullptr;    // [batch, width] token
  BeamSearchVariant variant = BeamSearchVariant::kAuto;
  // measurements only (the outputs stay unwritten): 1 stops after the per-chunk selection (cluster: after the
  // candidates reached the row's first block), 2 after the row merge
  int tuneStopAfter = 0;
};

// The variant launchBeamSearchStep runs for these params on the current device; kAuto: none serves them.
BeamSearchVariant beamSearchResolveVariant(const BeamSearchParams& p);
const char* beamSearchVariantName(BeamSearchVariant v);

// Workspace bytes for a shape. Zero the workspace once after allocating it: the kernel's completion counters
// live there and every launch leaves them at zero again.
size_t beamSearchWorkspaceBytes(int batch, int width, int vocab, int topK);

// The leading bytes of the workspace that hold the completion counters (for callers whose workspace is scratch,
// like TensorRT's: cudaMemsetAsync them to zero before each launch).
size_t beamSearchCounterBytes(int batch, int width);

// Why these shapes cannot run (the field named, e.g. "BeamSearchParams.topK (70) must be between width (8) and 64"),
// or "" where they can. Pointers, the workspace and the variant are not checked here.
std::string beamSearchShapeError(const BeamSearchParams& p);

// cudaErrorInvalidValue for bad shapes (beamSearchShapeError), null pointers, a small workspace, and where the
// chosen variant cannot serve the shape or device (the chunked kernel needs vocab >= topK; the cluster kernels need
// sm_90 and vocab <= 131072); lastLaunchError() says which.
cudaError_t launchBeamSearchStep(const BeamSearchParams& p, void* workspace, size_t workspaceBytes,
                                 cudaStream_t stream);

}  // namespace redrafter::cuda

// GPU drafter beam-search step, fused with Apple's logit processing: for each sequence, each expanded beam's raw
// logits get max-subtract, the top-`topK` warp and log-softmax, and the top `width` (beam, token) pairs over
// width*vocab by score + log-probability are chosen (on the first step only beam 0 is expanded). One launch;
// the logits are read once. CPU reference: redrafter::appleProcessLogits + redrafter::beamSearchStep.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cuda_runtime_api.h>

namespace redrafter::cuda {

constexpr int kBeamSearchMaxTopK = 64;     // topK and width limit
constexpr int kBeamSearchMaxVocab = 331776;  // 81 chunks of 4096

struct BeamSearchParams {
  const float* logits = nullptr;  // [batch, width, vocab] raw drafter logits
  const float* scores = nullptr;  // [batch, width] running beam log-probabilities
  int batch = 0, width = 0, vocab = 0;
  int topK = 50;                  // Apple's top-k warp (<= kBeamSearchMaxTopK, >= width)
  bool firstStep = false;
  float* outScores = nullptr;     // [batch, width] sorted by descending score
  int32_t* outParent = nullptr;   // [batch, width] parent beam
  int32_t* outToken = nullptr;    // [batch, width] token
  // measurements only (the outputs stay unwritten): 1 stops after the per-chunk selection, 2 after the row merge
  int tuneStopAfter = 0;
};

// Workspace bytes for a shape. Zero the workspace once after allocating it: the kernel's completion counters
// live there and every launch leaves them at zero again.
size_t beamSearchWorkspaceBytes(int batch, int width, int vocab, int topK);

// The leading bytes of the workspace that hold the completion counters (for callers whose workspace is scratch,
// like TensorRT's: cudaMemsetAsync them to zero before each launch).
size_t beamSearchCounterBytes(int batch, int width);

// cudaErrorInvalidValue for bad shapes: width > topK, topK > 64, vocab < topK, vocab > kBeamSearchMaxVocab.
cudaError_t launchBeamSearchStep(const BeamSearchParams& p, void* workspace, size_t workspaceBytes,
                                 cudaStream_t stream);

}  // namespace redrafter::cuda

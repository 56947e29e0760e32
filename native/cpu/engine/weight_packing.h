// Repacking a loaded model's layer matrices for the packed matmul (kernels/packed_matmul.h): every F32/F16 matrix of
// the layers (wq, wk, wv, wo, w1, w2, w3) is copied once into 16-row panels (8-row ones for the AVX2 kernels), and the
// pages of the memory-mapped file it came from are released from the process (madvise MADV_DONTNEED on the
// page-aligned range inside the tensor; VirtualUnlock, which drops unlocked pages from the working set, on Windows;
// the mapping is private and read-only, so they stay in the page cache and refault from the file if ever read), so
// resident memory does not double. The token embedding and the classifier (tied or not) stay row-major: they are
// read by row (embeddingRow, classifierRow, the drafter).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "model/weights.h"

namespace redrafter::cpu {

// the model room's names this engine uses (native/model)
using model::LayerWeights;
using model::LoadOptions;
using model::ModelWeights;
using model::loadModelWeights;

struct PackingStats {
  int64_t tensors = 0;        // matrices packed
  int64_t packedBytes = 0;    // bytes of packed copies (rows padded to multiples of 16)
  int64_t releasedBytes = 0;  // bytes of the mapping released
  double seconds = 0;
};

// Packs w's layer matrices in place into `layout` (Panels16 or Panels8; their views then point at the copies, owned
// by w.owned), with `threads` threads (>= 1). [mapBegin, mapEnd) is the memory-mapped file: only tensors inside it
// have pages to release.
PackingStats packLayerMatrices(ModelWeights& w, int threads, const void* mapBegin, const void* mapEnd,
                               Layout layout = Layout::Panels16);

// A model file loaded in the engine's layout: model::loadModelWeights with packLayerMatrices as its prepare step,
// `threads` threads for the packing (0 = all cores), panels for the kernels `isa` selects (kernels::selectIsa: ""
// = $REDRAFTER_CPU_ISA or the best; kernels::packedLayoutFor). Throws what loadModelWeights throws.
std::shared_ptr<const ModelWeights> loadPackedModelWeights(const std::string& path, int threads,
                                                           const std::string& isa = "");

}  // namespace redrafter::cpu

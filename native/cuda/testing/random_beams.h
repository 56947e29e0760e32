// Random drafted beams for the tree tests (cuda_logic_test, the plugin checks and the GPU check, native/cuda/gpu_check.cu): tokens from
// a tiny alphabet under one common root per sequence, so the beams share prefixes often.
#pragma once
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace redrafter::testing {

// [batch, width, length] tokens in 0..alphabet-1; every beam of a sequence starts with that sequence's root.
template <typename Rng>
std::vector<int32_t> randomBeams(Rng& rng, int batch, int width, int length, int alphabet) {
  std::uniform_int_distribution<int> tok(0, alphabet - 1);
  std::vector<int32_t> beams(size_t(batch) * width * length);
  for (int b = 0; b < batch; ++b) {
    const int root = tok(rng);
    for (int w = 0; w < width; ++w)
      for (int l = 0; l < length; ++l) beams[(size_t(b) * width + w) * length + l] = l == 0 ? root : tok(rng);
  }
  return beams;
}

}  // namespace redrafter::testing

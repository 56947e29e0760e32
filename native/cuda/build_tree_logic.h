// Per-element logic of the tree builder (kernel in build_tree.cu, tests in test/cpp): Apple's prefix dedup
// (_dedup_prefix), packing in flattened beam order (_pack_beams), and TensorRT-LLM's packed tree mask:
// int32 words [batch, maxLength, ceil(maxLength/32)], bit (j % 32) of word (j / 32) of row i set when packed
// token i may attend packed token j (j == i or j an ancestor of i).
#pragma once
#include <cstdint>

#include "hd.h"

namespace redrafter::cuda {

RD_HD int packedMaskWords(int maxLength) { return (maxLength + 31) / 32; }

// The lowest beam whose first l+1 tokens equal those of beam w. beams: one row [width, length].
RD_HD int prefixOwner(const int32_t* beams, int length, int w, int l) {
  for (int v = 0; v < w; ++v) {
    bool same = true;
    for (int k = 0; k <= l && same; ++k) same = beams[v * length + k] == beams[w * length + k];
    if (same) return v;
  }
  return w;
}

// Packed index of flattened beam token f given the first-occurrence flags of one row (f' < f counted).
RD_HD int packedIndexOf(const uint8_t* isFirst, int f) {
  int n = 0;
  for (int g = 0; g < f; ++g) n += isFirst[g];
  return n;
}

// Word `word` of packed mask row i, given the packed parents of the row (-1 at the root).
RD_HD uint32_t packedMaskWord(const int32_t* parents, int i, int word) {
  uint32_t bits = 0;
  for (int j = i; j >= 0; j = parents[j])
    if ((j >> 5) == word) bits |= 1u << (j & 31);
  return bits;
}

// True when bit j of a packed mask row is set.
RD_HD bool packedMaskBit(const int32_t* row, int j) { return (static_cast<uint32_t>(row[j >> 5]) >> (j & 31)) & 1u; }

}  // namespace redrafter::cuda

// Per-element logic of tree attention (kernel in tree_attention.cu, CPU reference in native/core/tree_attention.cpp,
// tests in test/cpp): which cache positions a tree token sees, and the online-softmax state merge.
#pragma once
#include <cmath>
#include <cstdint>

#include "build_tree_logic.h"
#include "hd.h"

namespace redrafter::cuda {

// May packed tree token t (0 <= t < treeLength) of a sequence attend to cache position p? The sequence's
// pastLength cached tokens are all visible; its tree tokens sit at pastLength + j and are visible when bit j
// of the packed mask row t is set. maskRow: [ceil(maskStride/32)] words of row t.
RD_HD bool treeVisible(int p, int pastLength, int treeLength, const int32_t* maskRow) {
  if (p < pastLength) return true;
  int j = p - pastLength;
  return j < treeLength && packedMaskBit(maskRow, j);
}

// Online softmax: merge state (m, l) with a partial (m2, l2) and return the factors that rescale each
// side's accumulated output. -INFINITY maxima (nothing seen) are handled without NaNs.
struct SoftmaxMerge {
  float m, l, scaleA, scaleB;
};
RD_HD SoftmaxMerge softmaxMerge(float m, float l, float m2, float l2) {
  float mn = m > m2 ? m : m2;
  if (mn == -INFINITY) return {mn, 0.f, 0.f, 0.f};
  float a = expf(m - mn), b = expf(m2 - mn);
  return {mn, l * a + l2 * b, a, b};
}

}  // namespace redrafter::cuda

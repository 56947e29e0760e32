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

// One online-softmax step of a row, in log2 units: the running maximum m meets a tile's maximum. Returns the new
// maximum, the factor that rescales the running sum and output (1 while nothing was visible), and the base to
// subtract from the tile's scores before exp2 (0 while nothing is visible, so exp2(-inf - 0) = 0, never a NaN).
struct OnlineStep {
  float m, alpha, base;
};
RD_HD OnlineStep onlineSoftmaxStep(float m, float tileMax) {
  const float n = m > tileMax ? m : tileMax;
  if (n == -INFINITY) return {n, 1.f, 0.f};
  return {n, exp2f(m - n), n};
}

// The wide mma kernel's work split (treeAttentionWideKernel in tree_attention_wide.cuh). A block has kWideWarps
// compute warps and up to kWideRowTiles row tiles of 16 (query token, head) rows. Warp w owns row tiles 2w and
// 2w + 1 whole (32 rows: each K/V fragment read from shared memory feeds four mma instead of two). The last row
// tile is shared by all of them, so that no scheduler runs more tensor-core work than the others: of every key
// tile, warp w scores that tile's rows against keys [wideSharedKeyBegin, + tileKeys / kWideWarps), the warps
// agree on the rows' maximum through shared memory, each keeps the running sum of its own keys' exponentials,
// and warp w accumulates the output columns [wideSharedColBegin, + headDim / kWideWarps) over all the tile's
// keys (P goes through shared memory). The row's sum is the warps' sums added at the end.
constexpr int kWideWarps = 4;
constexpr int kWideRowTiles = 2 * kWideWarps + 1;
// The compute warp that owns row tile `rowTile` of a block whole, or -1 for the shared one.
RD_HD int wideTileOwner(int rowTile) { return rowTile < 2 * kWideWarps ? rowTile / 2 : -1; }
RD_HD int wideSharedKeyBegin(int warp, int tileKeys) { return warp * (tileKeys / kWideWarps); }
RD_HD int wideSharedColBegin(int warp, int headDim) { return warp * (headDim / kWideWarps); }

}  // namespace redrafter::cuda

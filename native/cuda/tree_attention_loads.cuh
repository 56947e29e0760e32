// The shared-memory loads every tree-attention kernel makes (tree_attention.cu, tree_attention_wide.cuh): the
// block's Q rows and the K/V tiles of its context split, as 16-byte cp.async copies. Device code only (nvcc).
#pragma once
#include <cstdint>

#include "kv_address.cuh"
#include "mma_primitives.cuh"
#include "tree_attention.h"

namespace redrafter::cuda {

// The block's Q rows, asynchronously: row r of sQ [rows][RS] is packed row R = rowBase + r of kv head kvh's group,
// that is token R / group and query head kvh * group + R % group of q [batch, T, qHeads, D]; rows from rowsHere on
// are zero-filled. Threads tid, tid + nThreads, ... issue the copies (the caller commits them).
template <typename T, int D, int RS>
__device__ __forceinline__ void loadQRowsAsync(T* sQ, const TreeAttentionParams& p, int b, int kvh, int group,
                                               int rowBase, int rows, int rowsHere, int tid, int nThreads) {
  const T* q = static_cast<const T*>(p.q);
  for (int c = tid; c < rows * (D / 8); c += nThreads) {
    const int r = c / (D / 8), col = c % (D / 8) * 8, R = rowBase + r;
    const bool valid = r < rowsHere;
    const int t = valid ? R / group : 0, g = valid ? R % group : 0;
    cpAsync16(sQ + r * RS + col, q + ((static_cast<int64_t>(b) * p.treeTokens + t) * p.qHeads + kvh * group + g) * D + col,
              valid);
  }
}

// One K/V tile, asynchronously: dst [2][KT][RS] gets the K rows then the V rows of keys tileStart .. tileStart+KT-1
// of (sequence b, kv head kvh) from layer 0 of the cache; keys from kvEnd on are zero-filled (their source address
// is kvStart's, a valid row). Threads copyTid, copyTid + copyThreads, ... issue the copies (copyTid < 0: none; the
// caller commits them).
template <typename T, int D, int RS, int KT>
__device__ __forceinline__ void loadKvTileAsync(T* dst, const KvCacheView& cache, int b, int kvh, int tileStart,
                                                int kvStart, int kvEnd, int copyTid, int copyThreads) {
  if (copyTid < 0) return;
  const T* kBase = static_cast<const T*>(cache.k);
  const T* vBase = static_cast<const T*>(cache.v);
  for (int c = copyTid; c < 2 * KT * (D / 8); c += copyThreads) {
    const int which = c / (KT * (D / 8)), rem = c % (KT * (D / 8));
    const int row = rem / (D / 8), col = rem % (D / 8) * 8, pos = tileStart + row;
    const bool valid = pos < kvEnd;
    const int64_t off = kvRowOffset(cache, 0, b, kvh, valid ? pos : kvStart) + col;
    cpAsync16(dst + (which * KT + row) * RS + col, (which ? vBase : kBase) + off, valid);
  }
}

}  // namespace redrafter::cuda

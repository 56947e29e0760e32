// Per-element logic of greedy acceptance and the KV commit (kernel in accept_commit.cu, tests in test/cpp).
#pragma once
#include <cstdint>

#include "hd.h"

namespace redrafter::cuda {

// Drafted tokens of beam w the LLM accepts: the longest l with beams[w][k+1] == argmax[unpacker[w][k]]
// for all k < l. beams, unpacker: one row [width, length]; argmax: [treeLength].
RD_HD int acceptedLengthOfBeam(const int32_t* beams, const int32_t* unpacker, const int32_t* argmax, int length,
                               int w) {
  int l = 0;
  while (l + 1 < length && beams[w * length + l + 1] == argmax[unpacker[w * length + l]]) ++l;
  return l;
}

// Better beam: longer acceptance, ties to the lower beam index.
RD_HD bool betterBeam(int lenA, int beamA, int lenB, int beamB) {
  return lenA > lenB || (lenA == lenB && beamA < beamB);
}

// Cache slot of the k-th token of the accepted path before and after the commit.
RD_HD int commitSource(int cachedLength, const int32_t* acceptedPacked, int k) { return cachedLength + acceptedPacked[k]; }
RD_HD int commitTarget(int cachedLength, int k) { return cachedLength + k; }

}  // namespace redrafter::cuda

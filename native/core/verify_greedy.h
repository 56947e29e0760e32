// Greedy verification of drafted beams against the LLM's argmax over the packed tree.
#pragma once
#include <cstdint>
#include <vector>

namespace redrafter {

struct Verification {
  int beam = 0;                          // the chosen beam
  int acceptedLength = 0;                // drafted tokens accepted (0..length-1)
  std::vector<int32_t> acceptedTokens;   // [acceptedLength] beams[beam][1..acceptedLength]
  int32_t nextToken = -1;                // the LLM's own token after them
  std::vector<int32_t> acceptedPacked;   // [1+acceptedLength] packed indices of the path, root first
};

// One row. beams: [width, length]; unpacker: [width, length] (PackedTrees::unpacker row);
// argmax: [treeLength] the LLM's argmax at each packed position. Accepted length of beam w: the longest
// prefix of beams[w][1:] with beams[w][l+1] == argmax[unpacker[w][l]]; longest wins, ties to the lowest w.
Verification verifyGreedy(const int32_t* beams, int width, int length, const int32_t* unpacker,
                          const int32_t* argmax);
// The same written into `out` (its vectors keep their capacity: no allocation for a caller that reuses it).
void verifyGreedy(const int32_t* beams, int width, int length, const int32_t* unpacker, const int32_t* argmax,
                  Verification& out);

}  // namespace redrafter

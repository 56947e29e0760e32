// ReDrafter dynamic tree attention preparation: deduplicate the shared prefixes of the drafted beams and
// pack the remaining tokens, in apple/ml-recurrent-drafter's order (its _dedup_prefix and _pack_beams).
#pragma once
#include <cstdint>
#include <vector>

namespace redrafter {

struct PackedTrees {
  int batch = 0, width = 0, length = 0;
  int maxLength = 0;                     // the longest packed tree over the batch
  std::vector<int32_t> lengths;          // [batch]             packed tokens per row
  std::vector<int32_t> tokens;           // [batch, maxLength]  packed token ids; padding 0
  std::vector<int32_t> beamTokenIndex;   // [batch, maxLength]  flattened beam index w*length+l of each; padding -1
  std::vector<int32_t> positionOffsets;  // [batch, maxLength]  beamTokenIndex % length (depth); padding -1
  std::vector<int32_t> parents;          // [batch, maxLength]  packed index of the parent, -1 for the root/padding
  std::vector<int32_t> unpacker;         // [batch, width, length] packed index of every beam token
  std::vector<uint8_t> mask;             // [batch, maxLength, maxLength] 1 where i may attend j (j==i or ancestor)
};

// beams: [batch, width, length], each beam starting with the token the LLM produced (so all rows share a root).
// Throws InvalidArgument naming the field for bad shapes. Cost per row O(width*length*log(width)).
PackedTrees buildTree(const int32_t* beams, int batch, int width, int length);

// buildTree's working memory. A caller that builds a tree every step keeps one, with its PackedTrees, and allocates
// nothing once the largest shape has been seen.
struct TreeScratch {
  std::vector<int32_t> firstBeam;              // [width, length] the smallest beam sharing each token's prefix
  std::vector<int32_t> order, group, nextGroup;  // [width] each: the trie level being sorted
  std::vector<std::vector<int32_t>> selected;  // [batch][packed] the flattened beam index of each packed token
};
// The same tree written into `out` (its vectors keep their capacity), with `scratch`.
void buildTree(const int32_t* beams, int batch, int width, int length, PackedTrees& out, TreeScratch& scratch);

}  // namespace redrafter

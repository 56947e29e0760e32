// ReDrafter's dynamic tree attention preparation (apple/ml-recurrent-drafter tree_attention.pack):
// deduplicate shared beam prefixes, pack the remaining tokens, and build the unpacker and the mask.
//
// Apple computes, for every beam token (w, l), the smallest beam k whose prefix [0..l] equals beam w's
// (_dedup_prefix, an O(width^2*length) broadcast), keeps the tokens with k == w, and packs them in
// ascending flattened index w*length+l (_pack_beams). Here the same "first beam holding this prefix"
// is found level by level as a trie: at depth l the beams are grouped by (prefix group at l-1, token l)
// with one sort of `width` keys, so a row costs O(width*length*log(width)).
#include "core/build_tree.h"

#include <algorithm>
#include <limits>
#include <string>

#include "core/error.h"

namespace redrafter {

namespace {

constexpr int64_t kMaxTreeTokens = 4096;
constexpr int64_t kMaxMaskBytes = int64_t(1) << 31;

// firstBeam: [width, length] out; firstBeam[w*length+l] = the smallest beam sharing beam w's prefix [0..l].
// `order`, `group`, `nextGroup` are scratch of size width.
void dedupPrefixes(const int32_t* beams, int width, int length, int32_t* firstBeam, std::vector<int32_t>& order,
                   std::vector<int32_t>& group, std::vector<int32_t>& nextGroup) {
  for (int w = 0; w < width; ++w) group[w] = 0;  // before depth 0 every beam shares the empty prefix
  for (int l = 0; l < length; ++l) {
    for (int w = 0; w < width; ++w) order[w] = w;
    auto key = [&](int32_t w) { return std::make_pair(group[w], beams[size_t(w) * length + l]); };
    // Sort by (parent group, token), ties by beam index, so each run is one trie node and its first
    // element is the smallest beam holding that prefix.
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
      auto ka = key(a), kb = key(b);
      return ka != kb ? ka < kb : a < b;
    });
    int32_t runFirst = -1;
    for (int i = 0; i < width; ++i) {
      int32_t w = order[i];
      if (i == 0 || key(w) != key(order[i - 1])) runFirst = w;
      firstBeam[size_t(w) * length + l] = runFirst;
      nextGroup[w] = runFirst;  // the trie node is named by its first beam
    }
    std::swap(group, nextGroup);
  }
}

}  // namespace

PackedTrees buildTree(const int32_t* beams, int batch, int width, int length) {
  PackedTrees t;
  TreeScratch scratch;
  buildTree(beams, batch, width, length, t, scratch);
  return t;
}

void buildTree(const int32_t* beams, int batch, int width, int length, PackedTrees& t, TreeScratch& scratch) {
  RD_REQUIRE(batch >= 1, "batch", "must be >= 1, got " + std::to_string(batch));
  RD_REQUIRE(width >= 1, "width", "must be >= 1, got " + std::to_string(width));
  RD_REQUIRE(length >= 1, "length", "must be >= 1, got " + std::to_string(length));
  const int64_t perRow = int64_t(width) * length;
  // The mask is [maxLength, maxLength] per row with maxLength <= width*length: bound it.
  RD_REQUIRE(perRow <= kMaxTreeTokens, "width", "* length must be <= " + std::to_string(kMaxTreeTokens) + ", got " +
                                                    std::to_string(perRow));
  RD_REQUIRE(perRow * batch <= std::numeric_limits<int32_t>::max(), "batch", "* width * length is too large");
  RD_REQUIRE(beams != nullptr, "beams", "must not be null");
  const size_t total = size_t(perRow) * batch;
  for (size_t i = 0; i < total; ++i)
    RD_REQUIRE(beams[i] >= 0, "beams", "must hold token ids >= 0, got " + std::to_string(beams[i]) + " at " +
                                           std::to_string(i));

  t.batch = batch;
  t.width = width;
  t.length = length;
  t.maxLength = 0;
  t.lengths.assign(batch, 0);
  t.unpacker.assign(total, -1);

  std::vector<int32_t>&firstBeam = scratch.firstBeam, &order = scratch.order, &group = scratch.group,
                     &nextGroup = scratch.nextGroup;
  firstBeam.resize(size_t(perRow));
  order.resize(size_t(width));
  group.resize(size_t(width));
  nextGroup.resize(size_t(width));
  // Per row, the flattened beam index of each packed token, in packed order.
  std::vector<std::vector<int32_t>>& selected = scratch.selected;
  if (selected.size() < size_t(batch)) selected.resize(size_t(batch));
  for (int b = 0; b < batch; ++b) {
    const int32_t* rowBeams = beams + size_t(b) * perRow;
    int32_t* unpacker = t.unpacker.data() + size_t(b) * perRow;
    dedupPrefixes(rowBeams, width, length, firstBeam.data(), order, group, nextGroup);
    // Packed order: ascending flattened index over the tokens whose prefix first appears in their own beam.
    // firstBeam[w][l] <= w, so the token it maps to was packed earlier in this same pass.
    auto& sel = selected[b];
    sel.clear();
    for (int w = 0; w < width; ++w) {
      for (int l = 0; l < length; ++l) {
        const size_t idx = size_t(w) * length + l;
        const int32_t k = firstBeam[idx];
        if (k == w) {
          unpacker[idx] = int32_t(sel.size());
          sel.push_back(int32_t(idx));
        } else {
          unpacker[idx] = unpacker[size_t(k) * length + l];
        }
      }
    }
    t.lengths[b] = int32_t(sel.size());
    t.maxLength = std::max(t.maxLength, t.lengths[b]);
  }

  const int n = t.maxLength;
  RD_REQUIRE(int64_t(batch) * n * n <= kMaxMaskBytes, "batch",
             "* maxLength^2 (the mask) must be <= 2^31 bytes, got maxLength " + std::to_string(n));
  t.tokens.assign(size_t(batch) * n, 0);
  t.beamTokenIndex.assign(size_t(batch) * n, -1);
  t.positionOffsets.assign(size_t(batch) * n, -1);
  t.parents.assign(size_t(batch) * n, -1);
  t.mask.assign(size_t(batch) * n * n, 0);  // [batch, maxLength, maxLength]
  for (int b = 0; b < batch; ++b) {
    const int32_t* rowBeams = beams + size_t(b) * perRow;
    const int32_t* unpacker = t.unpacker.data() + size_t(b) * perRow;
    const auto& sel = selected[b];
    int32_t* parents = t.parents.data() + size_t(b) * n;
    uint8_t* mask = t.mask.data() + size_t(b) * n * n;
    for (size_t p = 0; p < sel.size(); ++p) {
      const int32_t idx = sel[p];
      const int32_t l = idx % length;
      t.tokens[size_t(b) * n + p] = rowBeams[idx];
      t.beamTokenIndex[size_t(b) * n + p] = idx;
      t.positionOffsets[size_t(b) * n + p] = l;
      parents[p] = l == 0 ? -1 : unpacker[idx - 1];
      // Self and every ancestor (walk up the parent chain: depth <= length).
      for (int32_t a = int32_t(p); a >= 0; a = parents[a]) mask[p * n + a] = 1;
    }
  }
}

}  // namespace redrafter

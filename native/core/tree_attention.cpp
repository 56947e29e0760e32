#include "core/tree_attention.h"

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"

namespace redrafter {

void treeAttentionReference(const TreeAttentionShape& s, const float* q, const float* k, const float* v,
                            const int32_t* pastLengths, const int32_t* treeLengths, const int32_t* packedMask,
                            float* out) {
  RD_REQUIRE(s.batch > 0, "batch", "must be positive");
  RD_REQUIRE(s.treeTokens > 0, "treeTokens", "must be positive");
  RD_REQUIRE(s.qHeads > 0 && s.kvHeads > 0 && s.qHeads % s.kvHeads == 0, "qHeads",
             "must be a positive multiple of kvHeads");
  RD_REQUIRE(s.headDim > 0, "headDim", "must be positive");
  const int T = s.treeTokens, D = s.headDim, words = (T + 31) / 32, group = s.qHeads / s.kvHeads;
  for (int b = 0; b < s.batch; ++b) {
    RD_REQUIRE(treeLengths[b] >= 1 && treeLengths[b] <= T, "treeLengths", "must be in [1, treeTokens]");
    RD_REQUIRE(pastLengths[b] >= 0 && pastLengths[b] + treeLengths[b] <= s.capacity, "pastLengths",
               "plus the tree length must fit the cache capacity");
  }
  std::vector<double> logits, acc(D);
  for (int b = 0; b < s.batch; ++b) {
    const int past = pastLengths[b], tree = treeLengths[b], total = past + tree;
    logits.resize(total);
    for (int t = 0; t < T; ++t) {
      const int32_t* maskRow = packedMask + (static_cast<size_t>(b) * T + t) * words;
      for (int h = 0; h < s.qHeads; ++h) {
        float* o = out + ((static_cast<size_t>(b) * T + t) * s.qHeads + h) * D;
        if (t >= tree) {
          for (int d = 0; d < D; ++d) o[d] = 0.f;
          continue;
        }
        const int kvh = h / group;
        const float* qv = q + ((static_cast<size_t>(b) * T + t) * s.qHeads + h) * D;
        const size_t base = (static_cast<size_t>(b) * s.kvHeads + kvh) * s.capacity;
        double mx = -INFINITY;
        for (int p = 0; p < total; ++p) {
          bool visible = p < past || ((static_cast<uint32_t>(maskRow[(p - past) >> 5]) >> ((p - past) & 31)) & 1u);
          if (!visible) {
            logits[p] = -INFINITY;
            continue;
          }
          const float* kr = k + (base + p) * D;
          double dot = 0;
          for (int d = 0; d < D; ++d) dot += static_cast<double>(qv[d]) * kr[d];
          logits[p] = dot * s.scale;
          if (logits[p] > mx) mx = logits[p];
        }
        double sum = 0;
        for (int d = 0; d < D; ++d) acc[d] = 0;
        for (int p = 0; p < total; ++p) {
          if (logits[p] == -INFINITY) continue;
          double w = std::exp(logits[p] - mx);
          sum += w;
          const float* vr = v + (base + p) * D;
          for (int d = 0; d < D; ++d) acc[d] += w * vr[d];
        }
        for (int d = 0; d < D; ++d) o[d] = static_cast<float>(sum > 0 ? acc[d] / sum : 0.0);
      }
    }
  }
}

}  // namespace redrafter

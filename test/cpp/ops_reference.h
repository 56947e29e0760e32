// Plain, straightforward references for the core operators (the forms Apple's PyTorch code computes),
// used by the tests to check the fast implementations on random inputs.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace redrafter::reference {

// apple/ml-recurrent-drafter tree_attention.pack, written the way its tensors compute it (one row).
struct PackedRow {
  std::vector<int32_t> tokens, beamTokenIndex, positionOffsets, parents, unpacker;
  std::vector<uint8_t> mask;  // [n, n]
};

inline PackedRow packRow(const int32_t* beams, int width, int length) {
  auto at = [&](int w, int l) { return beams[size_t(w) * length + l]; };
  // _dedup_prefix: matches[i][j][k] = beams[i][k]==beams[j][k]; seq_matches = cumsum(matches)==k+1;
  // prefix_tree[i][k] = argmax_j seq_matches[i][j][k] (the first j). O(width^2 * length).
  std::vector<int32_t> prefixTree(size_t(width) * length);
  for (int i = 0; i < width; ++i)
    for (int k = 0; k < length; ++k)
      for (int j = 0; j < width; ++j) {
        int cumsum = 0;
        for (int m = 0; m <= k; ++m) cumsum += at(i, m) == at(j, m);
        if (cumsum == k + 1) {
          prefixTree[size_t(i) * length + k] = j;
          break;
        }
      }
  // _pack_beams: nonzero(prefix_tree == row index) in flattened order.
  PackedRow r;
  std::vector<int32_t> nSelected(width, 0);
  for (int i = 0; i < width; ++i)
    for (int k = 0; k < length; ++k)
      if (prefixTree[size_t(i) * length + k] == i) {
        r.beamTokenIndex.push_back(i * length + k);
        r.tokens.push_back(at(i, k));
        r.positionOffsets.push_back(k);
        ++nSelected[i];
      }
  // _get_unpacker: segment_index = start_per_seq[prefix_tree]; offset = #earlier positions in the same segment.
  std::vector<int32_t> start(width, 0);
  for (int i = 1; i < width; ++i) start[i] = start[i - 1] + nSelected[i - 1];
  r.unpacker.resize(size_t(width) * length);
  for (int i = 0; i < width; ++i)
    for (int k = 0; k < length; ++k) {
      const int32_t segment = start[prefixTree[size_t(i) * length + k]];
      int offset = 0;
      for (int m = 0; m < k; ++m) offset += start[prefixTree[size_t(i) * length + m]] == segment;
      r.unpacker[size_t(i) * length + k] = segment + offset;
    }
  // _get_causal_mask_of_packed_beams: packed token p from beam w at depth l attends unpacker[w][0..l].
  const size_t n = r.tokens.size();
  r.mask.assign(n * n, 0);
  r.parents.assign(n, -1);
  for (size_t p = 0; p < n; ++p) {
    const int w = r.beamTokenIndex[p] / length, l = r.beamTokenIndex[p] % length;
    for (int m = 0; m <= l; ++m) r.mask[p * n + r.unpacker[size_t(w) * length + m]] = 1;
    if (l > 0) r.parents[p] = r.unpacker[size_t(w) * length + l - 1];
  }
  return r;
}

// Brute-force beam search step for one row: all width*vocab joint scores, then `width` times the best
// remaining one (ties: lower flattened index). Apple's first step: log_p_beam = [LOG_1-ish score, LOG_0...].
struct StepRow {
  std::vector<float> scores;
  std::vector<int32_t> parent, token;
};
inline StepRow beamStepRow(const float* scores, const float* logProbs, int width, int vocab, bool firstStep,
                           float masked) {
  std::vector<float> joint(size_t(width) * vocab);
  for (int w = 0; w < width; ++w)
    for (int t = 0; t < vocab; ++t)
      joint[size_t(w) * vocab + t] =
          (firstStep ? (w == 0 ? scores[0] : masked) : scores[w]) + logProbs[size_t(w) * vocab + t];
  std::vector<bool> taken(joint.size(), false);
  StepRow r;
  for (int k = 0; k < width; ++k) {
    size_t best = joint.size();
    for (size_t i = 0; i < joint.size(); ++i)
      if (!taken[i] && (best == joint.size() || joint[i] > joint[best])) best = i;
    taken[best] = true;
    r.scores.push_back(joint[best]);
    r.parent.push_back(int32_t(best / vocab));
    r.token.push_back(int32_t(best % vocab));
  }
  return r;
}

// Apple's compute_logits + log_softmax on one row, via a full sort.
inline std::vector<float> appleLogits(const std::vector<float>& logits, int topK, float masked) {
  std::vector<float> x = logits;
  const float mx = *std::max_element(x.begin(), x.end());
  for (float& v : x) v -= mx;
  std::vector<float> sorted = x;
  std::sort(sorted.begin(), sorted.end(), [](float a, float b) { return a > b; });
  const float kth = sorted[std::min<size_t>(size_t(topK), sorted.size()) - 1];
  for (float& v : x)
    if (v < kth) v = masked;
  double s = 0;
  for (float v : x) s += std::exp(double(v));
  for (float& v : x) v = float(double(v) - std::log(s));
  return x;
}

}  // namespace redrafter::reference

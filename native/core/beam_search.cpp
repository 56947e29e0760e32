// The drafter's beam search step and Apple's logit processing (apple/ml-recurrent-drafter
// modeling_drafter: maintain_logits + warp_logits in compute_logits, then log_softmax; the top-k over
// width*vocab in beam_search_candidates).
#include "core/beam_search.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"

namespace redrafter {
namespace {

// The k-th largest of x[0..n) (1 <= k <= n; NaN-free), exactly: a histogram of the top 11 bits of each value's
// order-preserving integer key finds the bin that holds it and how many lie above, then nth_element runs on that
// bin's values alone (for n = 512, k = 50: one pass and a few dozen values, against a copy and an nth_element of all
// n). The histogram and the bin are kept per thread between calls.
float kthLargest(const float* x, int n, int k) {
  constexpr int kBits = 11, kBins = 1 << kBits;
  thread_local std::vector<int32_t> histOfThread;
  thread_local std::vector<float> binOfThread;
  std::vector<int32_t>& hist = histOfThread;
  std::vector<float>& bin = binOfThread;
  auto binOf = [](float v) {  // larger value, larger key (-0 sits just below +0, which compare equal)
    uint32_t b;
    std::memcpy(&b, &v, sizeof b);
    return ((b & 0x80000000u) ? ~b : (b | 0x80000000u)) >> (32 - kBits);
  };
  hist.assign(kBins, 0);
  for (int i = 0; i < n; ++i) ++hist[binOf(x[i])];
  int above = 0, b = kBins - 1;
  for (; above + hist[size_t(b)] < k; --b) above += hist[size_t(b)];
  bin.clear();
  for (int i = 0; i < n; ++i)
    if (binOf(x[i]) == uint32_t(b)) bin.push_back(x[i]);
  const int rank = k - above;  // 1-based, within the bin
  std::nth_element(bin.begin(), bin.begin() + (rank - 1), bin.end(), std::greater<float>());
  return bin[size_t(rank - 1)];
}

}  // namespace

void appleProcessLogits(float* logits, int vocab, int topK) {
  RD_REQUIRE(vocab >= 1, "vocab", "must be >= 1, got " + std::to_string(vocab));
  RD_REQUIRE(topK >= 1, "topK", "must be >= 1, got " + std::to_string(topK));
  const int k = std::min(topK, vocab);
  // maintain_logits: subtract the max so the largest logit is 0.
  float maxLogit = logits[0];
  bool nan = std::isnan(logits[0]);
  for (int i = 1; i < vocab; ++i) {
    maxLogit = std::max(maxLogit, logits[i]);
    nan |= std::isnan(logits[i]);
  }
  RD_REQUIRE(!nan && std::isfinite(maxLogit), "logits", "must have a finite maximum and no NaN in every row");
  for (int i = 0; i < vocab; ++i) logits[i] -= maxLogit;
  // warp_logits: everything strictly below the k-th largest value becomes LOG_0 (ties with it are kept).
  const float kth = kthLargest(logits, vocab, k);
  for (int i = 0; i < vocab; ++i)
    if (logits[i] < kth) logits[i] = kAppleMaskedLogit;
  // log_softmax (the max is 0 after the shift, so exp never overflows). e^x is exactly 0 in double below -746 (the
  // masked entries among them), so those terms are skipped: the same sum, without 10^4-odd underflowing exp calls.
  double sum = 0;
  for (int i = 0; i < vocab; ++i)
    if (logits[i] > -746.0f) sum += std::exp(double(logits[i]));
  const float logSum = float(std::log(sum));
  for (int i = 0; i < vocab; ++i) logits[i] -= logSum;
}

void beamSearchStep(const float* scores, const float* logProbs, int batch, int width, int vocab, bool firstStep,
                    float* outScores, int32_t* outParent, int32_t* outToken) {
  RD_REQUIRE(batch >= 1, "batch", "must be >= 1, got " + std::to_string(batch));
  RD_REQUIRE(width >= 1, "width", "must be >= 1, got " + std::to_string(width));
  RD_REQUIRE(vocab >= 1, "vocab", "must be >= 1, got " + std::to_string(vocab));
  RD_REQUIRE(int64_t(width) * vocab <= int64_t(1) << 30, "vocab", "* width is too large");
  const size_t candidates = size_t(width) * vocab;
  // kept per thread between calls (the drafter calls this once per drafted token)
  thread_local std::vector<float> jointOfThread;
  thread_local std::vector<int32_t> orderOfThread;
  std::vector<float>& joint = jointOfThread;    // [width*vocab] log P(beam) + log P(token | beam)
  std::vector<int32_t>& order = orderOfThread;  // [width*vocab]
  joint.resize(candidates);
  order.resize(candidates);
  for (int b = 0; b < batch; ++b) {
    const float* rowScores = scores + size_t(b) * width;
    const float* rowLogProbs = logProbs + size_t(b) * candidates;
    for (int w = 0; w < width; ++w) {
      // First step: every beam is the LLM's token alone, so Apple starts log_p_beam at [LOG_1, LOG_0, ...]
      // and only beam 0 grows; afterwards the running scores are used.
      const float beamScore = firstStep ? (w == 0 ? rowScores[0] : kAppleMaskedLogit) : rowScores[w];
      for (int t = 0; t < vocab; ++t) joint[size_t(w) * vocab + t] = beamScore + rowLogProbs[size_t(w) * vocab + t];
    }
    for (size_t i = 0; i < candidates; ++i) order[i] = int32_t(i);
    // Top `width` by descending score, ties towards the lower flattened index; NaN sorts last.
    auto better = [&](int32_t a, int32_t c) {
      const float x = joint[a], y = joint[c];
      const bool xn = std::isnan(x), yn = std::isnan(y);
      if (xn != yn) return yn;
      if (!xn && x != y) return x > y;
      return a < c;
    };
    std::partial_sort(order.begin(), order.begin() + width, order.end(), better);
    for (int w = 0; w < width; ++w) {
      const int32_t idx = order[w];
      outScores[size_t(b) * width + w] = joint[idx];
      outParent[size_t(b) * width + w] = idx / vocab;
      outToken[size_t(b) * width + w] = idx % vocab;
    }
  }
}

}  // namespace redrafter

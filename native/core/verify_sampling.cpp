// Verification with sampling. The exact recursive rejection scheme over the deduplicated tree, and
// Apple's rule (apple/ml-recurrent-drafter _choose_from_candidates and _prepare_next_input).
//
// Why the exact scheme preserves the LLM's distribution p': the drafter's beam search is deterministic,
// so each proposed child c is a point mass. At a node, trying children c1, c2, ... in turn with
// acceptance p'(ci) / (mass left) and zeroing rejected ones gives P(emit c1) = p'(c1),
// P(emit c2) = (1 - p'(c1)) * p'(c2) / (1 - p'(c1)) = p'(c2), ..., and for a token t outside the
// children P(t) = (mass left) * p'(t) / (mass left) = p'(t). Recursing into the accepted child repeats
// the argument with the LLM's distribution at that node, so every emitted sequence has its exact
// probability under the LLM.
#include "core/verify_sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "core/error.h"

namespace redrafter {

namespace {

void checkParams(const SamplingParams& params) {
  RD_REQUIRE(std::isfinite(params.temperature) && params.temperature > 0, "temperature",
             "must be a finite number > 0, got " + std::to_string(params.temperature));
  RD_REQUIRE(params.topK >= 0, "topK", "must be >= 0 (0: off), got " + std::to_string(params.topK));
  RD_REQUIRE(std::isfinite(params.topP) && params.topP > 0 && params.topP <= 1, "topP",
             "must be in (0, 1], got " + std::to_string(params.topP));
}

// p' in double precision, normalised. probs: [vocab].
void distribution(const float* logits, int vocab, const SamplingParams& params, std::vector<double>& probs,
                  std::vector<float>& sorted, std::vector<int32_t>& order) {
  probs.resize(vocab);
  const double invT = 1.0 / double(params.temperature);
  double maxScaled = -std::numeric_limits<double>::infinity();
  for (int i = 0; i < vocab; ++i) maxScaled = std::max(maxScaled, double(logits[i]) * invT);
  RD_REQUIRE(std::isfinite(maxScaled), "logits", "must have a finite maximum in every row");
  // top-k on the logits: everything strictly below the k-th largest is removed (ties with it are kept).
  float kth = -std::numeric_limits<float>::infinity();
  if (params.topK > 0 && params.topK < vocab) {
    sorted.assign(logits, logits + vocab);
    std::nth_element(sorted.begin(), sorted.begin() + (params.topK - 1), sorted.end(), std::greater<float>());
    kth = sorted[params.topK - 1];
  }
  double sum = 0;
  for (int i = 0; i < vocab; ++i) {
    const bool keep = logits[i] >= kth && !std::isnan(logits[i]);
    probs[i] = keep ? std::exp(double(logits[i]) * invT - maxScaled) : 0.0;
    sum += probs[i];
  }
  for (double& p : probs) p /= sum;
  if (params.topP < 1) {
    // top-p: the smallest set of most likely tokens whose mass reaches topP (ties: lower token id first).
    order.resize(vocab);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
      return probs[a] != probs[b] ? probs[a] > probs[b] : a < b;
    });
    double cumulative = 0, kept = 0;
    size_t i = 0;
    for (; i < order.size() && cumulative < double(params.topP); ++i) cumulative += probs[order[i]];
    for (size_t j = 0; j < i; ++j) kept += probs[order[j]];
    for (size_t j = i; j < order.size(); ++j) probs[order[j]] = 0;
    for (double& p : probs) p /= kept;
  }
}

// The total of probs, which must be finite, >= 0 and of positive mass (what sampleFrom and sampleNext draw from).
double checkedTotal(const std::vector<double>& probs) {
  double total = 0;
  for (double x : probs) {
    RD_REQUIRE(x >= 0 && std::isfinite(x), "probs", "must be finite and >= 0");
    total += x;
  }
  RD_REQUIRE(total > 0, "probs", "must have positive mass");
  return total;
}

int32_t sampleFromDouble(const std::vector<double>& probs, double total, Rng& rng) {
  const double u = rng.uniform() * total;
  double cumulative = 0;
  int32_t last = -1;
  for (size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] <= 0) continue;
    cumulative += probs[i];
    last = int32_t(i);
    if (u < cumulative) return int32_t(i);
  }
  return last;  // u landed past the summed mass by rounding: the last token with mass
}

struct RowView {
  int n = 0;                 // packed tokens in this row
  const int32_t* tokens;     // [maxLength]
  const int32_t* parents;    // [maxLength]
  const int32_t* beamIndex;  // [maxLength]
  const int32_t* unpacker;   // [width, length]
};

RowView rowOf(const PackedTrees& trees, int row, int vocab) {
  RD_REQUIRE(row >= 0 && row < trees.batch, "row",
             "must be in [0, " + std::to_string(trees.batch) + "), got " + std::to_string(row));
  const size_t off = size_t(row) * trees.maxLength;
  RowView v{trees.lengths[row], trees.tokens.data() + off, trees.parents.data() + off,
            trees.beamTokenIndex.data() + off,
            trees.unpacker.data() + size_t(row) * trees.width * trees.length};
  int roots = 0;
  for (int p = 0; p < v.n; ++p) {
    roots += v.parents[p] < 0;
    RD_REQUIRE(v.tokens[p] < vocab, "beams",
               "token " + std::to_string(v.tokens[p]) + " is outside the vocabulary (" + std::to_string(vocab) + ")");
  }
  RD_REQUIRE(roots == 1, "beams", "must all start with the same token (the LLM's) in row " + std::to_string(row));
  return v;
}

}  // namespace

void samplingDistribution(const float* logits, int vocab, const SamplingParams& params, float* probs) {
  RD_REQUIRE(vocab >= 1, "vocab", "must be >= 1, got " + std::to_string(vocab));
  checkParams(params);
  std::vector<double> p;
  std::vector<float> sorted;
  std::vector<int32_t> order;
  distribution(logits, vocab, params, p, sorted, order);
  for (int i = 0; i < vocab; ++i) probs[i] = float(p[i]);
}

int32_t sampleFrom(const float* probs, int vocab, Rng& rng) {
  RD_REQUIRE(vocab >= 1, "vocab", "must be >= 1, got " + std::to_string(vocab));
  const std::vector<double> p(probs, probs + vocab);
  return sampleFromDouble(p, checkedTotal(p), rng);
}

int32_t sampleNext(const float* logits, int vocab, const SamplingParams& params, Rng& rng, SamplingScratch& s) {
  RD_REQUIRE(vocab >= 1, "vocab", "must be >= 1, got " + std::to_string(vocab));
  checkParams(params);
  distribution(logits, vocab, params, s.probs, s.sorted, s.order);
  // rounded through float as samplingDistribution's output is, so the draw is sampleFrom's
  for (double& x : s.probs) x = double(float(x));
  return sampleFromDouble(s.probs, checkedTotal(s.probs), rng);
}

Verification verifySamplingExact(const PackedTrees& trees, int row, const int32_t* beams, const float* logits,
                                 int vocab, const SamplingParams& params, Rng& rng) {
  SamplingScratch scratch;
  Verification v;
  verifySamplingExact(trees, row, beams, logits, vocab, params, rng, scratch, v);
  return v;
}

void verifySamplingExact(const PackedTrees& trees, int row, const int32_t* beams, const float* logits, int vocab,
                         const SamplingParams& params, Rng& rng, SamplingScratch& s, Verification& v) {
  RD_REQUIRE(vocab >= 1, "vocab", "must be >= 1, got " + std::to_string(vocab));
  checkParams(params);
  const RowView tree = rowOf(trees, row, vocab);
  // children[p]: the packed indices whose parent is p, ascending = packed order. Siblings hold distinct
  // tokens (equal ones would share a prefix and have been deduplicated).
  std::vector<int32_t>& childStart = s.childStart;
  std::vector<int32_t>& children = s.children;
  childStart.assign(size_t(tree.n) + 1, 0);
  children.assign(size_t(tree.n), 0);
  for (int p = 0; p < tree.n; ++p)
    if (tree.parents[p] >= 0) ++childStart[tree.parents[p] + 1];
  for (int p = 0; p < tree.n; ++p) childStart[p + 1] += childStart[p];
  s.fill.assign(childStart.begin(), childStart.end() - 1);
  for (int p = 0; p < tree.n; ++p)
    if (tree.parents[p] >= 0) children[s.fill[tree.parents[p]]++] = p;

  v.acceptedPacked.clear();
  v.acceptedTokens.clear();
  std::vector<double>& probs = s.probs;
  std::vector<double>& original = s.original;
  bool haveOriginal = false;  // original holds p' before this node's rejections
  int32_t node = 0;  // the root is packed index 0 (beam 0's first token)
  v.acceptedPacked.push_back(node);
  for (;;) {
    distribution(logits + size_t(node) * vocab, vocab, params, probs, s.sorted, s.order);
    double mass = 1.0;
    int32_t accepted = -1;
    for (int32_t i = childStart[node]; i < childStart[node + 1]; ++i) {
      const int32_t child = children[i];
      const int32_t token = tree.tokens[child];
      if (rng.uniform() * mass < probs[token]) {
        accepted = child;
        break;
      }
      if (!haveOriginal) {
        original.assign(probs.begin(), probs.end());
        haveOriginal = true;
      }
      mass -= probs[token];
      probs[token] = 0;
      if (mass <= 1e-9) {  // guard against cancellation: re-add the mass left
        mass = 0;
        for (double p : probs) mass += p;
      }
    }
    if (accepted >= 0) {
      node = accepted;
      v.acceptedPacked.push_back(node);
      v.acceptedTokens.push_back(tree.tokens[node]);
      haveOriginal = false;
      continue;
    }
    // Every child rejected (or a leaf): the next token from p' with the rejected children removed.
    // (mass is > 0 whenever a rejection happened with probability > 0; if rounding left none, fall back to p'.)
    if (mass > 0) {
      v.nextToken = sampleFromDouble(probs, mass, rng);
    } else {
      v.nextToken = sampleFromDouble(original, 1.0, rng);
    }
    break;
  }
  v.acceptedLength = int(v.acceptedTokens.size());
  v.beam = tree.beamIndex[node] / trees.length;  // the first beam holding the accepted path
  (void)beams;
}

Verification verifySamplingApple(const PackedTrees& trees, int row, const int32_t* beams, const float* logits,
                                 const float* drafterLogProbs, int vocab, const SamplingParams& params, Rng& rng) {
  SamplingScratch scratch;
  Verification v;
  verifySamplingApple(trees, row, beams, logits, drafterLogProbs, vocab, params, rng, scratch, v);
  return v;
}

void verifySamplingApple(const PackedTrees& trees, int row, const int32_t* beams, const float* logits,
                         const float* drafterLogProbs, int vocab, const SamplingParams& params, Rng& rng,
                         SamplingScratch& s, Verification& v) {
  RD_REQUIRE(vocab >= 1, "vocab", "must be >= 1, got " + std::to_string(vocab));
  checkParams(params);
  const RowView tree = rowOf(trees, row, vocab);
  const int width = trees.width, length = trees.length, drafted = length - 1;
  // p' per packed node, computed on first use.
  if (s.perNode.size() < size_t(tree.n)) s.perNode.resize(size_t(tree.n));
  s.computed.assign(size_t(tree.n), 0);
  auto llm = [&](int32_t packed) -> const std::vector<double>& {
    if (!s.computed[packed]) {
      distribution(logits + size_t(packed) * vocab, vocab, params, s.perNode[packed], s.sorted, s.order);
      s.computed[packed] = 1;
    }
    return s.perNode[packed];
  };
  auto drafter = [&](int w, int l) { return drafterLogProbs + (size_t(w) * drafted + l) * vocab; };

  // compare[w][l] = rand < P(t)/Q(t) for every drafted token (Apple draws one uniform per [width, length-1]);
  // the beam with the longest all-true prefix wins, ties to the lowest index.
  std::vector<double>& u = s.uniforms;
  u.resize(size_t(width) * drafted);
  for (double& x : u) x = rng.uniform();
  int best = -1, bestBeam = 0;
  for (int w = 0; w < width; ++w) {
    const int32_t* unpack = tree.unpacker + size_t(w) * length;
    int n = 0;
    while (n < drafted) {
      const int32_t token = tree.tokens[unpack[n + 1]];  // beams[w][n+1], read through the tree
      const double logP = std::log(llm(unpack[n])[token]);
      const double ratio = std::exp(logP - double(drafter(w, n)[token]));
      if (!(u[size_t(w) * drafted + n] < ratio)) break;  // NaN (0/0) rejects, as torch.lt does
      ++n;
    }
    if (n > best) {
      best = n;
      bestBeam = w;
    }
  }

  v.beam = bestBeam;
  v.acceptedLength = best;
  const int32_t* unpack = tree.unpacker + size_t(bestBeam) * length;
  v.acceptedPacked.assign(unpack, unpack + 1 + best);
  v.acceptedTokens.clear();
  for (int i = 1; i <= best; ++i) v.acceptedTokens.push_back(tree.tokens[unpack[i]]);
  const std::vector<double>& pNext = llm(unpack[best]);
  if (best == drafted) {
    v.nextToken = sampleFromDouble(pNext, 1.0, rng);
  } else {
    // Apple resamples from relu(P - Q) at the first rejected position. If that is all zero (P <= Q
    // everywhere, e.g. P == Q) torch's Categorical is undefined; here it falls back to P.
    std::vector<double>& residual = s.residual;
    residual.resize(size_t(vocab));
    double mass = 0;
    const float* q = drafter(bestBeam, best);
    for (int t = 0; t < vocab; ++t) {
      residual[t] = std::max(0.0, pNext[t] - std::exp(double(q[t])));
      mass += residual[t];
    }
    v.nextToken = mass > 0 ? sampleFromDouble(residual, mass, rng) : sampleFromDouble(pNext, 1.0, rng);
  }
  (void)beams;
}

}  // namespace redrafter

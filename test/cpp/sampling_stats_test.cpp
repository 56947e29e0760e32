// The exact sampler preserves the LLM's distribution; Apple's rule does not.
//
// A synthetic LLM (logits a fixed hash of the whole context) and a synthetic deterministic drafter (beams a
// fixed hash of the context, tiny vocabulary so beams share prefixes) drive ReDrafter steps:
// buildTree -> verifySamplingExact -> append the accepted tokens and the next token -> repeat, until N
// tokens exist. Over 200k independent generations the joint distribution of the first N generated tokens
// must equal the LLM's own (product of p' = softmax(logits/T) after top-k/top-p along the sequence):
//   - every cell within 4 standard deviations of its expectation, no draw in a zero-probability cell, and
//   - Pearson's chi-square test does not reject at significance alpha = 1e-3 (p-value > 1e-3).
// Seeds are fixed, so the outcome is reproducible; a biased sampler fails it (see the Apple case below,
// where the same test detects a bias of 0.17 in one cell with p-value < 1e-12).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <vector>

#include "core/build_tree.h"
#include "core/rng.h"
#include "core/verify_sampling.h"
#include "stats.h"

using namespace redrafter;

namespace {

constexpr int kDraws = 200000;
constexpr double kAlpha = 1e-3;
constexpr double kMaxSigma = 4.0;

uint64_t hashTokens(const std::vector<int32_t>& ctx, uint64_t salt) {
  uint64_t h = 1469598103934665603ull ^ (salt * 0x9E3779B97F4A7C15ull);
  for (int32_t t : ctx) h = (h ^ uint64_t(t + 1)) * 1099511628211ull;
  return h;
}

// The synthetic LLM's logits [vocab] after `ctx`.
void llmLogits(const std::vector<int32_t>& ctx, int vocab, float* out) {
  Rng r(hashTokens(ctx, 1));
  for (int i = 0; i < vocab; ++i) out[i] = float(4.0 * r.uniform() - 2.0);
}

// The synthetic drafter: [width, length] beams after `ctx`, all starting with ctx.back().
std::vector<int32_t> draft(const std::vector<int32_t>& ctx, int width, int length, int vocab) {
  Rng r(hashTokens(ctx, 2));
  std::vector<int32_t> beams(size_t(width) * length);
  for (int w = 0; w < width; ++w) {
    // share a random-length prefix with the previous beam, then diverge
    const int shared = w == 0 ? 1 : 1 + int(r.nextU64() % uint64_t(length));
    for (int l = 0; l < length; ++l)
      beams[size_t(w) * length + l] = l == 0 ? ctx.back()
                                      : l < shared ? beams[size_t(w - 1) * length + l]
                                                   : int32_t(r.nextU64() % uint64_t(vocab));
  }
  return beams;
}

struct Config {
  int vocab, width, length, tokens;
  SamplingParams params;
};

struct Outcome {
  std::vector<int64_t> counts;
  std::vector<double> target;
  int64_t draftedAccepted = 0;
};

// One ReDrafter step's inputs for a context: the drafter's beams, their tree, the LLM's logits on it.
struct Step {
  std::vector<int32_t> beams;
  PackedTrees tree;
  std::vector<float> logits;  // [treeLength, vocab]
};

Step makeStep(const Config& c, const std::vector<int32_t>& ctx) {
  Step s;
  s.beams = draft(ctx, c.width, c.length, c.vocab);
  s.tree = buildTree(s.beams.data(), 1, c.width, c.length);
  const PackedTrees& t = s.tree;
  s.logits.assign(size_t(t.lengths[0]) * c.vocab, 0.0f);
  for (int p = 0; p < t.lengths[0]; ++p) {
    std::vector<int32_t> path;
    for (int a = p; t.parents[a] >= 0; a = t.parents[a]) path.insert(path.begin(), t.tokens[a]);
    std::vector<int32_t> seq = ctx;
    seq.insert(seq.end(), path.begin(), path.end());
    llmLogits(seq, c.vocab, &s.logits[size_t(p) * c.vocab]);
  }
  return s;
}

Outcome simulateExact(const Config& c, uint64_t seed) {
  int cells = 1;
  for (int i = 0; i < c.tokens; ++i) cells *= c.vocab;
  Outcome o;
  o.counts.assign(cells, 0);
  Rng rng(seed);
  std::map<std::vector<int32_t>, Step> steps;  // the inputs depend on the context only: build each once
  for (int draw = 0; draw < kDraws; ++draw) {
    std::vector<int32_t> ctx = {0};
    while (int(ctx.size()) - 1 < c.tokens) {
      auto it = steps.find(ctx);
      if (it == steps.end()) it = steps.emplace(ctx, makeStep(c, ctx)).first;
      const Step& s = it->second;
      Verification v = verifySamplingExact(s.tree, 0, s.beams.data(), s.logits.data(), c.vocab, c.params, rng);
      o.draftedAccepted += v.acceptedLength;
      ctx.insert(ctx.end(), v.acceptedTokens.begin(), v.acceptedTokens.end());
      ctx.push_back(v.nextToken);
    }
    int cell = 0;
    for (int i = c.tokens; i >= 1; --i) cell = cell * c.vocab + ctx[i];
    ++o.counts[cell];
  }
  // The target: the LLM's own probability of each token sequence.
  o.target.assign(cells, 0.0);
  std::vector<float> lg(c.vocab), p(c.vocab);
  for (int cell = 0; cell < cells; ++cell) {
    std::vector<int32_t> ctx = {0};
    double prob = 1;
    int rest = cell;
    for (int i = 0; i < c.tokens; ++i) {
      const int32_t tok = rest % c.vocab;
      rest /= c.vocab;
      llmLogits(ctx, c.vocab, lg.data());
      samplingDistribution(lg.data(), c.vocab, c.params, p.data());
      prob *= p[tok];
      ctx.push_back(tok);
    }
    o.target[cell] = prob;
  }
  return o;
}

void expectFits(const Outcome& o) {
  stats::Fit fit = stats::goodnessOfFit(o.counts, o.target);
  INFO("chi-square " << fit.chiSquare << " df " << fit.degreesOfFreedom << " p-value " << fit.pValue
                     << " worst cell " << fit.worstSigma << " sigma");
  CHECK_FALSE(fit.impossibleSeen);
  CHECK(fit.worstSigma <= kMaxSigma);
  CHECK(fit.pValue > kAlpha);
}

}  // namespace

TEST_CASE("exact sampler: the first 3 tokens follow the LLM (vocab 3, width 3, length 3, T=1)") {
  Outcome o = simulateExact({3, 3, 3, 3, {1.0f, 0, 1.0f}}, 101);
  CHECK(o.draftedAccepted > kDraws / 2);  // the tree was really used
  expectFits(o);
}

TEST_CASE("exact sampler: the first token over a wide tree (vocab 5, width 4, length 2, T=0.7, top-k 4)") {
  Outcome o = simulateExact({5, 4, 2, 1, {0.7f, 4, 1.0f}}, 202);
  CHECK(o.draftedAccepted > kDraws / 4);
  expectFits(o);
}

TEST_CASE("exact sampler: the first 2 tokens with top-p (vocab 4, width 2, length 4, T=1.3, top-p 0.8)") {
  Outcome o = simulateExact({4, 2, 4, 2, {1.3f, 0, 0.8f}}, 303);
  CHECK(o.draftedAccepted > kDraws / 4);
  expectFits(o);
}

TEST_CASE("Apple's rule is biased with a deterministic drafter; the exact rule is not, on the same case") {
  // One beam [0, 1]: the drafter proposes token 1 with q = [0.3, 0.7]; the LLM has p = [0.6, 0.4].
  // Apple accepts 1 with probability p/q = 4/7 and otherwise resamples from relu(p - q) = [0.3, 0] -> 0,
  // so its first token is 1 with probability 4/7 = 0.571, not the LLM's 0.4.
  std::vector<int32_t> beams = {0, 1};
  PackedTrees t = buildTree(beams.data(), 1, 1, 2);
  std::vector<float> logits = {std::log(0.6f), std::log(0.4f), 0.0f, 0.0f};  // [2 packed, vocab 2]
  std::vector<float> q = {std::log(0.3f), std::log(0.7f)};                   // [width 1, length-1, vocab 2]
  const std::vector<double> target = {0.6, 0.4}, appleExpected = {3.0 / 7, 4.0 / 7};
  Rng rng(404);
  std::vector<int64_t> apple(2, 0), exact(2, 0);
  for (int i = 0; i < kDraws; ++i) {
    Verification a = verifySamplingApple(t, 0, beams.data(), logits.data(), q.data(), 2, {}, rng);
    ++apple[a.acceptedLength > 0 ? a.acceptedTokens[0] : a.nextToken];
    Verification e = verifySamplingExact(t, 0, beams.data(), logits.data(), 2, {}, rng);
    ++exact[e.acceptedLength > 0 ? e.acceptedTokens[0] : e.nextToken];
  }
  stats::Fit appleVsLlm = stats::goodnessOfFit(apple, target);
  INFO("apple counts " << apple[0] << "/" << apple[1] << " p-value vs the LLM " << appleVsLlm.pValue);
  CHECK(appleVsLlm.pValue < 1e-12);  // the bias is detected
  CHECK(appleVsLlm.worstSigma > kMaxSigma);
  // and it is exactly the bias Apple's rule predicts (so this is Apple's rule, faithfully)
  CHECK(stats::goodnessOfFit(apple, appleExpected).pValue > kAlpha);
  stats::Fit exactFit = stats::goodnessOfFit(exact, target);
  INFO("exact counts " << exact[0] << "/" << exact[1] << " p-value " << exactFit.pValue);
  CHECK(exactFit.pValue > kAlpha);
  CHECK(exactFit.worstSigma <= kMaxSigma);
}

TEST_CASE("the chi-square p-value is right on known values") {
  // Q(df/2, x/2): chi-square survival function.
  CHECK(stats::upperGammaQ(0.5, 3.841458820694124 / 2) == doctest::Approx(0.05).epsilon(1e-6));
  CHECK(stats::upperGammaQ(5.0, 18.307038053275146 / 2) == doctest::Approx(0.05).epsilon(1e-6));   // df 10
  CHECK(stats::upperGammaQ(13.0, 54.05196 / 2) == doctest::Approx(0.001).epsilon(1e-4));         // df 26
  CHECK(stats::upperGammaQ(1.0, 1.0) == doctest::Approx(std::exp(-1.0)));
}

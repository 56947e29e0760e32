// Verification: greedy (hand-worked and against a prefix-function reference), and the deterministic
// corners of the sampling rules (certain acceptance, certain rejection, top-k/top-p distributions).
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/build_tree.h"
#include "core/error.h"
#include "core/verify_greedy.h"
#include "core/verify_sampling.h"

using namespace redrafter;

namespace {

// A deterministic "LLM": its argmax after a token prefix.
int32_t llmArgmax(const int32_t* prefix, int n, int vocab) {
  uint64_t h = 1469598103934665603ull;
  for (int i = 0; i < n; ++i) h = (h ^ uint64_t(prefix[i] + 1)) * 1099511628211ull;
  return int32_t((h >> 17) % uint64_t(vocab));
}

// The tokens from the root to packed node p (inclusive) of row b.
std::vector<int32_t> pathTo(const PackedTrees& t, int b, int p) {
  std::vector<int32_t> path;
  for (int a = p; a >= 0; a = t.parents[size_t(b) * t.maxLength + a]) path.insert(path.begin(), t.tokens[size_t(b) * t.maxLength + a]);
  return path;
}

}  // namespace

TEST_CASE("verifyGreedy: hand-worked tree") {
  // beams: root 1; [1,2,3], [1,2,4], [1,5,6]. Packed: 1,2,3,4,5,6 (unpacker below).
  std::vector<int32_t> beams = {1, 2, 3, 1, 2, 4, 1, 5, 6};
  PackedTrees t = buildTree(beams.data(), 1, 3, 3);
  REQUIRE(t.tokens == std::vector<int32_t>{1, 2, 3, 4, 5, 6});
  SUBCASE("the LLM agrees with beam 1 all the way") {
    // argmax at packed: after 1 -> 2, after 1,2 -> 4, after 1,2,3 -> 9, after 1,2,4 -> 7, ...
    std::vector<int32_t> argmax = {2, 4, 9, 7, 0, 0};
    Verification v = verifyGreedy(beams.data(), 3, 3, t.unpacker.data(), argmax.data());
    CHECK(v.beam == 1);
    CHECK(v.acceptedLength == 2);
    CHECK(v.acceptedTokens == std::vector<int32_t>{2, 4});
    CHECK(v.acceptedPacked == std::vector<int32_t>{0, 1, 3});
    CHECK(v.nextToken == 7);
  }
  SUBCASE("nothing accepted: beam 0, the LLM's own next token") {
    std::vector<int32_t> argmax = {8, 4, 9, 7, 0, 0};
    Verification v = verifyGreedy(beams.data(), 3, 3, t.unpacker.data(), argmax.data());
    CHECK(v.beam == 0);
    CHECK(v.acceptedLength == 0);
    CHECK(v.acceptedTokens.empty());
    CHECK(v.acceptedPacked == std::vector<int32_t>{0});
    CHECK(v.nextToken == 8);
  }
  SUBCASE("ties go to the lowest beam index") {
    std::vector<int32_t> argmax = {2, 0, 0, 0, 0, 0};  // beams 0 and 1 both accept 1 token
    Verification v = verifyGreedy(beams.data(), 3, 3, t.unpacker.data(), argmax.data());
    CHECK(v.beam == 0);
    CHECK(v.acceptedLength == 1);
    CHECK(v.nextToken == 0);
  }
}

TEST_CASE("verifyGreedy into a reused Verification: nothing of the previous result is left") {
  std::vector<int32_t> beams = {1, 2, 3, 1, 2, 4, 1, 5, 6};
  PackedTrees t = buildTree(beams.data(), 1, 3, 3);
  Verification v;
  std::vector<int32_t> agrees = {2, 4, 9, 7, 0, 0}, none = {8, 4, 9, 7, 0, 0};
  verifyGreedy(beams.data(), 3, 3, t.unpacker.data(), agrees.data(), v);
  CHECK(v.beam == 1);
  CHECK(v.acceptedTokens == std::vector<int32_t>{2, 4});
  verifyGreedy(beams.data(), 3, 3, t.unpacker.data(), none.data(), v);
  CHECK(v.beam == 0);
  CHECK(v.acceptedLength == 0);
  CHECK(v.acceptedTokens.empty());
  CHECK(v.acceptedPacked == std::vector<int32_t>{0});
  CHECK(v.nextToken == 8);
}

TEST_CASE("verifyGreedy: length 2 and width 1") {
  std::vector<int32_t> beams = {4, 5};
  PackedTrees t = buildTree(beams.data(), 1, 1, 2);
  std::vector<int32_t> argmax = {5, 6};
  Verification v = verifyGreedy(beams.data(), 1, 2, t.unpacker.data(), argmax.data());
  CHECK(v.acceptedLength == 1);
  CHECK(v.acceptedTokens == std::vector<int32_t>{5});
  CHECK(v.nextToken == 6);
}

TEST_CASE("verifyGreedy: equals a per-beam prefix check against the LLM on random heavy-sharing trees") {
  std::mt19937 gen(42);
  int fullAccepts = 0, partial = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    const int batch = 1 + int(gen() % 3), width = 1 + int(gen() % 6), length = 2 + int(gen() % 5);
    const int vocab = 2 + int(gen() % 2);
    std::vector<int32_t> beams(size_t(batch) * width * length);
    for (int b = 0; b < batch; ++b)
      for (int w = 0; w < width; ++w)
        for (int l = 0; l < length; ++l) {
          int32_t* beam = &beams[(size_t(b) * width + w) * length];
          // Often follow the LLM so long acceptances happen; root shared per row.
          beam[l] = l == 0 ? int32_t(b % vocab) : (gen() % 3 ? llmArgmax(beam, l, vocab) : int32_t(gen() % vocab));
        }
    PackedTrees t = buildTree(beams.data(), batch, width, length);
    for (int b = 0; b < batch; ++b) {
      // argmax at each packed node from the LLM applied to that node's root path.
      std::vector<int32_t> argmax(t.lengths[b]);
      for (int p = 0; p < t.lengths[b]; ++p) {
        auto path = pathTo(t, b, p);
        argmax[p] = llmArgmax(path.data(), int(path.size()), vocab);
      }
      const int32_t* rowBeams = beams.data() + size_t(b) * width * length;
      Verification v = verifyGreedy(rowBeams, width, length, t.unpacker.data() + size_t(b) * width * length,
                                    argmax.data());
      int best = -1, bestW = 0;
      for (int w = 0; w < width; ++w) {
        const int32_t* beam = rowBeams + size_t(w) * length;
        int n = 0;
        while (n + 1 < length && beam[n + 1] == llmArgmax(beam, n + 1, vocab)) ++n;
        if (n > best) best = n, bestW = w;
      }
      REQUIRE(v.beam == bestW);
      REQUIRE(v.acceptedLength == best);
      const int32_t* beam = rowBeams + size_t(bestW) * length;
      REQUIRE(v.acceptedTokens == std::vector<int32_t>(beam + 1, beam + 1 + best));
      REQUIRE(v.nextToken == llmArgmax(beam, best + 1, vocab));
      REQUIRE(int(v.acceptedPacked.size()) == best + 1);
      for (int i = 0; i <= best; ++i) REQUIRE(t.tokens[size_t(b) * t.maxLength + v.acceptedPacked[i]] == beam[i]);
      fullAccepts += best == length - 1;
      partial += best > 0 && best < length - 1;
    }
  }
  CHECK(fullAccepts > 100);
  CHECK(partial > 100);
}

TEST_CASE("samplingDistribution: temperature, top-k and top-p") {
  std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  std::vector<float> p(4);
  samplingDistribution(logits.data(), 4, {1.0f, 0, 1.0f}, p.data());
  CHECK(p[0] == doctest::Approx(0.5));
  CHECK(p[3] == doctest::Approx(0.05));
  samplingDistribution(logits.data(), 4, {1.0f, 2, 1.0f}, p.data());
  CHECK(p[0] == doctest::Approx(0.625));
  CHECK(p[1] == doctest::Approx(0.375));
  CHECK(p[2] == 0.0f);
  samplingDistribution(logits.data(), 4, {1.0f, 0, 0.79f}, p.data());  // 0.5+0.3 reaches 0.79
  CHECK(p[0] == doctest::Approx(0.625));
  CHECK(p[2] == 0.0f);
  samplingDistribution(logits.data(), 4, {1.0f, 0, 0.81f}, p.data());  // needs the third token
  CHECK(p[2] == doctest::Approx(0.15 / 0.95));
  CHECK(p[3] == 0.0f);
  samplingDistribution(logits.data(), 4, {0.5f, 0, 1.0f}, p.data());  // p^2 renormalised
  const double z = 0.25 + 0.09 + 0.0225 + 0.0025;
  CHECK(p[0] == doctest::Approx(0.25 / z));
  CHECK(p[3] == doctest::Approx(0.0025 / z));
}

TEST_CASE("verifySamplingExact: certain acceptance walks the whole beam; certain rejection emits the LLM's token") {
  // beams [[0,1,2],[0,3,1]], vocab 4. Packed: 0,1,2,3,1 (packed 3 = token 3 under root, packed 4 = token 1 under it).
  std::vector<int32_t> beams = {0, 1, 2, 0, 3, 1};
  PackedTrees t = buildTree(beams.data(), 1, 2, 3);
  REQUIRE(t.tokens == std::vector<int32_t>{0, 1, 2, 3, 1});
  const int V = 4;
  auto oneHot = [&](std::vector<float>& logits, int node, int token) {
    for (int i = 0; i < V; ++i) logits[size_t(node) * V + i] = i == token ? 0.0f : -1e4f;
  };
  std::vector<float> logits(size_t(5) * V);
  Rng rng(5);
  SamplingParams params;
  SUBCASE("follow beam 1 to its leaf") {
    oneHot(logits, 0, 3);  // root -> 3 (second child in packed order)
    oneHot(logits, 3, 1);  // 3 -> 1
    oneHot(logits, 4, 2);  // after the leaf: 2
    oneHot(logits, 1, 0);
    oneHot(logits, 2, 0);
    for (int i = 0; i < 50; ++i) {
      Verification v = verifySamplingExact(t, 0, beams.data(), logits.data(), V, params, rng);
      CHECK(v.beam == 1);
      CHECK(v.acceptedTokens == std::vector<int32_t>{3, 1});
      CHECK(v.acceptedPacked == std::vector<int32_t>{0, 3, 4});
      CHECK(v.nextToken == 2);
    }
  }
  SUBCASE("the LLM never proposes a drafted child") {
    oneHot(logits, 0, 2);
    for (int i = 0; i < 50; ++i) {
      Verification v = verifySamplingExact(t, 0, beams.data(), logits.data(), V, params, rng);
      CHECK(v.acceptedLength == 0);
      CHECK(v.acceptedPacked == std::vector<int32_t>{0});
      CHECK(v.nextToken == 2);
    }
  }
  SUBCASE("top-k 1 turns sampling greedy") {
    std::vector<float> soft(size_t(5) * V, 0.0f);
    soft[0 * V + 1] = 1.0f;  // root argmax 1 (child packed 1)
    soft[1 * V + 2] = 1.0f;  // then 2 (packed 2, a leaf)
    soft[2 * V + 3] = 1.0f;  // then 3
    params.topK = 1;
    for (int i = 0; i < 50; ++i) {
      Verification v = verifySamplingExact(t, 0, beams.data(), soft.data(), V, params, rng);
      CHECK(v.acceptedTokens == std::vector<int32_t>{1, 2});
      CHECK(v.nextToken == 3);
      CHECK(v.beam == 0);
    }
  }
}

TEST_CASE("verifySamplingApple: a drafter at least as confident as the LLM never rejects; a rejected token resamples from relu(p-q)") {
  // width 1, length 3: [0, 1, 2]; vocab 3.
  std::vector<int32_t> beams = {0, 1, 2};
  PackedTrees t = buildTree(beams.data(), 1, 1, 3);
  const int V = 3;
  std::vector<float> logits(size_t(3) * V, 0.0f);  // p uniform everywhere
  std::vector<float> q(size_t(2) * V);
  Rng rng(11);
  SUBCASE("q == p: ratio 1, always accepted, next from p at the leaf") {
    for (float& x : q) x = std::log(1.0f / 3);
    int counts[3] = {0, 0, 0};
    for (int i = 0; i < 300; ++i) {
      Verification v = verifySamplingApple(t, 0, beams.data(), logits.data(), q.data(), V, {}, rng);
      REQUIRE(v.acceptedLength == 2);
      REQUIRE(v.acceptedPacked == std::vector<int32_t>{0, 1, 2});
      ++counts[v.nextToken];
    }
    CHECK(counts[0] > 50);
    CHECK(counts[1] > 50);
    CHECK(counts[2] > 50);
  }
  SUBCASE("p(drafted) == 0: rejected at once, next from relu(p - q)") {
    // p at root: [0.5, 0, 0.5] via logits; q at step 0: [0.1, 0.8, 0.1] -> relu(p-q) = [0.4, 0, 0.4]
    logits[0] = 0.0f, logits[1] = -1e4f, logits[2] = 0.0f;
    q = {std::log(0.1f), std::log(0.8f), std::log(0.1f), 0, 0, 0};
    for (int i = 0; i < 100; ++i) {
      Verification v = verifySamplingApple(t, 0, beams.data(), logits.data(), q.data(), V, {}, rng);
      REQUIRE(v.acceptedLength == 0);
      REQUIRE(v.nextToken != 1);
    }
  }
}

TEST_CASE("sampling into a reused scratch and Verification: the by-value forms' results and draws, no new memory") {
  std::mt19937 gen(7);
  SamplingScratch scratch;
  Verification exact, apple;
  exact.acceptedTokens = {9, 9, 9}, exact.acceptedPacked = {9}, exact.nextToken = 99;  // leftovers to overwrite
  apple = exact;
  const double* probsBefore = nullptr;
  size_t sameBuffers = 0, warm = 0;
  for (int iter = 0; iter < 400; ++iter) {
    const int width = 1 + int(gen() % 4), length = 2 + int(gen() % 4), vocab = 3 + int(gen() % 6);
    std::vector<int32_t> beams(size_t(width) * length);
    for (int w = 0; w < width; ++w)
      for (int l = 0; l < length; ++l) beams[size_t(w) * length + l] = l == 0 ? 0 : int32_t(gen() % vocab);
    PackedTrees t = buildTree(beams.data(), 1, width, length);
    std::normal_distribution<float> nd(0.0f, 2.0f);
    std::vector<float> logits(size_t(t.lengths[0]) * vocab), q(size_t(width) * (length - 1) * vocab);
    for (float& x : logits) x = nd(gen);
    for (int row = 0; row < width * (length - 1); ++row) {  // log-softmax rows for the drafter
      float m = -1e30f, sum = 0;
      float* r = q.data() + size_t(row) * vocab;
      for (int i = 0; i < vocab; ++i) m = std::max(m, r[i] = nd(gen));
      for (int i = 0; i < vocab; ++i) sum += std::exp(r[i] - m);
      for (int i = 0; i < vocab; ++i) r[i] = r[i] - m - std::log(sum);
    }
    SamplingParams params;
    params.temperature = 0.5f + float(gen() % 10) / 10;
    params.topK = int(gen() % 3) == 0 ? 1 + int(gen() % vocab) : 0;
    params.topP = int(gen() % 3) == 0 ? 0.5f + float(gen() % 5) / 10 : 1.0f;
    const uint64_t seed = gen();

    Rng a(seed), b(seed);
    const Verification want = verifySamplingExact(t, 0, beams.data(), logits.data(), vocab, params, a);
    verifySamplingExact(t, 0, beams.data(), logits.data(), vocab, params, b, scratch, exact);
    REQUIRE(exact.beam == want.beam);
    REQUIRE(exact.acceptedLength == want.acceptedLength);
    REQUIRE(exact.acceptedTokens == want.acceptedTokens);
    REQUIRE(exact.acceptedPacked == want.acceptedPacked);
    REQUIRE(exact.nextToken == want.nextToken);
    REQUIRE(a.uniform() == b.uniform());  // the same number of draws

    Rng c(seed), d(seed);
    const Verification wantApple = verifySamplingApple(t, 0, beams.data(), logits.data(), q.data(), vocab, params, c);
    verifySamplingApple(t, 0, beams.data(), logits.data(), q.data(), vocab, params, d, scratch, apple);
    REQUIRE(apple.beam == wantApple.beam);
    REQUIRE(apple.acceptedLength == wantApple.acceptedLength);
    REQUIRE(apple.acceptedTokens == wantApple.acceptedTokens);
    REQUIRE(apple.acceptedPacked == wantApple.acceptedPacked);
    REQUIRE(apple.nextToken == wantApple.nextToken);
    REQUIRE(c.uniform() == d.uniform());

    Rng e(seed), f(seed);
    std::vector<float> probs(static_cast<size_t>(vocab));
    samplingDistribution(logits.data(), vocab, params, probs.data());
    REQUIRE(sampleNext(logits.data(), vocab, params, f, scratch) == sampleFrom(probs.data(), vocab, e));
    REQUIRE(e.uniform() == f.uniform());

    // once the largest vocabulary has been seen (8), the scratch keeps its buffers
    if (iter >= 200) {
      ++warm;
      sameBuffers += scratch.probs.data() == probsBefore;
    }
    probsBefore = scratch.probs.data();
  }
  CHECK(sameBuffers == warm);
}

TEST_CASE("sampling: bad parameters and trees name the field") {
  std::vector<int32_t> beams = {0, 1, 2, 3};  // two different roots
  PackedTrees t = buildTree(beams.data(), 1, 2, 2);
  std::vector<float> logits(4 * 4, 0.0f);
  Rng rng(1);
  auto what = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(what([&] { verifySamplingExact(t, 0, beams.data(), logits.data(), 4, {}, rng); }).rfind("beams ", 0) == 0);
  std::vector<int32_t> ok = {0, 1, 0, 2};
  PackedTrees t2 = buildTree(ok.data(), 1, 2, 2);
  CHECK(what([&] { verifySamplingExact(t2, 1, ok.data(), logits.data(), 4, {}, rng); }).rfind("row ", 0) == 0);
  CHECK(what([&] { verifySamplingExact(t2, 0, ok.data(), logits.data(), 4, {0.0f, 0, 1.0f}, rng); })
            .rfind("temperature ", 0) == 0);
  CHECK(what([&] { verifySamplingExact(t2, 0, ok.data(), logits.data(), 4, {1.0f, -1, 1.0f}, rng); })
            .rfind("topK ", 0) == 0);
  CHECK(what([&] { verifySamplingExact(t2, 0, ok.data(), logits.data(), 4, {1.0f, 0, 0.0f}, rng); })
            .rfind("topP ", 0) == 0);
  CHECK(what([&] { verifySamplingExact(t2, 0, ok.data(), logits.data(), 2, {}, rng); }).rfind("beams ", 0) == 0);
  std::vector<float> zero(3, 0.0f);
  CHECK(what([&] { sampleFrom(zero.data(), 3, rng); }).rfind("probs ", 0) == 0);
}

TEST_CASE("Rng: the standard mt19937_64 sequence (same numbers on every platform), uniform in [0, 1)") {
  Rng standard(5489);  // the C++ standard pins the 10000th output for the default seed 5489
  uint64_t x = 0;
  for (int i = 0; i < 10000; ++i) x = standard.nextU64();
  CHECK(x == 9981545732273789042ull);
  Rng a(77), b(77), c(78);
  bool differs = false;
  for (int i = 0; i < 1000; ++i) {
    const double u = a.uniform();
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
    REQUIRE(u == b.uniform());
    differs |= u != c.uniform();
  }
  CHECK(differs);
}

TEST_CASE("verifyGreedy and verifySamplingExact: identical beams, and batch rows of different tree sizes") {
  // row 0: all beams identical [3,1,2] (tree of 3); row 1: [3,1,2], [3,2,1] (tree of 5). vocab 4.
  std::vector<int32_t> beams = {3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 2, 1};
  PackedTrees t = buildTree(beams.data(), 2, 2, 3);
  REQUIRE(t.lengths == std::vector<int32_t>{3, 5});
  const int n = t.maxLength, V = 4;
  // The LLM continues 3 -> 2 -> 1 -> 0 in both rows: row 0 accepts nothing, row 1 accepts beam 1 fully.
  std::vector<int32_t> argmax = {2, 0, 0, -1, -1, /* row 1 packed: 3,1,2,2,1 */ 2, 0, 0, 1, 0};
  Verification g0 = verifyGreedy(beams.data(), 2, 3, t.unpacker.data(), argmax.data());
  CHECK(g0.beam == 0);
  CHECK(g0.acceptedLength == 0);
  CHECK(g0.nextToken == 2);
  Verification g1 = verifyGreedy(beams.data() + 6, 2, 3, t.unpacker.data() + 6, argmax.data() + n);
  CHECK(g1.beam == 1);
  CHECK(g1.acceptedTokens == std::vector<int32_t>{2, 1});
  CHECK(g1.acceptedPacked == std::vector<int32_t>{0, 3, 4});
  CHECK(g1.nextToken == 0);
  // The same with sampling at top-k 1 (greedy): both rules agree with the greedy path.
  std::vector<float> logits(size_t(2) * n * V, 0.0f);  // [batch, maxLength, vocab]
  for (int b = 0; b < 2; ++b)
    for (int p = 0; p < t.lengths[b]; ++p) logits[(size_t(b) * n + p) * V + argmax[b * n + p]] = 1.0f;
  Rng rng(9);
  SamplingParams greedy{1.0f, 1, 1.0f};
  for (int b = 0; b < 2; ++b) {
    Verification e = verifySamplingExact(t, b, beams.data() + b * 6, logits.data() + size_t(b) * n * V, V, greedy, rng);
    const Verification& g = b == 0 ? g0 : g1;
    CHECK(e.acceptedTokens == g.acceptedTokens);
    CHECK(e.acceptedPacked == g.acceptedPacked);
    CHECK(e.nextToken == g.nextToken);
    CHECK(e.beam == g.beam);
  }
}

// beamSearchStep and appleProcessLogits: hand-worked steps and brute-force references on random inputs.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/beam_search.h"
#include "core/error.h"
#include "ops_reference.h"

using namespace redrafter;

TEST_CASE("appleProcessLogits: subtract max, keep the top k, log-softmax") {
  // vocab 4, k 2: keep 3.0 and 2.0, mask the rest at -50000.
  std::vector<float> x = {1.0f, 3.0f, 2.0f, -1.0f};
  appleProcessLogits(x.data(), 4, 2);
  const double lse = std::log(std::exp(0.0) + std::exp(-1.0));  // after the shift: [.., 0, -1, ..]
  CHECK(x[1] == doctest::Approx(0.0 - lse).epsilon(1e-6));
  CHECK(x[2] == doctest::Approx(-1.0 - lse).epsilon(1e-6));
  CHECK(x[0] == doctest::Approx(-50000.0 - lse));
  CHECK(x[3] == doctest::Approx(-50000.0 - lse));
  // probabilities of the kept tokens sum to 1
  CHECK(std::exp(double(x[1])) + std::exp(double(x[2])) == doctest::Approx(1.0));
}

TEST_CASE("appleProcessLogits: ties with the k-th value are kept; k >= vocab keeps all") {
  std::vector<float> x = {2.0f, 1.0f, 1.0f, 0.0f};
  appleProcessLogits(x.data(), 4, 2);  // 1.0 ties at rank 2: both kept
  CHECK(x[3] < -40000.0f);
  CHECK(x[1] > -10.0f);
  CHECK(x[2] == x[1]);
  std::vector<float> y = {0.5f, -0.5f};
  appleProcessLogits(y.data(), 2, 50);
  CHECK(std::exp(double(y[0])) + std::exp(double(y[1])) == doctest::Approx(1.0));
}

TEST_CASE("appleProcessLogits: matches a full-sort reference on random rows") {
  std::mt19937 gen(7);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (int iter = 0; iter < 2000; ++iter) {
    const int vocab = 1 + int(gen() % 120), topK = 1 + int(gen() % 60);
    std::vector<float> x(vocab);
    for (float& v : x) v = gen() % 5 == 0 ? float(int(normal(gen))) : normal(gen);  // some ties
    auto ref = reference::appleLogits(x, topK, kAppleMaskedLogit);
    appleProcessLogits(x.data(), vocab, topK);
    for (int i = 0; i < vocab; ++i) REQUIRE(x[i] == doctest::Approx(ref[i]).epsilon(1e-6));
  }
}

TEST_CASE("beamSearchStep: the first step expands beam 0 only, like Apple's beam_search_candidates") {
  // width 3, vocab 4. Every beam holds the same distribution (all beams are the LLM token alone).
  const int W = 3, V = 4;
  std::vector<float> scores = {0, 0, 0};
  std::vector<float> logp = {std::log(0.1f), std::log(0.4f), std::log(0.2f), std::log(0.3f)};
  std::vector<float> all;
  for (int w = 0; w < W; ++w) all.insert(all.end(), logp.begin(), logp.end());
  std::vector<float> outScores(W);
  std::vector<int32_t> parent(W), token(W);
  beamSearchStep(scores.data(), all.data(), 1, W, V, true, outScores.data(), parent.data(), token.data());
  CHECK(parent == std::vector<int32_t>{0, 0, 0});
  CHECK(token == std::vector<int32_t>{1, 3, 2});
  CHECK(outScores[0] == doctest::Approx(std::log(0.4)));
  CHECK(outScores[2] == doctest::Approx(std::log(0.2)));
  // Without the first-step rule the identical beams would all pick token 1.
  beamSearchStep(scores.data(), all.data(), 1, W, V, false, outScores.data(), parent.data(), token.data());
  CHECK(token == std::vector<int32_t>{1, 1, 1});
  CHECK(parent == std::vector<int32_t>{0, 1, 2});
}

TEST_CASE("beamSearchStep: a later step mixes beams by joint score; batch rows are independent") {
  const int W = 2, V = 3;
  // row 0: beam 0 score -1, beam 1 score -0.5; row 1: swapped.
  std::vector<float> scores = {-1.0f, -0.5f, -0.5f, -1.0f};
  std::vector<float> logp = {
      -0.1f, -2.0f, -3.0f,   // row 0 beam 0: joint -1.1, -3, -4
      -1.0f, -0.7f, -4.0f,   // row 0 beam 1: joint -1.5, -1.2, -4.5
      -0.1f, -2.0f, -3.0f,   // row 1 beam 0: joint -0.6, -2.5, -3.5
      -1.0f, -0.2f, -4.0f,   // row 1 beam 1: joint -2.0, -1.2, -5
  };
  std::vector<float> outScores(4);
  std::vector<int32_t> parent(4), token(4);
  beamSearchStep(scores.data(), logp.data(), 2, W, V, false, outScores.data(), parent.data(), token.data());
  CHECK(parent == std::vector<int32_t>{0, 1, 0, 1});
  CHECK(token == std::vector<int32_t>{0, 1, 0, 1});
  CHECK(outScores[0] == doctest::Approx(-1.1));
  CHECK(outScores[1] == doctest::Approx(-1.2));
  CHECK(outScores[2] == doctest::Approx(-0.6));
  CHECK(outScores[3] == doctest::Approx(-1.2));
}

TEST_CASE("beamSearchStep: equals brute-force top-k on random inputs (with ties)") {
  std::mt19937 gen(99);
  std::uniform_real_distribution<float> uni(-6.0f, 0.0f);
  for (int iter = 0; iter < 3000; ++iter) {
    const int batch = 1 + int(gen() % 3), width = 1 + int(gen() % 6), vocab = 1 + int(gen() % 7);
    if (width > width * vocab) continue;
    const bool first = gen() % 3 == 0;
    std::vector<float> scores(size_t(batch) * width), logp(size_t(batch) * width * vocab);
    for (float& s : scores) s = gen() % 4 == 0 ? -1.0f : uni(gen);
    for (float& x : logp) x = gen() % 3 == 0 ? -2.0f : uni(gen);  // many exact ties
    std::vector<float> outScores(scores.size());
    std::vector<int32_t> parent(scores.size()), token(scores.size());
    beamSearchStep(scores.data(), logp.data(), batch, width, vocab, first, outScores.data(), parent.data(),
                   token.data());
    for (int b = 0; b < batch; ++b) {
      auto ref = reference::beamStepRow(scores.data() + size_t(b) * width, logp.data() + size_t(b) * width * vocab,
                                        width, vocab, first, kAppleMaskedLogit);
      for (int w = 0; w < width; ++w) {
        REQUIRE(outScores[size_t(b) * width + w] == ref.scores[w]);
        REQUIRE(parent[size_t(b) * width + w] == ref.parent[w]);
        REQUIRE(token[size_t(b) * width + w] == ref.token[w]);
      }
    }
  }
}

TEST_CASE("appleProcessLogits: matches the reference on vocabulary-sized rows, narrow ranges and signed zeros") {
  std::mt19937 gen(11);
  for (int iter = 0; iter < 60; ++iter) {
    const int vocab = iter % 3 == 0 ? 32000 : 1 + int(gen() % 4096), topK = 1 + int(gen() % 80);
    const float spread = iter % 4 == 0 ? 1e-6f : iter % 4 == 1 ? 0.01f : 5.0f;  // narrow: one histogram bin
    std::normal_distribution<float> normal(-2.0f, spread);
    std::vector<float> x(vocab);
    for (float& v : x) v = gen() % 7 == 0 ? (gen() % 2 ? 0.0f : -0.0f) : normal(gen);
    auto ref = reference::appleLogits(x, topK, kAppleMaskedLogit);
    appleProcessLogits(x.data(), vocab, topK);
    for (int i = 0; i < vocab; ++i) REQUIRE(x[i] == doctest::Approx(ref[i]).epsilon(1e-6));
  }
}

TEST_CASE("beamSearchStep / appleProcessLogits: bad sizes name the field") {
  float s = 0, l = 0, o = 0;
  int32_t p = 0, t = 0;
  auto what = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(what([&] { beamSearchStep(&s, &l, 1, 0, 1, false, &o, &p, &t); }).rfind("width ", 0) == 0);
  CHECK(what([&] { beamSearchStep(&s, &l, 1, 1, 0, false, &o, &p, &t); }).rfind("vocab ", 0) == 0);
  CHECK(what([&] { beamSearchStep(&s, &l, 0, 1, 1, false, &o, &p, &t); }).rfind("batch ", 0) == 0);
  CHECK(what([&] { appleProcessLogits(&l, 1, 0); }).rfind("topK ", 0) == 0);
  float inf = -INFINITY;
  CHECK(what([&] { appleProcessLogits(&inf, 1, 1); }).rfind("logits ", 0) == 0);
  float withNan[3] = {1.0f, NAN, 0.0f};
  CHECK(what([&] { appleProcessLogits(withNan, 3, 2); }).rfind("logits ", 0) == 0);
}

TEST_CASE("beamSearchStep: width 1 keeps the single best token") {
  std::vector<float> scores = {-0.5f}, logp = {-2.0f, -0.3f, -1.0f}, out(1);
  std::vector<int32_t> parent(1), token(1);
  beamSearchStep(scores.data(), logp.data(), 1, 1, 3, false, out.data(), parent.data(), token.data());
  CHECK(parent[0] == 0);
  CHECK(token[0] == 1);
  CHECK(out[0] == doctest::Approx(-0.8));
  beamSearchStep(scores.data(), logp.data(), 1, 1, 3, true, out.data(), parent.data(), token.data());
  CHECK(token[0] == 1);
}

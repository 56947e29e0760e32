// The CPU forward pass: known-good greedy output, tree verification against autoregressive paths, batch
// invariance (bit-exact), KV commit/truncate, quantised and SIMD paths against float32/portable.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/kv_commit.h"
#include "cpu/engine/transformer.h"
#include "cpu/kernels/isa.h"
#include "cpu/engine/weight_packing.h"
#include "tokenizer/tokenizer.h"
#include "fixtures.h"
#include "synthetic_model.h"

using namespace redrafter;
using namespace redrafter::cpu;
using namespace redrafter::tokenizer;

namespace {

std::shared_ptr<const ModelWeights> stories() {
  static auto w = loadModelWeights(test::fixture("stories260K.bin"));
  return w;
}

// A copy of `w` whose layer matrices are packed for the packed matmul (as Model.load and the executor load them:
// 16-row panels, 8-row ones for the AVX2 kernels).
std::shared_ptr<const ModelWeights> packed(const std::shared_ptr<const ModelWeights>& w,
                                           Layout layout = Layout::Panels16) {
  auto copy = std::make_shared<ModelWeights>(*w);
  copy->owned.push_back(std::const_pointer_cast<ModelWeights>(w));  // keeps the original's storage alive
  PackingStats stats = packLayerMatrices(*copy, 2, nullptr, nullptr, layout);
  REQUIRE(stats.tensors > 0);
  return copy;
}

// Every ISA this CPU runs.
std::vector<std::string> isas() {
  std::vector<std::string> list = {"portable"};
  auto best = kernels::detectIsa();
  if (best >= kernels::Isa::Avx2) list.push_back("avx2");
  if (best >= kernels::Isa::Avx512) list.push_back("avx512");
  return list;
}

int32_t argmax(const float* v, int32_t n) { return static_cast<int32_t>(std::max_element(v, v + n) - v); }

// Logits [n, vocab] of a causal forward of `tokens` appended to `cache`.
std::vector<float> run(Transformer& t, KvCache& cache, const std::vector<int32_t>& tokens,
                       const std::vector<int32_t>* positions = nullptr, const std::vector<uint8_t>* mask = nullptr,
                       std::vector<float>* hidden = nullptr) {
  const int32_t n = static_cast<int32_t>(tokens.size());
  std::vector<float> logits(static_cast<size_t>(n) * t.config().vocabSize);
  if (hidden) hidden->resize(static_cast<size_t>(n) * t.config().dim);
  t.forward(cache, tokens.data(), n, positions ? positions->data() : nullptr, mask ? mask->data() : nullptr, nullptr,
            0, logits.data(), hidden ? hidden->data() : nullptr);
  return logits;
}

std::vector<int32_t> greedy(Transformer& t, int32_t steps) {
  auto cache = t.createCache(t.config().contextLength);
  std::vector<int32_t> out;
  int32_t token = 1;  // BOS
  for (int32_t i = 0; i < steps; ++i) {
    auto logits = run(t, *cache, {token});
    token = argmax(logits.data(), t.config().vocabSize);
    out.push_back(token);
  }
  return out;
}

float maxRelDiff(const std::vector<float>& a, const std::vector<float>& b) {
  float scale = 0, diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    scale = std::max(scale, std::fabs(a[i]));
    diff = std::max(diff, std::fabs(a[i] - b[i]));
  }
  return diff / std::max(scale, 1e-6f);
}

std::vector<int32_t> randomTokens(std::mt19937& rng, int32_t n, int32_t vocab) {
  std::uniform_int_distribution<int32_t> d(3, vocab - 1);
  std::vector<int32_t> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

}  // namespace

TEST_CASE("greedy from BOS on stories260K reproduces the known-good tokens, on every ISA and weight layout") {
  const std::vector<int32_t> known = {403, 407, 261, 378, 432, 383, 286, 261, 376, 298};
  std::vector<int32_t> first;
  for (auto weights : {stories(), packed(stories()), packed(stories(), Layout::Panels8)}) {
    for (const auto& isa : isas()) {
      CAPTURE(isa);
      CAPTURE(int(weights->layers[0].wq.layout));
      Transformer t(weights, {2, isa});
      CHECK(std::string(t.isa()) == isa);
      auto tokens = greedy(t, 64);
      CHECK(std::vector<int32_t>(tokens.begin(), tokens.begin() + 10) == known);
      if (first.empty()) first = tokens;
      CHECK(tokens == first);
    }
  }
}

TEST_CASE("greedy 256 steps from BOS on stories260K decodes to the published story") {
  // ../shared/models/README.md, "Known-good output"
  const std::string story =
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw "
      "a big, red ball. She wanted to play with it, but it was too high.\nLily's mom said, \"Lily, let's go to the "
      "park.\" Lily was sad and didn't know what to do. She said, \"I want to play with your ball, but I can't find "
      "it.\"\nLily was sad and didn't know what to do. She said, \"I'm sorry, Lily. I didn't know what to do.\"\n"
      "Lily didn't want to help her mom, so she said, \"I'm sorry, mom. I didn't know what to do.\" Her mom said, "
      "\"Don't worry, Lily. We can help you.";
  auto tokenizer = Tokenizer::fromLlama2c(test::fixture("tok512.bin"), 512);
  Transformer t(stories(), {2, ""});
  auto tokens = greedy(t, 256);  // llama2.c run with 256 steps: forwards at positions 0..255, one new token each
  std::string text = tokenizer->decode(tokens, 1);
  CHECK(text == story);
}

TEST_CASE("prefill equals token-by-token decode, and batch invariance is bit-exact") {
  std::mt19937 rng(11);
  std::vector<std::pair<std::string, std::shared_ptr<const ModelWeights>>> models = {{"stories260K", stories()}};
  test::SyntheticShape tail;
  tail.hiddenDim = 180;  // not a multiple of 8 or 16: every kernel's tail path
  models.push_back({"synthetic f32 tail", test::syntheticModel(tail, DType::F32)});
  models.push_back({"synthetic f16", test::syntheticModel({}, DType::F16)});
  models.push_back({"synthetic bf16", test::syntheticModel({}, DType::BF16)});
  models.push_back({"synthetic q8_0", test::syntheticModel({}, DType::Q8_0)});
  models.push_back({"synthetic q8_g", test::syntheticModel({}, DType::Q8_G_F32)});
  models.push_back({"synthetic q4_0", test::syntheticModel({}, DType::Q4_0)});
  test::SyntheticShape wide;  // whole 256-value blocks for the K types
  wide.dim = 256;
  wide.hiddenDim = 512;
  for (DType type : {DType::Q4_K, DType::Q5_K, DType::Q6_K})
    models.push_back({std::string("synthetic ") + dtypeName(type), test::syntheticModel(wide, type)});
  models.push_back({"stories260K packed", packed(stories())});
  models.push_back({"synthetic f32 tail packed", packed(test::syntheticModel(tail, DType::F32))});
  models.push_back({"synthetic f16 packed", packed(test::syntheticModel({}, DType::F16))});
  models.push_back({"stories260K packed 8", packed(stories(), Layout::Panels8)});
  models.push_back({"synthetic f32 tail packed 8", packed(test::syntheticModel(tail, DType::F32), Layout::Panels8)});
  models.push_back({"synthetic f16 packed 8", packed(test::syntheticModel({}, DType::F16), Layout::Panels8)});
  for (auto& [name, weights] : models) {
    for (const auto& isa : isas()) {
      CAPTURE(name);
      CAPTURE(isa);
      Transformer t(weights, {2, isa});
      const int32_t V = t.config().vocabSize, D = t.config().dim;
      auto seq = randomTokens(rng, 70, V);
      // reference: one token at a time
      auto ref = t.createCache(128);
      std::vector<float> refLogits, refHidden;
      for (int32_t i = 0; i < 70; ++i) {
        std::vector<float> h;
        auto l = run(t, *ref, {seq[i]}, nullptr, nullptr, &h);
        refLogits.insert(refLogits.end(), l.begin(), l.end());
        refHidden.insert(refHidden.end(), h.begin(), h.end());
      }
      // chunks of every size 1..65 starting at various offsets: identical bits
      for (int32_t start : {0, 3, 5}) {
        for (int32_t n : {2, 3, 4, 5, 7, 8, 16, 33, 65}) {
          if (start + n > 70) continue;
          auto cache = t.createCache(128);
          if (start > 0) run(t, *cache, std::vector<int32_t>(seq.begin(), seq.begin() + start));
          std::vector<float> hidden;
          auto logits = run(t, *cache, std::vector<int32_t>(seq.begin() + start, seq.begin() + start + n), nullptr,
                            nullptr, &hidden);
          bool same = std::equal(logits.begin(), logits.end(), refLogits.begin() + static_cast<size_t>(start) * V);
          bool sameHidden = std::equal(hidden.begin(), hidden.end(), refHidden.begin() + static_cast<size_t>(start) * D);
          CAPTURE(start);
          CAPTURE(n);
          CHECK(same);
          CHECK(sameHidden);
        }
      }
      // batched sequences: each as alone
      auto a = t.createCache(128), b = t.createCache(128), c = t.createCache(128);
      std::vector<int32_t> seqB = randomTokens(rng, 9, V);
      std::vector<float> la(static_cast<size_t>(20) * V), lb(static_cast<size_t>(9) * V), lc(static_cast<size_t>(1) * V);
      ForwardRequest reqs[3];
      reqs[0].cache = a.get(), reqs[0].tokens = seq.data(), reqs[0].tokenCount = 20, reqs[0].logits = la.data();
      reqs[1].cache = b.get(), reqs[1].tokens = seqB.data(), reqs[1].tokenCount = 9, reqs[1].logits = lb.data();
      int32_t lastRow = 0;
      reqs[2].cache = c.get(), reqs[2].tokens = seq.data(), reqs[2].tokenCount = 1, reqs[2].logits = lc.data();
      reqs[2].outputRows = &lastRow, reqs[2].outputCount = 1;
      t.forwardBatch(reqs, 3);
      CHECK(std::equal(la.begin(), la.end(), refLogits.begin()));
      CHECK(std::equal(lc.begin(), lc.end(), refLogits.begin()));
      auto alone = t.createCache(128);
      auto lbAlone = run(t, *alone, seqB);
      CHECK(lb == lbAlone);
      CHECK(a->length() == 20);
      CHECK(b->length() == 9);
    }
  }
}

TEST_CASE("thread count never changes a bit") {
  for (auto weights : {test::syntheticModel({}, DType::F16), packed(test::syntheticModel({}, DType::F16))}) {
    std::mt19937 rng(5);
    auto seq = randomTokens(rng, 24, weights->config.vocabSize);
    std::vector<float> first;
    for (int threads : {1, 2, 3}) {
      Transformer t(weights, {threads, ""});
      auto cache = t.createCache(64);
      auto logits = run(t, *cache, seq);
      if (first.empty()) first = logits;
      CHECK(logits == first);
    }
  }
}

TEST_CASE("tree verification: every packed token's logits equal its root-to-node path run autoregressively") {
  std::mt19937 rng(3);
  for (auto& weights : {stories(), test::syntheticModel({}, DType::F32, 9), packed(stories())}) {
    Transformer t(weights, {2, ""});
    const int32_t V = t.config().vocabSize;
    for (int trial = 0; trial < 12; ++trial) {
      auto prefix = randomTokens(rng, 1 + trial % 7, V);
      // a random tree in topological order: parent[i] < i, root 0
      int32_t n = 2 + static_cast<int32_t>(rng() % 30);
      std::vector<int32_t> parent(n, -1), depth(n, 0);
      auto tokens = randomTokens(rng, n, V);
      for (int32_t i = 1; i < n; ++i) {
        parent[i] = static_cast<int32_t>(rng() % i);
        depth[i] = depth[parent[i]] + 1;
      }
      std::vector<uint8_t> mask(static_cast<size_t>(n) * n, 0);
      for (int32_t i = 0; i < n; ++i)
        for (int32_t j = i; j >= 0; j = parent[j]) mask[static_cast<size_t>(i) * n + j] = 1;
      auto cache = t.createCache(256);
      run(t, *cache, prefix);
      const int32_t L0 = cache->length();
      std::vector<int32_t> positions(n);
      for (int32_t i = 0; i < n; ++i) positions[i] = L0 + depth[i];
      std::vector<float> treeHidden;
      auto treeLogits = run(t, *cache, tokens, &positions, &mask, &treeHidden);
      CHECK(cache->length() == L0 + n);
      for (int32_t i = 0; i < n; ++i) {
        std::vector<int32_t> path;
        for (int32_t j = i; j >= 0; j = parent[j]) path.insert(path.begin(), tokens[j]);
        auto arCache = t.createCache(256);
        run(t, *arCache, prefix);
        auto ar = run(t, *arCache, path);
        std::vector<float> mine(treeLogits.begin() + static_cast<size_t>(i) * V, treeLogits.begin() + static_cast<size_t>(i + 1) * V);
        std::vector<float> theirs(ar.end() - V, ar.end());
        CAPTURE(trial);
        CAPTURE(i);
        CHECK(maxRelDiff(mine, theirs) < 1e-5f);
      }
      // commit a random root-to-leaf path, then continuing equals continuing the plain path
      int32_t leaf = n - 1;
      std::vector<int32_t> accepted;
      for (int32_t j = leaf; j >= 0; j = parent[j]) accepted.insert(accepted.begin(), j);
      cache->commit(kvCommitPlan(L0, accepted.data(), static_cast<int32_t>(accepted.size())));
      CHECK(cache->length() == L0 + static_cast<int32_t>(accepted.size()));
      auto next = randomTokens(rng, 3, V);
      auto afterCommit = run(t, *cache, next);
      auto plain = t.createCache(256);
      run(t, *plain, prefix);
      std::vector<int32_t> acceptedTokens;
      for (int32_t j : accepted) acceptedTokens.push_back(tokens[j]);
      run(t, *plain, acceptedTokens);
      auto plainNext = run(t, *plain, next);
      CHECK(maxRelDiff(afterCommit, plainNext) < 1e-5f);
      // truncate rolls back: re-running the same tokens gives the same logits
      cache->truncate(cache->length() - 3);
      auto again = run(t, *cache, next);
      CHECK(again == afterCommit);
    }
  }
}

TEST_CASE("runq int8 stories260K stays close to float32, and SIMD paths match the portable path") {
  auto f32 = stories();
  auto q8 = loadModelWeights(test::fixture("stories260K_q80.bin"));
  std::mt19937 rng(1);
  auto seq = randomTokens(rng, 40, 512);
  Transformer tf(f32, {2, ""}), tq(q8, {2, ""});
  auto cf = tf.createCache(64), cq = tq.createCache(64);
  auto lf = run(tf, *cf, seq), lq = run(tq, *cq, seq);
  CHECK(maxRelDiff(lf, lq) < 0.05f);
  int agree = 0;
  for (int i = 0; i < 40; ++i) agree += argmax(&lf[i * 512], 512) == argmax(&lq[i * 512], 512);
  CHECK(agree >= 36);

  MESSAGE("runq int8 vs f32 stories260K: max |diff| / max |logit| = " << maxRelDiff(lf, lq) << ", argmax agree "
                                                                     << agree << "/40");
  for (auto& token : seq) token %= 96;
  for (auto type : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q8_G_F32}) {
    auto w = test::syntheticModel({}, type, 21);
    Transformer portable(w, {1, "portable"});
    auto cp = portable.createCache(64);
    auto ref = run(portable, *cp, std::vector<int32_t>(seq.begin(), seq.begin() + 17));
    for (const auto& isa : isas()) {
      Transformer t(w, {2, isa});
      auto c = t.createCache(64);
      auto l = run(t, *c, std::vector<int32_t>(seq.begin(), seq.begin() + 17));
      CAPTURE(isa);
      CAPTURE(dtypeName(type));
      CHECK(maxRelDiff(l, ref) < 1e-5f);
    }
  }
}

TEST_CASE("bad arguments throw errors naming the field and leave the cache unchanged") {
  Transformer t(stories(), {1, ""});
  auto cache = t.createCache(8);
  std::vector<float> logits(512 * 8);
  int32_t bad = 600, good[3] = {1, 2, 3};
  auto expectError = [&](auto&& fn, ErrorCode code, const std::string& field) {
    try {
      fn();
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(e.code() == code);
      CHECK(std::string(e.what()).find(field) != std::string::npos);
    }
    CHECK(cache->length() == 0);
  };
  expectError([&] { t.forward(*cache, &bad, 1, nullptr, nullptr, nullptr, 0, logits.data(), nullptr); },
              ErrorCode::InvalidArgument, "tokens");
  uint8_t upper[9] = {1, 1, 0, 0, 1, 0, 1, 1, 1};
  expectError([&] { t.forward(*cache, good, 3, nullptr, upper, nullptr, 0, logits.data(), nullptr); },
              ErrorCode::InvalidArgument, "mask");
  int32_t out = 3;
  expectError([&] { t.forward(*cache, good, 3, nullptr, nullptr, &out, 1, logits.data(), nullptr); },
              ErrorCode::InvalidArgument, "outputs");
  int32_t negative[3] = {0, -1, 2};
  expectError([&] { t.forward(*cache, good, 3, negative, nullptr, nullptr, 0, logits.data(), nullptr); },
              ErrorCode::InvalidArgument, "positions");
  std::vector<int32_t> many(9, 5);
  expectError([&] { t.forward(*cache, many.data(), 9, nullptr, nullptr, nullptr, 0, logits.data(), nullptr); },
              ErrorCode::ContextOverflow, "capacity");
  CHECK_THROWS_AS(t.createCache(0), Error);
  CHECK_THROWS_AS(t.createCache(513), Error);
  t.forward(*cache, good, 3, nullptr, nullptr, nullptr, 0, logits.data(), nullptr);
  CHECK(cache->length() == 3);
  CHECK_THROWS_AS(cache->truncate(4), Error);
  CommitPlan plan;
  plan.moves.push_back({5, 1});
  plan.newLength = 2;
  CHECK_THROWS_AS(cache->commit(plan), Error);
  CHECK(cache->length() == 3);
}

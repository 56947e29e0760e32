// The CPU executor on the real stories260K model: ReDrafter steps give exactly the tokens of plain greedy decoding
// (single request and several in flight, up to the context limit), never overrun the KV cache, and multi-turn
// sessions reuse their cache. The drafter here has random weights (most drafts are rejected, some accepted): the
// guarantee holds whatever the drafter; test/generation.test.ts repeats it with the trained drafter.
#include <doctest/doctest.h>

#include <map>
#include <random>

#include "core/executor/step_executor.h"
#include "cpu/executor/cpu_backend.h"
#include "cpu/executor/drafter_source.h"
#include "fixtures.h"

using namespace redrafter;
using namespace redrafter::cpu;
using namespace redrafter::model;
using namespace redrafter::executor;
using namespace std::chrono_literals;

namespace {

std::shared_ptr<const ModelWeights> stories() {
  static auto w = loadModelWeights(test::fixture("stories260K.bin"));
  return w;
}

std::shared_ptr<Transformer> model() {
  static auto m = std::make_shared<Transformer>(stories(), TransformerOptions{1, ""});
  return m;
}

// A drafter for stories260K with seeded random weights.
std::shared_ptr<DraftSource> randomDrafter(uint32_t seed) {
  DrafterConfig c;
  c.vocabSize = 512;
  c.hiddenSize = 64;
  c.exitDim = 128;
  c.numDraftLayers = 1;
  c.rnn = true;
  DrafterWeights w = DrafterWeights::zeros(c, "random drafter");
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.3f);
  for (float& x : w.data) x = normal(rng);
  return makeDrafterSource(std::make_shared<Drafter>(std::move(w), "random drafter"), stories());
}

std::unique_ptr<StepExecutor> makeExecutor(std::shared_ptr<DraftSource> drafter, int32_t context = 0) {
  CpuBackendOptions o;
  o.contextLength = context;
  return std::make_unique<StepExecutor>(std::make_unique<CpuBackend>(model(), drafter, o));
}

struct Result {
  std::vector<int32_t> tokens;
  FinishReason reason = FinishReason::NotFinished;
  RequestStats stats;
  std::string error;
};

std::map<RequestId, Result> run(Executor& ex, const std::vector<Request>& requests) {
  std::vector<RequestId> ids;
  for (const auto& r : requests) ids.push_back(ex.enqueueRequest(r));
  std::map<RequestId, Result> out;
  size_t finals = 0;
  auto deadline = std::chrono::steady_clock::now() + 120s;
  while (finals < requests.size() && std::chrono::steady_clock::now() < deadline) {
    for (auto& r : ex.awaitResponses(100ms)) {
      auto& res = out[r.requestId];
      res.tokens.insert(res.tokens.end(), r.outputTokenIds.begin(), r.outputTokenIds.end());
      if (r.isFinal) {
        res.reason = r.finishReason;
        res.stats = r.stats;
        res.error = r.error;
        ++finals;
      }
    }
  }
  REQUIRE(finals == requests.size());
  return out;
}

Request greedy(SessionId s, std::vector<int32_t> prompt, int32_t maxTokens, int32_t width, int32_t length) {
  Request r;
  r.session = s;
  r.inputTokenIds = std::move(prompt);
  r.maxTokens = maxTokens;
  r.endIds = {2};
  r.draft.beamWidth = width;
  r.draft.beamLength = length;
  return r;
}

}  // namespace

TEST_CASE("drafted greedy decoding equals plain greedy decoding, alone and several in flight, to the context limit") {
  auto plain = makeExecutor(nullptr, 160);
  auto drafted = makeExecutor(randomDrafter(7), 160);
  std::vector<std::vector<int32_t>> prompts = {{1}, {1, 403}, {1, 403, 407, 261}, {1, 300, 301, 302, 303, 304}};
  std::vector<Request> plainReqs, draftReqs;
  for (size_t i = 0; i < prompts.size(); ++i) {
    Request p = greedy(plain->createSession(), prompts[i], 400, 0, 0);
    p.endIds = {};  // run into the context limit
    plainReqs.push_back(p);
    Request d = greedy(drafted->createSession(), prompts[i], 400, 4, 2 + int32_t(i % 4));
    d.endIds = {};
    draftReqs.push_back(d);
  }
  // Plain: one at a time. Drafted: all in flight together.
  std::vector<Result> expected;
  for (auto& r : plainReqs) expected.push_back(run(*plain, {r}).begin()->second);
  auto got = run(*drafted, draftReqs);
  size_t i = 0;
  for (auto& [id, res] : got) {
    CAPTURE(i);
    CHECK(res.error == "");
    CHECK(res.reason == FinishReason::Context);
    CHECK(expected[i].reason == FinishReason::Context);
    // The cache holds 160 tokens; the last emitted token is never cached.
    CHECK(int(prompts[i].size() + res.tokens.size()) == 161);
    CHECK(res.tokens == expected[i].tokens);
    CHECK(res.stats.steps < expected[i].stats.steps + 1);
    ++i;
  }
}

TEST_CASE("EOS, maxTokens and the first 10 known-good tokens") {
  auto drafted = makeExecutor(randomDrafter(3));
  auto res = run(*drafted, {greedy(drafted->createSession(), {1}, 10, 8, 5)}).begin()->second;
  CHECK(res.tokens == std::vector<int32_t>{403, 407, 261, 378, 432, 383, 286, 261, 376, 298});
  CHECK(res.reason == FinishReason::Length);
  CHECK(res.stats.generatedTokens == 10);
}

TEST_CASE("a session reuses its KV cache across turns and gives what a fresh session gives") {
  auto ex = makeExecutor(randomDrafter(5));
  SessionId s = ex->createSession();
  auto first = run(*ex, {greedy(s, {1, 403, 407}, 20, 4, 4)}).begin()->second;
  std::vector<int32_t> history = {1, 403, 407};
  history.insert(history.end(), first.tokens.begin(), first.tokens.end());
  history.push_back(300);
  auto second = run(*ex, {greedy(s, history, 20, 4, 4)}).begin()->second;
  CHECK(second.stats.reusedTokens >= int(history.size()) - 2);
  auto fresh = run(*ex, {greedy(ex->createSession(), history, 20, 4, 4)}).begin()->second;
  CHECK(fresh.stats.reusedTokens == 0);
  CHECK(second.tokens == fresh.tokens);
}

TEST_CASE("a prompt longer than the context is refused; bad draft options name the field") {
  auto ex = makeExecutor(randomDrafter(1), 32);
  SessionId s = ex->createSession();
  CHECK_THROWS_WITH_AS(ex->enqueueRequest(greedy(s, std::vector<int32_t>(33, 5), 5, 0, 0)),
                       doctest::Contains("context"), Error);
  CHECK_THROWS_WITH_AS(ex->enqueueRequest(greedy(s, {1}, 5, 100, 4)), doctest::Contains("beamWidth"), Error);
  CHECK_THROWS_WITH_AS(ex->enqueueRequest(greedy(s, {1}, 5, 4, 1)), doctest::Contains("beamLength"), Error);
  auto plain = makeExecutor(nullptr);
  CHECK_THROWS_WITH_AS(plain->enqueueRequest(greedy(plain->createSession(), {1}, 5, 4, 4)),
                       doctest::Contains("beamWidth"), Error);
}

TEST_CASE("an end id inside a step's accepted drafts ends the request there, as plain decoding does (through EOS)") {
  // stories260K never emits its EOS within its context, so common tokens of its stories serve as end ids.
  auto plain = makeExecutor(nullptr);
  auto drafted = makeExecutor(randomDrafter(9));
  auto reference = run(*plain, {greedy(plain->createSession(), {1}, 120, 0, 0)}).begin()->second.tokens;
  for (int32_t end : {reference[3], reference[10], reference[40], reference[77]}) {
    CAPTURE(end);
    std::vector<int32_t> expected(reference.begin(), std::find(reference.begin(), reference.end(), end));
    for (auto [w, l] : {std::pair{0, 0}, std::pair{4, 5}, std::pair{8, 3}}) {
      auto& ex = w == 0 ? *plain : *drafted;
      Request r = greedy(ex.createSession(), {1}, 120, w, l);
      r.endIds = {end};
      auto res = run(ex, {r}).begin()->second;
      CHECK(res.reason == FinishReason::Eos);
      CHECK(res.tokens == expected);
    }
  }
}

// The executor's scheduling machinery (queue, ids, sessions, cancellation, streaming, stop conditions) over a
// counting test backend: each step of a request emits `tokensPerStep` tokens continuing last+1, mod vocab.
// The real engine's steps are tested in cpu_executor_test.cpp and test/generation.test.ts.
#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <thread>

#include "core/executor/step_executor.h"

using namespace redrafter;
using namespace redrafter::executor;
using namespace std::chrono_literals;

namespace {

struct CountingBackend : StepBackend {
  int tokensPerStep = 3;
  std::atomic<int>* stepsRun;
  std::atomic<int>* sessionsReleased;
  std::chrono::milliseconds stepDelay{0};
  CountingBackend(std::atomic<int>* s, std::atomic<int>* r) : stepsRun(s), sessionsReleased(r) {}
  ModelInfo modelInfo() const override { return {100, 1000, 0, 0, "test"}; }
  void validate(const Request& r) const override {
    RD_REQUIRE(r.sampling.temperature >= 0, "temperature", "must be >= 0");
  }
  void start(ActiveRequest& r) override {
    int32_t first = (r.request().inputTokenIds.back() + 1) % 100;
    r.emit(&first, 1);
  }
  void step(const std::vector<ActiveRequest*>& rs) override {
    std::this_thread::sleep_for(stepDelay);
    for (auto* r : rs) {
      std::vector<int32_t> t;
      int32_t last = r->output().back();
      for (int i = 0; i < tokensPerStep; ++i) t.push_back((last + 1 + i) % 100);
      r->recordStep(tokensPerStep);
      r->emit(t.data(), int(t.size()));
    }
    ++*stepsRun;
  }
  void end(ActiveRequest&) override {}
  void releaseSession(SessionId) override { ++*sessionsReleased; }
};

struct Collected {
  std::vector<int32_t> tokens;
  int responses = 0;
  bool final = false;
  FinishReason reason = FinishReason::NotFinished;
  RequestStats stats;
};

std::map<RequestId, Collected> collect(Executor& ex, size_t requests) {
  std::map<RequestId, Collected> out;
  size_t finals = 0;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (finals < requests && std::chrono::steady_clock::now() < deadline) {
    for (auto& r : ex.awaitResponses(100ms)) {
      auto& c = out[r.requestId];
      REQUIRE_FALSE(c.final);
      c.tokens.insert(c.tokens.end(), r.outputTokenIds.begin(), r.outputTokenIds.end());
      c.responses++;
      if (r.isFinal) {
        c.final = true;
        c.reason = r.finishReason;
        c.stats = r.stats;
        finals++;
      }
    }
  }
  return out;
}

Request makeRequest(SessionId s, int32_t last, int32_t maxTokens) {
  Request r;
  r.session = s;
  r.inputTokenIds = {1, last};
  r.maxTokens = maxTokens;
  return r;
}

}  // namespace

TEST_CASE("executor streams tokens, applies maxTokens, end ids and stop sequences, counts steps") {
  std::atomic<int> steps{0}, released{0};
  StepExecutor ex(std::make_unique<CountingBackend>(&steps, &released));
  SessionId s1 = ex.createSession(), s2 = ex.createSession(), s3 = ex.createSession();
  CHECK(s1 != s2);
  auto a = makeRequest(s1, 10, 8);  // 11, 12..14, 15..17, 18 -> length
  auto b = makeRequest(s2, 20, 50);
  b.endIds = {26};  // 21, 22..24, 25, [26] -> eos
  auto c = makeRequest(s3, 30, 50);
  c.stopTokenSequences = {{33, 34}};  // 31, 32..34 -> stop
  RequestId ia = ex.enqueueRequest(a), ib = ex.enqueueRequest(b), ic = ex.enqueueRequest(c);
  CHECK(ia != ib);
  auto got = collect(ex, 3);
  CHECK(got[ia].tokens == std::vector<int32_t>{11, 12, 13, 14, 15, 16, 17, 18});
  CHECK(got[ia].reason == FinishReason::Length);
  CHECK(got[ia].responses >= 2);  // streamed
  CHECK(got[ia].stats.steps == 3);
  CHECK(got[ia].stats.generatedTokens == 8);
  CHECK(got[ia].stats.tokensPerStepHistogram.at(3) == 3);
  CHECK(got[ib].tokens == std::vector<int32_t>{21, 22, 23, 24, 25});
  CHECK(got[ib].reason == FinishReason::Eos);
  CHECK(got[ic].tokens == std::vector<int32_t>{31, 32, 33, 34});
  CHECK(got[ic].reason == FinishReason::Stop);
}

TEST_CASE("non-streaming requests get one final response with every token") {
  std::atomic<int> steps{0}, released{0};
  StepExecutor ex(std::make_unique<CountingBackend>(&steps, &released));
  auto r = makeRequest(ex.createSession(), 5, 10);
  r.streaming = false;
  RequestId id = ex.enqueueRequest(r);
  auto got = collect(ex, 1);
  CHECK(got[id].responses == 1);
  CHECK(got[id].tokens.size() == 10);
}

TEST_CASE("cancelRequest ends a request with abort within a step; the session stays usable") {
  std::atomic<int> steps{0}, released{0};
  auto backend = std::make_unique<CountingBackend>(&steps, &released);
  backend->stepDelay = 5ms;
  StepExecutor ex(std::move(backend));
  SessionId s = ex.createSession();
  RequestId id = ex.enqueueRequest(makeRequest(s, 1, 100000));
  // Wait for some tokens, then cancel.
  std::vector<int32_t> tokens;
  while (tokens.size() < 10)
    for (auto& r : ex.awaitResponses(100ms)) tokens.insert(tokens.end(), r.outputTokenIds.begin(), r.outputTokenIds.end());
  int stepsAtCancel = steps.load();
  ex.cancelRequest(id);
  auto got = collect(ex, 1);
  CHECK(got[id].reason == FinishReason::Abort);
  CHECK(steps.load() - stepsAtCancel <= 2);
  // A second request on the same session is not refused afterwards.
  RequestId id2 = ex.enqueueRequest(makeRequest(s, 1, 4));
  auto got2 = collect(ex, 1);
  CHECK(got2[id2].reason == FinishReason::Length);
  ex.cancelRequest(id2);   // finished: ignored
  ex.cancelRequest(9999);  // unknown: ignored
}

TEST_CASE("one request per session at a time; bad requests name the field") {
  std::atomic<int> steps{0}, released{0};
  auto backend = std::make_unique<CountingBackend>(&steps, &released);
  backend->stepDelay = 2ms;
  StepExecutor ex(std::move(backend));
  SessionId s = ex.createSession();
  RequestId id = ex.enqueueRequest(makeRequest(s, 1, 100000));
  CHECK_THROWS_WITH_AS(ex.enqueueRequest(makeRequest(s, 1, 5)), doctest::Contains("session"), Error);
  CHECK_THROWS_WITH_AS(ex.enqueueRequest(makeRequest(s + 100, 1, 5)), doctest::Contains("session"), Error);
  CHECK_THROWS_WITH_AS(ex.enqueueRequest(makeRequest(s, 1, 0)), doctest::Contains("maxTokens"), Error);
  auto bad = makeRequest(s, 1, 5);
  bad.inputTokenIds = {1, 100};
  CHECK_THROWS_WITH_AS(ex.enqueueRequest(bad), doctest::Contains("prompt"), Error);
  bad = makeRequest(s, 1, 5);
  bad.sampling.temperature = -1;
  CHECK_THROWS_WITH_AS(ex.enqueueRequest(bad), doctest::Contains("temperature"), Error);
  ex.cancelRequest(id);
  collect(ex, 1);
}

TEST_CASE("shutdown with requests in flight and queued ends them all with abort, then refuses new work") {
  std::atomic<int> steps{0}, released{0};
  auto backend = std::make_unique<CountingBackend>(&steps, &released);
  backend->stepDelay = 2ms;
  StepExecutor ex(std::move(backend), StepExecutorOptions{2});
  std::vector<RequestId> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(ex.enqueueRequest(makeRequest(ex.createSession(), i, 100000)));
  std::this_thread::sleep_for(20ms);
  std::thread stopper([&] { ex.shutdown(); });
  auto got = collect(ex, 5);
  stopper.join();
  for (RequestId id : ids) {
    CHECK(got[id].final);
    CHECK(got[id].reason == FinishReason::Abort);
  }
  CHECK(released.load() == 5);
  CHECK(ex.awaitResponses(10ms).empty());
  CHECK_THROWS_AS(ex.createSession(), Error);
  ex.shutdown();  // idempotent
}

TEST_CASE("shutdown frees the backend (its weights and threads) while the executor lives on") {
  struct Flagged : CountingBackend {
    std::atomic<bool>* destroyed;
    Flagged(std::atomic<int>* s, std::atomic<int>* r, std::atomic<bool>* d) : CountingBackend(s, r), destroyed(d) {}
    ~Flagged() override { *destroyed = true; }
  };
  std::atomic<int> steps{0}, released{0};
  std::atomic<bool> destroyed{false};
  StepExecutor ex(std::make_unique<Flagged>(&steps, &released, &destroyed));
  const SessionId s = ex.createSession();
  const RequestId id = ex.enqueueRequest(makeRequest(s, 5, 7));
  auto got = collect(ex, 1);
  CHECK(got[id].tokens.size() == 7);
  CHECK_FALSE(destroyed.load());
  ex.shutdown();
  CHECK(destroyed.load());
  CHECK(ex.modelInfo().vocabSize == 100);  // what the executor answers without its backend
  try {
    ex.enqueueRequest(makeRequest(s, 5, 7));
    FAIL("a request after shutdown was accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::Disposed);
  }
  ex.releaseSession(s);
  ex.cancelRequest(id);
  ex.shutdown();
}

TEST_CASE("releaseSession aborts its in-flight request") {
  std::atomic<int> steps{0}, released{0};
  auto backend = std::make_unique<CountingBackend>(&steps, &released);
  backend->stepDelay = 2ms;
  StepExecutor ex(std::move(backend));
  SessionId s = ex.createSession();
  RequestId id = ex.enqueueRequest(makeRequest(s, 1, 100000));
  std::this_thread::sleep_for(10ms);
  ex.releaseSession(s);
  auto got = collect(ex, 1);
  CHECK(got[id].reason == FinishReason::Abort);
  // The release happens on the worker thread after the final response: wait for it (bounded, 10 s).
  for (int i = 0; i < 2000 && released.load() == 0; ++i) std::this_thread::sleep_for(5ms);
  CHECK(released.load() == 1);
}

TEST_CASE("recordStep counts the steps of each beam shape that ran, in first-run order") {
  ActiveRequest r(1, Request{});
  r.recordStep(3, 8, 5);
  r.recordStep(1, 0, 1);
  r.recordStep(4, 8, 5);
  r.recordStep(2, 8, 3);  // a shorter beam (near maxTokens)
  r.recordStep(1);        // a step of a backend that reports no shape
  CHECK(r.stats.steps == 5);
  REQUIRE(r.stats.shapeSteps.size() == 3);
  CHECK(r.stats.shapeSteps[0].beamWidth == 8);
  CHECK(r.stats.shapeSteps[0].beamLength == 5);
  CHECK(r.stats.shapeSteps[0].steps == 2);
  CHECK(r.stats.shapeSteps[1].beamWidth == 0);
  CHECK(r.stats.shapeSteps[1].steps == 1);
  CHECK(r.stats.shapeSteps[2].beamLength == 3);
  CHECK(r.stats.shapeSteps[2].steps == 1);
}

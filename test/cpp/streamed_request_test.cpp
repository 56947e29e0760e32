// StreamedRequest: engine results (as TensorRT-LLM's Executor streams them: new tokens + cumulative decodingIter)
// become the executor's responses with the CPU executor's stop conditions, deltas and statistics.
#include <doctest/doctest.h>

#include <vector>

#include "core/executor/streamed_request.h"

using namespace redrafter;
using namespace redrafter::executor;

namespace {

Request makeRequest(int32_t maxTokens, bool streaming = true) {
  Request r;
  r.session = 1;
  r.inputTokenIds = {1, 2, 3, 4};
  r.maxTokens = maxTokens;
  r.streaming = streaming;
  r.endIds = {0, 99};
  return r;
}

using Clock = StreamedRequest::Clock;
const Clock::time_point t0{};

std::optional<Response> feed(StreamedRequest& s, std::vector<int32_t> tokens, int32_t iter, bool final = false,
                             FinishReason reason = FinishReason::NotFinished, int ms = 10) {
  return s.onResult(tokens.data(), tokens.size(), iter, final, reason, t0 + std::chrono::milliseconds(ms * iter));
}

}  // namespace

TEST_CASE("streams deltas and counts tokens per decoding iteration (context phase excluded)") {
  StreamedRequest s(7, makeRequest(100), t0);
  auto r1 = feed(s, {10}, 1);  // context phase: the first token
  REQUIRE(r1);
  CHECK(r1->requestId == 7);
  CHECK(r1->outputTokenIds == std::vector<int32_t>{10});
  CHECK_FALSE(r1->isFinal);
  CHECK(r1->stats.promptTokens == 0);  // statistics go with the final response only
  auto r2 = feed(s, {11, 12, 13}, 2);  // a ReDrafter step: 2 accepted drafts + the LLM's token
  REQUIRE(r2);
  CHECK(r2->outputTokenIds == std::vector<int32_t>{11, 12, 13});
  auto r3 = feed(s, {14}, 3);
  auto r4 = feed(s, {15, 16}, 4, true, FinishReason::Eos);  // the engine saw the end id (not in its output)
  REQUIRE(r4);
  CHECK(r4->isFinal);
  CHECK(r4->finishReason == FinishReason::Eos);
  CHECK(r4->outputTokenIds == std::vector<int32_t>{15, 16});
  CHECK(r4->stats.steps == 3);
  CHECK(r4->stats.promptTokens == 4);
  CHECK(r4->stats.prefillSeconds == doctest::Approx(0.010));
  CHECK(r4->stats.generatedTokens == 7);
  CHECK(r4->stats.tokensPerStepHistogram == std::vector<int32_t>{0, 1, 1, 1});
  CHECK(r4->stats.totalSeconds == doctest::Approx(0.040));
  CHECK(r4->stats.forwardSeconds == doctest::Approx(0.030));
  CHECK(s.done());
  CHECK_FALSE(s.needsEngineCancel());
  CHECK_FALSE(feed(s, {17}, 5));  // nothing after the end
}

TEST_CASE("our stop conditions end the request before the engine does: the backend must cancel it") {
  SUBCASE("a second end id") {
    StreamedRequest s(1, makeRequest(100), t0);
    feed(s, {5}, 1);
    auto r = feed(s, {6, 99, 7}, 2);  // 99 is an end id the engine was not told about
    REQUIRE(r);
    CHECK(r->isFinal);
    CHECK(r->finishReason == FinishReason::Eos);
    CHECK(r->outputTokenIds == std::vector<int32_t>{6});
    CHECK(s.needsEngineCancel());
    s.engineCancelled();
    CHECK_FALSE(s.needsEngineCancel());
  }
  SUBCASE("a stop sequence spanning results") {
    Request q = makeRequest(100);
    q.stopTokenSequences = {{8, 9}};
    StreamedRequest s(1, q, t0);
    feed(s, {8}, 1);
    auto r = feed(s, {9, 10}, 2);
    REQUIRE(r);
    CHECK(r->finishReason == FinishReason::Stop);
    CHECK(r->outputTokenIds == std::vector<int32_t>{9});  // stop tokens are kept, later ones dropped
  }
  SUBCASE("maxTokens reached mid-step") {
    StreamedRequest s(1, makeRequest(3), t0);
    feed(s, {5}, 1);
    auto r = feed(s, {6, 7, 8, 9}, 2);
    REQUIRE(r);
    CHECK(r->finishReason == FinishReason::Length);
    CHECK(r->outputTokenIds == std::vector<int32_t>{6, 7});
    CHECK(s.needsEngineCancel());
  }
}

TEST_CASE("cancellation, errors and engine reasons") {
  SUBCASE("a cancelled request's final engine result ends with abort") {
    StreamedRequest s(1, makeRequest(100), t0);
    feed(s, {5}, 1);
    s.markCancelled();
    auto r = feed(s, {}, 1, true, FinishReason::NotFinished);
    REQUIRE(r);
    CHECK(r->isFinal);
    CHECK(r->finishReason == FinishReason::Abort);
    CHECK(r->outputTokenIds.empty());
  }
  SUBCASE("abort without an engine answer") {
    StreamedRequest s(1, makeRequest(100), t0);
    feed(s, {5, 6}, 2);
    Response r = s.abort(t0);
    CHECK(r.isFinal);
    CHECK(r.finishReason == FinishReason::Abort);
    CHECK(r.stats.generatedTokens == 2);
    CHECK(s.done());
  }
  SUBCASE("an engine error") {
    StreamedRequest s(1, makeRequest(100), t0);
    Response r = s.onError(ErrorCode::Backend, "TensorRT-LLM: out of KV cache", t0);
    CHECK(r.finishReason == FinishReason::Error);
    CHECK(r.errorCode == ErrorCode::Backend);
    CHECK(r.error == "TensorRT-LLM: out of KV cache");
  }
  SUBCASE("engine length and stop-word reasons pass through") {
    StreamedRequest a(1, makeRequest(100), t0);
    CHECK(feed(a, {5}, 1, true, FinishReason::Length)->finishReason == FinishReason::Length);
    StreamedRequest b(2, makeRequest(100), t0);
    CHECK(feed(b, {5}, 1, true, FinishReason::Stop)->finishReason == FinishReason::Stop);
  }
}

TEST_CASE("non-streaming requests get one final response with every token; coalesced results skip the histogram") {
  StreamedRequest s(3, makeRequest(100, false), t0);
  CHECK_FALSE(feed(s, {5}, 1));
  CHECK_FALSE(feed(s, {6, 7}, 2));
  auto r = feed(s, {8, 9, 10}, 5, true, FinishReason::Length);  // three iterations in one result
  REQUIRE(r);
  CHECK(r->outputTokenIds == std::vector<int32_t>{5, 6, 7, 8, 9, 10});
  CHECK(r->stats.steps == 4);
  CHECK(r->stats.tokensPerStepHistogram == std::vector<int32_t>{0, 0, 1});
}

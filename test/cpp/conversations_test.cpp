// Conversations (native/core/executor/conversations.h): a turn sends only its new tokens and the backend receives the
// whole context; the history takes the context and the output when the request ends (streamed or not), stays as it
// was when the backend refuses the request, keeps a partial output, can drop tokens past a stop string, starts over
// on reset, and outlives release until forget. A scripted backend stands in for the engine (its responses are the
// test's), since the point is the bookkeeping above any engine.
#include <doctest/doctest.h>

#include <deque>
#include <set>
#include <vector>

#include "core/error.h"
#include "core/executor/conversations.h"

using namespace redrafter;
using namespace redrafter::executor;

namespace {

class ScriptedBackend : public Executor {
 public:
  ModelInfo modelInfo() const override {
    ModelInfo m;
    m.vocabSize = 100;
    m.contextLength = 64;
    return m;
  }
  SessionId createSession() override { return nextSession++; }
  void releaseSession(SessionId session) override { released.insert(session); }
  RequestId enqueueRequest(Request request) override {
    if (refuseNext) {
      refuseNext = false;
      fail(ErrorCode::InvalidArgument, "temperature refused");
    }
    received.push_back(request);
    return nextRequest++;
  }
  std::vector<Response> awaitResponses(std::chrono::milliseconds) override {
    std::vector<Response> out(script.begin(), script.end());
    script.clear();
    return out;
  }
  void cancelRequest(RequestId) override {}
  void shutdown() override {}
  bool isShutdown() const override { return false; }

  void respond(RequestId id, std::vector<int32_t> tokens, FinishReason reason = FinishReason::NotFinished) {
    Response r;
    r.requestId = id;
    r.outputTokenIds = std::move(tokens);
    r.isFinal = reason != FinishReason::NotFinished;
    r.finishReason = reason;
    script.push_back(r);
  }

  SessionId nextSession = 1;
  RequestId nextRequest = 1;
  bool refuseNext = false;
  std::vector<Request> received;
  std::deque<Response> script;
  std::set<SessionId> released;
};

using Tokens = std::vector<int32_t>;

}  // namespace

TEST_CASE("a turn sends its new tokens; the history takes the whole context and the output when it ends") {
  auto owned = std::make_unique<ScriptedBackend>();
  ScriptedBackend& b = *owned;
  Conversations c(std::move(owned));
  const auto wait = std::chrono::milliseconds(0);
  SessionId s = c.open();
  CHECK(c.history(s).empty());
  CHECK(c.lastToken(s) == -1);

  RequestId r1 = c.enqueue(s, {1, 2}, Request{});
  CHECK(b.received.back().inputTokenIds == Tokens{1, 2});
  CHECK(b.received.back().session == s);
  b.respond(r1, {5});
  c.awaitResponses(wait);
  CHECK(c.history(s).empty());  // not before the end
  CHECK_THROWS_WITH_AS(c.enqueue(s, {3}, Request{}), doctest::Contains("already has a request in flight"), Error);
  b.respond(r1, {6}, FinishReason::Length);
  c.awaitResponses(wait);
  CHECK(c.history(s) == Tokens{1, 2, 5, 6});
  CHECK(c.historyLength(s) == 4);
  CHECK(c.lastToken(s) == 6);

  // the next turn runs the whole context; a request the backend refuses (synchronously or with Error) changes nothing
  b.refuseNext = true;
  CHECK_THROWS_WITH_AS(c.enqueue(s, {7}, Request{}), doctest::Contains("temperature"), Error);
  RequestId r2 = c.enqueue(s, {7}, Request{});
  CHECK(b.received.back().inputTokenIds == Tokens{1, 2, 5, 6, 7});
  b.respond(r2, {}, FinishReason::Error);
  c.awaitResponses(wait);
  CHECK(c.history(s) == Tokens{1, 2, 5, 6});

  // an aborted turn keeps what it generated; keepOutput drops what came after a stop string, for that request only
  RequestId r3 = c.enqueue(s, {8}, Request{});
  b.respond(r3, {9, 10});
  b.respond(r3, {11}, FinishReason::Abort);
  c.awaitResponses(wait);
  CHECK(c.history(s) == Tokens{1, 2, 5, 6, 8, 9, 10, 11});
  c.keepOutput(s, r2, 0);  // not the last request
  CHECK(c.historyLength(s) == 8);
  c.keepOutput(s, r3, 1);
  CHECK(c.history(s) == Tokens{1, 2, 5, 6, 8, 9});
  c.keepOutput(s, r3, 0);  // only ever fewer than what is there
  CHECK(c.history(s) == Tokens{1, 2, 5, 6, 8});

  // a non-streaming request's final response carries all its tokens
  Request whole;
  whole.streaming = false;
  RequestId r4 = c.enqueue(s, {12}, whole);
  b.respond(r4, {13, 14}, FinishReason::Eos);
  c.awaitResponses(wait);
  CHECK(c.history(s) == Tokens{1, 2, 5, 6, 8, 12, 13, 14});

  // reset starts over; an empty context is refused
  c.reset(s);
  CHECK(c.history(s).empty());
  CHECK_THROWS_WITH_AS(c.enqueue(s, {}, Request{}), doctest::Contains("prompt must not be empty"), Error);
  RequestId r5 = c.enqueue(s, {1}, Request{});
  CHECK(b.received.back().inputTokenIds == Tokens{1});
  b.respond(r5, {2}, FinishReason::Length);
  c.awaitResponses(wait);
  CHECK(c.history(s) == Tokens{1, 2});
}

TEST_CASE("sessions are separate; a released session's history stays readable (its last request included) until forget") {
  auto owned = std::make_unique<ScriptedBackend>();
  ScriptedBackend& b = *owned;
  Conversations c(std::move(owned));
  const auto wait = std::chrono::milliseconds(0);
  SessionId a = c.open(), z = c.open();
  RequestId ra = c.enqueue(a, {1}, Request{});
  RequestId rz = c.enqueue(z, {2}, Request{});
  c.release(a);
  CHECK(b.released.count(a) == 1);
  CHECK_THROWS_WITH_AS(c.enqueue(a, {3}, Request{}), doctest::Contains("session is unknown or was released"), Error);
  b.respond(ra, {4}, FinishReason::Abort);
  b.respond(rz, {5}, FinishReason::Length);
  c.awaitResponses(wait);
  CHECK(c.history(a) == Tokens{1, 4});
  CHECK(c.history(z) == Tokens{2, 5});
  c.forget(z);  // not released: kept
  CHECK(c.history(z) == Tokens{2, 5});
  c.forget(a);
  CHECK(c.history(a).empty());
  CHECK_THROWS_WITH_AS(c.enqueue(99, {1}, Request{}), doctest::Contains("session"), Error);
}

// EngineRequests: the bookkeeping the TensorRT-LLM backend runs above the engine calls: sessions, id mapping,
// cancellation, stop conditions that end a request before the engine does, shutdown aborts. The engine results fed
// here are the data TensorRT-LLM's Executor returns (request id, new tokens, decodingIter, isFinal, finish reason).
#include <doctest/doctest.h>

#include <functional>

#include "core/error.h"
#include "core/executor/engine_requests.h"

using namespace redrafter;
using namespace redrafter::executor;

namespace {

const EngineRequests::Clock::time_point t0{};

Request makeRequest(SessionId session, int32_t maxTokens = 10) {
  Request r;
  r.session = session;
  r.inputTokenIds = {1, 2, 3};
  r.maxTokens = maxTokens;
  r.endIds = {0};
  return r;
}

EngineResult result(EngineRequestId id, std::vector<int32_t> tokens, int32_t iter, bool final = false,
                    FinishReason reason = FinishReason::NotFinished) {
  EngineResult e;
  e.engineId = id;
  e.tokens = std::move(tokens);
  e.decodingIter = iter;
  e.isFinal = final;
  e.reason = reason;
  return e;
}

ErrorCode codeOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.code();
  }
  return ErrorCode::Internal;
}

}  // namespace

TEST_CASE("sessions admit one request at a time; ids map both ways") {
  EngineRequests table;
  SessionId a = table.createSession();
  SessionId b = table.createSession();
  CHECK(a != b);
  RequestId ra = table.add(makeRequest(a), 1001, t0);
  CHECK(codeOf([&] { table.checkAdmissible(makeRequest(a)); }) == ErrorCode::InvalidArgument);
  CHECK(codeOf([&] { table.checkAdmissible(makeRequest(99)); }) == ErrorCode::InvalidArgument);
  RequestId rb = table.add(makeRequest(b), 1002, t0);
  CHECK(ra != rb);

  std::vector<EngineRequestId> toCancel;
  auto out = table.onResults({result(1002, {7}, 1), result(1001, {5, 6}, 2), result(4242, {9}, 1)}, toCancel, t0);
  REQUIRE(out.size() == 2);  // the unknown engine id is ignored
  CHECK(out[0].requestId == rb);
  CHECK(out[0].outputTokenIds == std::vector<int32_t>{7});
  CHECK(out[1].requestId == ra);
  CHECK(out[1].outputTokenIds == std::vector<int32_t>{5, 6});
  CHECK(toCancel.empty());

  out = table.onResults({result(1001, {8}, 3, true, FinishReason::Eos)}, toCancel, t0);
  REQUIRE(out.size() == 1);
  CHECK(out[0].isFinal);
  CHECK(out[0].finishReason == FinishReason::Eos);
  table.checkAdmissible(makeRequest(a));  // the session is free again
  CHECK(table.onResults({result(1001, {1}, 4)}, toCancel, t0).empty());  // finished: later results ignored
}

TEST_CASE("our stop conditions ending a request first ask for the engine's request to be cancelled") {
  EngineRequests table;
  SessionId s = table.createSession();
  table.add(makeRequest(s, 2), 77, t0);
  std::vector<EngineRequestId> toCancel;
  auto out = table.onResults({result(77, {4, 5, 6}, 2)}, toCancel, t0);
  REQUIRE(out.size() == 1);
  CHECK(out[0].finishReason == FinishReason::Length);
  CHECK(out[0].outputTokenIds == std::vector<int32_t>{4, 5});
  CHECK(toCancel == std::vector<EngineRequestId>{77});
  CHECK(table.empty());
}

TEST_CASE("cancelRequest and releaseSession end requests with abort when the engine answers") {
  EngineRequests table;
  SessionId s = table.createSession();
  RequestId r = table.add(makeRequest(s), 5, t0);
  CHECK(table.cancel(r) == std::optional<EngineRequestId>(5));
  CHECK_FALSE(table.cancel(12345).has_value());
  std::vector<EngineRequestId> toCancel;
  auto out = table.onResults({result(5, {}, 1, true)}, toCancel, t0);
  REQUIRE(out.size() == 1);
  CHECK(out[0].finishReason == FinishReason::Abort);

  RequestId r2 = table.add(makeRequest(s), 6, t0);
  CHECK(table.releaseSession(s) == std::vector<EngineRequestId>{6});
  out = table.onResults({result(6, {3}, 1, true, FinishReason::Length)}, toCancel, t0);
  REQUIRE(out.size() == 1);
  CHECK(out[0].requestId == r2);
  CHECK(out[0].finishReason == FinishReason::Abort);
  CHECK(codeOf([&] { table.checkAdmissible(makeRequest(s)); }) == ErrorCode::InvalidArgument);  // released
}

TEST_CASE("engine errors and shutdown") {
  EngineRequests table;
  SessionId s1 = table.createSession();
  SessionId s2 = table.createSession();
  SessionId s3 = table.createSession();
  table.add(makeRequest(s1), 1, t0);
  table.add(makeRequest(s2), 2, t0);
  RequestId r3 = table.add(makeRequest(s3), 3, t0);

  EngineResult err;
  err.engineId = 1;
  err.hasError = true;
  err.errorMessage = "TensorRT-LLM: request 1: out of KV cache";
  std::vector<EngineRequestId> toCancel;
  auto out = table.onResults({err}, toCancel, t0);
  REQUIRE(out.size() == 1);
  CHECK(out[0].finishReason == FinishReason::Error);
  CHECK(out[0].errorCode == ErrorCode::Backend);
  CHECK(out[0].error == "TensorRT-LLM: request 1: out of KV cache");

  auto ids = table.close();
  CHECK(ids == std::vector<EngineRequestId>{2, 3});
  CHECK(table.closed());
  CHECK(codeOf([&] { table.createSession(); }) == ErrorCode::Disposed);
  CHECK(codeOf([&] { table.checkAdmissible(makeRequest(s1)); }) == ErrorCode::Disposed);
  out = table.onResults({result(2, {}, 1, true)}, toCancel, t0);  // the engine answered one cancel
  REQUIRE(out.size() == 1);
  CHECK(out[0].finishReason == FinishReason::Abort);
  out = table.abortAll(t0);  // the other never did
  REQUIRE(out.size() == 1);
  CHECK(out[0].requestId == r3);
  CHECK(out[0].isFinal);
  CHECK(out[0].finishReason == FinishReason::Abort);
  CHECK(table.empty());
}

TEST_CASE("failAll ends every request with the engine's error") {
  EngineRequests table;
  SessionId s = table.createSession();
  table.add(makeRequest(s), 9, t0);
  auto out = table.failAll("TensorRT-LLM: awaitResponses: device lost", t0);
  REQUIRE(out.size() == 1);
  CHECK(out[0].finishReason == FinishReason::Error);
  CHECK(out[0].error == "TensorRT-LLM: awaitResponses: device lost");
  CHECK(table.empty());
}

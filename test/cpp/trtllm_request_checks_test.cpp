// The TensorRT-LLM backend's request checks (native/trtllm/request_checks.h): sampling the ReDrafter engine path
// can do, and the prompt limit max_seq_len - max_draft_len.
#include <doctest/doctest.h>

#include <string>

#include "core/error.h"
#include "trtllm/request_checks.h"

using redrafter::Error;
using redrafter::ErrorCode;
using redrafter::executor::SamplingConfig;
using redrafter::trtllm::checkLength;
using redrafter::trtllm::checkSampling;
using redrafter::trtllm::EngineLimits;

namespace {

// The error `f` throws (a default Error when it throws none).
template <typename F>
Error thrown(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  FAIL("expected a redrafter::Error");
  return Error(ErrorCode::Internal, "");
}

EngineLimits redrafterEngine(bool greedy) {
  EngineLimits e;
  e.maxSeqLen = 2048 + 20;  // trtllm-build added max_draft_len 4 * 5
  e.maxDraftLen = 20;
  e.maxInputLen = 1024;
  e.hasDrafter = true;
  e.greedySearch = greedy;
  return e;
}

}  // namespace

TEST_CASE("trtllm checks: top-k and top-p are refused by name (RangeError), temperature follows the engine") {
  const EngineLimits greedy = redrafterEngine(true);
  const EngineLimits sampling = redrafterEngine(false);
  SamplingConfig s;
  CHECK_NOTHROW(checkSampling(s, greedy));  // temperature 0 on a greedy engine

  s.topK = 40;
  Error e = thrown([&] { checkSampling(s, greedy); });
  CHECK(e.code() == ErrorCode::InvalidArgument);
  CHECK(e.outOfRange());
  CHECK(std::string(e.what()).rfind("topK is not supported by the tensorrt-llm backend", 0) == 0);

  s = SamplingConfig();
  s.topP = 0.9f;
  e = thrown([&] { checkSampling(s, sampling); });
  CHECK(std::string(e.what()).rfind("topP is not supported", 0) == 0);

  s = SamplingConfig();
  s.temperature = 0.7f;
  e = thrown([&] { checkSampling(s, greedy); });
  CHECK(e.outOfRange());
  CHECK(std::string(e.what()).find("temperature must be 0: this engine was built with redrafter_greedy_search") == 0);
  CHECK_NOTHROW(checkSampling(s, sampling));

  s.temperature = 0.0f;
  e = thrown([&] { checkSampling(s, sampling); });
  CHECK(std::string(e.what()).find("temperature must be > 0") == 0);

  // an engine without a drafter takes any temperature
  EngineLimits plain;
  s.temperature = 0.5f;
  CHECK_NOTHROW(checkSampling(s, plain));
  s.temperature = -1.0f;
  CHECK(thrown([&] { checkSampling(s, plain); }).code() == ErrorCode::InvalidArgument);
}

TEST_CASE("trtllm checks: a request may use max_seq_len - max_draft_len tokens and max_input_len prompt tokens") {
  const EngineLimits e = redrafterEngine(true);
  CHECK(e.contextLimit() == 2048);
  CHECK_NOTHROW(checkLength(1000, 1048, e));
  Error err = thrown([&] { checkLength(1000, 1049, e); });
  CHECK(err.code() == ErrorCode::ContextOverflow);
  CHECK(std::string(err.what()) ==
        "inputTokenIds + maxTokens (1000 + 1049) exceed the engine's limit 2048 (max_seq_len 2068 minus max_draft_len 20)");
  err = thrown([&] { checkLength(1025, 1, e); });
  CHECK(err.code() == ErrorCode::ContextOverflow);
  CHECK(std::string(err.what()).find("max_input_len 1024") != std::string::npos);
  EngineLimits unknown;
  CHECK_NOTHROW(checkLength(100000, 100000, unknown));
}

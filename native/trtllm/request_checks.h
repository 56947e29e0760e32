// What a TensorRT-LLM ReDrafter engine can run, checked before a request reaches it. No TensorRT-LLM header: the
// checks are tested without TensorRT-LLM (test/cpp/trtllm_request_checks_test.cpp).
//
// TensorRT-LLM's ReDrafter path (tensorrt_llm/models/redrafter, the explicit-draft-tokens decoder) samples with the
// request's temperature and seed only: top-k, top-p and penalties are not applied, so they are refused rather than
// silently ignored. An engine built with redrafter_greedy_search (the default) decodes greedily and ignores the
// temperature; one built without it divides by the temperature (redrafter_inverted_temperature), so it cannot be
// greedy. trtllm-build adds max_draft_len (redrafter_num_beams * redrafter_draft_len_per_beam) to max_seq_len for the
// draft tokens a step carries, so a request may use max_seq_len - max_draft_len tokens.
#pragma once
#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/executor/executor_interface.h"

namespace redrafter::trtllm {

struct EngineLimits {
  int32_t maxSeqLen = 0;       // build_config.max_seq_len (0: unknown)
  int32_t maxDraftLen = 0;     // build_config.max_draft_len
  int32_t maxInputLen = 0;     // build_config.max_input_len (0: unknown)
  bool hasDrafter = false;     // a ReDrafter engine
  bool greedySearch = true;    // pretrained_config.redrafter_greedy_search

  // Prompt + generated tokens a request may use.
  int32_t contextLimit() const { return maxSeqLen > 0 ? maxSeqLen - maxDraftLen : 0; }
};

inline void checkSampling(const executor::SamplingConfig& s, const EngineLimits& e) {
  RD_REQUIRE(s.temperature >= 0.0f, "temperature", "must be >= 0");
  if (s.topK != 0)
    failRange("topK", "is not supported by the tensorrt-llm backend: TensorRT-LLM's ReDrafter engines sample with "
                      "temperature and seed only (leave topK at 0)");
  if (s.topP != 1.0f)
    failRange("topP", "is not supported by the tensorrt-llm backend: TensorRT-LLM's ReDrafter engines sample with "
                      "temperature and seed only (leave topP at 1)");
  if (!e.hasDrafter) return;  // a plain engine samples with TensorRT-LLM's usual sampler
  if (e.greedySearch && s.temperature > 0.0f)
    failRange("temperature", "must be 0: this engine was built with redrafter_greedy_search and decodes greedily "
                             "(rebuild with `redrafter build --no-greedy-search` to sample)");
  if (!e.greedySearch && s.temperature == 0.0f)
    failRange("temperature", "must be > 0: this engine was built without redrafter_greedy_search and always samples "
                             "(rebuild without --no-greedy-search for greedy decoding)");
}

inline void checkLength(size_t promptTokens, int32_t maxTokens, const EngineLimits& e) {
  if (e.maxInputLen > 0 && int64_t(promptTokens) > int64_t(e.maxInputLen))
    fail(ErrorCode::ContextOverflow, "inputTokenIds (" + std::to_string(promptTokens) +
                                         " tokens) exceed the engine's max_input_len " + std::to_string(e.maxInputLen));
  const int32_t limit = e.contextLimit();
  if (limit > 0 && int64_t(promptTokens) + int64_t(maxTokens) > int64_t(limit))
    fail(ErrorCode::ContextOverflow, "inputTokenIds + maxTokens (" + std::to_string(promptTokens) + " + " +
                                         std::to_string(maxTokens) + ") exceed the engine's limit " +
                                         std::to_string(limit) + " (max_seq_len " + std::to_string(e.maxSeqLen) +
                                         " minus max_draft_len " + std::to_string(e.maxDraftLen) + ")");
}

}  // namespace redrafter::trtllm

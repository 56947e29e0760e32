// The embedded CPU engine behind the executor interface: one model (Transformer), an optional drafter, and
// per-session KV caches. Each decoding step of a request is ReDrafter's:
//   drafter beam search from (hidden state of the last cached token, the LLM's last token)
//   -> buildTree -> one tree-verification forward (positions = cached length + positionOffsets, tree mask)
//   -> verification (greedy, exact sampling or Apple's rule) -> KV commit -> emit accepted drafts + next token.
// The hidden state at the last accepted packed position seeds the next step. Without a drafter (or with
// beamWidth 0) a step is one plain autoregressive forward. The tree verifications of all requests in flight
// run as one forwardBatch.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "core/executor/step_executor.h"
#include "cpu/engine/transformer.h"
#include "cpu/executor/draft_policy.h"
#include "cpu/executor/draft_source.h"

namespace redrafter::cpu {

struct CpuBackendOptions {
  int32_t contextLength = 0;    // KV capacity per session; 0 = the model's context length; at most the model's
  int64_t maxKvCacheBytes = 0;  // bound on one session's KV cache at that capacity; 0 = defaultKvCacheBudget()
  int32_t prefillChunk = 128;   // prompt tokens per prefill forward
};

class CpuBackend : public executor::StepBackend {
 public:
  CpuBackend(std::shared_ptr<Transformer> model, std::shared_ptr<DraftSource> drafter,
             CpuBackendOptions options = {});
  ~CpuBackend() override;

  executor::ModelInfo modelInfo() const override;
  void validate(const executor::Request& request) const override;
  void start(executor::ActiveRequest& request) override;
  void step(const std::vector<executor::ActiveRequest*>& requests) override;
  void end(executor::ActiveRequest& request) override;
  void releaseSession(executor::SessionId session) override;

 private:
  struct Session;
  struct RequestState;
  struct StepWork;
  Session& session(executor::SessionId id);

  std::shared_ptr<Transformer> model_;
  std::shared_ptr<DraftSource> drafter_;
  CpuBackendOptions options_;
  int32_t vocab_ = 0, dim_ = 0, capacity_ = 0;
  std::map<executor::SessionId, std::unique_ptr<Session>> sessions_;  // worker thread only
  // the adaptive draft policy of the last request that ended, per (width, length, greedy): where the next request
  // of that shape starts (DraftPolicy::resume); worker thread only
  std::map<std::tuple<int32_t, int32_t, bool>, DraftPolicy> policies_;
  // step()'s working memory across requests, kept from step to step (worker thread only)
  std::vector<StepWork> work_;            // the requests of this step
  std::vector<ForwardRequest> forward_;   // their trees, for one forwardBatch
  std::vector<size_t> draftGroup_;        // work indices drafted together (one beam shape)
  std::vector<float> draftHidden_;        // [group, dim]
  std::vector<int32_t> draftLast_;        // [group]
  std::vector<Draft*> draftOut_;          // [group] each request's Draft
};

}  // namespace redrafter::cpu

#include "cpu/executor/cpu_backend.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "core/build_tree.h"
#include "core/finite.h"
#include "core/kv_commit.h"
#include "core/rng.h"
#include "core/verify_greedy.h"
#include "core/verify_sampling.h"

namespace redrafter::cpu {

using executor::ActiveRequest;
using executor::FinishReason;
using executor::Request;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The lowest index of the largest logit (the same rule for plain and drafted decoding).
int32_t argmax(const float* logits, int vocab) {
  int32_t best = 0;
  for (int i = 1; i < vocab; ++i)
    if (logits[i] > logits[best]) best = i;
  return best;
}

// Logits that are NaN or infinite come from the model's weights (NaN/Inf in the file, or finite values whose
// products overflow): the request fails naming the file rather than decoding arbitrary tokens from them.
bool finiteLogits(const std::vector<float>& logits) { return firstNonFinite(logits.data(), logits.size()) == logits.size(); }
std::string nonFiniteLogits(const std::string& modelPath) {
  return modelPath + ": the model computed non-finite logits (its weights hold NaN or infinite values, or overflow "
                     "float32)";
}

}  // namespace

struct CpuBackend::Session {
  std::unique_ptr<KvCache> cache;
  std::vector<int32_t> tokens;  // the tokens whose keys/values are in the cache, slot by slot
};

struct CpuBackend::RequestState {
  Session* session = nullptr;
  int32_t last = -1;          // the last emitted token: not yet in the cache
  std::vector<float> hidden;  // [dim] the final hidden state at the last cached token
  Rng rng;
  bool greedy = true;
  SamplingParams params;
  int32_t width = 0, length = 0;
  bool apple = false;
  SamplingScratch sampling;  // sampled steps' working memory (vocab-sized vectors)
  std::unique_ptr<DraftPolicy> policy;  // DraftConfig::adaptive: the shape per step
  size_t policyChoice = 0;               // the candidate this step uses
  // A step's working memory, kept from step to step (its vectors keep their capacity: a greedy step allocates
  // nothing once the largest shape has been seen).
  Draft draft;                     // beams [W, L] (a plain step: the last token alone)
  PackedTrees tree;                // the packed tree of the draft
  TreeScratch treeScratch;
  std::vector<int32_t> positions;  // [treeLength] cached length + positionOffsets
  std::vector<float> logits;       // [treeLength, vocab]
  std::vector<float> treeHidden;   // [treeLength, dim]
  std::vector<int32_t> best;       // [treeLength] the LLM's argmax at each packed position (greedy)
  Verification verification;
  CommitPlan plan;
  std::vector<int32_t> emitted;  // the accepted drafted tokens, then the LLM's own
};

// One request's part of a step.
struct CpuBackend::StepWork {
  ActiveRequest* r = nullptr;
  RequestState* st = nullptr;
  int32_t width = 1, length = 1;
  bool drafted = false;
};

CpuBackend::CpuBackend(std::shared_ptr<Transformer> model, std::shared_ptr<DraftSource> drafter,
                       CpuBackendOptions options)
    : model_(std::move(model)), drafter_(std::move(drafter)), options_(options) {
  RD_REQUIRE(model_ != nullptr, "model", "is missing");
  const ModelConfig& c = model_->config();
  vocab_ = c.vocabSize;
  dim_ = c.dim;
  int32_t modelContext = c.contextLength > 0 ? c.contextLength : 2048;
  RD_REQUIRE(options_.contextLength >= 0, "contextLength", "must be >= 0");
  if (options_.contextLength > modelContext)
    failRange("contextLength", std::to_string(options_.contextLength) + " is larger than the model's context length " +
                                   std::to_string(modelContext) + " (" + model_->weights().path + ")");
  capacity_ = options_.contextLength > 0 ? options_.contextLength : modelContext;
  RD_REQUIRE(options_.maxKvCacheBytes >= 0, "maxKvCacheBytes", "must be >= 0");
  const int64_t budget = options_.maxKvCacheBytes > 0 ? options_.maxKvCacheBytes : defaultKvCacheBudget();
  const int64_t cacheBytes = kvCacheBytes(c, capacity_);
  if (cacheBytes > budget)
    fail(ErrorCode::OutOfMemory,
         model_->weights().path + ": a context of " + std::to_string(capacity_) + " tokens needs a KV cache of " +
             std::to_string(cacheBytes) +
             " bytes per session, more than maxKvCacheBytes " + std::to_string(budget) +
             (options_.maxKvCacheBytes > 0 ? "" : " (the default: half the machine's memory)") +
             "; pass a smaller contextLength or a larger maxKvCacheBytes");
  RD_REQUIRE(options_.prefillChunk >= 1, "prefillChunk", "must be >= 1");
}

executor::ModelInfo CpuBackend::modelInfo() const {
  executor::ModelInfo info;
  info.vocabSize = vocab_;
  info.contextLength = capacity_;
  info.maxBeamWidth = drafter_ ? drafter_->maxBeamWidth() : 0;
  info.maxBeamLength = drafter_ ? drafter_->maxBeamLength() : 0;
  const ModelWeights& w = model_->weights();
  double parameters = double(w.tokenEmbedding.elements()) + double(w.finalNorm.elements());
  if (w.output.data != w.tokenEmbedding.data) parameters += double(w.output.elements());
  for (const LayerWeights& l : w.layers)
    for (const TensorView* t : {&l.attnNorm, &l.wq, &l.wk, &l.wv, &l.wo, &l.ffnNorm, &l.w1, &l.w2, &l.w3})
      parameters += double(t->elements());
  info.parameters = parameters;
  info.backend = "cpu";
  return info;
}

void CpuBackend::validate(const Request& r) const {
  executor::RequestLimits limits;
  limits.hasDrafter = drafter_ != nullptr;
  limits.maxBeamWidth = drafter_ ? drafter_->maxBeamWidth() : 0;
  limits.maxBeamLength = drafter_ ? drafter_->maxBeamLength() : 0;
  limits.vocabSize = vocab_;
  limits.contextLength = capacity_;
  executor::validateRequest(r, limits);
}

CpuBackend::Session& CpuBackend::session(executor::SessionId id) {
  auto& s = sessions_[id];
  if (!s) s = std::make_unique<Session>();
  if (!s->cache) s->cache = model_->createCache(capacity_);
  return *s;
}

void CpuBackend::start(ActiveRequest& r) {
  const Clock::time_point t0 = Clock::now();
  const Request& q = r.request();
  auto st = std::make_shared<RequestState>();
  Session& s = session(q.session);
  st->session = &s;
  st->rng = Rng(q.sampling.seed);
  st->greedy = q.sampling.temperature == 0;
  st->params.temperature = st->greedy ? 1.0f : q.sampling.temperature;
  st->params.topK = q.sampling.topK;
  st->params.topP = q.sampling.topP;
  st->width = drafter_ ? q.draft.beamWidth : 0;
  st->length = st->width > 0 ? q.draft.beamLength : 1;
  st->apple = q.draft.acceptance == executor::Acceptance::Apple;
  if (q.draft.adaptive && st->width > 0 && st->length >= 2) {
    auto last = policies_.find({st->width, st->length, st->greedy});
    if (last != policies_.end()) {
      st->policy = std::make_unique<DraftPolicy>(last->second);
      st->policy->resume();
    } else {
      st->policy = std::make_unique<DraftPolicy>(st->width, st->length);
    }
  }
  r.state = st;

  // Reuse the longest prefix of the prompt the session's cache already holds (at least one token is run).
  const auto& input = q.inputTokenIds;
  size_t common = 0;
  while (common < input.size() && common < s.tokens.size() && s.tokens[common] == input[common]) ++common;
  if (common == input.size()) --common;
  s.cache->truncate(int32_t(common));
  s.tokens.resize(common);
  r.stats.reusedTokens = int32_t(common);

  std::vector<float> logits(vocab_), hidden(dim_);  // [1, vocab], [1, dim]: the last prompt token's
  const int32_t none = 0;
  for (size_t i = common; i < input.size(); i += options_.prefillChunk) {
    const int32_t n = int32_t(std::min<size_t>(options_.prefillChunk, input.size() - i));
    const bool lastChunk = i + n == input.size();
    const int32_t lastRow = n - 1;
    model_->forward(*s.cache, input.data() + i, n, nullptr, nullptr, lastChunk ? &lastRow : &none,
                    lastChunk ? 1 : 0, lastChunk ? logits.data() : nullptr, lastChunk ? hidden.data() : nullptr);
    s.tokens.insert(s.tokens.end(), input.begin() + i, input.begin() + i + n);
  }
  if (!finiteLogits(logits)) fail(ErrorCode::InvalidModel, nonFiniteLogits(model_->weights().path));
  int32_t first;
  if (st->greedy) {
    first = argmax(logits.data(), vocab_);
  } else {
    first = sampleNext(logits.data(), vocab_, st->params, st->rng, st->sampling);
  }
  st->last = first;
  st->hidden = std::move(hidden);
  r.stats.prefillSeconds = since(t0);
  r.emit(&first, 1);
}

void CpuBackend::step(const std::vector<ActiveRequest*>& requests) {
  // Per request: its tree (drafted, or just the root for a plain step) and the forward's outputs, in its
  // RequestState's working memory.
  std::vector<StepWork>& work = work_;
  work.clear();
  const Clock::time_point stepStart = Clock::now();

  for (ActiveRequest* r : requests) {
    auto* st = static_cast<RequestState*>(r->state.get());
    KvCache& cache = *st->session->cache;
    const int32_t n = cache.length();
    if (n >= capacity_) {  // the last token cannot be cached: the context is full
      r->finish(FinishReason::Context);
      continue;
    }
    StepWork w;
    w.r = r;
    w.st = st;
    // Draft no further than the remaining tokens and the cache's free slots allow.
    int32_t length = 1;
    int32_t width = st->width;
    if (st->policy) {  // adaptive: this step's shape, at most the requested one
      st->policyChoice = st->policy->next();
      width = st->policy->candidates()[st->policyChoice].shape.width;
      length = width > 0 ? st->policy->candidates()[st->policyChoice].shape.length : 1;
    } else if (width > 0) {
      length = st->length;
    }
    if (width > 0) {
      length = std::min(length, r->remainingTokens());
      length = std::min(length, 1 + (capacity_ - n - 1) / width);
    }
    if (length >= 2) {
      w.drafted = true;
      w.width = width;
      w.length = length;
    }
    work.push_back(w);
  }
  if (work.empty()) return;

  // Drafting: the requests that share a beam shape go through one batched beam search.
  for (StepWork& w : work) w.st->draft.beams.clear();  // a drafted request's beams are filled once, by its group
  for (size_t i = 0; i < work.size(); ++i) {
    StepWork& head = work[i];
    if (!head.drafted || !head.st->draft.beams.empty()) continue;
    const bool logProbs = head.st->apple && !head.st->greedy;
    std::vector<size_t>& group = draftGroup_;  // work indices with this shape
    group.clear();
    for (size_t j = i; j < work.size(); ++j) {
      const StepWork& w = work[j];
      if (w.drafted && w.st->draft.beams.empty() && w.width == head.width && w.length == head.length &&
          (w.st->apple && !w.st->greedy) == logProbs)
        group.push_back(j);
    }
    draftHidden_.resize(group.size() * size_t(dim_));  // [group, dim]
    draftLast_.resize(group.size());                    // [group]
    draftOut_.resize(group.size());                     // [group]
    for (size_t g = 0; g < group.size(); ++g) {
      RequestState* st = work[group[g]].st;
      std::copy_n(st->hidden.data(), dim_, draftHidden_.data() + g * dim_);
      draftLast_[g] = st->last;
      draftOut_[g] = &st->draft;
    }
    const Clock::time_point t0 = Clock::now();
    drafter_->draftBatch(draftHidden_.data(), draftLast_.data(), int32_t(group.size()), dim_, head.width,
                         head.length, logProbs, draftOut_.data());
    const double seconds = since(t0);
    for (size_t g : group) work[g].r->stats.draftSeconds += seconds;
  }

  for (StepWork& w : work) {
    RequestState* st = w.st;
    const int32_t n = st->session->cache->length();
    const Clock::time_point t1 = Clock::now();
    PackedTrees& tree = st->tree;
    if (w.drafted) {
      buildTree(st->draft.beams.data(), 1, w.width, w.length, tree, st->treeScratch);  // [1, W, L] -> packed
    } else {
      // A plain autoregressive step: the tree is the root alone.
      tree.batch = 1, tree.width = 1, tree.length = 1, tree.maxLength = 1;
      tree.lengths.assign(1, 1);
      tree.tokens.assign(1, st->last);
      tree.beamTokenIndex.assign(1, 0);
      tree.positionOffsets.assign(1, 0);
      tree.parents.assign(1, -1);
      tree.unpacker.assign(1, 0);
      tree.mask.assign(1, 1);
      st->draft.beams.assign(1, st->last);
    }
    const int32_t treeLength = tree.lengths[0];
    st->positions.resize(treeLength);
    for (int32_t i = 0; i < treeLength; ++i) st->positions[i] = n + tree.positionOffsets[i];
    st->logits.resize(size_t(treeLength) * vocab_);
    st->treeHidden.resize(size_t(treeLength) * dim_);
    w.r->stats.treeSeconds += since(t1);
  }

  // One forward verifies every request's tree.
  std::vector<ForwardRequest>& batch = forward_;
  batch.resize(work.size());
  for (size_t i = 0; i < work.size(); ++i) {
    RequestState* st = work[i].st;
    ForwardRequest& f = batch[i];
    f = ForwardRequest();
    f.cache = st->session->cache.get();
    f.tokens = st->tree.tokens.data();
    f.positions = st->positions.data();
    f.mask = st->tree.mask.data();  // [treeLength, treeLength] (batch 1: maxLength == treeLength)
    f.tokenCount = st->tree.lengths[0];
    f.logits = st->logits.data();
    f.hidden = st->treeHidden.data();
  }
  const Clock::time_point tForward = Clock::now();
  model_->forwardBatch(batch.data(), batch.size());
  const double forwardSeconds = since(tForward);

  for (StepWork& w : work) {
    ActiveRequest& r = *w.r;
    RequestState& st = *w.st;
    KvCache& cache = *st.session->cache;
    const PackedTrees& tree = st.tree;
    const int32_t n = cache.length() - tree.lengths[0];  // the cached length before the forward
    const int32_t treeLength = tree.lengths[0];
    const Clock::time_point tVerify = Clock::now();
    if (!finiteLogits(st.logits)) {  // this request only: the others' logits may be fine
      r.fail(ErrorCode::InvalidModel, nonFiniteLogits(model_->weights().path));
      continue;
    }
    Verification& v = st.verification;
    if (st.greedy) {
      st.best.resize(treeLength);
      for (int32_t i = 0; i < treeLength; ++i) st.best[i] = argmax(st.logits.data() + size_t(i) * vocab_, vocab_);
      verifyGreedy(st.draft.beams.data(), w.width, w.length, tree.unpacker.data(), st.best.data(), v);
    } else if (!w.drafted) {
      v.acceptedTokens.clear();
      v.nextToken = sampleNext(st.logits.data(), vocab_, st.params, st.rng, st.sampling);
      v.acceptedPacked.assign(1, 0);
    } else if (st.apple) {
      verifySamplingApple(tree, 0, st.draft.beams.data(), st.logits.data(), st.draft.logProbs.data(), vocab_, st.params,
                          st.rng, st.sampling, v);
    } else {
      verifySamplingExact(tree, 0, st.draft.beams.data(), st.logits.data(), vocab_, st.params, st.rng, st.sampling,
                          v);
    }
    r.stats.forwardSeconds += forwardSeconds;
    r.stats.acceptSeconds += since(tVerify);

    // Keep the accepted path's keys/values right after the prefix; drop the rest of the tree.
    const Clock::time_point tCommit = Clock::now();
    if (v.acceptedPacked.empty()) v.acceptedPacked.assign(1, 0);
    kvCommitPlan(n, v.acceptedPacked.data(), int32_t(v.acceptedPacked.size()), st.plan);
    cache.commit(st.plan);
    for (int32_t p : v.acceptedPacked) st.session->tokens.push_back(tree.tokens[p]);
    const int32_t lastPacked = v.acceptedPacked.back();
    std::copy_n(st.treeHidden.data() + size_t(lastPacked) * dim_, dim_, st.hidden.data());
    st.last = v.nextToken;
    r.stats.commitSeconds += since(tCommit);

    const Clock::time_point tEmit = Clock::now();
    std::vector<int32_t>& out = st.emitted;
    out.assign(v.acceptedTokens.begin(), v.acceptedTokens.end());
    out.push_back(v.nextToken);
    r.recordStep(int(out.size()), w.drafted ? w.width : 0, w.drafted ? w.length : 1);
    if (st.policy) st.policy->observe(st.policyChoice, int32_t(out.size()), since(stepStart));
    r.emit(out.data(), int(out.size()));
    r.stats.otherSeconds += since(tEmit);
  }
}

CpuBackend::~CpuBackend() = default;

void CpuBackend::end(ActiveRequest& r) {
  auto* st = static_cast<RequestState*>(r.state.get());
  if (st && st->policy) policies_.insert_or_assign({st->width, st->length, st->greedy}, *st->policy);
  r.state.reset();
}

void CpuBackend::releaseSession(executor::SessionId id) { sessions_.erase(id); }

}  // namespace redrafter::cpu

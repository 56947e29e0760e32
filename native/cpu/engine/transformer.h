// The CPU forward pass of a decoder-only LLaMA-family model (RMSNorm, RoPE on interleaved pairs or NeoX halves with
// optional frequency factors, grouped-query attention with optional q/k/v biases (qwen2) or q/k head norms
// (qwen3), heads wider than dim / heads (qwen3 0.6B: queries [qDim = heads * headDim] projected back to [dim]),
// SwiGLU, tied or untied classifier) over shared, read-only ModelWeights.
//
// One forward computes n new tokens of a sequence against its KvCache with an explicit attention mask: the tokens
// are written at cache slots cache.length()..cache.length()+n-1 and each attends to every cached slot plus, among
// the new tokens, those its mask row allows (causal when the mask is null). The same call serves prefill (causal),
// single-token decode (n = 1) and ReDrafter tree verification (tokens = the packed tree, positions = cached length +
// positionOffsets, mask = the packed tree mask). forwardBatch runs several sequences in one pass that reads every
// weight once.
//
// Batch invariance: a token's logits and hidden state are bit-identical whatever other tokens share the forward
// (every row's reductions have a fixed order, independent of the number of tokens and threads).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cpu/engine/kv_cache.h"
#include "model/weights.h"

namespace redrafter::cpu {

// the model room's names this engine uses (native/model)
using model::LayerWeights;
using model::ModelConfig;
using model::ModelWeights;

class ThreadPool;
struct TransformerState;

struct TransformerOptions {
  int32_t threads = 0;  // worker threads including the caller; 0 = the machine's hardware concurrency
  std::string isa;      // "" = best available (or $REDRAFTER_CPU_ISA), else "avx512", "avx2" or "portable"
};

// One sequence's share of a forward. Shapes in brackets; n = tokenCount, nOut = outputCount.
struct ForwardRequest {
  KvCache* cache = nullptr;
  const int32_t* tokens = nullptr;     // [n] token ids in [0, vocab)
  const int32_t* positions = nullptr;  // [n] RoPE positions >= 0; null = cache.length() + i
  const uint8_t* mask = nullptr;       // [n, n] row i: 1 where new token i may attend new token j (j <= i, diagonal
                                       // set); null = causal
  int32_t tokenCount = 0;
  const int32_t* outputRows = nullptr;  // [nOut] which new tokens (0..n-1) to return; null = all n, in order
  int32_t outputCount = 0;              // ignored when outputRows is null
  float* logits = nullptr;              // [nOut, vocab] or null
  float* hidden = nullptr;              // [nOut, dim] the final hidden state after the final norm, or null
};

class Transformer {
 public:
  // Validates every tensor's shape and type against the config (InvalidModel naming weights->path otherwise).
  explicit Transformer(std::shared_ptr<const ModelWeights> weights, const TransformerOptions& options = {});
  ~Transformer();
  Transformer(const Transformer&) = delete;
  Transformer& operator=(const Transformer&) = delete;

  const ModelConfig& config() const { return weights_->config; }
  const ModelWeights& weights() const { return *weights_; }
  int32_t threads() const;
  // Lends the forward's thread pool (ThreadPool::parallelFor), serialised with forwards: the drafter's products run
  // on the same threads as the model's, so an engine starts its threads once.
  void parallelFor(int64_t count, int64_t grain, const std::function<void(int64_t, int64_t)>& body);
  const char* isa() const;  // the kernels in use: "avx512", "avx2" or "portable"

  // A KV cache for this model: capacity slots (1 <= capacity <= config().contextLength when that is set).
  std::unique_ptr<KvCache> createCache(int32_t capacity) const;

  // forward of one sequence (see ForwardRequest). Throws InvalidArgument naming the field ("tokens",
  // "positions", "mask", "outputs") and ContextOverflow when length + n > capacity; on any error the cache is
  // unchanged. On success cache.length() grows by n. Thread-safe: concurrent calls are serialised.
  void forward(KvCache& cache, const int32_t* tokens, int32_t n, const int32_t* positions, const uint8_t* mask,
               const int32_t* outputRows, int32_t nOut, float* logits, float* hidden);

  // Several sequences (distinct caches) in one pass; each request behaves exactly as its own forward().
  // Everything is validated before anything is written.
  void forwardBatch(const ForwardRequest* requests, size_t count);

 private:
  std::shared_ptr<const ModelWeights> weights_;
  std::unique_ptr<TransformerState> state_;  // dequantised norms
  std::unique_ptr<ThreadPool> pool_;
  int isa_ = 0;
  std::mutex mutex_;
  // The forward's working buffers, kept between forwards (under mutex_) so that a forward allocates only when it is
  // larger than every one before it; shapes where forwardBatch sizes them.
  struct ForwardScratch;
  std::unique_ptr<ForwardScratch> scratch_;
};

}  // namespace redrafter::cpu

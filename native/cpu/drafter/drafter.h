// Apple's recurrent drafter (apple/ml-recurrent-drafter modeling_drafter.Drafter) on the CPU: the recurrent state
//   s_t = SiLU(rnn_w · E(token_{t-1}) + rnn_u · s_{t-1} + b_u)      (s_0 = 0; s_t = s_{t-1} + E(token_{t-1}) if !rnn)
// the head  logits = lm_head(input_proj?(concat[h, s_t]))  with residual blocks x + SiLU(W x + b), then Apple's
// max-subtract, top-50 warp and log-softmax (redrafter::appleProcessLogits), and the beam search that drafts
// candidate continuations from the LLM's final hidden state h and its last token (beam_search_candidates).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "model/drafter_weights.h"
#include "model/weights.h"

namespace redrafter::cpu {

class ThreadPool;

// the model room's names this engine uses (native/model)
using model::DrafterConfig;
using model::DrafterTensorSpec;
using model::DrafterWeights;
using model::ModelConfig;
using model::ModelWeights;
using model::checkDrafterMatchesModel;
using model::drafterTensorSpecs;
using model::embeddingRow;
using model::validateDrafterConfig;

// E: writes the LLM's embedding rows of `count` tokens into out [count, hiddenSize].
using EmbeddingLookup = std::function<void(const int32_t* tokens, int64_t count, float* out)>;

// The embedding table of a loaded LLM (dequantised row by row with embeddingRow).
EmbeddingLookup modelEmbeddings(std::shared_ptr<const ModelWeights> model);
// A float32 table [vocab, hiddenSize] owned by the caller; tokens outside [0, vocab) throw InvalidArgument.
EmbeddingLookup tableEmbeddings(const float* table, int32_t vocab, int32_t hiddenSize);

// Runs body(begin, end) over contiguous ranges of [0, count), in chunks of at least `grain` items, and returns when
// all are done (ThreadPool::parallelFor's contract): how the engine lends its one thread pool to the drafter.
using ParallelFor =
    std::function<void(int64_t count, int64_t grain, const std::function<void(int64_t, int64_t)>& body)>;

// draft()'s working memory, reused across calls by a caller that drafts every step (its vectors keep their
// capacity, so a step allocates nothing once the largest shape has been seen). Not shared between threads.
struct DraftScratch {
  std::vector<float> input, state, stateNext, emb, logp, scores, newScores, curLp, nextLp, linear, hiddenPart;
  std::vector<int32_t> parent, token, cur, next, lastOfBeam;
};

struct DraftOptions {
  int32_t width = 8;   // W: beams kept per sequence
  int32_t length = 5;  // L: tokens per beam, the LLM's own token included (L-1 drafted), >= 2
};

class Drafter {
 public:
  // Validates the config and that `weights.data` holds exactly its tensors. `source` (the drafter directory) names
  // it in errors. threads: workers used for the vocabulary projection of large drafters (1 = the caller only).
  // halfWeights: draft with float16 copies of the matrices (the engine's F16 kernels; half the bytes read per step,
  // which is what drafting costs on a large drafter). Drafts may then differ slightly from float32 ones; verification
  // keeps the output exact either way.
  Drafter(DrafterWeights weights, std::string source, int32_t threads = 1, bool halfWeights = false);
  ~Drafter();

  const DrafterConfig& config() const { return weights_.config; }
  const DrafterWeights& weights() const { return weights_; }
  const std::string& source() const { return source_; }

  // Throws InvalidModel naming both values when this drafter was not made for `model` (hidden size, vocabulary).
  void checkMatches(const ModelConfig& model, const std::string& modelSource) const;

  // Beam search for `batch` sequences at once (every beam of every sequence goes through one matrix product per
  // step). hidden: [batch, hiddenSize] the LLM's final hidden state (after the final norm) at each sequence's last
  // position; lastToken: [batch] the token the LLM produced from it.
  // Outputs: beams [batch, W, L] (beams[b][w][0] == lastToken[b]), sorted by descending beam log-probability;
  // logProbs [batch, W, L-1, vocab] (may be null): the drafter's processed log-probabilities behind each drafted
  // token (Apple's log_p_token_in_beam); beamScores [batch, W] (may be null): each beam's total log-probability.
  // Thread-safe (const) when each thread passes its own `scratch` (null: a local one, allocated per call).
  // `parallel` splits the large matrix products (null: the drafter's own pool of `threads`, when free).
  // Throws InvalidArgument naming the field on bad sizes or tokens.
  void draft(const float* hidden, const int32_t* lastToken, int32_t batch, const DraftOptions& options,
             const EmbeddingLookup& embed, int32_t* beams, float* logProbs, float* beamScores = nullptr,
             DraftScratch* scratch = nullptr, const ParallelFor* parallel = nullptr) const;

  // The head on `rows` rows: input [rows, 2*hiddenSize] = concat[h, s] -> logits [rows, vocab] (raw, before
  // Apple's processing). scratch is resized as needed.
  void headLogits(const float* input, int64_t rows, float* logits, std::vector<float>& scratch,
                  const ParallelFor* parallel = nullptr) const;

  // One recurrent update on `rows` rows: state [rows, hiddenSize] in place, from the embeddings emb [rows, H].
  void updateState(const float* emb, int64_t rows, float* state, std::vector<float>& scratch,
                   const ParallelFor* parallel = nullptr) const;

 private:
  DrafterWeights weights_;
  DrafterWeights::Views<const float> views_;
  std::string source_;
  int32_t threads_ = 1;
  // halfWeights: float16 copies of the matrices, as [out, in] F16 views for kernels::matmulRows. The first matrix
  // applied to concat[h, s] (input_proj, else the first block, else lm_head) is kept as its two column halves,
  // firstH [out, H] (applied to the LLM's hidden state h) and firstS [out, H] (applied to the recurrent state s): h
  // is the same for every drafted token of a draft() call, so draft() applies firstH once per call, not per token.
  std::vector<std::vector<uint16_t>> half_;
  struct HalfViews {
    TensorView inputProj, rnnW, rnnU, lmHead;
    std::vector<TensorView> blocks;
    TensorView firstH, firstS;  // the split first matrix (its whole view above stays empty)
  };
  std::unique_ptr<HalfViews> halfViews_;
  int isa_ = 0;  // kernels::Isa of the half-weight products: $REDRAFTER_CPU_ISA if set, else the best the CPU has
  // For callers that lend no ParallelFor (the JS Drafter's draft(), training tools): threads_ workers started on
  // the first such call, then used by one call at a time (a concurrent call runs on its own thread alone). A
  // drafter used only by an engine never starts them.
  mutable std::unique_ptr<ThreadPool> pool_;
  mutable std::mutex poolMutex_;
  void linear(const float* x, int64_t rows, int64_t in, int64_t ldx, const float* w, const TensorView* half,
              const float* b, float* y, int64_t ldy, int64_t out, const ParallelFor* parallel) const;
  // The first matrix (see HalfViews): its float32 weights [firstOut(), 2H], output dimension and bias.
  const float* firstWeight() const;
  int64_t firstOut() const;
  const float* firstBias() const;
  // headLogits; with hiddenPart ([rows / perHidden, firstOut()]: firstH h + bias of each row's h, half weights
  // only), the first matrix is applied as hiddenPart + firstS s.
  void head(const float* input, int64_t rows, float* logits, std::vector<float>& scratch, const ParallelFor* parallel,
            const float* hiddenPart, int64_t perHidden) const;
};

}  // namespace redrafter::cpu

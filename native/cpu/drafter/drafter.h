// Apple's recurrent drafter (apple/ml-recurrent-drafter modeling_drafter.Drafter) on the CPU: the recurrent state
//   s_t = SiLU(rnn_w · E(token_{t-1}) + rnn_u · s_{t-1} + b_u)      (s_0 = 0; s_t = s_{t-1} + E(token_{t-1}) if !rnn)
// the head  logits = lm_head(input_proj?(concat[h, s_t]))  with residual blocks x + SiLU(W x + b), then Apple's
// max-subtract, top-50 warp and log-softmax (redrafter::appleProcessLogits), and the beam search that drafts
// candidate continuations from the LLM's final hidden state h and its last token (beam_search_candidates).
#pragma once
#include <atomic>
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

// The precision of the copies of its matrices a Drafter drafts with (its weights stay float32 for everything else).
//   F32:  the float32 weights themselves (linalg.h's kernels).
//   F16:  float16 copies in the engine's 16-row panels (kernels/packed_matmul.h): half the bytes read per drafted
//         token.
//   Q8_0: ggml's Q8_0 quantisation of each row (blocks of 32 int8 values with one fp16 scale: 8.5 bits a weight),
//         applied as llama.cpp applies Q8_0: integer dot products against the activations quantised to 8 bits per
//         block of 32 (about a quarter of float32's bytes, at the speed they stream in)
//   Q4_0: ggml's Q4_0 (blocks of 32 4-bit values with one fp16 scale: 4.5 bits a weight), decoded exactly and
//         applied against float32 activations: the float32 product of the quantised values (an eighth of the bytes)
//         both in the packed kernel's block panels (kernels/packed_matmul.h). A matrix whose input dimension is not
//         a multiple of 32 is kept in float16.
// Drafts made with F16, Q8_0 or Q4_0 may differ slightly from float32 ones; verification keeps the output exact
// either way, so the type moves only the drafts' acceptance and their cost.
enum class DrafterWeightType { F32, F16, Q8_0, Q4_0 };

// "f32", "f16", "q8_0", "q4_0": the names of the JS API (lib/drafter/drafter.ts DrafterWeightType).
const char* drafterWeightTypeName(DrafterWeightType type);
// The type of that name; throws InvalidArgument naming `field` and the accepted names for any other.
DrafterWeightType parseDrafterWeightType(const std::string& name, const std::string& field);

class Drafter;

// rnn_w · E(t), the embedding term of the recurrent update, for every token t of one embedding source E: it depends
// only on the token, so a drafter that drafts against the same embeddings every step (the engine's, with its model's
// table) computes each row once, on the token's first use, and looks it up afterwards instead of reading rnn_w
// [H, H] for every drafted token. A row is computed exactly as draft() computes it without the table (the drafter's
// own weight type and kernels, which give each row the same bits whatever the number of rows), so drafts are the
// same with and without it. Made by Drafter::makeTokenInputTable; its V*H floats are reserved at creation and
// not touched (the OS commits the pages of the rows filled only). Thread-safe: rows are filled under a mutex and
// published with a release store, read after an acquire load; a filled row is read without locking or allocating.
// Valid while the drafter and the embedding source live.
class TokenInputTable {
 public:
  ~TokenInputTable();
  // rnn_w · E(token) [H]: computed on the token's first use, its product split over `parallel` when given (tokens
  // outside the vocabulary throw InvalidArgument).
  const float* row(int32_t token, const ParallelFor* parallel = nullptr) const;
  const Drafter& drafter() const { return drafter_; }
  // How many rows have been filled so far.
  int64_t filledRows() const;

 private:
  friend class Drafter;
  TokenInputTable(const Drafter& drafter, EmbeddingLookup embed);
  const Drafter& drafter_;
  EmbeddingLookup embed_;
  int64_t vocab_ = 0, hidden_ = 0;
  std::unique_ptr<float[]> rows_;                  // [vocab, hidden], rows filled on first use
  std::unique_ptr<std::atomic<uint8_t>[]> ready_;  // [vocab]: 1 once the row is filled
  mutable std::mutex fillMutex_;
  mutable std::vector<float> embedding_;  // [hidden] E(t) of the row being filled (under fillMutex_)
};

// The most bytes a TokenInputTable may reserve (vocab * hiddenSize floats): 1 GiB. Above it (e.g. a 128K vocabulary
// at hidden size 4096: 2 GiB) Drafter::makeTokenInputTable gives none and drafting reads rnn_w per drafted token.
constexpr int64_t kMaxTokenInputTableBytes = int64_t(1) << 30;

struct DraftOptions {
  int32_t width = 8;   // W: beams kept per sequence
  int32_t length = 5;  // L: tokens per beam, the LLM's own token included (L-1 drafted), >= 2
};

class Drafter {
 public:
  // Validates the config and that `weights.data` holds exactly its tensors. `source` (the drafter directory) names
  // it in errors. threads: workers used for the vocabulary projection of large drafters (1 = the caller only).
  // weightType: the precision of the matrices drafted with (DrafterWeightType; F16, Q8_0 and Q4_0 read a half, about
  // a quarter and about an eighth of float32's bytes per drafted token, which is what drafting costs on a large
  // drafter).
  Drafter(DrafterWeights weights, std::string source, int32_t threads = 1,
          DrafterWeightType weightType = DrafterWeightType::F32);
  ~Drafter();

  const DrafterConfig& config() const { return weights_.config; }
  const DrafterWeights& weights() const { return weights_; }
  const std::string& source() const { return source_; }
  DrafterWeightType weightType() const { return weightType_; }

  // The table of rnn_w · E(t) for the embedding source `embed` (TokenInputTable), for draft()'s `tokenInputs`; null
  // when the drafter has no rnn_w (rnn false) or the table would take more than maxBytes.
  std::unique_ptr<TokenInputTable> makeTokenInputTable(EmbeddingLookup embed,
                                                       int64_t maxBytes = kMaxTokenInputTableBytes) const;

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
  // tokenInputs (may be null): this drafter's table of rnn_w · E(t) for the same embeddings as `embed`; the
  // recurrent update then looks rnn_w · E(t) up instead of computing it (the same drafts, fewer bytes read).
  // Throws InvalidArgument naming the field on bad sizes or tokens.
  void draft(const float* hidden, const int32_t* lastToken, int32_t batch, const DraftOptions& options,
             const EmbeddingLookup& embed, int32_t* beams, float* logProbs, float* beamScores = nullptr,
             DraftScratch* scratch = nullptr, const ParallelFor* parallel = nullptr,
             const TokenInputTable* tokenInputs = nullptr) const;

  // The head on `rows` rows: input [rows, 2*hiddenSize] = concat[h, s] -> logits [rows, vocab] (raw, before
  // Apple's processing). scratch is resized as needed.
  void headLogits(const float* input, int64_t rows, float* logits, std::vector<float>& scratch,
                  const ParallelFor* parallel = nullptr) const;

  // One recurrent update on `rows` rows: state [rows, hiddenSize] in place, from the embeddings emb [rows, H].
  void updateState(const float* emb, int64_t rows, float* state, std::vector<float>& scratch,
                   const ParallelFor* parallel = nullptr) const;

 private:
  friend class TokenInputTable;
  DrafterWeights weights_;
  DrafterWeights::Views<const float> views_;
  std::string source_;
  int32_t threads_ = 1;
  DrafterWeightType weightType_ = DrafterWeightType::F32;
  // F16 / Q8_0 / Q4_0: the copies of the matrices, as [out, in] views packed into 16-row panels (Layout::Panels16,
  // for kernels::matmulRows; a Q8_0 / Q4_0 matrix whose input dimension is not a multiple of 32: F16). The first
  // matrix applied to concat[h, s] (input_proj, else the first block, else lm_head) is kept as
  // its two column halves,
  // firstH [out, H] (applied to the LLM's hidden state h) and firstS [out, H] (applied to the recurrent state s): h
  // is the same for every drafted token of a draft() call, so draft() applies firstH once per call, not per token.
  std::vector<std::vector<uint8_t>> half_;
  struct HalfViews {
    TensorView inputProj, rnnW, rnnU, lmHead;
    std::vector<TensorView> blocks;
    TensorView firstH, firstS;  // the split first matrix (its whole view above stays empty)
  };
  std::unique_ptr<HalfViews> halfViews_;
  int isa_ = 0;  // kernels::Isa of the F16 / Q8_0 / Q4_0 products: $REDRAFTER_CPU_ISA if set, else the best the CPU has
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
  // state = SiLU(a + rnn_u · state + b_u) on `rows` rows, a [rows, H] = rnn_w · E(token) of each row.
  void recur(const float* a, int64_t rows, float* state, std::vector<float>& scratch, const ParallelFor* parallel) const;
  // headLogits; with hiddenPart ([rows / perHidden, firstOut()]: firstH h + bias of each row's h, F16 / Q8_0 /
  // Q4_0 only), the first matrix is applied as hiddenPart + firstS s.
  void head(const float* input, int64_t rows, float* logits, std::vector<float>& scratch, const ParallelFor* parallel,
            const float* hiddenPart, int64_t perHidden) const;
};

}  // namespace redrafter::cpu

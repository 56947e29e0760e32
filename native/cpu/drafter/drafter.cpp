#include "cpu/drafter/drafter.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/beam_search.h"
#include "core/error.h"
#include "core/finite.h"
#include "cpu/drafter/linalg.h"
#include "cpu/engine/thread_pool.h"
#include "cpu/kernels/isa.h"
#include "cpu/kernels/matmul.h"
#include "cpu/kernels/packed_matmul.h"
#include "model/dequantize.h"
#include "model/half.h"

namespace redrafter::cpu {

using drafter::linearForward;
using drafter::silu;

namespace {
// Output rows per parallel range: at least ThreadPool::kMinRangeWork multiply-adds.
int64_t rowsGrain(int64_t rows, int64_t in) {
  return std::max<int64_t>(1, ThreadPool::kMinRangeWork / std::max<int64_t>(1, rows * in));
}
}  // namespace

EmbeddingLookup modelEmbeddings(std::shared_ptr<const ModelWeights> model) {
  return [model](const int32_t* tokens, int64_t count, float* out) {
    const int32_t vocab = model->config.vocabSize;
    const int32_t dim = model->config.dim;
    for (int64_t i = 0; i < count; i++) {
      if (tokens[i] < 0 || tokens[i] >= vocab)
        fail(ErrorCode::InvalidArgument, "token " + std::to_string(tokens[i]) + " is outside the vocabulary [0, " +
                                             std::to_string(vocab) + ")");
      embeddingRow(*model, tokens[i], out + i * dim);
    }
  };
}

EmbeddingLookup tableEmbeddings(const float* table, int32_t vocab, int32_t hiddenSize) {
  return [=](const int32_t* tokens, int64_t count, float* out) {
    for (int64_t i = 0; i < count; i++) {
      if (tokens[i] < 0 || tokens[i] >= vocab)
        fail(ErrorCode::InvalidArgument, "token " + std::to_string(tokens[i]) + " is outside the vocabulary [0, " +
                                             std::to_string(vocab) + ")");
      std::memcpy(out + i * hiddenSize, table + int64_t(tokens[i]) * hiddenSize, sizeof(float) * hiddenSize);
    }
  };
}

const char* drafterWeightTypeName(DrafterWeightType type) {
  switch (type) {
    case DrafterWeightType::F32: return "f32";
    case DrafterWeightType::F16: return "f16";
    case DrafterWeightType::Q8_0: return "q8_0";
    case DrafterWeightType::Q4_0: return "q4_0";
  }
  return "?";
}

DrafterWeightType parseDrafterWeightType(const std::string& name, const std::string& field) {
  for (DrafterWeightType t :
       {DrafterWeightType::F32, DrafterWeightType::F16, DrafterWeightType::Q8_0, DrafterWeightType::Q4_0})
    if (name == drafterWeightTypeName(t)) return t;
  fail(ErrorCode::InvalidArgument, field + " must be 'f32', 'f16', 'q8_0' or 'q4_0', got '" + name + "'");
}

TokenInputTable::TokenInputTable(const Drafter& drafter, EmbeddingLookup embed)
    : drafter_(drafter),
      embed_(std::move(embed)),
      vocab_(drafter.config().vocabSize),
      hidden_(drafter.config().hiddenSize),
      rows_(new float[size_t(vocab_ * hidden_)]),  // reserved, not touched: a row's pages are committed when filled
      ready_(new std::atomic<uint8_t>[size_t(vocab_)]()),
      embedding_(size_t(hidden_)) {}

TokenInputTable::~TokenInputTable() = default;

const float* TokenInputTable::row(int32_t token, const ParallelFor* parallel) const {
  if (token < 0 || token >= vocab_)
    fail(ErrorCode::InvalidArgument, "token " + std::to_string(token) + " is outside the vocabulary [0, " +
                                         std::to_string(vocab_) + ")");
  float* out = rows_.get() + int64_t(token) * hidden_;
  if (ready_[token].load(std::memory_order_acquire)) return out;
  std::lock_guard<std::mutex> lock(fillMutex_);
  if (!ready_[token].load(std::memory_order_relaxed)) {
    // exactly draft()'s product without the table (Drafter::updateState), on this one row
    embed_(&token, 1, embedding_.data());
    const int64_t H = hidden_;
    drafter_.linear(embedding_.data(), 1, H, H, drafter_.views_.rnnWWeight,
                    drafter_.halfViews_ ? &drafter_.halfViews_->rnnW : nullptr, nullptr, out, H, H, parallel);
    ready_[token].store(1, std::memory_order_release);
  }
  return out;
}

int64_t TokenInputTable::filledRows() const {
  int64_t n = 0;
  for (int64_t t = 0; t < vocab_; t++) n += ready_[t].load(std::memory_order_acquire);
  return n;
}

std::unique_ptr<TokenInputTable> Drafter::makeTokenInputTable(EmbeddingLookup embed, int64_t maxBytes) const {
  const DrafterConfig& c = weights_.config;
  if (!c.rnn || int64_t(c.vocabSize) * c.hiddenSize * int64_t(sizeof(float)) > maxBytes) return nullptr;
  return std::unique_ptr<TokenInputTable>(new TokenInputTable(*this, std::move(embed)));
}

Drafter::Drafter(DrafterWeights weights, std::string source, int32_t threads, DrafterWeightType weightType)
    : weights_(std::move(weights)),
      source_(std::move(source)),
      threads_(std::max(1, threads)),
      weightType_(weightType) {
  validateDrafterConfig(weights_.config, source_);

  auto specs = drafterTensorSpecs(weights_.config);
  const size_t total = specs.back().offset + size_t(specs.back().elements());
  if (weights_.data.size() != total)
    fail(ErrorCode::InvalidModel, source_ + ": drafter weights hold " + std::to_string(weights_.data.size()) +
                                      " values, the config needs " + std::to_string(total));
  weights_.specs = std::move(specs);
  requireFiniteWeights(weights_, source_);
  views_ = weights_.views();
  if (weightType_ != DrafterWeightType::F32) {
    isa_ = int(kernels::selectIsa(""));  // as the engine's default: $REDRAFTER_CPU_ISA if set, else the best
    halfViews_ = std::make_unique<HalfViews>();
    // [rows = out, cols = in], packed into the engine's 16-row panels (kernels/packed_matmul.h; measured faster than
    // row-major for the drafter's 1..2 rows: bench/RESULTS.md, "Drafting cost per step"): Q8_0 / Q4_0 (ggml's
    // quantisation of each row, in block panels) when asked and cols % 32 == 0, else F16
    auto half = [&](const float* w, int64_t rows, int64_t cols) {
      TensorView rowMajor;
      if (!w) return rowMajor;
      const DType quant = weightType_ == DrafterWeightType::Q8_0   ? DType::Q8_0
                          : weightType_ == DrafterWeightType::Q4_0 ? DType::Q4_0
                                                                    : DType::F16;
      const BlockFormat f = blockFormat(quant);
      rowMajor.type = cols % kPanelBlockCols == 0 ? quant : DType::F16;
      rowMajor.rows = rows, rowMajor.cols = cols;
      std::vector<uint8_t> values;  // row-major, then packed
      if (rowMajor.type == DType::F16) {
        values.resize(size_t(rows * cols) * 2);
        uint16_t* h = reinterpret_cast<uint16_t*>(values.data());
        for (int64_t i = 0; i < rows * cols; i++) h[i] = model::f32ToFp16(w[i]);
      } else {
        const int64_t rowBytes = cols / f.elements * f.bytes;
        values.resize(size_t(rows * rowBytes));
        for (int64_t r = 0; r < rows; r++) model::quantizeRow(quant, w + r * cols, cols, values.data() + r * rowBytes);
      }
      rowMajor.data = values.data();
      std::vector<uint8_t> bytes(size_t(kernels::packedBytes(rowMajor.type, rows, cols)));
      kernels::packPanels(rowMajor, bytes.data(), 0, (rows + kernels::kPackedPanelRows - 1) / kernels::kPackedPanelRows);
      half_.push_back(std::move(bytes));
      return kernels::packedView(rowMajor, half_.back().data());
    };
    const DrafterConfig& c = weights_.config;
    const int64_t H = c.hiddenSize, E = c.exitDim;
    // the first matrix applied to concat[h, s], [firstOut(), 2H], as its two column halves
    const float* first = firstWeight();
    const int64_t out = firstOut();
    auto halfColumns = [&](int64_t col0) {
      std::vector<float> part(size_t(out * H));  // [out, H]
      for (int64_t o = 0; o < out; o++)
        std::memcpy(part.data() + o * H, first + o * 2 * H + col0, sizeof(float) * size_t(H));
      return half(part.data(), out, H);
    };
    half_.reserve(size_t(6 + c.numDraftLayers));
    halfViews_->firstH = halfColumns(0);
    halfViews_->firstS = halfColumns(H);
    for (int32_t i = 0; i < c.numDraftLayers; i++)
      halfViews_->blocks.push_back(!c.hasInputProj() && i == 0 ? TensorView() : half(views_.blockWeight[i], E, E));
    if (c.hasInputProj() || c.numDraftLayers > 0) halfViews_->lmHead = half(views_.lmHead, c.vocabSize, E);
    halfViews_->rnnW = half(views_.rnnWWeight, H, H);
    halfViews_->rnnU = half(views_.rnnUWeight, H, H);
  }
}

const float* Drafter::firstWeight() const {
  const DrafterConfig& c = weights_.config;
  return c.hasInputProj() ? views_.inputProjWeight : c.numDraftLayers > 0 ? views_.blockWeight[0] : views_.lmHead;
}

int64_t Drafter::firstOut() const {
  const DrafterConfig& c = weights_.config;
  return c.hasInputProj() || c.numDraftLayers > 0 ? c.exitDim : c.vocabSize;
}

const float* Drafter::firstBias() const {
  const DrafterConfig& c = weights_.config;
  return c.hasInputProj() ? views_.inputProjBias : c.numDraftLayers > 0 ? views_.blockBias[0] : nullptr;
}

Drafter::~Drafter() = default;

// y[r, o] = W x[r] + b over output rows [0, out): float32 (linalg) or the engine's packed kernel (`half`);
// split by output rows over `parallel` (else the drafter's own pool, when free) when large enough to pay. Each
// output element is reduced exactly as in one call, whatever the split.
void Drafter::linear(const float* x, int64_t rows, int64_t in, int64_t ldx, const float* w, const TensorView* half,
                     const float* b, float* y, int64_t ldy, int64_t out, const ParallelFor* parallel) const {
  auto run = [&](int64_t o0, int64_t o1) {
    if (!half || half->empty()) return linearForward(x, rows, in, ldx, w, b, y, ldy, o0, o1);
    kernels::matmulRows(kernels::Isa(isa_), *half, x, rows, ldx, y, ldy, o0, o1);
    if (b)
      for (int64_t r = 0; r < rows; r++)
        for (int64_t o = o0; o < o1; o++) y[r * ldy + o] += b[o];
  };
  const int64_t grain = rowsGrain(rows, in);
  if (out < 2 * grain) return run(0, out);
  // packed weights are split by whole panels (a range ending inside a panel would compute it twice)
  const int64_t unit = half ? panelRowsOf(half->layout) : 1;
  auto split = [&](int64_t u0, int64_t u1) { run(u0 * unit, std::min(out, u1 * unit)); };
  const std::function<void(int64_t, int64_t)> body = std::ref(split);  // a reference: no allocation per call
  const int64_t units = (out + unit - 1) / unit, unitGrain = std::max<int64_t>(1, grain / unit);
  if (parallel) return (*parallel)(units, unitGrain, body);
  if (threads_ > 1) {
    std::unique_lock<std::mutex> lock(poolMutex_, std::try_to_lock);
    if (lock.owns_lock()) {
      if (!pool_) pool_ = std::make_unique<ThreadPool>(threads_);
      return pool_->parallelFor(units, unitGrain, body);
    }
  }
  run(0, out);
}

void Drafter::checkMatches(const ModelConfig& model, const std::string& modelSource) const {
  checkDrafterMatchesModel(weights_.config, source_, model, modelSource);
}

void Drafter::updateState(const float* emb, int64_t rows, float* state, std::vector<float>& scratch,
                          const ParallelFor* parallel) const {
  const DrafterConfig& c = weights_.config;
  const int64_t H = c.hiddenSize;
  if (!c.rnn) {
    for (int64_t i = 0; i < rows * H; i++) state[i] += emb[i];
    return;
  }
  // a = rnn_w · e (into the scratch's tail, which recur leaves alone), then s = SiLU(a + rnn_u · s + b_u)
  scratch.resize(size_t(2 * rows * H));
  float* a = scratch.data() + rows * H;  // [rows, H]
  linear(emb, rows, H, H, views_.rnnWWeight, halfViews_ ? &halfViews_->rnnW : nullptr, nullptr, a, H, H, parallel);
  recur(a, rows, state, scratch, parallel);
}

void Drafter::recur(const float* a, int64_t rows, float* state, std::vector<float>& scratch,
                    const ParallelFor* parallel) const {
  const int64_t H = weights_.config.hiddenSize;
  if (scratch.size() < size_t(rows * H)) scratch.resize(size_t(rows * H));
  float* u = scratch.data();  // [rows, H]
  linear(state, rows, H, H, views_.rnnUWeight, halfViews_ ? &halfViews_->rnnU : nullptr, views_.rnnUBias, u, H, H,
         parallel);
  for (int64_t i = 0; i < rows * H; i++) state[i] = silu(a[i] + u[i]);
}

void Drafter::headLogits(const float* input, int64_t rows, float* logits, std::vector<float>& scratch,
                         const ParallelFor* parallel) const {
  head(input, rows, logits, scratch, parallel, nullptr, 1);
}

void Drafter::head(const float* input, int64_t rows, float* logits, std::vector<float>& scratch,
                   const ParallelFor* parallel, const float* hiddenPart, int64_t perHidden) const {
  const DrafterConfig& c = weights_.config;
  const int64_t E = c.exitDim, V = c.vocabSize, H = c.hiddenSize, in = 2 * H;
  const int64_t out = firstOut();
  scratch.resize(size_t(2 * rows * E + (halfViews_ && !hiddenPart ? rows * out : 0)));
  float* x = scratch.data();       // [rows, E]
  float* t = x + rows * E;         // [rows, E]
  // the first matrix's product into y [rows, out] (row stride ldy): whole, or split (F16 / Q8_0 / Q4_0)
  auto first = [&](float* y, int64_t ldy) {
    if (!halfViews_) return linear(input, rows, in, in, firstWeight(), nullptr, firstBias(), y, ldy, out, parallel);
    const float* part = hiddenPart;
    if (!part) {  // h's part of every row: firstH h + bias
      float* own = t + rows * E;  // [rows, out]
      linear(input, rows, H, in, nullptr, &halfViews_->firstH, firstBias(), own, out, out, parallel);
      part = own;
      perHidden = 1;
    }
    linear(input + H, rows, H, in, nullptr, &halfViews_->firstS, nullptr, y, ldy, out, parallel);
    for (int64_t r = 0; r < rows; r++)
      for (int64_t o = 0; o < out; o++) y[r * ldy + o] += part[(r / perHidden) * out + o];
  };
  int32_t i = 0;
  if (c.hasInputProj()) {
    first(x, E);
  } else if (c.numDraftLayers > 0) {
    std::memcpy(x, input, sizeof(float) * size_t(rows * E));
    first(t, E);
    for (int64_t j = 0; j < rows * E; j++) x[j] += silu(t[j]);
    i = 1;
  } else {
    return first(logits, V);
  }
  for (; i < c.numDraftLayers; i++) {
    linear(x, rows, E, E, views_.blockWeight[i], halfViews_ ? &halfViews_->blocks[i] : nullptr, views_.blockBias[i],
           t, E, E, parallel);
    for (int64_t j = 0; j < rows * E; j++) x[j] += silu(t[j]);
  }
  linear(x, rows, E, E, views_.lmHead, halfViews_ ? &halfViews_->lmHead : nullptr, nullptr, logits, V, V, parallel);
}

void Drafter::draft(const float* hidden, const int32_t* lastToken, int32_t batch, const DraftOptions& options,
                    const EmbeddingLookup& embed, int32_t* beams, float* logProbs, float* beamScores,
                    DraftScratch* reuse, const ParallelFor* parallel, const TokenInputTable* tokenInputs) const {
  const DrafterConfig& c = weights_.config;
  const int32_t W = options.width, L = options.length;
  RD_REQUIRE(batch >= 1, "batch", "must be >= 1, got " + std::to_string(batch));
  RD_REQUIRE(W >= 1 && W <= 1024, "beamWidth", "must be in [1, 1024], got " + std::to_string(W));
  RD_REQUIRE(L >= 2 && L <= 256, "beamLength", "must be in [2, 256], got " + std::to_string(L));
  for (int32_t b = 0; b < batch; b++)
    RD_REQUIRE(lastToken[b] >= 0 && lastToken[b] < c.vocabSize, "lastToken",
               "[" + std::to_string(b) + "] = " + std::to_string(lastToken[b]) + " is outside the vocabulary [0, " +
                   std::to_string(c.vocabSize) + ")");
  const int64_t H = c.hiddenSize, V = c.vocabSize, rows = int64_t(batch) * W;
  if (tokenInputs && &tokenInputs->drafter() != this)
    fail(ErrorCode::InvalidArgument, "tokenInputs is another drafter's table");
  const bool tabled = tokenInputs && c.rnn;

  DraftScratch local;
  DraftScratch& s = reuse ? *reuse : local;
  s.input.resize(size_t(rows * 2 * H));   // [batch*W, 2H]: concat[h, s] per beam
  s.state.assign(size_t(rows * H), 0.0f);  // [batch*W, H]
  s.stateNext.resize(s.state.size());      // [batch*W, H]
  s.emb.resize(size_t(rows * H));          // [batch*W, H]
  s.logp.resize(size_t(rows * V));         // [batch*W, V]
  s.scores.assign(size_t(rows), 0.0f);     // [batch, W]
  s.newScores.resize(size_t(rows));        // [batch, W]
  s.parent.resize(size_t(rows));           // [batch, W]
  s.token.resize(size_t(rows));            // [batch, W]
  s.cur.resize(size_t(rows) * L);          // [batch, W, L]
  s.next.resize(size_t(rows) * L);         // [batch, W, L]
  s.curLp.resize(logProbs ? size_t(rows) * (L - 1) * V : 0);  // [batch, W, L-1, V]
  s.nextLp.resize(s.curLp.size());
  s.lastOfBeam.resize(size_t(rows));       // [batch*W]
  std::vector<float>&input = s.input, &state = s.state, &stateNext = s.stateNext, &emb = s.emb, &logp = s.logp,
                     &scores = s.scores, &newScores = s.newScores, &curLp = s.curLp, &nextLp = s.nextLp,
                     &scratch = s.linear;
  std::vector<int32_t>&parent = s.parent, &token = s.token, &cur = s.cur, &next = s.next, &lastOfBeam = s.lastOfBeam;

  for (int32_t b = 0; b < batch; b++)
    for (int32_t w = 0; w < W; w++) {
      cur[(size_t(b) * W + w) * L] = lastToken[b];
      std::memcpy(input.data() + (size_t(b) * W + w) * 2 * H, hidden + size_t(b) * H, sizeof(float) * H);
    }
  // F16 / Q8_0 / Q4_0: the first matrix's part on h, once for all steps and beams: [batch, firstOut()]
  const float* hiddenPart = nullptr;
  if (halfViews_) {
    s.hiddenPart.resize(size_t(batch * firstOut()));
    linear(hidden, batch, H, H, nullptr, &halfViews_->firstH, firstBias(), s.hiddenPart.data(), firstOut(),
           firstOut(), parallel);
    hiddenPart = s.hiddenPart.data();
  }

  for (int32_t step = 0; step < L - 1; step++) {
    // Every beam's last token: the LLM's token on the first step, then the token the beam just grew.
    for (int64_t r = 0; r < rows; r++) lastOfBeam[r] = cur[size_t(r) * L + step];
    if (tabled) {  // emb [rows, H] = rnn_w · E(token) of each row, looked up
      for (int64_t r = 0; r < rows; r++)
        std::memcpy(emb.data() + r * H, tokenInputs->row(lastOfBeam[r], parallel), sizeof(float) * H);
      recur(emb.data(), rows, state.data(), scratch, parallel);
    } else {
      embed(lastOfBeam.data(), rows, emb.data());
      updateState(emb.data(), rows, state.data(), scratch, parallel);
    }
    for (int64_t r = 0; r < rows; r++)
      std::memcpy(input.data() + r * 2 * H + H, state.data() + r * H, sizeof(float) * H);
    head(input.data(), rows, logp.data(), scratch, parallel, hiddenPart, W);
    if (firstNonFinite(logp.data(), size_t(rows) * V) < size_t(rows) * V)  // finite weights whose products overflow
      fail(ErrorCode::InvalidModel, source_ + ": the drafter computed non-finite logits (its weights overflow float32)");
    for (int64_t r = 0; r < rows; r++) appleProcessLogits(logp.data() + r * V, int(V));
    beamSearchStep(scores.data(), logp.data(), batch, W, int(V), step == 0, newScores.data(), parent.data(),
                   token.data());
    // Regroup every per-beam tensor by parent and grow the beams.
    for (int32_t b = 0; b < batch; b++) {
      for (int32_t w = 0; w < W; w++) {
        const size_t dst = size_t(b) * W + w;
        const size_t src = size_t(b) * W + size_t(parent[dst]);
        std::memcpy(next.data() + dst * L, cur.data() + src * L, sizeof(int32_t) * (step + 1));
        next[dst * L + step + 1] = token[dst];
        std::memcpy(stateNext.data() + dst * H, state.data() + src * H, sizeof(float) * H);
        if (logProbs) {
          float* d = nextLp.data() + dst * (L - 1) * V;
          std::memcpy(d, curLp.data() + src * (L - 1) * V, sizeof(float) * step * V);
          std::memcpy(d + step * V, logp.data() + src * V, sizeof(float) * V);
        }
      }
    }
    std::swap(cur, next);
    std::swap(state, stateNext);
    std::swap(scores, newScores);
    if (logProbs) std::swap(curLp, nextLp);
  }
  std::memcpy(beams, cur.data(), sizeof(int32_t) * cur.size());
  if (logProbs) std::memcpy(logProbs, curLp.data(), sizeof(float) * curLp.size());
  if (beamScores) std::memcpy(beamScores, scores.data(), sizeof(float) * scores.size());
}

}  // namespace redrafter::cpu

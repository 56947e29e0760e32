#include "cpu/engine/transformer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <unordered_set>

#include "core/error.h"
#include "cpu/engine/thread_pool.h"
#include "cpu/kernels/attention.h"
#include "cpu/kernels/isa.h"
#include "cpu/kernels/matmul.h"
#include "cpu/kernels/packed_matmul.h"
#include "model/dequantize.h"

namespace redrafter::cpu {

using kernels::Isa;

namespace {

std::string shapeOf(const TensorView& t) { return "[" + std::to_string(t.rows) + ", " + std::to_string(t.cols) + "]"; }

void checkTensor(const ModelWeights& w, const TensorView& t, const std::string& name, int64_t rows, int64_t cols) {
  if (t.empty())
    fail(ErrorCode::InvalidModel, w.path + ": tensor " + name + " is missing");
  if (t.rows != rows || t.cols != cols)
    fail(ErrorCode::InvalidModel, w.path + ": tensor " + name + " has shape " + shapeOf(t) + ", expected [" +
                                      std::to_string(rows) + ", " + std::to_string(cols) + "]");
  std::string why;
  if (!kernels::supportsLayout(t, &why))
    fail(ErrorCode::Unsupported, w.path + ": tensor " + name + ": " + why);
}

// The norm weights as float32 (whatever their stored type): [n] per norm.
std::vector<float> normVector(const ModelWeights& w, const TensorView& t, const std::string& name, int64_t dim) {
  if (t.empty()) fail(ErrorCode::InvalidModel, w.path + ": tensor " + name + " is missing");
  if (t.elements() != dim)
    fail(ErrorCode::InvalidModel,
         w.path + ": tensor " + name + " has " + std::to_string(t.elements()) + " values, expected " + std::to_string(dim));
  TensorView row = t;
  row.rows = 1;
  row.cols = dim;
  std::vector<float> out(static_cast<size_t>(dim));
  model::dequantizeRow(row, 0, out.data());
  return out;
}

}  // namespace

// Everything the forward pass needs beyond the shared weights: dequantised norm vectors and the kernel ISA.
struct TransformerState {
  std::vector<std::vector<float>> attnNorm, ffnNorm;  // [layers][dim]
  std::vector<float> finalNorm;                       // [dim]
  std::vector<std::vector<float>> bq, bk, bv;         // [layers][qDim | kvDim] (qwen2), else empty
  std::vector<std::vector<float>> qNorm, kNorm;       // [layers][headDim] (qwen3), else empty
  std::vector<float> ropeFreqs;                       // [headDim/2] frequency divisors, or empty
};

// Transformer::forwardBatch's working buffers (shapes there); T = the tokens of all requests of one forward.
struct Transformer::ForwardScratch {
  std::vector<int32_t> reqOf, idxOf, slotOf, posOf;        // [T]
  std::vector<int64_t> firstRow, outBase;                  // [requests]
  std::vector<float> x, xn, tmp, q, att, k, v, h1, h3, rot;  // [T, *]
  std::vector<float> outHidden, outLogits;                 // [outputs, dim], [outputs, vocab]
};

Transformer::Transformer(std::shared_ptr<const ModelWeights> weights, const TransformerOptions& options)
    : weights_(std::move(weights)) {
  if (!weights_) fail(ErrorCode::InvalidArgument, "weights must not be null");
  const ModelWeights& w = *weights_;
  const ModelConfig& c = w.config;
  auto bad = [&](const std::string& what) { fail(ErrorCode::InvalidModel, w.path + ": " + what); };
  if (c.dim <= 0 || c.hiddenDim <= 0 || c.nLayers <= 0 || c.nHeads <= 0 || c.nKvHeads <= 0 || c.vocabSize <= 0)
    bad("config has a non-positive size (dim " + std::to_string(c.dim) + ", hidden " + std::to_string(c.hiddenDim) +
        ", layers " + std::to_string(c.nLayers) + ", heads " + std::to_string(c.nHeads) + ", kv heads " +
        std::to_string(c.nKvHeads) + ", vocab " + std::to_string(c.vocabSize) + ")");
  if (c.headSize == 0 && c.dim % c.nHeads != 0)
    bad("dim " + std::to_string(c.dim) + " is not a multiple of heads " + std::to_string(c.nHeads));
  if (c.headSize < 0) bad("head size " + std::to_string(c.headSize) + " is negative");
  if (c.nHeads % c.nKvHeads != 0)
    bad("heads " + std::to_string(c.nHeads) + " is not a multiple of kv heads " + std::to_string(c.nKvHeads));
  if (c.headDim() % 2 != 0) bad("head size " + std::to_string(c.headDim()) + " is odd (RoPE needs pairs)");
  if (!(c.normEps > 0) || !std::isfinite(c.normEps)) bad("norm epsilon " + std::to_string(c.normEps) + " is invalid");
  if (!(c.ropeTheta > 0) || !std::isfinite(c.ropeTheta)) bad("rope theta " + std::to_string(c.ropeTheta) + " is invalid");
  if (static_cast<int64_t>(w.layers.size()) != c.nLayers)
    bad("has " + std::to_string(w.layers.size()) + " layers, config says " + std::to_string(c.nLayers));
  checkTensor(w, w.tokenEmbedding, "token_embd", c.vocabSize, c.dim);
  checkTensor(w, w.output, "output", c.vocabSize, c.dim);
  const int64_t D = c.dim, H = c.hiddenDim, QD = c.qDim(), KV = c.kvDim();
  for (int32_t l = 0; l < c.nLayers; ++l) {
    const LayerWeights& L = w.layers[l];
    std::string p = "blk." + std::to_string(l) + ".";
    checkTensor(w, L.wq, p + "attn_q", QD, D);
    checkTensor(w, L.wk, p + "attn_k", KV, D);
    checkTensor(w, L.wv, p + "attn_v", KV, D);
    checkTensor(w, L.wo, p + "attn_output", D, QD);
    checkTensor(w, L.w1, p + "ffn_gate", H, D);
    checkTensor(w, L.w2, p + "ffn_down", D, H);
    checkTensor(w, L.w3, p + "ffn_up", H, D);
  }
  auto state = std::make_unique<TransformerState>();
  for (int32_t l = 0; l < c.nLayers; ++l) {
    std::string p = "blk." + std::to_string(l) + ".";
    state->attnNorm.push_back(normVector(w, w.layers[l].attnNorm, p + "attn_norm", D));
    state->ffnNorm.push_back(normVector(w, w.layers[l].ffnNorm, p + "ffn_norm", D));
  }
  state->finalNorm = normVector(w, w.finalNorm, "output_norm", D);
  auto optional = [&](const TensorView& t, const std::string& name, int64_t n) {
    return t.empty() ? std::vector<float>() : normVector(w, t, name, n);
  };
  for (int32_t l = 0; l < c.nLayers; ++l) {
    const LayerWeights& L = w.layers[l];
    std::string p = "blk." + std::to_string(l) + ".";
    state->bq.push_back(optional(L.bq, p + "attn_q.bias", QD));
    state->bk.push_back(optional(L.bk, p + "attn_k.bias", KV));
    state->bv.push_back(optional(L.bv, p + "attn_v.bias", KV));
    state->qNorm.push_back(optional(L.qNorm, p + "attn_q_norm", c.headDim()));
    state->kNorm.push_back(optional(L.kNorm, p + "attn_k_norm", c.headDim()));
  }
  state->ropeFreqs = optional(w.ropeFreqs, "rope_freqs", c.headDim() / 2);
  state_ = std::move(state);

  isa_ = static_cast<int>(kernels::selectIsa(options.isa));
  int32_t threads = options.threads;
  RD_REQUIRE(threads >= 0 && threads <= 1024, "threads", "must be in [0, 1024] (got " + std::to_string(threads) + ")");
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  pool_ = std::make_unique<ThreadPool>(threads);
  scratch_ = std::make_unique<ForwardScratch>();
}

Transformer::~Transformer() = default;

int32_t Transformer::threads() const { return pool_->size(); }

void Transformer::parallelFor(int64_t count, int64_t grain, const std::function<void(int64_t, int64_t)>& body) {
  std::lock_guard<std::mutex> lock(mutex_);
  pool_->parallelFor(count, grain, body);
}
const char* Transformer::isa() const { return kernels::isaName(static_cast<Isa>(isa_)); }

std::unique_ptr<KvCache> Transformer::createCache(int32_t capacity) const {
  const ModelConfig& c = config();
  if (c.contextLength > 0)
    RD_REQUIRE(capacity >= 1 && capacity <= c.contextLength, "capacity",
               "must be in [1, " + std::to_string(c.contextLength) + "] (the model's context length; got " +
                   std::to_string(capacity) + ")");
  return std::make_unique<KvCache>(c, capacity);
}

void Transformer::forward(KvCache& cache, const int32_t* tokens, int32_t n, const int32_t* positions,
                          const uint8_t* mask, const int32_t* outputRows, int32_t nOut, float* logits, float* hidden) {
  ForwardRequest r;
  r.cache = &cache;
  r.tokens = tokens;
  r.tokenCount = n;
  r.positions = positions;
  r.mask = mask;
  r.outputRows = outputRows;
  r.outputCount = nOut;
  r.logits = logits;
  r.hidden = hidden;
  forwardBatch(&r, 1);
}

namespace {

constexpr int64_t kMinRangeWork = ThreadPool::kMinRangeWork;  // the least work a thread range takes

// One segment of a fused matmul: y[t, 0..w.rows) = W x[t] with y's row stride ldy.
struct MatmulPart {
  const TensorView* w;
  float* y;
  int64_t ldy;
};

// Several matmuls over the same input x [T, ldx], their rows split over the pool as one job.
void parallelMatmul(ThreadPool& pool, Isa isa, const float* x, int64_t T, int64_t ldx, const MatmulPart* parts,
                    int count) {
  int64_t totalRows = 0;
  for (int i = 0; i < count; ++i) totalRows += parts[i].w->rows;
  int64_t work = std::max<int64_t>(1, parts[0].w->cols * T);
  int64_t grain = std::max<int64_t>(4, kMinRangeWork / work);
  // Packed weights are computed a panel (16 or 8 rows) at a time: split in whole panels, so no thread computes a panel
  // that straddles its range (the split never changes the results, only the wasted work).
  const int64_t unit = panelRowsOf(parts[0].w->layout);
  auto body = [&](int64_t unitBegin, int64_t unitEnd) {
    const int64_t begin = unitBegin * unit, end = std::min(unitEnd * unit, totalRows);
    int64_t base = 0;
    for (int i = 0; i < count; ++i) {
      int64_t rows = parts[i].w->rows;
      int64_t b = std::max(begin, base) - base, e = std::min(end, base + rows) - base;
      if (b < e) kernels::matmulRows(isa, *parts[i].w, x, T, ldx, parts[i].y, parts[i].ldy, b, e);
      base += rows;
    }
  };
  // std::ref: a std::function made from the lambda itself would allocate (its captures exceed the inline storage)
  pool.parallelFor((totalRows + unit - 1) / unit, (grain + unit - 1) / unit, std::ref(body));
}

void rmsNorm(Isa isa, const float* x, const float* weight, float eps, int64_t dim, float* out) {
  float ss = kernels::dot(isa, x, x, dim);
  ss = ss / static_cast<float>(dim) + eps;
  float scale = 1.0f / std::sqrt(ss);
  for (int64_t i = 0; i < dim; ++i) out[i] = weight[i] * (scale * x[i]);
}

// The RoPE rotation of position `pos` for each pair of a head: cosSin [headDim/2][2], as llama2.c computes it;
// pair i's frequency divided by factors[i] when given (GGUF rope_freqs, Llama 3's rope scaling).
void ropeTable(int32_t pos, int64_t headDim, float theta, const float* factors, float* cosSin) {
  for (int64_t i = 0; i < headDim; i += 2) {
    float freq = 1.0f / std::pow(theta, static_cast<float>(i) / static_cast<float>(headDim));
    if (factors) freq /= factors[i / 2];
    float angle = static_cast<float>(pos) * freq;
    cosSin[i] = std::cos(angle);
    cosSin[i + 1] = std::sin(angle);
  }
}

// RoPE on interleaved pairs (x[2i], x[2i+1]) of every head of vec [width], as llama2.c and GGUF `llama`.
void rope(float* vec, int64_t width, int64_t headDim, const float* cosSin) {
  for (int64_t i = 0; i < width; i += 2) {
    int64_t d = i % headDim;
    float c = cosSin[d], s = cosSin[d + 1];
    float v0 = vec[i], v1 = vec[i + 1];
    vec[i] = v0 * c - v1 * s;
    vec[i + 1] = v0 * s + v1 * c;
  }
}

// NeoX RoPE (qwen2, qwen3): pair i of each head is (x[i], x[i + headDim/2]), rotated by cosSin[2i], cosSin[2i+1].
void ropeNeox(float* vec, int64_t width, int64_t headDim, const float* cosSin) {
  const int64_t half = headDim / 2;
  for (int64_t h = 0; h < width; h += headDim) {
    for (int64_t i = 0; i < half; ++i) {
      float c = cosSin[2 * i], s = cosSin[2 * i + 1];
      float v0 = vec[h + i], v1 = vec[h + i + half];
      vec[h + i] = v0 * c - v1 * s;
      vec[h + i + half] = v0 * s + v1 * c;
    }
  }
}

float silu(float x) { return x / (1.0f + std::exp(-x)); }

}  // namespace

void Transformer::forwardBatch(const ForwardRequest* requests, size_t count) {
  const ModelConfig& c = config();
  const ModelWeights& w = *weights_;
  RD_REQUIRE(requests != nullptr || count == 0, "requests", "must not be null");
  RD_REQUIRE(count >= 1, "requests", "must hold at least one sequence");

  // ---- validate everything before touching any cache --------------------------------------------------
  std::unordered_set<const KvCache*> caches;
  int64_t T = 0, nOutTotal = 0;
  for (size_t r = 0; r < count; ++r) {
    const ForwardRequest& q = requests[r];
    RD_REQUIRE(q.cache != nullptr, "cache", "must not be null");
    RD_REQUIRE(caches.insert(q.cache).second, "cache", "appears twice in one batched forward");
    RD_REQUIRE(q.cache->nLayers() == c.nLayers && q.cache->kvDim() == c.kvDim(), "cache", "belongs to another model");
    RD_REQUIRE(q.tokenCount >= 1, "tokens", "must hold at least one token");
    RD_REQUIRE(q.tokens != nullptr, "tokens", "must not be null");
    const int32_t n = q.tokenCount, L0 = q.cache->length();
    if (static_cast<int64_t>(L0) + n > q.cache->capacity())
      fail(ErrorCode::ContextOverflow, "tokens: " + std::to_string(n) + " new tokens after " + std::to_string(L0) +
                                           " cached exceed the context capacity " +
                                           std::to_string(q.cache->capacity()));
    for (int32_t i = 0; i < n; ++i)
      RD_REQUIRE_AT(q.tokens[i] >= 0 && q.tokens[i] < c.vocabSize, "tokens", "[" + std::to_string(i) + "] = " + std::to_string(q.tokens[i]) + " is outside the vocabulary [0, " +
                      std::to_string(c.vocabSize) + ")");
    if (q.positions)
      for (int32_t i = 0; i < n; ++i)
        RD_REQUIRE_AT(q.positions[i] >= 0 && q.positions[i] < (1 << 24), "positions", "[" + std::to_string(i) + "] = " + std::to_string(q.positions[i]) + " must be in [0, 2^24)");
    if (q.mask)
      for (int32_t i = 0; i < n; ++i) {
        RD_REQUIRE_AT(q.mask[static_cast<size_t>(i) * n + i] != 0, "mask", "[" + std::to_string(i) + ", " + std::to_string(i) + "] must be 1 (a token attends to itself)");
        for (int32_t j = i + 1; j < n; ++j)
          RD_REQUIRE_AT(q.mask[static_cast<size_t>(i) * n + j] == 0, "mask", "[" + std::to_string(i) + ", " + std::to_string(j) +
                          "] must be 0 (a token may only attend to earlier tokens)");
      }
    int32_t outs = q.outputRows ? q.outputCount : n;
    RD_REQUIRE(outs >= 0, "outputs", "count must not be negative");
    if (q.outputRows)
      for (int32_t i = 0; i < outs; ++i)
        RD_REQUIRE_AT(q.outputRows[i] >= 0 && q.outputRows[i] < n, "outputs", "[" + std::to_string(i) + "] = " + std::to_string(q.outputRows[i]) + " is outside [0, " +
                        std::to_string(n) + ")");
    T += n;
    nOutTotal += outs;
  }

  std::lock_guard<std::mutex> lock(mutex_);
  const Isa isa = static_cast<Isa>(isa_);
  ThreadPool& pool = *pool_;
  const TransformerState& st = *state_;
  // qDim = heads * headDim: dim, unless the heads are wider (GGUF attention.key_length, Qwen3 0.6B)
  const int64_t D = c.dim, H = c.hiddenDim, QD = c.qDim(), KV = c.kvDim(), hd = c.headDim(), V = c.vocabSize;
  const int64_t kvMul = c.nHeads / c.nKvHeads;

  // ---- per token bookkeeping: which request, which index, which cache slot, which position -------------
  ForwardScratch& sc = *scratch_;
  // resize() within the capacity kept from earlier forwards allocates nothing
  std::vector<int32_t>& reqOf = sc.reqOf; std::vector<int32_t>& idxOf = sc.idxOf;  // [T]
  std::vector<int32_t>& slotOf = sc.slotOf; std::vector<int32_t>& posOf = sc.posOf;  // [T]
  reqOf.resize(T), idxOf.resize(T), slotOf.resize(T), posOf.resize(T);
  std::vector<int64_t>& firstRow = sc.firstRow;  // [count] first global row of each request
  firstRow.resize(count);
  {
    int64_t g = 0;
    for (size_t r = 0; r < count; ++r) {
      const ForwardRequest& q = requests[r];
      firstRow[r] = g;
      for (int32_t i = 0; i < q.tokenCount; ++i, ++g) {
        reqOf[g] = static_cast<int32_t>(r);
        idxOf[g] = i;
        slotOf[g] = q.cache->length() + i;
        posOf[g] = q.positions ? q.positions[i] : q.cache->length() + i;
      }
    }
  }

  std::vector<float>& x = sc.x; std::vector<float>& xn = sc.xn; std::vector<float>& tmp = sc.tmp;
  x.resize(T * D), xn.resize(T * D), tmp.resize(T * D);  // [T, dim] residual, normed, block output
  std::vector<float>& q = sc.q; std::vector<float>& att = sc.att;
  q.resize(T * QD), att.resize(T * QD);  // [T, qDim] queries, attention
  std::vector<float>& k = sc.k; std::vector<float>& v = sc.v;
  k.resize(T * KV), v.resize(T * KV);  // [T, kvDim]
  std::vector<float>& h1 = sc.h1; std::vector<float>& h3 = sc.h3;
  h1.resize(T * H), h3.resize(T * H);  // [T, hidden]

  std::vector<float>& rot = sc.rot;  // [T, headDim/2, 2] cos and sin of each token's position
  rot.resize(T * hd);
  int32_t maxSlots = 0;              // the most slots a token attends to
  for (int64_t g = 0; g < T; ++g) {
    const ForwardRequest& rq = requests[reqOf[g]];
    model::dequantizeRow(w.tokenEmbedding, rq.tokens[idxOf[g]], x.data() + g * D);
    ropeTable(posOf[g], hd, c.ropeTheta, st.ropeFreqs.empty() ? nullptr : st.ropeFreqs.data(), rot.data() + g * hd);
    maxSlots = std::max(maxSlots, slotOf[g] + 1);
  }
  // (token, head) attention jobs per thread range: at least kMinRangeWork multiply-adds (scores and values)
  const int64_t attGrain = std::max<int64_t>(1, kMinRangeWork / (static_cast<int64_t>(maxSlots) * hd));

  const float attScale = 1.0f / std::sqrt(static_cast<float>(hd));
  for (int32_t l = 0; l < c.nLayers; ++l) {
    const LayerWeights& L = w.layers[l];
    // attention block
    for (int64_t g = 0; g < T; ++g) rmsNorm(isa, x.data() + g * D, st.attnNorm[l].data(), c.normEps, D, xn.data() + g * D);
    MatmulPart qkv[3] = {{&L.wq, q.data(), QD}, {&L.wk, k.data(), KV}, {&L.wv, v.data(), KV}};
    parallelMatmul(pool, isa, xn.data(), T, D, qkv, 3);
    for (int64_t g = 0; g < T; ++g) {
      float* qg = q.data() + g * QD;
      float* kg = k.data() + g * KV;
      float* vg = v.data() + g * KV;
      if (!st.bq[l].empty()) {  // qwen2
        for (int64_t i = 0; i < QD; ++i) qg[i] += st.bq[l][i];
        for (int64_t i = 0; i < KV; ++i) kg[i] += st.bk[l][i];
        for (int64_t i = 0; i < KV; ++i) vg[i] += st.bv[l][i];
      }
      if (!st.qNorm[l].empty()) {  // qwen3: RMS norm of each head
        for (int64_t h = 0; h < QD; h += hd) rmsNorm(isa, qg + h, st.qNorm[l].data(), c.normEps, hd, qg + h);
        for (int64_t h = 0; h < KV; h += hd) rmsNorm(isa, kg + h, st.kNorm[l].data(), c.normEps, hd, kg + h);
      }
      if (c.ropeNeox) {
        ropeNeox(qg, QD, hd, rot.data() + g * hd);
        ropeNeox(kg, KV, hd, rot.data() + g * hd);
      } else {
        rope(qg, QD, hd, rot.data() + g * hd);
        rope(kg, KV, hd, rot.data() + g * hd);
      }
      KvCache& cache = *requests[reqOf[g]].cache;
      std::copy(k.data() + g * KV, k.data() + (g + 1) * KV, cache.key(l, slotOf[g]));
      std::copy(v.data() + g * KV, v.data() + (g + 1) * KV, cache.value(l, slotOf[g]));
    }
    // attention per (token, head) over the cached slots then the allowed new tokens, in slot order (attendHead)
    auto attend = [&](int64_t begin, int64_t end) {
      // per pool thread, kept between forwards: they grow with the context, not per forward (taken once per range:
      // a thread_local named in the loop costs a TLS lookup at every use)
      thread_local std::vector<float> scoresOfThread;
      thread_local std::vector<int32_t> newSlotsOfThread;
      std::vector<float>& scores = scoresOfThread;        // [slots]: attendHead's scratch
      std::vector<int32_t>& newSlots = newSlotsOfThread;  // the new tokens' slots this token may attend to
      for (int64_t job = begin; job < end; ++job) {
        int64_t g = job / c.nHeads, h = job % c.nHeads;
        const ForwardRequest& rq = requests[reqOf[g]];
        const KvCache& cache = *rq.cache;
        const int32_t L0 = cache.length(), i = idxOf[g], n = rq.tokenCount;
        newSlots.clear();
        for (int32_t j = 0; j <= i; ++j)
          if (rq.mask ? rq.mask[static_cast<size_t>(i) * n + j] != 0 : true) newSlots.push_back(L0 + j);
        kernels::AttentionRows rows;
        rows.keys = cache.key(l, 0) + (h / kvMul) * hd;
        rows.values = cache.value(l, 0) + (h / kvMul) * hd;
        rows.stride = cache.kvDim();
        rows.cached = L0;
        rows.newSlots = newSlots.data();
        rows.newCount = static_cast<int64_t>(newSlots.size());
        scores.resize(static_cast<size_t>(rows.count()));
        kernels::attendHead(isa, q.data() + g * QD + h * hd, rows, hd, attScale, scores.data(), att.data() + g * QD + h * hd);
      }
    };
    pool.parallelFor(T * c.nHeads, attGrain, std::ref(attend));  // std::ref: no std::function allocation
    MatmulPart o[1] = {{&L.wo, tmp.data(), D}};
    parallelMatmul(pool, isa, att.data(), T, QD, o, 1);
    for (int64_t i = 0; i < T * D; ++i) x[i] += tmp[i];

    // feed-forward block: w2(silu(w1 x) * w3 x)
    for (int64_t g = 0; g < T; ++g) rmsNorm(isa, x.data() + g * D, st.ffnNorm[l].data(), c.normEps, D, xn.data() + g * D);
    MatmulPart up[2] = {{&L.w1, h1.data(), H}, {&L.w3, h3.data(), H}};
    parallelMatmul(pool, isa, xn.data(), T, D, up, 2);
    for (int64_t i = 0; i < T * H; ++i) h1[i] = silu(h1[i]) * h3[i];
    MatmulPart down[1] = {{&L.w2, tmp.data(), D}};
    parallelMatmul(pool, isa, h1.data(), T, H, down, 1);
    for (int64_t i = 0; i < T * D; ++i) x[i] += tmp[i];
  }

  // ---- outputs: final norm of the requested rows, then the classifier --------------------------------------
  std::vector<float>& outHidden = sc.outHidden;  // [nOutTotal, dim]
  outHidden.resize(nOutTotal * D);
  std::vector<int64_t>& outBase = sc.outBase;  // [count]
  outBase.resize(count);
  {
    int64_t o = 0;
    for (size_t r = 0; r < count; ++r) {
      const ForwardRequest& rq = requests[r];
      outBase[r] = o;
      int32_t outs = rq.outputRows ? rq.outputCount : rq.tokenCount;
      for (int32_t i = 0; i < outs; ++i, ++o) {
        int64_t g = firstRow[r] + (rq.outputRows ? rq.outputRows[i] : i);
        rmsNorm(isa, x.data() + g * D, st.finalNorm.data(), c.normEps, D, outHidden.data() + o * D);
      }
    }
  }
  bool anyLogits = false;
  for (size_t r = 0; r < count; ++r) anyLogits = anyLogits || requests[r].logits;
  std::vector<float>& outLogits = sc.outLogits;  // [nOutTotal, vocab]
  if (anyLogits && nOutTotal > 0) {
    outLogits.resize(nOutTotal * V);
    MatmulPart cls[1] = {{&w.output, outLogits.data(), V}};
    parallelMatmul(pool, isa, outHidden.data(), nOutTotal, D, cls, 1);
  }
  for (size_t r = 0; r < count; ++r) {
    const ForwardRequest& rq = requests[r];
    int64_t outs = rq.outputRows ? rq.outputCount : rq.tokenCount;
    if (rq.hidden) std::copy(outHidden.data() + outBase[r] * D, outHidden.data() + (outBase[r] + outs) * D, rq.hidden);
    if (rq.logits) std::copy(outLogits.data() + outBase[r] * V, outLogits.data() + (outBase[r] + outs) * V, rq.logits);
    rq.cache->advance(rq.tokenCount);
  }
}

}  // namespace redrafter::cpu

#include "cpu/drafter/drafter_loss.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

#include "core/error.h"
#include "cpu/drafter/linalg.h"

namespace redrafter::cpu {

using drafter::linearBackwardInput;
using drafter::linearBackwardWeight;
using drafter::linearForward;
using drafter::silu;
using drafter::siluGrad;

namespace {

constexpr int64_t kChunks = 8;  // fixed, so results never depend on the thread count

struct ChunkResult {
  std::vector<double> lossSum;  // [K] summed (not averaged) hard-label cross-entropy
  std::vector<double> objectiveSum;  // [K] summed cross-entropy against the (distilled) target
  std::vector<int64_t> correct;  // [K]
};

struct Context {
  const DrafterWeights* weights;
  DrafterWeights::Views<const float> w;
  const float* embeddings;  // [vocab, H]
  const DrafterBatch* batch;
  std::vector<double> scale;  // [K] 1 / examples with a label at step i (0 when none)
};

// Forward and backward of rows [r0, r0+n) of the batch; gradients summed into g (null: loss only).
void runChunk(const Context& ctx, int64_t r0, int64_t n, float* g, ChunkResult& out) {
  const DrafterConfig& c = ctx.weights->config;
  const DrafterBatch& batch = *ctx.batch;
  const int64_t H = c.hiddenSize, E = c.exitDim, V = c.vocabSize, H2 = 2 * H;
  const int32_t K = batch.unroll, nb = c.numDraftLayers;
  const auto& w = ctx.w;
  DrafterWeights::Views<float> gv;
  if (g) gv = ctx.weights->viewsOf<float>(g);
  out.lossSum.assign(K, 0.0);
  out.objectiveSum.assign(K, 0.0);
  out.correct.assign(K, 0);
  const double a = batch.distill;
  std::vector<float> teacher(a > 0 ? size_t(V) : 0);  // [V] the LLM's logits, then its probabilities

  auto tokenAt = [&](int64_t r, int32_t j) { return batch.tokens[(r0 + r) * (K + 1) + j]; };
  auto labelAt = [&](int64_t r, int32_t i) {  // label of step i, absent if its input is absent
    return tokenAt(r, i) < 0 ? -1 : tokenAt(r, i + 1);
  };

  // The recurrent chain, teacher-forced: emb[i] = E(x_{t+1+i}), S[i+1] = f(emb[i], S[i]).
  std::vector<float> emb(size_t(K * n * H), 0.0f);   // [K, n, H]
  std::vector<float> S(size_t((K + 1) * n * H), 0.0f);  // [K+1, n, H]
  std::vector<float> A(c.rnn ? size_t(K * n * H) : 0);  // [K, n, H] pre-activations
  std::vector<float> tmp(size_t(n * H));
  for (int32_t i = 0; i < K; i++) {
    float* e = emb.data() + i * n * H;
    for (int64_t r = 0; r < n; r++) {
      const int32_t tok = tokenAt(r, i);
      if (tok >= 0) std::memcpy(e + r * H, ctx.embeddings + int64_t(tok) * H, sizeof(float) * H);
    }
    const float* sPrev = S.data() + i * n * H;
    float* sNext = S.data() + (i + 1) * n * H;
    if (c.rnn) {
      float* a = A.data() + i * n * H;
      linearForward(e, n, H, H, w.rnnWWeight, nullptr, a, H, 0, H);
      linearForward(sPrev, n, H, H, w.rnnUWeight, w.rnnUBias, tmp.data(), H, 0, H);
      for (int64_t j = 0; j < n * H; j++) {
        a[j] += tmp[j];
        sNext[j] = silu(a[j]);
      }
    } else {
      for (int64_t j = 0; j < n * H; j++) sNext[j] = sPrev[j] + e[j];
    }
  }

  // The head, step by step; dS[i] receives d loss / d S[i+1] through the head.
  std::vector<float> dS(g ? size_t(K * n * H) : 0, 0.0f);
  std::vector<float> x0(size_t(n * H2));                 // [n, 2H] concat[h, s]
  std::vector<float> xs(size_t((nb + 1) * n * E));       // [nb+1, n, E] block inputs, then the head's input
  std::vector<float> us(size_t(std::max(nb, 1) * n * E));  // [nb, n, E] block pre-activations
  std::vector<float> logits(size_t(n * V));              // [n, V], then d loss / d logits
  std::vector<float> dx(size_t(n * E)), du(size_t(n * E)), dx0(size_t(n * H2));
  for (int32_t i = 0; i < K; i++) {
    for (int64_t r = 0; r < n; r++) {
      std::memcpy(x0.data() + r * H2, batch.hidden + (r0 + r) * H, sizeof(float) * H);
      std::memcpy(x0.data() + r * H2 + H, S.data() + ((i + 1) * n + r) * H, sizeof(float) * H);
    }
    if (c.hasInputProj())
      linearForward(x0.data(), n, H2, H2, w.inputProjWeight, w.inputProjBias, xs.data(), E, 0, E);
    else
      std::memcpy(xs.data(), x0.data(), sizeof(float) * n * E);
    for (int32_t j = 0; j < nb; j++) {
      const float* xin = xs.data() + j * n * E;
      float* u = us.data() + j * n * E;
      float* xout = xs.data() + (j + 1) * n * E;
      linearForward(xin, n, E, E, w.blockWeight[j], w.blockBias[j], u, E, 0, E);
      for (int64_t q = 0; q < n * E; q++) xout[q] = xin[q] + silu(u[q]);
    }
    const float* xh = xs.data() + nb * n * E;
    linearForward(xh, n, E, E, w.lmHead, nullptr, logits.data(), V, 0, V);

    // Cross-entropy, top-1, and d loss / d logits = (softmax - onehot) * scale.
    const float scale = float(ctx.scale[i]);
    for (int64_t r = 0; r < n; r++) {
      float* l = logits.data() + r * V;
      const int32_t label = labelAt(r, i);
      if (label < 0) {
        std::fill(l, l + V, 0.0f);
        continue;
      }
      int64_t best = 0;
      for (int64_t v = 1; v < V; v++)
        if (l[v] > l[best]) best = v;
      const float mx = l[best];
      double sum = 0;
      for (int64_t v = 0; v < V; v++) sum += std::exp(double(l[v] - mx));
      const double lse = double(mx) + std::log(sum);
      const double hard = lse - double(l[label]);
      out.lossSum[i] += hard;
      if (best == label) out.correct[i]++;
      if (a <= 0) {
        out.objectiveSum[i] += hard;
        if (g) {
          for (int64_t v = 0; v < V; v++) l[v] = float(std::exp(double(l[v]) - lse)) * scale;
          l[label] -= scale;
        }
        continue;
      }
      // q = softmax(C · h_{t+1+i}); objective = lse - sum_v target_v l_v with target = (1-a) onehot + a q.
      const float* th = batch.teacherHidden + ((r0 + r) * K + i) * H;
      linearForward(th, 1, H, H, batch.classifier, nullptr, teacher.data(), V, 0, V);
      float tmx = teacher[0];
      for (int64_t v = 1; v < V; v++) tmx = std::max(tmx, teacher[v]);
      double tsum = 0;
      for (int64_t v = 0; v < V; v++) tsum += std::exp(double(teacher[v] - tmx));
      double soft = 0;
      for (int64_t v = 0; v < V; v++) {
        teacher[v] = float(std::exp(double(teacher[v] - tmx)) / tsum);
        soft += double(teacher[v]) * (lse - double(l[v]));
      }
      out.objectiveSum[i] += (1.0 - a) * hard + a * soft;
      if (g) {
        for (int64_t v = 0; v < V; v++) l[v] = float((std::exp(double(l[v]) - lse) - a * teacher[v]) * scale);
        l[label] -= float((1.0 - a) * scale);
      }
    }
    if (!g) continue;

    // Backward through the head.
    linearBackwardWeight(logits.data(), n, V, xh, E, E, gv.lmHead, nullptr, 0, V);
    linearBackwardInput(logits.data(), V, V, w.lmHead, E, dx.data(), E, 0, n, false);
    for (int32_t j = nb - 1; j >= 0; j--) {
      const float* u = us.data() + j * n * E;
      for (int64_t q = 0; q < n * E; q++) du[q] = dx[q] * siluGrad(u[q]);
      linearBackwardWeight(du.data(), n, E, xs.data() + j * n * E, E, E, gv.blockWeight[j], gv.blockBias[j], 0, E);
      linearBackwardInput(du.data(), E, E, w.blockWeight[j], E, dx.data(), E, 0, n, true);
    }
    const float* dIn = dx.data();  // d loss / d concat[h, s]
    if (c.hasInputProj()) {
      linearBackwardWeight(dx.data(), n, E, x0.data(), H2, H2, gv.inputProjWeight, gv.inputProjBias, 0, E);
      linearBackwardInput(dx.data(), E, E, w.inputProjWeight, H2, dx0.data(), H2, 0, n, false);
      dIn = dx0.data();
    }
    for (int64_t r = 0; r < n; r++)
      std::memcpy(dS.data() + (i * n + r) * H, dIn + r * H2 + H, sizeof(float) * H);
  }
  if (!g) return;

  // Backward through the recurrent chain: carry = d loss / d S[i+1] from later steps.
  std::vector<float> carry(size_t(n * H), 0.0f), da(size_t(n * H));
  for (int32_t i = K - 1; i >= 0; i--) {
    const float* dHead = dS.data() + i * n * H;
    if (!c.rnn) {
      for (int64_t q = 0; q < n * H; q++) carry[q] += dHead[q];  // S[i+1] = S[i] + e: the gradient passes through
      continue;
    }
    const float* a = A.data() + i * n * H;
    for (int64_t q = 0; q < n * H; q++) da[q] = (dHead[q] + carry[q]) * siluGrad(a[q]);
    linearBackwardWeight(da.data(), n, H, emb.data() + i * n * H, H, H, gv.rnnWWeight, nullptr, 0, H);
    linearBackwardWeight(da.data(), n, H, S.data() + i * n * H, H, H, gv.rnnUWeight, gv.rnnUBias, 0, H);
    linearBackwardInput(da.data(), H, H, w.rnnUWeight, H, carry.data(), H, 0, n, false);
  }
}

template <class Body>
void parallel(int64_t count, int32_t threads, Body body) {
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(threads, count));
  if (parts == 1) {
    for (int64_t i = 0; i < count; i++) body(i);
    return;
  }
  std::vector<std::thread> pool;
  for (int64_t p = 1; p < parts; p++)
    pool.emplace_back([&, p] {
      for (int64_t i = p; i < count; i += parts) body(i);
    });
  for (int64_t i = 0; i < count; i += parts) body(i);
  for (auto& t : pool) t.join();
}

}  // namespace

DrafterLoss drafterLossAndGradient(const DrafterWeights& weights, const float* embeddings, const DrafterBatch& batch,
                                   float* grad, int32_t threads) {
  RD_REQUIRE(batch.rows >= 1, "batch.rows", "must be >= 1");
  RD_REQUIRE(batch.unroll >= 1, "batch.unroll", "must be >= 1");
  RD_REQUIRE(batch.distill >= 0 && batch.distill <= 1, "distill", "must be in [0, 1]");
  RD_REQUIRE(batch.distill == 0 || (batch.teacherHidden && batch.classifier), "distill",
             "needs the LLM's hidden states and classifier");
  const int32_t K = batch.unroll;
  const int32_t V = weights.config.vocabSize;
  for (int64_t r = 0; r < batch.rows; r++)
    for (int32_t j = 0; j <= K; j++) {
      const int32_t t = batch.tokens[r * (K + 1) + j];
      RD_REQUIRE(t < V, "batch.tokens", "holds token " + std::to_string(t) + " outside the vocabulary [0, " +
                                            std::to_string(V) + ")");
    }
  Context ctx{&weights, weights.views(), embeddings, &batch, std::vector<double>(K, 0.0)};
  DrafterLoss result;
  result.stepLoss.assign(K, 0.0);
  result.correct.assign(K, 0);
  result.counted.assign(K, 0);
  for (int64_t r = 0; r < batch.rows; r++)
    for (int32_t i = 0; i < K; i++) {
      const int32_t* t = batch.tokens + r * (K + 1);
      if (t[i] >= 0 && t[i + 1] >= 0) result.counted[i]++;
    }
  for (int32_t i = 0; i < K; i++) ctx.scale[i] = result.counted[i] ? 1.0 / double(result.counted[i]) : 0.0;

  const int64_t chunks = std::min<int64_t>(kChunks, batch.rows);
  const size_t P = weights.data.size();
  std::vector<ChunkResult> results(chunks);
  std::vector<std::vector<float>> grads(grad ? chunks : 0);
  parallel(chunks, threads, [&](int64_t k) {
    const int64_t r0 = batch.rows * k / chunks, r1 = batch.rows * (k + 1) / chunks;
    float* g = nullptr;
    if (grad) {
      grads[k].assign(P, 0.0f);
      g = grads[k].data();
    }
    runChunk(ctx, r0, r1 - r0, g, results[k]);
  });
  if (grad) {
    // Sum the chunks' gradients in chunk order, split over parameter ranges.
    const int64_t parts = std::max<int32_t>(1, threads);
    parallel(parts, threads, [&](int64_t p) {
      const size_t b = P * p / parts, e = P * (p + 1) / parts;
      std::memcpy(grad + b, grads[0].data() + b, sizeof(float) * (e - b));
      for (int64_t k = 1; k < chunks; k++) {
        const float* src = grads[k].data();
        for (size_t q = b; q < e; q++) grad[q] += src[q];
      }
    });
  }
  for (int32_t i = 0; i < K; i++) {
    double sum = 0, objective = 0;
    for (const auto& r : results) {
      sum += r.lossSum[i];
      objective += r.objectiveSum[i];
      result.correct[i] += r.correct[i];
    }
    result.stepLoss[i] = result.counted[i] ? sum / double(result.counted[i]) : 0.0;
    result.loss += result.stepLoss[i];
    result.objective += result.counted[i] ? objective / double(result.counted[i]) : 0.0;
  }
  return result;
}

}  // namespace redrafter::cpu

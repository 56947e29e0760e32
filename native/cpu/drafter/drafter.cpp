#include "cpu/drafter/drafter.h"

#include <algorithm>
#include <cstring>
#include <thread>
#include <vector>

#include "core/beam_search.h"
#include "core/error.h"
#include "cpu/drafter/linalg.h"

namespace redrafter::cpu {

using drafter::linearForward;
using drafter::silu;

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

Drafter::Drafter(DrafterWeights weights, std::string source, int32_t threads)
    : weights_(std::move(weights)), source_(std::move(source)), threads_(std::max(1, threads)) {
  validateDrafterConfig(weights_.config, source_);
  auto specs = drafterTensorSpecs(weights_.config);
  const size_t total = specs.back().offset + size_t(specs.back().elements());
  if (weights_.data.size() != total)
    fail(ErrorCode::InvalidModel, source_ + ": drafter weights hold " + std::to_string(weights_.data.size()) +
                                      " values, the config needs " + std::to_string(total));
  weights_.specs = std::move(specs);
  views_ = weights_.views();
}

void Drafter::checkMatches(const ModelConfig& model, const std::string& modelSource) const {
  checkDrafterMatchesModel(weights_.config, source_, model, modelSource);
}

void Drafter::updateState(const float* emb, int64_t rows, float* state, std::vector<float>& scratch) const {
  const DrafterConfig& c = weights_.config;
  const int64_t H = c.hiddenSize;
  if (!c.rnn) {
    for (int64_t i = 0; i < rows * H; i++) state[i] += emb[i];
    return;
  }
  // a = rnn_w · e + rnn_u · s + b_u; s = SiLU(a)
  scratch.resize(size_t(2 * rows * H));
  float* a = scratch.data();        // [rows, H]
  float* u = a + rows * H;          // [rows, H]
  linearForward(emb, rows, H, H, views_.rnnWWeight, nullptr, a, H, 0, H);
  linearForward(state, rows, H, H, views_.rnnUWeight, views_.rnnUBias, u, H, 0, H);
  for (int64_t i = 0; i < rows * H; i++) state[i] = silu(a[i] + u[i]);
}

void Drafter::headLogits(const float* input, int64_t rows, float* logits, std::vector<float>& scratch) const {
  const DrafterConfig& c = weights_.config;
  const int64_t E = c.exitDim, V = c.vocabSize, in = 2 * int64_t(c.hiddenSize);
  scratch.resize(size_t(2 * rows * E));
  float* x = scratch.data();       // [rows, E]
  float* t = x + rows * E;         // [rows, E]
  if (c.hasInputProj()) {
    linearForward(input, rows, in, in, views_.inputProjWeight, views_.inputProjBias, x, E, 0, E);
  } else {
    std::memcpy(x, input, sizeof(float) * size_t(rows * E));
  }
  for (int32_t i = 0; i < c.numDraftLayers; i++) {
    linearForward(x, rows, E, E, views_.blockWeight[i], views_.blockBias[i], t, E, 0, E);
    for (int64_t j = 0; j < rows * E; j++) x[j] += silu(t[j]);
  }
  // The vocabulary projection dominates: split it over vocabulary rows when it is large enough to pay.
  const int64_t work = rows * V * E;
  const int32_t parts = int32_t(std::min<int64_t>(threads_, std::max<int64_t>(1, work / (1 << 22))));
  if (parts <= 1) {
    linearForward(x, rows, E, E, views_.lmHead, nullptr, logits, V, 0, V);
    return;
  }
  std::vector<std::thread> pool;
  auto range = [&](int32_t p) { return V * p / parts; };
  for (int32_t p = 1; p < parts; p++)
    pool.emplace_back([&, p] { linearForward(x, rows, E, E, views_.lmHead, nullptr, logits, V, range(p), range(p + 1)); });
  linearForward(x, rows, E, E, views_.lmHead, nullptr, logits, V, range(0), range(1));
  for (auto& th : pool) th.join();
}

void Drafter::draft(const float* hidden, const int32_t* lastToken, int32_t batch, const DraftOptions& options,
                    const EmbeddingLookup& embed, int32_t* beams, float* logProbs, float* beamScores) const {
  const DrafterConfig& c = weights_.config;
  const int32_t W = options.width, L = options.length;
  require(batch >= 1, "batch", "must be >= 1, got " + std::to_string(batch));
  require(W >= 1 && W <= 1024, "beamWidth", "must be in [1, 1024], got " + std::to_string(W));
  require(L >= 2 && L <= 256, "beamLength", "must be in [2, 256], got " + std::to_string(L));
  for (int32_t b = 0; b < batch; b++)
    require(lastToken[b] >= 0 && lastToken[b] < c.vocabSize, "lastToken",
            "[" + std::to_string(b) + "] = " + std::to_string(lastToken[b]) + " is outside the vocabulary [0, " +
                std::to_string(c.vocabSize) + ")");
  const int64_t H = c.hiddenSize, V = c.vocabSize, rows = int64_t(batch) * W;

  std::vector<float> input(size_t(rows * 2 * H));  // [batch*W, 2H]: concat[h, s] per beam
  std::vector<float> state(size_t(rows * H), 0.0f);  // [batch*W, H]
  std::vector<float> emb(size_t(rows * H));           // [batch*W, H]
  std::vector<float> logp(size_t(rows * V));          // [batch*W, V]
  std::vector<float> scores(size_t(rows), 0.0f), newScores(static_cast<size_t>(rows));  // [batch, W]
  std::vector<int32_t> parent(static_cast<size_t>(rows)), token(static_cast<size_t>(rows));          // [batch, W]
  std::vector<int32_t> cur(size_t(rows) * L), next(size_t(rows) * L);      // [batch, W, L]
  std::vector<float> curLp, nextLp;                                          // [batch, W, step, V]
  if (logProbs) {
    curLp.resize(size_t(rows) * (L - 1) * V);
    nextLp.resize(curLp.size());
  }
  std::vector<float> stateNext(state.size());
  std::vector<float> scratch;
  std::vector<int32_t> lastOfBeam(static_cast<size_t>(rows));

  for (int32_t b = 0; b < batch; b++)
    for (int32_t w = 0; w < W; w++) {
      cur[(size_t(b) * W + w) * L] = lastToken[b];
      std::memcpy(input.data() + (size_t(b) * W + w) * 2 * H, hidden + size_t(b) * H, sizeof(float) * H);
    }

  for (int32_t step = 0; step < L - 1; step++) {
    // Every beam's last token: the LLM's token on the first step, then the token the beam just grew.
    for (int64_t r = 0; r < rows; r++) lastOfBeam[r] = cur[size_t(r) * L + step];
    embed(lastOfBeam.data(), rows, emb.data());
    updateState(emb.data(), rows, state.data(), scratch);
    for (int64_t r = 0; r < rows; r++)
      std::memcpy(input.data() + r * 2 * H + H, state.data() + r * H, sizeof(float) * H);
    headLogits(input.data(), rows, logp.data(), scratch);
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

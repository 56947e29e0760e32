// The drafter's beam search against a straightforward transcription of Apple's beam_search_candidates (its
// -50000 initial beam scores, a full sort for topk, maintain_logits + warp_logits + log_softmax), training steps that
// lower the loss, exact acceptance replay on a hand-made case, and config/model mismatch errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "core/beam_search.h"
#include "core/error.h"
#include "core/rng.h"
#include "cpu/drafter/acceptance.h"
#include "cpu/drafter/drafter.h"
#include "cpu/drafter/drafter_trainer.h"
#include "cpu/drafter/linalg.h"

using namespace redrafter;
using namespace redrafter::cpu;

namespace {

// ---- reference: Apple's Drafter, written plainly (double precision, one beam at a time) ------------------------
struct Reference {
  DrafterConfig c;
  const DrafterWeights* w;
  const std::vector<float>* emb;

  std::vector<double> linear(const float* W, const float* b, const std::vector<double>& x, int64_t out) const {
    std::vector<double> y(static_cast<size_t>(out));
    const int64_t in = int64_t(x.size());
    for (int64_t o = 0; o < out; o++) {
      double s = b ? b[o] : 0.0;
      for (int64_t k = 0; k < in; k++) s += double(W[o * in + k]) * x[k];
      y[o] = s;
    }
    return y;
  }
  static double silu(double a) { return a / (1.0 + std::exp(-a)); }

  std::vector<double> state(const std::vector<double>& s, int32_t token) const {
    const int64_t H = c.hiddenSize;
    std::vector<double> e(emb->begin() + token * H, emb->begin() + (token + 1) * H);
    std::vector<double> out(static_cast<size_t>(H));
    if (!c.rnn) {
      for (int64_t i = 0; i < H; i++) out[i] = s[i] + e[i];
      return out;
    }
    auto a = linear(w->tensor("rnn_w.weight"), nullptr, e, H);
    auto u = linear(w->tensor("rnn_u.weight"), w->tensor("rnn_u.bias"), s, H);
    for (int64_t i = 0; i < H; i++) out[i] = silu(a[i] + u[i]);
    return out;
  }

  // compute_logits(...).log_softmax()
  std::vector<double> logProbs(const std::vector<double>& h, const std::vector<double>& s) const {
    std::vector<double> x(h);
    x.insert(x.end(), s.begin(), s.end());
    if (c.exitDim != 2 * c.hiddenSize) x = linear(w->tensor("input_proj.weight"), w->tensor("input_proj.bias"), x, c.exitDim);
    for (int32_t i = 0; i < c.numDraftLayers; i++) {
      const std::string p = "lm_head." + std::to_string(i) + ".linear.";
      auto u = linear(w->tensor(p + "weight"), w->tensor(p + "bias"), x, c.exitDim);
      for (size_t k = 0; k < x.size(); k++) x[k] += silu(u[k]);
    }
    auto l = linear(w->tensor("lm_head." + std::to_string(c.numDraftLayers) + ".weight"), nullptr, x, c.vocabSize);
    const double mx = *std::max_element(l.begin(), l.end());
    for (double& v : l) v -= mx;                                         // maintain_logits
    std::vector<double> sorted(l);
    std::sort(sorted.begin(), sorted.end(), std::greater<double>());
    const double kth = sorted[std::min<size_t>(50, sorted.size()) - 1];  // warp_logits, top_k = 50
    for (double& v : l)
      if (v < kth) v = -50000.0;
    double z = 0;
    for (double v : l) z += std::exp(v);
    for (double& v : l) v -= std::log(z);
    return l;
  }

  void beamSearch(const float* hidden, int32_t token, int32_t W, int32_t L, std::vector<int32_t>& beamsOut,
                  std::vector<double>& lpOut) const {
    const int64_t H = c.hiddenSize, V = c.vocabSize;
    std::vector<double> h(hidden, hidden + H);
    std::vector<double> logPBeam(size_t(W), -50000.0);
    logPBeam[0] = 0.0;
    std::vector<std::vector<int32_t>> beams(size_t(W), std::vector<int32_t>{token});
    std::vector<std::vector<double>> states(size_t(W), std::vector<double>(size_t(H), 0.0));
    std::vector<std::vector<double>> lps(static_cast<size_t>(W));  // [W][step*V]
    for (int32_t step = 0; step < L - 1; step++) {
      std::vector<std::vector<double>> newLp(static_cast<size_t>(W));
      std::vector<std::pair<double, int64_t>> cand;
      for (int32_t b = 0; b < W; b++) {
        states[b] = state(states[b], beams[b].back());
        newLp[b] = logProbs(h, states[b]);
        for (int64_t t = 0; t < V; t++) cand.push_back({newLp[b][t] + logPBeam[b], b * V + t});
      }
      std::stable_sort(cand.begin(), cand.end(), [](auto& x, auto& y) { return x.first > y.first; });
      auto oldBeams = beams;
      auto oldStates = states;
      auto oldLps = lps;
      for (int32_t k = 0; k < W; k++) {
        const int32_t parent = int32_t(cand[k].second / V), tok = int32_t(cand[k].second % V);
        logPBeam[k] = cand[k].first;
        beams[k] = oldBeams[parent];
        beams[k].push_back(tok);
        states[k] = oldStates[parent];
        lps[k] = oldLps[parent];
        lps[k].insert(lps[k].end(), newLp[parent].begin(), newLp[parent].end());
      }
    }
    for (auto& b : beams) beamsOut.insert(beamsOut.end(), b.begin(), b.end());
    for (auto& l : lps) lpOut.insert(lpOut.end(), l.begin(), l.end());
  }
};

DrafterWeights randomWeights(const DrafterConfig& c, uint64_t seed, float scale) {
  DrafterWeights w = DrafterWeights::zeros(c);
  Rng rng(seed);
  for (float& v : w.data) v = float((rng.uniform() * 2 - 1) * scale);
  return w;
}

void checkAgainstReference(const DrafterConfig& c, int32_t batch, int32_t W, int32_t L, uint64_t seed) {
  DrafterWeights w = randomWeights(c, seed, 0.8f);
  Rng rng(seed + 5);
  std::vector<float> emb(size_t(c.vocabSize) * c.hiddenSize), hidden(size_t(batch) * c.hiddenSize);
  for (float& v : emb) v = float(rng.uniform() * 2 - 1);
  for (float& v : hidden) v = float(rng.uniform() * 4 - 2);
  std::vector<int32_t> last(static_cast<size_t>(batch));
  for (int32_t& t : last) t = int32_t(rng.nextU64() % c.vocabSize);

  Drafter d(w, "test-drafter");
  std::vector<int32_t> beams(size_t(batch) * W * L);
  std::vector<float> lp(size_t(batch) * W * (L - 1) * c.vocabSize), scores(size_t(batch) * W);
  d.draft(hidden.data(), last.data(), batch, {W, L}, tableEmbeddings(emb.data(), c.vocabSize, c.hiddenSize),
          beams.data(), lp.data(), scores.data());

  Reference ref{c, &w, &emb};
  for (int32_t b = 0; b < batch; b++) {
    std::vector<int32_t> rb;
    std::vector<double> rl;
    ref.beamSearch(hidden.data() + size_t(b) * c.hiddenSize, last[b], W, L, rb, rl);
    std::vector<int32_t> got(beams.begin() + size_t(b) * W * L, beams.begin() + size_t(b + 1) * W * L);
    CHECK(got == rb);
    double worst = 0;
    const size_t n = size_t(W) * (L - 1) * c.vocabSize;
    for (size_t i = 0; i < n; i++) worst = std::max(worst, std::fabs(double(lp[size_t(b) * n + i]) - rl[i]));
    CHECK(worst < 2e-3);
    for (int32_t k = 0; k < W; k++) CHECK(got[size_t(k) * L] == last[b]);
  }
}

// F16 / Q8_0 / Q4_0 weights: draft() applies the first matrix's part on h once per call; its log-probabilities
// equal, bit for bit, a step-by-step chain through the public headLogits/updateState (which apply the whole first
// matrix to every row), each step's token is that row's argmax, and the processed log-probabilities stay within
// `tolerance` of the float32 drafter's (the weights' rounding). Returns the largest difference seen.
double checkHalfChain(const DrafterConfig& c, int32_t L, uint64_t seed, DrafterWeightType type = DrafterWeightType::F16,
                      double tolerance = 0.05) {
  DrafterWeights w = randomWeights(c, seed, 0.3f);
  Rng rng(seed + 5);
  std::vector<float> emb(size_t(c.vocabSize) * c.hiddenSize), hidden(size_t(2) * c.hiddenSize);
  for (float& v : emb) v = float(rng.uniform() * 2 - 1);
  for (float& v : hidden) v = float(rng.uniform() * 4 - 2);
  const int32_t last[2] = {3, 7};
  const EmbeddingLookup table = tableEmbeddings(emb.data(), c.vocabSize, c.hiddenSize);
  Drafter half(w, "test-drafter", 1, type), full(w, "test-drafter");
  const int64_t H = c.hiddenSize, V = c.vocabSize;
  std::vector<int32_t> beams(size_t(2) * L), fullBeams(beams.size());
  std::vector<float> lp(size_t(2) * (L - 1) * V), fullLp(lp.size());
  DraftScratch scratch;
  half.draft(hidden.data(), last, 2, {1, L}, table, beams.data(), lp.data(), nullptr, &scratch);
  full.draft(hidden.data(), last, 2, {1, L}, table, fullBeams.data(), fullLp.data());
  double worstAll = 0;
  for (int32_t b = 0; b < 2; b++) {
    std::vector<float> state(static_cast<size_t>(H), 0.0f), input(static_cast<size_t>(2 * H)), work;
    std::vector<float> logits(static_cast<size_t>(V)), e(static_cast<size_t>(H));
    std::copy_n(hidden.data() + b * H, H, input.data());
    int32_t token = last[b];
    for (int32_t step = 0; step < L - 1; step++) {
      table(&token, 1, e.data());
      half.updateState(e.data(), 1, state.data(), work);
      std::copy(state.begin(), state.end(), input.begin() + H);
      half.headLogits(input.data(), 1, logits.data(), work);
      appleProcessLogits(logits.data(), int(V));
      const float* got = lp.data() + (size_t(b) * (L - 1) + step) * V;
      CHECK(std::equal(logits.begin(), logits.end(), got));
      token = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
      CHECK(beams[size_t(b) * L + step + 1] == token);
    }
    // against float32 weights: the first step's log-probabilities (same input), within float16's rounding
    double worst = 0;
    for (int64_t t = 0; t < V; t++) {
      const float a = lp[size_t(b) * (L - 1) * V + t], f = fullLp[size_t(b) * (L - 1) * V + t];
      if (a > -1000 && f > -1000) worst = std::max(worst, double(std::fabs(a - f)));
    }
    CHECK(worst < tolerance);
    worstAll = std::max(worstAll, worst);
  }
  return worstAll;
}

// Drafting with the table of rnn_w · E(t) (TokenInputTable) gives exactly the drafts (beams, log-probabilities,
// scores) of drafting without it, for every weight type; the table fills rows only for the tokens drafted from.
void checkTabledEqualsUntabled(const DrafterConfig& c, DrafterWeightType type, int32_t batch, int32_t W, int32_t L,
                               uint64_t seed) {
  DrafterWeights w = randomWeights(c, seed, 0.5f);
  Rng rng(seed + 9);
  std::vector<float> emb(size_t(c.vocabSize) * c.hiddenSize), hidden(size_t(batch) * c.hiddenSize);
  for (float& v : emb) v = float(rng.uniform() * 2 - 1);
  const EmbeddingLookup embed = tableEmbeddings(emb.data(), c.vocabSize, c.hiddenSize);
  Drafter d(w, "tabled", 1, type);
  std::unique_ptr<TokenInputTable> table = d.makeTokenInputTable(embed);
  REQUIRE(table != nullptr);
  CHECK(table->filledRows() == 0);
  const size_t nBeams = size_t(batch) * W * L, nLp = size_t(batch) * W * (L - 1) * c.vocabSize;
  for (int round = 0; round < 3; round++) {  // later rounds read rows filled by earlier ones
    for (float& v : hidden) v = float(rng.uniform() * 4 - 2);
    std::vector<int32_t> last(static_cast<size_t>(batch));
    for (int32_t& t : last) t = int32_t(rng.nextU64() % uint64_t(c.vocabSize));
    std::vector<int32_t> beams(nBeams), tabledBeams(nBeams);
    std::vector<float> lp(nLp), tabledLp(nLp), scores(size_t(batch) * W), tabledScores(scores.size());
    DraftScratch scratch;
    d.draft(hidden.data(), last.data(), batch, {W, L}, embed, beams.data(), lp.data(), scores.data(), &scratch);
    d.draft(hidden.data(), last.data(), batch, {W, L}, embed, tabledBeams.data(), tabledLp.data(), tabledScores.data(),
            &scratch, nullptr, table.get());
    CHECK(tabledBeams == beams);
    CHECK(std::memcmp(tabledLp.data(), lp.data(), sizeof(float) * nLp) == 0);
    CHECK(std::memcmp(tabledScores.data(), scores.data(), sizeof(float) * scores.size()) == 0);
    // the rows filled: the tokens the beams were drafted from (every beam's tokens but its last)
    std::vector<bool> used(size_t(c.vocabSize), false);
    for (size_t r = 0; r < size_t(batch) * W; r++)
      for (int32_t j = 0; j + 1 < L; j++) used[size_t(beams[r * L + j])] = true;
    CHECK(table->filledRows() >= int64_t(std::count(used.begin(), used.end(), true)));
  }
  CHECK(table->filledRows() < c.vocabSize);  // only the tokens drafted from, not the whole vocabulary
  // a row is the drafter's own product: from the zero state, updateState gives SiLU(rnn_w · E(t) + b_u)
  std::vector<float> viaUpdate(size_t(c.hiddenSize), 0.0f), work;
  d.updateState(emb.data() + 5 * c.hiddenSize, 1, viaUpdate.data(), work);
  const float* row = table->row(5);
  const float* bias = w.tensor("rnn_u.bias");
  for (int32_t i = 0; i < c.hiddenSize; i++) CHECK(viaUpdate[i] == drafter::silu(row[i] + bias[i]));
}

}  // namespace

TEST_CASE("half weights: the first matrix's part on h, applied once per draft, drafts what the whole matrix does") {
  checkHalfChain({97, 6, 10, 2, true}, 5, 11);   // input_proj
  checkHalfChain({60, 4, 8, 1, false}, 4, 12);   // no input_proj: the first block takes concat[h, s]
  checkHalfChain({60, 4, 8, 0, false}, 3, 13);   // no blocks either: lm_head takes it
}

TEST_CASE("q8_0 weights: the same chain, drafts close to float32's") {
  // hidden sizes that are multiples of 32 (Q8_0's block): every matrix in Q8_0 ({97, 6, ...} keeps all in f16)
  double worst = 0;
  worst = std::max(worst, checkHalfChain({97, 32, 64, 2, true}, 5, 21, DrafterWeightType::Q8_0, 0.1));
  worst = std::max(worst, checkHalfChain({60, 32, 64, 1, false}, 4, 22, DrafterWeightType::Q8_0, 0.1));
  worst = std::max(worst, checkHalfChain({97, 6, 10, 2, true}, 4, 23, DrafterWeightType::Q8_0, 0.05));
  MESSAGE("q8_0 vs f32, largest first-step log-probability difference: " << worst);
}

TEST_CASE("q4_0 weights: the same chain, drafts near float32's") {
  // 4 bits on random weights: the log-probabilities move by up to ~0.6 (0.60 / 0.59 measured on these shapes)
  double worst = 0;
  worst = std::max(worst, checkHalfChain({97, 32, 64, 2, true}, 5, 41, DrafterWeightType::Q4_0, 1.0));
  worst = std::max(worst, checkHalfChain({60, 32, 64, 1, false}, 4, 42, DrafterWeightType::Q4_0, 1.0));
  MESSAGE("q4_0 vs f32, largest first-step log-probability difference: " << worst);
}

TEST_CASE("the table of rnn_w · E(t) drafts exactly what drafting without it does, for every weight type") {
  for (DrafterWeightType t :
       {DrafterWeightType::F32, DrafterWeightType::F16, DrafterWeightType::Q8_0, DrafterWeightType::Q4_0}) {
    CAPTURE(drafterWeightTypeName(t));
    checkTabledEqualsUntabled({97, 32, 64, 2, true}, t, 1, 1, 8, 31);  // W=1 L=8, the large-model shape
    checkTabledEqualsUntabled({97, 32, 64, 2, true}, t, 2, 3, 4, 32);  // several rows per product
    checkTabledEqualsUntabled({60, 6, 12, 1, true}, t, 3, 2, 5, 33);   // no input_proj; odd sizes (f16 in q8_0 / q4_0)
  }
}

TEST_CASE("the table: none without rnn_w or above its bound; another drafter's table is refused") {
  std::vector<float> emb(size_t(60) * 32, 0.1f);
  const EmbeddingLookup embed = tableEmbeddings(emb.data(), 60, 32);
  Drafter rnn(randomWeights({60, 32, 64, 1, true}, 1, 0.5f), "rnn"), sum(randomWeights({60, 32, 64, 1, false}, 2, 0.5f), "sum");
  CHECK(sum.makeTokenInputTable(embed) == nullptr);
  CHECK(rnn.makeTokenInputTable(embed, 60 * 32 * 4 - 1) == nullptr);
  CHECK(rnn.makeTokenInputTable(embed, 60 * 32 * 4) != nullptr);
  Drafter other(randomWeights({60, 32, 64, 1, true}, 3, 0.5f), "other");
  auto table = other.makeTokenInputTable(embed);
  std::vector<float> hidden(32, 0.5f);
  std::vector<int32_t> beams(8);
  const int32_t last = 3;
  CHECK_THROWS_WITH_AS(rnn.draft(hidden.data(), &last, 1, {1, 8}, embed, beams.data(), nullptr, nullptr, nullptr, nullptr,
                                 table.get()),
                       doctest::Contains("tokenInputs"), Error);
  CHECK_THROWS_WITH_AS(table->row(60), doctest::Contains("vocabulary"), Error);
}

TEST_CASE("drafter weight types by name; another name is refused naming the field") {
  for (DrafterWeightType t :
       {DrafterWeightType::F32, DrafterWeightType::F16, DrafterWeightType::Q8_0, DrafterWeightType::Q4_0})
    CHECK(parseDrafterWeightType(drafterWeightTypeName(t), "weightType") == t);
  CHECK_THROWS_WITH_AS(parseDrafterWeightType("q4_k", "weightType"), doctest::Contains("weightType"), Error);
  CHECK_THROWS_WITH_AS(parseDrafterWeightType("F16", "drafterWeightType"), doctest::Contains("drafterWeightType"), Error);
}

TEST_CASE("draft equals Apple's beam search, computed plainly: rnn, input_proj, 2 blocks, vocab > top-50") {
  checkAgainstReference({97, 6, 10, 2, true}, 3, 4, 4, 1);
}

TEST_CASE("draft equals the reference: no input_proj, running-sum state, wide beams, length 2") {
  checkAgainstReference({60, 4, 8, 1, false}, 2, 8, 2, 2);
  checkAgainstReference({60, 4, 8, 0, false}, 1, 5, 6, 3);
}

TEST_CASE("draft rejects bad sizes and tokens naming the field") {
  DrafterConfig c{20, 4, 8, 1, true};
  Drafter d(randomWeights(c, 1, 0.5f), "d");
  std::vector<float> emb(size_t(20 * 4), 0.1f), hidden(4, 0.0f);
  std::vector<int32_t> beams(64);
  auto embed = tableEmbeddings(emb.data(), 20, 4);
  int32_t bad = 20;
  CHECK_THROWS_WITH_AS(d.draft(hidden.data(), &bad, 1, {2, 3}, embed, beams.data(), nullptr),
                       doctest::Contains("lastToken"), Error);
  int32_t ok = 3;
  CHECK_THROWS_WITH_AS(d.draft(hidden.data(), &ok, 1, {2, 1}, embed, beams.data(), nullptr),
                       doctest::Contains("beamLength"), Error);
}

TEST_CASE("a drafter whose weights do not fit its config is rejected naming the drafter") {
  DrafterConfig c{20, 4, 8, 1, true};
  DrafterWeights w = randomWeights(c, 1, 0.5f);
  w.data.pop_back();
  CHECK_THROWS_WITH_AS(Drafter(w, "/some/drafter"), doctest::Contains("/some/drafter"), Error);
}

TEST_CASE("a drafter made for another model is rejected with both values named") {
  DrafterConfig c{512, 32, 64, 1, true};
  ModelConfig m;
  m.dim = 64;
  m.vocabSize = 512;
  try {
    checkDrafterMatchesModel(c, "drafter-dir", m, "model.bin");
    FAIL("no error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(e.code() == ErrorCode::InvalidModel);
    CHECK(msg.find("hidden_size 32") != std::string::npos);
    CHECK(msg.find("hidden size 64") != std::string::npos);
    CHECK(msg.find("drafter-dir") != std::string::npos);
  }
  c.hiddenSize = 64;
  c.vocabSize = 32000;
  CHECK_THROWS_WITH_AS(checkDrafterMatchesModel(c, "d", m, "model.bin"),
                       doctest::Contains("vocab_size 32000 does not match the model's vocabulary size 512"), Error);
}

TEST_CASE("a few training steps lower the loss, deterministically") {
  // A learnable corpus: token x_{t+1} = (3 x_t + 1) mod V; hidden states encode the current token.
  const DrafterConfig c{16, 8, 16, 1, true};
  DistilledCorpus corpus;
  corpus.hiddenSize = c.hiddenSize;
  Rng rng(4);
  std::vector<float> emb(size_t(c.vocabSize) * c.hiddenSize);
  for (float& v : emb) v = float(rng.uniform() * 2 - 1);
  for (int s = 0; s < 20; s++) {
    int32_t t = int32_t(rng.nextU64() % c.vocabSize);
    for (int i = 0; i < 30; i++) {
      corpus.tokens.push_back(t);
      corpus.hidden.insert(corpus.hidden.end(), emb.begin() + t * c.hiddenSize, emb.begin() + (t + 1) * c.hiddenSize);
      t = (3 * t + 1) % c.vocabSize;
    }
    corpus.offsets.push_back(int64_t(corpus.tokens.size()));
  }
  TrainerOptions o;
  o.unroll = 3;
  o.batchSize = 64;
  o.steps = 60;
  o.learningRate = 1e-2;
  o.seed = 9;
  auto run = [&](int32_t threads) {
    o.threads = threads;
    DrafterTrainer t(initDrafterWeights(c, 9), emb, &corpus, o);
    const double before = t.evaluate(corpus, 1000).loss;
    for (int i = 0; i < 60; i++) t.step();
    const double after = t.evaluate(corpus, 1000).loss;
    return std::make_pair(std::make_pair(before, after), t.weights().data);
  };
  auto [l1, w1] = run(1);
  auto [l2, w2] = run(3);
  INFO("loss " << l1.first << " -> " << l1.second);
  CHECK(l1.second < 0.5 * l1.first);
  CHECK(w1 == w2);  // same seed, different threads: identical weights
}

TEST_CASE("acceptance replay counts the LLM token plus the longest matching drafted prefix") {
  // A drafter that always predicts token (last + 1) mod V greedily: lm_head reads the state, and the running-sum
  // state of one step is the embedding of the last token, a one-hot vector.
  const int32_t V = 8;
  DrafterConfig c{V, V, 2 * V, 0, false};
  DrafterWeights w = DrafterWeights::zeros(c);
  float* head = w.tensor("lm_head.0.weight");  // [V, 2V]: logit[v] = 10 * s[v-1]
  for (int32_t v = 0; v < V; v++) head[v * 2 * V + V + (v + V - 1) % V] = 10.0f;
  std::vector<float> emb(size_t(V * V), 0.0f);
  for (int32_t v = 0; v < V; v++) emb[v * V + v] = 1.0f;
  // With a running sum the state after step 2 is e(a) + e(a+1): logits tie between a+1 and a+2; only the first
  // drafted token is reliable, so use L = 2 (one drafted token).
  Drafter d(w, "counter");
  DistilledCorpus text;
  text.hiddenSize = V;
  text.tokens = {0, 1, 2, 3, 5, 6, 7, 0, 1};
  text.offsets = {0, int64_t(text.tokens.size())};
  text.hidden.assign(text.tokens.size() * V, 0.0f);
  AcceptanceStats a = measureGreedyAcceptance(d, tableEmbeddings(emb.data(), V, V), text, {1}, {1, 2});
  // From position 0 (LLM token 1): drafts 2 (match) -> 2 tokens; from position 2 (LLM token 3): drafts 4, text
  // has 5 -> 1; from 3 (LLM 5): drafts 6 (match) -> 2; from 5 (LLM 7): drafts 0 (match) -> 2; from 7 (LLM 1) -> 1.
  CHECK(a.steps == 5);
  CHECK(a.tokens == 8);
  CHECK(a.histogram == std::vector<int64_t>{0, 2, 3});
}

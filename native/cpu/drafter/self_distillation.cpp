#include "cpu/drafter/self_distillation.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/rng.h"

namespace redrafter::cpu {

namespace {

int32_t argmax(const float* logits, int32_t vocab) {
  int32_t best = 0;
  for (int32_t v = 1; v < vocab; v++)
    if (logits[v] > logits[best]) best = v;
  return best;
}

int32_t sample(const float* logits, int32_t vocab, double temperature, Rng& rng, std::vector<double>& probs) {
  if (temperature <= 0) return argmax(logits, vocab);
  probs.resize(size_t(vocab));
  const float mx = logits[argmax(logits, vocab)];
  double sum = 0;
  for (int32_t v = 0; v < vocab; v++) sum += probs[v] = std::exp(double(logits[v] - mx) / temperature);
  double u = rng.uniform() * sum;
  for (int32_t v = 0; v < vocab; v++) {
    u -= probs[v];
    if (u < 0) return v;
  }
  return vocab - 1;
}

struct Text {
  std::vector<int32_t> tokens;
  std::vector<float> hidden;  // [tokens, dim]; the last token's row stays zero (never computed, never used)
  int32_t promptLength = 0;
  int32_t sampledUntil = 0;   // greedy texts: tokens at indices below this are sampled, the rest greedy
  bool greedy = false;
  bool done = false;
  Rng rng;
  std::unique_ptr<KvCache> cache;
};

}  // namespace

SelfDistillation generateSelfDistillation(Transformer& model, const SelfDistillationOptions& o,
                                          const DistillProgress& progress) {
  const ModelConfig& c = model.config();
  RD_REQUIRE(o.sequences >= 1, "sequences", "must be >= 1");
  RD_REQUIRE(o.parallel >= 1, "parallel", "must be >= 1");
  RD_REQUIRE(o.minPrefix >= 0 && o.maxPrefix >= o.minPrefix, "maxPrefix", "must be >= minPrefix >= 0");
  const int32_t length = c.contextLength > 0 ? std::min(o.length, c.contextLength) : o.length;
  RD_REQUIRE(length >= 3, "length", "must be >= 3");
  for (const auto& p : o.prompts) {
    RD_REQUIRE(!p.empty() && int32_t(p.size()) < length, "prompts", "must be non-empty and shorter than length");
    for (int32_t t : p) RD_REQUIRE(t >= 0 && t < c.vocabSize, "prompts", "hold a token outside the vocabulary");
  }
  const int32_t V = c.vocabSize, D = c.dim;
  auto isStop = [&](int32_t t) { return std::find(o.stopTokens.begin(), o.stopTokens.end(), t) != o.stopTokens.end(); };

  SelfDistillation out;
  out.corpus.hiddenSize = D;
  const int64_t planned = int64_t(o.sequences) * length;
  int64_t done = 0;
  std::vector<double> probs;
  std::vector<float> logits, hidden;

  for (int32_t first = 0; first < o.sequences && !out.stopped; first += o.parallel) {
    const int32_t count = std::min(o.parallel, o.sequences - first);
    std::vector<Text> texts(static_cast<size_t>(count));
    // Prefill every text's prompt in one batched forward.
    std::vector<ForwardRequest> requests;
    for (int32_t i = 0; i < count; i++) {
      Text& t = texts[i];
      const uint64_t s = uint64_t(first + i);
      t.rng = Rng(o.seed * 0x9E3779B97F4A7C15ULL + s * 0xD1B54A32D192ED03ULL + 1);
      t.tokens = o.prompts.empty() ? std::vector<int32_t>{o.bos} : o.prompts[size_t(s % o.prompts.size())];
      t.promptLength = int32_t(t.tokens.size());
      t.greedy = t.rng.uniform() < o.greedyFraction;
      const int32_t prefix = o.minPrefix + int32_t(t.rng.nextU64() % uint64_t(o.maxPrefix - o.minPrefix + 1));
      t.sampledUntil = t.promptLength + prefix;
      t.cache = model.createCache(length);
      t.hidden.assign(size_t(length) * D, 0.0f);
      ForwardRequest r;
      r.cache = t.cache.get();
      r.tokens = t.tokens.data();
      r.tokenCount = int32_t(t.tokens.size());
      // The hidden state of every prompt token.
      r.hidden = t.hidden.data();
      requests.push_back(r);
    }
    // Logits of every prompt row too (only the last is used to choose the next token).
    std::vector<std::vector<float>> allLogits(static_cast<size_t>(count));
    for (int32_t i = 0; i < count; i++) {
      allLogits[i].resize(size_t(texts[i].promptLength) * V);
      requests[i].logits = allLogits[i].data();
    }
    model.forwardBatch(requests.data(), requests.size());
    std::vector<int32_t> next(static_cast<size_t>(count));
    auto choose = [&](Text& t, const float* l) {
      const int32_t pos = int32_t(t.tokens.size());  // index the chosen token will take
      const bool sampled = !t.greedy || pos < t.sampledUntil;
      return sample(l, V, sampled ? o.temperature : 0.0, t.rng, probs);
    };
    for (int32_t i = 0; i < count; i++) {
      Text& t = texts[i];
      next[i] = choose(t, allLogits[i].data() + size_t(t.promptLength - 1) * V);
      done += t.promptLength;
    }
    // Decode all texts of the group together until each is full or stopped.
    logits.resize(size_t(count) * V);
    for (;;) {
      requests.clear();
      std::vector<int32_t> active;
      for (int32_t i = 0; i < count; i++) {
        Text& t = texts[i];
        if (t.done) continue;
        t.tokens.push_back(next[i]);
        if (int32_t(t.tokens.size()) >= length || isStop(next[i])) {
          t.done = true;
          continue;
        }
        ForwardRequest r;
        r.cache = t.cache.get();
        r.tokens = &t.tokens.back();
        r.tokenCount = 1;
        r.logits = logits.data() + size_t(active.size()) * V;
        r.hidden = t.hidden.data() + (t.tokens.size() - 1) * D;
        requests.push_back(r);
        active.push_back(i);
      }
      if (active.empty()) break;
      model.forwardBatch(requests.data(), requests.size());
      for (size_t a = 0; a < active.size(); a++) next[active[a]] = choose(texts[active[a]], logits.data() + a * V);
      done += int64_t(active.size());
      if (progress && !progress(done, planned)) {
        out.stopped = true;
        break;
      }
    }
    if (out.stopped) break;
    for (Text& t : texts) {
      out.corpus.tokens.insert(out.corpus.tokens.end(), t.tokens.begin(), t.tokens.end());
      out.corpus.hidden.insert(out.corpus.hidden.end(), t.hidden.begin(), t.hidden.begin() + t.tokens.size() * D);
      out.corpus.offsets.push_back(int64_t(out.corpus.tokens.size()));
      out.promptLengths.push_back(t.promptLength);
      out.greedyFrom.push_back(t.greedy ? std::min(t.sampledUntil, int32_t(t.tokens.size())) : int32_t(t.tokens.size()));
    }
  }
  return out;
}

}  // namespace redrafter::cpu

#include "cpu/executor/drafter_source.h"

#include <algorithm>

#include "core/error.h"

namespace redrafter::cpu {

namespace {

class RecurrentDrafterSource : public DraftSource {
 public:
  RecurrentDrafterSource(std::shared_ptr<const Drafter> drafter, std::shared_ptr<const ModelWeights> model,
                         ParallelFor parallel)
      : drafter_(std::move(drafter)), embed_(modelEmbeddings(model)), parallel_(std::move(parallel)) {
    drafter_->checkMatches(model->config, model->path);
    tokenInputs_ = drafter_->makeTokenInputTable(embed_);  // the model's embeddings stay the same: rnn_w · E(t) once
  }
  int32_t maxBeamWidth() const override { return std::min<int32_t>(64, drafter_->config().vocabSize); }
  int32_t maxBeamLength() const override { return 16; }
  Draft draft(const float* hidden, int32_t lastToken, int32_t width, int32_t length, bool wantLogProbs) override {
    Draft d;
    d.beams.resize(size_t(width) * length);  // [1, W, L]
    if (wantLogProbs) d.logProbs.resize(size_t(width) * (length - 1) * drafter_->config().vocabSize);  // [1,W,L-1,V]
    DraftOptions o;
    o.width = width;
    o.length = length;
    drafter_->draft(hidden, &lastToken, 1, o, embed_, d.beams.data(), wantLogProbs ? d.logProbs.data() : nullptr,
                    nullptr, &scratch_, parallel_ ? &parallel_ : nullptr, tokenInputs_.get());
    return d;
  }
  std::vector<Draft> draftBatch(const float* hidden, const int32_t* lastTokens, int32_t batch, int32_t dim,
                                int32_t width, int32_t length, bool wantLogProbs) override {
    const size_t beamSize = size_t(width) * length;                                        // [W, L]
    const size_t logSize = size_t(width) * (length - 1) * drafter_->config().vocabSize;  // [W, L-1, V]
    std::vector<int32_t> beams(batch * beamSize);                                          // [batch, W, L]
    std::vector<float> logProbs(wantLogProbs ? batch * logSize : 0);                       // [batch, W, L-1, V]
    DraftOptions o;
    o.width = width;
    o.length = length;
    drafter_->draft(hidden, lastTokens, batch, o, embed_, beams.data(), wantLogProbs ? logProbs.data() : nullptr,
                    nullptr, &scratch_, parallel_ ? &parallel_ : nullptr, tokenInputs_.get());
    std::vector<Draft> out(batch);
    for (int32_t b = 0; b < batch; ++b) {
      out[b].beams.assign(beams.begin() + b * beamSize, beams.begin() + (b + 1) * beamSize);
      if (wantLogProbs) out[b].logProbs.assign(logProbs.begin() + b * logSize, logProbs.begin() + (b + 1) * logSize);
    }
    return out;
  }

 private:
  std::shared_ptr<const Drafter> drafter_;
  EmbeddingLookup embed_;
  ParallelFor parallel_;
  DraftScratch scratch_;  // the executor's worker thread drafts: one step at a time
  std::unique_ptr<TokenInputTable> tokenInputs_;  // null: none (no rnn, or too large)
};

}  // namespace

std::shared_ptr<DraftSource> makeDrafterSource(std::shared_ptr<const Drafter> drafter,
                                               std::shared_ptr<const ModelWeights> model, ParallelFor parallel) {
  RD_REQUIRE(drafter != nullptr, "drafter", "is missing");
  return std::make_shared<RecurrentDrafterSource>(std::move(drafter), std::move(model), std::move(parallel));
}

}  // namespace redrafter::cpu

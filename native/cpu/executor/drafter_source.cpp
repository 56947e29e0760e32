#include "cpu/executor/drafter_source.h"

#include <algorithm>
#include <string>

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
  void draftBatch(const float* hidden, const int32_t* lastTokens, int32_t batch, int32_t dim, int32_t width,
                  int32_t length, bool wantLogProbs, Draft* const* out) override {
    RD_REQUIRE(dim == drafter_->config().hiddenSize, "dim",
               "must be the drafter's hidden size " + std::to_string(drafter_->config().hiddenSize) + ", got " +
                   std::to_string(dim));
    const size_t beamSize = size_t(width) * length;                                        // [W, L]
    const size_t logSize = size_t(width) * (length - 1) * drafter_->config().vocabSize;  // [W, L-1, V]
    beams_.resize(batch * beamSize);                                                       // [batch, W, L]
    logProbs_.resize(wantLogProbs ? batch * logSize : 0);                                  // [batch, W, L-1, V]
    DraftOptions o;
    o.width = width;
    o.length = length;
    drafter_->draft(hidden, lastTokens, batch, o, embed_, beams_.data(), wantLogProbs ? logProbs_.data() : nullptr,
                    nullptr, &scratch_, parallel_ ? &parallel_ : nullptr, tokenInputs_.get());
    for (int32_t b = 0; b < batch; ++b) {
      out[b]->beams.assign(beams_.begin() + b * beamSize, beams_.begin() + (b + 1) * beamSize);
      if (wantLogProbs)
        out[b]->logProbs.assign(logProbs_.begin() + b * logSize, logProbs_.begin() + (b + 1) * logSize);
      else
        out[b]->logProbs.clear();
    }
  }

 private:
  std::shared_ptr<const Drafter> drafter_;
  EmbeddingLookup embed_;
  ParallelFor parallel_;
  // the executor's worker thread drafts, one step at a time: working memory reused from step to step
  DraftScratch scratch_;
  std::vector<int32_t> beams_;   // [batch, W, L]
  std::vector<float> logProbs_;  // [batch, W, L-1, V]
  std::unique_ptr<TokenInputTable> tokenInputs_;  // null: none (no rnn, or too large)
};

}  // namespace

std::shared_ptr<DraftSource> makeDrafterSource(std::shared_ptr<const Drafter> drafter,
                                               std::shared_ptr<const ModelWeights> model, ParallelFor parallel) {
  RD_REQUIRE(drafter != nullptr, "drafter", "is missing");
  return std::make_shared<RecurrentDrafterSource>(std::move(drafter), std::move(model), std::move(parallel));
}

}  // namespace redrafter::cpu

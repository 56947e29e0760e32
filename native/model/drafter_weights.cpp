#include "model/drafter_weights.h"

#include "core/error.h"
#include "core/finite.h"

namespace redrafter::model {

namespace {
// Generous upper bounds that keep every size computation inside int64 and catch garbage configs.
constexpr int32_t kMaxVocab = 1 << 22;
constexpr int32_t kMaxWidth = 1 << 16;
constexpr int32_t kMaxBlocks = 64;

void requirePositive(int32_t value, int32_t max, const char* field, const std::string& source) {
  if (value < 1 || value > max)
    fail(ErrorCode::InvalidModel, source + ": drafter " + field + " must be in [1, " + std::to_string(max) +
                                      "], got " + std::to_string(value));
}
}  // namespace

void validateDrafterConfig(const DrafterConfig& c, const std::string& source) {
  requirePositive(c.vocabSize, kMaxVocab, "vocab_size", source);
  requirePositive(c.hiddenSize, kMaxWidth, "hidden_size", source);
  requirePositive(c.exitDim, kMaxWidth, "exit_dim", source);
  if (c.numDraftLayers < 0 || c.numDraftLayers > kMaxBlocks)
    fail(ErrorCode::InvalidModel, source + ": drafter num_draft_layers must be in [0, " +
                                      std::to_string(kMaxBlocks) + "], got " + std::to_string(c.numDraftLayers));
}

void requireFiniteWeights(const DrafterWeights& w, const std::string& source) {
  for (const auto& spec : w.specs) {
    const size_t n = size_t(spec.elements());
    if (spec.offset + n > w.data.size()) continue;  // a size mismatch: reported by whoever checks the sizes
    const size_t i = firstNonFinite(w.data.data() + spec.offset, n);
    if (i < n)
      fail(ErrorCode::InvalidModel, source + ": tensor " + spec.name + " holds a non-finite value (" +
                                        std::to_string(w.data[spec.offset + i]) + ") at index " + std::to_string(i));
  }
}

void checkDrafterMatchesModel(const DrafterConfig& drafter, const std::string& drafterSource,
                              const ModelConfig& model, const std::string& modelSource) {
  const std::string where = modelSource.empty() ? "" : " (" + modelSource + ")";
  if (drafter.hiddenSize != model.dim)
    fail(ErrorCode::InvalidModel, drafterSource + ": drafter hidden_size " + std::to_string(drafter.hiddenSize) +
                                      " does not match the model's hidden size " + std::to_string(model.dim) + where);
  if (drafter.vocabSize != model.vocabSize)
    fail(ErrorCode::InvalidModel, drafterSource + ": drafter vocab_size " + std::to_string(drafter.vocabSize) +
                                      " does not match the model's vocabulary size " +
                                      std::to_string(model.vocabSize) + where);
}

std::vector<DrafterTensorSpec> drafterTensorSpecs(const DrafterConfig& c) {
  std::vector<DrafterTensorSpec> specs;
  size_t offset = 0;
  auto add = [&](std::string name, int64_t rows, int64_t cols, int32_t rank) {
    DrafterTensorSpec s;
    s.name = std::move(name);
    s.rows = rows;
    s.cols = cols;
    s.rank = rank;
    s.offset = offset;
    offset += size_t(rows * cols);
    specs.push_back(std::move(s));
  };
  if (c.hasInputProj()) {
    add("input_proj.weight", c.exitDim, 2 * int64_t(c.hiddenSize), 2);
    add("input_proj.bias", 1, c.exitDim, 1);
  }
  for (int32_t i = 0; i < c.numDraftLayers; i++) {
    add("lm_head." + std::to_string(i) + ".linear.weight", c.exitDim, c.exitDim, 2);
    add("lm_head." + std::to_string(i) + ".linear.bias", 1, c.exitDim, 1);
  }
  add("lm_head." + std::to_string(c.numDraftLayers) + ".weight", c.vocabSize, c.exitDim, 2);
  if (c.rnn) {
    add("rnn_u.weight", c.hiddenSize, c.hiddenSize, 2);
    add("rnn_u.bias", 1, c.hiddenSize, 1);
    add("rnn_w.weight", c.hiddenSize, c.hiddenSize, 2);
  }
  return specs;
}

DrafterWeights DrafterWeights::zeros(const DrafterConfig& config, const std::string& source) {
  validateDrafterConfig(config, source);
  DrafterWeights w;
  w.config = config;
  w.specs = drafterTensorSpecs(config);
  const DrafterTensorSpec& last = w.specs.back();
  w.data.assign(last.offset + size_t(last.elements()), 0.0f);
  return w;
}

const DrafterTensorSpec* DrafterWeights::find(const std::string& name) const {
  for (const auto& s : specs)
    if (s.name == name) return &s;
  return nullptr;
}

float* DrafterWeights::tensor(const std::string& name) {
  const DrafterTensorSpec* s = find(name);
  if (!s) fail(ErrorCode::Internal, "drafter tensor " + name + " does not exist");
  return data.data() + s->offset;
}

const float* DrafterWeights::tensor(const std::string& name) const {
  return const_cast<DrafterWeights*>(this)->tensor(name);
}

}  // namespace redrafter::model

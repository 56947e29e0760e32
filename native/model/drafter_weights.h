// The weights of Apple's recurrent drafter (apple/ml-recurrent-drafter `Drafter`), in its tensor layout:
//   input_proj.weight [exit_dim, 2*hidden_size], input_proj.bias [exit_dim]   only when exit_dim != 2*hidden_size
//   lm_head.{i}.linear.weight [exit_dim, exit_dim], lm_head.{i}.linear.bias [exit_dim]   i < num_draft_layers
//   lm_head.{num_draft_layers}.weight [vocab_size, exit_dim]                   the drafter's vocabulary projection
//   rnn_u.weight [hidden_size, hidden_size], rnn_u.bias [hidden_size], rnn_w.weight [hidden_size, hidden_size]
//                                                                              only when rnn
// Matrices are row-major [out, in] (torch.nn.Linear). All tensors live in one flat float32 buffer (so training can
// treat them as one parameter vector), in the order listed above.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/weights.h"

namespace redrafter::model {

struct DrafterConfig {
  int32_t vocabSize = 0;
  int32_t hiddenSize = 0;   // the LLM's hidden size (dim)
  int32_t exitDim = 0;      // width of the residual blocks
  int32_t numDraftLayers = 0;  // residual blocks
  bool rnn = true;
  bool hasInputProj() const { return exitDim != 2 * hiddenSize; }
};

// Throws InvalidModel naming `source` and the field unless every size is positive and sane.
void validateDrafterConfig(const DrafterConfig& config, const std::string& source);

struct DrafterWeights;
// Throws InvalidModel naming `source`, the tensor and the index unless every weight is finite (no NaN, no infinity).
void requireFiniteWeights(const DrafterWeights& weights, const std::string& source);

// Throws InvalidModel unless the drafter was made for this LLM: the message names both values, e.g.
// "<source>: drafter hidden_size 32 does not match the model's hidden size 64 (<model path>)" (no parenthesis when
// modelSource is empty).
void checkDrafterMatchesModel(const DrafterConfig& drafter, const std::string& drafterSource,
                              const ModelConfig& model, const std::string& modelSource);

struct DrafterTensorSpec {
  std::string name;
  int64_t rows = 0;  // 1 for vectors
  int64_t cols = 0;
  int32_t rank = 2;  // 1 for biases (shape [cols])
  size_t offset = 0;  // in floats, into DrafterWeights::data
  int64_t elements() const { return rows * cols; }
};

// Every tensor of a drafter with this config, in the canonical order, with offsets into one flat buffer.
std::vector<DrafterTensorSpec> drafterTensorSpecs(const DrafterConfig& config);

struct DrafterWeights {
  DrafterConfig config;
  std::vector<DrafterTensorSpec> specs;
  std::vector<float> data;  // all tensors, flat

  // Zero-filled weights for `config` (validated; source names it in errors).
  static DrafterWeights zeros(const DrafterConfig& config, const std::string& source = "drafter");

  const DrafterTensorSpec* find(const std::string& name) const;
  float* tensor(const std::string& name);              // throws Internal if absent
  const float* tensor(const std::string& name) const;

  // Pointers into a flat buffer laid out as `specs` (the weights, or gradients / optimiser moments of the same
  // shape); null where the tensor does not exist for this config.
  template <class T>
  struct Views {
    T* inputProjWeight = nullptr;  // [exitDim, 2*hiddenSize]
    T* inputProjBias = nullptr;    // [exitDim]
    std::vector<T*> blockWeight;   // numDraftLayers x [exitDim, exitDim]
    std::vector<T*> blockBias;     // numDraftLayers x [exitDim]
    T* lmHead = nullptr;           // [vocabSize, exitDim]
    T* rnnUWeight = nullptr;       // [hiddenSize, hiddenSize]
    T* rnnUBias = nullptr;         // [hiddenSize]
    T* rnnWWeight = nullptr;       // [hiddenSize, hiddenSize]
  };
  Views<const float> views() const { return viewsOf<const float>(data.data()); }
  template <class T>
  Views<T> viewsOf(T* buffer) const {
    Views<T> v;
    auto at = [&](const std::string& name) -> T* {
      const DrafterTensorSpec* s = find(name);
      return s ? buffer + s->offset : nullptr;
    };
    v.inputProjWeight = at("input_proj.weight");
    v.inputProjBias = at("input_proj.bias");
    for (int32_t i = 0; i < config.numDraftLayers; i++) {
      v.blockWeight.push_back(at("lm_head." + std::to_string(i) + ".linear.weight"));
      v.blockBias.push_back(at("lm_head." + std::to_string(i) + ".linear.bias"));
    }
    v.lmHead = at("lm_head." + std::to_string(config.numDraftLayers) + ".weight");
    v.rnnUWeight = at("rnn_u.weight");
    v.rnnUBias = at("rnn_u.bias");
    v.rnnWWeight = at("rnn_w.weight");
    return v;
  }
};

}  // namespace redrafter::model

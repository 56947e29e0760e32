// The format-specific model loaders behind loadModelWeights (weights.h), and the checks they share.
#pragma once
#include <memory>
#include <string>

#include "model/mapped_file.h"
#include "model/weights.h"

namespace redrafter::model {

// Largest values any loader accepts, far above real models, so that sizes computed from them fit in int64 and
// are checked against the file size before anything is allocated.
constexpr int64_t kMaxDim = 1 << 16;
constexpr int64_t kMaxHiddenDim = 1 << 20;
constexpr int64_t kMaxLayers = 4096;
constexpr int64_t kMaxVocab = 1 << 24;
constexpr int64_t kMaxContext = 1 << 24;

// Throws InvalidModel naming `path` unless `config` describes a consistent LLaMA model.
void validateConfig(const ModelConfig& config, const std::string& path);

// llama2.c checkpoints: legacy version 0 (no magic), "ak42" version 1 (float32) and version 2 (runq int8).
std::shared_ptr<ModelWeights> loadLlama2c(const std::shared_ptr<MappedFile>& file);

// GGUF v2/v3 `llama` models (gguf_model.cpp).
std::shared_ptr<ModelWeights> loadGgufModel(const std::shared_ptr<MappedFile>& file);
class GgufFile;
// The llama.* hyperparameters of a GGUF (validated; vocabulary from token_embd.weight).
ModelConfig ggufModelConfig(const GgufFile& gguf);

}  // namespace redrafter::model

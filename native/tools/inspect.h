// `redrafter inspect`: what a model or tokenizer file holds (format, config, tensors, metadata, tokenizer).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/weights.h"

namespace redrafter::tools {

using model::ModelConfig;

struct TensorSummary {
  std::string name;
  std::string type;            // f32, f16, bf16, q8_0, q8_g_f32, or a ggml type name
  std::vector<int64_t> shape;  // outermost first (rows, cols), whatever order the file stores
  uint64_t bytes = 0;
  uint64_t offset = 0;         // in the file
};

struct TokenizerSummary {
  std::string format;  // "llama2c" or "gguf"
  int32_t vocabSize = 0;
  int32_t bos = -1, eos = -1, unk = -1;
  int32_t normal = 0, control = 0, byte = 0, unknown = 0, other = 0;
  int32_t maxTokenLength = 0;
  bool addBos = true, addSpacePrefix = true;
};

struct MetadataEntry {
  std::string key;
  std::string type;   // GGUF value type ("array[string]" for arrays)
  std::string value;  // rendered; arrays as their length and first elements
};

struct FileSummary {
  std::string path;
  std::string kind;    // "model" or "tokenizer"
  std::string format;  // "llama2c", "llama2c-q8", "gguf", tokenizer: "llama2c"
  uint64_t fileBytes = 0;
  uint32_t version = 0;  // llama2.c checkpoint version or GGUF version
  std::optional<ModelConfig> config;
  // What the file says it is, whether redrafter runs it or not: GGUF general.architecture ("llama" for llama2.c),
  // tokenizer.ggml.model and tokenizer.ggml.pre ("" when absent), whether tokenizer.chat_template is present.
  std::string architecture, tokenizerModel, tokenizerPre;
  bool chatTemplate = false;
  // The loaders' verdict: a model file the engines' loader accepts (with its tokenizer, for a GGUF that carries one),
  // else the loaders' reasons (UNSUPPORTED errors, e.g. `general.architecture = "mamba" is not supported ...`).
  bool runnable = false;
  std::string unsupported;  // why redrafter cannot run this model, "; "-separated, else empty
  std::vector<TensorSummary> tensors;
  std::optional<TokenizerSummary> tokenizer;
  std::vector<MetadataEntry> metadata;
};

// Throws InvalidModel naming the file when it is neither a model we read nor a tokenizer.
FileSummary inspectFile(const std::string& path);

}  // namespace redrafter::tools

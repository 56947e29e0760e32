// `redrafter convert`: any model file we load (llama2.c v0/v1/v2, GGUF) plus a tokenizer -> a GGUF v3 `llama`
// file that llama.cpp loads, with matrices in one type (f32, f16, bf16, q8_0) and norms in f32.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace redrafter::model {
class GgufWriter;
struct ModelConfig;
}  // namespace redrafter::model
namespace redrafter::tokenizer {
class Tokenizer;
}  // namespace redrafter::tokenizer

namespace redrafter::tools {

struct ConvertOptions {
  std::string modelPath;
  std::string tokenizerPath;  // a tokenizer.bin or GGUF; empty: the model's own (GGUF models only)
  std::string outPath;
  std::string type = "f32";   // f32 | f16 | bf16 | q8_0
  uint32_t alignment = 32;    // general.alignment: a power of two (GGUF's default is 32)
  std::string chatTemplate;   // tokenizer.chat_template to write; empty: the tokenizer's own (a GGUF's), if any
  // Called (on the converting thread) after each tensor is written: tensors done, tensors in all.
  std::function<void(int32_t done, int32_t total)> progress;
};

struct ConvertResult {
  std::string outPath;
  std::string type;
  uint64_t bytes = 0;
  int32_t tensors = 0;
  // Tensors that could not take the asked-for type (q8_0 needs a multiple of 32 columns) and were written as f16.
  std::vector<std::string> fallbacks;
};

using model::GgufWriter;
using model::ModelConfig;
using tokenizer::Tokenizer;

// The GGUF metadata of a `llama` model with this config and tokenizer (architecture, shape, RoPE, norm epsilon,
// the full SentencePiece vocabulary and the tokenizer's chat template), as convertToGguf writes it; fileType is general.file_type (0 f32, 1 f16,
// 7 q8_0, 32 bf16), alignment general.alignment and chatTemplate tokenizer.chat_template (empty: the tokenizer's own). Throws InvalidModel (naming the tokenizer file and modelPath) when the vocabularies differ or
// two tokens have the same text (GGUF forbids it).
void addLlamaMetadata(GgufWriter& w, const ModelConfig& c, const Tokenizer& tokenizer, const std::string& modelPath,
                      const std::string& name, uint32_t fileType, uint32_t alignment = 32,
                      const std::string& chatTemplate = "");

// Throws InvalidArgument (bad type, same input and output), InvalidModel (bad inputs, naming the file), Io.
ConvertResult convertToGguf(const ConvertOptions& options);

}  // namespace redrafter::tools

// `redrafter convert`: any model file we load (llama2.c v0/v1/v2, GGUF llama/qwen2/qwen3) plus a tokenizer -> a
// GGUF v3 file of the same architecture that llama.cpp loads, with matrices in one type (f32, f16, bf16, q8_0, q4_0,
// q4_k, q5_k, q6_k) or llama.cpp's q4_k_m mix of q4_k and q6_k (convert.cpp: matrixType), and vectors (norms,
// biases, rope_freqs) in f32. Any input converts, quantised GGUFs included (dequantised, then re-quantised).
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
struct Vocab;
}  // namespace redrafter::tokenizer

namespace redrafter::tools {

struct ConvertOptions {
  std::string modelPath;
  std::string tokenizerPath;  // a tokenizer.bin or GGUF; empty: the model's own (GGUF models only)
  std::string outPath;
  std::string type = "f32";   // f32 | f16 | bf16 | q8_0 | q4_0 | q4_k | q5_k | q6_k | q4_k_m
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
  // Tensors that could not take the asked-for type (its block does not divide their columns: 32 for q8_0/q4_0,
  // 256 for the k types) and were written as q8_0 (when 32 divides them) or f16.
  std::vector<std::string> fallbacks;
};

using model::GgufWriter;
using model::ModelConfig;
using tokenizer::Tokenizer;
using tokenizer::Vocab;

// The tokenizer.ggml.* metadata of `vocab` as llama.cpp reads it (SentencePiece: tokens, scores, types, space
// prefix; byte-level BPE: tokens, types, merges, pre-tokenizer), BOS/EOS/UNK ids, add_bos/add_eos, and
// tokenizer.chat_template when not empty. Throws InvalidModel naming `source` when two tokens share a text.
void addVocabularyMetadata(GgufWriter& w, const Vocab& vocab, const std::string& chatTemplate,
                           const std::string& source);

// general.* and the <architecture>.* hyperparameters of `c` (shape, RoPE base, norm epsilon).
void addArchitectureMetadata(GgufWriter& w, const ModelConfig& c, const std::string& name, uint32_t fileType,
                             uint32_t alignment = 32);

// The GGUF metadata of a model with this config and tokenizer (architecture, shape, RoPE, norm epsilon, under the
// config's architecture's key prefix; the tokenizer's vocabulary and chat template: addVocabularyMetadata), as convertToGguf writes it; fileType is general.file_type (0 f32, 1 f16,
// 7 q8_0, 32 bf16, 2 q4_0, 14 q4_k, 15 q4_k_m, 16 q5_k, 18 q6_k), alignment general.alignment and chatTemplate tokenizer.chat_template (empty: the tokenizer's own). Throws InvalidModel (naming the tokenizer file and modelPath) when the vocabularies differ or
// two tokens have the same text (GGUF forbids it).
void addLlamaMetadata(GgufWriter& w, const ModelConfig& c, const Tokenizer& tokenizer, const std::string& modelPath,
                      const std::string& name, uint32_t fileType, uint32_t alignment = 32,
                      const std::string& chatTemplate = "");

// Throws InvalidArgument naming the valid types unless `type` is one ConvertOptions::type takes.
void checkConvertType(const std::string& type);

// Throws InvalidArgument (bad type, same input and output), InvalidModel (bad inputs, naming the file), Io.
ConvertResult convertToGguf(const ConvertOptions& options);

}  // namespace redrafter::tools

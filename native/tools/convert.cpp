#include "tools/convert.h"

#include <cstring>
#include <unordered_map>

#include "core/error.h"
#include "model/dequantize.h"
#include "model/gguf_writer.h"
#include "model/half.h"
#include "model/mapped_file.h"
#include "tokenizer/tokenizer.h"

namespace redrafter::tools {

using namespace redrafter::model;
using redrafter::tokenizer::TokenType;
using redrafter::tokenizer::Tokenizer;
using redrafter::tokenizer::Vocab;

namespace {

struct TargetType {
  GgmlType ggml;
  uint32_t fileType;  // general.file_type (llama_ftype)
};

TargetType parseType(const std::string& type) {
  if (type == "f32") return {GgmlType::F32, 0};
  if (type == "f16") return {GgmlType::F16, 1};
  if (type == "q8_0") return {GgmlType::Q8_0, 7};
  if (type == "bf16") return {GgmlType::BF16, 32};
  fail(ErrorCode::InvalidArgument, "type must be one of f32, f16, bf16, q8_0 (got '" + type + "')");
}

// Row-by-row conversion of `t` [rows, cols] into `type`.
GgufWriter::Producer matrixProducer(const TensorView& t, GgmlType type) {
  return [t, type](std::vector<uint8_t>& bytes) {
    std::vector<float> row(size_t(t.cols));
    const int64_t cols = t.cols;
    const size_t rowBytes = type == GgmlType::F32 ? 4 * cols
                            : type == GgmlType::Q8_0 ? 34 * (cols / 32)
                                                     : 2 * cols;
    bytes.resize(rowBytes * size_t(t.rows));
    for (int64_t r = 0; r < t.rows; ++r) {
      dequantizeRow(t, r, row.data());
      uint8_t* out = bytes.data() + rowBytes * r;
      switch (type) {
        case GgmlType::F32: std::memcpy(out, row.data(), rowBytes); break;
        case GgmlType::F16:
        case GgmlType::BF16:
          for (int64_t i = 0; i < cols; ++i) {
            uint16_t h = type == GgmlType::F16 ? f32ToFp16(row[i]) : f32ToBf16(row[i]);
            std::memcpy(out + 2 * i, &h, 2);
          }
          break;
        case GgmlType::Q8_0: quantizeQ8_0(row.data(), cols, out); break;
        default: fail(ErrorCode::Internal, "convert: unexpected type");
      }
    }
  };
}

}  // namespace

void addVocabularyMetadata(GgufWriter& w, const Vocab& vocab, const std::string& chatTemplate,
                           const std::string& source) {
  {  // llama.cpp requires unique token texts
    std::unordered_map<std::string, int32_t> seen;
    for (int32_t id = 0; id < vocab.size(); ++id) {
      auto [it, inserted] = seen.emplace(vocab.tokens[id].text, id);
      if (!inserted)
        fail(ErrorCode::InvalidModel, source + ": tokens " + std::to_string(it->second) + " and " +
                                          std::to_string(id) + " have the same text, which GGUF does not allow");
    }
  }
  const bool bpe = vocab.model == tokenizer::VocabModel::Bpe;
  w.setString("tokenizer.ggml.model", tokenizer::vocabModelName(vocab.model));
  if (bpe) w.setString("tokenizer.ggml.pre", vocab.pre);
  std::vector<std::string> texts;
  std::vector<float> scores;
  std::vector<int32_t> types;
  for (const auto& t : vocab.tokens) {
    texts.push_back(t.text);
    scores.push_back(t.score);
    types.push_back(int32_t(t.type == TokenType::Undefined ? TokenType::Normal : t.type));
  }
  w.setStringArray("tokenizer.ggml.tokens", texts);
  if (!bpe) w.setF32Array("tokenizer.ggml.scores", scores);
  w.setI32Array("tokenizer.ggml.token_type", types);
  if (bpe) w.setStringArray("tokenizer.ggml.merges", vocab.merges);
  w.setU32("tokenizer.ggml.bos_token_id", uint32_t(vocab.bos));
  w.setU32("tokenizer.ggml.eos_token_id", uint32_t(vocab.eos));
  if (vocab.unk >= 0) w.setU32("tokenizer.ggml.unknown_token_id", uint32_t(vocab.unk));
  w.setBool("tokenizer.ggml.add_bos_token", vocab.addBos);
  w.setBool("tokenizer.ggml.add_eos_token", vocab.addEos);
  if (!bpe) w.setBool("tokenizer.ggml.add_space_prefix", vocab.addSpacePrefix);
  if (!chatTemplate.empty()) w.setString("tokenizer.chat_template", chatTemplate);
}

void addArchitectureMetadata(GgufWriter& w, const ModelConfig& c, const std::string& name, uint32_t fileType,
                             uint32_t alignment) {
  const std::string arch = model::architectureName(c.architecture);
  const std::string a = arch + ".";
  w.setString("general.architecture", arch);
  w.setString("general.name", name.empty() ? arch : name);
  w.setU32("general.file_type", fileType);
  w.setU32("general.quantization_version", 2);
  w.setU32("general.alignment", alignment);
  w.setU32(a + "vocab_size", uint32_t(c.vocabSize));
  w.setU32(a + "context_length", uint32_t(c.contextLength));
  w.setU32(a + "embedding_length", uint32_t(c.dim));
  w.setU32(a + "feed_forward_length", uint32_t(c.hiddenDim));
  w.setU32(a + "block_count", uint32_t(c.nLayers));
  w.setU32(a + "attention.head_count", uint32_t(c.nHeads));
  w.setU32(a + "attention.head_count_kv", uint32_t(c.nKvHeads));
  if (c.headSize != 0) {  // heads wider than dim / heads
    w.setU32(a + "attention.key_length", uint32_t(c.headSize));
    w.setU32(a + "attention.value_length", uint32_t(c.headSize));
  }
  w.setU32(a + "rope.dimension_count", uint32_t(c.headDim()));
  w.setF32(a + "rope.freq_base", c.ropeTheta);
  w.setF32(a + "attention.layer_norm_rms_epsilon", c.normEps);
}

void addLlamaMetadata(GgufWriter& w, const ModelConfig& c, const Tokenizer& tokenizer, const std::string& modelPath,
                      const std::string& name, uint32_t fileType, uint32_t alignment, const std::string& chatTemplate) {
  const Vocab& vocab = tokenizer.vocab();
  if (vocab.size() != c.vocabSize)
    fail(ErrorCode::InvalidModel, tokenizer.path() + ": the tokenizer has " + std::to_string(vocab.size()) +
                                      " tokens but the model " + modelPath + " has a vocabulary of " +
                                      std::to_string(c.vocabSize));
  addArchitectureMetadata(w, c, name, fileType, alignment);
  addVocabularyMetadata(w, vocab, chatTemplate.empty() ? tokenizer.chatTemplate() : chatTemplate, tokenizer.path());
}

ConvertResult convertToGguf(const ConvertOptions& o) {
  TargetType target = parseType(o.type);
  if (o.outPath.empty()) fail(ErrorCode::InvalidArgument, "out must be a file path");
  if (o.alignment == 0 || o.alignment > 4096 || (o.alignment & (o.alignment - 1)) != 0)
    fail(ErrorCode::InvalidArgument, "alignment must be a power of two up to 4096");
  if (o.outPath == o.modelPath || o.outPath == o.tokenizerPath)
    fail(ErrorCode::InvalidArgument, "out must differ from the input files (" + o.outPath + ")");
  auto weights = loadModelWeights(o.modelPath);
  std::shared_ptr<const Tokenizer> tokenizer;
  if (!o.tokenizerPath.empty()) {
    tokenizer = Tokenizer::load(o.tokenizerPath);
  } else if (weights->format == "gguf") {
    tokenizer = Tokenizer::load(o.modelPath);
  } else {
    fail(ErrorCode::InvalidArgument, "tokenizer is required for " + o.modelPath + " (a llama2.c checkpoint has none)");
  }
  const ModelConfig& c = weights->config;
  GgufWriter w;
  std::string name = o.modelPath.substr(o.modelPath.find_last_of("/\\") + 1);
  name = name.substr(0, name.find_last_of('.'));
  addLlamaMetadata(w, c, *tokenizer, o.modelPath, name, target.fileType, o.alignment, o.chatTemplate);

  ConvertResult result;
  result.outPath = o.outPath;
  result.type = o.type;
  auto matrix = [&](const std::string& tensorName, const TensorView& t) {
    GgmlType type = target.ggml;
    if (type == GgmlType::Q8_0 && t.cols % 32 != 0) {
      type = GgmlType::F16;
      result.fallbacks.push_back(tensorName);
    }
    w.addTensor(tensorName, type, {uint64_t(t.cols), uint64_t(t.rows)}, matrixProducer(t, type));
  };
  auto norm = [&](const std::string& tensorName, const TensorView& t) {
    w.addTensor(tensorName, GgmlType::F32, {uint64_t(t.cols)}, matrixProducer(t, GgmlType::F32));
  };
  matrix("token_embd.weight", weights->tokenEmbedding);
  norm("output_norm.weight", weights->finalNorm);
  if (!c.tiedClassifier) matrix("output.weight", weights->output);
  for (int32_t l = 0; l < c.nLayers; ++l) {
    const LayerWeights& L = weights->layers[l];
    std::string p = "blk." + std::to_string(l) + ".";
    norm(p + "attn_norm.weight", L.attnNorm);
    matrix(p + "attn_q.weight", L.wq);
    matrix(p + "attn_k.weight", L.wk);
    matrix(p + "attn_v.weight", L.wv);
    matrix(p + "attn_output.weight", L.wo);
    norm(p + "ffn_norm.weight", L.ffnNorm);
    matrix(p + "ffn_gate.weight", L.w1);
    matrix(p + "ffn_down.weight", L.w2);
    matrix(p + "ffn_up.weight", L.w3);
    for (auto [suffix, t] : {std::pair<const char*, const TensorView*>{"attn_q.bias", &L.bq}, {"attn_k.bias", &L.bk},
                             {"attn_v.bias", &L.bv}, {"attn_q_norm.weight", &L.qNorm}, {"attn_k_norm.weight", &L.kNorm}})
      if (!t->empty()) norm(p + suffix, *t);
  }
  if (!weights->ropeFreqs.empty()) norm("rope_freqs.weight", weights->ropeFreqs);
  result.tensors = int32_t(w.tensorCount());
  w.write(o.outPath, o.alignment, o.progress);
  result.bytes = MappedFile::open(o.outPath)->size();
  return result;
}

}  // namespace redrafter::tools

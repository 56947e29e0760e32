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

// --type: one matrix type for every matrix, or llama.cpp's q4_k_m mix (mixed = true, ggml = Q4_K).
struct TargetType {
  GgmlType ggml;
  uint32_t fileType;  // general.file_type (llama_ftype)
  bool mixed = false;
};

TargetType parseType(const std::string& type) {
  if (type == "f32") return {GgmlType::F32, 0};
  if (type == "f16") return {GgmlType::F16, 1};
  if (type == "q8_0") return {GgmlType::Q8_0, 7};
  if (type == "bf16") return {GgmlType::BF16, 32};
  if (type == "q4_0") return {GgmlType::Q4_0, 2};
  if (type == "q4_k") return {GgmlType::Q4_K, 14};  // llama.cpp has no all-Q4_K ftype: Q4_K_S's id
  if (type == "q5_k") return {GgmlType::Q5_K, 16};  // likewise Q5_K_S's
  if (type == "q6_k") return {GgmlType::Q6_K, 18};
  if (type == "q4_k_m") return {GgmlType::Q4_K, 15, true};
  fail(ErrorCode::InvalidArgument,
       "type must be one of f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k, q4_k_m (got '" + type + "')");
}

DType dtypeOf(GgmlType type) {
  switch (type) {
    case GgmlType::F32: return DType::F32;
    case GgmlType::F16: return DType::F16;
    case GgmlType::BF16: return DType::BF16;
    case GgmlType::Q8_0: return DType::Q8_0;
    case GgmlType::Q4_0: return DType::Q4_0;
    case GgmlType::Q4_K: return DType::Q4_K;
    case GgmlType::Q5_K: return DType::Q5_K;
    case GgmlType::Q6_K: return DType::Q6_K;
    default: fail(ErrorCode::Internal, "convert: unexpected type");
  }
}

// llama.cpp's use_more_bits: the first and last eighth of the layers and every third one between them.
bool useMoreBits(int32_t layer, int32_t layers) {
  return layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
}

// The type of one matrix. q4_k_m follows llama.cpp's llama_tensor_get_type for Q4_K_M (no importance matrix, no
// experts): the classifier (output.weight, or token_embd.weight when the embeddings are tied) Q6_K; attn_v and
// ffn_down Q6_K in the layers useMoreBits picks, Q4_K elsewhere; everything else Q4_K. A matrix whose columns are
// not whole blocks falls back (llama.cpp's tensor_type_fallback): Q6_K to Q8_0; Q4_K and Q5_K to Q8_0 (llama.cpp
// picks Q5_0/Q5_1, which this project does not read); anything to F16 when even 32 does not divide the columns.
GgmlType matrixType(const TargetType& target, const std::string& name, bool classifier, int32_t layer,
                    int32_t layers, int64_t cols) {
  GgmlType type = target.ggml;
  if (target.mixed) {
    const bool v = name.find(".attn_v.weight") != std::string::npos;
    const bool down = name.find(".ffn_down.weight") != std::string::npos;
    if (classifier || ((v || down) && useMoreBits(layer, layers))) type = GgmlType::Q6_K;
  }
  const GgmlTypeTraits* traits = ggmlTypeTraits(uint32_t(type));
  if (cols % traits->blockSize != 0) type = cols % 32 == 0 ? GgmlType::Q8_0 : GgmlType::F16;
  return type;
}

// Row-by-row conversion of `t` [rows, cols] into `type`.
GgufWriter::Producer matrixProducer(const TensorView& t, GgmlType type) {
  return [t, type](std::vector<uint8_t>& bytes) {
    std::vector<float> row(size_t(t.cols));
    const int64_t cols = t.cols;
    const DType dtype = dtypeOf(type);
    const BlockFormat f = blockFormat(dtype);
    const size_t rowBytes = size_t(cols / f.elements * f.bytes);
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
        default: quantizeRow(dtype, row.data(), cols, out); break;
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

void checkConvertType(const std::string& type) { parseType(type); }

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
  auto matrix = [&](const std::string& tensorName, const TensorView& t, int32_t layer = -1) {
    const bool classifier = tensorName == "output.weight" || (c.tiedClassifier && tensorName == "token_embd.weight");
    const GgmlType type = matrixType(target, tensorName, classifier, layer, c.nLayers, t.cols);
    const GgmlTypeTraits* traits = ggmlTypeTraits(uint32_t(target.ggml));
    if (t.cols % traits->blockSize != 0) result.fallbacks.push_back(tensorName);
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
    matrix(p + "attn_q.weight", L.wq, l);
    matrix(p + "attn_k.weight", L.wk, l);
    matrix(p + "attn_v.weight", L.wv, l);
    matrix(p + "attn_output.weight", L.wo, l);
    norm(p + "ffn_norm.weight", L.ffnNorm);
    matrix(p + "ffn_gate.weight", L.w1, l);
    matrix(p + "ffn_down.weight", L.w2, l);
    matrix(p + "ffn_up.weight", L.w3, l);
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

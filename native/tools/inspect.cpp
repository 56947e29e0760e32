#include "tools/inspect.h"

#include <cstring>
#include <sstream>

#include "core/error.h"
#include "model/gguf_reader.h"
#include "model/loaders.h"
#include "tokenizer/tokenizer.h"

namespace redrafter::tools {

using namespace redrafter::model;
using redrafter::tokenizer::TokenType;
using redrafter::tokenizer::Tokenizer;
using redrafter::tokenizer::Vocab;

namespace {

// The message of `e` without the leading "<path>: ".
std::string problemOf(const Error& e, const std::string& path) {
  std::string m = e.what();
  return m.compare(0, path.size() + 2, path + ": ") == 0 ? m.substr(path.size() + 2) : m;
}

TokenizerSummary summarise(const Tokenizer& t) {
  TokenizerSummary s;
  const Vocab& v = t.vocab();
  s.format = t.format();
  s.vocabSize = v.size();
  s.bos = v.bos;
  s.eos = v.eos;
  s.unk = v.unk;
  s.maxTokenLength = v.maxTokenLength;
  s.addBos = v.addBos;
  s.addSpacePrefix = v.addSpacePrefix;
  for (const auto& token : v.tokens) {
    switch (token.type) {
      case TokenType::Normal: ++s.normal; break;
      case TokenType::Control: ++s.control; break;
      case TokenType::Byte: ++s.byte; break;
      case TokenType::Unknown: ++s.unknown; break;
      default: ++s.other; break;
    }
  }
  return s;
}

std::string scalarText(const GgufValue& v, GgufType type) {
  switch (type) {
    case GgufType::U8: case GgufType::U16: case GgufType::U32: case GgufType::U64: return std::to_string(v.u);
    case GgufType::I8: case GgufType::I16: case GgufType::I32: case GgufType::I64: return std::to_string(v.i);
    case GgufType::F32: case GgufType::F64: {
      std::ostringstream o;
      o << v.f;
      return o.str();
    }
    case GgufType::Bool: return v.u ? "true" : "false";
    case GgufType::String: {
      std::string s(v.str.substr(0, 200));
      return s + (v.str.size() > 200 ? "..." : "");
    }
    default: return "";
  }
}

std::string arrayText(const GgufValue& v) {
  std::ostringstream o;
  o << v.arrayCount << " elements";
  if (v.arrayCount == 0) return o.str();
  o << ": ";
  uint64_t shown = std::min<uint64_t>(v.arrayCount, 8);
  for (uint64_t i = 0; i < shown; ++i) {
    if (i) o << ", ";
    if (v.arrayType == GgufType::String) {
      o << '"' << std::string(v.strings[i].substr(0, 40)) << '"';
    } else if (v.arrayType == GgufType::Array) {
      o << "[...]";
      break;
    } else {
      GgufValue e;
      uint8_t raw[8] = {};
      uint64_t size = v.arrayType == GgufType::U8 || v.arrayType == GgufType::I8 || v.arrayType == GgufType::Bool ? 1
                      : v.arrayType == GgufType::U16 || v.arrayType == GgufType::I16                           ? 2
                      : v.arrayType == GgufType::U64 || v.arrayType == GgufType::I64 || v.arrayType == GgufType::F64 ? 8
                                                                                                                      : 4;
      std::memcpy(raw, v.arrayData + i * size, size);
      switch (v.arrayType) {
        case GgufType::U8: e.u = raw[0]; break;
        case GgufType::I8: e.i = int8_t(raw[0]); break;
        case GgufType::Bool: e.u = raw[0]; break;
        case GgufType::U16: { uint16_t x; std::memcpy(&x, raw, 2); e.u = x; break; }
        case GgufType::I16: { int16_t x; std::memcpy(&x, raw, 2); e.i = x; break; }
        case GgufType::U32: { uint32_t x; std::memcpy(&x, raw, 4); e.u = x; break; }
        case GgufType::I32: { int32_t x; std::memcpy(&x, raw, 4); e.i = x; break; }
        case GgufType::F32: { float x; std::memcpy(&x, raw, 4); e.f = x; break; }
        case GgufType::U64: std::memcpy(&e.u, raw, 8); break;
        case GgufType::I64: std::memcpy(&e.i, raw, 8); break;
        case GgufType::F64: std::memcpy(&e.f, raw, 8); break;
        default: break;
      }
      o << scalarText(e, v.arrayType);
    }
  }
  if (v.arrayCount > shown) o << ", ...";
  return o.str();
}

FileSummary inspectGguf(const std::shared_ptr<MappedFile>& file) {
  auto g = GgufFile::parse(file);
  FileSummary s;
  s.path = file->path();
  s.format = "gguf";
  s.fileBytes = file->size();
  s.version = g->version();
  for (const auto& [key, v] : g->metadata()) {
    MetadataEntry e;
    e.key = key;
    if (v.type == GgufType::Array) {
      e.type = std::string("array[") + ggufTypeName(v.arrayType) + "]";
      e.value = arrayText(v);
    } else {
      e.type = ggufTypeName(v.type);
      e.value = scalarText(v, v.type);
    }
    s.metadata.push_back(std::move(e));
  }
  for (const auto& t : g->tensors()) {
    TensorSummary ts;
    ts.name = t.name;
    ts.type = ggmlTypeTraits(t.type)->name;
    for (int d = int(t.nDims) - 1; d >= 0; --d) ts.shape.push_back(int64_t(t.ne[d]));
    ts.bytes = t.bytes;
    ts.offset = g->dataOffset() + t.offset;
    s.tensors.push_back(std::move(ts));
  }
  bool hasModel = g->find("general.architecture") != nullptr && !g->tensors().empty();
  s.kind = hasModel ? "model" : "tokenizer";
  auto text = [&](const char* key) {
    const GgufValue* v = g->find(key);
    return v && v->type == GgufType::String ? std::string(v->str) : std::string();
  };
  s.architecture = text("general.architecture");
  s.tokenizerModel = text("tokenizer.ggml.model");
  s.tokenizerPre = text("tokenizer.ggml.pre");
  s.chatTemplate = g->find("tokenizer.chat_template") != nullptr;
  try {
    if (hasModel) {
      s.config = ggufModelConfig(*g);
      loadGgufModel(file);  // full validation of the tensors against the config
    }
  } catch (const Error& e) {
    if (e.code() != ErrorCode::Unsupported) throw;
    s.config.reset();
    s.unsupported = problemOf(e, file->path());
  }
  try {
    if (g->find("tokenizer.ggml.model")) s.tokenizer = summarise(*Tokenizer::fromGguf(*g));
  } catch (const Error& e) {
    if (e.code() != ErrorCode::Unsupported) throw;
    s.unsupported += (s.unsupported.empty() ? "" : "; ") + problemOf(e, file->path());
  }
  if (!hasModel && !s.tokenizer) g->invalid("holds neither a model nor a tokenizer");
  s.runnable = hasModel && s.unsupported.empty();
  return s;
}

void addTensor(FileSummary& s, const ModelWeights& w, const std::string& name, const TensorView& t) {
  TensorSummary ts;
  ts.name = name;
  ts.type = dtypeName(t.type);
  ts.shape = t.rows == 1 ? std::vector<int64_t>{t.cols} : std::vector<int64_t>{t.rows, t.cols};
  uint64_t n = uint64_t(t.rows) * uint64_t(t.cols);
  ts.bytes = t.type == DType::F32 ? 4 * n : t.type == DType::Q8_G_F32 ? n + 4 * (n / t.groupSize) : 2 * n;
  auto* mapping = static_cast<const MappedFile*>(w.mapping.get());
  ts.offset = uint64_t(static_cast<const uint8_t*>(t.data) - mapping->data());
  s.tensors.push_back(std::move(ts));
}

FileSummary inspectLlama2c(const std::shared_ptr<MappedFile>& file) {
  auto w = loadLlama2c(file);
  FileSummary s;
  s.path = file->path();
  s.kind = "model";
  s.format = w->format;
  s.fileBytes = file->size();
  uint32_t magic = 0;
  std::memcpy(&magic, file->data(), 4);
  if (magic == 0x616b3432) std::memcpy(&s.version, file->data() + 4, 4);
  s.config = w->config;
  s.architecture = architectureName(w->config.architecture);
  s.runnable = true;  // with its tokenizer.bin
  addTensor(s, *w, "tok_embeddings.weight", w->tokenEmbedding);
  for (size_t l = 0; l < w->layers.size(); ++l) {
    const LayerWeights& L = w->layers[l];
    std::string p = "layers." + std::to_string(l) + ".";
    addTensor(s, *w, p + "attention_norm.weight", L.attnNorm);
    addTensor(s, *w, p + "attention.wq.weight", L.wq);
    addTensor(s, *w, p + "attention.wk.weight", L.wk);
    addTensor(s, *w, p + "attention.wv.weight", L.wv);
    addTensor(s, *w, p + "attention.wo.weight", L.wo);
    addTensor(s, *w, p + "ffn_norm.weight", L.ffnNorm);
    addTensor(s, *w, p + "feed_forward.w1.weight", L.w1);
    addTensor(s, *w, p + "feed_forward.w2.weight", L.w2);
    addTensor(s, *w, p + "feed_forward.w3.weight", L.w3);
  }
  addTensor(s, *w, "norm.weight", w->finalNorm);
  if (!w->config.tiedClassifier) addTensor(s, *w, "output.weight", w->output);
  return s;
}

}  // namespace

FileSummary inspectFile(const std::string& path) {
  auto file = MappedFile::open(path);
  if (file->size() >= 4 && std::memcmp(file->data(), "GGUF", 4) == 0) return inspectGguf(file);
  try {
    return inspectLlama2c(file);
  } catch (const Error& modelError) {
    if (modelError.code() != ErrorCode::InvalidModel) throw;
    // Not a checkpoint: perhaps a tokenizer.bin.
    std::shared_ptr<const Tokenizer> t;
    try {
      t = Tokenizer::fromLlama2c(path);
    } catch (const Error& tokenizerError) {
      fail(ErrorCode::InvalidModel, path + ": neither a model nor a tokenizer: as a llama2.c checkpoint: " +
                                        problemOf(modelError, path) +
                                        "; as a tokenizer.bin: " +
                                        problemOf(tokenizerError, path));
    }
    FileSummary s;
    s.path = path;
    s.kind = "tokenizer";
    s.format = "llama2c";
    s.fileBytes = file->size();
    s.tokenizer = summarise(*t);
    return s;
  }
}

}  // namespace redrafter::tools

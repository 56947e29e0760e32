// `benchModel` (the redrafter_bench addon, loaded by bench/bench-addon.ts): what bench/expand-model.ts needs from
// native to build the benchmark model. Both calls are synchronous tools for scripts (not inference paths):
//   readModelTensors(path)  every tensor of a (small) model the engine loads, as float32, under its GGUF name;
//   writeGguf(path, spec)   a GGUF `llama` model written through the project's GgufWriter (model/gguf_writer.h)
//                           with the tokenizer's metadata as `redrafter convert` writes it; tensor bytes come from
//                           JS producer callbacks, called one tensor at a time in order, so a multi-GB model is
//                           streamed to disk without ever being held in memory.
#include <napi.h>

#include <cstring>
#include <string>
#include <vector>

#include "addon/args.h"
#include "addon/errors.h"
#include "addon/registry.h"
#include "core/error.h"
#include "tools/convert.h"
#include "model/dequantize.h"
#include "model/gguf_writer.h"
#include "model/half.h"
#include "tokenizer/tokenizer.h"

namespace redrafter::addon {

namespace {

// Source models are read whole into JS memory: keep this to models that fit comfortably.
constexpr int64_t kMaxReadElements = int64_t(1) << 28;

Napi::Object tensorToJs(Napi::Env env, const TensorView& t) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("rows", double(t.rows));
  o.Set("cols", double(t.cols));
  auto data = Napi::Float32Array::New(env, size_t(t.rows * t.cols));
  for (int64_t r = 0; r < t.rows; ++r) model::dequantizeRow(t, r, data.Data() + r * t.cols);
  o.Set("data", data);
  return o;
}

Napi::Value ReadModelTensors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsString()) fail(ErrorCode::InvalidArgument, "path must be a string");
    auto w = model::loadModelWeights(info[0].As<Napi::String>().Utf8Value());
    const model::ModelConfig& c = w->config;
    int64_t total = w->tokenEmbedding.elements() + w->finalNorm.elements();
    for (const auto& L : w->layers)
      total += L.attnNorm.elements() + L.wq.elements() + L.wk.elements() + L.wv.elements() + L.wo.elements() +
               L.ffnNorm.elements() + L.w1.elements() + L.w2.elements() + L.w3.elements();
    if (total > kMaxReadElements)
      fail(ErrorCode::InvalidArgument, "path: " + w->path + " has " + std::to_string(total) +
                                           " weights; readModelTensors is for small source models (at most " +
                                           std::to_string(kMaxReadElements) + ")");
    Napi::Object config = Napi::Object::New(env);
    config.Set("dim", c.dim);
    config.Set("hiddenDim", c.hiddenDim);
    config.Set("nLayers", c.nLayers);
    config.Set("nHeads", c.nHeads);
    config.Set("nKvHeads", c.nKvHeads);
    config.Set("vocabSize", c.vocabSize);
    config.Set("contextLength", c.contextLength);
    config.Set("normEps", c.normEps);
    config.Set("ropeTheta", c.ropeTheta);
    config.Set("tiedClassifier", c.tiedClassifier);
    Napi::Object tensors = Napi::Object::New(env);
    tensors.Set("token_embd.weight", tensorToJs(env, w->tokenEmbedding));
    tensors.Set("output_norm.weight", tensorToJs(env, w->finalNorm));
    if (!c.tiedClassifier) tensors.Set("output.weight", tensorToJs(env, w->output));
    for (int32_t l = 0; l < c.nLayers; ++l) {
      const model::LayerWeights& L = w->layers[l];
      std::string p = "blk." + std::to_string(l) + ".";
      tensors.Set(p + "attn_norm.weight", tensorToJs(env, L.attnNorm));
      tensors.Set(p + "attn_q.weight", tensorToJs(env, L.wq));
      tensors.Set(p + "attn_k.weight", tensorToJs(env, L.wk));
      tensors.Set(p + "attn_v.weight", tensorToJs(env, L.wv));
      tensors.Set(p + "attn_output.weight", tensorToJs(env, L.wo));
      tensors.Set(p + "ffn_norm.weight", tensorToJs(env, L.ffnNorm));
      tensors.Set(p + "ffn_gate.weight", tensorToJs(env, L.w1));
      tensors.Set(p + "ffn_down.weight", tensorToJs(env, L.w2));
      tensors.Set(p + "ffn_up.weight", tensorToJs(env, L.w3));
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("path", w->path);
    out.Set("config", config);
    out.Set("tensors", tensors);
    return out;
  });
}

std::vector<std::string> stringArray(Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) fail(ErrorCode::InvalidArgument, std::string("spec.vocabulary.") + key + " must be an array of strings");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<std::string> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value e = a.Get(i);
    if (!e.IsString())
      fail(ErrorCode::InvalidArgument, std::string("spec.vocabulary.") + key + "[" + std::to_string(i) + "] must be a string");
    out[i] = e.As<Napi::String>().Utf8Value();
  }
  return out;
}

// A byte-level BPE vocabulary given field by field (as a tokenizer.json holds it, already in GGUF's terms):
// {pre, tokens: string[], types: Int32Array, merges: string[], bos, eos, addBos, addEos}.
tokenizer::Vocab vocabularyFromJs(Napi::Object o, int32_t vocabSize) {
  tokenizer::Vocab v;
  v.model = tokenizer::VocabModel::Bpe;
  v.pre = stringFieldOr(o, "pre", "");
  std::vector<std::string> texts = stringArray(o, "tokens");
  if (int64_t(texts.size()) != vocabSize)
    fail(ErrorCode::InvalidArgument, "spec.vocabulary.tokens has " + std::to_string(texts.size()) +
                                         " tokens but spec.config.vocabSize is " + std::to_string(vocabSize));
  auto types = typedArray<int32_t>(o.Get("types"), "spec.vocabulary.types");
  if (types.length != texts.size()) fail(ErrorCode::InvalidArgument, "spec.vocabulary.types must have one entry per token");
  v.tokens.resize(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    v.tokens[i].text = std::move(texts[i]);
    v.tokens[i].type = tokenizer::TokenType(types.data[i]);
  }
  v.merges = stringArray(o, "merges");
  v.bos = int32_t(intField(o, "bos", 0, vocabSize - 1));
  v.eos = int32_t(intField(o, "eos", 0, vocabSize - 1));
  v.unk = -1;
  v.addBos = boolFieldOr(o, "addBos", false);
  v.addEos = boolFieldOr(o, "addEos", false);
  return v;
}

int32_t configInt(Napi::Object o, const char* key, int64_t max) {
  return int32_t(intField(o, key, 1, max));
}

Napi::Value WriteGguf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsString()) fail(ErrorCode::InvalidArgument, "path must be a string");
    std::string path = info[0].As<Napi::String>().Utf8Value();
    Napi::Object spec = objectArg(info, 1, "spec");
    std::string type = stringFieldOr(spec, "type", "f32");
    if (type != "f32" && type != "f16") fail(ErrorCode::InvalidArgument, "spec.type must be 'f32' or 'f16'");
    std::string tokenizerPath = stringFieldOr(spec, "tokenizer", "");
    const bool ownVocabulary = spec.Get("vocabulary").IsObject();
    if (tokenizerPath.empty() && !ownVocabulary)
      fail(ErrorCode::InvalidArgument, "spec.tokenizer must be a tokenizer file path (or spec.vocabulary an object)");
    std::string name = stringFieldOr(spec, "name", "llama");
    if (!spec.Get("config").IsObject()) fail(ErrorCode::InvalidArgument, "spec.config must be an object");
    Napi::Object co = spec.Get("config").As<Napi::Object>();
    model::ModelConfig c;
    const std::string arch = stringFieldOr(spec, "architecture", "llama");
    if (arch == "llama") c.architecture = model::Architecture::Llama;
    else if (arch == "qwen2") c.architecture = model::Architecture::Qwen2;
    else if (arch == "qwen3") c.architecture = model::Architecture::Qwen3;
    else fail(ErrorCode::InvalidArgument, "spec.architecture must be 'llama', 'qwen2' or 'qwen3'");
    c.ropeNeox = c.architecture != model::Architecture::Llama;
    c.dim = configInt(co, "dim", 1 << 16);
    c.hiddenDim = configInt(co, "hiddenDim", 1 << 18);
    c.nLayers = configInt(co, "nLayers", 4096);
    c.nHeads = configInt(co, "nHeads", 4096);
    c.nKvHeads = configInt(co, "nKvHeads", c.nHeads);
    c.vocabSize = configInt(co, "vocabSize", 1 << 24);
    c.contextLength = configInt(co, "contextLength", 1 << 24);
    c.normEps = float(numberFieldOr(co, "normEps", 1e-5, 0, 1));
    c.ropeTheta = float(numberFieldOr(co, "ropeTheta", 10000, 1, 1e9));
    // headDim: heads wider than dim / nHeads (written as attention.key_length, as Qwen3 0.6B's)
    c.headSize = co.Has("headDim") ? configInt(co, "headDim", 1 << 16) : 0;
    if ((c.headSize == 0 && c.dim % c.nHeads != 0) || c.nHeads % c.nKvHeads != 0)
      fail(ErrorCode::InvalidArgument, "spec.config: dim must be a multiple of nHeads (or headDim given) and nHeads of nKvHeads");
    model::GgufWriter w;
    if (ownVocabulary) {
      tools::addArchitectureMetadata(w, c, name, type == "f16" ? 1 : 0, 32);
      tools::addVocabularyMetadata(w, vocabularyFromJs(spec.Get("vocabulary").As<Napi::Object>(), c.vocabSize),
                                   stringFieldOr(spec, "chatTemplate", ""), "spec.vocabulary");
    } else {
      auto tokenizer = tokenizer::Tokenizer::load(tokenizerPath);
      tools::addLlamaMetadata(w, c, *tokenizer, path, name, type == "f16" ? 1 : 0, 32);
    }

    if (!spec.Get("tensors").IsArray()) fail(ErrorCode::InvalidArgument, "spec.tensors must be an array");
    Napi::Array tensors = spec.Get("tensors").As<Napi::Array>();
    for (uint32_t i = 0; i < tensors.Length(); ++i) {
      std::string field = "spec.tensors[" + std::to_string(i) + "]";
      if (!tensors.Get(i).IsObject()) fail(ErrorCode::InvalidArgument, field + " must be an object");
      Napi::Object t = tensors.Get(i).As<Napi::Object>();
      std::string tname = stringFieldOr(t, "name", "");
      if (tname.empty()) fail(ErrorCode::InvalidArgument, field + ".name must be a non-empty string");
      int64_t rows = intField(t, "rows", 1, int64_t(1) << 32);
      int64_t cols = intField(t, "cols", 1, int64_t(1) << 32);
      if (!t.Get("produce").IsFunction()) fail(ErrorCode::InvalidArgument, field + ".produce must be a function");
      // Vectors (norm weights) stay f32 as llama.cpp expects; matrices take the file's type.
      bool vector = rows == 1;
      bool half = !vector && type == "f16";
      std::vector<uint64_t> ne = vector ? std::vector<uint64_t>{uint64_t(cols)}
                                        : std::vector<uint64_t>{uint64_t(cols), uint64_t(rows)};
      auto produce = std::make_shared<Napi::FunctionReference>(Napi::Persistent(t.Get("produce").As<Napi::Function>()));
      size_t count = size_t(rows * cols);
      w.addTensor(tname, half ? model::GgmlType::F16 : model::GgmlType::F32, ne,
                  [env, produce, count, half, tname](std::vector<uint8_t>& bytes) {
                    Napi::Value v = produce->Call({});
                    std::string what = "the producer of tensor " + tname;
                    auto data = typedArray<float>(v, what.c_str());
                    if (data.length != count)
                      fail(ErrorCode::InvalidArgument, what + " returned " + std::to_string(data.length) +
                                                           " values, expected " + std::to_string(count));
                    if (half) {
                      bytes.resize(2 * count);
                      auto* out = reinterpret_cast<uint16_t*>(bytes.data());
                      for (size_t k = 0; k < count; ++k) out[k] = model::f32ToFp16(data.data[k]);
                    } else {
                      bytes.resize(4 * count);
                      std::memcpy(bytes.data(), data.data, 4 * count);
                    }
                  });
    }
    w.write(path);
    return Napi::String::New(env, path);
  });
}

void InitBenchModel(Napi::Env env, Napi::Object exports) {
  Napi::Object ns = Napi::Object::New(env);
  ns.Set("readModelTensors", Napi::Function::New(env, ReadModelTensors, "readModelTensors"));
  ns.Set("writeGguf", Napi::Function::New(env, WriteGguf, "writeGguf"));
  exports.Set("benchModel", ns);
}

}  // namespace

}  // namespace redrafter::addon

REDRAFTER_ADDON_PART(benchModel, redrafter::addon::InitBenchModel)

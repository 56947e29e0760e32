// JS class Drafter: Drafter.load(dir, {threads, weightType, model}) -> Promise<Drafter>, Drafter.save(dir, config,
// tensors, {dtype, metadata}) -> Promise<void>, Drafter.readConfig(dir), Drafter.tensorShapes(config), new Drafter(config, tensors, source,
// {threads, weightType}), config, source, weightType, tensors(), checkModel(model), draft(embeddings, hidden, lastToken,
// {beamWidth, beamLength}) -> Promise<{beams, logProbs, scores}>. The directory format is model/drafter_file.h's.
#include "addon/drafter.h"

#include <cstring>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "addon/args.h"
#include "addon/class_registry.h"
#include "addon/errors.h"
#include "addon/model.h"
#include "addon/registry.h"
#include "core/error.h"
#include "model/drafter_file.h"

namespace redrafter::addon {

namespace {

constexpr const char* kClassName = "Drafter";

model::DrafterConfig readConfig(Napi::Object o, const std::string& source) {
  model::DrafterConfig c;
  c.vocabSize = int32_t(intField(o, "vocabSize", 1, 1 << 22));
  c.hiddenSize = int32_t(intField(o, "hiddenSize", 1, 1 << 16));
  c.exitDim = int32_t(intField(o, "exitDim", 1, 1 << 16));
  c.numDraftLayers = int32_t(intField(o, "numDraftLayers", 0, 64));
  Napi::Value rnn = o.Get("rnn");
  if (!rnn.IsBoolean()) fail(ErrorCode::InvalidArgument, "config.rnn must be a boolean");
  c.rnn = rnn.As<Napi::Boolean>().Value();
  model::validateDrafterConfig(c, source);
  return c;
}

// The drafter's tensors from {name: Float32Array}: every tensor the config needs, of the right size, and no other.
// `code`: what a missing, extra or mis-sized tensor is (InvalidModel for a drafter being built, InvalidArgument for
// tensors given to save).
model::DrafterWeights readTensors(Napi::Object tensors, const model::DrafterConfig& config, const std::string& source,
                                  ErrorCode code = ErrorCode::InvalidModel) {
  model::DrafterWeights w = model::DrafterWeights::zeros(config, source);
  std::set<std::string> expected;
  for (const auto& spec : w.specs) {
    expected.insert(spec.name);
    Napi::Value v = tensors.Get(spec.name);
    if (v.IsUndefined())
      fail(code, source + ": tensor " + spec.name + " is missing (the config " +
                 (config.hasInputProj() ? "has" : "has no") + " input_proj, rnn " +
                 (config.rnn ? "true" : "false") + ", num_draft_layers " +
                 std::to_string(config.numDraftLayers) + ")");
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      fail(ErrorCode::InvalidArgument, "tensors[\"" + spec.name + "\"] must be a Float32Array");
    auto a = v.As<Napi::Float32Array>();
    if (int64_t(a.ElementLength()) != spec.elements())
      fail(code, source + ": tensor " + spec.name + " has " + std::to_string(a.ElementLength()) +
                 " values, the config needs [" +
                 (spec.rank == 2 ? std::to_string(spec.rows) + ", " : std::string()) +
                 std::to_string(spec.cols) + "] = " + std::to_string(spec.elements()));
    std::memcpy(w.data.data() + spec.offset, a.Data(), sizeof(float) * a.ElementLength());
  }
  Napi::Array names = tensors.GetPropertyNames();
  for (uint32_t i = 0; i < names.Length(); i++) {
    std::string name = names.Get(i).As<Napi::String>().Utf8Value();
    if (!expected.count(name))
      fail(code, source + ": unexpected tensor " + name + " for this config (exit_dim " +
                 std::to_string(config.exitDim) + ", hidden_size " +
                 std::to_string(config.hiddenSize) + ", num_draft_layers " +
                 std::to_string(config.numDraftLayers) + ", rnn " +
                 (config.rnn ? "true" : "false") + ")");
  }
  return w;
}

// Drafter.draft off the event loop.
class DraftWorker : public PromiseWorker {
 public:
  DraftWorker(Napi::Env env, std::shared_ptr<const cpu::Drafter> drafter, std::shared_ptr<cpu::Transformer> model,
              std::vector<float> table, std::vector<float> hidden, std::vector<int32_t> lastToken,
              cpu::DraftOptions options)
      : PromiseWorker(env),
        drafter_(std::move(drafter)),
        model_(std::move(model)),
        table_(std::move(table)),
        hidden_(std::move(hidden)),
        last_(std::move(lastToken)),
        options_(options) {}

 protected:
  void Run() override {
    const auto& c = drafter_->config();
    const int32_t batch = int32_t(last_.size());
    const size_t rows = size_t(batch) * options_.width;
    beams_.resize(rows * options_.length);
    logProbs_.resize(rows * (options_.length - 1) * size_t(c.vocabSize));
    scores_.resize(rows);
    cpu::EmbeddingLookup embed;
    std::shared_ptr<const model::ModelWeights> weights;
    if (model_) {
      // The Transformer holds the weights for its lifetime; alias them without copying.
      weights = std::shared_ptr<const model::ModelWeights>(model_, &model_->weights());
      embed = cpu::modelEmbeddings(weights);
    } else {
      embed = cpu::tableEmbeddings(table_.data(), c.vocabSize, c.hiddenSize);
    }
    drafter_->draft(hidden_.data(), last_.data(), batch, options_, embed, beams_.data(), logProbs_.data(),
                    scores_.data());
  }
  Napi::Value Resolve(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("beams", newTypedArray<int32_t>(env, beams_.size(), beams_.data()));
    o.Set("logProbs", newTypedArray<float>(env, logProbs_.size(), logProbs_.data()));
    o.Set("scores", newTypedArray<float>(env, scores_.size(), scores_.data()));
    return o;
  }

 private:
  std::shared_ptr<const cpu::Drafter> drafter_;
  std::shared_ptr<cpu::Transformer> model_;
  std::vector<float> table_, hidden_;
  std::vector<int32_t> last_;
  cpu::DraftOptions options_;
  std::vector<int32_t> beams_;
  std::vector<float> logProbs_, scores_;
};

// Drafter.load off the event loop: the directory read (model/drafter_file.h) and the drafter built from it.
class LoadDrafterWorker : public PromiseWorker {
 public:
  struct Expected {  // the model it must fit (options.model), when given
    bool given = false;
    model::ModelConfig config;
    std::string source;
  };
  LoadDrafterWorker(Napi::Env env, std::string dir, int32_t threads, cpu::DrafterWeightType weightType,
                    Expected expected)
      : PromiseWorker(env), dir_(std::move(dir)), threads_(threads), weightType_(weightType),
        expected_(std::move(expected)) {}

 protected:
  void Run() override {
    std::function<void(const model::DrafterConfig&)> check;
    if (expected_.given)
      check = [this](const model::DrafterConfig& c) {
        model::checkDrafterMatchesModel(c, dir_, expected_.config, expected_.source);
      };
    drafter_ =
        std::make_shared<const cpu::Drafter>(model::readDrafterDirectory(dir_, check), dir_, threads_, weightType_);
  }
  Napi::Value Resolve(Napi::Env env) override {
    return constructorOf(env, kClassName).New({Napi::External<std::shared_ptr<const cpu::Drafter>>::New(env, &drafter_)});
  }

 private:
  std::string dir_;
  int32_t threads_;
  cpu::DrafterWeightType weightType_;
  Expected expected_;
  std::shared_ptr<const cpu::Drafter> drafter_;
};

// Drafter.save off the event loop (the tensors were copied on the main thread).
class SaveDrafterWorker : public PromiseWorker {
 public:
  SaveDrafterWorker(Napi::Env env, std::string dir, model::DrafterWeights weights, DType dtype,
                    std::vector<std::pair<std::string, std::string>> metadata)
      : PromiseWorker(env), dir_(std::move(dir)), weights_(std::move(weights)), dtype_(dtype),
        metadata_(std::move(metadata)) {}

 protected:
  void Run() override { model::writeDrafterDirectory(dir_, weights_, dtype_, metadata_); }
  Napi::Value Resolve(Napi::Env env) override { return env.Undefined(); }

 private:
  std::string dir_;
  model::DrafterWeights weights_;
  DType dtype_;
  std::vector<std::pair<std::string, std::string>> metadata_;
};

std::string stringArg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (info.Length() <= index || !info[index].IsString() || info[index].As<Napi::String>().Utf8Value().empty())
    fail(ErrorCode::InvalidArgument, std::string(name) + " must be a directory path");
  return info[index].As<Napi::String>().Utf8Value();
}

// options.weightType: 'f32' (default), 'f16' or 'q8_0' (cpu::DrafterWeightType)
cpu::DrafterWeightType weightTypeField(Napi::Object o) {
  return cpu::parseDrafterWeightType(stringFieldOr(o, "weightType", "f32"), "weightType");
}

// Drafter.load(dir, {threads, weightType, model: {dim, vocabSize, path}}) -> Promise<Drafter>
Napi::Value LoadDrafter(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    const std::string dir = stringArg(info, 0, "drafter");
    int32_t threads = 1;
    cpu::DrafterWeightType weightType = cpu::DrafterWeightType::F32;
    LoadDrafterWorker::Expected expected;
    if (info.Length() >= 2 && !info[1].IsUndefined()) {
      Napi::Object o = objectArg(info, 1, "options");
      threads = int32_t(intFieldOr(o, "threads", 1, 1, 1024));
      weightType = weightTypeField(o);
      Napi::Value m = o.Get("model");
      if (!m.IsUndefined()) {
        if (!m.IsObject()) fail(ErrorCode::InvalidArgument, "model must be a Model or { dim, vocabSize }");
        Napi::Object mo = m.As<Napi::Object>();
        expected.given = true;
        expected.config.dim = int32_t(intField(mo, "dim", 1, INT32_MAX));
        expected.config.vocabSize = int32_t(intField(mo, "vocabSize", 1, INT32_MAX));
        expected.source = stringFieldOr(mo, "path", "");
      }
    }
    auto* worker = new LoadDrafterWorker(info.Env(), dir, threads, weightType, std::move(expected));
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  });
}

// Drafter.save(dir, config, tensors, {dtype: 'F32' | 'F16' | 'BF16', metadata: {key: string}}) -> Promise<void>
Napi::Value SaveDrafter(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    const std::string dir = stringArg(info, 0, "dir");
    model::DrafterConfig config = readConfig(objectArg(info, 1, "config"), dir);
    model::DrafterWeights weights = readTensors(objectArg(info, 2, "tensors"), config, dir, ErrorCode::InvalidArgument);
    DType dtype = DType::F32;
    std::vector<std::pair<std::string, std::string>> metadata;
    if (info.Length() >= 4 && !info[3].IsUndefined()) {
      Napi::Object o = objectArg(info, 3, "options");
      const std::string name = stringFieldOr(o, "dtype", "F32");
      if (name == "F16") dtype = DType::F16;
      else if (name == "BF16") dtype = DType::BF16;
      else if (name != "F32") failRange("dtype", "must be \"F32\", \"F16\" or \"BF16\"");
      Napi::Value m = o.Get("metadata");
      if (!m.IsUndefined()) {
        if (!m.IsObject()) fail(ErrorCode::InvalidArgument, "metadata must be an object of strings");
        Napi::Object mo = m.As<Napi::Object>();
        Napi::Array keys = mo.GetPropertyNames();
        for (uint32_t i = 0; i < keys.Length(); i++) {
          const std::string key = keys.Get(i).As<Napi::String>().Utf8Value();
          Napi::Value v = mo.Get(key);
          if (!v.IsString()) fail(ErrorCode::InvalidArgument, "metadata." + key + " must be a string");
          metadata.emplace_back(key, v.As<Napi::String>().Utf8Value());
        }
      }
    }
    auto* worker = new SaveDrafterWorker(info.Env(), dir, std::move(weights), dtype, std::move(metadata));
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  });
}

// Drafter.readConfig(dir) -> config: config.json alone, validated (inspect).
Napi::Value ReadConfig(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    return drafterConfigObject(info.Env(), model::readDrafterConfig(stringArg(info, 0, "drafter")));
  });
}

// Drafter.tensorShapes(config) -> [{name, shape}]: every tensor of a drafter with this config, in the canonical order.
Napi::Value TensorShapes(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    model::DrafterConfig config = readConfig(objectArg(info, 0, "config"), "config");
    const auto specs = model::drafterTensorSpecs(config);
    Napi::Array out = Napi::Array::New(info.Env(), specs.size());
    for (size_t i = 0; i < specs.size(); i++) {
      Napi::Object o = Napi::Object::New(info.Env());
      o.Set("name", specs[i].name);
      Napi::Array shape = Napi::Array::New(info.Env());
      if (specs[i].rank == 2) shape.Set(uint32_t(0), double(specs[i].rows));
      shape.Set(shape.Length(), double(specs[i].cols));
      o.Set("shape", shape);
      out.Set(uint32_t(i), o);
    }
    return out;
  });
}

}  // namespace

Napi::Object drafterConfigObject(Napi::Env env, const model::DrafterConfig& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("vocabSize", c.vocabSize);
  o.Set("hiddenSize", c.hiddenSize);
  o.Set("exitDim", c.exitDim);
  o.Set("numDraftLayers", c.numDraftLayers);
  o.Set("rnn", c.rnn);
  return o;
}

Napi::Object drafterTensorsObject(Napi::Env env, const model::DrafterWeights& weights) {
  Napi::Object o = Napi::Object::New(env);
  for (const auto& spec : weights.specs)
    o.Set(spec.name, newTypedArray<float>(env, size_t(spec.elements()), weights.data.data() + spec.offset));
  return o;
}

void Drafter::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = DefineClass(env, kClassName,
                                   {
                                       InstanceAccessor<&Drafter::GetConfig>("config"),
                                       InstanceAccessor<&Drafter::GetSource>("source"),
                                       InstanceAccessor<&Drafter::GetWeightType>("weightType"),
                                       InstanceMethod<&Drafter::Tensors>("tensors"),
                                       InstanceMethod<&Drafter::CheckModel>("checkModel"),
                                       InstanceMethod<&Drafter::Draft>("draft"),
                                       StaticMethod("load", &LoadDrafter),
                                       StaticMethod("save", &SaveDrafter),
                                       StaticMethod("tensorShapes", &TensorShapes),
                                       StaticMethod("readConfig", &ReadConfig),
                                   });
  storeConstructor(env, kClassName, cls);
  exports.Set(kClassName, cls);
}

Drafter::Drafter(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Drafter>(info) {
  guarded(info.Env(), [&] {
    if (!info.IsConstructCall()) fail(ErrorCode::InvalidArgument, "Drafter must be called with new");
    if (info.Length() == 1 && info[0].IsExternal()) {  // Drafter.load's result
      drafter_ = *info[0].As<Napi::External<std::shared_ptr<const cpu::Drafter>>>().Data();
      return;
    }
    if (info.Length() < 3 || !info[2].IsString()) fail(ErrorCode::InvalidArgument, "source must be a string");
    const std::string source = info[2].As<Napi::String>().Utf8Value();
    model::DrafterConfig config = readConfig(objectArg(info, 0, "config"), source);
    model::DrafterWeights weights = readTensors(objectArg(info, 1, "tensors"), config, source);
    int32_t threads = 1;
    cpu::DrafterWeightType weightType = cpu::DrafterWeightType::F32;
    if (info.Length() >= 4 && !info[3].IsUndefined()) {
      threads = int32_t(intFieldOr(objectArg(info, 3, "options"), "threads", 1, 1, 1024));
      weightType = weightTypeField(objectArg(info, 3, "options"));
    }
    drafter_ = std::make_shared<const cpu::Drafter>(std::move(weights), source, threads, weightType);
  });
}

std::shared_ptr<const cpu::Drafter> Drafter::drafterOf(Napi::Value value, const char* field) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(constructorOf(value.Env(), kClassName)))
    fail(ErrorCode::InvalidArgument, std::string(field) + " must be a Drafter");
  return Drafter::Unwrap(value.As<Napi::Object>())->drafter_;
}

Napi::Value Drafter::GetConfig(const Napi::CallbackInfo& info) {
  return drafterConfigObject(info.Env(), drafter_->config());
}

Napi::Value Drafter::GetSource(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), drafter_->source());
}

Napi::Value Drafter::GetWeightType(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), cpu::drafterWeightTypeName(drafter_->weightType()));
}

Napi::Value Drafter::Tensors(const Napi::CallbackInfo& info) {
  return drafterTensorsObject(info.Env(), drafter_->weights());
}

Napi::Value Drafter::CheckModel(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto model = Model::engineOf(info.Length() ? info[0] : info.Env().Undefined(), "model");
    drafter_->checkMatches(model->config(), model->weights().path);
    return info.Env().Undefined();
  });
}

Napi::Value Drafter::Draft(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    const auto& c = drafter_->config();
    if (info.Length() < 4) fail(ErrorCode::InvalidArgument, "draft(embeddings, hidden, lastToken, options) needs 4 arguments");
    std::shared_ptr<cpu::Transformer> model;
    std::vector<float> table;
    if (info[0].IsTypedArray()) {
      auto t = typedArray<float>(info[0], "embeddings");
      if (int64_t(t.length) != int64_t(c.vocabSize) * c.hiddenSize)
        fail(ErrorCode::InvalidArgument, "embeddings must hold vocab_size * hidden_size = " +
                                             std::to_string(int64_t(c.vocabSize) * c.hiddenSize) + " values, got " +
                                             std::to_string(t.length));
      table.assign(t.data, t.data + t.length);
    } else {
      model = Model::engineOf(info[0], "embeddings");
      drafter_->checkMatches(model->config(), model->weights().path);
    }
    auto hidden = typedArray<float>(info[1], "hidden");
    auto last = typedArray<int32_t>(info[2], "lastToken");
    if (last.length < 1) fail(ErrorCode::InvalidArgument, "lastToken must hold at least one token");
    if (hidden.length != last.length * size_t(c.hiddenSize))
      fail(ErrorCode::InvalidArgument, "hidden must hold lastToken.length * hidden_size = " +
                                           std::to_string(last.length * size_t(c.hiddenSize)) + " values, got " +
                                           std::to_string(hidden.length));
    Napi::Object o = objectArg(info, 3, "options");
    cpu::DraftOptions options;
    options.width = int32_t(intField(o, "beamWidth", 1, 1024));
    options.length = int32_t(intField(o, "beamLength", 2, 256));
    for (size_t i = 0; i < last.length; i++)
      if (last.data[i] < 0 || last.data[i] >= c.vocabSize)
        fail(ErrorCode::InvalidArgument, "lastToken[" + std::to_string(i) + "] = " + std::to_string(last.data[i]) +
                                             " is outside the vocabulary [0, " + std::to_string(c.vocabSize) + ")");
    auto* worker = new DraftWorker(info.Env(), drafter_, std::move(model), std::move(table),
                                   std::vector<float>(hidden.data, hidden.data + hidden.length),
                                   std::vector<int32_t>(last.data, last.data + last.length), options);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  });
}

namespace {
void InitDrafter(Napi::Env env, Napi::Object exports) { Drafter::Init(env, exports); }
}  // namespace

}  // namespace redrafter::addon

REDRAFTER_ADDON_PART(drafter, redrafter::addon::InitDrafter)

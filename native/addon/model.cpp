// JS class Model: async Model.load(path, {threads, isa}), config, createContext({capacity}), dispose().
#include "addon/model.h"
#include "addon/model_config.h"

#include <string>

#include "addon/args.h"
#include "addon/class_registry.h"
#include "addon/context.h"
#include "addon/errors.h"
#include "addon/registry.h"
#include "core/error.h"
#include "cpu/engine/roofline.h"
#include "cpu/engine/weight_packing.h"
#include "cpu/kernels/isa.h"

namespace redrafter::addon {

std::shared_ptr<cpu::Transformer> ModelHandle::get() {
  std::lock_guard<std::mutex> lock(mutex);
  if (!transformer) fail(ErrorCode::Disposed, "the model was disposed");
  return transformer;
}

namespace {

// Model.load: reads and maps the file, validates it and starts the thread pool, off the event loop.
class LoadModelWorker : public PromiseWorker {
 public:
  LoadModelWorker(Napi::Env env, std::string path, cpu::TransformerOptions options)
      : PromiseWorker(env), path_(std::move(path)), options_(std::move(options)) {}

 protected:
  void Run() override {
    auto weights = cpu::loadPackedModelWeights(path_, options_.threads, options_.isa);  // panels for its kernels
    transformer_ = std::make_shared<cpu::Transformer>(weights, options_);
  }
  Napi::Value Resolve(Napi::Env env) override { return newModel(env, std::move(transformer_)); }

 private:
  std::string path_;
  cpu::TransformerOptions options_;
  std::shared_ptr<cpu::Transformer> transformer_;
};

// Model.measureRoofline: the machine's read bandwidth and FMA peak, off the event loop (about a second).
class RooflineWorker : public PromiseWorker {
 public:
  RooflineWorker(Napi::Env env, cpu::kernels::Isa isa, int32_t threads) : PromiseWorker(env), isa_(isa), threads_(threads) {}

 protected:
  void Run() override { result_ = cpu::measureRoofline(isa_, threads_); }
  Napi::Value Resolve(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("readBytesPerSecond", result_.readBytesPerSecond);
    o.Set("fmaFlopsPerSecond", result_.fmaFlopsPerSecond);
    o.Set("threads", result_.threads);
    o.Set("isa", cpu::kernels::isaName(result_.isa));
    return o;
  }

 private:
  cpu::kernels::Isa isa_;
  int32_t threads_;
  cpu::Roofline result_;
};

}  // namespace

void Model::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = DefineClass(env, "Model",
                                   {
                                       StaticMethod<&Model::Load>("load"),
                                       StaticMethod<&Model::MeasureRoofline>("measureRoofline"),
                                       InstanceAccessor<&Model::GetConfig>("config"),
                                       InstanceAccessor<&Model::GetDisposed>("disposed"),
                                       InstanceMethod<&Model::CreateContext>("createContext"),
                                       InstanceMethod<&Model::ForwardBatch>("forwardBatch"),
                                       InstanceMethod<&Model::Dispose>("dispose"),
                                   });
  storeConstructor(env, "Model", cls);
  exports.Set("Model", cls);
}

Model::Model(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Model>(info) {
  guarded(info.Env(), [&] {
    if (info.Length() != 1 || !info[0].IsExternal())
      fail(ErrorCode::InvalidArgument, "Model cannot be constructed directly: use Model.load(path, options)");
    auto* source = info[0].As<Napi::External<std::shared_ptr<cpu::Transformer>>>().Data();
    handle_ = std::make_shared<ModelHandle>();
    handle_->transformer = *source;
  });
}

Napi::Object newModel(Napi::Env env, std::shared_ptr<cpu::Transformer> transformer) {
  auto external = Napi::External<std::shared_ptr<cpu::Transformer>>::New(env, &transformer);
  return constructorOf(env, "Model").New({external});
}

std::shared_ptr<cpu::Transformer> Model::engineOf(Napi::Value value, const char* field) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(constructorOf(value.Env(), "Model")))
    fail(ErrorCode::InvalidArgument, std::string(field) + " must be a Model");
  return Model::Unwrap(value.As<Napi::Object>())->handle_->get();
}

Napi::Value Model::Load(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsString()) fail(ErrorCode::InvalidArgument, "path must be a string");
    std::string path = info[0].As<Napi::String>().Utf8Value();
    if (path.empty()) fail(ErrorCode::InvalidArgument, "path must not be empty");
    cpu::TransformerOptions options;
    if (info.Length() >= 2 && !info[1].IsUndefined()) {
      Napi::Object o = objectArg(info, 1, "options");
      options.threads = static_cast<int32_t>(intFieldOr(o, "threads", 0, 0, 1024));
      options.isa = stringFieldOr(o, "isa", "");
      if (!options.isa.empty() && options.isa != "avx512" && options.isa != "avx2" && options.isa != "portable")
        fail(ErrorCode::InvalidArgument, "isa must be \"avx512\", \"avx2\" or \"portable\"");
    }
    auto* worker = new LoadModelWorker(info.Env(), path, options);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  });
}

Napi::Value Model::MeasureRoofline(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    int32_t threads = 0;
    std::string isa;
    if (info.Length() >= 1 && !info[0].IsUndefined()) {
      Napi::Object o = objectArg(info, 0, "options");
      threads = static_cast<int32_t>(intFieldOr(o, "threads", 0, 0, 1024));
      isa = stringFieldOr(o, "isa", "");
    }
    auto* worker = new RooflineWorker(info.Env(), cpu::kernels::selectIsa(isa), threads);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  });
}

Napi::Value Model::GetConfig(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto t = handle_->get();
    const model::ModelConfig& c = t->config();
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("path", t->weights().path);
    o.Set("format", t->weights().format);
    o.Set("weightType", dtypeName(t->weights().layers.empty() ? t->weights().output.type
                                                                     : t->weights().layers[0].wq.type));
    setModelArchitecture(o, c);
    o.Set("threads", t->threads());
    o.Set("isa", t->isa());
    return o;
  });
}

Napi::Value Model::GetDisposed(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(handle_->mutex);
  return Napi::Boolean::New(info.Env(), !handle_->transformer);
}

Napi::Value Model::CreateContext(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto t = handle_->get();
    int32_t capacity = t->config().contextLength;
    if (info.Length() >= 1 && !info[0].IsUndefined()) {
      Napi::Object o = objectArg(info, 0, "options");
      capacity = static_cast<int32_t>(intFieldOr(o, "capacity", capacity, 1, t->config().contextLength));
    }
    return Context::create(info.Env(), handle_, capacity);
  });
}

Napi::Value Model::ForwardBatch(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    return Context::forwardBatch(info.Env(), handle_, info.Length() >= 1 ? info[0] : info.Env().Undefined());
  });
}

Napi::Value Model::Dispose(const Napi::CallbackInfo& info) {
  std::shared_ptr<cpu::Transformer> release;
  {
    std::lock_guard<std::mutex> lock(handle_->mutex);
    release.swap(handle_->transformer);  // in-flight work keeps its own reference; the rest frees now
  }
  return info.Env().Undefined();
}

static void InitModel(Napi::Env env, Napi::Object exports) { Model::Init(env, exports); }

}  // namespace redrafter::addon

REDRAFTER_ADDON_PART(model, redrafter::addon::InitModel)

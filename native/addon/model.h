// JS class Model: a loaded CPU model (shared weights + Transformer with its thread pool).
// Other addon parts (executor, drafter) reach the engine of a JS Model through Model::engineOf.
#pragma once
#include <napi.h>

#include <memory>
#include <mutex>

#include "cpu/engine/transformer.h"

namespace redrafter::addon {

// The engine behind a Model, shared with its contexts and in-flight work; `transformer` is null once disposed.
struct ModelHandle {
  std::mutex mutex;
  std::shared_ptr<cpu::Transformer> transformer;
  std::shared_ptr<cpu::Transformer> get();  // throws Disposed when disposed
};

class Model : public Napi::ObjectWrap<Model> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit Model(const Napi::CallbackInfo& info);  // JS: only through Model.load

  // The engine of a JS Model object; throws InvalidArgument (naming `field`) for anything else, Disposed when
  // the model was disposed.
  static std::shared_ptr<cpu::Transformer> engineOf(Napi::Value value, const char* field);
  std::shared_ptr<ModelHandle> handle() const { return handle_; }

 private:
  static Napi::Value Load(const Napi::CallbackInfo& info);
  // Model.measureRoofline({ threads, isa }) -> Promise<{ readBytesPerSecond, fmaFlopsPerSecond, threads, isa }>
  static Napi::Value MeasureRoofline(const Napi::CallbackInfo& info);
  Napi::Value GetConfig(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);
  Napi::Value CreateContext(const Napi::CallbackInfo& info);
  Napi::Value ForwardBatch(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  std::shared_ptr<ModelHandle> handle_;
};

// Creates a JS Model around a loaded engine (main thread).
Napi::Object newModel(Napi::Env env, std::shared_ptr<cpu::Transformer> transformer);

}  // namespace redrafter::addon

// The Engine JS class, loadEngine's async worker, the dispose worker, and the response poller.
#include "addon/engine.h"

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "addon/args.h"
#include "addon/class_registry.h"
#include "addon/errors.h"
#include "addon/registry.h"
#include "addon/session.h"

namespace redrafter::addon {

using executor::Response;

// ---- backend registry -------------------------------------------------------------------------------

namespace {
std::map<std::string, ExecutorOptionsReader>& backends() {
  static std::map<std::string, ExecutorOptionsReader> registered;
  return registered;
}
}  // namespace

void registerExecutorBackend(const char* name, ExecutorOptionsReader reader) { backends()[name] = reader; }

ExecutorOptionsReader findExecutorBackend(const std::string& name) {
  auto it = backends().find(name);
  return it == backends().end() ? nullptr : it->second;
}

int32_t contextLengthOption(Napi::Object o) { return int32_t(intFieldOr(o, "contextLength", 0, 0, 1 << 24)); }
int32_t maxActiveRequestsOption(Napi::Object o) { return int32_t(intFieldOr(o, "maxActiveRequests", 8, 1, 1024)); }

// ---- responses -> JS ---------------------------------------------------------------------------------

namespace {

Napi::Object statsToJs(Napi::Env env, const executor::RequestStats& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("promptTokens", s.promptTokens);
  o.Set("reusedTokens", s.reusedTokens);
  o.Set("steps", s.steps);
  o.Set("generatedTokens", s.generatedTokens);
  Napi::Array h = Napi::Array::New(env, s.tokensPerStepHistogram.size());
  for (size_t i = 0; i < s.tokensPerStepHistogram.size(); ++i) h.Set(uint32_t(i), s.tokensPerStepHistogram[i]);
  o.Set("tokensPerStepHistogram", h);
  Napi::Array shapes = Napi::Array::New(env, s.shapeSteps.size());
  for (size_t i = 0; i < s.shapeSteps.size(); ++i) {
    Napi::Object shape = Napi::Object::New(env);
    shape.Set("beamWidth", s.shapeSteps[i].beamWidth);
    shape.Set("beamLength", s.shapeSteps[i].beamLength);
    shape.Set("steps", s.shapeSteps[i].steps);
    shapes.Set(uint32_t(i), shape);
  }
  o.Set("shapeSteps", shapes);
  o.Set("prefillSeconds", s.prefillSeconds);
  o.Set("draftSeconds", s.draftSeconds);
  o.Set("treeSeconds", s.treeSeconds);
  o.Set("forwardSeconds", s.forwardSeconds);
  o.Set("acceptSeconds", s.acceptSeconds);
  o.Set("commitSeconds", s.commitSeconds);
  o.Set("otherSeconds", s.otherSeconds);
  o.Set("totalSeconds", s.totalSeconds);
  o.Set("queueSeconds", s.queueSeconds);
  return o;
}

Napi::Object responseToJs(Napi::Env env, const Response& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("requestId", double(r.requestId));
  o.Set("tokens", newTypedArray<int32_t>(env, r.outputTokenIds.size(), r.outputTokenIds.data()));
  o.Set("isFinal", r.isFinal);
  o.Set("finishReason", executor::finishReasonName(r.finishReason));
  if (r.finishReason == executor::FinishReason::Error) {
    o.Set("errorCode", errorCodeName(r.errorCode));
    o.Set("error", r.error);
  }
  if (r.isFinal) o.Set("stats", statsToJs(env, r.stats));  // built once, for the end of the request
  return o;
}

}  // namespace

// ---- Engine ------------------------------------------------------------------------------------------

Napi::Function Engine::Define(Napi::Env env) {
  Napi::Function f = DefineClass(env, "Engine",
                                 {InstanceMethod("modelInfo", &Engine::ModelInfo),
                                  InstanceMethod("createSession", &Engine::CreateSession),
                                  InstanceMethod("dispose", &Engine::Dispose)});
  storeConstructor(env, "Engine", f);
  return f;
}

Engine::Engine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Engine>(info) {}

Engine::~Engine() { shutdownAndJoin(); }

void Engine::attach(Napi::Env env, std::unique_ptr<executor::Executor> ex, Napi::Function onResponses) {
  executor_ = std::make_shared<executor::Conversations>(std::move(ex));
  tsfn_ = Napi::ThreadSafeFunction::New(env, onResponses, "redrafter responses", 0, 1);
  tsfn_.Unref(env);  // referenced only while requests are in flight
  poller_ = std::thread([this] { poll(); });
}

executor::Conversations& Engine::executor() {
  if (!executor_ || disposing_) fail(ErrorCode::Disposed, "the engine was disposed");
  return *executor_;
}

void Engine::requestStarted(Napi::Env env) {
  if (inFlight_++ == 0 && !referenced_) {
    tsfn_.Ref(env);
    referenced_ = true;
  }
}

void Engine::requestEnded(Napi::Env env) {
  if (inFlight_ > 0 && --inFlight_ == 0 && referenced_) {
    tsfn_.Unref(env);
    referenced_ = false;
  }
}

// The poller thread: hands every batch of responses to JS without blocking the event loop.
void Engine::poll() {
  auto deliver = [this](std::vector<Response>* batch) {
    auto status = tsfn_.NonBlockingCall(batch, [this](Napi::Env env, Napi::Function callback, std::vector<Response>* b) {
      std::unique_ptr<std::vector<Response>> owned(b);
      if (!env || !callback) return;
      Napi::HandleScope scope(env);
      Napi::Array array = Napi::Array::New(env, owned->size());
      for (size_t i = 0; i < owned->size(); ++i) {
        array.Set(uint32_t(i), responseToJs(env, (*owned)[i]));
        if ((*owned)[i].isFinal) requestEnded(env);
      }
      try {
        callback.Call({array});
      } catch (const Napi::Error&) {
        // the JS side never throws here; a bug there must not take the process down from a poller callback
      }
    });
    if (status != napi_ok) delete batch;
  };
  for (;;) {
    const bool last = stopPolling_.load();
    std::vector<Response> got = executor_->awaitResponses(std::chrono::milliseconds(last ? 0 : 50));
    if (!got.empty()) deliver(new std::vector<Response>(std::move(got)));
    if (last) break;
  }
  tsfn_.Release();
}

void Engine::shutdownAndJoin() {
  if (!executor_) return;
  disposing_ = true;
  executor_->shutdown();  // every final response is queued when this returns
  stopPolling_ = true;
  if (poller_.joinable() && poller_.get_id() != std::this_thread::get_id()) poller_.join();
}

Napi::Value Engine::ModelInfo(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    executor::ModelInfo m = executor().modelInfo();
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("vocabSize", m.vocabSize);
    o.Set("contextLength", m.contextLength);
    o.Set("maxBeamWidth", m.maxBeamWidth);
    o.Set("maxBeamLength", m.maxBeamLength);
    o.Set("parameters", m.parameters);
    o.Set("backend", m.backend);
    return o;
  });
}

Napi::Value Engine::CreateSession(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    executor::SessionId id = executor().open();
    return Session::create(info.Env(), Value(), id);
  });
}

namespace {

class DisposeWorker : public PromiseWorker {
 public:
  DisposeWorker(Napi::Env env, Engine* engine, Napi::Object keep)
      : PromiseWorker(env), engine_(engine), keep_(Napi::Persistent(keep)) {}

 protected:
  void Run() override { engine_->shutdownAndJoin(); }
  Napi::Value Resolve(Napi::Env env) override { return env.Undefined(); }

 private:
  Engine* engine_;
  Napi::ObjectReference keep_;  // the Engine stays alive until its shutdown is done
};

}  // namespace

Napi::Value Engine::Dispose(const Napi::CallbackInfo& info) {
  auto* worker = new DisposeWorker(info.Env(), this, Value());
  worker->Queue();
  return worker->Promise();
}

// ---- loadEngine --------------------------------------------------------------------------------------

namespace {

class LoadEngineWorker : public PromiseWorker {
 public:
  LoadEngineWorker(Napi::Env env, ExecutorLoader loader, Napi::Function onResponses)
      : PromiseWorker(env), loader_(std::move(loader)), onResponses_(Napi::Persistent(onResponses)) {}

 protected:
  void Run() override { executor_ = loader_(); }
  Napi::Value Resolve(Napi::Env env) override {
    Napi::Object object = constructorOf(env, "Engine").New({});
    Engine::Unwrap(object)->attach(env, std::move(executor_), onResponses_.Value());
    return object;
  }

 private:
  ExecutorLoader loader_;
  Napi::FunctionReference onResponses_;
  std::unique_ptr<executor::Executor> executor_;
};

// loadEngine(options, onResponses) -> Promise<Engine>: options.backend names the backend, whose reader parses the rest.
Napi::Value LoadEngine(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    Napi::Object options = objectArg(info, 0, "options");
    const std::string backend = stringFieldOr(options, "backend", "cpu");
    if (info.Length() < 2 || !info[1].IsFunction())
      fail(ErrorCode::InvalidArgument, "onResponses must be a function");
    ExecutorOptionsReader reader = findExecutorBackend(backend);
    if (!reader) fail(ErrorCode::Unsupported, "backend '" + backend + "' is not built into this addon");
    auto* worker = new LoadEngineWorker(info.Env(), reader(options), info[1].As<Napi::Function>());
    worker->Queue();
    return worker->Promise();
  });
}

void InitExecutor(Napi::Env env, Napi::Object exports) {
  Napi::Object ns = Napi::Object::New(env);
  ns.Set("Engine", Engine::Define(env));
  ns.Set("Session", Session::Define(env));
  ns.Set("loadEngine", Napi::Function::New(env, LoadEngine, "loadEngine"));
  Napi::Array names = Napi::Array::New(env);
  uint32_t i = 0;
  for (auto& [name, f] : backends()) names.Set(i++, name);
  ns.Set("backends", names);
  exports.Set("executor", ns);
}

}  // namespace

}  // namespace redrafter::addon

REDRAFTER_ADDON_PART(executor, redrafter::addon::InitExecutor)

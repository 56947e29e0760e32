// The Engine JS class, loadEngine's async worker, the dispose worker, and the response poller.
#include "addon/engine.h"

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
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

// ---- Engine::Runtime ---------------------------------------------------------------------------------

// What the poller thread, the response callbacks and the environment cleanup hook use. Owned jointly by the Engine,
// the thread-safe function (its context, released by its finalizer) and whoever is running stop(); the poller and
// the hook hold plain pointers, which that ownership keeps valid: the poller ends (releasing the thread-safe function)
// before its finalizer can run, and the finalizer removes the hook.
struct Engine::Runtime {
  struct Batch {
    std::vector<Response> responses;
  };
  using Keeper = std::shared_ptr<Runtime>;
  static void deliver(Napi::Env env, Napi::Function callback, Keeper* keeper, Batch* batch);
  using Tsfn = Napi::TypedThreadSafeFunction<Keeper, Batch, &Runtime::deliver>;

  std::shared_ptr<executor::Conversations> executor;  // the backend's executor under the sessions' conversations
  Tsfn tsfn;
  std::thread poller;
  std::atomic<bool> disposing{false};    // set by whatever stops it (dispose, the hook, ~Engine): no new requests
  std::atomic<bool> stopPolling{false};  // the poller drains what is queued once more and ends
  std::atomic<bool> quiet{false};        // the environment is exiting: nothing more is handed to JS
  std::mutex stopMutex;                  // one stop() at a time: one thread joins the poller
  bool stopped = false;                  // stopMutex
  int inFlight = 0;                      // main thread: requests enqueued whose final response has not reached JS
  bool referenced = false;               // main thread: the thread-safe function keeps the event loop alive

  ~Runtime() {
    if (poller.joinable()) poller.detach();  // not reached: whoever stops the poller joins it (stop())
  }

  void poll();
  // Ends every request, stops the executor (drain: let the backend report the cancelled requests first, as dispose()
  // does; else at once) and joins the poller. Idempotent; any thread but the poller's.
  void stop(bool drain);
  void requestEnded(Napi::Env env);
  static void onEnvironmentExit(void* runtime);
};

void Engine::Runtime::requestEnded(Napi::Env env) {
  if (inFlight > 0 && --inFlight == 0 && referenced) {
    tsfn.Unref(env);
    referenced = false;
  }
}

// Main thread: one batch of responses to JS. Also called with a null env when the environment exits with batches
// still queued: then it only frees them. Nothing may escape: an exception out of a thread-safe function callback
// while the environment is exiting would end the process.
void Engine::Runtime::deliver(Napi::Env env, Napi::Function callback, Keeper* keeper, Batch* batch) {
  std::unique_ptr<Batch> owned(batch);
  if (env == nullptr || callback == nullptr || keeper == nullptr || !owned) return;
  Runtime& rt = **keeper;
  if (rt.quiet) return;
  try {
    Napi::HandleScope scope(env);
    Napi::Array array = Napi::Array::New(env, owned->responses.size());
    for (size_t i = 0; i < owned->responses.size(); ++i) {
      array.Set(uint32_t(i), responseToJs(env, owned->responses[i]));
      if (owned->responses[i].isFinal) rt.requestEnded(env);
    }
    callback.Call({array});
  } catch (...) {
    // the JS side never throws here, and JS cannot run while the environment exits: nothing to report to
  }
}

// The poller thread: hands every batch of responses to JS without blocking the event loop.
void Engine::Runtime::poll() {
  for (;;) {
    const bool last = stopPolling.load();
    std::vector<Response> got = executor->awaitResponses(std::chrono::milliseconds(last ? 0 : 50));
    if (!got.empty() && !quiet) {
      auto* batch = new Batch{std::move(got)};
      if (tsfn.NonBlockingCall(batch) != napi_ok) delete batch;
    }
    if (last) break;
  }
  Tsfn fn = tsfn;
  fn.Release();  // the last use of this Runtime by this thread: the finalizer may run from here on
}

void Engine::Runtime::stop(bool drain) {
  std::lock_guard<std::mutex> lock(stopMutex);
  if (stopped) return;
  disposing = true;
  try {
    if (drain) executor->shutdown();  // every final response is queued when this returns
    else executor->shutdownNow();
  } catch (...) {
    // a backend that fails to stop still ends its requests (shutdown's contract); the poller stops regardless
  }
  stopPolling = true;
  if (poller.joinable()) poller.join();
  stopped = true;
}

// The environment exits (the main thread's loop ended, process.exit() or terminate() of a worker thread): no JS runs
// from here on. Stop at once, before Node closes the thread-safe function (this hook was added after it was made, and
// hooks run newest first), so the poller never calls a closed one.
void Engine::Runtime::onEnvironmentExit(void* runtime) {
  auto* rt = static_cast<Runtime*>(runtime);
  rt->quiet = true;
  rt->stop(/*drain=*/false);
}

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

// The garbage collector's finalizer (also run at the environment's teardown, after the cleanup hook): never waits
// for threads. An engine that nothing is stopping yet is stopped by a background thread, which holds the Runtime
// (and so the executor) until it is done.
Engine::~Engine() {
  if (!runtime_ || runtime_->disposing.exchange(true)) return;  // dispose() or the cleanup hook is stopping it
  try {
    std::thread([rt = runtime_] { rt->stop(/*drain=*/false); }).detach();
  } catch (const std::system_error&) {
    // no thread to be had: the cleanup hook stops it when the environment exits
  }
}

void Engine::attach(Napi::Env env, std::unique_ptr<executor::Executor> ex, Napi::Function onResponses) {
  auto rt = std::make_shared<Runtime>();
  rt->executor = std::make_shared<executor::Conversations>(std::move(ex));
  auto keeper = std::make_unique<Runtime::Keeper>(rt);
  rt->tsfn = Runtime::Tsfn::New(env, onResponses, "redrafter responses", 0, 1, keeper.get(),
                                [](Napi::Env env, void*, Runtime::Keeper* k) {
                                  // main thread, once the poller released it (or the environment closed it)
                                  napi_remove_env_cleanup_hook(env, &Runtime::onEnvironmentExit, k->get());
                                  delete k;
                                },
                                static_cast<void*>(nullptr));
  keeper.release();  // the finalizer's now
  rt->tsfn.Unref(env);  // referenced only while requests are in flight
  // Added after the thread-safe function was made, so that it runs before Node's own hook closes that.
  if (napi_add_env_cleanup_hook(env, &Runtime::onEnvironmentExit, rt.get()) != napi_ok) {
    rt->tsfn.Release();
    fail(ErrorCode::Internal, "cannot register the engine's environment cleanup hook");
  }
  try {
    rt->poller = std::thread([raw = rt.get()] { raw->poll(); });
  } catch (...) {
    rt->tsfn.Release();
    throw;
  }
  runtime_ = std::move(rt);
}

executor::Conversations& Engine::executor() {
  if (!runtime_ || runtime_->disposing) fail(ErrorCode::Disposed, "the engine was disposed");
  return *runtime_->executor;
}

std::shared_ptr<executor::Conversations> Engine::sharedExecutor() const {
  return runtime_ ? runtime_->executor : nullptr;
}

bool Engine::disposed() const { return !runtime_ || runtime_->disposing; }

void Engine::requestStarted(Napi::Env env) {
  Runtime& rt = *runtime_;
  if (rt.inFlight++ == 0 && !rt.referenced) {
    rt.tsfn.Ref(env);
    rt.referenced = true;
  }
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
  DisposeWorker(Napi::Env env, std::shared_ptr<Engine::Runtime> runtime)
      : PromiseWorker(env), runtime_(std::move(runtime)) {}

 protected:
  void Run() override {
    if (runtime_) runtime_->stop(/*drain=*/true);
  }
  Napi::Value Resolve(Napi::Env env) override { return env.Undefined(); }

 private:
  std::shared_ptr<Engine::Runtime> runtime_;  // alive until the shutdown is done, whatever becomes of the Engine
};

}  // namespace

Napi::Value Engine::Dispose(const Napi::CallbackInfo& info) {
  if (runtime_) runtime_->disposing = true;  // from now on requests and sessions are refused
  auto* worker = new DisposeWorker(info.Env(), runtime_);
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

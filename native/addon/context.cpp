// JS class Context: one sequence's KV cache. async forward(tokens, {positions, mask, outputs, hidden}),
// commit(acceptedPacked), truncate(n), length, capacity, dispose().
#include "addon/context.h"

#include <string>
#include <vector>

#include "addon/args.h"
#include "addon/class_registry.h"
#include "addon/errors.h"
#include "addon/registry.h"
#include "core/error.h"
#include "core/kv_commit.h"

namespace redrafter::addon {

namespace {

struct ContextInit {
  std::shared_ptr<ModelHandle> model;
  int32_t capacity;
};

}  // namespace

// One sequence's part of a forward: inputs copied on the main thread, outputs filled off it.
struct ForwardJob {
  Context* context = nullptr;
  Napi::ObjectReference self;  // keeps the Context alive until the worker is gone
  std::shared_ptr<cpu::KvCache> cache;
  std::vector<int32_t> tokens, positions, outputs;  // [n], [n] or empty, [nOut] or empty
  std::vector<uint8_t> mask;                        // [n, n] or empty
  bool wantHidden = false;
  std::vector<float> logits, hidden;  // [nOut, vocab], [nOut, dim]
  int32_t start = 0;
};

// Context.forward and Model.forwardBatch: one forward pass over every job's tokens, off the event loop.
class ForwardWorker : public PromiseWorker {
 public:
  ForwardWorker(Napi::Env env, std::shared_ptr<cpu::Transformer> transformer, bool batch)
      : PromiseWorker(env), transformer_(std::move(transformer)), batch_(batch) {}
  std::vector<ForwardJob> jobs;

 protected:
  void Run() override {
    const auto& c = transformer_->config();
    std::vector<cpu::ForwardRequest> requests(jobs.size());
    for (size_t i = 0; i < jobs.size(); ++i) {
      ForwardJob& j = jobs[i];
      const int32_t n = static_cast<int32_t>(j.tokens.size());
      const int32_t nOut = j.outputs.empty() ? n : static_cast<int32_t>(j.outputs.size());
      j.logits.resize(static_cast<size_t>(nOut) * c.vocabSize);
      if (j.wantHidden) j.hidden.resize(static_cast<size_t>(nOut) * c.dim);
      j.start = j.cache->length();
      cpu::ForwardRequest& r = requests[i];
      r.cache = j.cache.get();
      r.tokens = j.tokens.data();
      r.tokenCount = n;
      r.positions = j.positions.empty() ? nullptr : j.positions.data();
      r.mask = j.mask.empty() ? nullptr : j.mask.data();
      r.outputRows = j.outputs.empty() ? nullptr : j.outputs.data();
      r.outputCount = j.outputs.empty() ? 0 : nOut;
      r.logits = j.logits.data();
      r.hidden = j.wantHidden ? j.hidden.data() : nullptr;
    }
    transformer_->forwardBatch(requests.data(), requests.size());
  }
  Napi::Value Resolve(Napi::Env env) override {  // success only
    Napi::Array all = Napi::Array::New(env, jobs.size());
    for (size_t i = 0; i < jobs.size(); ++i) {
      ForwardJob& j = jobs[i];
      j.context->lastStart_ = j.start;
      j.context->lastCount_ = static_cast<int32_t>(j.tokens.size());
      Napi::Object result = Napi::Object::New(env);
      result.Set("logits", newTypedArray<float>(env, j.logits.size(), j.logits.data()));
      if (j.wantHidden) result.Set("hidden", newTypedArray<float>(env, j.hidden.size(), j.hidden.data()));
      all.Set(static_cast<uint32_t>(i), result);
    }
    return batch_ ? Napi::Value(all) : all.Get(0u);
  }

 public:
  // Runs on the main thread right after the promise settled (success or failure), before any JS continuation:
  // the contexts are free again, at their new lengths (unchanged after a failure).
  ~ForwardWorker() override {
    for (ForwardJob& j : jobs) {
      if (!j.context) continue;  // rejected before it was claimed (e.g. that context was busy)
      j.context->busy_ = false;
      if (j.cache && j.context->cache_ == j.cache) j.context->length_ = j.cache->length();
    }
  }

 private:
  std::shared_ptr<cpu::Transformer> transformer_;
  bool batch_;
};

void Context::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = DefineClass(env, "Context",
                                   {
                                       InstanceMethod<&Context::Forward>("forward"),
                                       InstanceMethod<&Context::Commit>("commit"),
                                       InstanceMethod<&Context::Truncate>("truncate"),
                                       InstanceMethod<&Context::Dispose>("dispose"),
                                       InstanceAccessor<&Context::GetLength>("length"),
                                       InstanceAccessor<&Context::GetCapacity>("capacity"),
                                       InstanceAccessor<&Context::GetDisposed>("disposed"),
                                   });
  storeConstructor(env, "Context", cls);
  exports.Set("Context", cls);
}

Context::Context(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Context>(info) {
  guarded(info.Env(), [&] {
    if (info.Length() != 1 || !info[0].IsExternal())
      fail(ErrorCode::InvalidArgument, "Context cannot be constructed directly: use model.createContext(options)");
    auto* init = info[0].As<Napi::External<ContextInit>>().Data();
    auto transformer = init->model->get();
    model_ = init->model;
    cache_ = std::shared_ptr<cpu::KvCache>(transformer->createCache(init->capacity));
    capacity_ = init->capacity;
  });
}

Napi::Object Context::create(Napi::Env env, std::shared_ptr<ModelHandle> handle, int32_t capacity) {
  ContextInit init{std::move(handle), capacity};
  auto external = Napi::External<ContextInit>::New(env, &init);
  return constructorOf(env, "Context").New({external});
}

std::shared_ptr<cpu::KvCache> Context::cacheOf(Napi::Value value, const char* field,
                                               std::shared_ptr<cpu::Transformer>* engine) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(constructorOf(value.Env(), "Context")))
    fail(ErrorCode::InvalidArgument, std::string(field) + " must be a Context");
  Context* context = Context::Unwrap(value.As<Napi::Object>());
  context->checkUsable(field);
  if (engine) *engine = context->model_->get();
  return context->cache_;
}

void Context::checkUsable(const char* what) {
  if (!cache_) fail(ErrorCode::Disposed, std::string("context.") + what + ": the context was disposed");
  model_->get();  // throws Disposed once the model is disposed
  if (busy_)
    fail(ErrorCode::InvalidArgument,
         std::string("context.") + what + ": a forward is still running on this context (await it first)");
}

// Validates (tokens, options) for this context and copies them into `job`; `prefix` names the fields in errors.
void Context::prepare(Napi::Value tokensValue, Napi::Value optionsValue, const std::string& prefix,
                      int32_t vocab, ForwardJob& job) {
  checkUsable("forward");
  const std::string tokensField = prefix + "tokens";
  auto tokens = typedArray<int32_t>(tokensValue, tokensField.c_str());
  const size_t n = tokens.length;
  RD_REQUIRE(n >= 1, tokensField.c_str(), "must hold at least one token");
  job.context = this;
  job.cache = cache_;
  job.tokens.assign(tokens.data, tokens.data + n);
  for (size_t i = 0; i < n; ++i)
    RD_REQUIRE_AT(tokens.data[i] >= 0 && tokens.data[i] < vocab, tokensField.c_str(),
                  "[" + std::to_string(i) + "] = " + std::to_string(tokens.data[i]) + " is outside the vocabulary [0, " +
                      std::to_string(vocab) + ")");
  if (!optionsValue.IsUndefined() && !optionsValue.IsNull()) {
    if (!optionsValue.IsObject()) fail(ErrorCode::InvalidArgument, prefix + "options must be an object");
    Napi::Object o = optionsValue.As<Napi::Object>();
    Napi::Value positions = o.Get("positions");
    if (!positions.IsUndefined() && !positions.IsNull()) {
      const std::string field = prefix + "positions";
      auto p = typedArray<int32_t>(positions, field.c_str());
      RD_REQUIRE(p.length == n, field.c_str(), "must have one entry per token (" + std::to_string(n) + "), got " +
                                                   std::to_string(p.length));
      job.positions.assign(p.data, p.data + n);
    }
    Napi::Value mask = o.Get("mask");
    if (!mask.IsUndefined() && !mask.IsNull()) {
      const std::string field = prefix + "mask";
      auto m = typedArray<uint8_t>(mask, field.c_str());
      RD_REQUIRE(m.length == n * n, field.c_str(), "must hold tokens.length^2 = " + std::to_string(n * n) +
                                                       " entries, got " + std::to_string(m.length));
      job.mask.assign(m.data, m.data + n * n);
    }
    Napi::Value outputs = o.Get("outputs");
    if (!outputs.IsUndefined() && !outputs.IsNull()) {
      const std::string field = prefix + "outputs";
      auto out = typedArray<int32_t>(outputs, field.c_str());
      RD_REQUIRE(out.length >= 1, field.c_str(), "must name at least one token");
      job.outputs.assign(out.data, out.data + out.length);
    }
    Napi::Value hidden = o.Get("hidden");
    if (!hidden.IsUndefined() && !hidden.IsNull()) {
      if (!hidden.IsBoolean()) fail(ErrorCode::InvalidArgument, prefix + "hidden must be a boolean");
      job.wantHidden = hidden.As<Napi::Boolean>().Value();
    }
  }
  if (static_cast<int64_t>(cache_->length()) + static_cast<int64_t>(n) > capacity_)
    fail(ErrorCode::ContextOverflow, tokensField + ": " + std::to_string(n) + " new tokens after " +
                                         std::to_string(cache_->length()) + " cached exceed the context capacity " +
                                         std::to_string(capacity_));
}

Napi::Value Context::Forward(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    checkUsable("forward");
    if (info.Length() < 1) fail(ErrorCode::InvalidArgument, "tokens must be an Int32Array");
    auto transformer = model_->get();
    auto worker = std::make_unique<ForwardWorker>(info.Env(), transformer, false);
    worker->jobs.emplace_back();
    prepare(info[0], info.Length() >= 2 ? info[1] : info.Env().Undefined(), "", transformer->config().vocabSize,
            worker->jobs.back());
    worker->jobs.back().self = Napi::Persistent(info.This().As<Napi::Object>());
    busy_ = true;
    Napi::Promise promise = worker->Promise();
    worker.release()->Queue();
    return promise;
  });
}

Napi::Value Context::forwardBatch(Napi::Env env, const std::shared_ptr<ModelHandle>& model, Napi::Value items) {
  auto transformer = model->get();
  if (!items.IsArray()) fail(ErrorCode::InvalidArgument, "items must be an array");
  Napi::Array array = items.As<Napi::Array>();
  RD_REQUIRE(array.Length() >= 1, "items", "must hold at least one sequence");
  auto worker = std::make_unique<ForwardWorker>(env, transformer, true);
  worker->jobs.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) {
    const std::string prefix = "items[" + std::to_string(i) + "].";
    Napi::Value item = array.Get(i);
    if (!item.IsObject()) fail(ErrorCode::InvalidArgument, "items[" + std::to_string(i) + "] must be an object");
    Napi::Object o = item.As<Napi::Object>();
    Napi::Value contextValue = o.Get("context");
    if (!contextValue.IsObject() || !contextValue.As<Napi::Object>().InstanceOf(constructorOf(env, "Context")))
      fail(ErrorCode::InvalidArgument, prefix + "context must be a Context");
    Context* context = Context::Unwrap(contextValue.As<Napi::Object>());
    if (context->model_ != model)
      fail(ErrorCode::InvalidArgument, prefix + "context belongs to another model");
    for (const ForwardJob& j : worker->jobs)
      if (j.context == context) fail(ErrorCode::InvalidArgument, prefix + "context appears twice in one batch");
    worker->jobs.emplace_back();
    context->prepare(o.Get("tokens"), o, prefix, transformer->config().vocabSize, worker->jobs.back());
    worker->jobs.back().self = Napi::Persistent(contextValue.As<Napi::Object>());
  }
  for (ForwardJob& j : worker->jobs) j.context->busy_ = true;
  Napi::Promise promise = worker->Promise();
  worker.release()->Queue();
  return promise;
}

Napi::Value Context::Commit(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    checkUsable("commit");
    if (info.Length() < 1) fail(ErrorCode::InvalidArgument, "acceptedPacked must be an Int32Array");
    auto accepted = typedArray<int32_t>(info[0], "acceptedPacked");
    RD_REQUIRE(lastCount_ > 0, "acceptedPacked", "has nothing to commit: no forward since the last commit or truncate");
    for (size_t i = 0; i < accepted.length; ++i)
      RD_REQUIRE_AT(accepted.data[i] >= 0 && accepted.data[i] < lastCount_, "acceptedPacked", "[" + std::to_string(i) + "] = " + std::to_string(accepted.data[i]) +
                      " is not a token of the last forward [0, " + std::to_string(lastCount_) + ")");
    CommitPlan plan = kvCommitPlan(lastStart_, accepted.data, static_cast<int32_t>(accepted.length));
    cache_->commit(plan);
    length_ = cache_->length();
    lastCount_ = 0;
    return Napi::Number::New(info.Env(), length_);
  });
}

Napi::Value Context::Truncate(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    checkUsable("truncate");
    if (info.Length() < 1 || !info[0].IsNumber()) fail(ErrorCode::InvalidArgument, "length must be an integer");
    double d = info[0].As<Napi::Number>().DoubleValue();
    RD_REQUIRE(d == static_cast<double>(static_cast<int64_t>(d)), "length", "must be an integer");
    const int32_t current = cache_->length();
    RD_REQUIRE(d >= 0 && d <= current, "length",
               "must be in [0, " + std::to_string(current) + "], got " + std::to_string(static_cast<int64_t>(d)));
    cache_->truncate(static_cast<int32_t>(d));
    length_ = cache_->length();
    lastCount_ = 0;
    return Napi::Number::New(info.Env(), length_);
  });
}

Napi::Value Context::Dispose(const Napi::CallbackInfo& info) {
  cache_.reset();  // an in-flight forward keeps its own reference until it resolves
  lastCount_ = 0;
  return info.Env().Undefined();
}

Napi::Value Context::GetLength(const Napi::CallbackInfo& info) {
  // while a forward runs, the length before it; otherwise the cache's (another addon part may have used it)
  return Napi::Number::New(info.Env(), busy_ || !cache_ ? length_ : cache_->length());
}
Napi::Value Context::GetCapacity(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), capacity_); }
Napi::Value Context::GetDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !cache_); }

static void InitContext(Napi::Env env, Napi::Object exports) { Context::Init(env, exports); }

}  // namespace redrafter::addon

REDRAFTER_ADDON_PART(context, redrafter::addon::InitContext)

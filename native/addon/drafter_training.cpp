// JS class DrafterTraining: trains a drafter for a loaded Model by self-distillation, off the event loop.
//   new DrafterTraining(options) ; run(onProgress) -> Promise<{config, tensors, report}> ; stop()
// and measureDrafterAcceptance(options) -> Promise<{rows, texts, tokens, dropped}>: the exact greedy acceptance
// table of a Drafter on held-out greedy texts of its model.
#include <napi.h>

#include <atomic>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "addon/args.h"
#include "addon/class_registry.h"
#include "addon/drafter.h"
#include "addon/errors.h"
#include "addon/model.h"
#include "addon/registry.h"
#include "core/error.h"
#include "cpu/drafter/acceptance.h"
#include "cpu/drafter/held_out.h"
#include "cpu/drafter/self_distillation.h"
#include "cpu/drafter/training_run.h"
#include "tokenizer/tokenizer.h"

namespace redrafter::addon {

namespace {

std::vector<std::string> stringArray(Napi::Object o, const char* key) {
  std::vector<std::string> out;
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return out;
  if (!v.IsArray()) fail(ErrorCode::InvalidArgument, std::string(key) + " must be an array of strings");
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    if (!a.Get(i).IsString())
      fail(ErrorCode::InvalidArgument, std::string(key) + "[" + std::to_string(i) + "] must be a string");
    out.push_back(a.Get(i).As<Napi::String>().Utf8Value());
  }
  return out;
}

std::vector<int32_t> intArray(Napi::Object o, const char* key, int64_t min, int64_t max) {
  std::vector<int32_t> out;
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return out;
  if (!v.IsArray()) fail(ErrorCode::InvalidArgument, std::string(key) + " must be an array of integers");
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    double d = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : NAN;
    if (!std::isfinite(d) || std::floor(d) != d || d < double(min) || d > double(max))
      fail(ErrorCode::InvalidArgument, std::string(key) + "[" + std::to_string(i) + "] must be an integer in [" +
                                           std::to_string(min) + ", " + std::to_string(max) + "]");
    out.push_back(int32_t(d));
  }
  return out;
}

// Text prompts -> token prompts (BOS first) with the tokenizer at `path`, which must match the model's vocabulary.
std::vector<std::vector<int32_t>> encodePrompts(const std::string& path, const std::vector<std::string>& texts,
                                                const model::ModelConfig& model, int32_t* bos) {
  std::vector<std::vector<int32_t>> out;
  if (path.empty() || texts.empty()) return out;
  auto tok = tokenizer::Tokenizer::load(path);
  if (tok->size() != model.vocabSize)
    fail(ErrorCode::InvalidModel, path + ": tokenizer has " + std::to_string(tok->size()) +
                                      " tokens, the model's vocabulary has " + std::to_string(model.vocabSize));
  if (bos) *bos = tok->bos();
  for (const auto& t : texts) out.push_back(tok->encode(t, true));
  return out;
}

Napi::Object acceptanceObject(Napi::Env env, int32_t width, int32_t length, const cpu::AcceptanceStats& a) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("beamWidth", width);
  o.Set("beamLength", length);
  o.Set("tokensPerStep", a.tokensPerStep());
  o.Set("steps", double(a.steps));
  o.Set("tokens", double(a.tokens));
  Napi::Array h = Napi::Array::New(env, a.histogram.size());
  for (size_t i = 0; i < a.histogram.size(); i++) h.Set(uint32_t(i), double(a.histogram[i]));
  o.Set("histogram", h);
  return o;
}

Napi::Object lossObject(Napi::Env env, const cpu::DrafterLoss& l) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("loss", l.loss);
  Napi::Array acc = Napi::Array::New(env, l.correct.size());
  Napi::Array steps = Napi::Array::New(env, l.stepLoss.size());
  for (size_t i = 0; i < l.correct.size(); i++) {
    acc.Set(uint32_t(i), l.counted[i] ? double(l.correct[i]) / double(l.counted[i]) : 0.0);
    steps.Set(uint32_t(i), l.stepLoss[i]);
  }
  o.Set("accuracy", acc);
  o.Set("stepLoss", steps);
  return o;
}

// The run's options (cpu/drafter/training_run.h) and the text prompts the addon encodes for it.
struct TrainingOptions : cpu::DrafterTrainingOptions {
  std::string tokenizerPath;
  std::vector<std::string> prompts, evalPrompts;
};

using Progress = cpu::DrafterTrainingProgress;

struct TrainingState {
  std::atomic<bool> stop{false};
  std::atomic<bool> running{false};
};

class TrainWorker : public PromiseWorker {
 public:
  TrainWorker(Napi::Env env, std::shared_ptr<cpu::Transformer> model, TrainingOptions options,
              std::shared_ptr<TrainingState> state, Napi::Function onProgress)
      : PromiseWorker(env), model_(std::move(model)), o_(std::move(options)), state_(std::move(state)) {
    if (!onProgress.IsEmpty())
      tsfn_ = Napi::ThreadSafeFunction::New(env, onProgress, "redrafter.drafterTraining", 0, 1);
  }

 protected:
  void Run() override {
    struct Release {
      TrainWorker* w;
      ~Release() {
        if (w->tsfn_) w->tsfn_.Release();
        w->state_->running = false;
      }
    } release{this};
    const model::ModelConfig& mc = model_->config();
    model::checkDrafterMatchesModel(o_.config, "drafter", mc, model_->weights().path);
    int32_t bos = o_.data.bos;
    o_.data.prompts = encodePrompts(o_.tokenizerPath, o_.prompts, mc, &bos);
    o_.heldOut.prompts = encodePrompts(o_.tokenizerPath, o_.evalPrompts, mc, nullptr);
    o_.data.bos = o_.heldOut.bos = bos;
    run_ = cpu::runDrafterTraining(model_, o_, [this](Progress p) { report(std::move(p)); }, state_->stop);
  }

  Napi::Value Resolve(Napi::Env env) override {
    const cpu::DrafterTrainingRun& run = run_;
    Napi::Object o = Napi::Object::New(env);
    Napi::Object r = Napi::Object::New(env);
    r.Set("stopped", run.stopped);
    r.Set("corpusTokens", double(run.data.corpus.tokens.size()));
    r.Set("corpusTexts", double(run.data.corpus.sequences()));
    r.Set("generateSeconds", run.generateSeconds);
    r.Set("trainSeconds", run.trainSeconds);
    r.Set("evalSeconds", run.evalSeconds);
    r.Set("steps", double(run.trainer ? run.trainer->stepsDone() : 0));
    r.Set("plannedSteps", double(run.plannedSteps));
    r.Set("batchSize", o_.trainer.batchSize);
    r.Set("unroll", o_.trainer.unroll);
    r.Set("distill", o_.trainer.distill);
    if (run.trainer) r.Set("lastBatch", lossObject(env, run.last));
    if (run.heldOut.corpus.sequences() > 0 && !run.stopped) {
      Napi::Object h = lossObject(env, run.heldOutLoss);
      h.Set("texts", double(run.heldOut.corpus.sequences()));
      h.Set("tokens", double(run.heldOut.corpus.tokens.size()));
      h.Set("droppedPrompts", double(run.heldOut.dropped));
      h.Set("acceptance", acceptanceObject(env, o_.evalWidth, o_.evalLength, run.acceptance));
      r.Set("heldOut", h);
    }
    o.Set("report", r);
    if (run.trainer) {
      o.Set("config", drafterConfigObject(env, run.trainer->weights().config));
      o.Set("tensors", drafterTensorsObject(env, run.trainer->weights()));
    }
    return o;
  }

 private:
  void report(Progress p) {
    if (!tsfn_) return;
    auto* data = new Progress(std::move(p));
    napi_status st = tsfn_.NonBlockingCall(data, [](Napi::Env env, Napi::Function fn, Progress* p) {
      std::unique_ptr<Progress> owned(p);
      if (env == nullptr || fn.IsEmpty()) return;
      Napi::Object o = Napi::Object::New(env);
      o.Set("phase", p->phase);
      o.Set("done", p->done);
      o.Set("total", p->total);
      if (p->phase == "train") {
        o.Set("loss", p->loss);
        o.Set("learningRate", p->learningRate);
        o.Set("epoch", p->epoch);
        Napi::Array a = Napi::Array::New(env, p->accuracy.size());
        for (size_t i = 0; i < p->accuracy.size(); i++) a.Set(uint32_t(i), p->accuracy[i]);
        o.Set("accuracy", a);
      }
      fn.Call({o});
    });
    if (st != napi_ok) delete data;
  }

  std::shared_ptr<cpu::Transformer> model_;
  TrainingOptions o_;
  std::shared_ptr<TrainingState> state_;
  Napi::ThreadSafeFunction tsfn_;
  cpu::DrafterTrainingRun run_;
};

class DrafterTraining : public Napi::ObjectWrap<DrafterTraining> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(env, "DrafterTraining",
                                     {InstanceMethod<&DrafterTraining::Run>("run"),
                                      InstanceMethod<&DrafterTraining::Stop>("stop")});
    storeConstructor(env, "DrafterTraining", cls);
    exports.Set("DrafterTraining", cls);
  }

  explicit DrafterTraining(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DrafterTraining>(info) {
    guarded(info.Env(), [&] {
      Napi::Object o = objectArg(info, 0, "options");
      model_ = Model::engineOf(o.Get("model"), "model");
      const model::ModelConfig& mc = model_->config();
      TrainingOptions& t = options_;
      t.tokenizerPath = stringFieldOr(o, "tokenizer", "");
      t.prompts = stringArray(o, "prompts");
      t.evalPrompts = stringArray(o, "evalPrompts");
      if (t.tokenizerPath.empty() && (!t.prompts.empty() || !t.evalPrompts.empty()))
        fail(ErrorCode::InvalidArgument, "prompts and evalPrompts need a tokenizer");
      t.config.vocabSize = mc.vocabSize;
      t.config.hiddenSize = mc.dim;
      t.config.exitDim = int32_t(intFieldOr(o, "exitDim", 2 * int64_t(mc.dim), 1, 1 << 16));
      t.config.numDraftLayers = int32_t(intFieldOr(o, "numDraftLayers", 2, 0, 64));
      t.config.rnn = boolFieldOr(o, "rnn", true);
      const uint64_t seed = uint64_t(intFieldOr(o, "seed", 0, 0, int64_t(1) << 52));
      const int32_t contextLength = mc.contextLength > 0 ? mc.contextLength : 1 << 20;
      auto& d = t.data;
      d.length = int32_t(intFieldOr(o, "sequenceLength", std::min(160, contextLength), 3, contextLength));
      const int64_t tokens = intFieldOr(o, "tokens", 48000, 3, int64_t(1) << 40);
      d.sequences = int32_t(std::max<int64_t>(1, (tokens + d.length - 1) / d.length));
      d.greedyFraction = numberFieldOr(o, "greedyFraction", 0.75, 0, 1);
      d.temperature = numberFieldOr(o, "temperature", 1.0, 0, 100);
      d.minPrefix = 0;
      d.maxPrefix = int32_t(intFieldOr(o, "maxPrefix", 12, 0, 1 << 16));
      d.bos = int32_t(intFieldOr(o, "bos", 1, 0, mc.vocabSize - 1));
      d.stopTokens = intArray(o, "stopTokens", 0, mc.vocabSize - 1);
      d.seed = seed;
      d.parallel = int32_t(intFieldOr(o, "parallel", 32, 1, 4096));
      auto& tr = t.trainer;
      t.evalWidth = int32_t(intFieldOr(o, "evalWidth", 8, 1, 1024));
      t.evalLength = int32_t(intFieldOr(o, "evalLength", 5, 2, 64));
      tr.unroll = int32_t(intFieldOr(o, "unroll", std::max(4, t.evalLength - 1), 1, 64));
      tr.batchSize = int32_t(intFieldOr(o, "batchSize", 256, 1, 1 << 20));
      tr.learningRate = numberFieldOr(o, "learningRate", 3e-3, 0, 10);
      tr.weightDecay = numberFieldOr(o, "weightDecay", 0.01, 0, 10);
      tr.distill = numberFieldOr(o, "distill", 0, 0, 1);
      tr.warmupFraction = numberFieldOr(o, "warmupFraction", 0.03, 0, 1);
      tr.seed = seed;
      tr.threads = int32_t(intFieldOr(o, "threads", model_->threads(), 1, 1024));
      t.epochs = numberFieldOr(o, "epochs", 4, 1e-6, 1e6);
      t.maxSteps = intFieldOr(o, "steps", 0, 0, int64_t(1) << 40);
      auto& h = t.heldOut;
      h.sequences = int32_t(intFieldOr(o, "evalTexts", 32, 0, 1 << 20));
      h.length = d.length;
      h.prefix = int32_t(intFieldOr(o, "evalPrefix", 6, 0, 1 << 16));
      h.seed = seed ^ 0xE7A1E7A1E7A1ULL;
      h.bos = d.bos;
      h.stopTokens = d.stopTokens;
      h.parallel = d.parallel;
      model::validateDrafterConfig(t.config, "drafter");
      state_ = std::make_shared<TrainingState>();
    });
  }

 private:
  Napi::Value Run(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      if (state_->running.exchange(true)) fail(ErrorCode::InvalidArgument, "this training is already running");
      Napi::Function onProgress;
      if (info.Length() >= 1 && !info[0].IsUndefined()) {
        if (!info[0].IsFunction()) {
          state_->running = false;
          fail(ErrorCode::InvalidArgument, "onProgress must be a function");
        }
        onProgress = info[0].As<Napi::Function>();
      }
      state_->stop = false;
      auto* worker = new TrainWorker(info.Env(), model_, options_, state_, onProgress);
      Napi::Promise promise = worker->Promise();
      worker->Queue();
      return promise;
    });
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    state_->stop = true;
    return info.Env().Undefined();
  }

  std::shared_ptr<cpu::Transformer> model_;
  TrainingOptions options_;
  std::shared_ptr<TrainingState> state_;
};

class AcceptanceWorker : public PromiseWorker {
 public:
  AcceptanceWorker(Napi::Env env, std::shared_ptr<cpu::Transformer> model, std::shared_ptr<const cpu::Drafter> drafter,
                   std::string tokenizer, std::vector<std::string> prompts, cpu::HeldOutOptions heldOut,
                   std::vector<int32_t> widths, std::vector<int32_t> lengths)
      : PromiseWorker(env),
        model_(std::move(model)),
        drafter_(std::move(drafter)),
        tokenizer_(std::move(tokenizer)),
        prompts_(std::move(prompts)),
        heldOut_(std::move(heldOut)),
        widths_(std::move(widths)),
        lengths_(std::move(lengths)) {}

 protected:
  void Run() override {
    drafter_->checkMatches(model_->config(), model_->weights().path);
    heldOut_.prompts = encodePrompts(tokenizer_, prompts_, model_->config(), &heldOut_.bos);
    texts_ = cpu::heldOutGreedyTexts(*model_, heldOut_, nullptr);
    auto weights = std::shared_ptr<const model::ModelWeights>(model_, &model_->weights());
    auto embed = cpu::modelEmbeddings(weights);
    for (int32_t w : widths_)
      for (int32_t l : lengths_)
        rows_.push_back({w, l, cpu::measureGreedyAcceptance(*drafter_, embed, texts_.corpus, texts_.promptLengths, {w, l})});
  }
  Napi::Value Resolve(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    Napi::Array rows = Napi::Array::New(env, rows_.size());
    for (size_t i = 0; i < rows_.size(); i++) rows.Set(uint32_t(i), acceptanceObject(env, rows_[i].w, rows_[i].l, rows_[i].stats));
    o.Set("rows", rows);
    o.Set("texts", double(texts_.corpus.sequences()));
    o.Set("tokens", double(texts_.corpus.tokens.size()));
    return o;
  }

 private:
  struct Row {
    int32_t w, l;
    cpu::AcceptanceStats stats;
  };
  std::shared_ptr<cpu::Transformer> model_;
  std::shared_ptr<const cpu::Drafter> drafter_;
  std::string tokenizer_;
  std::vector<std::string> prompts_;
  cpu::HeldOutOptions heldOut_;
  std::vector<int32_t> widths_, lengths_;
  cpu::HeldOutTexts texts_;
  std::vector<Row> rows_;
};

// measureDrafterAcceptance({model, drafter, tokenizer?, prompts?, texts?, prefix?, length?, seed?, bos?, stopTokens?,
//                           widths, lengths})
Napi::Value MeasureDrafterAcceptance(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    Napi::Object o = objectArg(info, 0, "options");
    auto model = Model::engineOf(o.Get("model"), "model");
    auto drafter = Drafter::drafterOf(o.Get("drafter"), "drafter");
    const model::ModelConfig& mc = model->config();
    std::string tokenizer = stringFieldOr(o, "tokenizer", "");
    std::vector<std::string> prompts = stringArray(o, "prompts");
    if (tokenizer.empty() && !prompts.empty()) fail(ErrorCode::InvalidArgument, "prompts need a tokenizer");
    cpu::HeldOutOptions h;
    const int32_t contextLength = mc.contextLength > 0 ? mc.contextLength : 1 << 20;
    h.length = int32_t(intFieldOr(o, "length", std::min(160, contextLength), 3, contextLength));
    h.sequences = int32_t(intFieldOr(o, "texts", 32, 1, 1 << 20));
    h.prefix = int32_t(intFieldOr(o, "prefix", 6, 0, 1 << 16));
    h.seed = uint64_t(intFieldOr(o, "seed", 0, 0, int64_t(1) << 52)) ^ 0xE7A1E7A1E7A1ULL;
    h.bos = int32_t(intFieldOr(o, "bos", 1, 0, mc.vocabSize - 1));
    h.stopTokens = intArray(o, "stopTokens", 0, mc.vocabSize - 1);
    std::vector<int32_t> widths = intArray(o, "widths", 1, 1024), lengths = intArray(o, "lengths", 2, 256);
    if (widths.empty() || lengths.empty()) fail(ErrorCode::InvalidArgument, "widths and lengths must not be empty");
    auto* worker = new AcceptanceWorker(info.Env(), model, drafter, tokenizer, prompts, h, widths, lengths);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  });
}

void InitDrafterTraining(Napi::Env env, Napi::Object exports) {
  DrafterTraining::Init(env, exports);
  exports.Set("measureDrafterAcceptance", Napi::Function::New(env, MeasureDrafterAcceptance, "measureDrafterAcceptance"));
}

}  // namespace

}  // namespace redrafter::addon

REDRAFTER_ADDON_PART(drafterTraining, redrafter::addon::InitDrafterTraining)

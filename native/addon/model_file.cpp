// Model-file operations for JS, each an async function run off the event loop:
//   inspectModel(path) -> what a model or tokenizer file holds (config, tensors, metadata, tokenizer summary)
//   convertModel({model, tokenizer?, out, type?, onProgress?}) -> writes a GGUF (see tools/convert.h)
#include <string>

#include "addon/args.h"
#include "addon/errors.h"
#include "addon/model_config.h"
#include "addon/registry.h"
#include "core/error.h"
#include "tools/convert.h"
#include "tools/inspect.h"
#include "tokenizer/tokenizer.h"

namespace redrafter::addon {

namespace {

Napi::Object tokenizerObject(Napi::Env env, const tools::TokenizerSummary& t) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("format", t.format);
  o.Set("vocabSize", t.vocabSize);
  o.Set("bos", t.bos);
  o.Set("eos", t.eos);
  o.Set("unk", t.unk);
  o.Set("maxTokenLength", t.maxTokenLength);
  o.Set("addBos", t.addBos);
  o.Set("addSpacePrefix", t.addSpacePrefix);
  Napi::Object counts = Napi::Object::New(env);
  counts.Set("normal", t.normal);
  counts.Set("control", t.control);
  counts.Set("byte", t.byte);
  counts.Set("unknown", t.unknown);
  counts.Set("other", t.other);
  o.Set("tokenTypes", counts);
  return o;
}

// A valid-UTF-8 JS string from bytes that may not be (GGUF metadata strings are not checked).
Napi::String utf8String(Napi::Env env, const std::string& bytes) {
  std::string text;
  tokenizer::appendCompleteUtf8(bytes, text, true);
  return Napi::String::New(env, text);
}

class InspectWorker : public PromiseWorker {
 public:
  InspectWorker(Napi::Env env, std::string path) : PromiseWorker(env), path_(std::move(path)) {}

 protected:
  void Run() override { summary_ = tools::inspectFile(path_); }
  Napi::Value Resolve(Napi::Env env) override {
    const tools::FileSummary& s = summary_;
    Napi::Object o = Napi::Object::New(env);
    o.Set("path", s.path);
    o.Set("kind", s.kind);
    o.Set("format", s.format);
    o.Set("fileBytes", double(s.fileBytes));
    o.Set("version", s.version);
    o.Set("config", s.config ? Napi::Value(setModelArchitecture(Napi::Object::New(env), *s.config)) : env.Null());
    o.Set("unsupported", s.unsupported.empty() ? env.Null() : Napi::Value(utf8String(env, s.unsupported)));
    o.Set("runnable", s.runnable);
    o.Set("architecture", s.architecture.empty() ? env.Null() : Napi::Value(utf8String(env, s.architecture)));
    o.Set("tokenizerModel", s.tokenizerModel.empty() ? env.Null() : Napi::Value(utf8String(env, s.tokenizerModel)));
    o.Set("tokenizerPre", s.tokenizerPre.empty() ? env.Null() : Napi::Value(utf8String(env, s.tokenizerPre)));
    o.Set("chatTemplate", s.chatTemplate);
    Napi::Array tensors = Napi::Array::New(env, s.tensors.size());
    for (size_t i = 0; i < s.tensors.size(); ++i) {
      const tools::TensorSummary& t = s.tensors[i];
      Napi::Object to = Napi::Object::New(env);
      to.Set("name", utf8String(env, t.name));
      to.Set("type", t.type);
      Napi::Array shape = Napi::Array::New(env, t.shape.size());
      for (size_t d = 0; d < t.shape.size(); ++d) shape.Set(uint32_t(d), double(t.shape[d]));
      to.Set("shape", shape);
      to.Set("bytes", double(t.bytes));
      to.Set("offset", double(t.offset));
      tensors.Set(uint32_t(i), to);
    }
    o.Set("tensors", tensors);
    o.Set("tokenizer", s.tokenizer ? Napi::Value(tokenizerObject(env, *s.tokenizer)) : env.Null());
    Napi::Array metadata = Napi::Array::New(env, s.metadata.size());
    for (size_t i = 0; i < s.metadata.size(); ++i) {
      Napi::Object m = Napi::Object::New(env);
      m.Set("key", utf8String(env, s.metadata[i].key));
      m.Set("type", s.metadata[i].type);
      m.Set("value", utf8String(env, s.metadata[i].value));
      metadata.Set(uint32_t(i), m);
    }
    o.Set("metadata", metadata);
    return o;
  }

 private:
  std::string path_;
  tools::FileSummary summary_;
};

class ConvertWorker : public PromiseWorker {
 public:
  // `onProgress`: an optional JS function (done, total), called on the main thread after each tensor.
  ConvertWorker(Napi::Env env, tools::ConvertOptions options, Napi::Value onProgress)
      : PromiseWorker(env), options_(std::move(options)) {
    if (onProgress.IsFunction()) {
      progress_ = Napi::ThreadSafeFunction::New(env, onProgress.As<Napi::Function>(), "redrafter.convert", 0, 1);
      hasProgress_ = true;
    }
  }

 protected:
  void Run() override {
    struct Release {  // the thread-safe function is released however Run ends
      ConvertWorker* self;
      ~Release() {
        if (self->hasProgress_) self->progress_.Release();
      }
    } release{this};
    if (hasProgress_) {
      options_.progress = [this](int32_t done, int32_t total) {
        progress_.NonBlockingCall([done, total](Napi::Env env, Napi::Function callback) {
          try {
            callback.Call({Napi::Number::New(env, done), Napi::Number::New(env, total)});
          } catch (const Napi::Error&) {
            // a throwing progress callback does not stop the conversion
          }
        });
      };
    }
    result_ = tools::convertToGguf(options_);
  }
  Napi::Value Resolve(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("out", result_.outPath);
    o.Set("type", result_.type);
    o.Set("bytes", double(result_.bytes));
    o.Set("tensors", result_.tensors);
    Napi::Array fallbacks = Napi::Array::New(env, result_.fallbacks.size());
    for (size_t i = 0; i < result_.fallbacks.size(); ++i) fallbacks.Set(uint32_t(i), result_.fallbacks[i]);
    o.Set("fallbacks", fallbacks);
    return o;
  }

 private:
  tools::ConvertOptions options_;
  tools::ConvertResult result_;
  Napi::ThreadSafeFunction progress_;
  bool hasProgress_ = false;
};

Napi::Value InspectModel(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsString()) fail(ErrorCode::InvalidArgument, "path must be a string");
    auto* worker = new InspectWorker(info.Env(), info[0].As<Napi::String>().Utf8Value());
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  });
}

Napi::Value ConvertModel(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    Napi::Object options = objectArg(info, 0, "options");
    tools::ConvertOptions o;
    o.modelPath = stringFieldOr(options, "model", "");
    o.tokenizerPath = stringFieldOr(options, "tokenizer", "");
    o.outPath = stringFieldOr(options, "out", "");
    o.type = stringFieldOr(options, "type", "f32");
    o.chatTemplate = stringFieldOr(options, "chatTemplate", "");
    if (o.modelPath.empty()) fail(ErrorCode::InvalidArgument, "model must be a file path");
    if (o.outPath.empty()) fail(ErrorCode::InvalidArgument, "out must be a file path");
    tools::checkConvertType(o.type);
    Napi::Value onProgress = options.Get("onProgress");
    if (!onProgress.IsUndefined() && !onProgress.IsNull() && !onProgress.IsFunction())
      fail(ErrorCode::InvalidArgument, "onProgress must be a function");
    auto* worker = new ConvertWorker(info.Env(), std::move(o), onProgress);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  });
}

void InitModelFile(Napi::Env env, Napi::Object exports) {
  exports.Set("inspectModel", Napi::Function::New<InspectModel>(env, "inspectModel"));
  exports.Set("convertModel", Napi::Function::New<ConvertModel>(env, "convertModel"));
}

}  // namespace

}  // namespace redrafter::addon

REDRAFTER_ADDON_PART(model_file, redrafter::addon::InitModelFile)

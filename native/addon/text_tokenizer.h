// The TextTokenizer JS class: the CPU engine's SentencePiece tokenizer (llama2.c tokenizer.bin or a GGUF's
// embedded one) as the generation API uses it: encode a prompt, and the bytes of each generated token.
#pragma once
#include <napi.h>

#include <memory>

#include "cpu/tokenizer/tokenizer.h"

namespace redrafter::addon {

class TextTokenizer : public Napi::ObjectWrap<TextTokenizer> {
 public:
  static void Init(Napi::Env env, Napi::Object ns);
  TextTokenizer(const Napi::CallbackInfo& info);
  static Napi::Object create(Napi::Env env, std::shared_ptr<const cpu::Tokenizer> tokenizer);

 private:
  static Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value Encode(const Napi::CallbackInfo& info);
  Napi::Value Piece(const Napi::CallbackInfo& info);
  Napi::Value GetBos(const Napi::CallbackInfo& info);
  Napi::Value GetEos(const Napi::CallbackInfo& info);
  Napi::Value GetSize(const Napi::CallbackInfo& info);

  std::shared_ptr<const cpu::Tokenizer> tokenizer_;
};

}  // namespace redrafter::addon

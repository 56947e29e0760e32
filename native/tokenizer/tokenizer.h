// The tokenizers llama.cpp runs from GGUF metadata, behind one interface (the vocabulary's model says which):
//   SentencePiece ("llama", spm_encode.cpp): encoding exactly as llama.cpp's SPM tokenizer does (dummy space
//     prefix, spaces as "▁", best-score adjacent pair merges with ties to the leftmost pair, byte fallback through
//     <0xXX> tokens), decoding with llama2.c's rule that a piece right after BOS drops its leading space;
//   byte-level BPE ("gpt2", bpe_encode.cpp): the text split into words by the pre-tokenizer that
//     tokenizer.ggml.pre names (unicode.h), each word's bytes mapped to GPT-2's printable code points and merged by
//     rank, as llama.cpp's BPE tokenizer; decoding maps the code points back to bytes.
// Both split the text at special-token texts first (user-defined always, control and unknown when parsing
// specials) and stream decoded text without splitting UTF-8 characters.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/unicode.h"
#include "tokenizer/vocab.h"

namespace redrafter::model {
class GgufFile;
}

namespace redrafter::tokenizer {

using model::GgufFile;

class Tokenizer {
 public:
  // llama2.c tokenizer.bin: int32 max_token_length, then per token float32 score, int32 length, bytes. The token
  // count is the file's (all of it must be tokens) and, when `expectedVocab` > 0, must equal it.
  static std::shared_ptr<const Tokenizer> fromLlama2c(const std::string& path, int32_t expectedVocab = 0);
  // tokenizer.ggml.* of a GGUF: model "llama" (SentencePiece) or "gpt2" (byte-level BPE with a pre-tokenizer
  // llama.cpp names "llama-bpe" or "qwen2"); anything else is refused (Unsupported naming the key and value).
  static std::shared_ptr<const Tokenizer> fromGguf(const GgufFile& gguf);
  // Either, by the file's first bytes (GGUF magic or not).
  static std::shared_ptr<const Tokenizer> load(const std::string& path);

  const Vocab& vocab() const { return vocab_; }
  const std::string& path() const { return path_; }
  const std::string& format() const { return format_; }  // "llama2c" or "gguf"
  // GGUF tokenizer.chat_template (a Jinja template), or "" when the file has none.
  const std::string& chatTemplate() const { return chatTemplate_; }
  int32_t size() const { return vocab_.size(); }
  int32_t bos() const { return vocab_.bos; }
  int32_t eos() const { return vocab_.eos; }
  // The tokens that end generation (EOS, end-of-turn tokens such as <|eot_id|> and <|im_end|>), ascending.
  const std::vector<int32_t>& eogTokens() const { return vocab_.eog; }
  bool isEog(int32_t token) const;

  // Token ids of `text` (UTF-8). `addBos` prepends BOS; `parseSpecial` turns control/unknown token texts in
  // `text` (e.g. "<s>") into those tokens, as llama.cpp's parse_special.
  std::vector<int32_t> encode(const std::string& text, bool addBos, bool parseSpecial = false) const;

  // The bytes `token` stands for (control and unknown tokens: none; user-defined: its text verbatim, as
  // llama.cpp), given the token before it (-1: none):
  // after BOS a leading space is dropped. Throws InvalidArgument for an id outside the vocabulary.
  std::string piece(int32_t token, int32_t previous) const;
  // All pieces of `tokens` joined, as valid UTF-8 (incomplete or invalid sequences become U+FFFD).
  std::string decode(const std::vector<int32_t>& tokens, int32_t previous = -1) const;

 private:
  void encodeText(const std::string& text, std::vector<int32_t>& out) const;  // SentencePiece, one fragment
  void encodeBpe(const std::string& text, std::vector<int32_t>& out) const;   // byte-level BPE, one fragment
  Vocab vocab_;
  std::string path_;
  std::string format_;
  std::string chatTemplate_;
  std::vector<int32_t> specials_;  // control/unknown/user-defined ids, longest text first
  PreTokenizer pre_ = PreTokenizer::Llama3;  // BPE only
  friend struct TokenizerBuilder;
};

// Turns a stream of tokens into text without ever emitting part of a UTF-8 character: bytes of an incomplete
// character are held until it completes; invalid bytes become U+FFFD.
class IncrementalDecoder {
 public:
  IncrementalDecoder(std::shared_ptr<const Tokenizer> tokenizer, int32_t previous = -1)
      : tokenizer_(std::move(tokenizer)), previous_(previous) {}
  // The text that became complete with `token` (possibly empty).
  std::string push(int32_t token);
  // Whatever is still held, as U+FFFD replacement characters; resets the pending bytes.
  std::string flush();
  bool pending() const { return !buffer_.empty(); }

 private:
  std::shared_ptr<const Tokenizer> tokenizer_;
  int32_t previous_;
  std::string buffer_;
};

// Splits `bytes` into the longest prefix of whole characters (appended to `out`, invalid bytes as U+FFFD) and
// returns how many bytes at the end form an incomplete (so far valid) character. With `final`, those too become
// U+FFFD and 0 is returned.
size_t appendCompleteUtf8(const std::string& bytes, std::string& out, bool final);

}  // namespace redrafter::tokenizer

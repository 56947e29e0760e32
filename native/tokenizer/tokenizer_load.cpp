// Loading tokenizers: llama2.c tokenizer.bin and GGUF tokenizer.ggml.* metadata.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "model/byte_reader.h"
#include "model/gguf_reader.h"
#include "model/mapped_file.h"
#include "tokenizer/tokenizer.h"

namespace redrafter::tokenizer {

using model::ByteReader;
using model::GgufFile;
using model::GgufType;
using model::GgufValue;
using model::MappedFile;

namespace {
constexpr int64_t kMaxVocabTokens = 1 << 24;
constexpr int32_t kMaxPieceBytes = 1 << 16;
const char* kSpaceMark = "\xe2\x96\x81";  // U+2581

std::string escapeSpaces(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == ' ') out += kSpaceMark;
    else out += c;
  }
  return out;
}
}  // namespace

// llama.cpp's end-of-generation tokens: EOS, tokenizer.ggml.eot/eom_token_id (already in `eog`), and the tokens with
// these texts (made control tokens if they were not, as llama.cpp does).
void findEndOfGeneration(Vocab& v) {
  static const char* const kTexts[] = {
      "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>",
      "<|end_of_text|>", "<end_of_utterance>", "</s>",
      // fill-in-the-middle pad / repository / file separators (Qwen's among them)
      "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<|file_sep|>"};
  for (const char* text : kTexts) {
    auto it = v.index.find(text);
    if (it == v.index.end()) continue;
    v.eog.push_back(it->second);
    if (v.tokens[it->second].type != TokenType::Unused) v.tokens[it->second].type = TokenType::Control;
  }
  if (v.eos >= 0) v.eog.push_back(v.eos);
  std::sort(v.eog.begin(), v.eog.end());
  v.eog.erase(std::unique(v.eog.begin(), v.eog.end()), v.eog.end());
}

struct TokenizerBuilder {
  static void finish(Tokenizer& t) {
    Vocab& v = t.vocab_;
    for (auto& token : v.tokens)
      if (token.text.empty()) token.text = "[EMPTY_" + std::to_string(&token - v.tokens.data()) + "]";  // llama.cpp
    v.finish();
    findEndOfGeneration(v);
    for (int32_t id = 0; id < v.size(); ++id) {
      TokenType type = v.tokens[id].type;
      if (type == TokenType::Control || type == TokenType::Unknown || type == TokenType::UserDefined)
        t.specials_.push_back(id);
    }
    std::stable_sort(t.specials_.begin(), t.specials_.end(), [&](int32_t a, int32_t b) {
      return v.tokens[a].text.size() > v.tokens[b].text.size();
    });
  }
  static Tokenizer& mut(const std::shared_ptr<Tokenizer>& t) { return *t; }
};

std::shared_ptr<const Tokenizer> Tokenizer::fromLlama2c(const std::string& path, int32_t expectedVocab) {
  auto file = MappedFile::open(path);
  ByteReader r(file->data(), file->size(), path);
  auto bad = [&](const std::string& problem) { fail(ErrorCode::InvalidModel, path + ": " + problem); };
  if (file->size() >= 4 && std::memcmp(file->data(), "GGUF", 4) == 0)
    bad("is a GGUF file, not a llama2.c tokenizer.bin");
  int32_t maxLength = r.read<int32_t>("max_token_length");
  if (maxLength <= 0 || maxLength > kMaxPieceBytes)
    bad("max_token_length is " + std::to_string(maxLength) + " (must be in 1.." + std::to_string(kMaxPieceBytes) + ")");
  auto t = std::shared_ptr<Tokenizer>(new Tokenizer());
  t->path_ = path;
  t->format_ = "llama2c";
  Vocab& v = t->vocab_;
  while (r.remaining() > 0) {
    if (int64_t(v.tokens.size()) >= kMaxVocabTokens) bad("holds more than " + std::to_string(kMaxVocabTokens) + " tokens");
    const std::string id = std::to_string(v.tokens.size());
    float score = r.read<float>("token score");
    int32_t length = r.read<int32_t>("token length");
    if (!std::isfinite(score)) bad("token " + id + " has a non-finite score");
    if (length < 0 || length > maxLength)
      bad("token " + id + " has length " + std::to_string(length) + " (max_token_length is " +
          std::to_string(maxLength) + ")");
    const uint8_t* bytes = r.take(uint64_t(length), "token text");
    v.tokens.push_back({std::string(reinterpret_cast<const char*>(bytes), size_t(length)), score, TokenType::Normal});
  }
  if (v.tokens.size() < 3) bad("holds " + std::to_string(v.tokens.size()) + " tokens (needs <unk>, BOS and EOS at least)");
  if (expectedVocab > 0 && v.size() != expectedVocab)
    bad("holds " + std::to_string(v.size()) + " tokens but the model's vocabulary has " + std::to_string(expectedVocab));
  // Normalise as llama.cpp's convert-llama2c-to-ggml: ids 0/1/2 are <unk>/<s>/</s>, "<0xXX>" are byte tokens,
  // empty pieces are control tokens, and spaces become "▁".
  for (int32_t id = 0; id < v.size(); ++id) {
    VocabToken& token = v.tokens[id];
    if (id == 0) {
      token.text = "<unk>";
      token.type = TokenType::Unknown;
    } else if (id == 1) {
      token.text = "<s>";
      token.type = TokenType::Control;
    } else if (id == 2) {
      token.text = "</s>";
      token.type = TokenType::Control;
    } else if (token.text.empty()) {
      token.type = TokenType::Control;
    } else if (parseByteToken(token.text) >= 0) {
      token.type = TokenType::Byte;
    } else {
      token.type = TokenType::Normal;
    }
    token.text = escapeSpaces(token.text);
  }
  v.bos = 1;
  v.eos = 2;
  v.unk = 0;
  v.maxTokenLength = maxLength;
  TokenizerBuilder::finish(*t);
  return t;
}

std::shared_ptr<const Tokenizer> Tokenizer::fromGguf(const GgufFile& g) {
  std::string model = g.getString("tokenizer.ggml.model", "", true);
  if (model != "llama" && model != "gpt2")
    fail(ErrorCode::Unsupported,
         g.path() + ": tokenizer.ggml.model = \"" + model + "\" is not supported (supported: llama, gpt2)");
  const bool bpe = model == "gpt2";
  std::string pre = g.getString("tokenizer.ggml.pre", "default", false);
  PreTokenizer preTokenizer = PreTokenizer::Llama3;
  if (bpe && !parsePreTokenizer(pre, preTokenizer))
    fail(ErrorCode::Unsupported, g.path() + ": tokenizer.ggml.pre = \"" + pre +
                                     "\" is not supported (supported: llama-bpe, llama3, llama-v3, qwen2, deepseek-r1-qwen)");
  const GgufValue* tokens = g.find("tokenizer.ggml.tokens");
  if (!tokens) g.invalid("metadata 'tokenizer.ggml.tokens' is missing");
  if (tokens->type != GgufType::Array || tokens->arrayType != GgufType::String)
    g.invalid("metadata 'tokenizer.ggml.tokens' is not an array of strings");
  uint64_t n = tokens->arrayCount;
  if (n < 1 || n > uint64_t(kMaxVocabTokens)) g.invalid("tokenizer.ggml.tokens has " + std::to_string(n) + " tokens");
  const GgufValue* scores = g.find("tokenizer.ggml.scores");
  if (scores && (scores->type != GgufType::Array || scores->arrayType != GgufType::F32 || scores->arrayCount != n))
    g.invalid("metadata 'tokenizer.ggml.scores' is not an array of " + std::to_string(n) + " f32");
  const GgufValue* types = g.find("tokenizer.ggml.token_type");
  if (types && (types->type != GgufType::Array || types->arrayType != GgufType::I32 || types->arrayCount != n))
    g.invalid("metadata 'tokenizer.ggml.token_type' is not an array of " + std::to_string(n) + " i32");
  auto t = std::shared_ptr<Tokenizer>(new Tokenizer());
  t->path_ = g.path();
  t->format_ = "gguf";
  Vocab& v = t->vocab_;
  if (bpe) {
    v.model = VocabModel::Bpe;
    v.pre = pre;
    t->pre_ = preTokenizer;
    v.ignoreMerges = preTokenizer == PreTokenizer::Llama3;  // llama.cpp: llama-bpe sets ignore_merges
    const GgufValue* merges = g.find("tokenizer.ggml.merges");
    if (!merges) g.invalid("metadata 'tokenizer.ggml.merges' is missing (a gpt2 tokenizer needs its merges)");
    if (merges->type != GgufType::Array || merges->arrayType != GgufType::String)
      g.invalid("metadata 'tokenizer.ggml.merges' is not an array of strings");
    v.merges.reserve(merges->strings.size());
    v.mergeRanks.reserve(merges->strings.size() * 2);
    for (size_t i = 0; i < merges->strings.size(); ++i) {  // the first of duplicate merges keeps its rank
      v.merges.emplace_back(merges->strings[i]);
      v.mergeRanks.emplace(v.merges.back(), int32_t(i));
    }
  }
  v.tokens.resize(n);
  for (uint64_t i = 0; i < n; ++i) {
    VocabToken& token = v.tokens[i];
    token.text = std::string(tokens->strings[i]);
    if (scores) {
      std::memcpy(&token.score, scores->arrayData + 4 * i, 4);
      if (!std::isfinite(token.score)) g.invalid("tokenizer.ggml.scores[" + std::to_string(i) + "] is not finite");
    }
    if (types) {
      int32_t type;
      std::memcpy(&type, types->arrayData + 4 * i, 4);
      token.type = type >= 1 && type <= 6 ? TokenType(type) : TokenType::Undefined;
    }
  }
  auto id = [&](const char* key, uint64_t fallback) {
    uint64_t value = g.getUint(key, fallback, false, UINT32_MAX);
    if (value >= n) g.invalid(std::string("metadata '") + key + "' is " + std::to_string(value) + ", outside the " +
                              std::to_string(n) + "-token vocabulary");
    return int32_t(value);
  };
  if (bpe) {  // llama.cpp's defaults for gpt2 vocabularies; Llama 3 adds BOS unless the file says otherwise
    v.bos = id("tokenizer.ggml.bos_token_id", 11);
    v.eos = id("tokenizer.ggml.eos_token_id", 11);
    v.unk = g.find("tokenizer.ggml.unknown_token_id") ? id("tokenizer.ggml.unknown_token_id", 0) : -1;
    v.addBos = g.getBool("tokenizer.ggml.add_bos_token", preTokenizer == PreTokenizer::Llama3);
    v.addEos = g.getBool("tokenizer.ggml.add_eos_token", false);
    v.addSpacePrefix = false;
  } else {
    v.bos = id("tokenizer.ggml.bos_token_id", 1);
    v.eos = id("tokenizer.ggml.eos_token_id", 2);
    v.unk = id("tokenizer.ggml.unknown_token_id", 0);
    v.addBos = g.getBool("tokenizer.ggml.add_bos_token", true);
    v.addSpacePrefix = g.getBool("tokenizer.ggml.add_space_prefix", true);
  }
  for (const char* key : {"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"})
    if (g.find(key)) v.eog.push_back(id(key, 0));
  t->chatTemplate_ = g.getString("tokenizer.chat_template", "", false);
  TokenizerBuilder::finish(*t);
  return t;
}

std::shared_ptr<const Tokenizer> Tokenizer::load(const std::string& path) {
  auto file = MappedFile::open(path);
  if (file->size() >= 4 && std::memcmp(file->data(), "GGUF", 4) == 0) return fromGguf(*GgufFile::parse(file));
  return fromLlama2c(path);
}

}  // namespace redrafter::tokenizer

// A vocabulary in llama.cpp's form, of one of two models (GGUF tokenizer.ggml.model):
//   "llama" (SentencePiece): piece texts with spaces as U+2581 ("▁"), a score and a type per token; built from a
//           llama2.c tokenizer.bin (normalised exactly as llama.cpp's convert-llama2c-to-ggml does) or a GGUF;
//   "gpt2"  (byte-level BPE): texts of bytes mapped to printable code points (GPT-2's bytes_to_unicode, "Ġ" for a
//           space), merges ranked by their order (tokenizer.ggml.merges), a pre-tokenizer (tokenizer.ggml.pre).
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace redrafter::tokenizer {

// GGUF tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
enum class TokenType : int32_t { Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };
const char* tokenTypeName(TokenType type);

struct VocabToken {
  std::string text;  // as stored in GGUF: "▁" for spaces, "<0x0A>" for byte tokens, "<s>" for BOS
  float score = 0;
  TokenType type = TokenType::Normal;
};

enum class VocabModel { Spm, Bpe };
const char* vocabModelName(VocabModel model);  // "llama", "gpt2" (tokenizer.ggml.model)

struct Vocab {
  VocabModel model = VocabModel::Spm;
  std::string pre;  // tokenizer.ggml.pre (BPE; "" for SentencePiece)
  std::vector<VocabToken> tokens;
  std::unordered_map<std::string, int32_t> index;  // text -> id (the last id wins for duplicate texts, as llama.cpp)
  int32_t bos = 1, eos = 2, unk = 0;
  bool addBos = true;          // tokenizer.ggml.add_bos_token
  bool addEos = false;         // tokenizer.ggml.add_eos_token (BPE: appended when encoding adds BOS)
  bool addSpacePrefix = true;  // tokenizer.ggml.add_space_prefix (SentencePiece dummy prefix; never for BPE)
  bool ignoreMerges = false;   // BPE: a pre-tokenized word that is a token is that token (llama.cpp: Llama 3)
  std::vector<std::string> merges;  // BPE: tokenizer.ggml.merges, "left right", in rank order
  // "left right" -> rank (its index in `merges`; lower merges first; the first of duplicates)
  std::unordered_map<std::string, int32_t> mergeRanks;
  // End-of-generation tokens, ascending: EOS, tokenizer.ggml.eot_token_id / eom_token_id, and the tokens that
  // llama.cpp treats as such by their text (<|eot_id|>, <|im_end|>, <|endoftext|>, <|end|>, <end_of_turn>, ...).
  std::vector<int32_t> eog;
  int32_t byteTokens[256];     // byte value -> id of its <0xXX> token, -1 when absent
  int32_t maxTokenLength = 0;  // longest text in bytes (llama2.c header value when loaded from tokenizer.bin)

  int32_t size() const { return int32_t(tokens.size()); }
  int32_t find(const std::string& text) const {
    auto it = index.find(text);
    return it == index.end() ? -1 : it->second;
  }
  // Builds `index` and `byteTokens` from `tokens`.
  void finish();
};

// The byte value of a "<0xXX>" token text, or -1.
int parseByteToken(const std::string& text);

}  // namespace redrafter::tokenizer

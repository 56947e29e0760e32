// Byte-level BPE encoding, token for token as llama.cpp's BPE tokenizer (llm_tokenizer_bpe_session): the fragment
// is split into words by the pre-tokenizer, each word's bytes become GPT-2's printable code points; with
// ignoreMerges a word that is a token is that token; otherwise the word's characters are merged pairwise, always
// the adjacent pair of lowest merge rank (ties: the leftmost pair), and each final symbol is its token or, when it
// is not one, the tokens of its single bytes.
#include <queue>

#include "tokenizer/tokenizer.h"

namespace redrafter::tokenizer {

namespace {

struct Symbol {
  const char* text;
  size_t n;
  int prev, next;
};

struct Bigram {
  int left, right;
  int32_t rank;
  std::string text;
};

struct BigramOrder {  // the lowest rank first; among equal ranks the leftmost pair
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

size_t utf8Length(unsigned char lead) {
  static const size_t lengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return lengths[lead >> 4];
}

void encodeWord(const Vocab& vocab, const std::string& word, std::vector<int32_t>& out) {
  if (vocab.ignoreMerges) {
    int32_t id = vocab.find(word);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  for (size_t offset = 0; offset < word.size();) {
    size_t n = std::min(utf8Length(static_cast<unsigned char>(word[offset])), word.size() - offset);
    int index = int(symbols.size());
    symbols.push_back({word.data() + offset, n, index - 1, offset + n == word.size() ? -1 : index + 1});
    offset += n;
  }
  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  std::string key;
  auto tryAdd = [&](int left, int right) {
    if (left == -1 || right == -1) return;
    key.assign(symbols[left].text, symbols[left].n);
    key += ' ';
    key.append(symbols[right].text, symbols[right].n);
    auto it = vocab.mergeRanks.find(key);
    if (it == vocab.mergeRanks.end()) return;
    queue.push({left, right, it->second,
                std::string(symbols[left].text, symbols[left].n) + std::string(symbols[right].text, symbols[right].n)});
  };
  for (int i = 1; i < int(symbols.size()); ++i) tryAdd(i - 1, i);
  while (!queue.empty()) {
    Bigram b = queue.top();
    queue.pop();
    Symbol& left = symbols[b.left];
    Symbol& right = symbols[b.right];
    if (left.n == 0 || right.n == 0) continue;
    if (left.n + right.n != b.text.size() || b.text.compare(0, left.n, left.text, left.n) != 0 ||
        b.text.compare(left.n, right.n, right.text, right.n) != 0)
      continue;  // stale: a side changed since this pair was queued
    left.n += right.n;
    right.n = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = b.left;
    tryAdd(left.prev, b.left);
    tryAdd(b.left, left.next);
  }
  for (int i = symbols.empty() ? -1 : 0; i != -1; i = symbols[i].next) {
    const Symbol& s = symbols[i];
    if (s.n == 0) continue;
    std::string text(s.text, s.n);
    int32_t id = vocab.find(text);
    if (id >= 0) {
      out.push_back(id);
      continue;
    }
    for (char c : text) {  // llama.cpp: each byte of the symbol's text as a token, when it is one
      int32_t byteId = vocab.find(std::string(1, c));
      if (byteId >= 0) out.push_back(byteId);
    }
  }
}

}  // namespace

void Tokenizer::encodeBpe(const std::string& text, std::vector<int32_t>& out) const {
  const std::vector<uint32_t> cps = utf8ToCodepoints(text);
  size_t start = 0;
  std::string word;
  std::string utf8;
  for (size_t length : preTokenize(pre_, cps)) {
    word.clear();
    for (size_t i = start; i < start + length; ++i) {
      utf8.clear();
      appendUtf8(cps[i], utf8);
      for (char c : utf8) word += byteToUnicode(static_cast<uint8_t>(c));
    }
    start += length;
    encodeWord(vocab_, word, out);
  }
}

}  // namespace redrafter::tokenizer

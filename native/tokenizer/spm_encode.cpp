// SentencePiece (llama) encoding, token for token as llama.cpp's SPM tokenizer (llm_tokenizer_spm): the text is
// split at control/unknown token texts when parsing specials; each remaining fragment gets the dummy space prefix
// when it starts the text or follows a special token, spaces become "▁", the fragment is split into UTF-8
// characters, and the adjacent pair whose concatenation is the best-scoring token is merged repeatedly (ties: the
// leftmost pair). Symbols that are not tokens fall back to their bytes' <0xXX> tokens.
#include <algorithm>
#include <queue>
#include <string_view>

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
  float score;
  size_t size;
};

struct BigramOrder {  // the highest score first; among equal scores the leftmost pair
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

size_t utf8Length(unsigned char lead) {
  static const size_t lengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return lengths[lead >> 4];
}

// One fragment of text (already prefixed and escaped).
void encodeFragment(const Vocab& vocab, const std::string& text, std::vector<int32_t>& out) {
  std::vector<Symbol> symbols;
  symbols.reserve(text.size());
  size_t offset = 0;
  int index = 0;
  while (offset < text.size()) {
    size_t n = std::min(utf8Length(static_cast<unsigned char>(text[offset])), text.size() - offset);
    Symbol s{text.data() + offset, n, index - 1, 0};
    offset += n;
    s.next = offset == text.size() ? -1 : index + 1;
    ++index;
    symbols.push_back(s);
  }
  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  auto tryAdd = [&](int left, int right) {
    if (left == -1 || right == -1) return;
    std::string joined(symbols[left].text, symbols[left].n + symbols[right].n);
    int32_t id = vocab.find(joined);
    if (id < 0) return;
    queue.push({left, right, vocab.tokens[id].score, joined.size()});
  };
  for (int i = 1; i < int(symbols.size()); ++i) tryAdd(i - 1, i);
  while (!queue.empty()) {
    Bigram b = queue.top();
    queue.pop();
    Symbol& left = symbols[b.left];
    Symbol& right = symbols[b.right];
    if (left.n == 0 || right.n == 0 || left.n + right.n != b.size) continue;  // stale: a side already merged
    left.n += right.n;
    right.n = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = b.left;
    tryAdd(left.prev, b.left);
    tryAdd(b.left, left.next);
  }
  if (symbols.empty()) return;
  for (int i = 0; i != -1; i = symbols[i].next) {
    const Symbol& s = symbols[i];
    int32_t id = vocab.find(std::string(s.text, s.n));
    if (id >= 0) {
      out.push_back(id);
      continue;
    }
    // Every merged symbol is a token, so only single characters get here: byte fallback.
    for (size_t j = 0; j < s.n; ++j) {
      int32_t byteId = vocab.byteTokens[static_cast<unsigned char>(s.text[j])];
      out.push_back(byteId >= 0 ? byteId : vocab.unk);
    }
  }
}

}  // namespace

void Tokenizer::encodeText(const std::string& text, std::vector<int32_t>& out) const {
  std::string escaped;
  escaped.reserve(text.size() + 3);
  for (char c : text) {
    if (c == ' ') escaped += "\xe2\x96\x81";
    else escaped += c;
  }
  encodeFragment(vocab_, escaped, out);
}

bool Tokenizer::isEog(int32_t token) const {
  return std::binary_search(vocab_.eog.begin(), vocab_.eog.end(), token);
}

// Both models: special-token texts split the text into fragments, then each raw fragment is encoded.
std::vector<int32_t> Tokenizer::encode(const std::string& text, bool addBos, bool parseSpecial) const {
  // Fragments: [offset, length, token] with token -1 for raw text.
  struct Fragment {
    size_t offset, length;
    int32_t token;
  };
  std::vector<Fragment> fragments;
  if (!text.empty()) fragments.push_back({0, text.size(), -1});
  for (int32_t special : specials_) {
    const VocabToken& t = vocab_.tokens[special];
    // llama.cpp partitions on control/unknown texts only when parsing specials; user-defined always.
    if (!parseSpecial && t.type != TokenType::UserDefined) continue;
    std::vector<Fragment> next;
    next.reserve(fragments.size());
    for (const Fragment& f : fragments) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      std::string_view view(text.data(), f.offset + f.length);
      size_t start = f.offset;
      while (true) {
        size_t match = view.find(t.text, start);
        if (match == std::string_view::npos) break;
        if (match > start) next.push_back({start, match - start, -1});
        next.push_back({0, 0, special});
        start = match + t.text.size();
      }
      if (start < f.offset + f.length) next.push_back({start, f.offset + f.length - start, -1});
    }
    fragments.swap(next);
  }
  std::vector<int32_t> out;
  if (addBos) out.push_back(vocab_.bos);
  bool previousSpecial = true;
  for (const Fragment& f : fragments) {
    if (f.token >= 0) {
      out.push_back(f.token);
      previousSpecial = true;
      continue;
    }
    if (vocab_.model == VocabModel::Bpe) {
      encodeBpe(text.substr(f.offset, f.length), out);
    } else {
      std::string fragment;
      if (vocab_.addSpacePrefix && previousSpecial) fragment = " ";
      fragment.append(text, f.offset, f.length);
      encodeText(fragment, out);
    }
    previousSpecial = false;
  }
  if (addBos && vocab_.model == VocabModel::Bpe && vocab_.addEos) out.push_back(vocab_.eos);  // llama.cpp add_special
  return out;
}

}  // namespace redrafter::tokenizer

// The SentencePiece tokenizer on the real tok512 vocabulary: loading, encoding (dummy prefix, merges, byte
// fallback, specials), decoding (BOS space rule), the incremental decoder's UTF-8 handling, and bad files.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "fixtures.h"
#include "temp_files.h"

using namespace redrafter;
using namespace redrafter::tokenizer;

namespace {
std::shared_ptr<const Tokenizer> tok512() { return Tokenizer::load(test::fixture("tok512.bin")); }
using Ids = std::vector<int32_t>;
}  // namespace

TEST_CASE("tok512.bin loads with llama.cpp's token texts and types") {
  auto t = tok512();
  CHECK(t->format() == "llama2c");
  CHECK(t->size() == 512);
  CHECK(t->bos() == 1);
  CHECK(t->eos() == 2);
  const Vocab& v = t->vocab();
  CHECK(v.tokens[0].text == "<unk>");
  CHECK(v.tokens[0].type == TokenType::Unknown);
  CHECK(v.tokens[1].text == "<s>");
  CHECK(v.tokens[1].type == TokenType::Control);
  CHECK(v.tokens[2].text == "</s>");
  CHECK(v.tokens[3].text == "<0x00>");
  CHECK(v.tokens[3].type == TokenType::Byte);
  CHECK(v.tokens[258].text == "<0xFF>");
  CHECK(v.tokens[259].text == "\xe2\x96\x81t");  // "▁t": spaces are U+2581 as in GGUF
  CHECK(v.tokens[259].type == TokenType::Normal);
  for (int b = 0; b < 256; ++b) CHECK(v.byteTokens[b] == 3 + b);
}

TEST_CASE("encoding matches llama.cpp on the model's own opening") {
  auto t = tok512();
  // llama.cpp (node-llama-cpp 3.21.1) tokenizes this to the known-good greedy tokens of the README.
  CHECK(t->encode("Once upon a time, there was a little girl", true) ==
        Ids{1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421});
  CHECK(t->encode("", true) == Ids{1});
  CHECK(t->encode("", false).empty());
  // Byte fallback: "😀" is no token, so its four UTF-8 bytes become <0xF0><0x9F><0x98><0x80>.
  Ids emoji = t->encode("\xf0\x9f\x98\x80", false);
  REQUIRE(emoji.size() == 5);
  CHECK(Ids(emoji.begin() + 1, emoji.end()) == Ids{3 + 0xf0, 3 + 0x9f, 3 + 0x98, 3 + 0x80});
  // Without parsing specials, "<s>" is text; with it, the BOS token (and the text after it gets a dummy prefix).
  Ids plain = t->encode("a<s>b", false, false);
  CHECK(std::find(plain.begin(), plain.end(), 1) == plain.end());
  Ids special = t->encode("a<s>b", false, true);
  CHECK(std::count(special.begin(), special.end(), 1) == 1);
  CHECK(special == [&] {
    Ids a = t->encode("a", false);
    a.push_back(1);
    Ids b = t->encode("b", false);  // "▁b": prefixed after a special token, as llama.cpp does
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }());
}

TEST_CASE("decoding inverts encoding and drops the space after BOS") {
  auto t = tok512();
  const char* texts[] = {"Once upon a time", "  two  spaces", "tabs\tand\nnewlines\n", "caf\xc3\xa9 \xf0\x9f\x98\x80!",
                         "\xe4\xb8\xad\xe6\x96\x87", "x", "Lily's mom said, \"Hi.\""};
  for (const char* text : texts) {
    CAPTURE(text);
    CHECK(t->decode(t->encode(text, true)) == text);
    // Without BOS the dummy prefix shows as a leading space.
    CHECK(t->decode(t->encode(text, false)) == std::string(" ") + text);
  }
  CHECK(t->piece(261, 1) == "a");
  CHECK(t->piece(261, 5) == " a");
  CHECK(t->piece(1, -1).empty());
  CHECK(t->piece(2, -1).empty());
  CHECK(t->piece(3 + 'A', -1) == "A");
  CHECK_THROWS_AS(t->piece(512, -1), Error);
  CHECK_THROWS_AS(t->piece(-1, -1), Error);
}

TEST_CASE("the incremental decoder never emits half a UTF-8 character") {
  auto t = tok512();
  Ids ids = t->encode("\xf0\x9f\x98\x80 ok \xc3\xa9", true);
  IncrementalDecoder d(t);
  std::string all;
  for (int32_t id : ids) {
    std::string chunk = d.push(id);
    std::string check;
    CHECK(appendCompleteUtf8(chunk, check, false) == 0);  // every chunk is whole characters
    CHECK(check == chunk);
    all += chunk;
  }
  all += d.flush();
  CHECK(all == "\xf0\x9f\x98\x80 ok \xc3\xa9");
  // The first three bytes of the emoji are held back.
  IncrementalDecoder e(t, 5);
  CHECK(e.push(3 + 0xf0).empty());
  CHECK(e.push(3 + 0x9f).empty());
  CHECK(e.push(3 + 0x98).empty());
  CHECK(e.pending());
  CHECK(e.push(3 + 0x80) == "\xf0\x9f\x98\x80");
  // A broken sequence becomes U+FFFD and what follows still comes out.
  IncrementalDecoder f(t, 5);
  CHECK(f.push(3 + 0xc3).empty());
  CHECK(f.push(3 + 'a') == "\xef\xbf\xbd" "a");
  CHECK(f.push(3 + 0xe2).empty());
  CHECK(f.flush() == "\xef\xbf\xbd");
  CHECK(f.push(3 + 0x80) == "\xef\xbf\xbd");  // a stray continuation byte
}

TEST_CASE("bad tokenizer files are InvalidModel errors naming the file") {
  auto bytes = test::readFile(test::fixture("tok512.bin"));
  auto expect = [](const std::vector<uint8_t>& data, const char* needle) {
    test::TempFile f("bad-tok.bin");
    test::writeFile(f.path, data);
    try {
      Tokenizer::load(f.path);
      FAIL("loaded a bad tokenizer: " << needle);
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::InvalidModel);
      CHECK_MESSAGE(std::string(e.what()).find(f.path) != std::string::npos, e.what());
      CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, e.what());
    }
  };
  auto set32 = [](std::vector<uint8_t> d, size_t at, int32_t v) {
    std::memcpy(d.data() + at, &v, 4);
    return d;
  };
  expect(set32(bytes, 0, -5), "max_token_length");
  expect(set32(bytes, 0, 1 << 30), "max_token_length");
  expect(set32(bytes, 8, 1 << 30), "length");   // token 0's length
  expect(set32(bytes, 8, -1), "length");
  float nan = std::numeric_limits<float>::quiet_NaN();
  auto nanScore = bytes;
  std::memcpy(nanScore.data() + 4, &nan, 4);
  expect(nanScore, "score");
  auto truncated = bytes;
  truncated.resize(bytes.size() - 2);
  expect(truncated, "truncated");
  expect(std::vector<uint8_t>(2, 0), "truncated");
  try {
    Tokenizer::fromLlama2c(test::fixture("tok512.bin"), 32000);
    FAIL("accepted a vocabulary size mismatch");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("32000") != std::string::npos);
  }
}

// Mutation test: corrupt headers and random bytes of every real file format many times over (seeded) and check
// that each load either succeeds (and then only reads inside the file) or throws a coded redrafter::Error naming
// the file. Runs under an address-space limit, so an absurd allocation fails the test instead of the machine.
#include <doctest/doctest.h>

#ifndef _WIN32
#include <sys/resource.h>
#endif

#include <cstring>
#include <random>

#include "core/error.h"
#include "tools/convert.h"
#include "model/dequantize.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"
#include "fixtures.h"
#include "temp_files.h"

using namespace redrafter;
using namespace redrafter::model;
using namespace redrafter::tokenizer;
using namespace redrafter::tools;

namespace {

constexpr int kRounds = 400;

void limitAddressSpace() {
#ifndef _WIN32
  struct rlimit limit;
  limit.rlim_cur = limit.rlim_max = rlim_t(3) << 30;  // 3 GiB: far above what these small files need
  setrlimit(RLIMIT_AS, &limit);
#endif
}

// Exercise everything a loaded model exposes, so that views pointing outside the mapping would crash here.
double touchModel(const ModelWeights& w) {
  double sum = 0;
  std::vector<float> row;
  auto touch = [&](const TensorView& t) {
    row.resize(size_t(t.cols));
    for (int64_t r = 0; r < t.rows; ++r) {
      dequantizeRow(t, r, row.data());
      sum += row[0] + row[t.cols - 1];
    }
  };
  touch(w.tokenEmbedding);
  touch(w.output);
  touch(w.finalNorm);
  for (const auto& l : w.layers) {
    for (const TensorView* t : {&l.attnNorm, &l.wq, &l.wk, &l.wv, &l.wo, &l.ffnNorm, &l.w1, &l.w2, &l.w3}) touch(*t);
  }
  return sum;
}

std::vector<uint8_t> mutate(std::vector<uint8_t> data, std::mt19937_64& rng, size_t headerBytes) {
  auto pick = [&](size_t n) { return size_t(rng() % (n ? n : 1)); };
  switch (rng() % 5) {
    case 0: {  // a header field set to an interesting value
      static const int64_t values[] = {0, -1, 1, 2, 3, 7, 31, 32, 64, 255, 0x7fffffff, -0x80000000ll,
                                       0x7fffffffffffffffll, 1ll << 32, 1ll << 40, 1ll << 62};
      size_t width = rng() % 2 ? 4 : 8;
      size_t at = pick(std::min(headerBytes, data.size()));
      int64_t v = values[pick(sizeof(values) / sizeof(values[0]))];
      for (size_t i = 0; i < width && at + i < data.size(); ++i) data[at + i] = uint8_t(uint64_t(v) >> (8 * i));
      break;
    }
    case 1: {  // a few random bytes anywhere
      int n = 1 + int(rng() % 8);
      for (int i = 0; i < n; ++i) data[pick(data.size())] = uint8_t(rng());
      break;
    }
    case 2:  // random bytes in the header region
      for (int i = 0; i < 4; ++i) data[pick(std::min(headerBytes, data.size()))] ^= uint8_t(1u << (rng() % 8));
      break;
    case 3:  // truncation
      data.resize(pick(data.size()));
      break;
    default: {  // garbage appended
      size_t n = 1 + pick(300);
      for (size_t i = 0; i < n; ++i) data.push_back(uint8_t(rng()));
      break;
    }
  }
  return data;
}

struct Outcome {
  int loaded = 0, rejected = 0;
};

template <class Load>
Outcome fuzz(const std::string& source, const char* name, size_t headerBytes, uint64_t seed, Load load) {
  auto original = test::readFile(source);
  REQUIRE(!original.empty());
  std::mt19937_64 rng(seed);
  test::TempFile f(name);
  Outcome outcome;
  for (int round = 0; round < kRounds; ++round) {
    auto data = mutate(original, rng, headerBytes);
    test::writeFile(f.path, data);
    try {
      load(f.path);
      ++outcome.loaded;
    } catch (const Error& e) {
      ++outcome.rejected;
      bool coded = e.code() == ErrorCode::InvalidModel || e.code() == ErrorCode::Unsupported;
      CHECK_MESSAGE(coded, "round " << round << ": " << errorCodeName(e.code()) << " " << e.what());
      CHECK_MESSAGE(std::string(e.what()).find(f.path) != std::string::npos, "round " << round << ": " << e.what());
    } catch (const std::exception& e) {
      FAIL("round " << round << " of " << name << " threw an uncoded " << typeid(e).name() << ": " << e.what());
    }
  }
  MESSAGE(std::string(name) << ": " << outcome.loaded << " loaded, " << outcome.rejected << " rejected");
  CHECK(outcome.rejected > kRounds / 4);  // the mutations do hit the checks
  return outcome;
}

void loadModel(const std::string& path) { touchModel(*loadModelWeights(path)); }

void loadTokenizer(const std::string& path) {
  auto t = Tokenizer::load(path);
  for (const char* text : {"Once upon a time", "\xf0\x9f\x98\x80 <s> x", ""}) {
    auto ids = t->encode(text, true, true);
    t->decode(ids);
  }
  std::vector<int32_t> all(size_t(t->size()));
  for (int32_t i = 0; i < t->size(); ++i) all[size_t(i)] = i;
  t->decode(all);
}

}  // namespace

TEST_CASE("mutated model and tokenizer files load or fail with a coded error naming the file") {
  limitAddressSpace();
  fuzz(test::fixture("stories260K.bin"), "fuzz-v0.bin", 28, 1, loadModel);
  fuzz(test::fixture("stories260K_q80.bin"), "fuzz-q80.bin", 256, 2, loadModel);
  fuzz(test::fixture("tok512.bin"), "fuzz-tok.bin", 64, 3, loadTokenizer);
  test::TempFile gguf("fuzz-source.gguf");
  for (const char* type : {"f32", "q8_0"}) {
    ConvertOptions o;
    o.modelPath = test::fixture("stories260K.bin");
    o.tokenizerPath = test::fixture("tok512.bin");
    o.outPath = gguf.path;
    o.type = type;
    convertToGguf(o);
    // The GGUF header (metadata and tensor infos) is about the first 12 KB of this file.
    fuzz(gguf.path, "fuzz-model.gguf", 12000, 4, loadModel);
    fuzz(gguf.path, "fuzz-tok.gguf", 12000, 5, loadTokenizer);
  }
}

// buildTree: hand-worked trees, and the fast trie form against Apple's broadcast form on random beams.
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "core/build_tree.h"
#include "core/error.h"
#include "ops_reference.h"

using redrafter::buildTree;
using redrafter::PackedTrees;

namespace {

std::vector<int32_t> row(const std::vector<int32_t>& v, int b, int n) {
  return std::vector<int32_t>(v.begin() + size_t(b) * n, v.begin() + size_t(b + 1) * n);
}

// Every structural property a user of the tree relies on, for row b.
void checkInvariants(const PackedTrees& t, const std::vector<int32_t>& beams, int b) {
  const int W = t.width, L = t.length, n = t.maxLength, len = t.lengths[b];
  for (int w = 0; w < W; ++w)
    for (int l = 0; l < L; ++l) {
      const int32_t p = t.unpacker[(size_t(b) * W + w) * L + l];
      REQUIRE(p >= 0);
      REQUIRE(p < len);
      CHECK(t.tokens[size_t(b) * n + p] == beams[(size_t(b) * W + w) * L + l]);  // tokens[unpacker] == beams
      CHECK(t.positionOffsets[size_t(b) * n + p] == l);
    }
  for (int p = len; p < n; ++p) {
    CHECK(t.tokens[size_t(b) * n + p] == 0);
    CHECK(t.beamTokenIndex[size_t(b) * n + p] == -1);
    CHECK(t.positionOffsets[size_t(b) * n + p] == -1);
    CHECK(t.parents[size_t(b) * n + p] == -1);
    for (int j = 0; j < n; ++j) {
      CHECK(t.mask[(size_t(b) * n + p) * n + j] == 0);
      CHECK(t.mask[(size_t(b) * n + j) * n + p] == 0);
    }
  }
}

}  // namespace

TEST_CASE("buildTree: two beams sharing a prefix (Apple's docstring example)") {
  // [[91,92,93],[91,92,94]] packs to [91,92,93,94].
  std::vector<int32_t> beams = {91, 92, 93, 91, 92, 94};
  PackedTrees t = buildTree(beams.data(), 1, 2, 3);
  CHECK(t.maxLength == 4);
  CHECK(t.lengths == std::vector<int32_t>{4});
  CHECK(t.tokens == std::vector<int32_t>{91, 92, 93, 94});
  CHECK(t.beamTokenIndex == std::vector<int32_t>{0, 1, 2, 5});
  CHECK(t.positionOffsets == std::vector<int32_t>{0, 1, 2, 2});
  CHECK(t.parents == std::vector<int32_t>{-1, 0, 1, 1});
  CHECK(t.unpacker == std::vector<int32_t>{0, 1, 2, 0, 1, 3});
  CHECK(t.mask == std::vector<uint8_t>{1, 0, 0, 0,  //
                                       1, 1, 0, 0,  //
                                       1, 1, 1, 0,  //
                                       1, 1, 0, 1});
  checkInvariants(t, beams, 0);
}

TEST_CASE("buildTree: all beams identical collapse to one chain") {
  std::vector<int32_t> beams = {5, 6, 7, 8, 5, 6, 7, 8, 5, 6, 7, 8};
  PackedTrees t = buildTree(beams.data(), 1, 3, 4);
  CHECK(t.maxLength == 4);
  CHECK(t.tokens == std::vector<int32_t>{5, 6, 7, 8});
  CHECK(t.beamTokenIndex == std::vector<int32_t>{0, 1, 2, 3});
  CHECK(t.unpacker == std::vector<int32_t>{0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3});
  CHECK(t.parents == std::vector<int32_t>{-1, 0, 1, 2});
  // lower-triangular
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) CHECK(t.mask[i * 4 + j] == (j <= i ? 1 : 0));
}

TEST_CASE("buildTree: no shared prefix beyond the root") {
  // Root 1, then three disjoint branches.
  std::vector<int32_t> beams = {1, 2, 3, 1, 4, 5, 1, 6, 7};
  PackedTrees t = buildTree(beams.data(), 1, 3, 3);
  CHECK(t.maxLength == 7);
  CHECK(t.tokens == std::vector<int32_t>{1, 2, 3, 4, 5, 6, 7});
  CHECK(t.beamTokenIndex == std::vector<int32_t>{0, 1, 2, 4, 5, 7, 8});
  CHECK(t.positionOffsets == std::vector<int32_t>{0, 1, 2, 1, 2, 1, 2});
  CHECK(t.parents == std::vector<int32_t>{-1, 0, 1, 0, 3, 0, 5});
  CHECK(t.unpacker == std::vector<int32_t>{0, 1, 2, 0, 3, 4, 0, 5, 6});
  // token 6 (packed 5) sees the root and itself only; token 7 (packed 6) sees root, 6, itself.
  const std::vector<uint8_t> row5 = {1, 0, 0, 0, 0, 1, 0}, row6 = {1, 0, 0, 0, 0, 1, 1};
  CHECK(std::vector<uint8_t>(t.mask.begin() + 5 * 7, t.mask.begin() + 6 * 7) == row5);
  CHECK(std::vector<uint8_t>(t.mask.begin() + 6 * 7, t.mask.begin() + 7 * 7) == row6);
}

TEST_CASE("buildTree: fully distinct beams (no shared root either) keep every token") {
  std::vector<int32_t> beams = {1, 2, 3, 4};
  PackedTrees t = buildTree(beams.data(), 1, 2, 2);
  CHECK(t.tokens == std::vector<int32_t>{1, 2, 3, 4});
  CHECK(t.parents == std::vector<int32_t>{-1, 0, -1, 2});
  CHECK(t.mask == std::vector<uint8_t>{1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1});
}

TEST_CASE("buildTree: width 1 is the beam itself") {
  std::vector<int32_t> beams = {9, 9, 9, 9, 9};  // repeated tokens at different depths are distinct nodes
  PackedTrees t = buildTree(beams.data(), 1, 1, 5);
  CHECK(t.maxLength == 5);
  CHECK(t.tokens == beams);
  CHECK(t.unpacker == std::vector<int32_t>{0, 1, 2, 3, 4});
  CHECK(t.parents == std::vector<int32_t>{-1, 0, 1, 2, 3});
}

TEST_CASE("buildTree: length 2, later beams re-using an earlier child") {
  // children of root 0: 3, 4, 3(dup of beam 0), 5
  std::vector<int32_t> beams = {0, 3, 0, 4, 0, 3, 0, 5};
  PackedTrees t = buildTree(beams.data(), 1, 4, 2);
  CHECK(t.tokens == std::vector<int32_t>{0, 3, 4, 5});
  CHECK(t.beamTokenIndex == std::vector<int32_t>{0, 1, 3, 7});
  CHECK(t.unpacker == std::vector<int32_t>{0, 1, 0, 2, 0, 1, 0, 3});
  CHECK(t.parents == std::vector<int32_t>{-1, 0, 0, 0});
}

TEST_CASE("buildTree: batch rows of different tree sizes are padded") {
  std::vector<int32_t> beams = {
      1, 2, 3, 1, 2, 3,  // row 0: identical beams -> 3 tokens
      1, 2, 3, 1, 4, 5,  // row 1: branch after the root -> 5 tokens
  };
  PackedTrees t = buildTree(beams.data(), 2, 2, 3);
  CHECK(t.maxLength == 5);
  CHECK(t.lengths == std::vector<int32_t>{3, 5});
  CHECK(row(t.tokens, 0, 5) == std::vector<int32_t>{1, 2, 3, 0, 0});
  CHECK(row(t.beamTokenIndex, 0, 5) == std::vector<int32_t>{0, 1, 2, -1, -1});
  CHECK(row(t.positionOffsets, 0, 5) == std::vector<int32_t>{0, 1, 2, -1, -1});
  CHECK(row(t.parents, 0, 5) == std::vector<int32_t>{-1, 0, 1, -1, -1});
  CHECK(row(t.tokens, 1, 5) == std::vector<int32_t>{1, 2, 3, 4, 5});
  CHECK(row(t.beamTokenIndex, 1, 5) == std::vector<int32_t>{0, 1, 2, 4, 5});
  CHECK(row(t.unpacker, 1, 6) == std::vector<int32_t>{0, 1, 2, 0, 3, 4});
  checkInvariants(t, beams, 0);
  checkInvariants(t, beams, 1);
}

TEST_CASE("buildTree: matches Apple's broadcast form on random beams with heavy prefix sharing") {
  std::mt19937 gen(1234);
  int trees = 0, sharedSomething = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    const int batch = 1 + int(gen() % 4), width = 1 + int(gen() % 8), length = 1 + int(gen() % 6);
    const int vocab = 1 + int(gen() % 3);  // tiny vocabulary: beams collide a lot
    const bool sameRoot = gen() % 4 != 0;
    std::vector<int32_t> beams(size_t(batch) * width * length);
    for (int b = 0; b < batch; ++b) {
      const int32_t root = int32_t(gen() % vocab);
      for (int w = 0; w < width; ++w)
        for (int l = 0; l < length; ++l)
          beams[(size_t(b) * width + w) * length + l] = (l == 0 && sameRoot) ? root : int32_t(gen() % vocab);
    }
    PackedTrees t = buildTree(beams.data(), batch, width, length);
    const int n = t.maxLength;
    int maxLen = 0;
    for (int b = 0; b < batch; ++b) {
      auto ref = redrafter::reference::packRow(beams.data() + size_t(b) * width * length, width, length);
      const int len = int(ref.tokens.size());
      maxLen = std::max(maxLen, len);
      REQUIRE(t.lengths[b] == len);
      sharedSomething += len < width * length;
      ++trees;
      for (int p = 0; p < len; ++p) {
        REQUIRE(t.tokens[size_t(b) * n + p] == ref.tokens[p]);
        REQUIRE(t.beamTokenIndex[size_t(b) * n + p] == ref.beamTokenIndex[p]);
        REQUIRE(t.positionOffsets[size_t(b) * n + p] == ref.positionOffsets[p]);
        REQUIRE(t.parents[size_t(b) * n + p] == ref.parents[p]);
        for (int j = 0; j < len; ++j) REQUIRE(t.mask[(size_t(b) * n + p) * n + j] == ref.mask[size_t(p) * len + j]);
      }
      for (int i = 0; i < width * length; ++i) REQUIRE(t.unpacker[size_t(b) * width * length + i] == ref.unpacker[i]);
      checkInvariants(t, beams, b);
    }
    REQUIRE(t.maxLength == maxLen);
  }
  CHECK(trees > 8000);
  CHECK(sharedSomething > trees / 2);  // the inputs really exercised deduplication
}

TEST_CASE("buildTree into a reused PackedTrees: the same trees as by value, without reallocating once it has grown") {
  std::mt19937 gen(77);
  PackedTrees reused;
  redrafter::TreeScratch scratch;
  auto randomBeams = [&](int batch, int width, int length) {
    std::vector<int32_t> beams(size_t(batch) * width * length);
    for (auto& t : beams) t = int32_t(gen() % 3);
    for (int b = 0; b < batch; ++b)
      for (int w = 0; w < width; ++w) beams[(size_t(b) * width + w) * length] = 0;  // one root per row
    return beams;
  };
  {  // the largest shape first: afterwards no vector needs more room
    auto beams = std::vector<int32_t>(size_t(2) * 8 * 6);
    for (size_t i = 0; i < beams.size(); ++i) beams[i] = int32_t(i % 6 == 0 ? 0 : 1 + i);  // distinct: 2 x 41 tokens
    buildTree(beams.data(), 2, 8, 6, reused, scratch);
  }
  const void* tokens = reused.tokens.data();
  const void* mask = reused.mask.data();
  const void* unpacker = reused.unpacker.data();
  for (int iter = 0; iter < 500; ++iter) {
    const int batch = 1 + int(gen() % 2), width = 1 + int(gen() % 8), length = 1 + int(gen() % 6);
    const auto beams = randomBeams(batch, width, length);
    buildTree(beams.data(), batch, width, length, reused, scratch);
    const PackedTrees fresh = buildTree(beams.data(), batch, width, length);
    REQUIRE(reused.maxLength == fresh.maxLength);
    REQUIRE(reused.lengths == fresh.lengths);
    REQUIRE(reused.tokens == fresh.tokens);
    REQUIRE(reused.beamTokenIndex == fresh.beamTokenIndex);
    REQUIRE(reused.positionOffsets == fresh.positionOffsets);
    REQUIRE(reused.parents == fresh.parents);
    REQUIRE(reused.unpacker == fresh.unpacker);
    REQUIRE(reused.mask == fresh.mask);
    CHECK(reused.tokens.data() == tokens);
    CHECK(reused.mask.data() == mask);
    CHECK(reused.unpacker.data() == unpacker);
  }
}

TEST_CASE("buildTree: bad shapes and tokens are InvalidArgument errors naming the field") {
  std::vector<int32_t> beams = {0, 1, 2, 3};
  auto message = [&](int batch, int width, int length, const int32_t* data) {
    try {
      buildTree(data, batch, width, length);
    } catch (const redrafter::Error& e) {
      CHECK(e.code() == redrafter::ErrorCode::InvalidArgument);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(message(0, 2, 2, beams.data()).rfind("batch ", 0) == 0);
  CHECK(message(1, -1, 2, beams.data()).rfind("width ", 0) == 0);
  CHECK(message(1, 2, 0, beams.data()).rfind("length ", 0) == 0);
  CHECK(message(1, 100000, 100, beams.data()).rfind("width ", 0) == 0);
  std::vector<int32_t> negative = {0, -3, 2, 3};
  CHECK(message(1, 2, 2, negative.data()).rfind("beams ", 0) == 0);
}

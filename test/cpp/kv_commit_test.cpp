// kvCommitPlan: hand-worked plans, and applying random plans in place to a simulated cache.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/kv_commit.h"

using namespace redrafter;

TEST_CASE("kvCommitPlan: hand-worked") {
  SUBCASE("a path already contiguous needs no moves") {
    std::vector<int32_t> path = {0, 1, 2};
    CommitPlan plan = kvCommitPlan(10, path.data(), 3);
    CHECK(plan.moves.empty());
    CHECK(plan.newLength == 13);
  }
  SUBCASE("a branch deeper in the tree moves down") {
    std::vector<int32_t> path = {0, 3, 4};  // root, then packed 3 and 4
    CommitPlan plan = kvCommitPlan(10, path.data(), 3);
    REQUIRE(plan.moves.size() == 2);
    CHECK(plan.moves[0].from == 13);
    CHECK(plan.moves[0].to == 11);
    CHECK(plan.moves[1].from == 14);
    CHECK(plan.moves[1].to == 12);
    CHECK(plan.newLength == 13);
  }
  SUBCASE("only the root accepted") {
    std::vector<int32_t> path = {0};
    CommitPlan plan = kvCommitPlan(0, path.data(), 1);
    CHECK(plan.moves.empty());
    CHECK(plan.newLength == 1);
  }
}

TEST_CASE("kvCommitPlan: applied in order, in place, leaves the accepted path contiguous (random)") {
  std::mt19937 gen(3);
  for (int iter = 0; iter < 5000; ++iter) {
    const int cached = int(gen() % 20), tree = 1 + int(gen() % 30);
    // a random strictly increasing path starting at the root
    std::vector<int32_t> path = {0};
    for (int p = 1; p < tree; ++p)
      if (gen() % 3 == 0) path.push_back(p);
    std::vector<int32_t> cache(cached + tree);
    for (size_t i = 0; i < cache.size(); ++i) cache[i] = int32_t(i) * 7 + 1;  // distinct contents
    const std::vector<int32_t> before = cache;
    CommitPlan plan = kvCommitPlan(cached, path.data(), int32_t(path.size()));
    for (auto m : plan.moves) {
      REQUIRE(m.to <= m.from);
      cache[m.to] = cache[m.from];
    }
    REQUIRE(plan.newLength == cached + int(path.size()));
    for (int i = 0; i < cached; ++i) REQUIRE(cache[i] == before[i]);
    for (size_t i = 0; i < path.size(); ++i) REQUIRE(cache[cached + i] == before[cached + path[i]]);
  }
}

TEST_CASE("kvCommitPlan: bad paths name the field") {
  auto what = [](int32_t cached, std::vector<int32_t> path) {
    try {
      kvCommitPlan(cached, path.data(), int32_t(path.size()));
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::InvalidArgument);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(what(-1, {0}).rfind("cachedLength ", 0) == 0);
  CHECK(what(0, {0, 2, 2}).rfind("acceptedPacked ", 0) == 0);
  CHECK(what(0, {0, 3, 1}).rfind("acceptedPacked ", 0) == 0);
  CHECK(what(0, {-1}).rfind("acceptedPacked ", 0) == 0);
}

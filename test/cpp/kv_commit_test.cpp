// kvCommitPlan: hand-worked plans, and applying random plans in place to a simulated cache.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <vector>

#if !defined(_WIN32)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "core/error.h"
#include "core/kv_commit.h"

// Counts every allocation of this test executable, so a test can assert that the checks on the decoding step's hot
// path allocate nothing when they pass.
static std::atomic<long> gAllocations{0};
void* operator new(std::size_t size) {
  gAllocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

using namespace redrafter;

TEST_CASE("kvCommitPlan: the checks read only the path and build no message when they pass") {
  SUBCASE("a path at the very start of readable memory (the element before it is unmapped)") {
#if !defined(_WIN32)
    // Two pages, the first made inaccessible: a read of acceptedPacked[-1] (the message of the
    // strictly-increasing check used to be built before the check, at i == 0) faults here.
    const long page = sysconf(_SC_PAGESIZE);
    void* mem = mmap(nullptr, size_t(2 * page), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(mem != MAP_FAILED);
    REQUIRE(mprotect(mem, size_t(page), PROT_NONE) == 0);
    int32_t* path = reinterpret_cast<int32_t*>(static_cast<char*>(mem) + page);
    for (int i = 0; i < 4; ++i) path[i] = 2 * i;
    CommitPlan plan = kvCommitPlan(5, path, 4);
    CHECK(plan.newLength == 9);
    CHECK(plan.moves.size() == 3);
    munmap(mem, size_t(2 * page));
#endif
  }
  SUBCASE("a contiguous path of 8 allocates nothing") {
    std::vector<int32_t> path = {0, 1, 2, 3, 4, 5, 6, 7};
    const long before = gAllocations.load();
    CommitPlan plan = kvCommitPlan(1000, path.data(), 8);
    CHECK(gAllocations.load() - before == 0);
    CHECK(plan.moves.empty());
  }
  SUBCASE("a failing check still names the field and both values") {
    std::vector<int32_t> path = {0, 3, 2};
    try {
      kvCommitPlan(0, path.data(), 3);
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::InvalidArgument);
      CHECK(std::string(e.what()) == "acceptedPacked must be strictly increasing (a root-first path), got 2 after 3 at 2");
    }
  }
}

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

TEST_CASE("kvCommitPlan into a reused plan: the previous moves are gone") {
  CommitPlan plan;
  std::vector<int32_t> branch = {0, 3, 4}, contiguous = {0, 1};
  kvCommitPlan(10, branch.data(), 3, plan);
  CHECK(plan.moves.size() == 2);
  kvCommitPlan(20, contiguous.data(), 2, plan);
  CHECK(plan.moves.empty());
  CHECK(plan.newLength == 22);
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

// The adaptive draft shape: it tries every candidate, keeps the fastest, and follows a change in which is fastest.
#include <doctest/doctest.h>

#include <algorithm>

#include "cpu/executor/draft_policy.h"

using redrafter::cpu::DraftPolicy;

namespace {
// A simulated model: per candidate, tokens per step and seconds per step.
struct Sim {
  double tokens[4], seconds[4];
};
int runSteps(DraftPolicy& p, const Sim& s, int steps, int counts[4]) {
  int last = -1;
  for (int i = 0; i < steps; ++i) {
    size_t c = p.next();
    counts[c]++;
    p.observe(c, int(s.tokens[c]), s.seconds[c]);
    last = int(c);
  }
  return last;
}
}  // namespace

TEST_CASE("draft policy: candidates are the requested shape, chains of its length and of 4, plain decoding") {
  DraftPolicy p(8, 5);
  REQUIRE(p.candidates().size() == 4);
  CHECK(p.candidates()[0].shape.width == 8);
  CHECK(p.candidates()[0].shape.length == 5);
  CHECK(p.candidates()[1].shape.width == 1);
  CHECK(p.candidates()[1].shape.length == 5);
  CHECK(p.candidates()[2].shape.width == 1);
  CHECK(p.candidates()[2].shape.length == 4);
  CHECK(p.candidates()[3].shape.width == 0);
  DraftPolicy chain(1, 3);  // the chain is the requested shape itself
  CHECK(chain.candidates().size() == 2);
}

TEST_CASE("draft policy: a large model keeps drafting, a tiny one falls back") {
  // large, memory-bound: the big tree gives 4 tokens in 1.3 forwards, the chain 3 in 1.1, plain 1 in 1.0
  DraftPolicy big(8, 5);
  int counts[4] = {0, 0, 0, 0};
  runSteps(big, {{4, 3.4, 3, 1}, {0.13, 0.12, 0.11, 0.10}}, 200, counts);
  CHECK(counts[0] > 160);
  CHECK(counts[3] <= 15);  // warm-up and probes only
  // tiny, compute-light: verification costs scale with the tree; plain decoding is fastest
  DraftPolicy tiny(8, 5);
  int t[4] = {0, 0, 0, 0};
  runSteps(tiny, {{4, 3.4, 3, 1}, {0.0023, 0.0014, 0.0012, 0.0003}}, 200, t);
  CHECK(t[3] > 160);
}

TEST_CASE("draft policy: follows a change in which candidate is fastest") {
  DraftPolicy p(4, 6);
  int counts[4] = {0, 0, 0, 0};
  runSteps(p, {{5, 4, 3, 1}, {0.10, 0.10, 0.10, 0.10}}, 100, counts);  // the tree wins
  CHECK(counts[0] > 70);
  int after[4] = {0, 0, 0, 0};
  runSteps(p, {{1, 1, 3, 1}, {0.10, 0.08, 0.05, 0.10}}, 100, after);  // acceptance collapses: the short chain wins
  CHECK(after[2] > 75);
}

TEST_CASE("draft policy: probes back off while they confirm the best, and reset when the best changes") {
  DraftPolicy p(1, 8, 16, 2, 256);
  int counts[4] = {0, 0, 0, 0};
  // a 1B-class model: the chain of 8 gives 5 tokens in 1.9 forwards, the chain of 4 3 in 1.4, plain 1 in 1.0
  runSteps(p, {{5, 3, 1, 0}, {0.24, 0.17, 0.125, 0}}, 1000, counts);
  REQUIRE(p.candidates().size() == 3);
  CHECK(p.probeInterval() == 256);
  CHECK(counts[0] > 975);          // warm-up (2 + 1 + 1) and about a dozen probes over 1000 steps
  CHECK(counts[2] <= 8);           // plain decoding, 5x slower here, is tried rarely
  // the chain of 4 becomes much faster while the chain of 8 stays as it was: only a probe can find that out
  const Sim faster{{5, 3, 1, 0}, {0.24, 0.05, 0.125, 0}};
  int after[4] = {0, 0, 0, 0}, found = -1, minInterval = 1 << 30;
  for (int i = 0; i < 400; ++i) {
    size_t c = p.next();
    after[c]++;
    p.observe(c, int(faster.tokens[c]), faster.seconds[c]);
    if (c == 1 && found < 0) found = i;
    minInterval = std::min(minInterval, int(p.probeInterval()));
  }
  CHECK(found >= 0);
  CHECK(found <= 260);             // within one probe gap
  CHECK(after[1] > 400 - found - 20);  // then used
  CHECK(minInterval == 16);        // the probe changed the best: probing restarted at probeEvery
}

TEST_CASE("draft policy: a stalled step does not hand the choice to a slower shape") {
  // stories260K-like: the chain of 4 gives 3.4 tokens in 3.8 plain steps' time (0.9x plain decoding)
  DraftPolicy p(1, 4);
  REQUIRE(p.candidates().size() == 2);
  const Sim s{{3.4, 1, 0, 0}, {0.00050, 0.00013, 0, 0}};
  int warm[4] = {0, 0, 0, 0};
  runSteps(p, s, 100, warm);
  CHECK(warm[1] > 85);
  // the thread is preempted during some plain steps: 40x and 10x their time, twice in a row
  int after[4] = {0, 0, 0, 0};
  for (int i = 0; i < 300; ++i) {
    size_t c = p.next();
    after[c]++;
    double seconds = s.seconds[c];
    if (c == 1 && (i == 10 || i == 120 || i == 121)) seconds *= i == 10 ? 40 : 10;
    p.observe(c, int(s.tokens[c]), seconds);
  }
  CHECK(after[0] <= 8);  // probes only
}

TEST_CASE("draft policy: a tie goes to plain decoding, a real slowdown is followed") {
  DraftPolicy tie(1, 4);
  int t[4] = {0, 0, 0, 0};
  runSteps(tie, {{4, 1, 0, 0}, {0.0004, 0.0001, 0, 0}}, 200, t);  // 4 tokens in 4 plain steps' time
  CHECK(t[1] > 180);
  // plain decoding becomes 3x slower for good (say, a larger context): the chain takes over within a few steps
  DraftPolicy p(1, 4);
  int before[4] = {0, 0, 0, 0};
  runSteps(p, {{3, 1, 0, 0}, {0.0004, 0.0001, 0, 0}}, 100, before);
  CHECK(before[1] > 85);
  int after[4] = {0, 0, 0, 0};
  runSteps(p, {{3, 1, 0, 0}, {0.0004, 0.0003, 0, 0}}, 100, after);
  CHECK(after[0] > 85);
}

TEST_CASE("draft policy: a resumed policy (the next request) skips the warm-up and keeps the probe spacing") {
  DraftPolicy p(1, 4);
  const Sim s{{3.4, 1, 0, 0}, {0.00050, 0.00013, 0, 0}};
  int first[4] = {0, 0, 0, 0};
  runSteps(p, s, 200, first);
  CHECK(first[0] >= 2);  // warm-up and probes
  DraftPolicy next = p;
  next.resume();
  int again[4] = {0, 0, 0, 0};
  runSteps(next, s, 30, again);
  CHECK(again[0] == 0);  // no warm-up; the next probe is due later
  CHECK(next.probeInterval() == p.probeInterval());
  int rest[4] = {0, 0, 0, 0};
  runSteps(next, s, 500, rest);
  CHECK(rest[0] >= 1);  // still probed now and then
  CHECK(rest[0] <= 5);
}

// Adaptive draft shape for one request (DraftConfig::adaptive): chooses, step by step, between the requested beam
// shape (W, L), the chains (1, L) and (1, min(L, 4)) and plain decoding (W = 0) by measured throughput, i.e. tokens emitted
// per second of step time, so drafting is used where it pays and dropped where it cannot (a tiny, compute-light
// model whose tree verification costs as much as the tokens it saves). Lossless either way: every shape gives the
// same greedy tokens and exact sampling, so switching never changes what is generated, only how fast.
//
// Each candidate's rate is EMA(tokens per step) / its seconds per step. The candidate in use is timed by the median
// of its last 3 steps (a step stalled by preemption, 40x a 0.1 ms step on a shared machine, does not count), and the
// step times of the others follow it: when the median changes by a factor (the context grows, so every step costs
// more; the machine's load changes), theirs are scaled by the same factor. So the ratio of two candidates' costs,
// which decides which pays, keeps what their last measurements said, and a slow drift of every step's time does not
// hand the choice to a shape measured long ago (on a tiny model, where drafting and plain decoding are within a few
// percent, that made the engine draft for runs of steps at a loss). A probe's step time replaces the candidate's
// estimate. The requested shape is tried `warmup` times first, every other candidate once; then the best rate is
// used, and now and then the candidate measured longest ago is tried once more (a probe), so the choice follows
// changes in acceptance and cost. Hysteresis: the candidate in use is replaced only by one at least kHysteresis
// faster, and drafting must beat plain decoding by kDraftMargin (a tie, or noise, is decided for plain decoding,
// which costs nothing to keep). Probes start `probeEvery` steps apart; while they keep
// confirming the best candidate the gap doubles up to `maxProbeEvery` (a probe of a much slower shape is what this
// costs), and a probe that changes the best resets it. A probe of a drafted shape after a long run of plain steps
// costs more than the same shape in steady use (the drafter's weights and buffers have left the caches): on
// stories260K, where drafting and plain decoding are within a few percent, probes every 256 steps cost the default
// 3-6% against plain decoding (`redrafter bench`, 15 repeats), every 4096 steps (the default) 0-1%. The CPU engine carries a request's policy over to its next
// request of the same shape (resume()): on stories260K, a 256-token request's warm-up and probes (5-6 steps of a
// shape that costs 1.5x per token there) were what still cost 2-5% against plain decoding.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace redrafter::cpu {

class DraftPolicy {
 public:
  static constexpr double kAlpha = 0.3;        // EMA weight of the newest step
  static constexpr double kHysteresis = 0.05;  // a candidate replaces the one in use when this much faster
  static constexpr double kDraftMargin = 0.05;  // a drafted shape is used over plain decoding when this much faster

  struct Shape {
    int32_t width = 0;   // 0: plain decoding
    int32_t length = 1;  // tokens per beam, the LLM's own included
  };
  struct Candidate {
    Shape shape;
    double tokens = 0;       // EMA of tokens emitted per step
    double seconds = 0;      // seconds per step: the median of its last 3 while in use, else carried forward
    double recent[3] = {};   // the last 3 steps' seconds while in use (a ring)
    int32_t samples = 0;     // steps observed
    int64_t lastStep = -1;   // the step it was last used in
    double rate() const { return seconds > 0 ? tokens / seconds : 0; }  // tokens per second
  };

  // width >= 1, length >= 2: the requested shape (the largest tree this request may use).
  DraftPolicy(int32_t width, int32_t length, int32_t probeEvery = 16, int32_t warmup = 2, int32_t maxProbeEvery = 4096);

  // Continues this policy for a new request (CpuBackend hands each finished request's policy to the next one of
  // the same shape): the costs, rates and probe interval carry over, so a request does not warm up again and
  // probes keep their spacing across requests; a probe left unobserved is dropped.
  void resume();

  // The candidate to use for the next step (an index into candidates()).
  size_t next();
  // What a step with candidate `index` gave: `tokens` emitted in `seconds` (the step's wall time).
  void observe(size_t index, int32_t tokens, double seconds);

  const std::vector<Candidate>& candidates() const { return candidates_; }
  // Steps between probes now (probeEvery .. maxProbeEvery).
  int32_t probeInterval() const { return interval_; }

 private:
  size_t best() const;

  std::vector<Candidate> candidates_;
  int64_t step_ = 0;
  int32_t probeEvery_;
  int32_t warmup_;
  int32_t maxProbeEvery_;
  int32_t interval_;
  int64_t lastProbe_ = 0;
  int64_t probing_ = -1;  // the candidate index of the probe in flight, or -1
  size_t current_ = 0;    // the candidate in use between probes (the one hysteresis favours)
  bool chosen_ = false;   // whether current_ has been chosen (after the warm-up)
};

}  // namespace redrafter::cpu

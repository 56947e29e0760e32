// Adaptive draft shape for one request (DraftConfig::adaptive): chooses, step by step, between the requested beam
// shape (W, L), the chains (1, L) and (1, min(L, 4)) and plain decoding (W = 0) by measured throughput, i.e. tokens emitted
// per second of step time, so drafting is used where it pays and dropped where it cannot (a tiny, compute-light
// model whose tree verification costs as much as the tokens it saves). Lossless either way: every shape gives the
// same greedy tokens and exact sampling, so switching never changes what is generated, only how fast.
//
// Each candidate's rate is an exponential moving average of its steps' tokens/second. The requested shape is tried
// `warmup` times first, every other candidate once; then the best rate is used, and now and then the candidate
// measured longest ago is tried once more (a probe), so the choice follows changes in acceptance and load. Probes
// start `probeEvery` steps apart; while they keep confirming the best candidate the gap doubles up to
// `maxProbeEvery` (a probe of a much slower shape is what this costs), and a probe that changes the best resets it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace redrafter::cpu {

class DraftPolicy {
 public:
  struct Shape {
    int32_t width = 0;   // 0: plain decoding
    int32_t length = 1;  // tokens per beam, the LLM's own included
  };
  struct Candidate {
    Shape shape;
    double rate = 0;         // EMA of tokens per second
    int32_t samples = 0;     // steps observed
    int64_t lastStep = -1;   // the step it was last used in
  };

  // width >= 1, length >= 2: the requested shape (the largest tree this request may use).
  DraftPolicy(int32_t width, int32_t length, int32_t probeEvery = 16, int32_t warmup = 2, int32_t maxProbeEvery = 256);

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
};

}  // namespace redrafter::cpu

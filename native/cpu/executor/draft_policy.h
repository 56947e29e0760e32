// Adaptive draft shape for one request (DraftConfig::adaptive): chooses, step by step, between the requested beam
// shape (W, L), the chains (1, L) and (1, min(L, 4)) and plain decoding (W = 0) by measured throughput, i.e. tokens emitted
// per second of step time, so drafting is used where it pays and dropped where it cannot (a tiny, compute-light
// model whose tree verification costs as much as the tokens it saves). Lossless either way: every shape gives the
// same greedy tokens and exact sampling, so switching never changes what is generated, only how fast.
//
// Each candidate's rate is an exponential moving average of its steps' tokens/second. Every candidate is tried
// `warmup` times first (the requested shape first); then the best rate is used, and every `probeEvery` steps the
// candidate measured longest ago is tried once more, so the choice follows changes in acceptance and load.
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
  DraftPolicy(int32_t width, int32_t length, int32_t probeEvery = 16, int32_t warmup = 2);

  // The candidate to use for the next step (an index into candidates()).
  size_t next();
  // What a step with candidate `index` gave: `tokens` emitted in `seconds` (the step's wall time).
  void observe(size_t index, int32_t tokens, double seconds);

  const std::vector<Candidate>& candidates() const { return candidates_; }

 private:
  std::vector<Candidate> candidates_;
  int64_t step_ = 0;
  int32_t probeEvery_;
  int32_t warmup_;
};

}  // namespace redrafter::cpu

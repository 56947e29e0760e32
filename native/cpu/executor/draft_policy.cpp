#include "cpu/executor/draft_policy.h"

#include <algorithm>

#include "core/error.h"

namespace redrafter::cpu {

DraftPolicy::DraftPolicy(int32_t width, int32_t length, int32_t probeEvery, int32_t warmup, int32_t maxProbeEvery)
    : probeEvery_(std::max(2, probeEvery)),
      warmup_(std::max(1, warmup)),
      maxProbeEvery_(std::max(probeEvery_, maxProbeEvery)),
      interval_(probeEvery_) {
  RD_REQUIRE(width >= 1, "beamWidth", "must be >= 1 for an adaptive draft shape");
  RD_REQUIRE(length >= 2, "beamLength", "must be >= 2 for an adaptive draft shape");
  // the requested shape, then chains of its length and of (at most) 4: on a CPU, narrow and long verifies the
  // fewest tokens per accepted token
  auto add = [&](Shape s) {
    for (const Candidate& c : candidates_)
      if (c.shape.width == s.width && c.shape.length == s.length) return;
    candidates_.push_back({s});
  };
  add({width, length});
  add({1, length});
  add({1, std::min(length, 4)});
  add({0, 1});
}

size_t DraftPolicy::best() const {
  // score: the rate, raised by the hysteresis for the candidate in use and by the margin for plain decoding
  auto score = [&](size_t i) {
    double s = candidates_[i].rate();
    if (chosen_ && i == current_) s *= 1 + kHysteresis;
    if (candidates_[i].shape.width == 0) s *= 1 + kDraftMargin;
    return s;
  };
  size_t b = chosen_ ? current_ : 0;
  for (size_t i = 0; i < candidates_.size(); ++i)
    if (score(i) > score(b)) b = i;
  return b;
}

void DraftPolicy::resume() {
  for (Candidate& c : candidates_) c.lastStep -= step_;  // the same order, all before the new request's first step
  lastProbe_ -= step_;
  step_ = 0;
  probing_ = -1;
}

size_t DraftPolicy::next() {
  const int64_t step = step_++;
  for (size_t i = 0; i < candidates_.size(); ++i)
    if (candidates_[i].samples < (i == 0 ? warmup_ : 1)) return i;
  const size_t chosen = best();
  if (!chosen_ || chosen != current_) {  // the new candidate in use: its step time so far is its estimate
    Candidate& c = candidates_[chosen];
    std::fill(c.recent, c.recent + 3, c.seconds);
  }
  current_ = chosen;
  chosen_ = true;
  if (candidates_.size() > 1 && step - lastProbe_ >= interval_) {
    size_t oldest = current_ == 0 ? 1 : 0;
    for (size_t i = 0; i < candidates_.size(); ++i)
      if (i != current_ && candidates_[i].lastStep < candidates_[oldest].lastStep) oldest = i;
    lastProbe_ = step;
    probing_ = int64_t(oldest);
    return oldest;
  }
  return current_;
}

void DraftPolicy::observe(size_t index, int32_t tokens, double seconds) {
  if (index >= candidates_.size() || tokens <= 0) return;
  const size_t before = best();
  Candidate& c = candidates_[index];
  seconds = std::max(seconds, 1e-9);
  c.tokens = c.samples == 0 ? tokens : (1 - kAlpha) * c.tokens + kAlpha * tokens;
  if (chosen_ && index == current_ && c.samples > 0) {
    // the candidate in use: the median of its last 3 steps, and the others' step times move with it
    c.recent[c.samples % 3] = seconds;
    const double lo = std::min({c.recent[0], c.recent[1], c.recent[2]});
    const double hi = std::max({c.recent[0], c.recent[1], c.recent[2]});
    const double median = c.recent[0] + c.recent[1] + c.recent[2] - lo - hi;
    for (size_t i = 0; i < candidates_.size(); ++i)
      if (i != index) candidates_[i].seconds *= median / c.seconds;
    c.seconds = median;
  } else {
    c.seconds = seconds;  // a probe, or a first measurement
    std::fill(c.recent, c.recent + 3, seconds);
  }
  c.samples++;
  c.lastStep = step_;
  if (probing_ == int64_t(index)) {
    probing_ = -1;
    interval_ = best() == before ? std::min(maxProbeEvery_, interval_ * 2) : probeEvery_;
  }
}

}  // namespace redrafter::cpu

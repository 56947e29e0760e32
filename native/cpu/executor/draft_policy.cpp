#include "cpu/executor/draft_policy.h"

#include <algorithm>

#include "core/error.h"

namespace redrafter::cpu {

namespace {
constexpr double kAlpha = 0.3;  // EMA weight of the newest step
}

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
  size_t b = 0;
  for (size_t i = 1; i < candidates_.size(); ++i)
    if (candidates_[i].rate > candidates_[b].rate) b = i;
  return b;
}

size_t DraftPolicy::next() {
  const int64_t step = step_++;
  for (size_t i = 0; i < candidates_.size(); ++i)
    if (candidates_[i].samples < (i == 0 ? warmup_ : 1)) return i;
  const size_t b = best();
  if (candidates_.size() > 1 && step - lastProbe_ >= interval_) {
    size_t oldest = b == 0 ? 1 : 0;
    for (size_t i = 0; i < candidates_.size(); ++i)
      if (i != b && candidates_[i].lastStep < candidates_[oldest].lastStep) oldest = i;
    lastProbe_ = step;
    probing_ = int64_t(oldest);
    return oldest;
  }
  return b;
}

void DraftPolicy::observe(size_t index, int32_t tokens, double seconds) {
  if (index >= candidates_.size() || tokens <= 0) return;
  const size_t before = best();
  Candidate& c = candidates_[index];
  const double rate = tokens / std::max(seconds, 1e-9);
  c.rate = c.samples == 0 ? rate : (1 - kAlpha) * c.rate + kAlpha * rate;
  c.samples++;
  c.lastStep = step_;
  if (probing_ == int64_t(index)) {
    probing_ = -1;
    interval_ = best() == before ? std::min(maxProbeEvery_, interval_ * 2) : probeEvery_;
  }
}

}  // namespace redrafter::cpu

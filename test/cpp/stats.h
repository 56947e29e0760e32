// Goodness-of-fit helpers for the statistical tests: Pearson's chi-square and its p-value.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace redrafter::stats {

// Regularised upper incomplete gamma Q(a, x) (series for x < a+1, Lentz continued fraction otherwise).
inline double upperGammaQ(double a, double x) {
  if (x <= 0) return 1.0;
  const double lnPrefix = -x + a * std::log(x) - std::lgamma(a);
  if (x < a + 1) {
    double term = 1.0 / a, sum = term;
    for (int n = 1; n < 10000; ++n) {
      term *= x / (a + n);
      sum += term;
      if (std::fabs(term) < std::fabs(sum) * 1e-15) break;
    }
    return 1.0 - sum * std::exp(lnPrefix);
  }
  const double tiny = 1e-300;
  double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
  for (int i = 1; i < 10000; ++i) {
    const double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (std::fabs(d) < tiny) d = tiny;
    c = b + an / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1) < 1e-15) break;
  }
  return std::exp(lnPrefix) * h;
}

struct Fit {
  double chiSquare = 0;
  int degreesOfFreedom = 0;
  double pValue = 1;
  double worstSigma = 0;      // the largest |observed - expected| / sd over the cells
  bool impossibleSeen = false;  // a draw landed in a cell of probability 0
};

// counts[i] observed out of n draws; probs[i] the target (summing to 1).
inline Fit goodnessOfFit(const std::vector<int64_t>& counts, const std::vector<double>& probs) {
  Fit f;
  int64_t n = 0;
  for (int64_t c : counts) n += c;
  int cells = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    const double e = double(n) * probs[i];
    if (probs[i] <= 0) {
      f.impossibleSeen |= counts[i] > 0;
      continue;
    }
    ++cells;
    const double diff = double(counts[i]) - e;
    f.chiSquare += diff * diff / e;
    const double sd = std::sqrt(double(n) * probs[i] * (1 - probs[i]));
    if (sd > 0) f.worstSigma = std::max(f.worstSigma, std::fabs(diff) / sd);
  }
  f.degreesOfFreedom = cells - 1;
  f.pValue = f.degreesOfFreedom > 0 ? upperGammaQ(f.degreesOfFreedom / 2.0, f.chiSquare / 2.0) : 1.0;
  return f;
}

}  // namespace redrafter::stats

// Whether float data holds only finite values (no NaN, no infinity): the check that non-finite weights or the
// values they compute are refused with an error naming their file rather than decoded from.
#pragma once
#include <cmath>
#include <cstddef>

namespace redrafter {

// The index of the first value of x[0, n) that is NaN or infinite, or n when all are finite.
inline size_t firstNonFinite(const float* x, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) return i;
  return n;
}

}  // namespace redrafter

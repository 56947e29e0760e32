// The seeded, reproducible random source used by sampling (same numbers on every platform).
#pragma once
#include <cstdint>
#include <random>

namespace redrafter {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) : engine_(seed) {}
  uint64_t nextU64() { return engine_(); }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return double(engine_() >> 11) * (1.0 / 9007199254740992.0); }

 private:
  std::mt19937_64 engine_;
};

}  // namespace redrafter

// Greedy verification (apple/ml-recurrent-drafter _greedy_choose_from_candidates and
// _greedy_prepare_next_input): the beam whose drafted tokens match the LLM's argmax for longest.
#include "core/verify_greedy.h"

#include <string>

#include "core/error.h"

namespace redrafter {

Verification verifyGreedy(const int32_t* beams, int width, int length, const int32_t* unpacker,
                          const int32_t* argmax) {
  Verification v;
  verifyGreedy(beams, width, length, unpacker, argmax, v);
  return v;
}

void verifyGreedy(const int32_t* beams, int width, int length, const int32_t* unpacker, const int32_t* argmax,
                  Verification& v) {
  RD_REQUIRE(width >= 1, "width", "must be >= 1, got " + std::to_string(width));
  RD_REQUIRE(length >= 1, "length", "must be >= 1, got " + std::to_string(length));
  v.beam = 0;
  v.acceptedLength = -1;
  for (int w = 0; w < width; ++w) {
    const int32_t* beam = beams + size_t(w) * length;
    const int32_t* unpack = unpacker + size_t(w) * length;
    // beams[w][l+1] is accepted when the LLM's argmax after beams[w][0..l] (at packed unpack[l]) equals it.
    int n = 0;
    while (n + 1 < length && beam[n + 1] == argmax[unpack[n]]) ++n;
    if (n > v.acceptedLength) {  // strictly longer: ties keep the lowest beam index
      v.acceptedLength = n;
      v.beam = w;
    }
  }
  const int32_t* beam = beams + size_t(v.beam) * length;
  const int32_t* unpack = unpacker + size_t(v.beam) * length;
  v.acceptedTokens.assign(beam + 1, beam + 1 + v.acceptedLength);
  v.acceptedPacked.assign(unpack, unpack + 1 + v.acceptedLength);
  v.nextToken = argmax[unpack[v.acceptedLength]];
}

}  // namespace redrafter

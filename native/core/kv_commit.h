// The KV-cache commit plan for an accepted path.
#pragma once
#include <cstdint>
#include <vector>

namespace redrafter {

struct SlotMove {
  int32_t from;
  int32_t to;
};

struct CommitPlan {
  std::vector<SlotMove> moves;  // apply in order (each `to` <= `from`, safe in place)
  int32_t newLength = 0;        // cachedLength + accepted path length
};

// The tree's tokens were written at cache slots cachedLength + packedIndex. Keep the accepted path
// (packed indices, root first, strictly increasing) contiguous right after the prefix; drop the rest.
CommitPlan kvCommitPlan(int32_t cachedLength, const int32_t* acceptedPacked, int32_t count);
// The same written into `out` (its moves keep their capacity: no allocation for a caller that reuses it).
void kvCommitPlan(int32_t cachedLength, const int32_t* acceptedPacked, int32_t count, CommitPlan& out);

}  // namespace redrafter

// The KV-cache commit plan: after verification the tree's K/V sit at slots cachedLength + packedIndex;
// move the accepted path's entries down so they follow the cached prefix contiguously.
#include "core/kv_commit.h"

#include <limits>
#include <string>

#include "core/error.h"

namespace redrafter {

CommitPlan kvCommitPlan(int32_t cachedLength, const int32_t* acceptedPacked, int32_t count) {
  CommitPlan plan;
  kvCommitPlan(cachedLength, acceptedPacked, count, plan);
  return plan;
}

void kvCommitPlan(int32_t cachedLength, const int32_t* acceptedPacked, int32_t count, CommitPlan& plan) {
  RD_REQUIRE(cachedLength >= 0, "cachedLength", "must be >= 0, got " + std::to_string(cachedLength));
  RD_REQUIRE(count >= 0, "acceptedPacked", "count must be >= 0, got " + std::to_string(count));
  for (int32_t i = 0; i < count; ++i) {
    RD_REQUIRE(acceptedPacked[i] >= 0, "acceptedPacked",
               "must hold packed indices >= 0, got " + std::to_string(acceptedPacked[i]) + " at " + std::to_string(i));
    RD_REQUIRE(i == 0 || acceptedPacked[i] > acceptedPacked[i - 1], "acceptedPacked",
               "must be strictly increasing (a root-first path), got " + std::to_string(acceptedPacked[i]) + " after " +
                   std::to_string(acceptedPacked[i - 1]) + " at " + std::to_string(i));
  }
  if (count > 0)
    RD_REQUIRE(int64_t(cachedLength) + acceptedPacked[count - 1] < std::numeric_limits<int32_t>::max(), "cachedLength",
               "+ the last packed index overflows int32");
  plan.moves.clear();
  // Strictly increasing indices give acceptedPacked[i] >= i: every move goes down (to <= from), and the slot
  // written by move i (cachedLength+i) is below every later source, so applying them in order is safe in place.
  for (int32_t i = 0; i < count; ++i) {
    const int32_t from = cachedLength + acceptedPacked[i];
    const int32_t to = cachedLength + i;
    if (from != to) plan.moves.push_back({from, to});
  }
  plan.newLength = cachedLength + count;
}

}  // namespace redrafter

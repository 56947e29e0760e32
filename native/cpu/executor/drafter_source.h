// The recurrent drafter (cpu/drafter) as the executor's DraftSource.
#pragma once
#include <memory>
#include <string>

#include "cpu/drafter/drafter.h"
#include "cpu/engine/transformer.h"
#include "cpu/executor/draft_source.h"

namespace redrafter::cpu {

// Drafts with `drafter`, embedding tokens with `model`'s own table (checks that they match: InvalidModel).
std::shared_ptr<DraftSource> makeDrafterSource(std::shared_ptr<const Drafter> drafter,
                                               std::shared_ptr<const ModelWeights> model);

}  // namespace redrafter::cpu

// The recurrent drafter (cpu/drafter) as the executor's DraftSource.
#pragma once
#include <memory>
#include <string>

#include "cpu/drafter/drafter.h"
#include "cpu/engine/transformer.h"
#include "cpu/executor/draft_source.h"

namespace redrafter::cpu {

// Drafts with `drafter`, embedding tokens with `model`'s own table (checks that they match: InvalidModel), its
// large products split over `parallel` (the engine's thread pool: Transformer::parallelFor; null: the drafter's own).
// Its working memory is kept between steps (a draft allocates nothing once the largest shape has run).
std::shared_ptr<DraftSource> makeDrafterSource(std::shared_ptr<const Drafter> drafter,
                                               std::shared_ptr<const ModelWeights> model,
                                               ParallelFor parallel = nullptr);

}  // namespace redrafter::cpu

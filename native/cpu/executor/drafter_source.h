// The recurrent drafter (cpu/drafter) as the executor's DraftSource.
#pragma once
#include <memory>
#include <string>

#include "cpu/engine/transformer.h"
#include "cpu/executor/draft_source.h"

namespace redrafter::cpu {

// Loads an Apple-format drafter directory and pairs it with `model` (InvalidModel on a mismatch).
std::shared_ptr<DraftSource> loadDrafterSource(const std::string& dir, std::shared_ptr<Transformer> model);

}  // namespace redrafter::cpu

// A drafter directory: Apple's recurrent drafter (apple/ml-recurrent-drafter) as its training code saves it, and the
// one reader and writer of that format in the project (the CPU engine through the addon's Drafter.load and
// saveDrafter, the CUDA engine, the GPU bench, `redrafter inspect`).
//   config.json        transformers' PretrainedConfig of DrafterConfig: model_type "recurrent_drafting_drafter",
//                      vocab_size, hidden_size, exit_dim (integers >= 1), num_draft_layers (integer >= 0), rnn
//                      (boolean; absent: false, Apple's DrafterConfig default); other keys are ignored
//   model.safetensors  exactly the tensors drafter_weights.h lists for that config (names and shapes), each F32, F16
//                      or BF16
#pragma once
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "model/drafter_weights.h"

namespace redrafter::model {

inline constexpr const char* kDrafterModelType = "recurrent_drafting_drafter";

// config.json of the drafter in `dir`. Throws Io when it cannot be read, InvalidModel naming the file and the field.
DrafterConfig readDrafterConfig(const std::string& dir);

// The whole directory: config.json, then model.safetensors checked against it (a config declaring more residual
// blocks than the weights file has tensors fails before anything is sized by it; then names, shapes and dtypes), its
// tensors converted to float32. `checkConfig`, when given, runs on the config before the weights are read (e.g.
// checkDrafterMatchesModel). Throws Io (a file cannot be read) or InvalidModel naming the file and the problem.
DrafterWeights readDrafterDirectory(const std::string& dir,
                                    const std::function<void(const DrafterConfig&)>& checkConfig = nullptr);

// Writes `weights` as a drafter directory (created if absent) with its tensors stored as `dtype` (F32, F16 or BF16)
// and `metadata` in the safetensors __metadata__ (after "format": "pt"). Each file is written under a temporary name
// and renamed into place when complete, so a failure never leaves a half-written file. Throws InvalidArgument for
// another dtype, Io when a file cannot be written.
void writeDrafterDirectory(const std::string& dir, const DrafterWeights& weights, DType dtype,
                           const std::vector<std::pair<std::string, std::string>>& metadata = {});

}  // namespace redrafter::model

// A drafter directory (config.json + model.safetensors, Apple's recurrent drafter as lib/drafter writes and reads it)
// read in C++, for the parts of the CUDA engine that run without Node (the GPU bench, the cuda module given a
// directory). The TypeScript reader (lib/drafter/config.ts, lib/safetensors.ts) is the reference; this one accepts
// the same files: config keys vocab_size, hidden_size, exit_dim, num_draft_layers, rnn (default false); tensors F32,
// F16 or BF16, exactly the ones the config needs (cpu/drafter/drafter_weights.h).
#pragma once
#include <string>

#include "engine/host_model.h"

namespace redrafter::cuda::engine {

// Throws Io (a file cannot be read) or InvalidModel naming the file and the problem.
DrafterWeights readDrafterDirectory(const std::string& dir);

}  // namespace redrafter::cuda::engine

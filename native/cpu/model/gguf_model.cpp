// GGUF `llama` model loader (in progress: see gguf_reader.h once it lands).
#include "core/error.h"
#include "cpu/model/loaders.h"

namespace redrafter::cpu {

std::shared_ptr<ModelWeights> loadGgufModel(const std::shared_ptr<MappedFile>& file) {
  fail(ErrorCode::Unsupported, file->path() + ": GGUF models are not supported by this build yet");
}

}  // namespace redrafter::cpu

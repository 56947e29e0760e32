// Where the real model fixtures are, for C++ tests: $REDRAFTER_MODELS, else ../shared/models beside the repo.
#pragma once
#include <cstdlib>
#include <string>

namespace redrafter::test {

inline std::string modelsDir() {
  if (const char* env = std::getenv("REDRAFTER_MODELS")) return env;
  return std::string(REDRAFTER_SOURCE_DIR) + "/../shared/models";
}

inline std::string fixture(const std::string& name) { return modelsDir() + "/" + name; }

}  // namespace redrafter::test

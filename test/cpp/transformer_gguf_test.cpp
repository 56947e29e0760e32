// The forward pass on GGUF files the project writes from stories260K: f32 gives the llama2.c checkpoint's logits
// bit for bit; f16, bf16 and q8_0 stay close and keep the greedy tokens.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "cpu/engine/transformer.h"
#include "tools/convert.h"
#include "fixtures.h"
#include "temp_files.h"

using namespace redrafter;
using namespace redrafter::cpu;
using namespace redrafter::model;
using namespace redrafter::tools;

namespace {

std::vector<float> logitsOf(Transformer& t, const std::vector<int32_t>& tokens) {
  auto cache = t.createCache(64);
  std::vector<float> logits(tokens.size() * t.config().vocabSize);
  t.forward(*cache, tokens.data(), static_cast<int32_t>(tokens.size()), nullptr, nullptr, nullptr, 0, logits.data(),
            nullptr);
  return logits;
}

}  // namespace

TEST_CASE("GGUF conversions of stories260K: f32 bit-exact, f16/bf16/q8_0 close to the llama2.c checkpoint") {
  const std::vector<int32_t> tokens = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 5, 77, 300};
  Transformer base(loadModelWeights(test::fixture("stories260K.bin")), {2, ""});
  auto ref = logitsOf(base, tokens);
  for (const std::string type : {"f32", "f16", "bf16", "q8_0"}) {
    CAPTURE(type);
    test::TempFile out("stories260K-" + type + ".gguf");
    ConvertOptions o;
    o.modelPath = test::fixture("stories260K.bin");
    o.tokenizerPath = test::fixture("tok512.bin");
    o.outPath = out.path;
    o.type = type;
    convertToGguf(o);
    Transformer t(loadModelWeights(out.path), {2, ""});
    CHECK(t.config().dim == 64);
    CHECK(t.config().nKvHeads == 4);
    auto logits = logitsOf(t, tokens);
    float scale = 0, diff = 0;
    int agree = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      scale = std::max(scale, std::fabs(ref[i]));
      diff = std::max(diff, std::fabs(ref[i] - logits[i]));
    }
    for (size_t r = 0; r < tokens.size(); ++r)
      agree += std::max_element(&ref[r * 512], &ref[r * 512] + 512) - &ref[r * 512] ==
               std::max_element(&logits[r * 512], &logits[r * 512] + 512) - &logits[r * 512];
    MESSAGE(type << ": max |diff| / max |logit| = " << diff / scale << ", argmax agree " << agree << "/"
                 << tokens.size());
    if (type == "f32") {
      CHECK(logits == ref);
    } else {
      CHECK(diff / scale < (type == "f16" ? 2e-3f : 3e-2f));
      CHECK(agree >= static_cast<int>(tokens.size()) - 1);
    }
  }
}

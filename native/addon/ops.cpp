// exports.ops: the ReDrafter core operators (native/core) for tests and engine-building scripts.
// Synchronous: each is a small CPU computation on caller-provided typed arrays. lib/ops.ts is the typed
// facade (it validates options first); these checks are the backstop and name the field as well.
#include <napi.h>

#include <limits>
#include <string>
#include <vector>

#include "addon/args.h"
#include "addon/errors.h"
#include "addon/registry.h"
#include "core/beam_search.h"
#include "core/build_tree.h"
#include "core/kv_commit.h"
#include "core/rng.h"
#include "core/verify_greedy.h"
#include "core/verify_sampling.h"

namespace redrafter::addon {
namespace {

constexpr int64_t kMaxDim = std::numeric_limits<int32_t>::max();

struct BeamShape {
  int batch, width, length;
};

BeamShape beamShape(Napi::Object options) {
  return {int(intField(options, "batch", 1, kMaxDim)), int(intField(options, "width", 1, kMaxDim)),
          int(intField(options, "length", 1, kMaxDim))};
}

template <class T>
void requireLength(const TypedView<T>& view, const char* field, int64_t expected, const std::string& shape) {
  if (int64_t(view.length) != expected)
    fail(ErrorCode::InvalidArgument, std::string(field) + " must have " + shape + " = " + std::to_string(expected) +
                                         " elements, got " + std::to_string(view.length));
}

TypedView<int32_t> beamsArg(const Napi::CallbackInfo& info, const BeamShape& s) {
  auto beams = typedArray<int32_t>(info[0], "beams");
  requireLength(beams, "beams", int64_t(s.batch) * s.width * s.length, "batch*width*length");
  return beams;
}

template <class T>
Napi::TypedArrayOf<T> toJs(Napi::Env env, const std::vector<T>& v) {
  return newTypedArray<T>(env, v.size(), v.data());
}

Napi::Object treeToJs(Napi::Env env, const PackedTrees& t) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("maxLength", Napi::Number::New(env, t.maxLength));
  out.Set("lengths", toJs(env, t.lengths));
  out.Set("tokens", toJs(env, t.tokens));
  out.Set("beamTokenIndex", toJs(env, t.beamTokenIndex));
  out.Set("positionOffsets", toJs(env, t.positionOffsets));
  out.Set("parents", toJs(env, t.parents));
  out.Set("unpacker", toJs(env, t.unpacker));
  out.Set("mask", toJs(env, t.mask));
  return out;
}

// Per-row verifications -> { beam, acceptedLength, nextToken: [batch], acceptedTokens: [batch, length-1],
// acceptedPacked: [batch, length] } with -1 padding.
Napi::Object verificationsToJs(Napi::Env env, const std::vector<Verification>& rows, int length) {
  const size_t batch = rows.size();
  std::vector<int32_t> beam(batch), accepted(batch), next(batch);
  std::vector<int32_t> tokens(batch * size_t(length - 1), -1), packed(batch * size_t(length), -1);
  for (size_t b = 0; b < batch; ++b) {
    const Verification& v = rows[b];
    beam[b] = v.beam;
    accepted[b] = v.acceptedLength;
    next[b] = v.nextToken;
    std::copy(v.acceptedTokens.begin(), v.acceptedTokens.end(), tokens.begin() + b * size_t(length - 1));
    std::copy(v.acceptedPacked.begin(), v.acceptedPacked.end(), packed.begin() + b * size_t(length));
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("beam", toJs(env, beam));
  out.Set("acceptedLength", toJs(env, accepted));
  out.Set("acceptedTokens", toJs(env, tokens));
  out.Set("nextToken", toJs(env, next));
  out.Set("acceptedPacked", toJs(env, packed));
  return out;
}

// buildTree(beams: Int32Array [batch,width,length], { batch, width, length })
Napi::Value BuildTree(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    Napi::Object options = objectArg(info, 1, "options");
    BeamShape s = beamShape(options);
    auto beams = beamsArg(info, s);
    return treeToJs(info.Env(), buildTree(beams.data, s.batch, s.width, s.length));
  });
}

// beamSearchStep(scores: Float32Array [batch,width], logProbs: Float32Array [batch,width,vocab],
//                { batch, width, vocab, firstStep })
Napi::Value BeamSearchStep(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    Napi::Object options = objectArg(info, 2, "options");
    const int batch = int(intField(options, "batch", 1, kMaxDim));
    const int width = int(intField(options, "width", 1, kMaxDim));
    const int vocab = int(intField(options, "vocab", 1, kMaxDim));
    const bool firstStep = boolFieldOr(options, "firstStep", false);
    auto scores = typedArray<float>(info[0], "scores");
    requireLength(scores, "scores", int64_t(batch) * width, "batch*width");
    auto logProbs = typedArray<float>(info[1], "logProbs");
    requireLength(logProbs, "logProbs", int64_t(batch) * width * vocab, "batch*width*vocab");
    std::vector<float> outScores(size_t(batch) * width);  // [batch, width]
    std::vector<int32_t> parent(outScores.size()), token(outScores.size());
    beamSearchStep(scores.data, logProbs.data, batch, width, vocab, firstStep, outScores.data(), parent.data(),
                   token.data());
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("scores", toJs(info.Env(), outScores));
    out.Set("parents", toJs(info.Env(), parent));
    out.Set("tokens", toJs(info.Env(), token));
    return out;
  });
}

// appleProcessLogits(logits: Float32Array [rows, vocab], { vocab, topK = 50 }) -> new Float32Array
Napi::Value AppleProcessLogits(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    Napi::Object options = objectArg(info, 1, "options");
    const int vocab = int(intField(options, "vocab", 1, kMaxDim));
    const int topK = int(intFieldOr(options, "topK", kAppleTopK, 1, kMaxDim));
    auto logits = typedArray<float>(info[0], "logits");
    if (logits.length == 0 || logits.length % size_t(vocab) != 0)
      fail(ErrorCode::InvalidArgument, "logits must have rows*vocab elements (vocab " + std::to_string(vocab) +
                                           "), got " + std::to_string(logits.length));
    auto out = newTypedArray<float>(info.Env(), logits.length, logits.data);
    for (size_t r = 0; r < logits.length / vocab; ++r) appleProcessLogits(out.Data() + r * vocab, vocab, topK);
    return out;
  });
}

// verifyGreedy(beams, llm: Int32Array argmax [batch,maxLength] | Float32Array logits [batch,maxLength,vocab],
//              { batch, width, length, vocab? })
Napi::Value VerifyGreedy(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    Napi::Object options = objectArg(info, 2, "options");
    BeamShape s = beamShape(options);
    auto beams = beamsArg(info, s);
    PackedTrees t = buildTree(beams.data, s.batch, s.width, s.length);
    const size_t n = size_t(t.maxLength);
    std::vector<int32_t> argmax(size_t(s.batch) * n);  // [batch, maxLength]
    Napi::Value llm = info[1];
    if (llm.IsTypedArray() && llm.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
      auto given = typedArray<int32_t>(llm, "argmax");
      requireLength(given, "argmax", int64_t(s.batch) * t.maxLength, "batch*maxLength");
      std::copy(given.data, given.data + given.length, argmax.begin());
    } else if (llm.IsTypedArray() && llm.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array) {
      const int vocab = int(intField(options, "vocab", 1, kMaxDim));
      auto logits = typedArray<float>(llm, "logits");
      requireLength(logits, "logits", int64_t(s.batch) * t.maxLength * vocab, "batch*maxLength*vocab");
      for (size_t i = 0; i < argmax.size(); ++i) {
        const float* row = logits.data + i * vocab;
        int32_t best = 0;  // first maximum
        for (int v = 1; v < vocab; ++v)
          if (row[v] > row[best]) best = v;
        argmax[i] = best;
      }
    } else {
      fail(ErrorCode::InvalidArgument,
           "llm must be an Int32Array of argmax tokens [batch, maxLength] or a Float32Array of logits "
           "[batch, maxLength, vocab]");
    }
    std::vector<Verification> rows;
    for (int b = 0; b < s.batch; ++b)
      rows.push_back(verifyGreedy(beams.data + size_t(b) * s.width * s.length, s.width, s.length,
                                  t.unpacker.data() + size_t(b) * s.width * s.length, argmax.data() + b * n));
    return verificationsToJs(info.Env(), rows, s.length);
  });
}

// verifySampling(beams, logits: Float32Array [batch,maxLength,vocab], { batch, width, length, vocab,
//                temperature, topK, topP, seed, acceptance: 'exact'|'apple',
//                drafterLogProbs?: Float32Array [batch,width,length-1,vocab] (apple only) })
Napi::Value VerifySampling(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    Napi::Object options = objectArg(info, 2, "options");
    BeamShape s = beamShape(options);
    const int vocab = int(intField(options, "vocab", 1, kMaxDim));
    SamplingParams params;
    params.temperature = float(numberFieldOr(options, "temperature", 1.0, 1e-6, 1e6));
    params.topK = int(intFieldOr(options, "topK", 0, 0, kMaxDim));
    params.topP = float(numberFieldOr(options, "topP", 1.0, 0.0, 1.0));
    const uint64_t seed = uint64_t(intFieldOr(options, "seed", 0, 0, (int64_t(1) << 53) - 1));
    const std::string acceptance = stringFieldOr(options, "acceptance", "exact");
    if (acceptance != "exact" && acceptance != "apple")
      fail(ErrorCode::InvalidArgument, "acceptance must be 'exact' or 'apple', got '" + acceptance + "'");
    auto beams = beamsArg(info, s);
    PackedTrees t = buildTree(beams.data, s.batch, s.width, s.length);
    auto logits = typedArray<float>(info[1], "logits");
    requireLength(logits, "logits", int64_t(s.batch) * t.maxLength * vocab, "batch*maxLength*vocab");
    TypedView<float> drafter;
    if (acceptance == "apple") {
      Napi::Value q = options.Get("drafterLogProbs");
      if (q.IsUndefined() || q.IsNull())
        fail(ErrorCode::InvalidArgument, "drafterLogProbs is required with acceptance 'apple'");
      drafter = typedArray<float>(q, "drafterLogProbs");
      requireLength(drafter, "drafterLogProbs", int64_t(s.batch) * s.width * (s.length - 1) * vocab,
                    "batch*width*(length-1)*vocab");
    }
    Rng rng(seed);
    std::vector<Verification> rows;
    const size_t beamRow = size_t(s.width) * s.length, logitRow = size_t(t.maxLength) * vocab;
    for (int b = 0; b < s.batch; ++b) {
      const int32_t* rowBeams = beams.data + b * beamRow;
      const float* rowLogits = logits.data + b * logitRow;
      rows.push_back(acceptance == "exact"
                         ? verifySamplingExact(t, b, rowBeams, rowLogits, vocab, params, rng)
                         : verifySamplingApple(t, b, rowBeams, rowLogits,
                                               drafter.data + size_t(b) * s.width * (s.length - 1) * vocab, vocab,
                                               params, rng));
    }
    return verificationsToJs(info.Env(), rows, s.length);
  });
}

// kvCommitPlan(acceptedPacked: Int32Array [count], { cachedLength }) -> { from, to: Int32Array, newLength }
Napi::Value KvCommitPlan(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    Napi::Object options = objectArg(info, 1, "options");
    const int32_t cachedLength = int32_t(intField(options, "cachedLength", 0, kMaxDim));
    auto path = typedArray<int32_t>(info[0], "acceptedPacked");
    CommitPlan plan = kvCommitPlan(cachedLength, path.data, int32_t(path.length));
    std::vector<int32_t> from, to;
    for (const SlotMove& m : plan.moves) from.push_back(m.from), to.push_back(m.to);
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("from", toJs(info.Env(), from));
    out.Set("to", toJs(info.Env(), to));
    out.Set("newLength", Napi::Number::New(info.Env(), plan.newLength));
    return out;
  });
}

void InitOps(Napi::Env env, Napi::Object exports) {
  Napi::Object ops = Napi::Object::New(env);
  ops.Set("buildTree", Napi::Function::New(env, BuildTree, "buildTree"));
  ops.Set("beamSearchStep", Napi::Function::New(env, BeamSearchStep, "beamSearchStep"));
  ops.Set("appleProcessLogits", Napi::Function::New(env, AppleProcessLogits, "appleProcessLogits"));
  ops.Set("verifyGreedy", Napi::Function::New(env, VerifyGreedy, "verifyGreedy"));
  ops.Set("verifySampling", Napi::Function::New(env, VerifySampling, "verifySampling"));
  ops.Set("kvCommitPlan", Napi::Function::New(env, KvCommitPlan, "kvCommitPlan"));
  exports.Set("ops", ops);
}

}  // namespace
}  // namespace redrafter::addon

REDRAFTER_ADDON_PART(ops, redrafter::addon::InitOps)

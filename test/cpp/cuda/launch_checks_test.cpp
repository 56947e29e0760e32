// The CUDA launchers' validation, on the host (no GPU needed: every case here is refused before anything reaches
// the device): each bad field gives cudaErrorInvalidValue and a lastLaunchError() that names it; the target
// shapes pass the shape checks. Built where nvcc is found (native/cuda/CMakeLists.txt), linked to redrafter_cuda.
#include <doctest/doctest.h>

#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "accept_commit.h"
#include "beam_search.h"
#include "build_tree.h"
#include "tree_attention.h"

namespace rc = redrafter::cuda;

namespace {

// Stands in for device buffers: the launches below are all refused before a pointer is used.
alignas(16) int32_t gDummy[16];
template <typename T>
T* dummy() {
  return reinterpret_cast<T*>(gDummy);
}

// Runs `launch` and checks that it was refused with a message containing `field`.
void expectRefused(const std::function<cudaError_t()>& launch, const std::string& field) {
  CAPTURE(field);
  CHECK(launch() == cudaErrorInvalidValue);
  const std::string message = rc::lastLaunchError();
  CAPTURE(message);
  CHECK(message.find(field) != std::string::npos);
}

rc::BuildTreeParams goodTree() {  // the target shape: batch 64, W 8, L 5
  rc::BuildTreeParams p;
  p.batch = 64, p.width = 8, p.length = 5, p.capacity = 40;
  p.beams = dummy<const int32_t>();
  p.lengths = p.tokens = p.beamTokenIndex = p.positionOffsets = p.parents = p.unpacker = p.packedMask = dummy<int32_t>();
  return p;
}

rc::BeamSearchParams goodBeam() {  // batch 8, W 8, V 32000
  rc::BeamSearchParams p;
  p.batch = 8, p.width = 8, p.vocab = 32000, p.topK = 50;
  p.logits = p.scores = dummy<const float>();
  p.outScores = dummy<float>();
  p.outParent = p.outToken = dummy<int32_t>();
  return p;
}

rc::TreeAttentionParams goodAttention() {  // fp16, batch 8, Hq 32, Hkv 8, D 128, ctx 4096, T 33
  rc::TreeAttentionParams p;
  p.batch = 8, p.treeTokens = 33, p.qHeads = 32, p.scale = 0.088f, p.maxPastLength = 4096;
  p.cache.kvHeads = 8, p.cache.headDim = 128, p.cache.capacity = 4096 + 33;
  p.q = p.out = p.cache.k = p.cache.v = dummy<void>();
  p.pastLengths = p.treeLengths = p.packedMask = dummy<const int32_t>();
  return p;
}

rc::AcceptCommitParams goodAccept() {  // batch 64, W 8, L 5, 2 layers of fp16 K/V, 8 heads of 128
  rc::AcceptCommitParams p;
  p.batch = 64, p.width = 8, p.length = 5, p.treeCapacity = 40, p.layers = 2, p.elementBytes = 2;
  p.beams = p.unpacker = p.argmax = p.pastLengths = dummy<const int32_t>();
  p.bestBeam = p.acceptedLength = p.nextToken = p.acceptedTokens = p.acceptedPacked = p.newLengths = dummy<int32_t>();
  p.cache.k = p.cache.v = dummy<void>();
  p.cache.kvHeads = 8, p.cache.headDim = 128, p.cache.capacity = 256;
  return p;
}

}  // namespace

TEST_CASE("launch checks: the issue's target shapes pass every shape check") {
  CHECK(rc::buildTreeShapeError(goodTree()) == "");
  CHECK(rc::beamSearchShapeError(goodBeam()) == "");
  CHECK(rc::treeAttentionShapeError(goodAttention()) == "");
  CHECK(rc::acceptCommitShapeError(goodAccept()) == "");
  CHECK(rc::treeAttentionWorkspaceBytes(goodAttention(), 132) > 0);
  CHECK(rc::beamSearchWorkspaceBytes(8, 8, 32000, 50) > 0);
}

TEST_CASE("launch checks: launchBuildTree names the bad field") {
  auto refused = [](auto edit, const char* field) {
    rc::BuildTreeParams p = goodTree();
    edit(p);
    expectRefused([&] { return rc::launchBuildTree(p, nullptr); }, field);
  };
  refused([](auto& p) { p.batch = 0; }, "BuildTreeParams.batch (0) must be positive");
  refused([](auto& p) { p.length = -1; }, "BuildTreeParams.length (-1)");
  refused([](auto& p) { p.width = 41, p.length = 25, p.capacity = 1025; }, "BuildTreeParams.width * length (1025) must be at most 1024");
  refused([](auto& p) { p.capacity = 39; }, "BuildTreeParams.capacity (39) must be at least width * length (40)");
  refused([](auto& p) { p.tokens = nullptr; }, "BuildTreeParams.tokens is null");
  refused([](auto& p) { p.packedMask = nullptr; }, "BuildTreeParams.packedMask is null");
}

TEST_CASE("launch checks: launchBeamSearchStep names the bad field") {
  const size_t bytes = rc::beamSearchWorkspaceBytes(8, 8, 32000, 50);
  auto refused = [&](auto edit, const char* field, size_t wsBytes = 0, void* ws = dummy<void>()) {
    rc::BeamSearchParams p = goodBeam();
    edit(p);
    expectRefused([&] { return rc::launchBeamSearchStep(p, ws, wsBytes ? wsBytes : bytes, nullptr); }, field);
  };
  refused([](auto& p) { p.width = 0; }, "BeamSearchParams.width (0) must be positive");
  refused([](auto& p) { p.topK = 70; }, "BeamSearchParams.topK (70) must be between width (8) and 64");
  refused([](auto& p) { p.topK = 4; }, "BeamSearchParams.topK (4)");
  refused([](auto& p) { p.vocab = 5; }, "BeamSearchParams.vocab (5) must be at least width (8)");
  refused([](auto& p) { p.vocab = 400000; }, "BeamSearchParams.vocab (400000) must be at most 331776");
  refused([](auto& p) { p.scores = nullptr; }, "BeamSearchParams.scores is null");
  refused([](auto& p) { p.outToken = nullptr; }, "BeamSearchParams.outToken is null");
  refused([](auto&) {}, "workspace is null", 0, nullptr);
  refused([](auto&) {}, "workspaceBytes (16) is less than beamSearchWorkspaceBytes", 16);
  // no device serves a cluster variant past 131072 logits per row
  const size_t big = rc::beamSearchWorkspaceBytes(8, 8, 200000, 50);
  refused([](auto& p) { p.vocab = 200000, p.variant = rc::BeamSearchVariant::kCluster; },
          "BeamSearchParams.variant (cluster, last row merges) cannot serve vocab 200000", big);
}

TEST_CASE("launch checks: launchTreeAttention names the bad field") {
  const size_t bytes = rc::treeAttentionWorkspaceBytes(goodAttention(), 132);
  auto refused = [&](auto edit, const char* field, int sms = 132, size_t wsBytes = 0) {
    rc::TreeAttentionParams p = goodAttention();
    edit(p);
    expectRefused([&] { return rc::launchTreeAttention(p, sms, dummy<void>(), wsBytes ? wsBytes : bytes, nullptr); },
                  field);
  };
  refused([](auto& p) { p.cache.headDim = 96; }, "TreeAttentionParams.cache.headDim (96) must be 64 or 128");
  refused([](auto& p) { p.qHeads = 30; }, "TreeAttentionParams.qHeads (30) must be a multiple of cache.kvHeads (8)");
  refused([](auto& p) { p.cache.kvHeads = 0; }, "TreeAttentionParams.cache.kvHeads (0) must be positive");
  refused([](auto& p) { p.treeTokens = 0; }, "TreeAttentionParams.treeTokens (0)");
  refused([](auto& p) { p.cache.capacity = 4000; },
          "TreeAttentionParams.cache.capacity (4000) must be at least maxPastLength + treeTokens (4129)");
  refused([](auto& p) { p.dtype = static_cast<rc::DType>(7); }, "TreeAttentionParams.dtype (7)");
  refused([](auto& p) { p.packedMask = nullptr; }, "TreeAttentionParams.packedMask is null");
  refused([](auto& p) { p.cache.v = nullptr; }, "TreeAttentionParams.cache.v is null");
  refused([](auto& p) { p.cache.layout = rc::KvLayout::kPaged, p.cache.blockSize = 64, p.cache.maxBlocksPerSeq = 0; },
          "TreeAttentionParams.cache.maxBlocksPerSeq (0) must be positive");
  refused([](auto& p) { p.cache.layout = rc::KvLayout::kPaged, p.cache.blockSize = 64, p.cache.maxBlocksPerSeq = 66; },
          "TreeAttentionParams.cache.blockTable is null (the paged layout needs it)");
  refused([](auto&) {}, "smCount (0) must be positive", 0);
  refused([](auto&) {}, "workspaceBytes (64) is less than treeAttentionWorkspaceBytes", 132, 64);
}

TEST_CASE("launch checks: launchAcceptCommit names the bad field") {
  auto refused = [](auto edit, const char* field) {
    rc::AcceptCommitParams p = goodAccept();
    edit(p);
    expectRefused([&] { return rc::launchAcceptCommit(p, nullptr); }, field);
  };
  refused([](auto& p) { p.length = 80; }, "AcceptCommitParams.length (80) must be in 1..64");
  refused([](auto& p) { p.treeCapacity = 20000; }, "AcceptCommitParams.treeCapacity (20000) with width * length 40 needs more than 48 KiB");
  refused([](auto& p) { p.elementBytes = 3; }, "AcceptCommitParams.elementBytes (3) must be 2 or 4");
  refused([](auto& p) { p.cache.headDim = 100; }, "AcceptCommitParams.cache.headDim (100) times elementBytes (2)");
  refused([](auto& p) { p.cache.v = nullptr; }, "AcceptCommitParams.cache.v is null but the other is not");
  refused([](auto& p) { p.layers = 0; }, "AcceptCommitParams.layers (0) must be positive to commit");
  refused([](auto& p) { p.cache.capacity = 0; }, "AcceptCommitParams.cache.capacity (0) must be positive");
  refused([](auto& p) { p.argmax = nullptr; }, "AcceptCommitParams.argmax is null");
  refused([](auto& p) { p.cache.layout = rc::KvLayout::kPaged, p.cache.blockSize = 16, p.cache.maxBlocksPerSeq = 8; },
          "AcceptCommitParams.cache.blockTable is null (the paged layout needs it)");
}

TEST_CASE("launch checks: the message belongs to the calling thread") {
  rc::BuildTreeParams bad = goodTree();
  bad.batch = 0;
  REQUIRE(rc::launchBuildTree(bad, nullptr) == cudaErrorInvalidValue);
  std::string other = "unset";
  std::thread([&] { other = rc::lastLaunchError(); }).join();
  CHECK(other == "");
  CHECK(std::string(rc::lastLaunchError()).find("BuildTreeParams.batch") != std::string::npos);
}

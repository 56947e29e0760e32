// The CUDA engine behind the executor interface: the CpuBackend's loop (native/cpu/executor/cpu_backend.h) with every
// model computation on one NVIDIA GPU. Per step, for every group of requests in flight that share a beam shape:
//   descriptor upload (last tokens, cached lengths, slots, block tables: one small copy)
//   -> drafter beam search on the device (RNN + residual blocks + head through cuBLAS, launchBeamSearchStep)
//   -> launchBuildTree -> one tree-verification forward of the whole group (cuBLAS GEMMs, RoPE and the KV write,
//      launchTreeAttention over the paged cache) -> greedy: argmax + launchAcceptCommit (verify and KV commit on the
//      device), the next drafts' hidden states gathered on the device -> one small copy back.
// Greedy groups run as CUDA graphs keyed by GraphKey (captured on a shape's second step). Sampling groups copy the
// tree's logits to the host and verify there with the CPU engine's exact rule (core/verify_sampling.h, seeded by the
// request), then commit on the device. A plain request (no drafter or beamWidth 0) is the same pipeline with a
// one-token tree.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/executor/step_executor.h"
#include "engine/engine_plan.h"

namespace redrafter::cuda::engine {

struct CudaBackendOptions {
  int32_t device = 0;             // CUDA device index
  int32_t contextLength = 0;      // KV capacity per session; 0 = the model's context length (2048 where unset)
  int32_t maxActiveRequests = 8;  // the largest step batch the workspaces are sized for
  int32_t maxBeamWidth = 8;       // with a drafter: the largest beamWidth a request may ask (workspace sizing)
  int32_t maxBeamLength = 8;      // with a drafter: the largest beamLength
  int32_t prefillChunk = 128;     // prompt tokens per prefill forward
  int32_t kvBlockSize = 64;       // slots per KV block
  int64_t kvBlocks = 0;           // KV pool blocks; 0 = room for 2 * maxActiveRequests full sessions (<= 90% free)
  bool cudaGraphs = true;         // capture greedy steps as CUDA graphs
};

class CudaBackend : public executor::StepBackend {
 public:
  // weights: row-major (LoadOptions::packMatrices off); drafter: null = plain decoding only (it must match the model:
  // hidden size and vocabulary). Throws InvalidArgument for a bad device index or option, Unsupported for a model the
  // engine cannot run (head size) or a missing CUDA driver / cuBLAS, OutOfMemory naming bytes asked and free.
  CudaBackend(std::shared_ptr<const ModelWeights> weights, std::shared_ptr<const DrafterWeights> drafter,
              CudaBackendOptions options = {});
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  executor::ModelInfo modelInfo() const override;
  void validate(const executor::Request& request) const override;
  void start(executor::ActiveRequest& request) override;
  void step(const std::vector<executor::ActiveRequest*>& requests) override;
  void end(executor::ActiveRequest& request) override;
  void releaseSession(executor::SessionId session) override;

  std::string deviceName() const;
  size_t weightBytes() const;
  // Tools (the GPU bench's --gaps): called with each request's logits row [vocab] of every token chosen by a plain
  // greedy step or the prefill (one extra device-to-host copy per step while set).
  using LogitsObserver = std::function<void(const executor::ActiveRequest&, const float* logits, int vocab)>;
  void setLogitsObserver(LogitsObserver observer) { observer_ = std::move(observer); }

 private:
  struct Session;
  struct RequestState;
  struct Device;
  struct Group;
  Session& session(executor::SessionId id);
  void reserveSlots(executor::SessionId id, int32_t slots);
  void forward(int batch, int treeTokens, int maxPast, const int32_t* tokens, const int32_t* positions,
               const int32_t* pastLengths, const int32_t* treeLengths, const int32_t* mask, int outFirst,
               int outCount);
  int32_t* draft(int batch, int width, int length);
  void enqueueStep(const Group& g, int pastBucketValue, bool greedy);
  void runGreedy(Group& g, int pastBucketValue);
  void runSampling(Group& g, int pastBucketValue);
  void gemm(int matrix, const void* x, int ldx, int rows, void* y, bool yFloat, int ldy, float beta);

  std::shared_ptr<const ModelWeights> weights_;
  std::shared_ptr<const DrafterWeights> drafter_;
  CudaBackendOptions options_;
  ModelDims dims_;
  EngineLimits limits_;
  WeightPlan plan_;
  Workspace ws_;
  StepRecords records_;
  float eps_ = 1e-5f, theta_ = 10000.f;
  double parameters_ = 0;
  std::unique_ptr<Device> dev_;
  std::unique_ptr<KvBlockManager> kv_;
  std::map<executor::SessionId, std::unique_ptr<Session>> sessions_;  // worker thread only
  std::set<uint64_t> pinned_;           // sessions with a request in flight (never evicted)
  std::vector<bool> slotUsed_;          // [maxActiveRequests] rows of the slot hidden-state buffer
  LogitsObserver observer_;
};

}  // namespace redrafter::cuda::engine

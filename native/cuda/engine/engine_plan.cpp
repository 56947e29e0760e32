#include "engine/engine_plan.h"

#include <algorithm>
#include <cstring>
#include <tuple>

#include "core/error.h"

namespace redrafter::cuda::engine {

const char* elemTypeName(ElemType type) { return type == ElemType::BF16 ? "bf16" : "f16"; }

std::string modelShapeError(const ModelConfig& c, const std::string& path) {
  if (c.dim <= 0 || c.nHeads <= 0 || c.nKvHeads <= 0 || c.hiddenDim <= 0 || c.nLayers <= 0 || c.vocabSize <= 0)
    return path + ": the model's config has a non-positive size";
  if (c.headSize == 0 && c.dim % c.nHeads != 0)
    return path + ": dim " + std::to_string(c.dim) + " is not a multiple of heads " + std::to_string(c.nHeads);
  if (c.nHeads % c.nKvHeads != 0)
    return path + ": heads " + std::to_string(c.nHeads) + " is not a multiple of kv heads " + std::to_string(c.nKvHeads);
  if (c.architecture != model::Architecture::Llama || c.ropeNeox)
    return path + ": general.architecture '" + model::architectureName(c.architecture) +
           "' is not supported by the cuda backend yet (supported: llama; the cpu backend runs it)";
  if (c.qDim() != c.dim)
    return path + ": attention.key_length " + std::to_string(c.headDim()) + " (heads wider than dim " +
           std::to_string(c.dim) + " / heads " + std::to_string(c.nHeads) +
           ") is not supported by the cuda backend yet (the cpu backend runs it)";
  const int32_t hd = c.headDim();
  if (hd != 64 && hd != 128)
    return path + ": head size " + std::to_string(hd) + " is not supported by the cuda backend (head sizes 64 and 128)";
  return {};
}

// ---- weight plan -----------------------------------------------------------------------------------------------

namespace {

size_t elementBytes(bool matrix) { return matrix ? 2 : 4; }

std::string shapeText(int64_t rows, int64_t cols) {
  return "[" + std::to_string(rows) + ", " + std::to_string(cols) + "]";
}

// Appends a device tensor made of `parts` stacked by rows; checks each part's shape.
int addTensor(WeightPlan& plan, ArenaLayout& arena, const std::string& path, std::string name, bool matrix,
              int64_t cols, std::vector<std::pair<std::string, std::pair<TensorView, int64_t>>> parts) {
  DeviceTensor t;
  t.name = std::move(name);
  t.matrix = matrix;
  t.cols = cols;
  int64_t rows = 0;
  for (auto& [partName, viewRows] : parts) {
    const TensorView& v = viewRows.first;
    const int64_t expectRows = viewRows.second;
    if (v.empty()) fail(ErrorCode::InvalidModel, path + ": tensor " + partName + " is missing");
    if (matrix) {
      if (v.rows != expectRows || v.cols != cols)
        fail(ErrorCode::InvalidModel, path + ": tensor " + partName + " has shape " + shapeText(v.rows, v.cols) +
                                          ", expected " + shapeText(expectRows, cols));
    } else if (v.elements() != cols) {
      fail(ErrorCode::InvalidModel, path + ": tensor " + partName + " has " + std::to_string(v.elements()) +
                                        " values, expected " + std::to_string(cols));
    }
    if (v.layout != Layout::RowMajor)
      fail(ErrorCode::Unsupported, path + ": tensor " + partName + " is repacked for the CPU; load it row-major");
    UploadPart p;
    p.name = partName;
    p.source = v;
    if (!matrix) {  // a vector read as one row
      p.source.rows = 1;
      p.source.cols = cols;
    }
    p.rowOffset = rows;
    rows += matrix ? v.rows : 1;
    t.parts.push_back(std::move(p));
  }
  t.rows = rows;
  t.bytes = size_t(rows) * size_t(cols) * elementBytes(matrix);
  t.offset = arena.add(t.bytes);
  plan.tensors.push_back(std::move(t));
  plan.totalBytes = arena.total();
  return int(plan.tensors.size()) - 1;
}

// The arena so far (plan.totalBytes), continued.
ArenaLayout continueArena(const WeightPlan& plan) {
  ArenaLayout a;
  if (plan.totalBytes) a.add(plan.totalBytes);
  return a;
}

TensorView f32View(const float* data, int64_t rows, int64_t cols) {
  TensorView v;
  v.type = HostDType::F32;
  v.rows = rows;
  v.cols = cols;
  v.data = data;
  return v;
}

}  // namespace

WeightPlan planModelWeights(const ModelWeights& w) {
  const ModelConfig& c = w.config;
  if (std::string why = modelShapeError(c, w.path); !why.empty()) fail(ErrorCode::Unsupported, why);
  if (int64_t(w.layers.size()) != c.nLayers)
    fail(ErrorCode::InvalidModel, w.path + ": has " + std::to_string(w.layers.size()) + " layers, config says " +
                                      std::to_string(c.nLayers));
  if (!w.ropeFreqs.empty())
    fail(ErrorCode::Unsupported, w.path + ": tensor rope_freqs (Llama 3 rope scaling) is not supported by the cuda "
                                          "backend yet (the cpu backend runs it)");
  WeightPlan plan;
  const bool bf16 = !w.layers.empty() && w.layers[0].wq.type == HostDType::BF16;
  plan.type = bf16 ? ElemType::BF16 : ElemType::F16;
  ArenaLayout arena;
  const int64_t D = c.dim, H = c.hiddenDim, KV = c.kvDim(), V = c.vocabSize;
  plan.embedding = addTensor(plan, arena, w.path, "token_embd", true, D, {{"token_embd", {w.tokenEmbedding, V}}});
  for (int32_t l = 0; l < c.nLayers; ++l) {
    const LayerWeights& L = w.layers[l];
    const std::string p = "blk." + std::to_string(l) + ".";
    WeightPlan::Layer layer;
    layer.attnNorm = addTensor(plan, arena, w.path, p + "attn_norm", false, D, {{p + "attn_norm", {L.attnNorm, 1}}});
    layer.wqkv = addTensor(plan, arena, w.path, p + "attn_qkv", true, D,
                           {{p + "attn_q", {L.wq, D}}, {p + "attn_k", {L.wk, KV}}, {p + "attn_v", {L.wv, KV}}});
    layer.wo = addTensor(plan, arena, w.path, p + "attn_output", true, D, {{p + "attn_output", {L.wo, D}}});
    layer.ffnNorm = addTensor(plan, arena, w.path, p + "ffn_norm", false, D, {{p + "ffn_norm", {L.ffnNorm, 1}}});
    layer.w13 = addTensor(plan, arena, w.path, p + "ffn_gate_up", true, D,
                          {{p + "ffn_gate", {L.w1, H}}, {p + "ffn_up", {L.w3, H}}});
    layer.w2 = addTensor(plan, arena, w.path, p + "ffn_down", true, H, {{p + "ffn_down", {L.w2, D}}});
    plan.layers.push_back(layer);
  }
  plan.finalNorm = addTensor(plan, arena, w.path, "output_norm", false, D, {{"output_norm", {w.finalNorm, 1}}});
  if (w.output.data == w.tokenEmbedding.data && w.output.type == w.tokenEmbedding.type) {
    DeviceTensor alias = plan.tensors[plan.embedding];
    alias.name = "output";
    alias.bytes = 0;
    alias.parts.clear();
    alias.aliasOf = plan.embedding;
    plan.tensors.push_back(std::move(alias));
    plan.output = int(plan.tensors.size()) - 1;
  } else {
    plan.output = addTensor(plan, arena, w.path, "output", true, D, {{"output", {w.output, V}}});
  }
  return plan;
}

void planDrafterWeights(const DrafterWeights& d, WeightPlan& plan) {
  const DrafterConfig& c = d.config;
  auto views = d.views();
  ArenaLayout arena = continueArena(plan);
  const int64_t H = c.hiddenSize, E = c.exitDim, V = c.vocabSize;
  const std::string src = "drafter";
  auto matrix = [&](const std::string& name, const float* data, int64_t rows, int64_t cols) {
    if (!data) fail(ErrorCode::InvalidModel, src + ": tensor " + name + " is missing");
    return addTensor(plan, arena, src, name, true, cols, {{name, {f32View(data, rows, cols), rows}}});
  };
  auto vector = [&](const std::string& name, const float* data, int64_t n) {
    if (!data) fail(ErrorCode::InvalidModel, src + ": tensor " + name + " is missing");
    return addTensor(plan, arena, src, name, false, n, {{name, {f32View(data, 1, n), 1}}});
  };
  if (c.hasInputProj()) {
    plan.inputProj = matrix("input_proj.weight", views.inputProjWeight, E, 2 * H);
    plan.inputProjBias = vector("input_proj.bias", views.inputProjBias, E);
  }
  for (int32_t i = 0; i < c.numDraftLayers; ++i) {
    const std::string p = "lm_head." + std::to_string(i) + ".linear.";
    plan.blockWeight.push_back(matrix(p + "weight", views.blockWeight[i], E, E));
    plan.blockBias.push_back(vector(p + "bias", views.blockBias[i], E));
  }
  plan.lmHead = matrix("lm_head." + std::to_string(c.numDraftLayers) + ".weight", views.lmHead, V, E);
  if (c.rnn) {
    plan.rnnW = matrix("rnn_w.weight", views.rnnWWeight, H, H);
    plan.rnnU = matrix("rnn_u.weight", views.rnnUWeight, H, H);
    plan.rnnUBias = vector("rnn_u.bias", views.rnnUBias, H);
  }
}

void convertRows(const DeviceTensor& t, ElemType type, int64_t r0, int64_t r1, void* out, std::vector<float>& scratch) {
  scratch.resize(size_t(t.cols));
  for (int64_t r = r0; r < r1; ++r) {
    const UploadPart* part = nullptr;
    for (const UploadPart& p : t.parts)
      if (r >= p.rowOffset && r < p.rowOffset + p.source.rows) part = &p;
    if (!part) fail(ErrorCode::Internal, "convertRows: row " + std::to_string(r) + " of " + t.name + " has no source");
    dequantizeRow(part->source, r - part->rowOffset, scratch.data());
    const size_t o = size_t(r - r0) * size_t(t.cols);
    if (!t.matrix) {
      std::memcpy(static_cast<float*>(out) + o, scratch.data(), sizeof(float) * size_t(t.cols));
    } else {
      uint16_t* dst = static_cast<uint16_t*>(out) + o;
      if (type == ElemType::BF16)
        for (int64_t j = 0; j < t.cols; ++j) dst[j] = f32ToBf16(scratch[j]);
      else
        for (int64_t j = 0; j < t.cols; ++j) dst[j] = f32ToFp16(scratch[j]);
    }
  }
}

// ---- sizes ---------------------------------------------------------------------------------------------------------

ModelDims ModelDims::of(const ModelConfig& c) {
  ModelDims d;
  d.dim = c.dim;
  d.hidden = c.hiddenDim;
  d.layers = c.nLayers;
  d.heads = c.nHeads;
  d.kvHeads = c.nKvHeads;
  d.headDim = c.headDim();
  d.vocab = c.vocabSize;
  return d;
}

int32_t EngineLimits::maxRows() const { return std::max(maxBatch * treeTokens(), prefillChunk); }

std::string limitsError(const EngineLimits& l) {
  auto bad = [](const char* field, int64_t value, const std::string& rule) {
    return std::string(field) + " (" + std::to_string(value) + ") " + rule;
  };
  if (l.maxBatch < 1 || l.maxBatch > 256) return bad("maxActiveRequests", l.maxBatch, "must be in [1, 256]");
  if (l.maxBeamWidth < 0 || l.maxBeamWidth > kDraftTopK)
    return bad("maxBeamWidth", l.maxBeamWidth, "must be in [0, " + std::to_string(kDraftTopK) + "]");
  if (l.maxBeamWidth > 0 && (l.maxBeamLength < 2 || l.maxBeamLength > 64))
    return bad("maxBeamLength", l.maxBeamLength, "must be in [2, 64]");
  if (l.maxBeamWidth > 0 && l.maxBeamWidth * l.maxBeamLength > 1024)
    return bad("maxBeamWidth * maxBeamLength", int64_t(l.maxBeamWidth) * l.maxBeamLength, "must be at most 1024");
  if (l.prefillChunk < 1 || l.prefillChunk > 4096) return bad("prefillChunk", l.prefillChunk, "must be in [1, 4096]");
  if (l.capacity < 1) return bad("contextLength", l.capacity, "must be positive");
  if (l.blockSize < 1 || l.blockSize > 1024) return bad("kvBlockSize", l.blockSize, "must be in [1, 1024]");
  return {};
}

size_t ArenaLayout::add(size_t bytes) {
  const size_t at = (total_ + kArenaAlign - 1) / kArenaAlign * kArenaAlign;
  total_ = at + bytes;
  return at;
}

Workspace planWorkspace(const ModelDims& d, const EngineLimits& l, size_t attentionBytes, size_t beamSearchBytes) {
  ArenaLayout a;
  Workspace w;
  const size_t R = size_t(l.maxRows()), B = size_t(l.maxBatch), Tm = size_t(l.treeTokens());
  const size_t Rl = B * Tm, f = 4, h = 2, i = 4;
  const size_t D = size_t(d.dim), KV = size_t(d.kvDim()), H = size_t(d.hidden), V = size_t(d.vocab);
  const size_t maskRows = std::max(B * Tm, size_t(l.prefillChunk));
  const size_t words = (std::max(Tm, size_t(l.prefillChunk)) + 31) / 32;
  w.x = a.add(R * D * f);
  w.xn = a.add(R * D * h);
  w.qkv = a.add(R * (D + 2 * KV) * f);
  w.q = a.add(R * D * h);
  w.att = a.add(R * D * h);
  w.h13 = a.add(R * 2 * H * f);
  w.g = a.add(R * H * h);
  w.hidden = a.add(R * D * f);
  w.hidden16 = a.add(R * D * h);
  w.logits = a.add(Rl * V * f);
  w.argmax = a.add(Rl * i);
  w.tokens = a.add(R * i);
  w.positions = a.add(R * i);
  w.treeLengths = a.add(B * i);
  w.mask = a.add(maskRows * words * i);
  w.treeTokens = a.add(B * Tm * i);
  w.treeBeamIndex = a.add(B * Tm * i);
  w.treeOffsets = a.add(B * Tm * i);
  w.treeParents = a.add(B * Tm * i);
  w.unpacker = a.add(B * Tm * i);
  w.slotHidden = a.add(B * D * f);
  w.attention = a.add(attentionBytes);
  if (d.draftHidden > 0 && l.maxBeamWidth > 0) {
    const size_t Rd = B * size_t(l.maxBeamWidth), Hd = size_t(d.draftHidden), E = size_t(d.exitDim);
    const size_t Vd = size_t(d.draftVocab), Lm = size_t(l.maxBeamLength);
    w.dEmb = a.add(Rd * Hd * h);
    w.dIn = a.add(Rd * 2 * Hd * h);
    w.dState = a.add(2 * Rd * Hd * f);
    w.dA = a.add(Rd * Hd * f);
    w.dX = a.add(Rd * E * f);
    w.dX16 = a.add(Rd * std::max(E, 2 * Hd) * h);
    w.dT = a.add(Rd * E * f);
    w.dLogits = a.add(Rd * Vd * f);
    w.dScores = a.add(2 * Rd * f);
    w.dParent = a.add(Rd * i);
    w.dToken = a.add(Rd * i);
    w.dBeams = a.add(2 * Rd * Lm * i);
    w.beamSearch = a.add(beamSearchBytes);
  }
  w.total = a.total();
  return w;
}

// ---- KV pool -------------------------------------------------------------------------------------------------------

KvPoolPlan planKvPool(const ModelDims& d, const EngineLimits& l, int64_t requestedBlocks, size_t freeBytes) {
  KvPoolPlan p;
  p.blockSize = l.blockSize;
  p.maxBlocksPerSeq = l.maxBlocksPerSeq();
  p.bytesPerBlock = size_t(d.layers) * 2 * size_t(d.kvHeads) * size_t(l.blockSize) * size_t(d.headDim) * 2;
  const int64_t minimum = p.maxBlocksPerSeq;
  int64_t blocks;
  if (requestedBlocks > 0) {
    blocks = requestedBlocks;
  } else {
    const int64_t wanted = 2 * int64_t(l.maxBatch) * p.maxBlocksPerSeq;
    const int64_t affordable = int64_t(double(freeBytes) * 0.9 / double(p.bytesPerBlock));
    blocks = std::min(wanted, affordable);
  }
  if (blocks < minimum || size_t(blocks) * p.bytesPerBlock > freeBytes)
    fail(ErrorCode::OutOfMemory,
         "the KV cache needs " + std::to_string(size_t(std::max(blocks, minimum)) * p.bytesPerBlock) +
             " bytes of device memory (" + std::to_string(std::max(blocks, minimum)) + " blocks of " +
             std::to_string(l.blockSize) + " slots, at least one session of " + std::to_string(l.capacity) +
             " tokens), " + std::to_string(freeBytes) + " bytes are free; lower contextLength or maxActiveRequests");
  if (blocks > INT32_MAX / 2) blocks = INT32_MAX / 2;
  p.numBlocks = int32_t(blocks);
  p.totalBytes = size_t(p.numBlocks) * p.bytesPerBlock;
  return p;
}

KvBlockManager::KvBlockManager(int32_t numBlocks, int32_t blockSize, int32_t maxBlocksPerSeq)
    : numBlocks_(numBlocks), blockSize_(blockSize), maxBlocksPerSeq_(maxBlocksPerSeq) {
  RD_REQUIRE(numBlocks >= 1, "numBlocks", "must be positive");
  RD_REQUIRE(blockSize >= 1, "blockSize", "must be positive");
  RD_REQUIRE(maxBlocksPerSeq >= 1, "maxBlocksPerSeq", "must be positive");
  free_.reserve(size_t(numBlocks));
  for (int32_t b = numBlocks - 1; b >= 0; --b) free_.push_back(b);
}

bool KvBlockManager::reserve(uint64_t session, int32_t slots, const std::set<uint64_t>& pinned,
                             std::vector<uint64_t>& evicted) {
  if (slots < 0) return false;
  const int32_t needed = (slots + blockSize_ - 1) / blockSize_;
  if (needed > maxBlocksPerSeq_) return false;
  std::vector<int32_t>& mine = held_[session];
  lastUse_[session] = ++clock_;
  int32_t more = needed - int32_t(mine.size());
  if (more <= 0) return true;
  while (int32_t(free_.size()) < more) {  // evict the least recently used idle session holding blocks
    uint64_t victim = 0, oldest = UINT64_MAX;
    for (auto& [s, blocks] : held_)
      if (s != session && !blocks.empty() && !pinned.count(s) && lastUse_[s] < oldest) {
        oldest = lastUse_[s];
        victim = s;
      }
    if (oldest == UINT64_MAX) return false;
    release(victim);
    evicted.push_back(victim);
  }
  for (; more > 0; --more) {
    mine.push_back(free_.back());
    free_.pop_back();
  }
  return true;
}

void KvBlockManager::release(uint64_t session) {
  auto it = held_.find(session);
  if (it == held_.end()) return;
  for (auto b = it->second.rbegin(); b != it->second.rend(); ++b) free_.push_back(*b);
  held_.erase(it);
  lastUse_.erase(session);
}

int32_t KvBlockManager::heldBlocks(uint64_t session) const {
  auto it = held_.find(session);
  return it == held_.end() ? 0 : int32_t(it->second.size());
}

void KvBlockManager::writeBlockTable(uint64_t session, int32_t* row) const {
  std::fill(row, row + maxBlocksPerSeq_, 0);
  auto it = held_.find(session);
  if (it != held_.end()) std::copy(it->second.begin(), it->second.end(), row);
}

// ---- steps ---------------------------------------------------------------------------------------------------------

StepShape chooseStepShape(int32_t width, int32_t length, int32_t remainingTokens, int32_t cached, int32_t capacity) {
  StepShape s;
  if (width <= 0) return s;
  int32_t l = std::min(length, remainingTokens);
  l = std::min(l, 1 + (capacity - cached - 1) / width);
  if (l >= 2) {
    s.width = width;
    s.length = l;
    s.drafted = true;
  }
  return s;
}

int32_t pastBucket(int32_t maxPast, int32_t capacity) {
  int32_t b = 256;
  while (b < maxPast) b *= 2;
  return std::max(maxPast, std::min(b, capacity));
}

std::vector<int32_t> pastBuckets(int32_t capacity) {
  std::vector<int32_t> out;
  for (int64_t b = 256;; b *= 2) {  // pastBucket's values: the powers of two from 256 under the capacity, then it
    const int32_t v = int32_t(std::min<int64_t>(b, capacity));
    if (out.empty() || out.back() != v) out.push_back(v);
    if (b >= capacity) break;
  }
  return out;
}

bool AttentionShape::operator<(const AttentionShape& o) const {
  return std::tie(batch, treeTokens, pastBucket) < std::tie(o.batch, o.treeTokens, o.pastBucket);
}

std::vector<AttentionShape> attentionShapes(const EngineLimits& l) {
  std::set<int32_t> stepTrees = {1};
  for (int32_t w = 1; w <= l.maxBeamWidth; ++w)
    for (int32_t len = 2; len <= l.maxBeamLength; ++len) stepTrees.insert(w * len);
  std::set<AttentionShape> shapes;
  for (int32_t bucket : pastBuckets(l.capacity)) {
    for (int32_t t : stepTrees)
      for (int32_t b = 1; b <= l.maxBatch; ++b) shapes.insert({b, t, bucket});
    for (int32_t t = 1; t <= l.prefillChunk; ++t) shapes.insert({1, t, bucket});
  }
  return {shapes.begin(), shapes.end()};
}

bool GraphKey::operator<(const GraphKey& o) const {
  return std::tie(batch, width, length, pastBucket, drafted) < std::tie(o.batch, o.width, o.length, o.pastBucket, o.drafted);
}

std::string GraphKey::describe() const {
  return "batch " + std::to_string(batch) + (drafted ? ", beams " + std::to_string(width) + "x" + std::to_string(length)
                                                     : std::string(", plain")) +
         ", past <= " + std::to_string(pastBucket);
}

bool CaptureCounter::shouldCapture(const GraphKey& key) { return ++seen_[key] >= 2; }

}  // namespace redrafter::cuda::engine

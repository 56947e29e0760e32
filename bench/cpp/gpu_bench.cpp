// redrafter-gpu-bench: the C++ harness of the GPU proof (no Node). Greedy decoding of a prompt file on the CUDA
// engine (plain AR or ReDrafter) or, as the reference, the CPU engine's plain greedy decoding; prints one JSON object.
//
//   redrafter-gpu-bench --model M.gguf [--tokenizer FILE] [--drafter DIR] --prompts FILE [--max-tokens 128]
//                       [--batch 1] [--beam-width W] [--beam-length L] [--mode ar|redrafter|cpu-ar] [--repeats 3]
//                       [--device 0] [--gaps] [--no-graphs]
//
// FILE: one text prompt per line (empty lines skipped), tokenized with the model's tokenizer (or --tokenizer), BOS
// first as a session's first turn. --batch B: B requests in flight at once, prompts cycled, rounds until every
// prompt ran. Every request generates exactly --max-tokens tokens (no end id stops it), temperature 0.
// Output: {"device", "mode", "batch", "model", "maxTokens", "beamWidth", "beamLength",
//          "prompts": [{"prompt", "tokens": [ids], "gaps": [top1 - top2 logit per generated token] (--gaps; ar and
//          cpu-ar)}] (one per request of the first repeat, in the order they ran: batch B repeats prompts), "tokensPerSecond" (median over repeats: decode tokens of all requests / decode wall time,
//          the prefill excluded), "prefillMs" (median, all prefills of a repeat), "tokensPerStep" (decode tokens per
//          request-step), "stepMs" (median decode wall time per step), "repeats": [{...per repeat}]}
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/executor/step_executor.h"
#include "cpu/engine/transformer.h"
#include "cpu/engine/weight_packing.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"
#include "engine/cuda_backend.h"
#include "engine/cuda_executor.h"

namespace {

using namespace redrafter;
using Clock = std::chrono::steady_clock;

struct Args {
  std::string model, tokenizer, drafter, prompts, mode = "ar";
  int maxTokens = 128, batch = 1, beamWidth = 1, beamLength = 8, repeats = 3, device = 0;
  bool gaps = false, graphs = true;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "redrafter-gpu-bench: " << why
            << "\nusage: redrafter-gpu-bench --model M.gguf [--tokenizer FILE] [--drafter DIR] --prompts FILE "
               "[--max-tokens 128] [--batch 1] [--beam-width W] [--beam-length L] [--mode ar|redrafter|cpu-ar] "
               "[--repeats 3] [--device 0] [--gaps] [--no-graphs]\n";
  std::exit(2);
}

int intArg(const std::string& flag, const char* v, int min) {
  char* end = nullptr;
  long x = std::strtol(v, &end, 10);
  if (!*v || *end || x < min || x > 1 << 24) usage(flag + " must be an integer >= " + std::to_string(min));
  return int(x);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string f = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage(f + " needs a value");
      return argv[++i];
    };
    if (f == "--model") a.model = value();
    else if (f == "--tokenizer") a.tokenizer = value();
    else if (f == "--drafter") a.drafter = value();
    else if (f == "--prompts") a.prompts = value();
    else if (f == "--mode") a.mode = value();
    else if (f == "--max-tokens") a.maxTokens = intArg(f, value(), 1);
    else if (f == "--batch") a.batch = intArg(f, value(), 1);
    else if (f == "--beam-width") a.beamWidth = intArg(f, value(), 1);
    else if (f == "--beam-length") a.beamLength = intArg(f, value(), 2);
    else if (f == "--repeats") a.repeats = intArg(f, value(), 1);
    else if (f == "--device") a.device = intArg(f, value(), 0);
    else if (f == "--gaps") a.gaps = true;
    else if (f == "--no-graphs") a.graphs = false;
    else usage("unknown option " + f);
  }
  if (a.model.empty()) usage("--model is required");
  if (a.prompts.empty()) usage("--prompts is required");
  if (a.mode != "ar" && a.mode != "redrafter" && a.mode != "cpu-ar") usage("--mode must be ar, redrafter or cpu-ar");
  if (a.mode == "redrafter" && a.drafter.empty()) usage("--mode redrafter needs --drafter");
  if (a.tokenizer.empty()) a.tokenizer = a.model;
  return a;
}

std::string jsonString(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') o += '\\', o += char(c);
    else if (c == '\n') o += "\\n";
    else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      o += buf;
    } else o += char(c);
  }
  return o + "\"";
}

template <typename T>
std::string jsonArray(const std::vector<T>& v) {
  std::ostringstream o;
  o.precision(9);
  o << "[";
  for (size_t i = 0; i < v.size(); ++i) o << (i ? "," : "") << v[i];
  o << "]";
  return o.str();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

float topGap(const float* logits, int vocab) {
  float a = -INFINITY, b = -INFINITY;
  for (int i = 0; i < vocab; ++i) {
    if (logits[i] > a) b = a, a = logits[i];
    else if (logits[i] > b) b = logits[i];
  }
  return a - b;
}

struct Repeat {
  double decodeSeconds = 0, prefillSeconds = 0;
  long long decodeTokens = 0, requestSteps = 0, steps = 0;
};

// The first repeat's requests, in the order they ran: which prompt, its tokens and (--gaps) logit gaps.
struct Outcome {
  std::vector<size_t> prompt;
  std::vector<std::vector<int32_t>> tokens;
  std::vector<std::vector<float>> gaps;
};

// One repeat on the CUDA engine: rounds of `batch` requests in flight.
Repeat runCuda(cuda::engine::CudaBackend& backend, const Args& a, const std::vector<std::vector<int32_t>>& prompts,
               Outcome* outcome, uint64_t& nextId) {
  Repeat rep;
  const size_t P = prompts.size();
  const size_t rounds = (P + size_t(a.batch) - 1) / size_t(a.batch);
  std::map<executor::RequestId, size_t> promptOf;
  std::map<executor::RequestId, std::vector<float>> gaps;
  if (outcome && a.gaps)
    backend.setLogitsObserver([&](const executor::ActiveRequest& r, const float* logits, int vocab) {
      gaps[r.id()].push_back(topGap(logits, vocab));
    });
  else
    backend.setLogitsObserver(nullptr);
  for (size_t round = 0; round < rounds; ++round) {
    std::vector<std::unique_ptr<executor::ActiveRequest>> reqs;
    for (int j = 0; j < a.batch; ++j) {
      const size_t p = (round * size_t(a.batch) + size_t(j)) % P;
      executor::Request q;
      q.session = nextId;
      q.inputTokenIds = prompts[p];
      q.maxTokens = a.maxTokens;
      q.sampling.temperature = 0;
      if (a.mode == "redrafter") {
        q.draft.beamWidth = a.beamWidth;
        q.draft.beamLength = a.beamLength;
      }
      backend.validate(q);
      auto r = std::make_unique<executor::ActiveRequest>(nextId++, std::move(q));
      promptOf[r->id()] = p;
      reqs.push_back(std::move(r));
    }
    const auto t0 = Clock::now();
    for (auto& r : reqs) backend.start(*r);
    const auto t1 = Clock::now();
    for (;;) {
      std::vector<executor::ActiveRequest*> running;
      for (auto& r : reqs)
        if (!r->finished()) running.push_back(r.get());
      if (running.empty()) break;
      backend.step(running);
      rep.steps += 1;
    }
    const auto t2 = Clock::now();
    rep.prefillSeconds += std::chrono::duration<double>(t1 - t0).count();
    rep.decodeSeconds += std::chrono::duration<double>(t2 - t1).count();
    for (auto& r : reqs) {
      if (r->finishReason() == executor::FinishReason::Error) throw std::runtime_error("a request failed");
      rep.decodeTokens += (long long)r->output().size() - 1;
      rep.requestSteps += r->stats.steps;
      if (outcome) {
        outcome->prompt.push_back(promptOf[r->id()]);
        outcome->tokens.push_back(r->output());
        outcome->gaps.push_back(gaps[r->id()]);
      }
      backend.end(*r);
      backend.releaseSession(r->request().session);
    }
  }
  backend.setLogitsObserver(nullptr);
  return rep;
}

// One repeat of the CPU engine's plain greedy decoding (requests one after another; the reference for tokens).
Repeat runCpu(cpu::Transformer& model, const Args& a, const std::vector<std::vector<int32_t>>& prompts,
              Outcome* outcome) {
  Repeat rep;
  const int V = model.config().vocabSize;
  std::vector<float> logits(static_cast<size_t>(V));
  for (size_t p = 0; p < prompts.size(); ++p) {
    for (int copy = 0; copy < a.batch; ++copy) {
      auto cache = model.createCache(model.config().contextLength > 0 ? model.config().contextLength : 2048);
      const auto t0 = Clock::now();
      const int32_t last = int32_t(prompts[p].size()) - 1;
      model.forward(*cache, prompts[p].data(), int32_t(prompts[p].size()), nullptr, nullptr, &last, 1, logits.data(),
                    nullptr);
      const auto t1 = Clock::now();
      std::vector<int32_t> out;
      std::vector<float> gaps;
      for (int i = 0; i < a.maxTokens; ++i) {
        const int32_t next = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
        if (a.gaps) gaps.push_back(topGap(logits.data(), V));
        out.push_back(next);
        if (i + 1 == a.maxTokens || cache->length() >= cache->capacity()) break;
        model.forward(*cache, &next, 1, nullptr, nullptr, nullptr, 0, logits.data(), nullptr);
        rep.steps += 1;
        rep.requestSteps += 1;
      }
      const auto t2 = Clock::now();
      rep.prefillSeconds += std::chrono::duration<double>(t1 - t0).count();
      rep.decodeSeconds += std::chrono::duration<double>(t2 - t1).count();
      rep.decodeTokens += (long long)out.size() - 1;
      if (outcome) {
        outcome->prompt.push_back(p);
        outcome->tokens.push_back(out);
        outcome->gaps.push_back(gaps);
      }
    }
  }
  return rep;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  try {
    std::vector<std::string> texts;
    {
      std::ifstream f(a.prompts);
      if (!f) usage("cannot read --prompts " + a.prompts);
      for (std::string line; std::getline(f, line);)
        if (!line.empty() && line.find_first_not_of(" \t\r") != std::string::npos) texts.push_back(line);
      if (texts.empty()) usage("--prompts " + a.prompts + " has no prompt");
    }
    auto tokenizer = tokenizer::Tokenizer::load(a.tokenizer);
    std::vector<std::vector<int32_t>> prompts;
    for (const auto& t : texts) prompts.push_back(tokenizer->encode(t, true));

    Outcome outcome;
    std::vector<Repeat> repeats;
    std::string device;
    if (a.mode == "cpu-ar") {
      auto weights = cpu::loadPackedModelWeights(a.model, 0);
      cpu::Transformer model(weights);
      device = "cpu";
      for (int i = 0; i < a.repeats; ++i) repeats.push_back(runCpu(model, a, prompts, i == 0 ? &outcome : nullptr));
    } else {
      cuda::engine::CudaBackendOptions o;
      o.device = a.device;
      o.maxActiveRequests = a.batch;
      o.maxBeamWidth = std::max(1, a.beamWidth);
      o.maxBeamLength = std::max(2, a.beamLength);
      o.cudaGraphs = a.graphs;
      std::shared_ptr<const cuda::engine::DrafterWeights> drafter;
      if (a.mode == "redrafter") drafter = cuda::engine::loadDrafterForCuda(a.drafter);
      cuda::engine::CudaBackend backend(cuda::engine::loadModelForCuda(a.model), drafter, o);
      device = backend.deviceName();
      uint64_t nextId = 1;
      runCuda(backend, a, prompts, nullptr, nextId);  // warm-up: CUDA graphs captured, lazy initialisations done
      for (int i = 0; i < a.repeats; ++i)
        repeats.push_back(runCuda(backend, a, prompts, i == 0 ? &outcome : nullptr, nextId));
    }

    std::vector<double> tps, prefill, stepMs, tpsStep;
    std::ostringstream rj;
    rj.precision(9);
    rj << "[";
    for (size_t i = 0; i < repeats.size(); ++i) {
      const Repeat& r = repeats[i];
      const double t = r.decodeSeconds > 0 ? double(r.decodeTokens) / r.decodeSeconds : 0;
      const double s = r.steps ? 1e3 * r.decodeSeconds / double(r.steps) : 0;
      const double perStep = r.requestSteps ? double(r.decodeTokens) / double(r.requestSteps) : 0;
      tps.push_back(t);
      prefill.push_back(1e3 * r.prefillSeconds);
      stepMs.push_back(s);
      tpsStep.push_back(perStep);
      rj << (i ? "," : "") << "{\"tokensPerSecond\":" << t << ",\"decodeMs\":" << 1e3 * r.decodeSeconds
         << ",\"prefillMs\":" << 1e3 * r.prefillSeconds << ",\"decodeTokens\":" << r.decodeTokens
         << ",\"steps\":" << r.steps << ",\"stepMs\":" << s << ",\"tokensPerStep\":" << perStep << "}";
    }
    rj << "]";
    std::ostringstream o;
    o.precision(9);
    o << "{\"device\":" << jsonString(device) << ",\"mode\":" << jsonString(a.mode) << ",\"batch\":" << a.batch
      << ",\"model\":" << jsonString(a.model) << ",\"maxTokens\":" << a.maxTokens;
    if (a.mode == "redrafter") o << ",\"beamWidth\":" << a.beamWidth << ",\"beamLength\":" << a.beamLength;
    o << ",\"prompts\":[";
    for (size_t i = 0; i < outcome.tokens.size(); ++i) {
      o << (i ? "," : "") << "{\"prompt\":" << jsonString(texts[outcome.prompt[i]])
        << ",\"tokens\":" << jsonArray(outcome.tokens[i]);
      if (a.gaps && a.mode != "redrafter") o << ",\"gaps\":" << jsonArray(outcome.gaps[i]);
      o << "}";
    }
    o << "],\"tokensPerSecond\":" << median(tps) << ",\"prefillMs\":" << median(prefill)
      << ",\"tokensPerStep\":" << median(tpsStep) << ",\"stepMs\":" << median(stepMs) << ",\"repeats\":" << rj.str()
      << "}";
    std::cout << o.str() << std::endl;
    return 0;
  } catch (const Error& e) {
    std::cerr << "redrafter-gpu-bench: " << errorCodeName(e.code()) << ": " << e.what() << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "redrafter-gpu-bench: " << e.what() << std::endl;
    return 1;
  }
}

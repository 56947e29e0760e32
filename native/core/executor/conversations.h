// The conversation of every session, owned once, over any backend executor (CPU, CUDA, TensorRT-LLM).
//
// A turn sends only its new prompt tokens: enqueue() makes the request's whole context (Request::inputTokenIds, what
// every backend runs) from the session's history and those tokens. When the request ends, its session's history
// becomes that context plus the generated tokens, unless the backend refused it (FinishReason::Error), which leaves
// the history as it was; an aborted request keeps what it generated. The caller may keep fewer of the generated
// tokens (a stop string found in their text): keepOutput(). reset() starts the conversation over.
//
// The history is the conversation, not the KV cache: a backend keeps its own record of the tokens its cache holds for
// a session and reuses the longest prefix it shares with the next context (so reset() followed by a prompt that
// starts like the old conversation still reuses the cache, and tokens generated past a stop string are rolled back).
//
// Thread-safe: enqueue/history/reset/keepOutput on the caller's thread, awaitResponses on the poller's. The history is
// committed in awaitResponses before the final response is returned, so whoever receives it reads the new history.
#pragma once
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "core/executor/executor_interface.h"

namespace redrafter::executor {

class Conversations {
 public:
  explicit Conversations(std::unique_ptr<Executor> backend);
  ~Conversations();
  Conversations(const Conversations&) = delete;
  Conversations& operator=(const Conversations&) = delete;

  ModelInfo modelInfo() const { return info_; }

  // A new session with an empty history.
  SessionId open();
  // Frees the session's KV cache (its request in flight ends with Abort); the history stays readable (and takes that
  // request's tokens) until forget().
  void release(SessionId session);
  // Drops a released session's history.
  void forget(SessionId session);

  // Queues a turn: `request` with inputTokenIds = the session's history + `prompt`. Throws what the backend's
  // enqueueRequest throws (nothing is recorded then), InvalidArgument for an unknown or released session, a session
  // whose previous request has not ended, or an empty context.
  RequestId enqueue(SessionId session, const std::vector<int32_t>& prompt, Request request);

  // The session's conversation: its prompts and the generated tokens kept.
  std::vector<int32_t> history(SessionId session) const;
  size_t historyLength(SessionId session) const;
  // The last token of the history, or -1 when it is empty.
  int32_t lastToken(SessionId session) const;
  // Forgets the conversation (a request in flight still adds its context and output when it ends).
  void reset(SessionId session);
  // Of `request`'s generated tokens, the history keeps only the first `count` (no effect unless it is the session's
  // last ended request and the history has not changed since).
  void keepOutput(SessionId session, RequestId request, size_t count);

  // The backend's responses; a final one first commits its request to its session's history.
  std::vector<Response> awaitResponses(std::chrono::milliseconds timeout);
  void cancelRequest(RequestId id) { backend_->cancelRequest(id); }
  void shutdown() { backend_->shutdown(); }
  void shutdownNow() { backend_->shutdownNow(); }
  bool isShutdown() const { return backend_->isShutdown(); }

 private:
  struct Conversation {
    std::vector<int32_t> tokens;
    bool released = false;
    RequestId inFlight = 0;  // the request whose end is not yet committed (0: none)
    RequestId last = 0;      // the last committed request, while the history ends with its output
    size_t lastInput = 0;    // its context's length
  };
  struct Turn {  // a request in flight
    SessionId session = 0;
    std::vector<int32_t> input;   // its whole context
    std::vector<int32_t> output;  // the tokens received so far
    bool streaming = true;        // responses carry the new tokens (else the final one carries them all)
  };

  std::unique_ptr<Executor> backend_;
  ModelInfo info_;
  mutable std::mutex mutex_;
  std::map<SessionId, Conversation> sessions_;
  std::map<RequestId, Turn> turns_;
};

}  // namespace redrafter::executor

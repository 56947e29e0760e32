// The JS class Engine: one loaded executor (any backend) with its sessions' conversations (executor::Conversations),
// its poller thread and the thread-safe function that streams responses to JS. Sessions (session.cpp) enqueue turns
// on it.
//
// Shutdown, on every path, without blocking the event loop and without anything outliving what it uses:
//   dispose()            a worker thread cancels everything, lets the backend report it (drain) and joins the poller;
//   garbage collection   an undisposed Engine's finalizer hands the same shutdown, without the drain, to a
//                        background thread (a finalizer never waits for threads);
//   environment exit     an environment cleanup hook (the process returning from main, process.exit in a worker
//                        thread, worker.terminate()) cancels everything and shuts the executor down without
//                        draining, then joins the poller, before Node closes the thread-safe function.
// The poller, the response callbacks and the cleanup hook share one Runtime that lives until the thread-safe
// function's finalizer, which is also where the cleanup hook is removed: no callback or hook can see it freed.
#pragma once
#include <napi.h>

#include <memory>

#include "addon/executor_backends.h"
#include "core/executor/conversations.h"
#include "core/executor/executor_interface.h"

namespace redrafter::addon {

class Engine : public Napi::ObjectWrap<Engine> {
 public:
  static Napi::Function Define(Napi::Env env);
  Engine(const Napi::CallbackInfo& info);
  ~Engine() override;

  // Takes ownership of a loaded executor and starts streaming its responses to `onResponses`.
  void attach(Napi::Env env, std::unique_ptr<executor::Executor> executor, Napi::Function onResponses);
  executor::Conversations& executor();  // throws Disposed once dispose() was called
  std::shared_ptr<executor::Conversations> sharedExecutor() const;
  bool disposed() const;
  // A request was enqueued (main thread): keeps the event loop alive until its final response reached JS.
  void requestStarted(Napi::Env env);

  struct Runtime;  // engine.cpp

 private:
  Napi::Value ModelInfo(const Napi::CallbackInfo& info);
  Napi::Value CreateSession(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  std::shared_ptr<Runtime> runtime_;  // null until attach()
};

}  // namespace redrafter::addon

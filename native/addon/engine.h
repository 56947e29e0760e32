// The JS class Engine: one loaded executor (any backend) with its sessions' conversations (executor::Conversations),
// its poller thread and the ThreadSafeFunction that streams responses to JS. Sessions (session.cpp) enqueue turns on
// it.
#pragma once
#include <napi.h>

#include <atomic>
#include <memory>
#include <thread>

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
  executor::Conversations& executor();  // throws Disposed after dispose()
  std::shared_ptr<executor::Conversations> sharedExecutor() const { return executor_; }
  bool disposed() const { return disposing_; }
  // A request was enqueued / its final response reached JS: keeps the event loop alive while any is in flight.
  void requestStarted(Napi::Env env);
  void requestEnded(Napi::Env env);
  // Off the event loop: shut the executor down (in-flight requests end with abort) and stop the poller.
  void shutdownAndJoin();

 private:
  Napi::Value ModelInfo(const Napi::CallbackInfo& info);
  Napi::Value CreateSession(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  void poll();

  std::shared_ptr<executor::Conversations> executor_;
  Napi::ThreadSafeFunction tsfn_;
  std::thread poller_;
  std::atomic<bool> stopPolling_{false};
  std::atomic<bool> disposing_{false};
  int inFlight_ = 0;  // main thread only
  bool referenced_ = false;
};

}  // namespace redrafter::addon

#include "core/executor/engine_requests.h"

#include <utility>

#include "core/error.h"

namespace redrafter::executor {

SessionId EngineRequests::createSession() {
  if (closed_) fail(ErrorCode::Disposed, "the engine is disposed");
  SessionId id = nextSession_++;
  sessions_.insert(id);
  return id;
}

std::vector<EngineRequestId> EngineRequests::releaseSession(SessionId session) {
  std::vector<EngineRequestId> cancel;
  sessions_.erase(session);
  auto busy = busy_.find(session);
  if (busy != busy_.end()) {
    auto it = requests_.find(busy->second);
    if (it != requests_.end() && !it->second.request->done()) {
      it->second.request->markCancelled();
      cancel.push_back(it->second.engineId);
    }
  }
  return cancel;
}

void EngineRequests::checkAdmissible(const Request& request) const {
  if (closed_) fail(ErrorCode::Disposed, "the engine is disposed");
  RD_REQUIRE(sessions_.count(request.session) > 0, "session", "is not open on this engine");
  RD_REQUIRE(busy_.count(request.session) == 0, "session", "already has a request in flight");
}

RequestId EngineRequests::add(Request request, EngineRequestId engineId, Clock::time_point now) {
  checkAdmissible(request);
  const RequestId id = nextRequest_++;
  const SessionId session = request.session;
  requests_.emplace(id, Entry{std::make_unique<StreamedRequest>(id, std::move(request), now), engineId});
  byEngineId_[engineId] = id;
  busy_[session] = id;
  return id;
}

void EngineRequests::forget(std::map<RequestId, Entry>::iterator it) {
  byEngineId_.erase(it->second.engineId);
  busy_.erase(it->second.request->request().session);
  requests_.erase(it);
}

std::vector<Response> EngineRequests::onResults(const std::vector<EngineResult>& results,
                                                std::vector<EngineRequestId>& toCancel, Clock::time_point now) {
  std::vector<Response> out;
  for (const EngineResult& result : results) {
    auto found = byEngineId_.find(result.engineId);
    if (found == byEngineId_.end()) continue;
    auto it = requests_.find(found->second);
    StreamedRequest& request = *it->second.request;
    if (result.hasError) {
      out.push_back(request.onError(ErrorCode::Backend, result.errorMessage, now));
    } else {
      if (auto r = request.onResult(result.tokens.data(), result.tokens.size(), result.decodingIter, result.isFinal,
                                    result.reason, now))
        out.push_back(std::move(*r));
      if (request.needsEngineCancel()) {
        toCancel.push_back(it->second.engineId);
        request.engineCancelled();
      }
    }
    if (request.done()) forget(it);
  }
  return out;
}

std::optional<EngineRequestId> EngineRequests::cancel(RequestId id) {
  auto it = requests_.find(id);
  if (it == requests_.end() || it->second.request->done()) return std::nullopt;
  it->second.request->markCancelled();
  return it->second.engineId;
}

std::vector<EngineRequestId> EngineRequests::close() {
  closed_ = true;
  std::vector<EngineRequestId> ids;
  for (auto& [id, entry] : requests_) {
    entry.request->markCancelled();
    ids.push_back(entry.engineId);
  }
  return ids;
}

std::vector<Response> EngineRequests::abortAll(Clock::time_point now) {
  std::vector<Response> out;
  for (auto& [id, entry] : requests_) out.push_back(entry.request->abort(now));
  requests_.clear();
  byEngineId_.clear();
  busy_.clear();
  return out;
}

std::vector<Response> EngineRequests::failAll(const std::string& message, Clock::time_point now) {
  std::vector<Response> out;
  for (auto& [id, entry] : requests_) out.push_back(entry.request->onError(ErrorCode::Backend, message, now));
  requests_.clear();
  byEngineId_.clear();
  busy_.clear();
  return out;
}

}  // namespace redrafter::executor

#include "plugin_log.h"

#include <atomic>

namespace redrafter::trt {

namespace {
std::atomic<nvinfer1::ILoggerFinder*> gFinder{nullptr};
}

void installLoggerFinder(nvinfer1::ILoggerFinder* finder) noexcept { gFinder.store(finder, std::memory_order_release); }

void logMessage(nvinfer1::ILogger::Severity severity, char const* pluginName, std::string const& message) noexcept {
  nvinfer1::ILoggerFinder* finder = gFinder.load(std::memory_order_acquire);
  if (!finder) return;
  nvinfer1::ILogger* logger = finder->findLogger();
  if (!logger) return;
  try {
    const std::string line = std::string(pluginName ? pluginName : "redrafter") + ": " + message;
    logger->log(severity, line.c_str());
  } catch (...) {
    logger->log(severity, message.c_str());  // out of memory for the prefix: the bare message
  }
}

void logError(char const* pluginName, std::string const& message) noexcept {
  logMessage(nvinfer1::ILogger::Severity::kERROR, pluginName, message);
}

}  // namespace redrafter::trt

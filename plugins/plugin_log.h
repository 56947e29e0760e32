// Where the plugins' messages go: the ILogger of the engine or context that called the plugin, found through the
// ILoggerFinder TensorRT hands the library (setLoggerFinder in plugin_registry.cpp). Every message is prefixed with
// the plugin's name ("RedrafterBeamSearch: ..."). Without a finder, or where findLogger() returns null, nothing is
// logged (never a crash). Safe from any thread; findLogger() is called on the thread that logs, as TensorRT asks.
#pragma once
#include <NvInferRuntime.h>

#include <string>

namespace redrafter::trt {

// Keeps `finder` (null: stop logging). Called by the exported setLoggerFinder().
void installLoggerFinder(nvinfer1::ILoggerFinder* finder) noexcept;

// "<pluginName>: <message>" at `severity`.
void logMessage(nvinfer1::ILogger::Severity severity, char const* pluginName, std::string const& message) noexcept;
void logError(char const* pluginName, std::string const& message) noexcept;

}  // namespace redrafter::trt

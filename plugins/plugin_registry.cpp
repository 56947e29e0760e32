// The plugin library's entry points: TensorRT's plugin loader (IPluginRegistry::loadLibrary, trtexec
// --dynamicPlugins) calls getCreators() for IPluginV3 creators, and setLoggerFinder() first when present: the
// plugins log their errors through it (plugin_log.h).
#include <NvInferRuntime.h>

#include "beam_search_plugin.h"
#include "build_tree_plugin.h"
#include "plugin_log.h"
#include "tree_attention_plugin.h"

using namespace nvinfer1;

extern "C" {

__attribute__((visibility("default"))) void setLoggerFinder(ILoggerFinder* finder) {
  redrafter::trt::installLoggerFinder(finder);
}

__attribute__((visibility("default"))) IPluginCreatorInterface* const* getCreators(int32_t& nbCreators) {
  static redrafter::trt::Creator<redrafter::trt::BeamSearchPlugin> beamSearch;
  static redrafter::trt::Creator<redrafter::trt::BuildTreePlugin> buildTree;
  static redrafter::trt::Creator<redrafter::trt::TreeAttentionPlugin> treeAttention;
  static IPluginCreatorInterface* const creators[] = {&beamSearch, &buildTree, &treeAttention};
  nbCreators = 3;
  return creators;
}

}  // extern "C"

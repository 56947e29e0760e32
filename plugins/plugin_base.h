// Shared plumbing of the redrafter TensorRT plugins (IPluginV3 with the OneCore/OneBuild/OneRuntime
// capabilities, namespace "redrafter", version "1"): names, capabilities, attribute (de)serialisation, and the
// creator template. Each plugin (beam_search_plugin.cpp, build_tree_plugin.cpp, tree_attention_plugin.cpp)
// defines its tensors and calls the same launchers as the GPU check (native/cuda).
#pragma once
#include <NvInferRuntime.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace redrafter::trt {

using namespace nvinfer1;

constexpr char const* kNamespace = "redrafter";
constexpr char const* kVersion = "1";

// Named int32/float attributes, serialised as PluginFields.
class Attributes {
 public:
  struct Entry {
    std::string name;
    PluginFieldType type;
    int32_t i = 0;
    float f = 0.f;
  };
  void addInt(char const* name, int32_t v) { entries_.push_back({name, PluginFieldType::kINT32, v, 0.f}); }
  void addFloat(char const* name, float v) { entries_.push_back({name, PluginFieldType::kFLOAT32, 0, v}); }
  int32_t getInt(char const* name) const {
    for (auto& e : entries_)
      if (e.name == name) return e.i;
    return 0;
  }
  float getFloat(char const* name) const {
    for (auto& e : entries_)
      if (e.name == name) return e.f;
    return 0.f;
  }
  // Overwrites the known attributes from a field collection (unknown names and bad types are ignored).
  bool read(PluginFieldCollection const* fc) {
    if (!fc) return true;
    for (int32_t k = 0; k < fc->nbFields; ++k) {
      PluginField const& f = fc->fields[k];
      if (!f.name || !f.data || f.length < 1) continue;
      for (auto& e : entries_) {
        if (e.name != f.name) continue;
        if (e.type == PluginFieldType::kINT32 && f.type == PluginFieldType::kINT32)
          e.i = *static_cast<int32_t const*>(f.data);
        else if (e.type == PluginFieldType::kFLOAT32 && f.type == PluginFieldType::kFLOAT32)
          e.f = *static_cast<float const*>(f.data);
        else
          return false;
      }
    }
    return true;
  }
  PluginFieldCollection const* collection() {
    fields_.clear();
    for (auto& e : entries_)
      fields_.emplace_back(e.name.c_str(), e.type == PluginFieldType::kINT32 ? static_cast<void const*>(&e.i)
                                                                             : static_cast<void const*>(&e.f),
                           e.type, 1);
    fc_.nbFields = static_cast<int32_t>(fields_.size());
    fc_.fields = fields_.data();
    return &fc_;
  }

 private:
  std::vector<Entry> entries_;
  std::vector<PluginField> fields_;
  PluginFieldCollection fc_{};
};

// The parts every plugin shares. Derived: a name, tensors, enqueue.
class PluginBase : public IPluginV3, public IPluginV3OneCore, public IPluginV3OneBuild, public IPluginV3OneRuntime {
 public:
  IPluginCapability* getCapabilityInterface(PluginCapabilityType type) noexcept override {
    switch (type) {
      case PluginCapabilityType::kCORE: return static_cast<IPluginV3OneCore*>(this);
      case PluginCapabilityType::kBUILD: return static_cast<IPluginV3OneBuild*>(this);
      case PluginCapabilityType::kRUNTIME: return static_cast<IPluginV3OneRuntime*>(this);
    }
    return nullptr;
  }
  AsciiChar const* getPluginVersion() const noexcept override { return kVersion; }
  AsciiChar const* getPluginNamespace() const noexcept override { return kNamespace; }
  int32_t configurePlugin(DynamicPluginTensorDesc const*, int32_t, DynamicPluginTensorDesc const*,
                          int32_t) noexcept override {
    return 0;
  }
  int32_t onShapeChange(PluginTensorDesc const*, int32_t, PluginTensorDesc const*, int32_t) noexcept override {
    return 0;
  }
  IPluginV3* attachToContext(IPluginResourceContext*) noexcept override { return clone(); }
  PluginFieldCollection const* getFieldsToSerialize() noexcept override { return attrs_.collection(); }

 protected:
  Attributes attrs_;
};

// One creator per plugin type: its attribute names (with defaults) come from a default-constructed plugin.
template <typename Plugin>
class Creator : public IPluginCreatorV3One {
 public:
  Creator() : prototype_(new Plugin()) {}
  IPluginV3* createPlugin(AsciiChar const*, PluginFieldCollection const* fc, TensorRTPhase) noexcept override {
    try {
      std::unique_ptr<Plugin> p(new Plugin());
      if (!p->readAttributes(fc)) return nullptr;
      return p.release();
    } catch (...) {
      return nullptr;
    }
  }
  PluginFieldCollection const* getFieldNames() noexcept override { return prototype_->getFieldsToSerialize(); }
  AsciiChar const* getPluginName() const noexcept override { return prototype_->getPluginName(); }
  AsciiChar const* getPluginVersion() const noexcept override { return kVersion; }
  AsciiChar const* getPluginNamespace() const noexcept override { return kNamespace; }

 private:
  std::unique_ptr<Plugin> prototype_;
};

inline bool isLinear(PluginTensorDesc const& d) { return d.format == TensorFormat::kLINEAR; }

}  // namespace redrafter::trt

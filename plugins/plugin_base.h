// Shared plumbing of the redrafter TensorRT plugins (IPluginV3 with the OneCore/OneBuild/OneRuntime
// capabilities, namespace "redrafter", version "1"): names, capabilities, attributes (validated, serialised), the
// input checks every plugin runs (count, ranks, dimension ranges, then its own shape rules), error messages through
// the engine's logger (plugin_log.h), and the creator template. Each plugin (beam_search_plugin.cpp,
// build_tree_plugin.cpp, tree_attention_plugin.cpp) defines its tensors and calls the same launchers as the GPU
// check (native/cuda).
#pragma once
#include <NvInferRuntime.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "plugin_log.h"

namespace redrafter::trt {

using namespace nvinfer1;

constexpr char const* kNamespace = "redrafter";
constexpr char const* kVersion = "1";
constexpr int32_t kMaxInputs = 8;

// "kINT32", "kFLOAT32", ... for messages.
std::string fieldTypeName(PluginFieldType type);
// "[8, 8, 32000]"
std::string dimsString(Dims const& d);

// Named int32 (with an inclusive range) and float32 (finite, with a lower bound) attributes, one value each,
// serialised as PluginFields.
class Attributes {
 public:
  struct Entry {
    std::string name;
    PluginFieldType type;
    int32_t i = 0;
    float f = 0.f;
    int32_t minInt = 0, maxInt = 0;  // kINT32
    float minFloat = 0.f;            // kFLOAT32
    char const* note = "";           // appended to a range error, e.g. "(kBeamSearchMaxTopK)"
  };
  void addInt(char const* name, int32_t value, int32_t min, int32_t max, char const* note = "");
  void addFloat(char const* name, float value, float min, char const* note = "");
  int32_t getInt(char const* name) const;
  float getFloat(char const* name) const;
  // Overwrites attributes from a field collection. "" when every field is known, of the right type and length,
  // in range and given once; else the first problem, naming the field (and its value).
  std::string read(PluginFieldCollection const* fc);
  // "topK (int32), firstStep (int32)", or "none"
  std::string describe() const;
  PluginFieldCollection const* collection();

 private:
  std::vector<Entry> entries_;
  std::vector<PluginField> fields_;
  PluginFieldCollection fc_{};
};

// One input tensor: its name, rank and shape (for messages).
struct TensorSpec {
  char const* name;
  int32_t rank;
  char const* shape;
};

// Where a launcher parameter comes from, to follow its message: {"width", "logits dimension 1"}.
struct FieldOrigin {
  char const* field;  // after "<Params>.", e.g. "width", "cache.headDim", "width * length"
  char const* origin;
};
// `message` (a launcher's "<Params>.<field> (<value>) ...") with " [<field> is <origin>]" appended where the field
// has an origin here.
std::string withOrigin(std::string message, std::vector<FieldOrigin> const& origins);

// The parts every plugin shares. Derived: a name, tensors, shape rules, enqueue.
class PluginBase : public IPluginV3, public IPluginV3OneCore, public IPluginV3OneBuild, public IPluginV3OneRuntime {
 public:
  IPluginCapability* getCapabilityInterface(PluginCapabilityType type) noexcept override;
  AsciiChar const* getPluginVersion() const noexcept override { return kVersion; }
  AsciiChar const* getPluginNamespace() const noexcept override { return kNamespace; }
  // Build time: the input and output counts, ranks and the profile's min and max shapes (shapeError, boundError).
  int32_t configurePlugin(DynamicPluginTensorDesc const* in, int32_t nbInputs, DynamicPluginTensorDesc const* out,
                          int32_t nbOutputs) noexcept override;
  // Build (opt shapes) and run time (before the next enqueue after a shape or binding change): the shapes, then
  // prepare() (beam search resolves its kernel here, not in enqueue).
  int32_t onShapeChange(PluginTensorDesc const* in, int32_t nbInputs, PluginTensorDesc const* out,
                        int32_t nbOutputs) noexcept override;
  IPluginV3* attachToContext(IPluginResourceContext*) noexcept override { return clone(); }
  PluginFieldCollection const* getFieldsToSerialize() noexcept override { return attrs_.collection(); }

  // createPlugin's steps: the layer name for messages, then the attributes ("" or why not).
  void setLayerName(char const* name) { layer_ = name ? name : ""; }
  std::string readAttributes(PluginFieldCollection const* fc) { return attrs_.read(fc); }
  // "<plugin name>: [layer "<name>": ]<message>" through the engine's logger.
  void logError(std::string const& message) const noexcept;

  // The plugin's inputs, in order (static tables: enqueue's checks allocate nothing on success).
  virtual std::vector<TensorSpec> const& inputSpecs() const = 0;

 protected:
  // The plugin's own rules for input dims whose count, ranks and ranges are already checked: agreement between
  // tensors, then its launcher's *ShapeError (withOrigin). "" = fine.
  virtual std::string shapeError(Dims const* in, DataType const* types) const = 0;
  // Build time, per profile bound that passed shapeError: what the device must also serve. "" = fine.
  virtual std::string boundError(Dims const* in) const { return {}; }
  // onShapeChange, after the shapes passed: per-shape preparation. "" = fine.
  virtual std::string prepare(Dims const* in) { return {}; }

  // Input count and ranks ("" = fine).
  std::string ranksError(int32_t nbInputs, int32_t const* ranks) const;
  // ranksError, every dimension in 0..INT32_MAX, then shapeError.
  std::string inputsError(Dims const* in, int32_t nbInputs, DataType const* types) const;
  // ranksError for getOutputShapes, plus the output count; logged under `where`. True when fine.
  bool checkExprs(char const* where, DimsExprs const* in, int32_t nbInputs, int32_t nbOutputs) const noexcept;
  // For the catch blocks of noexcept methods: logs "<where>: internal error: <what>".
  void logException(char const* where) const noexcept;
  // clone() of a derived plugin: a copy, or nullptr (logged) when copying throws.
  template <typename Plugin>
  IPluginV3* cloneAs() const noexcept {
    try {
      return new Plugin(static_cast<Plugin const&>(*this));
    } catch (...) {
      logException("clone");
      return nullptr;
    }
  }
  // enqueue's last step: 0 when the launcher succeeded, else -1 with its message (lastLaunchError()) logged.
  int32_t launched(cudaError_t err) const noexcept;

  Attributes attrs_;
  std::string layer_;
};

inline bool isLinear(PluginTensorDesc const& d) { return d.format == TensorFormat::kLINEAR; }

char const* phaseName(TensorRTPhase phase);

// One creator per plugin type: its attribute names (with defaults) come from a default-constructed plugin.
// createPlugin (for a network and when an engine is deserialised) refuses unknown, mistyped and out-of-range
// attributes with a message naming them: it returns nullptr.
template <typename Plugin>
class Creator : public IPluginCreatorV3One {
 public:
  Creator() : prototype_(new Plugin()) {}
  IPluginV3* createPlugin(AsciiChar const* name, PluginFieldCollection const* fc, TensorRTPhase phase) noexcept override {
    try {
      std::unique_ptr<Plugin> p(new Plugin());
      p->setLayerName(name);
      if (std::string why = p->readAttributes(fc); !why.empty()) {
        p->logError(std::string("createPlugin (") + phaseName(phase) + "): " + why);
        return nullptr;
      }
      return p.release();
    } catch (std::exception const& e) {
      redrafter::trt::logError(getPluginName(), std::string("createPlugin: internal error: ") + e.what());
    } catch (...) {
      redrafter::trt::logError(getPluginName(), "createPlugin: internal error");
    }
    return nullptr;
  }
  PluginFieldCollection const* getFieldNames() noexcept override { return prototype_->getFieldsToSerialize(); }
  AsciiChar const* getPluginName() const noexcept override { return prototype_->getPluginName(); }
  AsciiChar const* getPluginVersion() const noexcept override { return kVersion; }
  AsciiChar const* getPluginNamespace() const noexcept override { return kNamespace; }

 private:
  std::unique_ptr<Plugin> prototype_;
};

}  // namespace redrafter::trt

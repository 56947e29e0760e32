#include "plugin_base.h"

#include <climits>
#include <cmath>
#include <cstdio>

#include "cuda/launch_error.h"

namespace redrafter::trt {

std::string fieldTypeName(PluginFieldType type) {
  static char const* const kNames[] = {"kFLOAT16", "kFLOAT32", "kFLOAT64", "kINT8",  "kINT16", "kINT32", "kCHAR",
                                       "kDIMS",    "kUNKNOWN", "kBF16",    "kINT64", "kFP8",   "kINT4",  "kFP4"};
  const int t = static_cast<int>(type);
  if (t >= 0 && t < static_cast<int>(sizeof(kNames) / sizeof(kNames[0]))) return kNames[t];
  return "PluginFieldType(" + std::to_string(t) + ")";
}

std::string dimsString(Dims const& d) {
  std::string s = "[";
  for (int32_t i = 0; i < d.nbDims && i < Dims::MAX_DIMS; ++i) s += (i ? ", " : "") + std::to_string(d.d[i]);
  return s + "]";
}

namespace {

std::string floatString(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", static_cast<double>(v));
  return buf;
}

}  // namespace

// ---- Attributes

void Attributes::addInt(char const* name, int32_t value, int32_t min, int32_t max, char const* note) {
  Entry e{name, PluginFieldType::kINT32};
  e.i = value, e.minInt = min, e.maxInt = max, e.note = note;
  entries_.push_back(e);
}

void Attributes::addFloat(char const* name, float value, float min, char const* note) {
  Entry e{name, PluginFieldType::kFLOAT32};
  e.f = value, e.minFloat = min, e.note = note;
  entries_.push_back(e);
}

int32_t Attributes::getInt(char const* name) const {
  for (auto& e : entries_)
    if (e.name == name) return e.i;
  return 0;
}

float Attributes::getFloat(char const* name) const {
  for (auto& e : entries_)
    if (e.name == name) return e.f;
  return 0.f;
}

std::string Attributes::describe() const {
  if (entries_.empty()) return "none";
  std::string s;
  for (auto& e : entries_) s += (s.empty() ? "" : ", ") + e.name + (e.type == PluginFieldType::kINT32 ? " (int32)" : " (float32)");
  return s;
}

std::string Attributes::read(PluginFieldCollection const* fc) {
  if (!fc) return {};
  if (fc->nbFields < 0) return "PluginFieldCollection.nbFields (" + std::to_string(fc->nbFields) + ") is negative";
  if (fc->nbFields > 0 && !fc->fields)
    return "PluginFieldCollection.fields is null with nbFields " + std::to_string(fc->nbFields);
  std::vector<bool> seen(entries_.size(), false);
  for (int32_t k = 0; k < fc->nbFields; ++k) {
    PluginField const& f = fc->fields[k];
    if (!f.name) return "field " + std::to_string(k) + " has no name";
    size_t j = 0;
    while (j < entries_.size() && entries_[j].name != f.name) ++j;
    if (j == entries_.size())
      return std::string("unknown attribute \"") + f.name + "\" (this plugin's attributes: " + describe() + ")";
    Entry& e = entries_[j];
    if (seen[j]) return "attribute " + e.name + " is given twice";
    seen[j] = true;
    if (f.type != e.type)
      return "attribute " + e.name + " has type " + fieldTypeName(f.type) + "; it must be " + fieldTypeName(e.type);
    if (f.length != 1)
      return "attribute " + e.name + " has length " + std::to_string(f.length) + "; it must hold exactly one value";
    if (!f.data) return "attribute " + e.name + " has no data (null)";
    if (e.type == PluginFieldType::kINT32) {
      const int32_t v = *static_cast<int32_t const*>(f.data);
      if (v < e.minInt || v > e.maxInt)
        return "attribute " + e.name + " (" + std::to_string(v) + ") must be " +
               (e.maxInt == e.minInt + 1 ? std::to_string(e.minInt) + " or " + std::to_string(e.maxInt)
                                          : "between " + std::to_string(e.minInt) + " and " + std::to_string(e.maxInt)) +
               (*e.note ? std::string(" ") + e.note : "");
      e.i = v;
    } else {
      const float v = *static_cast<float const*>(f.data);
      if (!std::isfinite(v) || v < e.minFloat)
        return "attribute " + e.name + " (" + floatString(v) + ") must be finite and at least " + floatString(e.minFloat) +
               (*e.note ? std::string(" ") + e.note : "");
      e.f = v;
    }
  }
  return {};
}

PluginFieldCollection const* Attributes::collection() {
  fields_.clear();
  for (auto& e : entries_)
    fields_.emplace_back(e.name.c_str(), e.type == PluginFieldType::kINT32 ? static_cast<void const*>(&e.i)
                                                                           : static_cast<void const*>(&e.f),
                         e.type, 1);
  fc_.nbFields = static_cast<int32_t>(fields_.size());
  fc_.fields = fields_.data();
  return &fc_;
}

// ---- messages

std::string withOrigin(std::string message, std::vector<FieldOrigin> const& origins) {
  const size_t open = message.find(" (");
  const size_t dot = message.find('.');
  if (open == std::string::npos || dot == std::string::npos || dot > open) return message;
  const std::string field = message.substr(dot + 1, open - dot - 1);
  for (auto& o : origins)
    if (field == o.field) return message + " [" + field + " is " + o.origin + "]";
  return message;
}

char const* phaseName(TensorRTPhase phase) {
  return phase == TensorRTPhase::kBUILD ? "build phase" : "runtime phase, deserializing an engine";
}

void PluginBase::logError(std::string const& message) const noexcept {
  try {
    redrafter::trt::logError(getPluginName(), layer_.empty() ? message : "layer \"" + layer_ + "\": " + message);
  } catch (...) {
    redrafter::trt::logError(getPluginName(), message);
  }
}

void PluginBase::logException(char const* where) const noexcept {
  try {
    throw;
  } catch (std::exception const& e) {
    logError(std::string(where) + ": internal error: " + e.what());
  } catch (...) {
    logError(std::string(where) + ": internal error");
  }
}

int32_t PluginBase::launched(cudaError_t err) const noexcept {
  if (err == cudaSuccess) return 0;
  try {
    logError(std::string("enqueue: ") + cuda::lastLaunchError());
  } catch (...) {
  }
  return -1;
}

// ---- shared checks

IPluginCapability* PluginBase::getCapabilityInterface(PluginCapabilityType type) noexcept {
  switch (type) {
    case PluginCapabilityType::kCORE: return static_cast<IPluginV3OneCore*>(this);
    case PluginCapabilityType::kBUILD: return static_cast<IPluginV3OneBuild*>(this);
    case PluginCapabilityType::kRUNTIME: return static_cast<IPluginV3OneRuntime*>(this);
  }
  return nullptr;
}

std::string PluginBase::ranksError(int32_t nbInputs, int32_t const* ranks) const {
  std::vector<TensorSpec> const& specs = inputSpecs();
  if (nbInputs != static_cast<int32_t>(specs.size())) {
    std::string names;
    for (auto& s : specs) names += (names.empty() ? "" : ", ") + std::string(s.name);
    return "expects " + std::to_string(specs.size()) + " inputs (" + names + "), got " + std::to_string(nbInputs) +
           (attrs_.getInt("paged") ? " (paged = 1 adds blockTable)" : "");
  }
  for (int32_t i = 0; i < nbInputs; ++i)
    if (ranks[i] != specs[i].rank)
      return "input " + std::to_string(i) + " (" + specs[i].name + ") must have rank " + std::to_string(specs[i].rank) +
             " " + specs[i].shape + ", got rank " + std::to_string(ranks[i]);
  return {};
}

std::string PluginBase::inputsError(Dims const* in, int32_t nbInputs, DataType const* types) const {
  if (nbInputs < 0 || nbInputs > kMaxInputs) return "expects " + std::to_string(inputSpecs().size()) + " inputs, got " + std::to_string(nbInputs);
  int32_t ranks[kMaxInputs];
  for (int32_t i = 0; i < nbInputs; ++i) ranks[i] = in[i].nbDims;
  if (std::string why = ranksError(nbInputs, ranks); !why.empty()) return why;
  std::vector<TensorSpec> const& specs = inputSpecs();
  for (int32_t i = 0; i < nbInputs; ++i)
    for (int32_t j = 0; j < in[i].nbDims; ++j)
      if (in[i].d[j] < 0 || in[i].d[j] > INT32_MAX)
        return "input " + std::to_string(i) + " (" + specs[i].name + ") dimension " + std::to_string(j) + " (" +
               std::to_string(in[i].d[j]) + ") must be in 0.." + std::to_string(INT32_MAX);
  return shapeError(in, types);
}

bool PluginBase::checkExprs(char const* where, DimsExprs const* in, int32_t nbInputs, int32_t nbOutputs) const noexcept {
  try {
    std::string why;
    if (nbOutputs != getNbOutputs()) {
      why = "expects " + std::to_string(getNbOutputs()) + " outputs, got " + std::to_string(nbOutputs);
    } else if (nbInputs < 0 || nbInputs > kMaxInputs) {
      why = "expects " + std::to_string(inputSpecs().size()) + " inputs, got " + std::to_string(nbInputs);
    } else {
      int32_t ranks[kMaxInputs];
      for (int32_t i = 0; i < nbInputs; ++i) ranks[i] = in[i].nbDims;
      why = ranksError(nbInputs, ranks);
    }
    if (why.empty()) return true;
    logError(std::string(where) + ": " + why);
  } catch (...) {
    logException(where);
  }
  return false;
}

int32_t PluginBase::configurePlugin(DynamicPluginTensorDesc const* in, int32_t nbInputs,
                                    DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept {
  try {
    if (nbOutputs != getNbOutputs()) {
      logError("configurePlugin: expects " + std::to_string(getNbOutputs()) + " outputs, got " + std::to_string(nbOutputs));
      return -1;
    }
    if (nbInputs < 0 || nbInputs > kMaxInputs) {
      logError("configurePlugin: expects " + std::to_string(inputSpecs().size()) + " inputs, got " + std::to_string(nbInputs));
      return -1;
    }
    Dims bound[kMaxInputs];
    DataType types[kMaxInputs];
    for (int32_t i = 0; i < nbInputs; ++i) types[i] = in[i].desc.type;
    for (int pass = 0; pass < 2; ++pass) {
      for (int32_t i = 0; i < nbInputs; ++i) bound[i] = pass == 0 ? in[i].min : in[i].max;
      std::string why = inputsError(bound, nbInputs, types);
      if (why.empty()) why = boundError(bound);
      if (why.empty()) continue;
      std::string shapes;
      std::vector<TensorSpec> const& specs = inputSpecs();
      for (int32_t i = 0; i < nbInputs && i < static_cast<int32_t>(specs.size()); ++i)
        shapes += (i ? ", " : "") + std::string(specs[i].name) + " " + dimsString(bound[i]);
      logError(std::string("configurePlugin: the profile's ") + (pass == 0 ? "min" : "max") + " shapes (" + shapes +
               "): " + why);
      return -1;
    }
    return 0;
  } catch (...) {
    logException("configurePlugin");
    return -1;
  }
}

int32_t PluginBase::onShapeChange(PluginTensorDesc const* in, int32_t nbInputs, PluginTensorDesc const* out,
                                  int32_t nbOutputs) noexcept {
  try {
    if (nbInputs < 0 || nbInputs > kMaxInputs) {
      logError("onShapeChange: expects " + std::to_string(inputSpecs().size()) + " inputs, got " + std::to_string(nbInputs));
      return -1;
    }
    Dims dims[kMaxInputs];
    DataType types[kMaxInputs];
    for (int32_t i = 0; i < nbInputs; ++i) dims[i] = in[i].dims, types[i] = in[i].type;
    std::string why = inputsError(dims, nbInputs, types);
    if (why.empty()) why = prepare(dims);
    if (why.empty()) return 0;
    logError("onShapeChange: " + why);
  } catch (...) {
    logException("onShapeChange");
  }
  return -1;
}

}  // namespace redrafter::trt

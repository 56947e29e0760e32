// Packing a loaded model's layer matrices into 16- or 8-row panels (cpu/engine/weight_packing.h): which tensors are packed, that
// every row reads back the same values, that the mapped pages are released, and that int8 models are left alone.
#include <doctest/doctest.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "cpu/kernels/isa.h"
#include "cpu/kernels/matmul.h"
#include "cpu/kernels/packed_matmul.h"
#include "model/dequantize.h"
#include "model/loaders.h"
#include "model/mapped_file.h"
#include "cpu/engine/weight_packing.h"
#include "model/weights.h"
#include "fixtures.h"

using namespace redrafter;
using namespace redrafter::cpu;
using namespace redrafter::model;

namespace {

std::vector<const TensorView*> layerMatrices(const ModelWeights& w) {
  std::vector<const TensorView*> list;
  for (const LayerWeights& L : w.layers)
    for (const TensorView* t : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w1, &L.w2, &L.w3}) list.push_back(t);
  return list;
}

std::vector<float> rowOf(const TensorView& t, int64_t r) {
  std::vector<float> row(static_cast<size_t>(t.cols));
  model::dequantizeRow(t, r, row.data());
  return row;
}

}  // namespace

TEST_CASE("loadPackedModelWeights packs every F32 layer matrix for its ISA's kernels; rows, embedding and classifier read the same") {
  for (const std::string isa : {"portable", "avx2", "avx512"}) {
  CAPTURE(isa);
  // the layout follows the ISA asked for (an ISA the CPU lacks falls back, selectIsa); every layout reads the same
  const Layout expected = kernels::packedLayoutFor(kernels::selectIsa(isa));
  CHECK((expected == Layout::Panels8) == (kernels::selectIsa(isa) == kernels::Isa::Avx2));
  auto plain = loadModelWeights(test::fixture("stories260K.bin"));
  auto packed = loadPackedModelWeights(test::fixture("stories260K.bin"), 2, isa);
  auto a = layerMatrices(*plain), b = layerMatrices(*packed);
  REQUIRE(a.size() == b.size());
  REQUIRE(a.size() == 7u * plain->layers.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    CHECK(a[i]->layout == Layout::RowMajor);
    CHECK(b[i]->layout == expected);
    CHECK(b[i]->type == a[i]->type);
    CHECK(b[i]->rows == a[i]->rows);
    CHECK(b[i]->cols == a[i]->cols);
    int64_t differing = 0;
    for (int64_t r = 0; r < a[i]->rows; ++r) differing += rowOf(*a[i], r) != rowOf(*b[i], r);
    CHECK(differing == 0);
  }
  // the tied embedding / classifier stays row-major and readable by row
  CHECK(packed->tokenEmbedding.layout == Layout::RowMajor);
  CHECK(packed->output.layout == Layout::RowMajor);
  std::vector<float> e1(64), e2(64), c1(64), c2(64);
  for (int32_t token : {0, 1, 300, 511}) {
    embeddingRow(*plain, token, e1.data());
    embeddingRow(*packed, token, e2.data());
    classifierRow(*plain, token, c1.data());
    classifierRow(*packed, token, c2.data());
    CHECK(e1 == e2);
    CHECK(c1 == c2);
  }
  }
}

TEST_CASE("packLayerMatrices releases the mapped pages of what it packed and leaves int8 models alone") {
  auto file = MappedFile::open(test::fixture("stories260K.bin"));
  auto w = loadLlama2c(file);
  int64_t bytes = 0;
  for (const TensorView* t : layerMatrices(*w)) bytes += t->elements() * 4;
  PackingStats stats = packLayerMatrices(*w, 2, file->data(), file->data() + file->size());
  CHECK(stats.tensors == 7 * static_cast<int64_t>(w->layers.size()));
  CHECK(stats.packedBytes >= bytes);
  CHECK(stats.releasedBytes > 0);  // whole pages inside the tensors (the rest straddle a neighbour)
  CHECK(stats.releasedBytes <= bytes);
  // tensors outside the given range (converted copies) are packed but nothing is released for them
  auto again = loadLlama2c(MappedFile::open(test::fixture("stories260K.bin")));
  PackingStats none = packLayerMatrices(*again, 1, nullptr, nullptr);
  CHECK(none.tensors == stats.tensors);
  CHECK(none.releasedBytes == 0);

  auto q8file = MappedFile::open(test::fixture("stories260K_q80.bin"));
  auto q8 = loadLlama2c(q8file);
  PackingStats q = packLayerMatrices(*q8, 2, q8file->data(), q8file->data() + q8file->size());
  CHECK(q.tensors == 0);
  for (const TensorView* t : layerMatrices(*q8)) CHECK(t->layout == Layout::RowMajor);
}

#ifndef _WIN32  // huge pages are asked for on POSIX systems only
TEST_CASE("packed copies of 2 MiB and more sit on 2 MiB boundaries (for transparent huge pages), unless turned off") {
  // one layer whose w1 is 1024 x 640 f32 (2.5 MiB) and whose w2 is 64 x 64 (16 KiB); the rest empty (not packed)
  std::vector<float> big(1024 * 640), small(64 * 64);
  for (size_t i = 0; i < big.size(); ++i) big[i] = float(i % 97) * 0.25f;
  for (size_t i = 0; i < small.size(); ++i) small[i] = float(i % 13);
  auto pack = [&](const char* env) {
    if (env) setenv("REDRAFTER_HUGE_PAGES", env, 1);
    else unsetenv("REDRAFTER_HUGE_PAGES");
    auto w = std::make_shared<ModelWeights>();
    w->layers.resize(1);
    w->layers[0].w1 = TensorView{DType::F32, 1024, 640, big.data()};
    w->layers[0].w2 = TensorView{DType::F32, 64, 64, small.data()};
    CHECK(packLayerMatrices(*w, 2, nullptr, nullptr, Layout::Panels8).tensors == 2);
    unsetenv("REDRAFTER_HUGE_PAGES");
    // the values read back the same
    std::vector<float> row(640);
    model::dequantizeRow(w->layers[0].w1, 1000, row.data());
    CHECK(row[5] == big[1000 * 640 + 5]);
    return w;
  };
  auto on = pack(nullptr);
  CHECK(reinterpret_cast<uintptr_t>(on->layers[0].w1.data) % (uintptr_t(2) << 20) == 0);
  CHECK(reinterpret_cast<uintptr_t>(on->layers[0].w2.data) % 64 == 0);
  auto off = pack("0");  // packs (and reads back) the same with huge pages turned off
  CHECK(reinterpret_cast<uintptr_t>(off->layers[0].w1.data) % 64 == 0);
}
#endif

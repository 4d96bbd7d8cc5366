// Dequantisation of every llama.cpp block type against the gguf Python package's reference
// dequantisers, bit for bit (tests/fixtures/quants/, written by scripts/fixtures/make_quant_fixtures.py).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/matmul.h"
#include "kernels/quant_ext.h"
#include "util/json_file.h"

namespace exaone {
namespace {

const std::string kDir = std::string(EXAONE_FIXTURES) + "/quants/";

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Golden {
  DType type;
  int64_t n;
  std::vector<uint8_t> blocks;
  std::vector<float> floats;
};

DType type_named(const std::string& name) {
  for (DType t : {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q2_K, DType::Q3_K,
                  DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::IQ4_NL, DType::IQ4_XS})
    if (name == dtype_name(t)) return t;
  ADD_FAILURE() << "unknown type " << name;
  return DType::F32;
}

std::vector<Golden> goldens() {
  const json m = read_json_file(kDir + "manifest.json");
  std::vector<Golden> out;
  for (const auto& [name, info] : m.at("types").items()) {
    Golden g;
    g.type = type_named(name);
    g.n = info.at("elements").get<int64_t>();
    g.blocks = read_bytes(kDir + name + ".blocks");
    const auto f = read_bytes(kDir + name + ".f32");
    g.floats.resize(f.size() / 4);
    std::memcpy(g.floats.data(), f.data(), f.size());
    EXPECT_EQ(g.blocks.size(), dtype_bytes_for(g.type, g.n)) << name;
    EXPECT_EQ(static_cast<int64_t>(g.floats.size()), g.n) << name;
    out.push_back(std::move(g));
  }
  return out;
}

// Index of the first element whose bits differ, or -1.
int64_t first_mismatch(const std::vector<float>& a, const std::vector<float>& b) {
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], 4) != 0) return static_cast<int64_t>(i);
  return -1;
}

struct ScalarGuard {
  explicit ScalarGuard(bool on) : before(force_scalar_kernels()) { set_force_scalar_kernels(on); }
  ~ScalarGuard() { set_force_scalar_kernels(before); }
  bool before;
};

TEST(QuantGolden, EveryTypeBitExactAgainstGgufPackage) {
  const auto gs = goldens();
  ASSERT_EQ(gs.size(), 12u);
  ScalarGuard scalar(true);
  for (const auto& g : gs) {
    std::vector<float> y(g.n);
    dequantize_row_any(g.type, g.blocks.data(), y.data(), g.n);
    const int64_t i = first_mismatch(y, g.floats);
    EXPECT_EQ(i, -1) << dtype_name(g.type) << " element " << i << ": " << y[std::max<int64_t>(i, 0)] << " vs "
                     << g.floats[std::max<int64_t>(i, 0)];
  }
}

// What the model uses: dequantize_row on a matrix (rows of two blocks), on the CPU's own path. Every
// type is exact there too, except Q4_K on AVX2, whose panels take one FMA per value (within an ulp).
TEST(QuantGolden, MatrixRowsOnTheDefaultPath) {
  for (const auto& g : goldens()) {
    const int64_t cols = 2 * dtype_block_elems(g.type), rows = g.n / cols;
    const MatrixRef m{g.type, g.blocks.data(), rows, cols};
    std::vector<float> y(g.n);
    for (int64_t r = 0; r < rows; ++r) dequantize_row(m, r, y.data() + r * cols);
    if (g.type == DType::Q4_K && !force_scalar_kernels()) {
      for (int64_t i = 0; i < g.n; ++i)
        ASSERT_NEAR(y[i], g.floats[i], 1e-5f + 1e-6f * std::fabs(g.floats[i])) << "Q4_K element " << i;
      continue;
    }
    const int64_t i = first_mismatch(y, g.floats);
    EXPECT_EQ(i, -1) << dtype_name(g.type) << " element " << i;
  }
}

}  // namespace
}  // namespace exaone

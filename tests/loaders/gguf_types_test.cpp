// Every storage type under its ggml type id (ggml.h's enum ggml_type) with llama.cpp's block sizes
// (ggml-common.h), and tensors of each type written and read back with their byte counts.
#include <gtest/gtest.h>

#include <vector>

#include "loaders/gguf.h"
#include "util/dtype.h"

namespace exaone {
namespace {

struct TypeRow {
  DType type;
  uint32_t ggml_id;
  int64_t block_elems, block_bytes;
};

// From llama.cpp: GGML_TYPE_* ids and sizeof(block_*) / QK* of each type.
const std::vector<TypeRow> kTypes = {
    {DType::F32, 0, 1, 4},      {DType::F16, 1, 1, 2},        {DType::Q4_0, 2, 32, 18},    {DType::Q4_1, 3, 32, 20},
    {DType::Q5_0, 6, 32, 22},   {DType::Q5_1, 7, 32, 24},     {DType::Q8_0, 8, 32, 34},    {DType::Q2_K, 10, 256, 84},
    {DType::Q3_K, 11, 256, 110}, {DType::Q4_K, 12, 256, 144}, {DType::Q5_K, 13, 256, 176}, {DType::Q6_K, 14, 256, 210},
    {DType::IQ4_NL, 20, 32, 18}, {DType::IQ4_XS, 23, 256, 136}, {DType::BF16, 30, 1, 2},
};

TEST(GgufTypes, IdsAndBlockSizesAsLlamaCpp) {
  for (const auto& r : kTypes) {
    SCOPED_TRACE(dtype_name(r.type));
    EXPECT_EQ(ggml_type_of(r.type), r.ggml_id);
    ASSERT_TRUE(dtype_of_ggml(r.ggml_id).has_value());
    EXPECT_EQ(*dtype_of_ggml(r.ggml_id), r.type);
    EXPECT_EQ(dtype_block_elems(r.type), r.block_elems);
    EXPECT_EQ(dtype_block_bytes(r.type), r.block_bytes);
  }
  for (uint32_t unknown : {4u, 5u, 9u, 15u, 16u, 17u, 18u, 19u, 21u, 22u, 29u, 31u, 99u})
    EXPECT_FALSE(dtype_of_ggml(unknown).has_value()) << unknown;
}

TEST(GgufTypes, EveryTypeRoundTrips) {
  GgufWriter w;
  w.set("general.architecture", GgufType::STRING, "exaone4");
  for (const auto& r : kTypes) {
    const std::vector<int64_t> shape{3, 512};
    std::vector<uint8_t> bytes(dtype_bytes_for(r.type, 3 * 512));
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 7 + r.ggml_id);
    w.add_tensor(std::string("t.") + dtype_name(r.type), r.type, shape, bytes);
  }
  const std::vector<uint8_t> file = w.serialize();
  const GgufFile f = parse_gguf(file.data(), file.size(), "mem.gguf");
  ASSERT_EQ(f.tensors.size(), kTypes.size());
  for (size_t i = 0; i < kTypes.size(); ++i) {
    const auto& t = f.tensors[i];
    SCOPED_TRACE(t.name);
    EXPECT_EQ(t.ggml_type, kTypes[i].ggml_id);
    EXPECT_EQ(t.view.dtype, kTypes[i].type);
    EXPECT_EQ(t.view.shape, (std::vector<int64_t>{3, 512}));
    EXPECT_EQ(t.view.nbytes, 3u * 512 / kTypes[i].block_elems * kTypes[i].block_bytes);
    const auto* p = static_cast<const uint8_t*>(t.view.data);
    EXPECT_EQ(p[5], static_cast<uint8_t>(5 * 7 + kTypes[i].ggml_id));
  }
}

}  // namespace
}  // namespace exaone

// KV cache storage types: decoding with an F16 / BF16 / Q8_0 cache stays close to the float32
// cache, and the memory shrinks by the type's size.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "golden.h"
#include "models/model.h"
#include "util/error.h"
#include "util/paths.h"

namespace exaone {
namespace {

std::vector<float> decode_one_by_one(Model& m, const std::vector<int32_t>& ids, DType kv) {
  auto cache = m.new_cache(0, kv);
  const int64_t V = m.config().vocab_size;
  std::vector<float> all, logits;
  for (int32_t id : ids) {
    std::vector<int32_t> one{id};
    SequenceChunk c{one, cache.get(), false};
    m.forward({&c, 1}, logits);
    all.insert(all.end(), logits.begin(), logits.begin() + V);
  }
  return all;
}

TEST(KVCacheTypes, NarrowTypesStayCloseToFloat32) {
  // The bundled model has head_dim 32 (Q8_0 blocks fit) and sliding layers (ring buffers).
  const std::string dir = path_join(project_home(), "models/exaone4-tiny");
  auto model = load_model(dir);
  Golden g = read_golden(dir);
  auto f32 = decode_one_by_one(*model, g.ids, DType::F32);
  for (size_t i = 0; i < f32.size(); i += model->config().vocab_size)
    ASSERT_NEAR(f32[i], g.logits[i / model->config().vocab_size][0], 1e-3);
  const int64_t V = model->config().vocab_size;
  // Mean KL(f32 || narrow) of the next-token distributions, and top-1 agreement.
  for (auto [type, bound] : {std::pair{DType::F16, 1e-4}, std::pair{DType::BF16, 2e-3}, std::pair{DType::Q8_0, 5e-3}}) {
    auto got = decode_one_by_one(*model, g.ids, type);
    double kl = 0;
    int agree = 0;
    for (size_t t = 0; t < g.ids.size(); ++t) {
      const float* a = f32.data() + t * V;
      const float* b = got.data() + t * V;
      const double ma = *std::max_element(a, a + V), mb = *std::max_element(b, b + V);
      double za = 0, zb = 0;
      for (int64_t i = 0; i < V; ++i) za += std::exp(a[i] - ma), zb += std::exp(b[i] - mb);
      for (int64_t i = 0; i < V; ++i) {
        const double pa = std::exp(a[i] - ma) / za, pb = std::exp(b[i] - mb) / zb;
        if (pa > 0) kl += pa * std::log(pa / std::max(pb, 1e-300));
      }
      agree += std::max_element(a, a + V) - a == std::max_element(b, b + V) - b;
    }
    kl /= static_cast<double>(g.ids.size());
    std::printf("[kv] %s mean KL %.2e top-1 %d/%zu\n", dtype_name(type), kl, agree, g.ids.size());
    EXPECT_LT(kl, bound) << dtype_name(type);
    EXPECT_GE(agree, static_cast<int>(g.ids.size()) * 8 / 10) << dtype_name(type);
  }
}

TEST(KVCacheTypes, MemoryScalesWithTheType) {
  auto model = load_model(path_join(project_home(), "models/exaone4-tiny"));
  const auto& c = model->config();
  const size_t f32 = KVCache::bytes_for_context(c, 1000, DType::F32);
  EXPECT_EQ(KVCache::bytes_for_context(c, 1000, DType::F16) * 2, f32);
  EXPECT_EQ(KVCache::bytes_for_context(c, 1000, DType::Q8_0) * 128, f32 * 34);
}

TEST(KVCacheTypes, Q8NeedsHeadDimMultipleOf32) {
  auto model = load_model(std::string(EXAONE_FIXTURES) + "/models/exaone4-hybrid-layertypes");  // head_dim 16
  EXPECT_THROW(model->new_cache(0, DType::Q8_0), Error);
  EXPECT_THROW(model->new_cache(0, DType::Q4_0), Error);
  EXPECT_NO_THROW(model->new_cache(0, DType::F16));
}

}  // namespace
}  // namespace exaone

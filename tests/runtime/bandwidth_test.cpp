// Memory-read bandwidth measurement and the bytes a decode step reads.
#include <gtest/gtest.h>

#include "runtime/bandwidth.h"
#include "util/error.h"
#include "util/paths.h"

namespace exaone {
namespace {

TEST(Bandwidth, MeasuresAPositiveRate) {
  for (int threads : {1, 2, 3}) {
    BandwidthResult r = measure_read_bandwidth((size_t{8} << 20) + 100, threads, 2);
    EXPECT_EQ(r.threads, threads);
    EXPECT_EQ(r.passes, 2);
    EXPECT_EQ(r.buffer_bytes % (64 * threads), 0u);  // whole lines per thread
    EXPECT_LE(r.buffer_bytes, (size_t{8} << 20) + 100);
    EXPECT_GT(r.buffer_bytes, size_t{8} << 19);
    EXPECT_GT(r.best_gb_s, 0.1);
    EXPECT_GE(r.best_gb_s, r.mean_gb_s * 0.999);
  }
  // Tiny buffers are raised to 1 MiB.
  EXPECT_GE(measure_read_bandwidth(10, 1, 1).buffer_bytes, size_t{1} << 20);
  EXPECT_THROW(measure_read_bandwidth(1 << 20, 0, 1), Error);
  EXPECT_THROW(measure_read_bandwidth(1 << 20, 1, 0), Error);
}

TEST(Bandwidth, DecodeBytesCountTheOutputMatrixOnce) {
  const std::string fixtures = EXAONE_FIXTURES;
  // Tied: the embedding is read whole as the output matrix; nothing to subtract.
  auto tied = load_model(path_join(project_home(), "models/exaone4-tiny"));
  EXPECT_EQ(decode_weight_bytes_per_token(*tied), tied->weights().total_bytes());
  // Untied: the input embedding contributes one row.
  auto untied = load_model(fixtures + "/models/exaone4-f16-untied");
  ASSERT_FALSE(untied->config().tie_embeddings);
  const TensorView* embed = untied->weights().find("model.embed_tokens.weight");
  ASSERT_NE(embed, nullptr);
  ASSERT_NE(untied->weights().find("lm_head.weight"), nullptr);
  EXPECT_EQ(decode_weight_bytes_per_token(*untied),
            untied->weights().total_bytes() - embed->nbytes + embed->nbytes / embed->rows());
}

TEST(Bandwidth, DecodeBytesCountOnlyTheChosenExpertsAndNoMtpLayer) {
  const std::string fixtures = EXAONE_FIXTURES;
  auto m = load_model(fixtures + "/models/kexaone-moe-experts");  // 8 experts, top-2, an MTP layer, untied
  const ModelConfig& c = m->config();
  ASSERT_GT(c.n_experts, c.n_experts_used);
  double want = 0;
  for (const auto& [name, t] : m->weights().tensors()) {
    if (name.compare(0, 4, "mtp.") == 0) continue;
    if (name.find(".mlp.experts.") != std::string::npos) want += double(t.nbytes) * c.n_experts_used / c.n_experts;
    else want += double(t.nbytes);
  }
  const TensorView* embed = m->weights().find("model.embed_tokens.weight");
  ASSERT_NE(embed, nullptr);
  want -= double(embed->nbytes - embed->nbytes / embed->rows());
  EXPECT_NEAR(double(decode_weight_bytes_per_token(*m)), want, 1.0);
  EXPECT_LT(decode_weight_bytes_per_token(*m), m->weights().total_bytes() / 2);
}

}  // namespace
}  // namespace exaone

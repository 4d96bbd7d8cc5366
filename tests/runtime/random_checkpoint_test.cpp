// `exaone make-model`'s checkpoints: every shape's config and tensors load as the family they claim,
// the weights are the same for a seed, and bad options are refused.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "models/gguf_model.h"
#include "models/model.h"
#include "runtime/bandwidth.h"
#include "runtime/random_checkpoint.h"
#include "util/error.h"

namespace exaone {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("exaone_randckpt_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

TEST(RandomCheckpoint, KexaoneShapeLoadsAsMoeWithMtpAndConverts) {
  const fs::path dir = temp_dir("kexaone");
  RandomCheckpointOptions o;
  o.shape = "kexaone-tiny";
  o.out = dir.string();
  const RandomCheckpointResult r = write_random_checkpoint(o);
  auto m = load_model(dir.string());
  const ModelConfig& c = m->config();
  EXPECT_EQ(c.family, Family::ExaoneMoe);
  EXPECT_EQ(c.n_experts, 8);
  EXPECT_EQ(c.n_experts_used, 2);
  EXPECT_FALSE(c.is_moe_layer(0));  // first_k_dense_replace 1
  EXPECT_TRUE(c.is_moe_layer(1));
  EXPECT_TRUE(c.layer_sliding[0]);
  EXPECT_FALSE(c.layer_sliding[3]);
  EXPECT_TRUE(m->has_mtp());
  EXPECT_EQ(m->parameter_count(), r.parameters);
  // The correction bias stays F32 beside BF16 weights, as released.
  EXPECT_EQ(m->weights().find("model.layers.1.mlp.e_score_correction_bias")->dtype, DType::F32);
  EXPECT_EQ(m->weights().find("model.layers.1.mlp.gate.weight")->dtype, DType::BF16);
  // A decode step reads the chosen experts only: active parameters below the total.
  EXPECT_LT(r.active_parameters, r.parameters);
  EXPECT_LT(decode_weight_bytes_per_token(*m), m->weights().total_bytes());
  auto cache = m->new_cache();
  std::vector<int32_t> ids = {1, 5, 9, 200, 7, 3};
  std::vector<float> logits;
  SequenceChunk chunk{ids, cache.get(), true};
  m->forward({&chunk, 1}, logits);
  for (float v : logits) ASSERT_TRUE(std::isfinite(v));
  // Converts to GGUF (the NextN block included) and loads back with the MTP layer.
  const fs::path gguf = dir / "m.gguf";
  convert_to_gguf(dir.string(), gguf.string(), DType::Q8_0, true);
  auto g = load_model(gguf.string());
  EXPECT_TRUE(g->has_mtp());
  EXPECT_EQ(g->config().n_layers, c.n_layers);
  fs::remove_all(dir);
}

TEST(RandomCheckpoint, SameSeedSameBytesAndBadOptionsRefused) {
  const fs::path a = temp_dir("a"), b = temp_dir("b");
  RandomCheckpointOptions o;
  o.shape = "tiny";
  o.out = a.string();
  write_random_checkpoint(o);
  o.out = b.string();
  write_random_checkpoint(o);
  auto ma = load_model(a.string()), mb = load_model(b.string());
  const TensorView* ta = ma->weights().find("model.layers.1.mlp.up_proj.weight");
  const TensorView* tb = mb->weights().find("model.layers.1.mlp.up_proj.weight");
  ASSERT_TRUE(ta && tb);
  EXPECT_EQ(std::memcmp(ta->data, tb->data, ta->nbytes), 0);
  // An existing checkpoint is not overwritten without force; unknown shape and dtype name the option.
  EXPECT_THROW(write_random_checkpoint(o), Error);
  o.force = true;
  EXPECT_NO_THROW(write_random_checkpoint(o));
  o.shape = "70b";
  try {
    write_random_checkpoint(o);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--shape must be one of"), std::string::npos) << e.what();
  }
  o.shape = "tiny";
  o.dtype = "q4";
  EXPECT_THROW(write_random_checkpoint(o), Error);
  fs::remove_all(a);
  fs::remove_all(b);
}

}  // namespace
}  // namespace exaone

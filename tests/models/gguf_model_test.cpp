// Every fixture checkpoint converted to GGUF through the library, loaded back from the .gguf
// and run: logits against the transformers golden values. F32 (and F16 for 16-bit sources)
// must match within 1e-3; quantised files report KL divergence and top-1 agreement.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <unistd.h>

#include "loaders/gguf.h"
#include "models/gguf_model.h"
#include "models/model.h"
#include "golden.h"
#include "util/error.h"
#include "util/json_file.h"
#include "util/mapped_file.h"
#include "test_support.h"

namespace exaone {
namespace {

using test::TempDir;

namespace fs = std::filesystem;
const std::string kModels = std::string(EXAONE_FIXTURES) + "/models/";

std::vector<std::string> fixture_names() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(kModels))
    if (e.is_directory() && fs::exists(e.path() / "golden.json")) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

Agreement convert_and_compare(const std::string& name, DType type, ModelConfig* loaded = nullptr) {
  const std::string dir = kModels + name;
  TempDir tmp;
  const std::string out = tmp.file(name + ".gguf");
  auto src = load_model(dir);
  build_gguf(src->config(), src->weights(), type).write(out);
  auto m = load_model(out);
  if (loaded) *loaded = m->config();
  return compare(*m, read_golden(dir));
}

// K-EXAONE fixtures: routing is discrete. A rounded weight that moves one token's router scores
// across a decision boundary (the fixtures' closest decisions are ~2e-3 apart) changes which
// experts run, and the logits downstream then differ by O(1) (measured: Q8_0 flips 1 of 72
// decisions of kexaone-moe-experts, at token 17). Quantised MoE checkpoints are therefore held to
// top-1 agreement and a looser KL; the F32 export stays exact.
bool is_moe(const std::string& name) {
  return read_json_file(kModels + name + "/config.json").value("model_type", "") == "exaone_moe";
}

class GgufGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(GgufGolden, F32Within1e3) {
  Agreement a = convert_and_compare(GetParam(), DType::F32);
  EXPECT_LT(a.max_abs, 1e-3) << GetParam();
  RecordProperty("max_abs_diff", std::to_string(a.max_abs));
}

TEST_P(GgufGolden, F16) {
  auto src = load_model(kModels + GetParam());
  const std::string sd = src->weight_dtype_summary();
  Agreement a = convert_and_compare(GetParam(), DType::F16);
  // Lossless for F16 sources; BF16 and F32 sources lose mantissa bits and are held to a looser bound.
  const double bound = sd == "F16" ? 1e-3 : is_moe(GetParam()) ? 0.1 : 3e-2;
  EXPECT_LT(a.max_abs, bound) << GetParam() << " source " << sd;
  EXPECT_LT(a.mean_kl, 1e-3) << GetParam();
  EXPECT_GE(a.top1, 0.95) << GetParam();
  std::printf("[gguf] %-28s F16   max|d| %.2e  KL %.2e  top1 %.3f (source %s)\n", GetParam().c_str(), a.max_abs,
              a.mean_kl, a.top1, sd.c_str());
}

TEST_P(GgufGolden, BF16) {
  Agreement a = convert_and_compare(GetParam(), DType::BF16);
  // BF16 keeps 8 mantissa bits: about the precision of Q8_0. The random fixtures have near-tied
  // top logits at some positions, so top-1 may flip there.
  EXPECT_LT(a.mean_kl, 5e-3) << GetParam();
  EXPECT_GE(a.top1, 0.85) << GetParam();
}

TEST_P(GgufGolden, Q8_0) {
  Agreement a = convert_and_compare(GetParam(), DType::Q8_0);
  std::printf("[gguf] %-28s Q8_0  max|d| %.2e  KL %.2e  top1 %.3f\n", GetParam().c_str(), a.max_abs, a.mean_kl, a.top1);
  EXPECT_LT(a.mean_kl, is_moe(GetParam()) ? 0.5 : 5e-3) << GetParam();
  EXPECT_GE(a.top1, 0.9) << GetParam();
  RecordProperty("kl", std::to_string(a.mean_kl));
  RecordProperty("top1", std::to_string(a.top1));
}

TEST_P(GgufGolden, Q4_0) {
  Agreement a = convert_and_compare(GetParam(), DType::Q4_0);
  const Agreement q8 = convert_and_compare(GetParam(), DType::Q8_0);
  std::printf("[gguf] %-28s Q4_0  max|d| %.2e  KL %.2e  top1 %.3f\n", GetParam().c_str(), a.max_abs, a.mean_kl, a.top1);
  // 4-bit blocks add ~8% relative noise per weight (Q8_0: ~0.5%), so on these tiny random
  // models (flat logits, hidden 64) KL is ~(16x)^2 that of Q8_0: loose bounds, and the ordering.
  EXPECT_LT(a.mean_kl, is_moe(GetParam()) ? 4.0 : 2.0) << GetParam();
  EXPECT_GT(a.mean_kl, q8.mean_kl) << GetParam();
  EXPECT_GE(a.top1, 0.25) << GetParam();
  RecordProperty("kl", std::to_string(a.mean_kl));
  RecordProperty("top1", std::to_string(a.top1));
}

TEST_P(GgufGolden, ConfigMatchesSource) {
  ModelConfig g;
  convert_and_compare(GetParam(), DType::F32, &g);
  const ModelConfig s = load_model_config(kModels + GetParam());
  EXPECT_EQ(g.family, s.family);
  EXPECT_EQ(g.hidden, s.hidden);
  EXPECT_EQ(g.n_layers, s.n_layers);
  EXPECT_EQ(g.n_heads, s.n_heads);
  EXPECT_EQ(g.n_kv_heads, s.n_kv_heads);
  EXPECT_EQ(g.head_dim, s.head_dim);
  EXPECT_EQ(g.intermediate, s.intermediate);
  EXPECT_EQ(g.vocab_size, s.vocab_size);
  EXPECT_EQ(g.max_position, s.max_position);
  EXPECT_EQ(g.sliding_window, s.sliding_window);
  EXPECT_EQ(g.layer_sliding, s.layer_sliding);
  EXPECT_EQ(g.layer_rope, s.layer_rope);
  EXPECT_EQ(g.tie_embeddings, s.tie_embeddings || !fs::exists(kModels + GetParam() + "/model.safetensors") ||
                                  g.tie_embeddings);
  EXPECT_NEAR(g.rms_eps, s.rms_eps, 1e-12);
  EXPECT_EQ(g.bos_id, s.bos_id);
  ASSERT_FALSE(g.eos_ids.empty());
  EXPECT_EQ(g.eos_ids[0], s.eos_ids[0]);
  EXPECT_EQ(g.rope.freq_divisors.empty(), s.rope.type != "llama3");
  // K-EXAONE (arch exaone-moe): the MoE layout and routing parameters survive the round trip.
  EXPECT_EQ(g.layer_moe, s.layer_moe);
  EXPECT_EQ(g.n_experts, s.n_experts);
  EXPECT_EQ(g.n_experts_used, s.n_experts_used);
  EXPECT_EQ(g.moe_intermediate, s.moe_intermediate);
  EXPECT_EQ(g.n_shared_experts, s.n_shared_experts);
  if (s.n_experts > 0) {
    EXPECT_EQ(g.n_group, s.n_group);
    EXPECT_EQ(g.topk_group, s.topk_group);
    EXPECT_EQ(g.norm_topk_prob, s.norm_topk_prob);
    EXPECT_NEAR(g.routed_scaling, s.routed_scaling, 1e-6);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GgufGolden, ::testing::ValuesIn(fixture_names()),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (auto& ch : s)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return s;
                         });

TEST(GgufModel, LoadModelConfigFromGguf) {
  TempDir tmp;
  const std::string out = tmp.file("m.gguf");
  convert_to_gguf(kModels + "exaone4-hybrid-layertypes", out, DType::Q8_0, false);
  ModelConfig c = load_model_config(out);
  EXPECT_EQ(c.family, Family::Exaone4);
  EXPECT_EQ(c.sliding_window, 4);
  // Refuses to overwrite without force; overwrites with it.
  EXPECT_THROW(convert_to_gguf(kModels + "exaone4-hybrid-layertypes", out, DType::F16, false), Error);
  EXPECT_NO_THROW(convert_to_gguf(kModels + "exaone4-hybrid-layertypes", out, DType::F16, true));
  // A GGUF converts again (re-quantisation of a loaded GGUF).
  EXPECT_NO_THROW(convert_to_gguf(out, tmp.file("again.gguf"), DType::Q4_0, false));
  EXPECT_THROW(parse_gguf_out_type("q5_k"), Error);
  EXPECT_TRUE(parse_gguf_out_type("q4_0") == GgufOutType(DType::Q4_0));
  EXPECT_TRUE(parse_gguf_out_type("q4_k_m").q4_k_m);
}

TEST(GgufModel, MetadataWrittenAsSpecified) {
  TempDir tmp;
  const std::string out = tmp.file("m.gguf");
  convert_to_gguf(kModels + "exaone4-f16-untied", out, DType::Q8_0, false);
  MappedFile m(out);
  GgufFile g = parse_gguf(m.data(), m.size(), out);
  EXPECT_EQ(g.get_string("general.architecture"), "exaone4");
  EXPECT_EQ(g.get_int("general.file_type"), 7);
  EXPECT_EQ(g.get_int("exaone4.attention.sliding_window"), 3);
  const GgufValue* pat = g.find("exaone4.attention.sliding_window_pattern");
  ASSERT_TRUE(pat);
  EXPECT_EQ(pat->value, json::array({true, false, true, true, false}));
  ASSERT_TRUE(g.find_tensor("output.weight"));
  EXPECT_EQ(g.find_tensor("output.weight")->view.dtype, DType::Q8_0);
  EXPECT_EQ(g.find_tensor("blk.0.post_attention_norm.weight")->view.dtype, DType::F32);  // 1-D kept F32
  EXPECT_EQ(g.find_tensor("token_embd.weight")->ne, (std::vector<int64_t>{64, 448}));  // innermost first
  EXPECT_FALSE(g.find_tensor("rope_freqs.weight"));
  // Tied llama3 fixture: no output tensor, rope_freqs present.
  const std::string out2 = tmp.file("t.gguf");
  convert_to_gguf(kModels + "exaone4-dense-tied-llama3", out2, DType::F16, false);
  MappedFile m2(out2);
  GgufFile g2 = parse_gguf(m2.data(), m2.size(), out2);
  EXPECT_FALSE(g2.find_tensor("output.weight"));
  ASSERT_TRUE(g2.find_tensor("rope_freqs.weight"));
  EXPECT_EQ(g2.find_tensor("rope_freqs.weight")->ne, (std::vector<int64_t>{12}));
  EXPECT_FALSE(g2.find("exaone4.attention.sliding_window"));
}

TEST(GgufModel, BadMetadataNamesTheKey) {
  TempDir tmp;
  const std::string out = tmp.file("bad.gguf");
  GgufWriter w;
  w.set("general.architecture", GgufType::STRING, "exaone4");
  w.set("exaone4.embedding_length", GgufType::STRING, "64");
  w.write(out);
  try {
    load_model(out);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("exaone4.embedding_length"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace exaone

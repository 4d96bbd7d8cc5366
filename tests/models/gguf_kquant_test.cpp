// K-quant GGUF output: the Q4_K_M tensor-type rule (llama.cpp's llama_tensor_get_type for
// LLAMA_FTYPE_MOSTLY_Q4_K_M), and logits of converted fixtures against the transformers golden
// values (KL divergence / top-1 agreement, as for the other GGUF types).
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
#include "util/paths.h"

namespace exaone {
namespace {

namespace fs = std::filesystem;

GgufOutType q4_k_m() { return parse_gguf_out_type("q4_k_m"); }

TEST(GgufKQuant, Q4KMRule) {
  const auto t = q4_k_m();
  const std::vector<int64_t> sq{512, 512}, vec{512};
  // 32 layers: use_more_bits is true for 0..3, 28..31 and i = 6, 9, 12, ... (i - 4) % 3 == 2.
  std::vector<int> more;
  for (int i = 0; i < 32; ++i)
    if (gguf_tensor_type(t, "blk." + std::to_string(i) + ".attn_v.weight", sq, 32, true) == DType::Q6_K)
      more.push_back(i);
  EXPECT_EQ(more, (std::vector<int>{0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31}));
  for (int i = 0; i < 32; ++i)
    EXPECT_EQ(gguf_tensor_type(t, "blk." + std::to_string(i) + ".ffn_down.weight", sq, 32, true),
              gguf_tensor_type(t, "blk." + std::to_string(i) + ".attn_v.weight", sq, 32, true));
  EXPECT_EQ(gguf_tensor_type(t, "blk.6.attn_q.weight", sq, 32, true), DType::Q4_K);
  EXPECT_EQ(gguf_tensor_type(t, "blk.6.ffn_up.weight", sq, 32, true), DType::Q4_K);
  EXPECT_EQ(gguf_tensor_type(t, "output.weight", sq, 32, true), DType::Q6_K);
  EXPECT_EQ(gguf_tensor_type(t, "token_embd.weight", sq, 32, true), DType::Q4_K);
  EXPECT_EQ(gguf_tensor_type(t, "token_embd.weight", sq, 32, false), DType::Q6_K);  // tied: it is the output
  EXPECT_EQ(gguf_tensor_type(t, "blk.0.attn_norm.weight", vec, 32, true), DType::F32);
  // Rows that do not fit 256-element super-blocks: Q8_0, then F16.
  EXPECT_EQ(gguf_tensor_type(t, "blk.1.attn_q.weight", {64, 96}, 32, true), DType::Q8_0);
  EXPECT_EQ(gguf_tensor_type(t, "blk.1.attn_q.weight", {64, 48}, 32, true), DType::F16);
  EXPECT_EQ(gguf_tensor_type(DType::Q6_K, "blk.1.attn_q.weight", sq, 32, true), DType::Q6_K);
  EXPECT_EQ(gguf_file_type(t), 15u);
  EXPECT_EQ(gguf_out_type_name(t), "Q4_K_M");
  EXPECT_THROW(parse_gguf_out_type("q3_k_l"), Error);
}

Agreement convert_and_compare(const std::string& dir, GgufOutType type, std::map<std::string, DType>* types) {
  const std::string out = (fs::temp_directory_path() / ("exaone_kq_" + std::to_string(::getpid()) + ".gguf")).string();
  convert_to_gguf(dir, out, type, true);
  Agreement a;
  {
    auto m = load_model(out);
    a = compare(*m, read_golden(dir));
    MappedFile f(out);
    for (const auto& t : parse_gguf(f.data(), f.size(), out).tensors)
      if (types) (*types)[t.name] = t.view.dtype;
  }
  fs::remove(out);
  return a;
}

// The bundled model (hidden 128, intermediate 256): ffn_down rows hold one super-block, so they
// are K-quantised; 128-wide rows fall back to Q8_0; the tied embedding is the output (Q6_K rule,
// Q8_0 by fallback).
TEST(GgufKQuant, TinyModelAgainstGolden) {
  const std::string dir = path_join(project_home(), "models/exaone4-tiny");
  std::map<std::string, DType> types;
  const Agreement km = convert_and_compare(dir, q4_k_m(), &types);
  // 4 layers: use_more_bits -> layer 3 (i >= 7n/8) and layer 2 ((i - n/8) % 3 == 2).
  EXPECT_EQ(types["blk.0.ffn_down.weight"], DType::Q4_K);
  EXPECT_EQ(types["blk.1.ffn_down.weight"], DType::Q4_K);
  EXPECT_EQ(types["blk.2.ffn_down.weight"], DType::Q6_K);
  EXPECT_EQ(types["blk.3.ffn_down.weight"], DType::Q6_K);
  EXPECT_EQ(types["blk.1.attn_q.weight"], DType::Q8_0);
  const Agreement k4 = convert_and_compare(dir, DType::Q4_K, nullptr);
  const Agreement k6 = convert_and_compare(dir, DType::Q6_K, nullptr);
  const Agreement q8 = convert_and_compare(dir, DType::Q8_0, nullptr);
  std::printf("[gguf] exaone4-tiny  Q4_K_M KL %.2e top1 %.3f | Q4_K KL %.2e top1 %.3f | Q6_K KL %.2e top1 %.3f | "
              "Q8_0 KL %.2e top1 %.3f\n",
              km.mean_kl, km.top1, k4.mean_kl, k4.top1, k6.mean_kl, k6.top1, q8.mean_kl, q8.top1);
  // This random model is sensitive (Q8_0 alone gives KL ~1e-2): bounds are a few times the measured
  // values (Q4_K_M 7.2e-2 / 0.85, Q6_K 1.7e-2 / 0.96), plus the ordering Q8_0 < Q6_K < Q4_K_M < Q4_K.
  EXPECT_LT(km.mean_kl, 0.2);
  EXPECT_GE(km.top1, 0.7);
  EXPECT_LT(k6.mean_kl, 5e-2);
  // Top-1 over 26 positions of a random model with near-tied logits moves by whole positions with
  // the activation rounding of the kernel path (int8 vs float); Q6_K must match Q8_0's within one.
  EXPECT_GE(k6.top1, q8.top1 - 1.0 / 26 - 1e-9);
  EXPECT_GE(k6.top1, 0.75);
  EXPECT_LT(q8.mean_kl, k6.mean_kl);
  EXPECT_LT(k6.mean_kl, km.mean_kl);
  EXPECT_LT(km.mean_kl, k4.mean_kl);  // the mix beats plain Q4_K
  RecordProperty("q4_k_m_kl", std::to_string(km.mean_kl));
  RecordProperty("q4_k_m_top1", std::to_string(km.top1));
}

// Fixture checkpoints (rows of 64..176: every matrix falls back to Q8_0/F16 under K-quant types,
// as llama-quantize does): Q4_K_M must still load and match like Q8_0.
TEST(GgufKQuant, FixturesFallBackAndMatch) {
  const std::string models = std::string(EXAONE_FIXTURES) + "/models/";
  for (const auto& e : fs::directory_iterator(models)) {
    if (!e.is_directory() || !fs::exists(e.path() / "golden.json")) continue;
    const Agreement a = convert_and_compare(e.path().string(), q4_k_m(), nullptr);
    std::printf("[gguf] %-28s Q4_K_M KL %.2e  top1 %.3f\n", e.path().filename().c_str(), a.mean_kl, a.top1);
    // K-EXAONE: a flipped routing decision moves the logits downstream (see gguf_model_test.cpp).
    const bool moe = read_json_file((e.path() / "config.json").string()).value("model_type", "") == "exaone_moe";
    EXPECT_LT(a.mean_kl, moe ? 0.5 : 5e-3) << e.path();
    EXPECT_GE(a.top1, 0.85) << e.path();
  }
}

}  // namespace
}  // namespace exaone

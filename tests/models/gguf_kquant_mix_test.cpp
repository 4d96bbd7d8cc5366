// `exaone convert/quantize -t q5_k_m | q3_k_m`: llama.cpp's per-tensor types (llama_tensor_get_type
// for LLAMA_FTYPE_MOSTLY_Q5_K_M / Q3_K_M, fallbacks included), and the bundled tiny model converted
// with them against its transformers golden logits.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <unistd.h>

#include "golden.h"
#include "loaders/gguf.h"
#include "models/gguf_model.h"
#include "models/model.h"
#include "util/mapped_file.h"
#include "util/paths.h"

namespace exaone {
namespace {

namespace fs = std::filesystem;

std::string blk(int i, const char* t) { return "blk." + std::to_string(i) + "." + t + ".weight"; }

TEST(GgufKQuantMix, Q5KMRule) {
  const GgufOutType t = parse_gguf_out_type("q5_k_m");
  EXPECT_EQ(gguf_out_type_name(t), "Q5_K_M");
  EXPECT_EQ(gguf_file_type(t), 17u);
  const std::vector<int64_t> sq{512, 512};
  for (int i = 0; i < 32; ++i) {
    // use_more_bits: 0..3, 28..31 and (i - 4) % 3 == 2
    const bool more = i < 4 || i >= 28 || (i - 4) % 3 == 2;
    EXPECT_EQ(gguf_tensor_type(t, blk(i, "attn_v"), sq, 32, true), more ? DType::Q6_K : DType::Q5_K) << i;
    EXPECT_EQ(gguf_tensor_type(t, blk(i, "ffn_down"), sq, 32, true), more ? DType::Q6_K : DType::Q5_K) << i;
    EXPECT_EQ(gguf_tensor_type(t, blk(i, "attn_output"), sq, 32, true), DType::Q5_K);
    EXPECT_EQ(gguf_tensor_type(t, blk(i, "ffn_up"), sq, 32, true), DType::Q5_K);
  }
  EXPECT_EQ(gguf_tensor_type(t, "output.weight", sq, 32, true), DType::Q6_K);
  EXPECT_EQ(gguf_tensor_type(t, "token_embd.weight", sq, 32, true), DType::Q5_K);
  EXPECT_EQ(gguf_tensor_type(t, "token_embd.weight", sq, 32, false), DType::Q6_K);
  // Rows of 128: llama.cpp's fallbacks Q5_K -> Q5_1, Q6_K -> Q8_0; rows of 48: F16.
  EXPECT_EQ(gguf_tensor_type(t, blk(5, "attn_q"), {64, 128}, 32, true), DType::Q5_1);
  EXPECT_EQ(gguf_tensor_type(t, blk(0, "attn_v"), {64, 128}, 32, true), DType::Q8_0);
  EXPECT_EQ(gguf_tensor_type(t, blk(5, "attn_q"), {64, 48}, 32, true), DType::F16);
  EXPECT_EQ(gguf_tensor_type(t, "blk.0.attn_norm.weight", {512}, 32, true), DType::F32);
}

TEST(GgufKQuantMix, Q3KMRule) {
  const GgufOutType t = parse_gguf_out_type("q3_k_m");
  EXPECT_EQ(gguf_out_type_name(t), "Q3_K_M");
  EXPECT_EQ(gguf_file_type(t), 12u);
  const std::vector<int64_t> sq{512, 512};
  for (int i = 0; i < 32; ++i) {
    EXPECT_EQ(gguf_tensor_type(t, blk(i, "attn_v"), sq, 32, true), i < 2 ? DType::Q5_K : DType::Q4_K) << i;
    EXPECT_EQ(gguf_tensor_type(t, blk(i, "ffn_down"), sq, 32, true), i < 2 ? DType::Q5_K : DType::Q4_K) << i;
    EXPECT_EQ(gguf_tensor_type(t, blk(i, "attn_output"), sq, 32, true), DType::Q4_K);
    for (const char* q3 : {"attn_q", "attn_k", "ffn_gate", "ffn_up"})
      EXPECT_EQ(gguf_tensor_type(t, blk(i, q3), sq, 32, true), DType::Q3_K) << q3;
  }
  EXPECT_EQ(gguf_tensor_type(t, blk(1, "ffn_down"), sq, 16, true), DType::Q4_K);  // n/16 = 1
  EXPECT_EQ(gguf_tensor_type(t, "output.weight", sq, 32, true), DType::Q6_K);
  EXPECT_EQ(gguf_tensor_type(t, "token_embd.weight", sq, 32, true), DType::Q3_K);
  // Fallbacks: Q3_K -> IQ4_NL, Q4_K -> Q5_0, Q5_K -> Q5_1.
  EXPECT_EQ(gguf_tensor_type(t, blk(5, "attn_q"), {64, 128}, 32, true), DType::IQ4_NL);
  EXPECT_EQ(gguf_tensor_type(t, blk(5, "attn_output"), {64, 128}, 32, true), DType::Q5_0);
  EXPECT_EQ(gguf_tensor_type(t, blk(0, "attn_v"), {64, 128}, 32, true), DType::Q5_1);
}

Agreement convert_and_compare(const std::string& dir, const char* type, std::map<std::string, DType>& types) {
  const std::string out =
      (fs::temp_directory_path() / ("exaone_kqm_" + std::to_string(::getpid()) + "_" + type + ".gguf")).string();
  convert_to_gguf(dir, out, parse_gguf_out_type(type), true);
  Agreement a;
  {
    auto m = load_model(out);
    a = compare(*m, read_golden(dir));
    MappedFile f(out);
    const GgufFile g = parse_gguf(f.data(), f.size(), out);
    for (const auto& t : g.tensors) types[t.name] = t.view.dtype;
    EXPECT_EQ(g.get_int("general.file_type"), static_cast<int64_t>(gguf_file_type(parse_gguf_out_type(type))));
  }
  fs::remove(out);
  std::printf("[gguf] exaone4-tiny %s KL %.3e top1 %.3f\n", type, a.mean_kl, a.top1);
  return a;
}

// The tiny model (hidden 128, 4 layers): ffn_down rows hold one super-block, the 128-wide rows fall back.
TEST(GgufKQuantMix, TinyModelAgainstGolden) {
  const std::string dir = path_join(project_home(), "models/exaone4-tiny");
  std::map<std::string, DType> t5, t3;
  const Agreement q5 = convert_and_compare(dir, "q5_k_m", t5);
  EXPECT_EQ(t5["blk.3.ffn_down.weight"], DType::Q6_K);  // 4 layers: use_more_bits for layers 2 and 3
  EXPECT_EQ(t5["blk.1.ffn_down.weight"], DType::Q5_K);
  EXPECT_EQ(t5["blk.1.attn_q.weight"], DType::Q5_1);
  EXPECT_EQ(t5["token_embd.weight"], DType::Q8_0);  // the tied output: Q6_K, by fallback Q8_0
  const Agreement q3 = convert_and_compare(dir, "q3_k_m", t3);
  EXPECT_EQ(t3["blk.0.ffn_down.weight"], DType::Q4_K);  // 4 layers: n/16 = 0
  EXPECT_EQ(t3["blk.0.attn_v.weight"], DType::Q5_1);
  EXPECT_EQ(t3["blk.3.attn_v.weight"], DType::Q5_0);
  EXPECT_EQ(t3["blk.3.attn_output.weight"], DType::Q5_0);
  EXPECT_EQ(t3["blk.3.attn_q.weight"], DType::IQ4_NL);
  // Bounds a few times the measured values (Q5_K_M 0.22 / 0.69, Q3_K_M 0.45 / 0.54): this random
  // model is sensitive (Q8_0 alone gives KL ~1e-2) and its 128-wide rows take the 32-element
  // fallbacks (Q5_1, IQ4_NL), where Q4_K_M's take Q8_0. gguf_mixed_test.cpp checks the same mixes
  // against the float model of their dequantised weights (KL ~5e-3).
  EXPECT_LT(q5.mean_kl, 0.6);
  EXPECT_GE(q5.top1, 0.5);
  EXPECT_LT(q3.mean_kl, 1.2);
  EXPECT_GE(q3.top1, 0.35);
  EXPECT_LT(q5.mean_kl, q3.mean_kl);
}

}  // namespace
}  // namespace exaone

// LoRA adapters at inference (Model::add_lora): logits against HF peft's (goldens made by
// scripts/fixtures/make_lora_adapter_fixtures.py), against the merged model, scale 0 = the base,
// two adapters stacking, a Q8_0 GGUF base, GGUF adapters, and errors naming file and tensor.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "kernels/matmul.h"
#include "loaders/lora_adapter.h"
#include "loaders/safetensors.h"
#include "models/gguf_model.h"
#include "models/lora.h"
#include "models/model.h"
#include "util/error.h"
#include "util/json_file.h"
#include "test_support.h"

namespace exaone {
namespace {

using test::error_of;
using test::TempDir;

namespace fs = std::filesystem;
const std::string kTiny = std::string(EXAONE_SOURCE_DIR) + "/models/exaone4-tiny";
const std::string kLora = std::string(EXAONE_FIXTURES) + "/lora_inference/";
const std::string kModels = std::string(EXAONE_FIXTURES) + "/models/";

struct LoraGolden {
  std::vector<int32_t> ids;
  std::vector<std::vector<float>> a;   // adapter A, every position
  std::vector<float> ab_last;          // adapters A and B, last position
};

LoraGolden read_lora_golden() {
  const json j = read_json_file(kLora + "golden.json");
  LoraGolden g;
  for (const auto& v : j["ids"]) g.ids.push_back(v.get<int32_t>());
  for (const auto& row : j["adapter_a"]) g.a.push_back(row.get<std::vector<float>>());
  g.ab_last = j["adapter_a_b"].back().get<std::vector<float>>();
  return g;
}

// Logits at every position of `ids`, [T][vocab].
std::vector<std::vector<float>> logits_of(Model& m, const std::vector<int32_t>& ids) {
  auto cache = m.new_cache(static_cast<int64_t>(ids.size()));
  std::vector<float> flat;
  SequenceChunk c{ids, cache.get(), true};
  m.forward({&c, 1}, flat);
  const int64_t V = m.config().vocab_size;
  std::vector<std::vector<float>> out;
  for (size_t t = 0; t < ids.size(); ++t) out.emplace_back(flat.begin() + t * V, flat.begin() + (t + 1) * V);
  return out;
}

double max_abs_diff(const std::vector<std::vector<float>>& x, const std::vector<std::vector<float>>& y) {
  double d = 0;
  EXPECT_EQ(x.size(), y.size());
  for (size_t t = 0; t < x.size() && t < y.size(); ++t) {
    EXPECT_EQ(x[t].size(), y[t].size());
    for (size_t v = 0; v < x[t].size(); ++v) d = std::max(d, std::fabs(double(x[t][v]) - y[t][v]));
  }
  return d;
}

// A copy of the folder `base` whose weights are all float32, with `merged` replacing some.
void write_merged_checkpoint(const Model& base, const std::string& base_dir,
                             const std::map<std::string, std::vector<float>>& merged, const std::string& dir) {
  fs::create_directories(dir);
  for (const char* f : {"config.json", "generation_config.json"})
    if (fs::exists(fs::path(base_dir) / f)) fs::copy_file(fs::path(base_dir) / f, fs::path(dir) / f);
  std::vector<std::vector<float>> keep;
  std::vector<SafetensorsF32> ts;
  for (const auto& [name, t] : base.weights().tensors()) {
    if (auto it = merged.find(name); it != merged.end()) {
      ts.push_back({name, t.shape, it->second.data()});
      continue;
    }
    std::vector<float> w(static_cast<size_t>(t.numel()));
    const MatrixRef m{t.dtype, t.data, t.rows(), t.cols()};
    for (int64_t r = 0; r < t.rows(); ++r) dequantize_row(m, r, w.data() + r * t.cols());
    keep.push_back(std::move(w));
    ts.push_back({name, t.shape, keep.back().data()});
  }
  write_safetensors_f32((fs::path(dir) / "model.safetensors").string(), ts);
}

TEST(LoraInference, PeftGoldenWithin1e3) {
  const LoraGolden g = read_lora_golden();
  auto m = load_model(kTiny, {{kLora + "adapter_a", 1.0}});
  ASSERT_EQ(m->loras().size(), 1u);
  EXPECT_EQ(m->loras()[0].matrices, 28);
  const double d = max_abs_diff(logits_of(*m, g.ids), g.a);
  std::printf("[lora] peft golden (adapter A, every position): max |d| %.2e\n", d);
  EXPECT_LE(d, 1e-3);
  // The adapter does change the output (so the comparison means something).
  auto base = load_model(kTiny);
  EXPECT_GT(max_abs_diff(logits_of(*base, g.ids), g.a), 0.5);
}

TEST(LoraInference, TwoAdaptersStackAsPeftSumsThem) {
  const LoraGolden g = read_lora_golden();
  auto m = load_model(kTiny, {{kLora + "adapter_a", 1.0}, {kLora + "adapter_b", 1.0}});
  const auto l = logits_of(*m, g.ids);
  const double d = max_abs_diff({l.back()}, {g.ab_last});
  std::printf("[lora] peft golden (adapters A + B, last position): max |d| %.2e\n", d);
  EXPECT_LE(d, 1e-3);
  EXPECT_EQ(describe_loras(*m).size(), 2u);
}

TEST(LoraInference, ScaleZeroIsTheBaseExactly) {
  const LoraGolden g = read_lora_golden();
  auto base = load_model(kTiny);
  auto m = load_model(kTiny, {{kLora + "adapter_a", 0.0}});
  EXPECT_EQ(max_abs_diff(logits_of(*m, g.ids), logits_of(*base, g.ids)), 0.0);
}

TEST(LoraInference, EqualsTheMergedModel) {
  const LoraGolden g = read_lora_golden();
  TempDir tmp;
  auto base = load_model(kTiny);
  for (double scale : {1.0, 0.5}) {
    LoraAdapter a = read_lora_adapter(kLora + "adapter_a");
    const std::string dir = tmp.file("merged_" + std::to_string(scale));
    write_merged_checkpoint(*base, kTiny, merge_lora(base->weights(), a, scale), dir);
    auto merged = load_model(dir);
    auto lora = load_model(kTiny, {{kLora + "adapter_a", scale}});
    const double d = max_abs_diff(logits_of(*lora, g.ids), logits_of(*merged, g.ids));
    std::printf("[lora] unmerged vs merged (scale %.1f): max |d| %.2e\n", scale, d);
    EXPECT_LE(d, 1e-4) << "scale " << scale;
  }
  {  // two adapters merged one after the other
    LoraAdapter a = read_lora_adapter(kLora + "adapter_a"), b = read_lora_adapter(kLora + "adapter_b");
    const std::string dir1 = tmp.file("merged_a"), dir2 = tmp.file("merged_ab");
    write_merged_checkpoint(*base, kTiny, merge_lora(base->weights(), a), dir1);
    auto ma = load_model(dir1);
    write_merged_checkpoint(*ma, dir1, merge_lora(ma->weights(), b), dir2);
    auto mab = load_model(dir2);
    auto lora = load_model(kTiny, {{kLora + "adapter_a", 1.0}, {kLora + "adapter_b", 1.0}});
    const double d = max_abs_diff(logits_of(*lora, g.ids), logits_of(*mab, g.ids));
    std::printf("[lora] two adapters unmerged vs merged: max |d| %.2e\n", d);
    EXPECT_LE(d, 1e-4);
  }
}

TEST(LoraInference, BatchedRowsEqualOneSequenceAtATime) {
  // The server's path: several sequences in one forward; each row must see the same update.
  const LoraGolden g = read_lora_golden();
  auto m = load_model(kTiny, {{kLora + "adapter_a", 1.0}, {kLora + "adapter_b", 0.5}});
  const std::vector<int32_t> s1(g.ids.begin(), g.ids.begin() + 5), s2(g.ids.begin() + 2, g.ids.end());
  auto c1 = m->new_cache(16), c2 = m->new_cache(16);
  SequenceChunk batch[2] = {{s1, c1.get(), true}, {s2, c2.get(), true}};
  std::vector<float> flat;
  m->forward(batch, flat);
  const auto l1 = logits_of(*m, s1), l2 = logits_of(*m, s2);
  const int64_t V = m->config().vocab_size;
  double d = 0;
  for (size_t t = 0; t < s1.size(); ++t)
    for (int64_t v = 0; v < V; ++v) d = std::max(d, std::fabs(double(flat[t * V + v]) - l1[t][v]));
  for (size_t t = 0; t < s2.size(); ++t)
    for (int64_t v = 0; v < V; ++v) d = std::max(d, std::fabs(double(flat[(s1.size() + t) * V + v]) - l2[t][v]));
  EXPECT_LE(d, 1e-4);
}

TEST(LoraInference, Q8_0GgufBaseStaysQuantisedAndIsClose) {
  const LoraGolden g = read_lora_golden();
  TempDir tmp;
  const std::string gguf = tmp.file("tiny-q8_0.gguf");
  {
    auto src = load_model(kTiny);
    build_gguf(src->config(), src->weights(), DType::Q8_0).write(gguf);
  }
  auto q = load_model(gguf, {{kLora + "adapter_a", 1.0}});
  EXPECT_NE(q->weight_dtype_summary().find("Q8_0"), std::string::npos);
  const auto lq = logits_of(*q, g.ids);
  const double d = max_abs_diff(lq, g.a);
  int top1 = 0;
  for (size_t t = 0; t < g.ids.size(); ++t)
    top1 += std::max_element(lq[t].begin(), lq[t].end()) - lq[t].begin() ==
            std::max_element(g.a[t].begin(), g.a[t].end()) - g.a[t].begin();
  // Held to what Q8_0 costs the base alone (the adapter itself moves the logits by ~20).
  auto qbase = load_model(gguf), fbase = load_model(kTiny);
  const double base_d = max_abs_diff(logits_of(*qbase, g.ids), logits_of(*fbase, g.ids));
  std::printf("[lora] Q8_0 base + adapter A vs peft float golden: max |d| %.3f (Q8_0 base alone vs float: %.3f), "
              "top-1 %d/%zu\n", d, base_d, top1, g.ids.size());
  EXPECT_LT(d, 2 * base_d + 0.1);
  EXPECT_GE(top1, static_cast<int>(g.ids.size()) - 1);

  // The same adapter as a llama.cpp GGUF LoRA file gives the same logits on the same base.
  const std::string lora_gguf = tmp.file("adapter_a.gguf");
  write_gguf_lora_adapter(read_lora_adapter(kLora + "adapter_a"), "exaone4", lora_gguf);
  auto q2 = load_model(gguf, {{lora_gguf, 1.0}});
  EXPECT_LE(max_abs_diff(logits_of(*q2, g.ids), lq), 1e-4);
}

LoraAdapter one_pair_adapter(const std::string& target, int64_t in, int64_t out, const std::string& source) {
  LoraAdapter a;
  a.rank = 2;
  a.alpha = 4;
  a.source = source;
  LoraPair p;
  p.target = target;
  p.rank = 2;
  p.in = in;
  p.out = out;
  p.alpha = 4;
  p.a.assign(static_cast<size_t>(2 * in), 0.01f);
  p.b.assign(static_cast<size_t>(2 * out), 0.01f);
  a.pairs.push_back(p);
  return a;
}

TEST(LoraInference, BadAdaptersNameFileAndTensorAndLeaveTheModelAlone) {
  auto m = load_model(kTiny);
  const int64_t H = m->config().hidden;
  struct Case {
    LoraAdapter a;
    std::string expect;
  };
  std::vector<Case> cases;
  cases.push_back({one_pair_adapter("model.layers.9.self_attn.q_proj", H, H, "other-layers.safetensors"), "layer 9"});
  cases.push_back({one_pair_adapter("model.layers.0.self_attn.q_proj", H, H + 1, "wrong-shape"), "[129, 128]"});
  cases.push_back({one_pair_adapter("lm_head", H, m->config().vocab_size, "head-lora"), "unknown target module"});
  cases.push_back({one_pair_adapter("transformer.h.0.attn.attention.q_proj", H, H, "exaone3-names"), "has no tensor"});
  cases.push_back({one_pair_adapter("model.layers.0.mlp.experts.3.up_proj", H, 256, "moe-lora"), "mixture-of-experts"});
  LoraAdapter other_arch = one_pair_adapter("model.layers.0.self_attn.q_proj", H, H, "exaone3.gguf");
  other_arch.arch = "exaone";
  cases.push_back({other_arch, "general.architecture"});
  // A good pair first, then a bad one: nothing of the adapter is applied.
  LoraAdapter half = one_pair_adapter("model.layers.0.self_attn.q_proj", H, H, "half-bad");
  half.pairs.push_back(one_pair_adapter("model.layers.0.mlp.down_proj", H, H, "x").pairs[0]);
  cases.push_back({half, "model.layers.0.mlp.down_proj"});
  for (const Case& c : cases) {
    const std::string e = error_of([&] { m->add_lora(c.a, 1.0); });
    EXPECT_NE(e.find(c.a.source), std::string::npos) << e;
    if (c.expect != "general.architecture") {
      EXPECT_NE(e.find(c.a.pairs.back().target), std::string::npos) << e;
    }
    EXPECT_NE(e.find(c.expect), std::string::npos) << e;
  }
  EXPECT_TRUE(m->loras().empty());
  const LoraGolden g = read_lora_golden();
  auto base = load_model(kTiny);
  EXPECT_EQ(max_abs_diff(logits_of(*m, g.ids), logits_of(*base, g.ids)), 0.0);
}

TEST(LoraInference, MoeExpertLayersAreRefused) {
  const std::string dir = kModels + "kexaone-moe-experts";
  auto m = load_model(dir);
  const ModelConfig& c = m->config();
  int64_t moe_layer = -1;
  for (int64_t l = 0; l < c.n_layers && moe_layer < 0; ++l)
    if (c.is_moe_layer(l)) moe_layer = l;
  ASSERT_GE(moe_layer, 0);
  const std::string target = "model.layers." + std::to_string(moe_layer) + ".mlp.gate_proj";
  const std::string e = error_of([&] { m->add_lora(one_pair_adapter(target, c.hidden, c.intermediate, "moe.gguf"), 1.0); });
  EXPECT_NE(e.find("mixture-of-experts"), std::string::npos) << e;
  // Attention of the same layer is fine.
  const std::string q = "model.layers." + std::to_string(moe_layer) + ".self_attn.q_proj";
  EXPECT_NO_THROW(m->add_lora(one_pair_adapter(q, c.hidden, c.q_dim(), "attn-only"), 1.0));
}

TEST(LoraInference, Exaone3NamesAndMergeMatch) {
  // EXAONE 3.x spells its matrices transformer.h.N.attn.attention.*_proj / mlp.c_fc_0 ...
  const std::string dir = kModels + "exaone3-prenorm";
  auto base = load_model(dir);
  const ModelConfig& c = base->config();
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.f, 0.05f);
  LoraAdapter a;
  a.rank = 2;
  a.alpha = 4;
  a.source = "exaone3-adapter";
  for (const auto& [t, in, out] : std::vector<std::tuple<std::string, int64_t, int64_t>>{
           {"transformer.h.0.attn.attention.out_proj", c.q_dim(), c.hidden},
           {"transformer.h.1.mlp.c_fc_1", c.hidden, c.intermediate},
           {"transformer.h.1.mlp.c_proj", c.intermediate, c.hidden}}) {
    LoraPair p = one_pair_adapter(t, in, out, "").pairs[0];
    for (float& v : p.a) v = nd(rng);
    for (float& v : p.b) v = nd(rng);
    a.pairs.push_back(p);
  }
  TempDir tmp;
  const std::string merged_dir = tmp.file("merged");
  write_merged_checkpoint(*base, dir, merge_lora(base->weights(), a), merged_dir);
  auto merged = load_model(merged_dir);
  base->add_lora(a, 1.0);
  const std::vector<int32_t> ids = {1, 5, 9, 14, 3, 2, 7};
  const double d = max_abs_diff(logits_of(*base, ids), logits_of(*merged, ids));
  EXPECT_LE(d, 1e-4);
}

TEST(LoraInference, SpecParsing) {
  EXPECT_EQ(parse_lora_spec("a/b").path, "a/b");
  EXPECT_EQ(parse_lora_spec("a/b").scale, 1.0);
  EXPECT_EQ(parse_lora_spec("a/b:0.5").path, "a/b");
  EXPECT_EQ(parse_lora_spec("a/b:0.5").scale, 0.5);
  EXPECT_EQ(parse_lora_spec("a/b:-1").scale, -1.0);
  EXPECT_EQ(parse_lora_spec("a:b/c").path, "a:b/c");  // not a number: part of the path
  EXPECT_NE(error_of([] { parse_lora_spec(":2"); }).find("empty adapter path"), std::string::npos);
  EXPECT_NE(error_of([] { parse_lora_spec("x:inf"); }).find("finite"), std::string::npos);
}

}  // namespace
}  // namespace exaone

// LoRA adapter files: PEFT folders and llama.cpp GGUF adapters round-trip (same tensors, same
// config), and every unsupported feature or malformed file is an Error naming the file and field.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include "loaders/gguf.h"
#include "loaders/lora_adapter.h"
#include "loaders/safetensors.h"
#include "util/error.h"
#include "util/json_file.h"
#include "util/mapped_file.h"
#include "test_support.h"

namespace exaone {
namespace {

using test::error_of;
using test::TempDir;

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& tag) {
  static const TempDir root("lora");  // removed with everything in it when the process exits
  static int counter = 0;
  fs::path d = root.path() / (tag + "_" + std::to_string(counter++));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

LoraPair make_pair(const std::string& target, int64_t rank, int64_t in, int64_t out, double alpha, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 0.1f);
  LoraPair p;
  p.target = target;
  p.rank = rank;
  p.in = in;
  p.out = out;
  p.alpha = alpha;
  p.a.resize(static_cast<size_t>(rank * in));
  p.b.resize(static_cast<size_t>(out * rank));
  for (float& v : p.a) v = nd(rng);
  for (float& v : p.b) v = nd(rng);
  return p;
}

LoraAdapter sample_adapter() {
  LoraAdapter a;
  a.rank = 4;
  a.alpha = 8;
  a.dropout = 0.05;
  a.target_modules = {"q_proj", "v_proj", "down_proj"};
  a.base_model = "models/exaone4-tiny";
  a.pairs.push_back(make_pair("model.layers.0.self_attn.q_proj", 4, 64, 64, 8, 1));
  a.pairs.push_back(make_pair("model.layers.0.self_attn.v_proj", 4, 64, 32, 8, 2));
  a.pairs.push_back(make_pair("model.layers.1.mlp.down_proj", 2, 128, 64, 16, 3));  // rank/alpha pattern
  a.pairs.push_back(make_pair("model.layers.10.self_attn.q_proj", 4, 64, 64, 8, 4));
  return a;
}

void expect_same_pairs(const LoraAdapter& x, const LoraAdapter& y, float tol = 0.f) {
  ASSERT_EQ(x.pairs.size(), y.pairs.size());
  for (size_t i = 0; i < x.pairs.size(); ++i) {
    const LoraPair &p = x.pairs[i], &q = y.pairs[i];
    EXPECT_EQ(p.target, q.target);
    EXPECT_EQ(p.rank, q.rank);
    EXPECT_EQ(p.in, q.in);
    EXPECT_EQ(p.out, q.out);
    ASSERT_EQ(p.a.size(), q.a.size());
    ASSERT_EQ(p.b.size(), q.b.size());
    for (size_t k = 0; k < p.a.size(); ++k) ASSERT_NEAR(p.a[k], q.a[k], tol) << p.target;
    // Compare the applied update (scale·B), which is what GGUF preserves when it folds scales.
    const double sp = x.scale_of(p), sq = y.scale_of(q);
    for (size_t k = 0; k < p.b.size(); ++k) ASSERT_NEAR(sp * p.b[k], sq * q.b[k], 1e-6 + tol) << p.target;
  }
}

TEST(LoraAdapter, PeftRoundTrip) {
  const LoraAdapter a = sample_adapter();
  const fs::path dir = temp_dir("peft");
  write_peft_adapter(a, dir.string());
  ASSERT_TRUE(fs::exists(dir / "adapter_config.json"));
  ASSERT_TRUE(fs::exists(dir / "adapter_model.safetensors"));
  EXPECT_FALSE(fs::exists(dir / "adapter_config.json.tmp"));

  const json cfg = read_json_file((dir / "adapter_config.json").string());
  EXPECT_EQ(cfg["peft_type"], "LORA");
  EXPECT_EQ(cfg["task_type"], "CAUSAL_LM");
  EXPECT_EQ(cfg["r"], 4);
  EXPECT_EQ(cfg["lora_alpha"], 8.0);
  EXPECT_EQ(cfg["bias"], "none");
  EXPECT_EQ(cfg["use_dora"], false);
  EXPECT_EQ(cfg["use_rslora"], false);
  EXPECT_EQ(cfg["fan_in_fan_out"], false);
  EXPECT_EQ(cfg["base_model_name_or_path"], "models/exaone4-tiny");
  EXPECT_EQ(cfg["rank_pattern"]["model.layers.1.mlp.down_proj"], 2);
  EXPECT_EQ(cfg["alpha_pattern"]["model.layers.1.mlp.down_proj"], 16.0);

  const LoraAdapter b = read_lora_adapter(dir.string());
  EXPECT_EQ(b.rank, 4);
  EXPECT_EQ(b.alpha, 8);
  EXPECT_DOUBLE_EQ(b.dropout, 0.05);
  EXPECT_EQ(b.target_modules, a.target_modules);
  EXPECT_EQ(b.base_model, a.base_model);
  EXPECT_FALSE(b.use_rslora);
  expect_same_pairs(a, b);
  EXPECT_EQ(b.pairs[2].target, "model.layers.1.mlp.down_proj");  // natural order: 1 before 10
  EXPECT_EQ(b.pairs[2].alpha, 16);
  EXPECT_DOUBLE_EQ(b.scale_of(b.pairs[2]), 8.0);
  EXPECT_DOUBLE_EQ(b.scale_of(b.pairs[0]), 2.0);

  // The config file or the weights file name the same folder.
  expect_same_pairs(a, read_lora_adapter((dir / "adapter_config.json").string()));
  expect_same_pairs(a, read_lora_adapter((dir / "adapter_model.safetensors").string()));
}

TEST(LoraAdapter, PeftPatternsAreRegexesAsPeftMatchesThem) {
  const LoraAdapter a = sample_adapter();
  const fs::path dir = temp_dir("pattern");
  write_peft_adapter(a, dir.string());
  json cfg = read_json_file((dir / "adapter_config.json").string());
  // peft: re.match(r"(.*\.)?(key)$", module) — a short key matches every layer's module.
  cfg["rank_pattern"] = {{"down_proj", 2}};
  cfg["alpha_pattern"] = {{"layers\\.1\\.mlp\\.down_proj", 32}, {"q_proj", 4}};
  std::ofstream((dir / "adapter_config.json").string()) << cfg.dump(2);
  const LoraAdapter b = read_lora_adapter(dir.string());
  EXPECT_EQ(b.pairs[0].alpha, 4);   // layers.0 q_proj
  EXPECT_EQ(b.pairs[1].alpha, 8);   // layers.0 v_proj: lora_alpha
  EXPECT_EQ(b.pairs[2].alpha, 32);  // layers.1 down_proj
  EXPECT_EQ(b.pairs[3].alpha, 4);   // layers.10 q_proj

  cfg["rank_pattern"] = json::object();  // down_proj's rank 2 now disagrees with r = 4
  std::ofstream((dir / "adapter_config.json").string()) << cfg.dump(2);
  const std::string e = error_of([&] { read_lora_adapter(dir.string()); });
  EXPECT_NE(e.find("adapter_model.safetensors"), std::string::npos) << e;
  EXPECT_NE(e.find("model.layers.1.mlp.down_proj"), std::string::npos) << e;
  EXPECT_NE(e.find("rank 2"), std::string::npos) << e;
}

TEST(LoraAdapter, PeftRsLora) {
  LoraAdapter a = sample_adapter();
  a.use_rslora = true;
  const fs::path dir = temp_dir("rslora");
  write_peft_adapter(a, dir.string());
  const LoraAdapter b = read_lora_adapter(dir.string());
  EXPECT_TRUE(b.use_rslora);
  EXPECT_DOUBLE_EQ(b.scale_of(b.pairs[0]), 8.0 / 2.0);  // alpha / sqrt(4)
}

TEST(LoraAdapter, PeftUnsupportedFeaturesNameFileAndField) {
  const fs::path dir = temp_dir("unsupported");
  write_peft_adapter(sample_adapter(), dir.string());
  const std::string cfg_path = (dir / "adapter_config.json").string();
  const json good = read_json_file(cfg_path);
  const std::vector<std::pair<std::string, json>> cases = {
      {"use_dora", true},          {"bias", "all"},       {"fan_in_fan_out", true},
      {"modules_to_save", json::array({"lm_head"})},      {"peft_type", "IA3"},
      {"task_type", "SEQ_CLS"},    {"lora_bias", true},   {"r", 0},
      {"layer_replication", json::array({json::array({0, 1})})},
  };
  for (const auto& [field, value] : cases) {
    json cfg = good;
    cfg[field] = value;
    std::ofstream(cfg_path) << cfg.dump(2);
    const std::string e = error_of([&] { read_lora_adapter(dir.string()); });
    EXPECT_NE(e.find("adapter_config.json"), std::string::npos) << field << ": " << e;
    EXPECT_NE(e.find("'" + field + "'"), std::string::npos) << field << ": " << e;
  }
  std::ofstream(cfg_path) << good.dump(2);
  EXPECT_NO_THROW(read_lora_adapter(dir.string()));
  std::ofstream(cfg_path) << "{not json";
  EXPECT_NE(error_of([&] { read_lora_adapter(dir.string()); }).find("adapter_config.json"), std::string::npos);
}

TEST(LoraAdapter, PeftBadTensorsNameTheTensor) {
  // A missing half, a non-LoRA tensor and a DoRA magnitude vector.
  LoraAdapter a = sample_adapter();
  const fs::path dir = temp_dir("badtensor");
  write_peft_adapter(a, dir.string());
  const fs::path st = dir / "adapter_model.safetensors";
  auto rewrite = [&](const std::string& name, std::vector<int64_t> shape) {
    std::vector<float> data(static_cast<size_t>(shape[0] * (shape.size() > 1 ? shape[1] : 1)), 0.f);
    write_safetensors_f32(st.string(), {{name, shape, data.data()}});
  };
  rewrite("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", {4, 64});
  std::string e = error_of([&] { read_lora_adapter(dir.string()); });
  EXPECT_NE(e.find("model.layers.0.self_attn.q_proj"), std::string::npos) << e;
  EXPECT_NE(e.find("lora_B.weight is missing"), std::string::npos) << e;
  rewrite("base_model.model.model.layers.0.self_attn.q_proj.weight", {64, 64});
  e = error_of([&] { read_lora_adapter(dir.string()); });
  EXPECT_NE(e.find("not a LoRA weight"), std::string::npos) << e;
  rewrite("base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", {64});
  e = error_of([&] { read_lora_adapter(dir.string()); });
  EXPECT_NE(e.find("DoRA"), std::string::npos) << e;

  fs::remove(st);
  e = error_of([&] { read_lora_adapter(dir.string()); });
  EXPECT_NE(e.find("adapter_model.safetensors"), std::string::npos) << e;
  e = error_of([&] { read_lora_adapter((dir / "nothing").string()); });
  EXPECT_NE(e.find("nothing"), std::string::npos) << e;
}

TEST(LoraAdapter, GgufRoundTripAsLlamaCppLaysItOut) {
  LoraAdapter a = sample_adapter();
  const fs::path dir = temp_dir("gguf");
  const std::string path = (dir / "adapter.gguf").string();
  write_gguf_lora_adapter(a, "exaone4", path);

  // The layout llama.cpp's llama_adapter_lora_init checks.
  MappedFile m(path);
  const GgufFile g = parse_gguf(m.data(), m.size(), path);
  EXPECT_EQ(g.get_string("general.type"), "adapter");
  EXPECT_EQ(g.get_string("adapter.type"), "lora");
  EXPECT_EQ(g.get_string("general.architecture"), "exaone4");
  EXPECT_EQ(g.get_float("adapter.lora.alpha"), 8.0);
  const GgufTensorInfo* ta = g.find_tensor("blk.0.attn_q.weight.lora_a");
  const GgufTensorInfo* tb = g.find_tensor("blk.0.attn_v.weight.lora_b");
  ASSERT_TRUE(ta && tb);
  EXPECT_EQ(ta->ne, (std::vector<int64_t>{64, 4}));   // ne[0] = in (= base ne[0]), ne[1] = rank
  EXPECT_EQ(tb->ne, (std::vector<int64_t>{4, 32}));   // ne[0] = rank, ne[1] = out (= base ne[1])
  EXPECT_NE(g.find_tensor("blk.1.ffn_down.weight.lora_a"), nullptr);

  const LoraAdapter b = read_lora_adapter(path);
  EXPECT_EQ(b.arch, "exaone4");
  EXPECT_EQ(b.rank, 4);
  EXPECT_EQ(b.alpha, 8);
  // down_proj (rank 2, alpha 16: scale 8) has its scale ratio folded into B: alpha/rank = 4 there.
  expect_same_pairs(a, b, 1e-7f);
  EXPECT_DOUBLE_EQ(b.scale_of(b.pairs[2]), 4.0);

  // Writing the read-back adapter again gives the same bytes (nothing left to fold).
  const std::string again = (dir / "again.gguf").string();
  write_gguf_lora_adapter(b, "exaone4", again);
  MappedFile m2(again);
  ASSERT_EQ(m.size(), m2.size());
  EXPECT_EQ(std::memcmp(m.data(), m2.data(), m.size()), 0);
}

TEST(LoraAdapter, GgufErrorsNameFileAndTensor) {
  const fs::path dir = temp_dir("gguf_bad");
  const std::string path = (dir / "bad.gguf").string();
  {  // a model file, not an adapter
    GgufWriter w;
    w.set("general.architecture", GgufType::STRING, "exaone4");
    w.add_tensor("blk.0.attn_q.weight", DType::F32, {2, 2}, std::vector<uint8_t>(16, 0));
    w.write(path);
  }
  std::string e = error_of([&] { read_lora_adapter(path); });
  EXPECT_NE(e.find("bad.gguf"), std::string::npos) << e;
  EXPECT_NE(e.find("general.type"), std::string::npos) << e;
  {  // lora_a not transposed: ne[1] of a != ne[0] of b
    GgufWriter w;
    w.set("general.architecture", GgufType::STRING, "exaone4");
    w.set("general.type", GgufType::STRING, "adapter");
    w.set("adapter.type", GgufType::STRING, "lora");
    w.set("adapter.lora.alpha", GgufType::F32, 8.0);
    w.add_tensor("blk.0.attn_q.weight.lora_a", DType::F32, {64, 4}, std::vector<uint8_t>(64 * 4 * 4, 0));
    w.add_tensor("blk.0.attn_q.weight.lora_b", DType::F32, {64, 4}, std::vector<uint8_t>(64 * 4 * 4, 0));
    w.write(path);
  }
  e = error_of([&] { read_lora_adapter(path); });
  EXPECT_NE(e.find("blk.0.attn_q.weight"), std::string::npos) << e;
  {  // a tensor llama.cpp would not pair
    GgufWriter w;
    w.set("general.architecture", GgufType::STRING, "exaone4");
    w.set("general.type", GgufType::STRING, "adapter");
    w.set("adapter.type", GgufType::STRING, "lora");
    w.add_tensor("blk.0.attn_q.weight.lora_c", DType::F32, {4, 4}, std::vector<uint8_t>(64, 0));
    w.write(path);
  }
  e = error_of([&] { read_lora_adapter(path); });
  EXPECT_NE(e.find("blk.0.attn_q.weight.lora_c"), std::string::npos) << e;
  std::ofstream(path, std::ios::trunc) << "neither GGUF nor PEFT";
  e = error_of([&] { read_lora_adapter(path); });
  EXPECT_NE(e.find("not a LoRA adapter"), std::string::npos) << e;
}

TEST(LoraAdapter, WriterRejectsInconsistentPairs) {
  LoraAdapter a = sample_adapter();
  a.pairs[1].b.pop_back();
  const fs::path dir = temp_dir("inconsistent");
  const std::string e = error_of([&] { write_peft_adapter(a, dir.string()); });
  EXPECT_NE(e.find("model.layers.0.self_attn.v_proj"), std::string::npos) << e;
}

}  // namespace
}  // namespace exaone

// K-EXAONE (exaone_moe): malformed MoE checkpoints give one Error naming file and field/tensor;
// routing rules on hand-made logits; batched MoE forward equals sequences run alone.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "golden.h"
#include "loaders/gguf.h"
#include "models/gguf_model.h"
#include "models/model.h"
#include "models/moe.h"
#include "util/error.h"
#include "util/json_file.h"

namespace exaone {
namespace {

namespace fs = std::filesystem;
const fs::path kModels = fs::path(EXAONE_FIXTURES) / "models";

// Damaged copies live in the temp folder until the test binary ends.
std::vector<fs::path>& copies() {
  static std::vector<fs::path> dirs;
  return dirs;
}
class RemoveCopies : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ec;
    for (const auto& d : copies()) fs::remove_all(d, ec);
  }
};
const auto* const kRemoveCopies = ::testing::AddGlobalTestEnvironment(new RemoveCopies);

fs::path copy_fixture(const std::string& name, const std::string& tag) {
  fs::path dir = fs::temp_directory_path() / ("exaone_moe_bad_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  copies().push_back(dir);
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(kModels / name)) fs::copy_file(e.path(), dir / e.path().filename());
  return dir;
}

void edit_config(const fs::path& dir, const std::function<void(json&)>& fn) {
  json j = read_json_file((dir / "config.json").string());
  fn(j);
  std::ofstream((dir / "config.json").string()) << j.dump(2);
}

// Rewrites the safetensors header of `file` (tensor data unchanged).
void edit_header(const fs::path& file, const std::function<void(json&)>& fn) {
  std::ifstream in(file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  json h = json::parse(bytes.substr(8, n));
  fn(h);
  std::string text = h.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t m = text.size();
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(&m), 8);
  out << text << bytes.substr(8 + n);
}

std::string load_error(const fs::path& dir) {
  try {
    load_model(dir.string());
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void expect_error(const fs::path& dir, const std::vector<std::string>& parts) {
  const std::string e = load_error(dir);
  ASSERT_FALSE(e.empty()) << "loaded without error";
  for (const auto& p : parts) EXPECT_NE(e.find(p), std::string::npos) << "'" << p << "' not in: " << e;
}

TEST(MoeBadCheckpoint, GroupsMustDivideExperts) {
  auto d = copy_fixture("kexaone-moe-experts", "ngroup");
  edit_config(d, [](json& j) { j["n_group"] = 3; });
  expect_error(d, {"config.json", "field 'n_group' (3) does not divide num_experts (8)"});
}

TEST(MoeBadCheckpoint, TopkGroupsTooSmallForTopk) {
  auto d = copy_fixture("kexaone-moe-fused", "topkgroup");
  edit_config(d, [](json& j) { j["topk_group"] = 1; });  // 1 group of 2 experts < top-3
  expect_error(d, {"config.json", "field 'topk_group' (1) x group size (2) is smaller than num_experts_per_tok (3)"});
  edit_config(d, [](json& j) { j["topk_group"] = 5; });
  expect_error(d, {"config.json", "field 'topk_group' (5) exceeds n_group (4)"});
}

TEST(MoeBadCheckpoint, TopkBeyondExperts) {
  auto d = copy_fixture("kexaone-moe-experts", "topk");
  edit_config(d, [](json& j) { j["num_experts_per_tok"] = 9; });
  expect_error(d, {"config.json", "field 'num_experts_per_tok' (9) exceeds num_experts (8)"});
  edit_config(d, [](json& j) {
    j["num_experts_per_tok"] = 2;
    j["num_experts"] = 0;
  });
  expect_error(d, {"config.json", "field 'num_experts' must be positive"});
}

TEST(MoeBadCheckpoint, WrongExpertCount) {
  // Per-expert names: the file holds experts 0..7, the config counts 6.
  auto d = copy_fixture("kexaone-moe-experts", "count");
  edit_config(d, [](json& j) { j["num_experts"] = 6; });
  expect_error(d, {"model.safetensors",
                   "tensor 'model.layers.1.mlp.experts.6.gate_proj.weight' is beyond field 'num_experts' (6)"});
  // Fused layout: the router (and the stacked tensors) have 8 rows.
  auto f = copy_fixture("kexaone-moe-fused", "count_fused");
  edit_config(f, [](json& j) { j["num_experts"] = 6; j["n_group"] = 3; });
  expect_error(f, {"model.safetensors", "tensor 'model.layers.1.mlp.gate.weight' has shape [8, 64], config expects [6, 64]"});
  // A missing router is named.
  auto m = copy_fixture("kexaone-moe-fused", "router");
  edit_header(m / "model.safetensors", [](json& h) { h.erase("model.layers.3.mlp.gate.weight"); });
  expect_error(m, {"missing tensor 'model.layers.3.mlp.gate.weight'"});
}

TEST(MoeBadCheckpoint, WrongExpertShape) {
  auto d = copy_fixture("kexaone-moe-fused", "shape");
  edit_config(d, [](json& j) { j["moe_intermediate_size"] = 16; });
  expect_error(d, {"model.safetensors", "tensor 'model.layers.1.mlp.experts.gate_up_proj' has shape [8, 64, 64], "
                                        "config expects [8, 32, 64]"});
  auto e = copy_fixture("kexaone-moe-experts", "shape2");
  edit_config(e, [](json& j) { j["moe_intermediate_size"] = 16; });
  expect_error(e, {"model.safetensors", "tensor 'model.layers.1.mlp.experts.0.gate_proj.weight' has shape [32, 64]"});
}

TEST(MoeBadCheckpoint, BiasOfWrongLength) {
  auto d = copy_fixture("kexaone-moe-experts", "bias");
  // Same 32 bytes read as 16 F16 values: a bias for 16 experts.
  edit_header(d / "model.safetensors", [](json& h) {
    auto& t = h["model.layers.1.mlp.e_score_correction_bias"];
    t["dtype"] = "F16";
    t["shape"] = json::array({16});
  });
  expect_error(d, {"model.safetensors", "tensor 'model.layers.1.mlp.e_score_correction_bias' has shape [16], "
                                        "config expects [8]"});
}

TEST(MoeBadCheckpoint, BadMlpLayerTypes) {
  auto d = copy_fixture("kexaone-moe-fused", "mlptypes");
  edit_config(d, [](json& j) { j["mlp_layer_types"][1] = "moe"; });
  expect_error(d, {"config.json", "field 'mlp_layer_types'[1]: unknown MLP type \"moe\""});
  edit_config(d, [](json& j) { j["mlp_layer_types"] = json::array({"dense"}); });
  expect_error(d, {"config.json", "field 'mlp_layer_types' has 1 entries for 4 layers"});
}

TEST(MoeCheckpoint, LayoutFromConfig) {
  auto a = load_model((kModels / "kexaone-moe-experts").string());
  const auto& c = a->config();
  EXPECT_EQ(c.family, Family::ExaoneMoe);
  EXPECT_EQ(c.layer_moe, (std::vector<bool>{false, true, true, true}));  // first_k_dense_replace 1
  EXPECT_EQ(c.n_experts, 8);
  EXPECT_EQ(c.n_experts_used, 2);
  EXPECT_EQ(c.n_group, 2);
  // The mtp.* tensors stay in the store (bound as the MTP layer: mtp_test.cpp).
  EXPECT_NE(a->weights().find("mtp.fc.weight"), nullptr);
  auto b = load_model((kModels / "kexaone-moe-fused").string());
  EXPECT_EQ(b->config().layer_moe, (std::vector<bool>{false, true, false, true}));  // mlp_layer_types wins
  EXPECT_EQ(b->config().n_shared_experts, 2);
  EXPECT_FALSE(b->config().norm_topk_prob);
}

ModelConfig route_config(int64_t E, int64_t K, int64_t G, int64_t TG, bool norm, double scale) {
  ModelConfig c;
  c.n_experts = E;
  c.n_experts_used = K;
  c.n_group = G;
  c.topk_group = TG;
  c.norm_topk_prob = norm;
  c.routed_scaling = scale;
  return c;
}

float logit(float p) { return std::log(p / (1 - p)); }

TEST(MoeRoute, BiasChoosesScoresWeigh) {
  // 4 experts, 1 group, top-2. Scores .9 .8 .3 .2; the bias lifts expert 3 above expert 1.
  const ModelConfig c = route_config(4, 2, 1, 1, true, 2.0);
  const float lg[4] = {logit(.9f), logit(.8f), logit(.3f), logit(.2f)};
  const float bias[4] = {0, 0, 0, 0.7f};
  int32_t ex[2];
  float w[2];
  moe_route(c, lg, bias, 1, ex, w);
  EXPECT_EQ(ex[0], 0);
  EXPECT_EQ(ex[1], 3);
  // Weights from the unbiased scores, normalised, scaled.
  EXPECT_NEAR(w[0], 2.0 * .9 / 1.1, 1e-5);
  EXPECT_NEAR(w[1], 2.0 * .2 / 1.1, 1e-5);
}

TEST(MoeRoute, GroupScoreIsSumOfTwoBest) {
  // 2 groups of 3. Group 0 has the single best expert (.95) but its second is poor (.1);
  // group 1's two best (.7 + .6) sum higher, so with topk_group 1 only group 1 is open.
  const ModelConfig c = route_config(6, 2, 2, 1, false, 1.0);
  const float lg[6] = {logit(.95f), logit(.1f), logit(.05f), logit(.7f), logit(.6f), logit(.5f)};
  int32_t ex[2];
  float w[2];
  moe_route(c, lg, nullptr, 1, ex, w);
  EXPECT_EQ(ex[0], 3);
  EXPECT_EQ(ex[1], 4);
  EXPECT_NEAR(w[0], .7, 1e-5);  // not normalised
  EXPECT_NEAR(w[1], .6, 1e-5);
}

// Sequences of different lengths and histories in one batch give the logits each gives alone:
// tokens of several sequences share the per-expert GEMMs without mixing.
TEST(MoeBatching, MixedLengthsMatchSeparateRuns) {
  for (const char* name : {"kexaone-moe-experts", "kexaone-moe-fused"}) {
    auto model = load_model((kModels / name).string());
    Golden g = read_golden((kModels / name).string());
    const int64_t V = model->config().vocab_size;
    std::vector<int32_t> a(g.ids.begin(), g.ids.begin() + 9), b(g.ids.begin() + 4, g.ids.end()), c{7};
    auto run_alone = [&](const std::vector<int32_t>& ids) {
      auto cache = model->new_cache();
      std::vector<float> logits;
      SequenceChunk s{ids, cache.get(), true};
      model->forward({&s, 1}, logits);
      return logits;
    };
    auto ca = model->new_cache(), cb = model->new_cache(), cc = model->new_cache();
    std::vector<int32_t> hist{9, 8, 7, 6, 5};
    std::vector<float> tmp;
    SequenceChunk h{hist, cb.get(), false};
    model->forward({&h, 1}, tmp);
    std::vector<SequenceChunk> batch{{a, ca.get(), true}, {b, cb.get(), true}, {c, cc.get(), true}};
    std::vector<float> logits;
    model->forward(batch, logits);
    ASSERT_EQ(logits.size(), (a.size() + b.size() + c.size()) * V);
    std::vector<int32_t> hb = hist;
    hb.insert(hb.end(), b.begin(), b.end());
    auto ra = run_alone(a), rb = run_alone(hb), rc = run_alone(c);
    for (size_t i = 0; i < a.size() * V; ++i) ASSERT_NEAR(logits[i], ra[i], 1e-4) << name;
    const size_t off_b = a.size() * V;
    for (size_t i = 0; i < b.size() * V; ++i) ASSERT_NEAR(logits[off_b + i], rb[hist.size() * V + i], 1e-4) << name;
    const size_t off_c = off_b + b.size() * V;
    for (int64_t v = 0; v < V; ++v) ASSERT_NEAR(logits[off_c + v], rc[v], 1e-4) << name;
  }
}

// llama.cpp's K-EXAONE GGUFs count the MTP (NextN) blocks in block_count and store them as
// blk.<L>.*: the base model skips them and still matches the golden.
TEST(MoeGguf, NextNBlocksAreSkipped) {
  const std::string dir = (kModels / "kexaone-moe-experts").string();
  auto src = load_model(dir);
  const int64_t L = src->config().n_layers, H = src->config().hidden;
  // Without the mtp.* tensors (convert would write them as a complete NextN block): an incomplete block here.
  WeightStore main_only;
  for (const auto& [name, t] : src->weights().tensors())
    if (name.rfind("mtp.", 0) != 0) main_only.add(t);
  GgufWriter w = build_gguf(src->config(), main_only, DType::F32);
  w.set("exaone-moe.block_count", GgufType::U32, L + 1);
  w.set("exaone-moe.nextn_predict_layers", GgufType::U32, 1);
  const std::string b = "blk." + std::to_string(L) + ".";
  w.add_tensor(b + "nextn.eh_proj.weight", DType::F32, {H, 2 * H}, std::vector<uint8_t>(H * 2 * H * 4));
  w.add_tensor(b + "nextn.enorm.weight", DType::F32, {H}, std::vector<uint8_t>(H * 4));
  w.add_tensor(b + "attn_norm.weight", DType::F32, {H}, std::vector<uint8_t>(H * 4));
  const fs::path out = fs::temp_directory_path() / ("exaone_moe_nextn_" + std::to_string(::getpid()) + ".gguf");
  w.write(out.string());
  auto m = load_model(out.string());
  EXPECT_EQ(m->config().n_layers, L);
  EXPECT_EQ(m->config().family, Family::ExaoneMoe);
  EXPECT_EQ(m->config().model_type, "exaone_moe");  // the HF spelling, which chat-format detection knows
  EXPECT_EQ(m->config().layer_moe, src->config().layer_moe);
  Golden g = read_golden(dir);
  auto cache = m->new_cache();
  std::vector<float> logits;
  SequenceChunk c{g.ids, cache.get(), true};
  m->forward({&c, 1}, logits);
  const int64_t V = m->config().vocab_size;
  double worst = 0;
  for (size_t t = 0; t < g.ids.size(); ++t)
    for (int64_t v = 0; v < V; ++v) worst = std::max(worst, std::fabs(double(logits[t * V + v]) - g.logits[t][v]));
  EXPECT_LT(worst, 1e-3);
  fs::remove(out);
}

// Quantised routed experts repacked into the interleaved layout (a model that fits in memory) give
// the logits of the same experts read in the file layout (a model larger than RAM): the same integer
// block sums, summed in another float order.
TEST(MoeGguf, RepackedExpertsMatchTheFileLayout) {
  const fs::path out = fs::temp_directory_path() / ("exaone_moe_q8_" + std::to_string(::getpid()) + ".gguf");
  convert_to_gguf((kModels / "kexaone-moe-experts").string(), out.string(), DType::Q8_0, true);
  std::vector<float> logits[2];
  const std::vector<int32_t> ids = read_golden((kModels / "kexaone-moe-experts").string()).ids;
  for (int repack = 0; repack < 2; ++repack) {
    ::setenv("EXAONE_REPACK_EXPERTS", repack ? "1" : "0", 1);
    auto m = load_model(out.string());
    auto cache = m->new_cache();
    SequenceChunk c{ids, cache.get(), true};
    m->forward({&c, 1}, logits[repack]);
  }
  ::unsetenv("EXAONE_REPACK_EXPERTS");
  ASSERT_EQ(logits[0].size(), logits[1].size());
  double worst = 0, scale = 0;
  for (size_t i = 0; i < logits[0].size(); ++i) {
    worst = std::max(worst, std::fabs(double(logits[0][i]) - logits[1][i]));
    scale = std::max(scale, std::fabs(double(logits[0][i])));
  }
  EXPECT_LT(worst, 1e-4 * (1 + scale));
  fs::remove(out);
}

}  // namespace
}  // namespace exaone

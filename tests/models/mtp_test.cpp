// The multi-token-prediction (MTP) layers of K-EXAONE and EXAONE 4.5: bound from mtp.*, the attention
// type from the config, logits equal to the float64 references of make_moe_fixtures.py and
// make_exaone45_fixtures.py (spec_mtp) for the prompt's pairs and a chained draft step, however the
// pairs are split into chunks; bad inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "golden.h"
#include "models/model.h"
#include "util/error.h"
#include "util/json_file.h"

namespace exaone {
namespace {

namespace fs = std::filesystem;
const fs::path kModels = fs::path(EXAONE_FIXTURES) / "models";

struct MtpGolden {
  std::vector<int32_t> ids;
  int32_t draft_token = 0;
  std::vector<std::vector<float>> logits;  // pairs p = 0..len-2, then the chained step
};

MtpGolden read_mtp_golden(const fs::path& dir) {
  json j = read_json_file((dir / "mtp_golden.json").string());
  MtpGolden g;
  for (const auto& v : j["ids"]) g.ids.push_back(v.get<int32_t>());
  g.draft_token = j["draft_token"].get<int32_t>();
  for (const auto& row : j["logits"]) g.logits.push_back(row.get<std::vector<float>>());
  return g;
}

double max_diff(const float* a, const std::vector<float>& b) {
  double worst = 0;
  for (size_t i = 0; i < b.size(); ++i) worst = std::max(worst, std::fabs(double(a[i]) - b[i]));
  return worst;
}

TEST(Mtp, LayerTypeFromConfig) {
  auto a = load_model((kModels / "kexaone-moe-experts").string());
  ASSERT_TRUE(a->has_mtp());
  const ModelConfig& c = a->config();
  EXPECT_EQ(c.mtp_layers, 1);
  EXPECT_FALSE(c.mtp_sliding);  // mtp_layer_types ["full_attention"], as released: global, NoPE
  EXPECT_FALSE(c.mtp_rope);
  auto b = load_model((kModels / "kexaone-moe-fused").string());
  ASSERT_TRUE(b->has_mtp());
  EXPECT_TRUE(b->config().mtp_sliding);  // no mtp_* keys: main layer 0's type (sliding, window 3)
  EXPECT_EQ(b->config().mtp_window, 3);
  EXPECT_TRUE(b->config().mtp_rope);
  // The MTP layer is not part of the model's parameter count (transformers does not load it).
  EXPECT_EQ(b->parameter_count(), read_json_file((kModels / "kexaone-moe-fused" / "golden_info.json").string())["params"]
                                      .get<int64_t>());
}

// Hidden states of the main model for every position, final-normed (forward_hidden).
std::vector<float> main_hidden(Model& m, const std::vector<int32_t>& ids) {
  auto cache = m.new_cache();
  std::vector<float> logits, hidden;
  SequenceChunk c{ids, cache.get(), true};
  m.forward_hidden({&c, 1}, logits, hidden);
  // forward_hidden's logits are forward()'s.
  std::vector<float> again;
  auto cache2 = m.new_cache();
  SequenceChunk c2{ids, cache2.get(), true};
  m.forward(std::span<const SequenceChunk>(&c2, 1), again);
  EXPECT_EQ(again, logits);
  EXPECT_EQ(hidden.size(), ids.size() * static_cast<size_t>(m.config().hidden));
  return hidden;
}

void check_reference(const std::string& name, double tol) {
  SCOPED_TRACE(name);
  const fs::path dir = kModels / name;
  auto m = load_model(dir.string());
  const MtpGolden g = read_mtp_golden(dir);
  const int64_t H = m->config().hidden, V = m->config().vocab_size, T = static_cast<int64_t>(g.ids.size());
  ASSERT_EQ(static_cast<int64_t>(g.logits.size()), T);
  const std::vector<float> h = main_hidden(*m, g.ids);
  std::vector<int32_t> next(g.ids.begin() + 1, g.ids.end());

  // All pairs in one chunk, logits for every row.
  auto cache = m->new_mtp_cache();
  std::vector<float> logits, out;
  MtpChunk c{next, h.data(), cache.get(), T - 1};
  m->mtp_forward({&c, 1}, logits, out);
  double worst = 0;
  for (int64_t p = 0; p < T - 1; ++p) worst = std::max(worst, max_diff(logits.data() + p * V, g.logits[p]));
  EXPECT_LT(worst, tol);
  int best = 0;
  for (int v = 1; v < V; ++v)
    if (logits[(T - 2) * V + v] > logits[(T - 2) * V + best]) best = v;
  EXPECT_EQ(best, g.draft_token);
  // The chained draft step: the last row's own hidden state with the drafted token, next position.
  const std::vector<float> last(out.end() - H, out.end());
  std::vector<float> logits2, out2;
  MtpChunk d{std::span<const int32_t>(&g.draft_token, 1), last.data(), cache.get(), 1};
  m->mtp_forward({&d, 1}, logits2, out2);
  EXPECT_LT(max_diff(logits2.data(), g.logits[T - 1]), tol);

  // The same pairs in chunks of 1, 2 and 3 through one cache (sliding ring crossed): the same.
  auto split = m->new_mtp_cache();
  std::vector<float> l3, o3;
  const int sizes[] = {1, 2, 3};
  int64_t p = 0;
  for (int k = 0; p < T - 1; ++k) {
    const int64_t n = std::min<int64_t>(sizes[k % 3], T - 1 - p);
    MtpChunk s{std::span<const int32_t>(next.data() + p, n), h.data() + p * H, split.get(), n};
    m->mtp_forward({&s, 1}, l3, o3);
    EXPECT_LT(max_diff(l3.data(), std::vector<float>(logits.begin() + p * V, logits.begin() + (p + n) * V)), 1e-4)
        << "chunk at " << p;
    p += n;
  }
}

TEST(Mtp, MatchesReference) {
  check_reference("kexaone-moe-experts", 1e-3);  // BF16 weights, float32 compute vs float64
  check_reference("kexaone-moe-fused", 1e-3);
}

TEST(Mtp, Exaone45PostNormLayerMatchesReference) {
  auto m = load_model((kModels / "exaone45-text").string());
  ASSERT_TRUE(m->has_mtp());
  // Main layer 0's type (LLLG: sliding, window 4, RoPE), as SGLang's one-layer Exaone4Model has it.
  EXPECT_TRUE(m->config().mtp_sliding);
  EXPECT_EQ(m->config().mtp_window, m->config().sliding_window);
  EXPECT_TRUE(m->config().mtp_rope);
  check_reference("exaone45-text", 1e-3);
}

TEST(Mtp, ModelsWithoutMtpSaySo) {
  auto m = load_model((kModels / "exaone4-hybrid-layertypes").string());
  EXPECT_FALSE(m->has_mtp());
  try {
    m->new_mtp_cache();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no multi-token-prediction (MTP) layer"), std::string::npos) << e.what();
  }
}

fs::path copy_fixture(const std::string& name, const std::string& tag) {
  fs::path dir = fs::temp_directory_path() / ("exaone_mtp_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(kModels / name)) fs::copy_file(e.path(), dir / e.path().filename());
  return dir;
}

std::string load_error(const fs::path& dir) {
  try {
    load_model(dir.string());
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Mtp, BadInputs) {
  {  // an MTP layer missing a tensor
    auto d = copy_fixture("kexaone-moe-fused", "missing");
    const fs::path file = d / "model.safetensors";
    std::ifstream in(file, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    in.close();
    uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    json h = json::parse(bytes.substr(8, n));
    h.erase("mtp.layers.0.mlp.up_proj.weight");
    std::string text = h.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    const uint64_t m = text.size();
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(&m), 8);
    out << text << bytes.substr(8 + n);
    out.close();
    const std::string e = load_error(d);
    EXPECT_NE(e.find("mtp.layers.0.mlp.up_proj.weight"), std::string::npos) << e;
    fs::remove_all(d);
  }
  {  // an unknown MTP layer type
    auto d = copy_fixture("kexaone-moe-experts", "type");
    json j = read_json_file((d / "config.json").string());
    j["mtp_layer_types"] = json::array({"chunked_attention"});
    std::ofstream((d / "config.json").string()) << j.dump(2);
    const std::string e = load_error(d);
    EXPECT_NE(e.find("field 'mtp_layer_types'[0]: unknown layer type \"chunked_attention\""), std::string::npos) << e;
    fs::remove_all(d);
  }
}

}  // namespace
}  // namespace exaone

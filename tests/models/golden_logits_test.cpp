// Logits of every fixture checkpoint against golden values from HF transformers (float32),
// plus properties of the forward pass: incremental == full recompute, batching == one by one,
// sliding-layer memory bounded, layer layouts as the reference resolves them.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "models/model.h"
#include "golden.h"
#include "util/error.h"
#include "util/json_file.h"

namespace exaone {
namespace {

const std::string kModels = std::string(EXAONE_FIXTURES) + "/models/";

std::vector<std::string> fixture_names() {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(kModels))
    if (e.is_directory() && std::filesystem::exists(e.path() / "golden.json")) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<float> run_full(Model& m, const std::vector<int32_t>& ids) {
  auto cache = m.new_cache();
  std::vector<float> logits;
  SequenceChunk c{ids, cache.get(), true};
  m.forward({&c, 1}, logits);
  return logits;
}

class GoldenLogits : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenLogits, EveryPositionWithin1e3) {
  const std::string dir = kModels + GetParam();
  auto model = load_model(dir);
  Golden g = read_golden(dir);
  const int64_t V = model->config().vocab_size;
  std::vector<float> logits = run_full(*model, g.ids);
  ASSERT_EQ(logits.size(), g.ids.size() * V);
  double worst = 0;
  for (size_t t = 0; t < g.ids.size(); ++t) {
    ASSERT_EQ(static_cast<int64_t>(g.logits[t].size()), V);
    for (int64_t v = 0; v < V; ++v) worst = std::max(worst, std::fabs(double(logits[t * V + v]) - g.logits[t][v]));
  }
  EXPECT_LT(worst, 1e-3) << GetParam();
  RecordProperty("max_abs_diff", std::to_string(worst));
}

TEST_P(GoldenLogits, LayerLayoutAndParameterCount) {
  const std::string dir = kModels + GetParam();
  if (!std::filesystem::exists(dir + "/golden_info.json")) GTEST_SKIP() << "no golden_info.json";
  json info = read_json_file(dir + "/golden_info.json");
  auto model = load_model(dir);
  const auto& c = model->config();
  ASSERT_EQ(static_cast<size_t>(c.n_layers), info["layers"].size());
  for (int64_t l = 0; l < c.n_layers; ++l) {
    EXPECT_EQ(c.layer_sliding[l], info["layers"][l]["sliding"].get<bool>()) << "layer " << l;
    EXPECT_EQ(c.layer_rope[l], info["layers"][l]["rope"].get<bool>()) << "layer " << l;
  }
  if (info["sliding_window"].is_null()) EXPECT_EQ(c.sliding_window, 0);
  else EXPECT_EQ(c.sliding_window, info["sliding_window"].get<int64_t>());
  EXPECT_EQ(model->parameter_count(), info["params"].get<int64_t>());
}

// Token-by-token decoding (and uneven chunks) must give what one full pass gives.
TEST_P(GoldenLogits, IncrementalEqualsFullRecompute) {
  const std::string dir = kModels + GetParam();
  auto model = load_model(dir);
  Golden g = read_golden(dir);
  const int64_t V = model->config().vocab_size;
  std::vector<float> full = run_full(*model, g.ids);
  for (int chunk : {1, 3, 5}) {
    auto cache = model->new_cache();
    size_t pos = 0;
    while (pos < g.ids.size()) {
      size_t n = std::min<size_t>(chunk, g.ids.size() - pos);
      std::vector<int32_t> part(g.ids.begin() + pos, g.ids.begin() + pos + n);
      std::vector<float> logits;
      SequenceChunk c{part, cache.get(), true};
      model->forward({&c, 1}, logits);
      for (size_t t = 0; t < n; ++t)
        for (int64_t v = 0; v < V; ++v)
          ASSERT_NEAR(logits[t * V + v], full[(pos + t) * V + v], 1e-4) << "chunk " << chunk << " pos " << pos + t;
      pos += n;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GoldenLogits, ::testing::ValuesIn(fixture_names()),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (auto& ch : s)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return s;
                         });

TEST(PatternSpellings, ResolveToIdenticalLogits) {
  auto a = load_model(kModels + "exaone4-hybrid-layertypes");
  auto b = load_model(kModels + "exaone4-hybrid-pattern-str");
  auto c = load_model(kModels + "exaone4-hybrid-pattern-int");
  EXPECT_EQ(a->config().layer_sliding, b->config().layer_sliding);
  EXPECT_EQ(a->config().layer_sliding, c->config().layer_sliding);
  EXPECT_EQ(a->config().layer_rope, b->config().layer_rope);
  Golden g = read_golden(kModels + "exaone4-hybrid-layertypes");
  auto la = run_full(*a, g.ids), lb = run_full(*b, g.ids), lc = run_full(*c, g.ids);
  EXPECT_EQ(la, lb);
  EXPECT_EQ(la, lc);
}

// Sequences of different lengths in one batch, each with its own cache and history, give the
// same logits as running them alone (continuous batching).
TEST(Batching, MixedLengthsMatchSeparateRuns) {
  auto model = load_model(kModels + "exaone4-hybrid-layertypes");
  Golden g = read_golden(kModels + "exaone4-hybrid-layertypes");
  const int64_t V = model->config().vocab_size;
  std::vector<int32_t> a(g.ids.begin(), g.ids.begin() + 7), b(g.ids.begin() + 3, g.ids.end()), c{5};
  auto ca = model->new_cache(), cb = model->new_cache(), cc = model->new_cache();
  // Give sequence b some history first.
  std::vector<int32_t> hist{9, 8, 7};
  std::vector<float> tmp;
  SequenceChunk h{hist, cb.get(), false};
  model->forward({&h, 1}, tmp);
  std::vector<SequenceChunk> batch{{a, ca.get(), true}, {b, cb.get(), false}, {c, cc.get(), true}};
  std::vector<float> logits;
  model->forward(batch, logits);
  ASSERT_EQ(logits.size(), (a.size() + 1 + c.size()) * V);

  auto alone = [&](std::vector<int32_t> prefix, const std::vector<int32_t>& toks) {
    prefix.insert(prefix.end(), toks.begin(), toks.end());
    return run_full(*model, prefix);
  };
  auto ra = alone({}, a), rb = alone(hist, b), rc = alone({}, c);
  for (size_t i = 0; i < a.size() * V; ++i) ASSERT_NEAR(logits[i], ra[i], 1e-4);
  const size_t off_b = a.size() * V, last_b = (hist.size() + b.size() - 1) * V;
  for (int64_t v = 0; v < V; ++v) ASSERT_NEAR(logits[off_b + v], rb[last_b + v], 1e-4);
  const size_t off_c = off_b + V;
  for (int64_t v = 0; v < V; ++v) ASSERT_NEAR(logits[off_c + v], rc[v], 1e-4);
}

TEST(KVCacheMemory, SlidingLayersStopGrowingAtTheWindow) {
  auto model = load_model(kModels + "exaone4-hybrid-layertypes");
  const auto& cfg = model->config();
  ASSERT_GT(cfg.sliding_window, 0);
  auto cache = model->new_cache();
  std::vector<float> logits;
  int64_t n_sliding = 0, n_global = 0;
  for (int64_t l = 0; l < cfg.n_layers; ++l) (cfg.layer_sliding[l] ? n_sliding : n_global)++;
  size_t after_window = 0;
  for (int step = 0; step < 300; ++step) {
    std::vector<int32_t> tok{static_cast<int32_t>(step % 200 + 3)};
    SequenceChunk c{tok, cache.get(), false};
    model->forward({&c, 1}, logits);
    if (step == cfg.sliding_window) after_window = cache->bytes_allocated();
    for (int64_t l = 0; l < cfg.n_layers; ++l) {
      PastKV p = cache->past(l);
      if (cfg.layer_sliding[l]) {
        EXPECT_EQ(p.ring, cfg.sliding_window + KVCache::kRingSlack);
      }
    }
  }
  // Sliding layers hold their window and a fixed slack (KVCache::kRingSlack); only global layers grow.
  const size_t per_pos = static_cast<size_t>(2 * cfg.kv_dim()) * sizeof(float);
  EXPECT_EQ(KVCache::bytes_for_context(cfg, 300),
            per_pos * (n_global * 300 + n_sliding * std::min<int64_t>(300, cfg.sliding_window + KVCache::kRingSlack)));
  EXPECT_EQ(KVCache::bytes_for_context(cfg, 100000) - KVCache::bytes_for_context(cfg, 99000), per_pos * n_global * 1000);
  EXPECT_GT(after_window, 0u);
  EXPECT_LE(cache->bytes_allocated(), 2 * KVCache::bytes_for_context(cfg, 300) + per_pos * 256 * cfg.n_layers);
}

TEST(ContextLimit, ExceedingMaxContextIsAnError) {
  auto model = load_model(kModels + "exaone4-hybrid-layertypes");
  auto cache = model->new_cache(4);
  std::vector<int32_t> toks{1, 2, 3, 4, 5};
  std::vector<float> logits;
  SequenceChunk c{toks, cache.get(), false};
  EXPECT_THROW(model->forward({&c, 1}, logits), Error);
}

}  // namespace
}  // namespace exaone

// LoRA and QLoRA-style fine-tuning (src/train/lora.*): the adapter's backward against finite
// differences through the whole model (dx through the frozen base and the adapter of every layer
// above), merge = unmerged, a frozen base that never changes, dropout only while training, and a
// base loaded from a Q8_0 GGUF kept quantized whose losses track the float base.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "kernels/matmul.h"
#include "loaders/lora_adapter.h"
#include "models/gguf_model.h"
#include "models/model.h"
#include "train/lora.h"
#include "train/model.h"
#include "train/optim.h"
#include "train/rng.h"
#include "util/error.h"
#include "run_exaone.h"

namespace exaone::train {
namespace {

namespace fs = std::filesystem;
const fs::path kFix = EXAONE_FIXTURES;
const fs::path kRepo = fs::path(EXAONE_FIXTURES).parent_path().parent_path();

ModelConfig tiny(const std::string& family) {
  json j;
  if (family == "exaone4") {
    j = {{"model_type", "exaone4"}, {"vocab_size", 40}, {"hidden_size", 16}, {"intermediate_size", 24},
         {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"head_dim", 4},
         {"max_position_embeddings", 64}, {"tie_word_embeddings", false}, {"sliding_window", 3},
         {"layer_types", {"sliding_attention", "full_attention"}}, {"rope_theta", 10000.0}};
  } else {
    j = {{"model_type", "exaone"}, {"vocab_size", 40}, {"hidden_size", 16}, {"intermediate_size", 24},
         {"num_layers", 2}, {"num_attention_heads", 4}, {"num_key_value_heads", 2},
         {"max_position_embeddings", 64}, {"tie_word_embeddings", true}, {"rope_theta", 10000.0}};
  }
  return parse_model_config(j, "tiny config");
}

struct Data {
  std::vector<int32_t> ids, tg;
  int64_t B = 2, T = 6;
  Batch batch() const { return Batch{ids.data(), tg.data(), B, T}; }
};

Data random_batch(uint64_t seed, int64_t B, int64_t T, int32_t vocab) {
  Data d;
  d.B = B;
  d.T = T;
  Rng rng(seed, 0);
  for (int64_t i = 0; i < B * T; ++i) {
    d.ids.push_back(static_cast<int32_t>(rng.below(vocab)));
    d.tg.push_back(static_cast<int32_t>(rng.below(vocab)));
  }
  d.tg[1] = -100;
  return d;
}

// B away from zero so that every path of the adapter carries gradient.
void randomize_b(Lora& lora, uint64_t seed, float scale) {
  for (size_t i = 0; i < lora.params().size(); ++i) {
    Param& p = lora.params()[i];
    if (p.name.find("lora_B") == std::string::npos) continue;
    Rng rng(seed, i);
    for (float& v : p.w) v = static_cast<float>(rng.normal()) * scale;
  }
}

TEST(TrainLora, InitialisesLikePeftAndStartsAtTheBase) {
  TrainableModel m(tiny("exaone4"));
  m.init_random(3, 0.3f);
  const Data d = random_batch(1, 2, 6, 40);
  std::vector<float> base, adapted;
  m.forward(d.batch(), &base);
  LoraConfig cfg;
  cfg.rank = 4;
  cfg.alpha = 8;
  cfg.seed = 9;
  Lora lora(m, cfg);
  EXPECT_EQ(lora.params().size(), 2u * 7 * 2);  // 7 linear layers x 2 layers, A and B each
  for (const Param& p : lora.params()) {
    if (p.name.find("lora_A") != std::string::npos) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(p.shape[1]));
      double mx = 0;
      for (float v : p.w) mx = std::max(mx, std::fabs(static_cast<double>(v)));
      EXPECT_LE(mx, bound) << p.name;
      EXPECT_GT(mx, 0.5 * bound) << p.name;
    } else {
      for (float v : p.w) ASSERT_EQ(v, 0.0f) << p.name;
    }
  }
  EXPECT_EQ(lora.params()[0].name, "model.layers.0.self_attn.q_proj.lora_A.weight");
  m.forward(d.batch(), &adapted);
  ASSERT_EQ(base.size(), adapted.size());
  for (size_t i = 0; i < base.size(); ++i) ASSERT_EQ(base[i], adapted[i]) << i;  // B = 0: exactly the base
  // Same seed, same A; another seed, another A.
  TrainableModel m2(tiny("exaone4"));
  Lora same(m2, cfg);
  EXPECT_EQ(same.params()[0].w, lora.params()[0].w);
  TrainableModel m3(tiny("exaone4"));
  cfg.seed = 10;
  Lora other(m3, cfg);
  EXPECT_NE(other.params()[0].w, lora.params()[0].w);
  for (const Param& p : m.params()) EXPECT_TRUE(!p.trainable && p.g.empty()) << p.name;
}

TEST(TrainLora, TargetNamesPerFamily) {
  TrainableModel m4(tiny("exaone4"));
  EXPECT_EQ(resolve_lora_targets(m4, {"q_proj", "down_proj"}, "t"), (std::vector<std::string>{"q_proj", "down_proj"}));
  TrainableModel m3(tiny("exaone"));
  // EXAONE 3.x: its own names, and the EXAONE 4.0 spellings mapped to them.
  EXPECT_EQ(resolve_lora_targets(m3, {"o_proj", "gate_proj", "c_proj", "v_proj"}, "t"),
            (std::vector<std::string>{"out_proj", "c_fc_0", "c_proj", "v_proj"}));
  EXPECT_EQ(resolve_lora_targets(m3, {}, "t").size(), 7u);
  try {
    resolve_lora_targets(m4, {"qkv_proj"}, "--lora-targets");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--lora-targets: unknown LoRA target module 'qkv_proj'"), std::string::npos)
        << e.what();
  }
  LoraConfig cfg;
  cfg.targets = {"out_proj", "c_fc_1"};
  Lora lora(m3, cfg);
  ASSERT_EQ(lora.params().size(), 8u);
  EXPECT_EQ(lora.params()[0].name, "transformer.h.0.attn.attention.out_proj.lora_A.weight");
  EXPECT_EQ(lora.params()[2].name, "transformer.h.0.mlp.c_fc_1.lora_A.weight");
}

// dL/dA and dL/dB of every adapter, along a random direction per tensor, against central finite
// differences of the loss (the same mask replayed when dropout is on).
class TrainLoraFd : public ::testing::TestWithParam<std::tuple<std::string, double, bool>> {};

TEST_P(TrainLoraFd, AdapterGradientsMatchFiniteDifferences) {
  auto [family, dropout, rslora] = GetParam();
  TrainableModel m(tiny(family));
  m.init_random(7, 0.3f);
  LoraConfig cfg;
  cfg.rank = 3;
  cfg.alpha = 5;
  cfg.dropout = dropout;
  cfg.rslora = rslora;
  cfg.seed = 21;
  Lora lora(m, cfg);
  randomize_b(lora, 4, 0.3f);
  const Data d = random_batch(2, 2, 6, 40);
  auto loss = [&] {
    lora.set_dropout_call(0);
    for (Param& p : lora.params()) std::fill(p.g.begin(), p.g.end(), 0.0f);
    return m.forward_backward(d.batch());
  };
  loss();
  std::vector<std::vector<float>> grads;
  for (const Param& p : lora.params()) grads.push_back(p.g);
  double worst = 0;
  for (size_t pi = 0; pi < lora.params().size(); ++pi) {
    Param& p = lora.params()[pi];
    Rng dr(11, pi);
    std::vector<float> dir(p.w.size());
    double nrm = 0;
    for (auto& v : dir) {
      v = static_cast<float>(dr.normal());
      nrm += double(v) * v;
    }
    double gd = 0;
    for (size_t i = 0; i < dir.size(); ++i) gd += (dir[i] /= static_cast<float>(std::sqrt(nrm))) * double(grads[pi][i]);
    const std::vector<float> keep = p.w;
    const float h = 2e-3f;
    for (size_t i = 0; i < dir.size(); ++i) p.w[i] = keep[i] + h * dir[i];
    const double lp = loss();
    for (size_t i = 0; i < dir.size(); ++i) p.w[i] = keep[i] - h * dir[i];
    const double lm = loss();
    p.w = keep;
    const double num = (lp - lm) / (2.0 * h);
    EXPECT_LT(std::fabs(num - gd), 2e-3 + 2e-2 * std::fabs(gd)) << p.name << ": numeric " << num << " analytic " << gd;
    worst = std::max(worst, std::fabs(num - gd) / (1e-3 + std::fabs(gd)));
  }
  std::printf("  %s dropout %.1f rslora %d: directional FD worst rel err %.3g\n", family.c_str(), dropout, rslora, worst);
}

INSTANTIATE_TEST_SUITE_P(Variants, TrainLoraFd,
                         ::testing::Values(std::make_tuple("exaone4", 0.0, false), std::make_tuple("exaone4", 0.3, true),
                                           std::make_tuple("exaone", 0.0, false), std::make_tuple("exaone", 0.3, false)));

// Element-wise central differences for a few entries of the first layer's adapters (the gradient
// there flows back through both paths of every layer above).
TEST(TrainLora, FirstLayerElementsMatchFiniteDifferences) {
  TrainableModel m(tiny("exaone4"));
  m.init_random(8, 0.3f);
  LoraConfig cfg;
  cfg.rank = 2;
  cfg.alpha = 4;
  Lora lora(m, cfg);
  randomize_b(lora, 5, 0.3f);
  const Data d = random_batch(3, 2, 5, 40);
  for (Param& p : lora.params()) std::fill(p.g.begin(), p.g.end(), 0.0f);
  m.forward_backward(d.batch());
  for (size_t pi : {size_t{0}, size_t{1}, size_t{4}, size_t{13}}) {
    Param& p = lora.params()[pi];
    const std::vector<float> g = p.g;
    for (size_t i = 0; i < p.w.size(); i += 7) {
      const float keep = p.w[i], h = 4e-3f;
      p.w[i] = keep + h;
      const double lp = m.forward(d.batch());
      p.w[i] = keep - h;
      const double lm = m.forward(d.batch());
      p.w[i] = keep;
      const double num = (lp - lm) / (2.0 * h);
      EXPECT_NEAR(num, g[i], 1e-3 + 1e-2 * std::fabs(g[i])) << p.name << "[" << i << "]";
    }
  }
}

TEST(TrainLora, DropoutOnlyWhileTraining) {
  TrainableModel m(tiny("exaone4"));
  m.init_random(3, 0.3f);
  LoraConfig cfg;
  cfg.dropout = 0.5;
  Lora lora(m, cfg);
  randomize_b(lora, 6, 0.5f);
  const Data d = random_batch(4, 2, 6, 40);
  std::vector<float> with_p, without_p;
  const double eval = m.forward(d.batch(), &with_p);
  const double train1 = m.forward_backward(d.batch());
  const double train2 = m.forward_backward(d.batch());
  EXPECT_NE(eval, train1);     // the mask changed the training forward
  EXPECT_NE(train1, train2);   // a new mask per call
  lora.set_dropout_call(0);
  EXPECT_EQ(m.forward_backward(d.batch()), train1);  // replayed: same mask
  EXPECT_EQ(m.forward(d.batch()), eval);            // evaluation never drops
}

TEST(TrainLora, MergedWeightsGiveTheUnmergedLogits) {
  for (const char* family : {"exaone4", "exaone"}) {
    TrainableModel m(tiny(family));
    m.init_random(3, 0.3f);
    LoraConfig cfg;
    cfg.rank = 4;
    cfg.alpha = 16;
    cfg.targets = {"q_proj", "v_proj", "o_proj", "down_proj"};
    Lora lora(m, cfg);
    randomize_b(lora, 7, 0.2f);
    const Data d = random_batch(5, 2, 6, 40);
    std::vector<float> unmerged, merged, base;
    m.forward(d.batch(), &unmerged);
    lora.merge_into_base();
    m.forward(d.batch(), &merged);
    double mx = 0, diff = 0;
    for (size_t i = 0; i < merged.size(); ++i) {
      mx = std::max(mx, std::fabs(static_cast<double>(unmerged[i])));
      diff = std::max(diff, std::fabs(static_cast<double>(merged[i]) - unmerged[i]));
    }
    EXPECT_LT(diff, 1e-5 * std::max(1.0, mx)) << family;
    // And the merge changed the model (the adapter is not a no-op).
    TrainableModel plain(tiny(family));
    plain.init_random(3, 0.3f);
    plain.forward(d.batch(), &base);
    double moved = 0;
    for (size_t i = 0; i < base.size(); ++i) moved = std::max(moved, std::fabs(static_cast<double>(base[i]) - merged[i]));
    EXPECT_GT(moved, 1e-3) << family;
  }
}

// A few AdamW steps on the adapters only; returns the losses.
std::vector<double> train_steps(TrainableModel& m, Lora& lora, const Data& d, int steps, double lr = 1e-2) {
  AdamWConfig ac;
  ac.weight_decay = 0;
  AdamW opt(lora.params(), ac);
  std::vector<double> losses;
  for (int s = 0; s < steps; ++s) {
    for (Param& p : lora.params()) std::fill(p.g.begin(), p.g.end(), 0.0f);
    losses.push_back(m.forward_backward(d.batch()));
    clip_grad_norm(lora.params(), 1.0);
    opt.step(lr);
  }
  return losses;
}

TEST(TrainLora, BaseStaysFrozenWhileTheLossFalls) {
  TrainableModel m(tiny("exaone4"));
  m.init_random(3, 0.3f);
  std::vector<std::vector<float>> before;
  for (const Param& p : m.params()) before.push_back(p.w);
  LoraConfig cfg;
  cfg.rank = 4;
  cfg.alpha = 8;
  cfg.dropout = 0.1;
  Lora lora(m, cfg);
  const Data d = random_batch(6, 2, 8, 40);
  const std::vector<double> losses = train_steps(m, lora, d, 25);
  EXPECT_LT(losses.back(), 0.8 * losses.front());
  for (size_t i = 0; i < m.params().size(); ++i) {
    EXPECT_EQ(m.params()[i].w, before[i]) << m.params()[i].name;
    EXPECT_TRUE(m.params()[i].g.empty()) << m.params()[i].name;
  }
}

// ---- QLoRA-style: a GGUF base kept in its storage type ----

fs::path tiny_gguf(const std::string& type) {
  const fs::path out = fs::path(testing::TempDir()) / ("exaone_qlora_" + type + "_" + std::to_string(::getpid()) + ".gguf");
  convert_to_gguf((kRepo / "models/exaone4-tiny").string(), out.string(), parse_gguf_out_type(type), true, {});
  return out;
}

std::string file_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

TEST(TrainQLora, GgufBaseStaysQuantizedAndMatchesItsFloatValues) {
  const fs::path f32 = tiny_gguf("f32"), q8 = tiny_gguf("q8_0");
  auto hf = TrainableModel::load((kRepo / "models/exaone4-tiny").string());
  auto g32 = TrainableModel::load(f32.string());
  auto g8 = TrainableModel::load(q8.string());
  // Matrices are not copied: only the norm weights are float.
  int64_t float_elems = 0;
  for (const Param& p : g8->params()) {
    EXPECT_FALSE(p.trainable) << p.name;
    if (p.shape.size() == 2) {
      EXPECT_TRUE(p.w.empty() && p.stored != nullptr) << p.name;
      EXPECT_EQ(p.stored_type, DType::Q8_0) << p.name;
    }
    float_elems += static_cast<int64_t>(p.w.size());
  }
  EXPECT_LT(float_elems, 2000);
  EXPECT_TRUE(g8->has_stored_weights());

  const Data d = random_batch(7, 2, 16, 2304);
  std::vector<float> l_hf, l_32, l_8;
  const double loss_hf = hf->forward(d.batch(), &l_hf);
  const double loss_32 = g32->forward(d.batch(), &l_32);
  const double loss_8 = g8->forward(d.batch(), &l_8);
  // F32 stored: the same numbers through the dequantize-per-block path.
  EXPECT_NEAR(loss_32, loss_hf, 1e-6);
  for (size_t i = 0; i < l_hf.size(); ++i) ASSERT_NEAR(l_32[i], l_hf[i], 1e-5) << i;
  // Q8_0 = a float model holding the dequantized values.
  TrainableModel deq(g8->config());
  for (size_t i = 0; i < deq.params().size(); ++i) {
    Param& p = deq.params()[i];
    const Param& s = g8->params()[i];
    if (s.stored) {
      const MatrixRef ref{s.stored_type, s.stored, p.shape[0], p.shape[1]};
      for (int64_t r = 0; r < p.shape[0]; ++r) dequantize_row(ref, r, p.w.data() + r * p.shape[1]);
    } else {
      p.w = s.w;
    }
  }
  EXPECT_NEAR(deq.forward(d.batch()), loss_8, 1e-6);
  // ... and the float base within Q8_0's rounding (8-bit blocks: ~0.2 % per weight).
  std::printf("  loss float %.6f, Q8_0 base %.6f\n", loss_hf, loss_8);
  EXPECT_NEAR(loss_8, loss_hf, 2e-3 * loss_hf);
  fs::remove(f32);
  fs::remove(q8);
}

TEST(TrainQLora, LoraOnAQ8BaseTracksTheFloatBase) {
  const fs::path q8 = tiny_gguf("q8_0");
  const std::string before = file_bytes(q8);
  auto hf = TrainableModel::load((kRepo / "models/exaone4-tiny").string());
  auto g8 = TrainableModel::load(q8.string());
  std::vector<std::vector<float>> hf_before;
  for (const Param& p : hf->params()) hf_before.push_back(p.w);
  LoraConfig cfg;
  cfg.rank = 4;
  cfg.alpha = 8;
  cfg.dropout = 0.1;
  cfg.seed = 5;
  Lora la(*hf, cfg), lb(*g8, cfg);
  const Data d = random_batch(8, 2, 16, 2304);
  // A small learning rate: memorising one batch at a large one is chaotic, and any two bases part ways.
  const std::vector<double> a = train_steps(*hf, la, d, 8, 2e-3), b = train_steps(*g8, lb, d, 8, 2e-3);
  for (size_t s = 0; s < a.size(); ++s) {
    std::printf("  step %zu: float base %.5f, Q8_0 base %.5f\n", s, a[s], b[s]);
    EXPECT_NEAR(b[s], a[s], 5e-3 * a[s]) << "step " << s;
  }
  EXPECT_LT(b.back(), 0.8 * b.front());
  // Frozen weights were never written: the float base's values and the GGUF file's bytes.
  for (size_t i = 0; i < hf->params().size(); ++i) EXPECT_EQ(hf->params()[i].w, hf_before[i]) << hf->params()[i].name;
  EXPECT_EQ(file_bytes(q8), before);
  try {
    lb.merge_into_base();
    FAIL() << "merged into a quantized base";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot merge into a base kept quantized"), std::string::npos) << e.what();
  }
  fs::remove(q8);
}

// ---- PEFT: an adapter trained here loads in HF peft with the same logits ----

// The fixture's adapter: trained from fixed seeds for 4 AdamW steps on a fixed batch (dropout on), so
// the test can retrain it and check that the committed files are what exaone.cpp writes.
std::unique_ptr<Lora> train_fixture_adapter(TrainableModel& m) {
  LoraConfig cfg;
  cfg.rank = 4;
  cfg.alpha = 8;
  cfg.dropout = 0.1;
  cfg.seed = 77;
  auto lora = std::make_unique<Lora>(m, cfg);
  const Data d = random_batch(12, 2, 8, static_cast<int32_t>(m.config().vocab_size));
  train_steps(m, *lora, d, 4);
  return lora;
}

std::vector<std::vector<float>> golden_logits(const json& g) {
  std::vector<std::vector<float>> out;
  for (const auto& row : g["logits"][0]) out.push_back(row.get<std::vector<float>>());
  return out;
}

double max_logit_diff(TrainableModel& m, const json& g) {
  std::vector<int32_t> ids = g["input_ids"][0].get<std::vector<int32_t>>();
  std::vector<float> logits;
  m.forward(Batch{ids.data(), nullptr, 1, static_cast<int64_t>(ids.size())}, &logits);
  const auto want = golden_logits(g);
  const int64_t V = m.config().vocab_size;
  double worst = 0;
  for (size_t t = 0; t < want.size(); ++t)
    for (int64_t v = 0; v < V; ++v)
      worst = std::max(worst, std::fabs(static_cast<double>(logits[t * V + v]) - want[t][v]));
  return worst;
}

TEST(TrainLoraPeft, TrainedAdapterLoadsInPeftWithTheSameLogits) {
  const std::string base = (kFix / "train/exaone4-hybrid-untied").string();
  const fs::path fixture = kFix / "lora/exaone4-hybrid-untied";
  auto m = TrainableModel::load(base);
  auto lora = train_fixture_adapter(*m);
  const LoraAdapter trained = lora->adapter("exaone4-hybrid-untied");
  if (const char* out = std::getenv("EXAONE_WRITE_LORA_FIXTURE")) {
    write_peft_adapter(trained, out);
    GTEST_SKIP() << "wrote the fixture adapter to " << out << "; now run scripts/fixtures/make_lora_fixtures.py";
  }
  // The committed adapter is what this code trains (so peft's golden speaks for it) ...
  const LoraAdapter committed = read_lora_adapter(fixture.string());
  ASSERT_EQ(committed.pairs.size(), trained.pairs.size());
  EXPECT_EQ(committed.base_model, "exaone4-hybrid-untied");
  for (const LoraPair& b : trained.pairs) {
    auto it = std::find_if(committed.pairs.begin(), committed.pairs.end(),
                           [&](const LoraPair& p) { return p.target == b.target; });
    ASSERT_NE(it, committed.pairs.end()) << b.target;
    const LoraPair& a = *it;
    ASSERT_EQ(a.a.size(), b.a.size());
    ASSERT_EQ(a.b.size(), b.b.size());
    for (size_t k = 0; k < a.a.size(); ++k) ASSERT_NEAR(a.a[k], b.a[k], 1e-6) << a.target << " A[" << k << "]";
    for (size_t k = 0; k < a.b.size(); ++k) ASSERT_NEAR(a.b[k], b.b[k], 1e-6) << a.target << " B[" << k << "]";
  }
  // ... and computes peft's logits: the trained model, and a fresh base with the committed files.
  std::ifstream gf(fixture / "golden.json");
  ASSERT_TRUE(gf) << "run scripts/fixtures/make_lora_fixtures.py";
  const json g = json::parse(gf);
  const double trained_diff = max_logit_diff(*m, g);
  auto fresh = TrainableModel::load(base);
  Lora loaded(*fresh, committed);
  const double loaded_diff = max_logit_diff(*fresh, g);
  std::printf("  max |logit - peft| trained %.3g, loaded %.3g (peft moved the base by %.3g)\n", trained_diff,
              loaded_diff, g["base_max_abs_diff"].get<double>());
  EXPECT_LE(trained_diff, 1e-4);
  EXPECT_LE(loaded_diff, 1e-4);
  // Merged into the float base: the same logits again.
  loaded.merge_into_base();
  EXPECT_LE(max_logit_diff(*fresh, g), 1e-4);
}

// ---- the CLI: exaone finetune --lora-rank ----


TEST(TrainLoraCli, AdapterForPeftAndLlamaCppAndAMergedModel) {
  if (!fs::exists(EXAONE_BINARY)) GTEST_SKIP() << "exaone binary not built";
  const fs::path dir = fs::path(testing::TempDir()) / ("exaone_lora_cli_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    std::ofstream f(dir / "chat.jsonl");
    for (const char* q : {"one", "two", "three", "four"})
      f << R"({"messages": [{"role": "user", "content": "say )" << q << R"("}, {"role": "assistant", "content": ")" << q
        << R"("}]})" << "\n";
  }
  const std::string base = (kRepo / "models/exaone4-tiny").string(), data = (dir / "chat.jsonl").string();
  const std::string out = (dir / "out").string();
  std::string err, sout;
  ASSERT_EQ(run_exaone("finetune -m " + base + " --data " + data + " --unscreened --steps 3 --batch 2 -t 2 --lora-rank 4 "
                    "--lora-alpha 8 --lora-targets q_proj,v_proj,down_proj --merge -o " + out, &err),
            0)
      << err;
  EXPECT_NE(err.find("LoRA rank 4 alpha 8 dropout 0.05 on q_proj,v_proj,down_proj"), std::string::npos) << err;
  for (const char* f : {"adapter_config.json", "adapter_model.safetensors", "adapter.gguf", "loss.csv", "loss.png",
                        "training_data.json", "merged/model.safetensors", "merged/config.json", "merged/tokenizer.json"})
    EXPECT_TRUE(fs::exists(fs::path(out) / f)) << f;
  EXPECT_FALSE(fs::exists(fs::path(out) / "model.safetensors"));  // the adapter folder holds no base weights
  const LoraAdapter peft = read_lora_adapter(out), gguf = read_lora_adapter(out + "/adapter.gguf");
  EXPECT_EQ(peft.base_model, "exaone4-tiny");  // the folder's name, never a path
  EXPECT_EQ(peft.rank, 4);
  EXPECT_EQ(peft.pairs.size(), 12u);
  EXPECT_EQ(gguf.pairs.size(), 12u);
  // The merged folder = base + adapter, through the inference engine.
  auto m = TrainableModel::load(base);
  Lora lora(*m, peft);
  std::vector<int32_t> ids = {1, 4, 7, 9};
  std::vector<float> want;
  m->forward(Batch{ids.data(), nullptr, 1, 4}, &want);
  ASSERT_EQ(run_exaone("logits -m " + out + "/merged --ids 1,4,7,9 --all-positions", &err, &sout), 0) << err;
  const json got = json::parse(sout);
  const int64_t V = m->config().vocab_size;
  double worst = 0;
  for (int64_t t = 0; t < 4; ++t)
    for (int64_t v = 0; v < V; ++v)
      worst = std::max(worst, std::fabs(got["logits"][t][v].get<double>() - want[t * V + v]));
  EXPECT_LT(worst, 1e-4);

  // A GGUF base: LoRA only, kept quantized; no full fine-tuning and no merge.
  const fs::path q8 = tiny_gguf("q8_0");
  ASSERT_EQ(run_exaone("finetune -m " + q8.string() + " --data " + data + " --unscreened --steps 2 --batch 2 -t 2 "
                    "--lora-rank 2 -o " + out + "q", &err),
            0)
      << err;
  EXPECT_NE(err.find("kept quantized as stored in the GGUF"), std::string::npos) << err;
  EXPECT_EQ(read_lora_adapter(out + "q").base_model, q8.filename().string());
  EXPECT_EQ(read_lora_adapter(out + "q/adapter.gguf").pairs.size(), 28u);
  EXPECT_EQ(run_exaone("finetune -m " + q8.string() + " --data " + data + " --unscreened --steps 2 -o " + out + "f", &err), 2);
  EXPECT_NE(err.find("full fine-tuning needs a Hugging Face folder"), std::string::npos) << err;
  EXPECT_EQ(run_exaone("finetune -m " + q8.string() + " --data " + data + " --unscreened --lora-rank 2 --merge -o " + out +
                    "f", &err),
            2);
  EXPECT_NE(err.find("--merge needs a float base"), std::string::npos) << err;
  EXPECT_EQ(run_exaone("finetune -m " + base + " --data " + data + " --unscreened --lora-rank 2 --lora-targets qkv -o " +
                    out + "f", &err),
            2);
  EXPECT_NE(err.find("unknown LoRA target module 'qkv'"), std::string::npos) << err;
  fs::remove(q8);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace exaone::train

namespace exaone::train {
namespace {

// Not a check: time of one forward_backward of full fine-tuning against LoRA on the bundled demo model
// (run with --gtest_also_run_disabled_tests; docs/training.md quotes the CLI's figures).
TEST(TrainLoraSpeed, DISABLED_FullVsLora) {
  const std::string base = (kRepo / "models/exaone4-demo").string();
  const Data d = random_batch(3, 8, 128, 4096);
  // Process CPU time (std::clock), not wall time: the figure should not depend on other load of the host.
  auto time_it = [&](TrainableModel& m, int reps) {
    m.forward_backward(d.batch());
    const std::clock_t t0 = std::clock();
    for (int i = 0; i < reps; ++i) m.forward_backward(d.batch());
    return static_cast<double>(std::clock() - t0) / CLOCKS_PER_SEC / reps;
  };
  auto full = TrainableModel::load(base);
  const double tf = time_it(*full, 3);
  auto lm = TrainableModel::load(base);
  LoraConfig cfg;
  cfg.dropout = 0.05;
  Lora lora(*lm, cfg);
  const double tl = time_it(*lm, 3);
  auto fm = TrainableModel::load(base);
  fm->freeze_all();
  const double tz = time_it(*fm, 3);
  std::printf("  forward_backward of 8 x 128 tokens, CPU seconds: full %.3f, LoRA r8 (all 7 targets, dropout 0.05) %.3f, "
              "frozen without adapters %.3f; tokens/s per CPU-second: full %.0f, LoRA %.0f\n",
              tf, tl, tz, 1024 / tf, 1024 / tl);
}

}  // namespace
}  // namespace exaone::train

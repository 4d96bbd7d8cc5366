// The trainable model against the inference model (logits) and against PyTorch autograd
// (loss, every parameter's gradient, an AdamW run), on the committed fixtures.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "loaders/safetensors.h"
#include "loaders/weight_store.h"
#include "models/model.h"
#include "train/model.h"
#include "train/optim.h"
#include "train/rng.h"
#include "util/json_file.h"

namespace exaone::train {
namespace {

const std::string kModels = std::string(EXAONE_FIXTURES) + "/models/";
const std::string kTrain = std::string(EXAONE_FIXTURES) + "/train/";

// ---- forward = inference forward ----

class TrainForwardVsInference : public ::testing::TestWithParam<std::string> {};

TEST_P(TrainForwardVsInference, LogitsAtEveryPosition) {
  const std::string dir = kModels + GetParam();
  json g = read_json_file(dir + "/golden.json");
  std::vector<int32_t> ids;
  for (const auto& v : g["ids"]) ids.push_back(v.get<int32_t>());
  auto inf = load_model(dir);
  auto cache = inf->new_cache();
  std::vector<float> want;
  SequenceChunk chunk{ids, cache.get(), true};
  inf->forward({&chunk, 1}, want);

  auto tm = TrainableModel::load(dir);
  std::vector<float> got;
  tm->forward(Batch{ids.data(), nullptr, 1, static_cast<int64_t>(ids.size())}, &got);
  ASSERT_EQ(got.size(), want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(double(got[i]) - want[i]));
  EXPECT_LT(worst, 1e-4) << GetParam();
  std::printf("  %s: max |train - inference| logit %.3g\n", GetParam().c_str(), worst);

  // Two copies of the sequence in one batch give the same rows twice (sequences are independent;
  // the GEMM may round a row differently with another row count, hence the tolerance).
  std::vector<int32_t> two = ids;
  two.insert(two.end(), ids.begin(), ids.end());
  std::vector<float> got2;
  tm->forward(Batch{two.data(), nullptr, 2, static_cast<int64_t>(ids.size())}, &got2);
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got2[i], got[i], 1e-5);
    ASSERT_NEAR(got2[i + got.size()], got[i], 1e-5);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TrainForwardVsInference,
                         ::testing::Values("exaone4-hybrid-layertypes", "exaone4-dense-tied-llama3",
                                           "exaone4-f16-untied", "exaone3-prenorm", "exaone3-tied-llama3"));

// ---- gradients = PyTorch autograd (float64) ----

struct TrainGolden {
  std::vector<int32_t> ids, targets;
  int64_t B = 0, T = 0;
  json j;
};

TrainGolden read_train_golden(const std::string& dir) {
  TrainGolden g;
  g.j = read_json_file(dir + "/golden.json");
  for (const auto& row : g.j["input_ids"]) {
    ++g.B;
    g.T = static_cast<int64_t>(row.size());
    for (const auto& v : row) g.ids.push_back(v.get<int32_t>());
  }
  for (const auto& row : g.j["targets"])
    for (const auto& v : row) g.targets.push_back(v.get<int32_t>());
  return g;
}

class TrainGradVsAutograd : public ::testing::TestWithParam<std::string> {};

TEST_P(TrainGradVsAutograd, LossAndEveryGradient) {
  const std::string dir = kTrain + GetParam();
  TrainGolden g = read_train_golden(dir);
  auto m = TrainableModel::load(dir);
  m->zero_grad();
  const double loss = m->forward_backward(Batch{g.ids.data(), g.targets.data(), g.B, g.T});
  const double want_loss = g.j["loss"].get<double>();
  EXPECT_NEAR(loss, want_loss, 1e-5 * std::max(1.0, std::fabs(want_loss)));

  WeightStore ref;
  load_safetensors_checkpoint(dir + "/grads.safetensors", ref);
  ASSERT_EQ(ref.tensors().size(), m->params().size());
  double worst_abs = 0, worst_rel = 0;
  std::string worst_name;
  for (const Param& p : m->params()) {
    const TensorView& t = ref.require(p.name, p.shape);
    const float* r = reinterpret_cast<const float*>(t.data);
    double scale = 0, err = 0;
    for (int64_t i = 0; i < p.numel(); ++i) {
      scale = std::max(scale, std::fabs(double(r[i])));
      err = std::max(err, std::fabs(double(p.g[i]) - r[i]));
    }
    ASSERT_GT(scale, 0.0) << p.name << ": reference gradient is all zero";
    const double rel = err / scale;  // relative to the tensor's largest gradient
    EXPECT_LT(rel, 1e-4) << p.name << " max abs err " << err << " (largest |grad| " << scale << ")";
    if (rel > worst_rel) worst_name = p.name;
    worst_rel = std::max(worst_rel, rel);
    worst_abs = std::max(worst_abs, err);
  }
  std::printf("  %s: loss %.9f (torch %.9f); gradients max abs err %.3g, max rel err %.3g (%s)\n",
              GetParam().c_str(), loss, want_loss, worst_abs, worst_rel, worst_name.c_str());
  ::testing::Test::RecordProperty("grad_max_abs_err", std::to_string(worst_abs));
  ::testing::Test::RecordProperty("grad_max_rel_err", std::to_string(worst_rel));
}

// The AdamW run of golden.json (clip, warmup + cosine, decoupled decay on matrices) step by step.
TEST_P(TrainGradVsAutograd, AdamWRunMatchesTorch) {
  const std::string dir = kTrain + GetParam();
  TrainGolden g = read_train_golden(dir);
  const json& a = g.j["adamw"];
  auto m = TrainableModel::load(dir);
  AdamWConfig cfg{a["beta1"].get<double>(), a["beta2"].get<double>(), a["eps"].get<double>(),
                  a["weight_decay"].get<double>()};
  AdamW opt(m->params(), cfg);
  LrSchedule sched{a["lr"].get<double>(), a["min_lr"].get<double>(), a["warmup"].get<int64_t>(),
                   a["steps"].get<int64_t>()};
  const Batch batch{g.ids.data(), g.targets.data(), g.B, g.T};
  for (int64_t s = 0; s < a["steps"].get<int64_t>(); ++s) {
    const json& want = a["run"][s];
    m->zero_grad();
    const double loss = m->forward_backward(batch);
    const double norm = clip_grad_norm(m->params(), a["clip"].get<double>());
    const double lr = sched.at(s);
    EXPECT_NEAR(loss, want["loss"].get<double>(), 2e-5) << "step " << s;
    EXPECT_NEAR(norm, want["grad_norm"].get<double>(), 1e-4 * want["grad_norm"].get<double>()) << "step " << s;
    EXPECT_NEAR(lr, want["lr"].get<double>(), 1e-15) << "step " << s;
    opt.step(lr);
  }
  const double final_loss = m->forward(batch);
  EXPECT_NEAR(final_loss, a["final_loss"].get<double>(), 2e-5);
  std::printf("  %s: AdamW %lld steps, final loss %.9f (torch %.9f)\n", GetParam().c_str(),
              static_cast<long long>(a["steps"].get<int64_t>()), final_loss, a["final_loss"].get<double>());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TrainGradVsAutograd,
                         ::testing::Values("exaone4-hybrid-untied", "exaone4-dense-tied-llama3", "exaone3-prenorm"));

// ---- whole-model finite differences along a random direction (no external reference) ----

ModelConfig tiny_config(const std::string& family, bool tied) {
  json j;
  if (family == "exaone4") {
    j = {{"model_type", "exaone4"}, {"vocab_size", 40}, {"hidden_size", 16}, {"intermediate_size", 24},
         {"num_hidden_layers", 4}, {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"head_dim", 6},
         {"max_position_embeddings", 64}, {"rms_norm_eps", 1e-5}, {"tie_word_embeddings", tied},
         {"sliding_window", 2}, {"layer_types", {"sliding_attention", "full_attention", "sliding_attention",
                                                 "full_attention"}}, {"rope_theta", 10000.0}};
  } else {
    j = {{"model_type", "exaone"}, {"vocab_size", 40}, {"hidden_size", 16}, {"intermediate_size", 24},
         {"num_layers", 2}, {"num_attention_heads", 4}, {"num_key_value_heads", 2},
         {"max_position_embeddings", 64}, {"layer_norm_epsilon", 1e-5}, {"tie_word_embeddings", tied},
         {"rope_theta", 10000.0}};
  }
  return parse_model_config(j, "tiny config");
}

class TrainDirectionalFd : public ::testing::TestWithParam<std::tuple<std::string, bool>> {};

TEST_P(TrainDirectionalFd, GradientDotDirection) {
  auto [family, tied] = GetParam();
  TrainableModel m(tiny_config(family, tied));
  m.init_random(7, 0.3f);
  for (Param& p : m.params())  // norm weights away from 1 so their gradients matter
    if (p.shape.size() == 1)
      for (size_t i = 0; i < p.w.size(); ++i) p.w[i] = 0.7f + 0.05f * static_cast<float>(i % 9);
  const int64_t B = 2, T = 6;
  std::vector<int32_t> ids(B * T), tg(B * T);
  Rng rng(3, 0);
  for (int64_t i = 0; i < B * T; ++i) {
    ids[i] = static_cast<int32_t>(rng.below(40));
    tg[i] = static_cast<int32_t>(rng.below(40));
  }
  const Batch batch{ids.data(), tg.data(), B, T};
  m.zero_grad();
  m.forward_backward(batch);
  // Each parameter tensor along its own random unit direction: (L(w+hd) - L(w-hd)) / 2h vs g·d.
  double worst = 0;
  for (size_t pi = 0; pi < m.params().size(); ++pi) {
    Param& p = m.params()[pi];
    Rng dr(11, pi);
    std::vector<float> d(p.w.size());
    double nrm = 0;
    for (auto& v : d) {
      v = static_cast<float>(dr.normal());
      nrm += double(v) * v;
    }
    double gd = 0;
    for (size_t i = 0; i < d.size(); ++i) gd += (d[i] /= static_cast<float>(std::sqrt(nrm))) * double(p.g[i]);
    const std::vector<float> keep = p.w;
    const float h = 2e-3f;
    for (size_t i = 0; i < d.size(); ++i) p.w[i] = keep[i] + h * d[i];
    const double lp = m.forward(batch);
    for (size_t i = 0; i < d.size(); ++i) p.w[i] = keep[i] - h * d[i];
    const double lm = m.forward(batch);
    p.w = keep;
    const double num = (lp - lm) / (2.0 * h);
    const double err = std::fabs(num - gd) / (1e-3 + std::fabs(gd));
    EXPECT_LT(std::fabs(num - gd), 2e-3 + 2e-2 * std::fabs(gd)) << p.name << ": numeric " << num << " analytic " << gd;
    worst = std::max(worst, err);
  }
  std::printf("  %s %s: directional FD worst rel err %.3g\n", family.c_str(), tied ? "tied" : "untied", worst);
}

INSTANTIATE_TEST_SUITE_P(Families, TrainDirectionalFd,
                         ::testing::Combine(::testing::Values("exaone4", "exaone"), ::testing::Bool()));

// ---- accumulation: two half batches with grad_scale 1/2 = one full batch (same target counts) ----

TEST(TrainModel, AccumulationEqualsFullBatch) {
  TrainableModel m(tiny_config("exaone4", false));
  m.init_random(5, 0.2f);
  const int64_t B = 2, T = 5;
  std::vector<int32_t> ids(B * T), tg(B * T);
  Rng rng(9, 0);
  for (int64_t i = 0; i < B * T; ++i) {
    ids[i] = static_cast<int32_t>(rng.below(40));
    tg[i] = static_cast<int32_t>(rng.below(40));
  }
  m.zero_grad();
  const double full = m.forward_backward(Batch{ids.data(), tg.data(), B, T});
  std::vector<std::vector<float>> g_full;
  for (const Param& p : m.params()) g_full.push_back(p.g);
  m.zero_grad();
  double acc = 0;
  for (int64_t b = 0; b < B; ++b) acc += m.forward_backward(Batch{ids.data() + b * T, tg.data() + b * T, 1, T}, 0.5f);
  EXPECT_NEAR(acc / 2, full, 1e-6);
  for (size_t i = 0; i < g_full.size(); ++i)
    for (size_t k = 0; k < g_full[i].size(); ++k)
      ASSERT_NEAR(m.params()[i].g[k], g_full[i][k], 1e-6 + 1e-4 * std::fabs(g_full[i][k])) << m.params()[i].name;
}

}  // namespace
}  // namespace exaone::train

namespace exaone::train {
namespace {

// The head and cross-entropy run over row blocks; any block size gives the same loss and gradients
// up to float rounding (the GEMM may round a row differently with another row count).
TEST(TrainModel, HeadBlocksGiveTheSameGradients) {
  const std::string dir = kTrain + "exaone4-hybrid-untied";
  TrainGolden g = read_train_golden(dir);
  auto whole = TrainableModel::load(dir), blocks = TrainableModel::load(dir);
  blocks->set_head_block_rows(4);  // 18 rows: blocks of 4, 4, 4, 4, 2
  whole->zero_grad();
  blocks->zero_grad();
  const Batch b{g.ids.data(), g.targets.data(), g.B, g.T};
  EXPECT_NEAR(blocks->forward_backward(b), whole->forward_backward(b), 1e-6);
  for (size_t i = 0; i < whole->params().size(); ++i)
    for (size_t k = 0; k < whole->params()[i].g.size(); ++k)
      ASSERT_NEAR(blocks->params()[i].g[k], whole->params()[i].g[k], 1e-6 + 1e-4 * std::fabs(whole->params()[i].g[k]))
          << whole->params()[i].name;
}

}  // namespace
}  // namespace exaone::train

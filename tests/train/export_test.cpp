// `exaone export`: the HF folder transformers loads (golden from scripts/fixtures/make_export_fixtures.py:
// transformers' logits of the export and its tokenizer's ids), GGUF out and back, quantized sources,
// the card, and the refusal to write into a non-empty folder.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kernels/quant_ext.h"
#include "loaders/gguf.h"
#include "loaders/safetensors.h"
#include "loaders/weight_store.h"
#include "tokenizer/tokenizer.h"
#include "train/export.h"
#include "train/model.h"
#include "util/error.h"
#include "util/json_file.h"

namespace exaone::train {
namespace {

namespace fs = std::filesystem;

const std::string kRoot = EXAONE_SOURCE_DIR;

std::string slurp(const fs::path& p) {
  std::stringstream s;
  s << std::ifstream(p, std::ios::binary).rdbuf();
  return s.str();
}

class Export : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(testing::TempDir()) / ("exaone_export_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    golden_ = read_json_file(std::string(EXAONE_FIXTURES) + "/export/golden.json");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Max |exaone − transformers| over the golden's columns at every position and the whole last row.
  double logit_error(const std::string& folder, const json& g) {
    auto m = TrainableModel::load(folder);
    const std::vector<int32_t> ids = g.at("ids").get<std::vector<int32_t>>();
    std::vector<float> logits;
    m->forward(Batch{ids.data(), nullptr, 1, static_cast<int64_t>(ids.size())}, &logits);
    const int64_t V = m->config().vocab_size;
    const auto cols = g.at("cols").get<std::vector<int64_t>>();
    double err = 0;
    for (size_t t = 0; t < ids.size(); ++t)
      for (size_t j = 0; j < cols.size(); ++j)
        err = std::max(err, std::abs(logits[t * V + cols[j]] - g.at("logits_cols")[t][j].get<double>()));
    const auto& last = g.at("logits_last");
    EXPECT_EQ(static_cast<int64_t>(last.size()), V);
    for (int64_t v = 0; v < V; ++v)
      err = std::max(err, std::abs(logits[(ids.size() - 1) * V + v] - last[v].get<double>()));
    return err;
  }
  void expect_same_ids(const std::string& folder) {
    const json& g = golden_.at("exaone4-tiny");
    Tokenizer tok = Tokenizer::from_model_path(folder);
    for (size_t i = 0; i < g.at("texts").size(); ++i)
      EXPECT_EQ(tok.encode(g["texts"][i].get<std::string>()), g["text_ids"][i].get<std::vector<int>>())
          << folder << ": text " << i;
  }

  fs::path dir_;
  json golden_;
};

TEST_F(Export, HfFolderMatchesTransformers) {
  const fs::path out = dir_ / "hf";
  const ExportResult r = export_model(kRoot + "/models/exaone4-tiny", out.string(), {});
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                        "generation_config.json", "README.md", "chat_template.jinja"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  const json cfg = read_json_file((out / "config.json").string());
  EXPECT_TRUE(cfg.contains("layer_types")) << "transformers 5 reads hybrid attention from layer_types";
  EXPECT_FALSE(cfg.contains("sliding_window_pattern"));
  EXPECT_TRUE(read_json_file((out / "tokenizer_config.json").string()).contains("chat_template"));
  WeightStore ws;
  load_safetensors_checkpoint((out / "model.safetensors").string(), ws);
  EXPECT_FALSE(ws.tensors().empty());
  EXPECT_LE(logit_error(out.string(), golden_.at("exaone4-tiny")), 1e-3);
  expect_same_ids(out.string());
  const std::string card = slurp(out / "README.md");
  EXPECT_NE(card.find("parameters"), std::string::npos);
  EXPECT_NE(card.find("Unknown"), std::string::npos) << "no training_data.json / loss.csv: the card must say so";
}

TEST_F(Export, Exaone3WeightsOnly) {
  const fs::path out = dir_ / "e3";
  ExportOptions o;
  o.no_tokenizer = true;
  export_model(kRoot + "/tests/fixtures/models/exaone3-prenorm", out.string(), o);
  EXPECT_FALSE(fs::exists(out / "tokenizer.json"));
  EXPECT_NE(slurp(out / "README.md").find("No tokenizer"), std::string::npos);
  EXPECT_LE(logit_error(out.string(), golden_.at("exaone3-prenorm")), 1e-3);
}

TEST_F(Export, RefusesNonEmptyFolderUnlessForced) {
  const fs::path out = dir_ / "busy";
  fs::create_directories(out);
  std::ofstream(out / "mine.txt") << "keep me";
  EXPECT_THROW(export_model(kRoot + "/models/exaone4-tiny", out.string(), {}), Error);
  EXPECT_FALSE(fs::exists(out / "model.safetensors"));
  ExportOptions o;
  o.force = true;
  export_model(kRoot + "/models/exaone4-tiny", out.string(), o);
  EXPECT_EQ(slurp(out / "mine.txt"), "keep me");
  EXPECT_TRUE(fs::exists(out / "model.safetensors"));
  o.dtype = "int3";
  EXPECT_THROW(export_model(kRoot + "/models/exaone4-tiny", (dir_ / "x").string(), o), Error);
}

// HF -> GGUF (convert's writer) -> HF: the weights, the tokenizer rebuilt from GGUF metadata and the
// chat template survive; the card says the training facts are unknown.
TEST_F(Export, GgufRoundTrip) {
  ExportOptions g;
  g.format = "gguf";
  g.dtype = "f32";
  export_model(kRoot + "/models/exaone4-tiny", (dir_ / "gguf").string(), g);
  const fs::path file = dir_ / "gguf" / "model-f32.gguf";
  ASSERT_TRUE(fs::exists(file));
  EXPECT_TRUE(fs::exists(dir_ / "gguf" / "README.md"));
  const fs::path back = dir_ / "back";
  export_model(file.string(), back.string(), {});
  EXPECT_LE(logit_error(back.string(), golden_.at("exaone4-tiny")), 1e-3);
  expect_same_ids(back.string());
  EXPECT_TRUE(read_json_file((back / "tokenizer_config.json").string()).contains("chat_template"));
  EXPECT_NE(slurp(back / "README.md").find("GGUF file, which records no training data"), std::string::npos);

  // A quantized GGUF is dequantized: float32 values equal to the GGUF's blocks dequantized (ggml's
  // reference), bf16 on request; the card says the weights are not the originals.
  g.dtype = "q8_0";
  export_model(kRoot + "/models/exaone4-tiny", (dir_ / "q8").string(), g);
  const std::string q8 = (dir_ / "q8" / "model-q8_0.gguf").string();
  export_model(q8, (dir_ / "q8f32").string(), {});
  WeightStore src, dst;
  load_gguf_checkpoint(q8, src);
  load_safetensors_checkpoint((dir_ / "q8f32" / "model.safetensors").string(), dst);
  int quantized = 0;
  for (const auto& [name, t] : src.tensors()) {
    const TensorView* e = dst.find(name);
    ASSERT_NE(e, nullptr) << name;
    ASSERT_EQ(e->dtype, DType::F32);
    std::vector<float> want(static_cast<size_t>(t.numel()));
    for (int64_t r = 0; r < t.rows(); ++r)
      dequantize_row_any(t.dtype, t.data + static_cast<size_t>(r) * dtype_bytes_for(t.dtype, t.cols()),
                         want.data() + r * t.cols(), t.cols());
    EXPECT_EQ(std::memcmp(want.data(), e->data, want.size() * 4), 0) << name;
    quantized += t.dtype == DType::Q8_0;
  }
  EXPECT_GT(quantized, 0);
  ExportOptions bf;
  bf.dtype = "bf16";
  export_model(q8, (dir_ / "q8hf").string(), bf);
  EXPECT_NE(slurp(dir_ / "q8hf" / "README.md").find("dequantized"), std::string::npos);
  EXPECT_EQ(read_json_file((dir_ / "q8hf" / "config.json").string()).at("torch_dtype"), "bfloat16");
  // Q8_0 and bf16 rounding move this tiny model's logits (|logit| up to 19) by a few tenths.
  EXPECT_LE(logit_error((dir_ / "q8hf").string(), golden_.at("exaone4-tiny")), 1.0);
}

// A training output folder: training_data.json, loss.csv and the tokenizer found next to the
// checkpoint (OUT/checkpoint -> OUT), and the card quotes them.
TEST_F(Export, TrainingCheckpointCard) {
  const fs::path run = dir_ / "run";
  fs::create_directories(run);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja"})
    fs::copy_file(kRoot + "/models/exaone4-tiny/" + f, run / f);
  fs::create_directories(run / "checkpoint");
  for (const char* f : {"config.json", "model.safetensors"})
    fs::copy_file(kRoot + "/models/exaone4-tiny/" + f, run / "checkpoint" / f);
  std::ofstream(run / "checkpoint" / "trainer_state.json") << R"({"format": "exaone-train-1", "next_step": 3})";
  std::ofstream(run / "training_data.json")
      << R"({"data": "corpus-scan", "screened": true, "manifest_sha256": "ab12cd", "files_verified": 3, "documents": 7})";
  std::ofstream(run / "loss.csv") << "step,loss,lr,grad_norm,tokens_per_s\n0,5.5,1e-3,1,100\n1,4.25,1e-3,1,100\n"
                                     "2,3.125,1e-3,1,100\n";
  export_model((run / "checkpoint").string(), (dir_ / "out").string(), {});
  const std::string card = slurp(dir_ / "out" / "README.md");
  EXPECT_NE(card.find("ab12cd"), std::string::npos) << card;
  EXPECT_NE(card.find("corpus-scan"), std::string::npos) << card;
  EXPECT_NE(card.find("3.1250"), std::string::npos) << card;  // final loss
  EXPECT_NE(card.find("3 optimizer steps"), std::string::npos) << card;
  EXPECT_TRUE(fs::exists(dir_ / "out" / "tokenizer.json"));
}

}  // namespace
}  // namespace exaone::train

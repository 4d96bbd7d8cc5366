// EXAONE 4.5 (exaone4_5) run text-only: the language model under text_config and
// model.language_model.*, the vision tower and MTP layer recognised and left unloaded; logits of
// several prompts against transformers (float32) from the Hugging Face folder and from the GGUF
// `exaone convert` writes (arch exaone4, as llama.cpp maps the 4.5 language model); bad configs.
// Fixtures: scripts/fixtures/make_exaone45_fixtures.py (golden.json itself is checked by
// golden_logits_test.cpp with every other fixture).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "golden.h"
#include "loaders/gguf.h"
#include "models/gguf_model.h"
#include "models/model.h"
#include "util/error.h"
#include "util/json_file.h"
#include "util/mapped_file.h"

namespace exaone {
namespace {

namespace fs = std::filesystem;
const fs::path kModels = fs::path(EXAONE_FIXTURES) / "models";
const char* const kFixtures[] = {"exaone45-text", "exaone45-legacy"};

// golden.json's prompt plus those of prompts_golden.json.
std::vector<Golden> all_prompts(const fs::path& dir) {
  std::vector<Golden> out{read_golden(dir.string())};
  json j = read_json_file((dir / "prompts_golden.json").string());
  for (const auto& p : j["prompts"]) {
    Golden g;
    for (const auto& v : p["ids"]) g.ids.push_back(v.get<int32_t>());
    for (const auto& row : p["logits"]) g.logits.push_back(row.get<std::vector<float>>());
    out.push_back(std::move(g));
  }
  return out;
}

// Largest |logit - golden| over every position of every prompt.
double worst_diff(Model& m, const std::vector<Golden>& prompts) {
  const int64_t V = m.config().vocab_size;
  double worst = 0;
  for (const Golden& g : prompts) {
    auto cache = m.new_cache();
    std::vector<float> logits;
    SequenceChunk c{g.ids, cache.get(), true};
    m.forward({&c, 1}, logits);
    EXPECT_EQ(logits.size(), g.ids.size() * V);
    for (size_t t = 0; t < g.ids.size(); ++t) {
      EXPECT_EQ(static_cast<int64_t>(g.logits[t].size()), V);
      for (int64_t v = 0; v < V; ++v) worst = std::max(worst, std::fabs(double(logits[t * V + v]) - g.logits[t][v]));
    }
  }
  return worst;
}

fs::path scratch(const std::string& tag) {
  return fs::temp_directory_path() / ("exaone45_" + tag + "_" + std::to_string(::getpid()));
}

TEST(Exaone45, EveryPromptEveryPositionWithin1e3) {
  for (const char* name : kFixtures) {
    auto m = load_model((kModels / name).string());
    const auto prompts = all_prompts(kModels / name);
    ASSERT_GE(prompts.size(), 3u);
    EXPECT_LT(worst_diff(*m, prompts), 1e-3) << name;
  }
}

TEST(Exaone45, TextModelAndMtpLoadedVisionLeftOut) {
  auto m = load_model((kModels / "exaone45-text").string());
  const ModelConfig& c = m->config();
  EXPECT_EQ(c.family, Family::Exaone4);  // the language model is EXAONE 4.0's
  EXPECT_EQ(c.model_type, "exaone4_5");  // chat-format detection keys on it
  EXPECT_TRUE(c.vision_tower);
  EXPECT_FALSE(c.tie_embeddings);
  EXPECT_TRUE(m->has_mtp());  // drafts for --spec mtp (tests/models/mtp_test.cpp)
  EXPECT_GT(c.sliding_window, 0);
  for (const auto& [name, t] : m->weights().tensors()) {
    EXPECT_EQ(name.find("visual"), std::string::npos) << name;
    EXPECT_EQ(name.find("language_model"), std::string::npos) << name;
  }
  // The MTP layer is not part of the parameter count (transformers does not load it).
  EXPECT_EQ(m->parameter_count(),
            read_json_file((kModels / "exaone45-text" / "golden_info.json").string())["params"].get<int64_t>());
  auto legacy = load_model((kModels / "exaone45-legacy").string());
  EXPECT_FALSE(legacy->config().tie_embeddings);
  EXPECT_TRUE(legacy->config().vision_tower);
  EXPECT_FALSE(legacy->has_mtp());
  EXPECT_EQ(legacy->config().n_kv_heads, 1);
}

// exaone convert: arch exaone4 (no vision, no MTP tensors), same logits when loaded back.
TEST(Exaone45, GgufWrittenAsExaone4LoadsBackWithSameLogits) {
  for (const char* name : kFixtures) {
    const fs::path out = scratch(name).string() + ".gguf";
    convert_to_gguf((kModels / name).string(), out.string(), DType::F32, true);
    {
      MappedFile mf(out.string());
      GgufFile f = parse_gguf(mf.data(), mf.size(), out.string());
      EXPECT_EQ(f.get_string("general.architecture"), "exaone4");
      EXPECT_FALSE(f.opt_int("exaone4.nextn_predict_layers").has_value());
      bool has_output = false;
      for (const auto& t : f.tensors) {
        EXPECT_EQ(t.name.find("visual"), std::string::npos) << t.name;
        EXPECT_EQ(t.name.find("nextn"), std::string::npos) << t.name;
        has_output |= t.name == "output.weight";
      }
      EXPECT_TRUE(has_output);
    }
    auto m = load_model(out.string());
    EXPECT_EQ(m->config().family, Family::Exaone4);
    auto hf = load_model((kModels / name).string());
    EXPECT_EQ(m->config().layer_sliding, hf->config().layer_sliding);
    EXPECT_EQ(m->config().layer_rope, hf->config().layer_rope);
    EXPECT_EQ(m->parameter_count(), hf->parameter_count());
    EXPECT_LT(worst_diff(*m, all_prompts(kModels / name)), 1e-3) << name;
    fs::remove(out);
  }
}

// Bad config.json: one Error naming config.json and the field.
std::string config_error(const std::function<void(json&)>& edit) {
  const fs::path dir = scratch("bad");
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(kModels / "exaone45-legacy"))
    fs::copy_file(e.path(), dir / e.path().filename());
  json j = read_json_file((dir / "config.json").string());
  edit(j);
  std::ofstream((dir / "config.json").string()) << j.dump(2);
  std::string msg;
  try {
    load_model(dir.string());
  } catch (const Error& e) {
    msg = e.what();
  }
  fs::remove_all(dir);
  return msg;
}

// The head is tied by the top-level tie_word_embeddings (what transformers consults for this class).
TEST(Exaone45, TopLevelFlagTiesTheHead) {
  const fs::path dir = scratch("tie");
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(kModels / "exaone45-text")) fs::copy_file(e.path(), dir / e.path().filename());
  for (bool top : {true, false}) {
    json j = read_json_file((kModels / "exaone45-text" / "config.json").string());
    j["tie_word_embeddings"] = top;
    j["text_config"]["tie_word_embeddings"] = !top;
    std::ofstream((dir / "config.json").string()) << j.dump(2);
    auto m = load_model(dir.string());
    EXPECT_EQ(m->config().tie_embeddings, top);
    EXPECT_EQ(m->weights().find("lm_head.weight") != nullptr, true);
  }
  fs::remove_all(dir);
}

TEST(Exaone45, BadTextConfigNamesFileAndField) {
  std::string e = config_error([](json& j) { j.erase("text_config"); });
  EXPECT_NE(e.find("config.json"), std::string::npos) << e;
  EXPECT_NE(e.find("'text_config'"), std::string::npos) << e;
  e = config_error([](json& j) { j["text_config"] = nullptr; });
  EXPECT_NE(e.find("'text_config'"), std::string::npos) << e;
  e = config_error([](json& j) { j["text_config"] = 3; });
  EXPECT_NE(e.find("'text_config'"), std::string::npos) << e;
  e = config_error([](json& j) { j["text_config"]["model_type"] = "qwen2"; });
  EXPECT_NE(e.find("config.json"), std::string::npos) << e;
  EXPECT_NE(e.find("'text_config.model_type'"), std::string::npos) << e;
  EXPECT_NE(e.find("qwen2"), std::string::npos) << e;
  e = config_error([](json& j) { j["text_config"].erase("model_type"); });
  EXPECT_NE(e.find("'text_config.model_type'"), std::string::npos) << e;
  e = config_error([](json& j) { j["text_config"].erase("hidden_size"); });
  EXPECT_NE(e.find("config.json: text_config"), std::string::npos) << e;
  EXPECT_NE(e.find("'hidden_size'"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

}  // namespace
}  // namespace exaone

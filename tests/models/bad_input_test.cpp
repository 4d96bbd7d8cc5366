// Malformed checkpoints: each gives one Error naming the file and the field or tensor.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "models/model.h"
#include "util/error.h"
#include "util/json_file.h"
#include "test_support.h"

namespace exaone {
namespace {

namespace fs = std::filesystem;
const fs::path kFixture = fs::path(EXAONE_FIXTURES) / "models" / "exaone4-hybrid-layertypes";

// A private copy of a fixture to damage.
fs::path copy_fixture(const std::string& tag) {
  static const test::TempDir root("bad");  // removed with everything in it when the process exits
  const fs::path dir = root.path() / tag;
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(kFixture)) fs::copy_file(e.path(), dir / e.path().filename());
  return dir;
}

void edit_config(const fs::path& dir, const std::function<void(json&)>& fn) {
  json j = read_json_file((dir / "config.json").string());
  fn(j);
  std::ofstream((dir / "config.json").string()) << j.dump(2);
}

std::string load_error(const fs::path& dir) {
  try {
    load_model(dir.string());
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(BadCheckpoint, MissingConfig) {
  auto d = copy_fixture("noconfig");
  fs::remove(d / "config.json");
  EXPECT_NE(load_error(d).find("config.json: missing"), std::string::npos);
}

TEST(BadCheckpoint, MalformedConfigJson) {
  auto d = copy_fixture("badjson");
  std::ofstream((d / "config.json").string()) << "{\"hidden_size\": 64,";
  auto e = load_error(d);
  EXPECT_NE(e.find("config.json: invalid JSON"), std::string::npos) << e;
}

TEST(BadCheckpoint, UnknownArchitecture) {
  auto d = copy_fixture("arch");
  edit_config(d, [](json& j) {
    j["model_type"] = "llama";
    j["architectures"] = {"LlamaForCausalLM"};
  });
  auto e = load_error(d);
  EXPECT_NE(e.find("unknown architecture (model_type 'llama'"), std::string::npos) << e;
}

TEST(BadCheckpoint, WrongFieldType) {
  auto d = copy_fixture("type");
  edit_config(d, [](json& j) { j["hidden_size"] = "sixty-four"; });
  auto e = load_error(d);
  EXPECT_NE(e.find("field 'hidden_size': expected integer, got string"), std::string::npos) << e;
  // A float far outside int64 (found by fuzz_config) is an error, not a cast.
  edit_config(d, [](json& j) {
    j["hidden_size"] = 64;
    j["num_hidden_layers"] = 4.5e54;
  });
  e = load_error(d);
  EXPECT_NE(e.find("field 'num_hidden_layers': expected integer, got number"), std::string::npos) << e;
}

TEST(BadCheckpoint, InconsistentHeads) {
  auto d = copy_fixture("heads");
  edit_config(d, [](json& j) { j["num_key_value_heads"] = 3; });
  auto e = load_error(d);
  EXPECT_NE(e.find("num_key_value_heads"), std::string::npos) << e;
}

TEST(BadCheckpoint, BadLayerTypes) {
  auto d = copy_fixture("layertypes");
  edit_config(d, [](json& j) { j["layer_types"][2] = "chunked_attention"; });
  auto e = load_error(d);
  EXPECT_NE(e.find("'layer_types'[2]: unknown layer type"), std::string::npos) << e;
  edit_config(d, [](json& j) { j["layer_types"] = json::array({"full_attention"}); });
  EXPECT_NE(load_error(d).find("entries for 8 layers"), std::string::npos);
}

TEST(BadCheckpoint, UnsupportedRopeScaling) {
  auto d = copy_fixture("rope");
  edit_config(d, [](json& j) { j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}}; });
  auto e = load_error(d);
  EXPECT_NE(e.find("rope scaling type 'yarn' is not supported"), std::string::npos) << e;
}

TEST(BadCheckpoint, ShapeMismatchAgainstConfig) {
  auto d = copy_fixture("shape");
  edit_config(d, [](json& j) { j["intermediate_size"] = 100; });
  auto e = load_error(d);
  EXPECT_NE(e.find("tensor 'model.layers.0.mlp.gate_proj.weight' has shape [96, 64], config expects [100, 64]"),
            std::string::npos)
      << e;
}

TEST(BadCheckpoint, MissingTensor) {
  auto d = copy_fixture("tensor");
  edit_config(d, [](json& j) { j["num_hidden_layers"] = 9; j["layer_types"].push_back("full_attention"); });
  auto e = load_error(d);
  EXPECT_NE(e.find("missing tensor 'model.layers.8."), std::string::npos) << e;
}

TEST(BadCheckpoint, TruncatedWeights) {
  auto d = copy_fixture("trunc");
  fs::resize_file(d / "model.safetensors", fs::file_size(d / "model.safetensors") / 2);
  auto e = load_error(d);
  EXPECT_NE(e.find("model.safetensors"), std::string::npos) << e;
  EXPECT_NE(e.find("out of range"), std::string::npos) << e;
}

TEST(BadCheckpoint, TokenIdOutOfRange) {
  auto model = load_model(kFixture.string());
  auto cache = model->new_cache();
  std::vector<int32_t> toks{1, 2, static_cast<int32_t>(model->config().vocab_size)};
  std::vector<float> logits;
  SequenceChunk c{toks, cache.get(), false};
  try {
    model->forward({&c, 1}, logits);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("token id 384 at position 2 is out of range"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace exaone

// EXAONE 4.5 on the command line: `info` says the vision tower is present and not loaded; a
// config.json without a usable text_config is one line naming file and field, exit code 2.
// K-EXAONE's MTP layer survives `exaone convert`: greedy output with `--spec mtp` from the GGUF
// equals greedy output without it (bench checks the tokens).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "run_cli.h"
#include "util/json_file.h"

namespace {

namespace fs = std::filesystem;
using exaone_cli_test::run;
using exaone_cli_test::scratch_path;

const std::string kFixtures = std::string(EXAONE_FIXTURES) + "/models/";

size_t lines(const std::string& s) {
  size_t n = 0;
  for (char ch : s) n += ch == '\n';
  return n;
}

TEST(Exaone45Cli, InfoSaysVisionTowerNotLoadedAndMtpDrafts) {
  auto r = run("info -m " + kFixtures + "exaone45-text");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("EXAONE 4.5 (text) (exaone4_5)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("vision tower present, not loaded (images are a later step)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mtp              1 layer (sliding, window 4, rope): drafts for --spec mtp"), std::string::npos)
      << r.out;
  auto j = run("info --json -m " + kFixtures + "exaone45-legacy");
  ASSERT_EQ(j.code, 0) << j.err;
  const auto info = exaone::json::parse(j.out);
  EXPECT_EQ(info["architecture"], "EXAONE 4.5 (text)");
  ASSERT_EQ(info["not_loaded"].size(), 1u);
  EXPECT_EQ(info["not_loaded"][0], "vision tower present, not loaded (images are a later step)");
  EXPECT_TRUE(info["mtp"].is_null());  // the legacy fixture carries no MTP layer
  auto plain = run("info -m " + kFixtures + "exaone4-f16-untied");
  ASSERT_EQ(plain.code, 0) << plain.err;
  EXPECT_EQ(plain.out.find("not loaded"), std::string::npos) << plain.out;
}

TEST(Exaone45Cli, BadTextConfigExitsTwoWithOneLine) {
  const fs::path dir = scratch_path("exaone45_bad");
  struct Case {
    const char* field;
    std::function<void(exaone::json&)> edit;
  };
  const Case cases[] = {{"'text_config'", [](exaone::json& j) { j.erase("text_config"); }},
                        {"'text_config.model_type'", [](exaone::json& j) { j["text_config"]["model_type"] = "llama"; }}};
  for (const Case& c : cases) {
    fs::remove_all(dir);
    fs::create_directories(dir);
    for (const auto& e : fs::directory_iterator(kFixtures + "exaone45-legacy"))
      fs::copy_file(e.path(), dir / e.path().filename());
    auto j = exaone::read_json_file((dir / "config.json").string());
    c.edit(j);
    std::ofstream((dir / "config.json").string()) << j.dump(2);
    for (const std::string cmd : {"info", "logits --ids 1,2"}) {
      auto r = run(cmd + " -m " + dir.string());
      EXPECT_EQ(r.code, 2) << cmd << ": " << r.err;
      EXPECT_EQ(lines(r.err), 1u) << r.err;
      EXPECT_NE(r.err.find("config.json"), std::string::npos) << r.err;
      EXPECT_NE(r.err.find(c.field), std::string::npos) << r.err;
    }
  }
  fs::remove_all(dir);
}

TEST(Exaone45Cli, KExaoneSpecMtpFromConvertedGguf) {
  for (const std::string name : {"kexaone-moe-experts", "kexaone-moe-fused"}) {
    const std::string out = scratch_path(name + ".gguf");
    auto c = run("convert -q --force -t f32 -m " + kFixtures + name + " -o " + out);
    ASSERT_EQ(c.code, 0) << c.err;
    auto r = run("bench -m " + out + " -p 8 -n 24 -t 1 -r 1 --bandwidth-mib 8 --spec mtp --draft 3 --json");
    ASSERT_EQ(r.code, 0) << name << ": " << r.err;
    const auto j = exaone::json::parse(r.out)["speculative"];
    EXPECT_TRUE(j["identical_output"].get<bool>()) << name;
    fs::remove(out);
  }
}

}  // namespace

// `--lora PATH[:SCALE]` end to end: `exaone logits` against HF peft's golden logits
// (tests/fixtures/lora_inference, scripts/fixtures/make_lora_adapter_fixtures.py), scale 0 = the
// base, the option on run / info / bench, and bad adapters exiting 2 with the file named.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "run_cli.h"
#include "util/json_file.h"

namespace {

using exaone::json;
using exaone_cli_test::run;
using exaone_cli_test::scratch_path;

const std::string kTiny = std::string(EXAONE_FIXTURES) + "/../../models/exaone4-tiny";
const std::string kLora = std::string(EXAONE_FIXTURES) + "/lora_inference/";

std::string ids_arg(const json& ids) {
  std::string s;
  for (const auto& v : ids) s += (s.empty() ? "" : ",") + std::to_string(v.get<int>());
  return s;
}

double max_abs(const json& x, const json& y) {
  double d = 0;
  EXPECT_EQ(x.size(), y.size());
  for (size_t t = 0; t < x.size() && t < y.size(); ++t)
    for (size_t v = 0; v < x[t].size(); ++v) d = std::max(d, std::fabs(x[t][v].get<double>() - y[t][v].get<double>()));
  return d;
}

TEST(LoraCli, LogitsMatchPeft) {
  const json g = exaone::read_json_file(kLora + "golden.json");
  const auto r = run("logits -m " + kTiny + " --ids " + ids_arg(g["ids"]) + " --all-positions --lora " + kLora +
                     "adapter_a");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("adapter_a: scale 1, 28 matrices, rank 4, alpha 8"), std::string::npos) << r.err;
  const double d = max_abs(json::parse(r.out)["logits"], g["adapter_a"]);
  std::printf("[lora cli] logits --lora vs peft: max |d| %.2e\n", d);
  EXPECT_LE(d, 1e-3);

  const auto ab = run("logits -m " + kTiny + " --ids " + ids_arg(g["ids"]) + " --lora " + kLora + "adapter_a --lora " +
                      kLora + "adapter_b:1");
  ASSERT_EQ(ab.code, 0) << ab.err;
  EXPECT_LE(max_abs(json::parse(ab.out)["logits"], g["adapter_a_b"]), 1e-3);
}

TEST(LoraCli, ScaleZeroIsTheBase) {
  const auto base = run("logits -m " + kTiny + " --ids 1,20,30,40");
  const auto zero = run("logits -m " + kTiny + " --ids 1,20,30,40 --lora " + kLora + "adapter_a:0");
  ASSERT_EQ(base.code, 0) << base.err;
  ASSERT_EQ(zero.code, 0) << zero.err;
  EXPECT_EQ(base.out, zero.out);
}

TEST(LoraCli, InfoRunAndBenchTakeTheOption) {
  const auto info = run("info -m " + kTiny + " --json --lora " + kLora + "adapter_b:0.5");
  ASSERT_EQ(info.code, 0) << info.err;
  const json j = json::parse(info.out);
  ASSERT_EQ(j["lora"].size(), 1u);
  EXPECT_EQ(j["lora"][0]["scale"], 0.5);
  EXPECT_EQ(j["lora"][0]["matrices"], 8);
  const auto text = run("info -m " + kTiny + " --lora " + kLora + "adapter_b");
  EXPECT_NE(text.out.find("lora "), std::string::npos) << text.out;

  const auto gen = run("run -m " + kTiny + " -p hi -n 4 --lora " + kLora + "adapter_a --lora " + kLora + "adapter_b");
  EXPECT_EQ(gen.code, 0) << gen.err;
  const auto bench = run("bench -m " + kTiny + " -p 8 -n 4 -r 1 --bandwidth-mib 8 --json --lora " + kLora + "adapter_a");
  ASSERT_EQ(bench.code, 0) << bench.err;
  EXPECT_EQ(json::parse(bench.out)["lora"].size(), 1u);
}

TEST(LoraCli, BadAdaptersExit2NamingTheFile) {
  namespace fs = std::filesystem;
  // Not an adapter at all.
  auto r = run("logits -m " + kTiny + " --ids 1,2 --lora " + kTiny);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("adapter_config.json"), std::string::npos) << r.err;
  // A missing path.
  r = run("logits -m " + kTiny + " --ids 1,2 --lora " + scratch_path("no-such-adapter"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("no-such-adapter"), std::string::npos) << r.err;
  // DoRA in the config.
  const std::string dir = scratch_path("dora");
  fs::create_directories(dir);
  fs::copy_file(kLora + "adapter_b/adapter_model.safetensors", dir + "/adapter_model.safetensors",
                fs::copy_options::overwrite_existing);
  json cfg = exaone::read_json_file(kLora + "adapter_b/adapter_config.json");
  cfg["use_dora"] = true;
  std::ofstream(dir + "/adapter_config.json") << cfg.dump();
  r = run("logits -m " + kTiny + " --ids 1,2 --lora " + dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("use_dora"), std::string::npos) << r.err;
  // An adapter for a model with another shape (the tiny adapter on the demo model).
  const std::string demo = std::string(EXAONE_FIXTURES) + "/../../models/exaone4-demo";
  if (fs::exists(demo + "/config.json")) {
    r = run("logits -m " + demo + " --ids 1,2 --lora " + kLora + "adapter_a");
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("adapter_a"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("model.layers."), std::string::npos) << r.err;
  }
  fs::remove_all(dir);
}

}  // namespace

// `exaone bench`, `exaone perplexity` and `exaone make-model` as users and scripts see them.
// The perplexity reference is computed here from `exaone tokenize` and `exaone logits
// --all-positions` output: an independent path to the same number.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "run_cli.h"
#include "util/json_file.h"

namespace {

namespace fs = std::filesystem;

using exaone_cli_test::Result;
using exaone_cli_test::run;

const std::string kTiny = std::string(EXAONE_FIXTURES) + "/../../models/exaone4-tiny";

std::string temp_path(const std::string& name) { return exaone_cli_test::scratch_path("bench_" + name); }

std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = temp_path(name);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::string slurp(const std::string& path) {
  std::stringstream s;
  s << std::ifstream(path, std::ios::binary).rdbuf();
  return s.str();
}

TEST(MakeModel, WritesALoadableDeterministicCheckpoint) {
  const std::string a = temp_path("model_a"), b = temp_path("model_b"), c = temp_path("model_c");
  for (const auto& d : {a, b, c}) fs::remove_all(d);
  ASSERT_EQ(run("make-model --shape tiny -o " + a + " --seed 7").code, 0);
  ASSERT_EQ(run("make-model --shape tiny -o " + b + " --seed 7").code, 0);
  ASSERT_EQ(run("make-model --shape tiny -o " + c + " --seed 8 --dtype f32").code, 0);
  EXPECT_EQ(slurp(a + "/model.safetensors"), slurp(b + "/model.safetensors"));
  auto info = run("info --json -m " + a);
  ASSERT_EQ(info.code, 0) << info.err;
  auto j = exaone::json::parse(info.out);
  EXPECT_EQ(j["hidden_size"], 128);
  EXPECT_EQ(j["layers"], 4);
  EXPECT_EQ(j["vocab_size"], 2304);
  EXPECT_EQ(j["weight_dtype"], "BF16");
  EXPECT_EQ(j["layer_layout"][3]["attention"], "global");
  EXPECT_EQ(j["layer_layout"][0]["attention"], "sliding");
  auto jc = exaone::json::parse(run("info --json -m " + c).out);
  EXPECT_EQ(jc["weight_dtype"], "F32");
  // Same seed, same logits; another seed, other logits; values finite.
  auto la = run("logits --ids 1,2,3 -m " + a), lb = run("logits --ids 1,2,3 -m " + b),
       lc = run("logits --ids 1,2,3 -m " + c);
  ASSERT_EQ(la.code, 0) << la.err;
  EXPECT_EQ(la.out, lb.out);
  EXPECT_NE(la.out, lc.out);
  const auto logits = exaone::json::parse(la.out);
  for (const auto& v : logits["logits"][0]) EXPECT_TRUE(std::isfinite(v.get<double>()));
  // An existing checkpoint is kept unless --force.
  auto again = run("make-model --shape tiny -o " + a);
  EXPECT_EQ(again.code, 2);
  EXPECT_NE(again.err.find("--force"), std::string::npos) << again.err;
  EXPECT_EQ(run("make-model --shape tiny -o " + a + " --force --seed 7").code, 0);
  EXPECT_EQ(slurp(a + "/model.safetensors"), slurp(b + "/model.safetensors"));
  for (const auto& d : {a, b, c}) fs::remove_all(d);
}

TEST(MakeModel, ShardsLoadLikeOneFile) {
  const std::string one = temp_path("model_one"), sharded = temp_path("model_sharded");
  for (const auto& d : {one, sharded}) fs::remove_all(d);
  ASSERT_EQ(run("make-model --shape tiny -o " + one + " --seed 3").code, 0);
  // The embedding alone is 2304 x 128 x 2 bytes: each shard holds about one matrix.
  auto r = run("make-model --shape tiny -o " + sharded + " --seed 3 --max-shard-bytes 600000");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(fs::exists(sharded + "/model.safetensors"));
  auto index = exaone::json::parse(slurp(sharded + "/model.safetensors.index.json"));
  EXPECT_EQ(index["weight_map"]["model.embed_tokens.weight"], "model-00001-of-00003.safetensors");
  EXPECT_TRUE(fs::exists(sharded + "/model-00003-of-00003.safetensors"));
  EXPECT_EQ(run("logits --ids 5,6,7 -m " + one).out, run("logits --ids 5,6,7 -m " + sharded).out);
  // Re-making as one file removes the shards (they would be loaded too).
  ASSERT_EQ(run("make-model --shape tiny -o " + sharded + " --seed 3 --force").code, 0);
  EXPECT_FALSE(fs::exists(sharded + "/model.safetensors.index.json"));
  EXPECT_FALSE(fs::exists(sharded + "/model-00001-of-00003.safetensors"));
  EXPECT_EQ(slurp(one + "/model.safetensors"), slurp(sharded + "/model.safetensors"));
  for (const auto& d : {one, sharded}) fs::remove_all(d);
}

TEST(MakeModel, BadFlagsExitWith2) {
  auto r = run("make-model --shape 7b -o " + temp_path("never"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--shape"), std::string::npos) << r.err;
  r = run("make-model --shape tiny --dtype q4 -o " + temp_path("never"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--dtype"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(temp_path("never") + "/config.json"));
}

TEST(Bench, JsonReportsSpeedBandwidthAndRoofline) {
  const std::string m = temp_path("model_bench");
  fs::remove_all(m);
  ASSERT_EQ(run("make-model --shape tiny -o " + m).code, 0);
  auto r = run("bench -m " + m + " -p 8 -n 4 -t 1 -r 2 --bandwidth-mib 8 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = exaone::json::parse(r.out);
  EXPECT_EQ(j["threads"], 1);
  EXPECT_EQ(j["n_prompt"], 8);
  EXPECT_EQ(j["n_gen"], 4);
  EXPECT_EQ(j["prefill"]["tokens"], 8);
  EXPECT_EQ(j["prefill"]["samples_tokens_per_s"].size(), 2u);
  EXPECT_GT(j["prefill"]["tokens_per_s"].get<double>(), 0);
  EXPECT_GT(j["decode"]["tokens_per_s"].get<double>(), 0);
  EXPECT_GT(j["bandwidth"]["best_gb_s"].get<double>(), 0);
  // Tied embeddings: one decode step reads every stored byte.
  EXPECT_EQ(j["decode_weight_bytes_per_token"].get<double>(), j["weights_bytes"].get<double>());
  const double ceiling = j["bandwidth"]["best_gb_s"].get<double>() * 1e9 / j["weights_bytes"].get<double>();
  EXPECT_NEAR(j["decode_ceiling_tokens_per_s"].get<double>(), ceiling, 1e-6 * ceiling);
  // Each decode run against the bandwidth read right after it; with 2 runs the median is their mean.
  const double frac = j["roofline_fraction"].get<double>();
  const auto& runs = j["roofline_fraction_per_repetition"];
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_NEAR(frac, (runs[0].get<double>() + runs[1].get<double>()) / 2, 1e-9 * frac);
  EXPECT_GT(frac, 0);
  EXPECT_EQ(j["bandwidth"]["passes"], 6);  // 3 per decode run
  // The kernel each operation ran with, as `info --cpu` names it.
  for (const char* op : {"int8_matmul", "float_prefill_gemm", "attention", "train_gemm_f32"})
    EXPECT_TRUE(j["kernels"][op].is_string()) << op;
  // Compute peaks (the CPUs this runs on have AVX2 at least) and the prefill's share of them.
  EXPECT_GT(j["peaks"]["fp32_gflops"].get<double>(), 0);
  EXPECT_GT(j["peaks"]["int8_gops"].get<double>(), 0);
  EXPECT_FALSE(j["peaks"]["int8_path"].get<std::string>().empty());
  const double gops = j["prefill_gops"].get<double>();
  EXPECT_GT(gops, 0);
  EXPECT_NEAR(j["prefill_fraction_of_int8_peak"].get<double>(), gops / j["peaks"]["int8_gops"].get<double>(), 1e-9);

  auto table = run("bench -m " + m + " -p 4 -n 2 -t 2 -r 1 --bandwidth-mib 8");
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_NE(table.out.find("| pp4 "), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("| tg2 "), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("roofline fraction"), std::string::npos) << table.out;
  // Decode only (-p 0) and prefill only (-n 0).
  auto dec = exaone::json::parse(run("bench -m " + m + " -p 0 -n 2 -r 1 --bandwidth-mib 8 --json").out);
  EXPECT_TRUE(dec["prefill"].is_null());
  auto pre = exaone::json::parse(run("bench -m " + m + " -p 3 -n 0 -r 1 --bandwidth-mib 8 --json").out);
  EXPECT_TRUE(pre["decode"].is_null());
  EXPECT_TRUE(pre["roofline_fraction"].is_null());

  // Decode at depth: the KV bytes per step grow with the context decode starts from.
  auto deep = exaone::json::parse(run("bench -m " + m + " -p 0 -n 2 --depth 16 -r 1 --bandwidth-mib 8 --json").out);
  EXPECT_EQ(deep["depth"], 16);
  EXPECT_GT(deep["decode_kv_bytes_per_token"].get<double>(), dec["decode_kv_bytes_per_token"].get<double>());
  auto deep_table = run("bench -m " + m + " -p 0 -n 2 --depth 4 -r 1 --bandwidth-mib 8");
  EXPECT_NE(deep_table.out.find("| tg2 @ d4 "), std::string::npos) << deep_table.out;
  // A narrower KV cache: half the bytes per step of F32's (F16), named in the report.
  auto half = exaone::json::parse(
      run("bench -m " + m + " -p 0 -n 2 --depth 16 -r 1 --bandwidth-mib 8 --kv-type f16 --json").out);
  EXPECT_EQ(half["kv_cache_type"], "F16");
  EXPECT_NEAR(half["decode_kv_bytes_per_token"].get<double>(), deep["decode_kv_bytes_per_token"].get<double>() / 2,
              1e-9 * deep["decode_kv_bytes_per_token"].get<double>());

  // Batched decode (the server's steps): every sequence's tokens count.
  auto batched = exaone::json::parse(run("bench -m " + m + " -p 0 -n 3 --batch 4 -r 1 --bandwidth-mib 8 --json").out);
  EXPECT_EQ(batched["batch"], 4);
  EXPECT_EQ(batched["decode"]["tokens"], 12);
  auto batched_table = run("bench -m " + m + " -p 0 -n 3 --batch 4 -r 1 --bandwidth-mib 8");
  EXPECT_NE(batched_table.out.find("| tg3 x4 |     12 |"), std::string::npos) << batched_table.out;

  for (const std::string bad : {"-p 0 -n 0", "-t 0", "-r 0", "-p 3000", "-p -1", "--bandwidth-mib 0",
                                "--depth -1", "-p 0 -n 100 --depth 2000", "--kv-type q4_0", "--batch 0",
                                "--batch 300"}) {
    auto e = run("bench -m " + m + " " + bad);
    EXPECT_EQ(e.code, 2) << bad << ": " << e.err;
    EXPECT_EQ(e.err.rfind("error: ", 0), 0u) << bad << ": " << e.err;
  }
  fs::remove_all(m);
}

const char* kText =
    "The quick brown fox jumps over the lazy dog. EXAONE is a family of language models from LG AI Research. "
    "서울은 대한민국의 수도이며, 한강이 도시를 가로질러 흐른다. Perplexity measures how well a model predicts "
    "the next token; lower is better. 오늘 날씨가 맑아서 공원에 산책을 나갔다. 1, 2, 3, 4, 5, 6, 7, 8, 9, 10.\n";

// PPL and its error from `exaone logits --all-positions` of each chunk.
std::pair<double, double> reference_from_logits(const std::vector<int>& ids, size_t ctx) {
  long double sum = 0, sum2 = 0;
  int64_t count = 0;
  for (size_t start = 0; start + ctx <= ids.size(); start += ctx) {
    std::string list;
    for (size_t i = start; i < start + ctx; ++i) list += (i > start ? "," : "") + std::to_string(ids[i]);
    auto r = run("logits --all-positions -m " + kTiny + " --ids " + list);
    EXPECT_EQ(r.code, 0) << r.err;
    auto logits = exaone::json::parse(r.out)["logits"];
    for (size_t j = ctx / 2; j + 1 < ctx; ++j) {
      long double z = 0;
      for (const auto& v : logits[j]) z += std::exp(static_cast<long double>(v.get<double>()));
      const long double nll = std::log(z) - logits[j][ids[start + j + 1]].get<double>();
      sum += nll;
      sum2 += nll * nll;
      ++count;
    }
  }
  const double mean = static_cast<double>(sum / count), ppl = std::exp(mean);
  return {ppl, ppl * std::sqrt((static_cast<double>(sum2 / count) - mean * mean) / (count - 1))};
}

TEST(Perplexity, CliMatchesLogitsReference) {
  const std::string file = write_temp("ppl.txt", kText);
  auto tok = run("tokenize -m " + kTiny + " --file " + file);
  ASSERT_EQ(tok.code, 0) << tok.err;
  std::vector<int> ids = exaone::json::parse(tok.out).get<std::vector<int>>();
  ASSERT_GE(ids.size(), 40u);
  for (size_t ctx : {10u, 16u}) {
    auto r = run("perplexity -m " + kTiny + " -f " + file + " --ctx " + std::to_string(ctx) + " -b 4 -t 2");
    ASSERT_EQ(r.code, 0) << r.err;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(PPL = ([0-9.]+) \+/- ([0-9.]+))"))) << r.out;
    const auto [ppl, err] = reference_from_logits(ids, ctx);
    EXPECT_NEAR(std::stod(m[1]), ppl, 6e-5 + 1e-6 * ppl) << "ctx " << ctx;
    EXPECT_NEAR(std::stod(m[2]), err, 6e-6 + 1e-5 * err) << "ctx " << ctx;
    EXPECT_NE(r.err.find("[1/" + std::to_string(ids.size() / ctx) + "]"), std::string::npos) << r.err;
  }
}

TEST(Perplexity, BadInputExitsWith2) {
  const std::string text = write_temp("ppl2.txt", kText);
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"-f " + write_temp("empty.txt", ""), "is empty"},
      {"-f " + write_temp("short.txt", "hello world"), "at least 2 * ctx"},
      {"-f " + text + " --ctx 2", "--ctx must be at least 3"},
      {"-f " + text + " --ctx 0", "--ctx must be at least 3"},
      {"-f " + text + " --ctx 16 -b -3", "--batch"},
      {"-f " + temp_path("missing.txt"), "missing.txt"},
      {"-f " + text + " -t 0", "--threads"},
  };
  for (const auto& c : cases) {
    auto r = run("perplexity -m " + kTiny + " " + c.args);
    EXPECT_EQ(r.code, 2) << c.args << ": " << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.args << ": " << r.err;
    EXPECT_EQ(r.out.find("PPL"), std::string::npos);
  }
}

}  // namespace

// `exaone comply` as scripts see it: a scan of a tiny JSONL prints its summary and writes
// verifiable outputs, `comply verify` catches an altered shard, and bad input exits 2 with a
// one-line `error: ...`.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "run_cli.h"
#include "util/json_file.h"

namespace fs = std::filesystem;

namespace {

using exaone_cli_test::Result;

Result run_exaone(const std::string& args) { return exaone_cli_test::run(args); }

std::string fresh_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("exaone_comply_cli_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

}  // namespace

TEST(ComplyCli, ScanThenVerify) {
  std::string root = fresh_dir("scan");
  fs::create_directories(root + "/in");
  std::ofstream(root + "/in/source.json") << R"({"name":"t","license":"CC-BY-4.0","commercial_use":true})";
  std::ofstream(root + "/in/docs.jsonl")
      << R"({"id":"a","text":"연락처 010-1234-5678 로 문의하세요."})" "\n"
      << R"({"id":"b","text":"nothing personal here"})" "\n"
      << R"({"id":"c","text":"nothing personal here"})" "\n"
      << R"({"id":"d","text":7})" "\n";
  auto r = run_exaone("comply scan --in " + root + "/in --out " + root + "/out --action mask --threads 2");
  ASSERT_EQ(r.code, 0) << r.err;
  auto s = exaone::json::parse(r.out);
  EXPECT_EQ(s["documents"], 4);
  EXPECT_EQ(s["kept"], 2);
  EXPECT_EQ(s["duplicates"], 1);
  EXPECT_EQ(s["errors"], 1);
  EXPECT_EQ(s["complete"], true);
  std::stringstream shard;
  shard << std::ifstream(root + "/out/data/shard-00000.jsonl").rdbuf();
  EXPECT_NE(shard.str().find("010-****-5678"), std::string::npos);
  EXPECT_EQ(shard.str().find("1234"), std::string::npos);

  auto v = run_exaone("comply verify " + root + "/out");
  ASSERT_EQ(v.code, 0) << v.err;
  EXPECT_EQ(v.out.rfind("ok: ", 0), 0u) << v.out;

  std::ofstream(root + "/out/data/shard-00000.jsonl", std::ios::app) << "{}\n";
  auto bad = run_exaone("comply verify " + root + "/out");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("error: "), std::string::npos);
  EXPECT_NE(bad.err.find("shard-00000.jsonl"), std::string::npos) << bad.err;
  fs::remove_all(root);
}

TEST(ComplyCli, BadInputExitsTwo) {
  std::string root = fresh_dir("bad");
  // Missing input.
  auto r = run_exaone("comply scan --in " + root + "/missing.jsonl --out " + root + "/out");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("missing.jsonl"), std::string::npos) << r.err;
  // Unknown action.
  std::ofstream(root + "/d.jsonl") << R"({"text":"x"})" "\n";
  r = run_exaone("comply scan --in " + root + "/d.jsonl --out " + root + "/out2 --action shred");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--action"), std::string::npos) << r.err;
  // Verify on a folder that is not a scan output.
  r = run_exaone("comply verify " + root);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("manifest.sha256"), std::string::npos) << r.err;
  fs::remove_all(root);
}

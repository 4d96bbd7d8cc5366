// `--spec mtp --draft N` on run, chat and bench: bench reports tok/s with and without MTP
// speculation, the acceptance rate and whether the tokens agree; models without an MTP layer
// and unknown methods are refused with one line and exit code 2.
#include <gtest/gtest.h>

#include "run_cli.h"
#include "util/json_file.h"

namespace {

using exaone_cli_test::run;

const std::string kFixtures = std::string(EXAONE_FIXTURES) + "/models/";
const std::string kTiny = std::string(EXAONE_FIXTURES) + "/../../models/exaone4-tiny";

TEST(SpecCli, BenchReportsAcceptanceAndSpeed) {
  auto r = run("bench -m " + kFixtures + "kexaone-moe-fused -p 8 -n 24 -t 1 -r 1 --bandwidth-mib 8 --spec mtp --draft 3 "
               "--json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = exaone::json::parse(r.out)["speculative"];
  EXPECT_EQ(j["method"], "mtp");
  EXPECT_EQ(j["draft"], 3);
  EXPECT_TRUE(j["identical_output"].get<bool>());
  EXPECT_GE(j["acceptance_rate"].get<double>(), 0.0);
  EXPECT_LE(j["acceptance_rate"].get<double>(), 1.0);
  EXPECT_GT(j["plain_tokens_per_s"].get<double>(), 0);
  EXPECT_GT(j["spec_tokens_per_s"].get<double>(), 0);
  auto table = run("bench -m " + kFixtures + "kexaone-moe-experts -p 4 -n 8 -t 1 -r 1 --bandwidth-mib 8 --spec mtp");
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_NE(table.out.find("MTP speculation, N = 3"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("same tokens"), std::string::npos) << table.out;
}

TEST(SpecCli, ModelsWithoutMtpAndUnknownMethodsAreRefused) {
  for (const std::string cmd : {"run -p hi", "chat"}) {
    auto r = run(cmd + " -m " + kTiny + " --spec mtp", "hello\n");
    EXPECT_EQ(r.code, 2) << cmd;
    EXPECT_NE(r.err.find("--spec mtp: "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("has no multi-token-prediction layer"), std::string::npos) << r.err;
  }
  auto b = run("bench -m " + kTiny + " -p 2 -n 2 -r 1 --bandwidth-mib 8 --spec mtp");
  EXPECT_EQ(b.code, 2);
  EXPECT_NE(b.err.find("has no multi-token-prediction layer"), std::string::npos) << b.err;
  auto u = run("run -p hi -m " + kTiny + " --spec eagle");
  EXPECT_EQ(u.code, 2);
  EXPECT_NE(u.err.find("--spec: unknown method 'eagle' (supported: mtp)"), std::string::npos) << u.err;
  auto d = run("run -p hi -m " + kTiny + " --spec mtp --draft 0");
  EXPECT_EQ(d.code, 2);
}

}  // namespace

// The `exaone` command line as users and scripts see it: outputs, and exit code 2 with a
// one-line message for bad input.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "run_cli.h"
#include "util/json_file.h"

namespace {

using exaone_cli_test::run;
using exaone_cli_test::scratch_path;

const std::string kModels = std::string(EXAONE_FIXTURES) + "/models/";

TEST(Cli, LogitsPrintsJsonForLastOrAllPositions) {
  auto r = run("logits -m " + kModels + "exaone4-hybrid-layertypes --ids 1,2,3");
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = exaone::json::parse(r.out);
  EXPECT_EQ(j["ids"].size(), 3u);
  ASSERT_EQ(j["logits"].size(), 1u);
  EXPECT_EQ(j["logits"][0].size(), 384u);
  auto all = exaone::json::parse(run("logits -m " + kModels + "exaone4-hybrid-layertypes --ids 1,2,3 --all-positions").out);
  ASSERT_EQ(all["logits"].size(), 3u);
  EXPECT_EQ(all["logits"][2], j["logits"][0]);
}

TEST(Cli, InfoShowsLayerLayout) {
  auto r = run("info -m " + kModels + "exaone4-hybrid-layertypes --json");
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = exaone::json::parse(r.out);
  EXPECT_EQ(j["layer_layout"][3]["attention"], "global");
  EXPECT_EQ(j["layer_layout"][3]["position"], "nope");
  EXPECT_EQ(j["layer_layout"][0]["attention"], "sliding");
  EXPECT_EQ(j["sliding_window"], 4);
  auto text = run("info -m " + kModels + "exaone4-dense-tied-llama3");
  EXPECT_EQ(text.code, 0);
  EXPECT_NE(text.out.find("0:global/rope"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("llama3"), std::string::npos);
}

TEST(Cli, InfoCpuNamesEachKernelPath) {
  auto j = exaone::json::parse(run("info --cpu --json").out);
  for (const char* op : {"int8_matmul", "float_prefill_gemm", "attention", "train_gemm_f32", "train_gemm_bf16"})
    EXPECT_TRUE(j["kernels"][op].is_string()) << op;
  // EXAONE_KERNELS=scalar forces the references everywhere they exist.
  setenv("EXAONE_KERNELS", "scalar", 1);  // inherited by the child only: this process runs no kernels
  auto scalar = exaone::json::parse(run("info --cpu --json").out);
  unsetenv("EXAONE_KERNELS");
  EXPECT_EQ(scalar["kernels"]["int8_matmul"], "scalar");
  EXPECT_EQ(scalar["kernels"]["float_prefill_gemm"], "scalar");
  EXPECT_EQ(scalar["kernels"]["attention"], "scalar");
}

TEST(Cli, BadInputExitsWithCode2AndOneLine) {
  const std::string m = "-m " + kModels + "exaone4-hybrid-layertypes ";
  struct Case {
    std::string args, needle;
  } cases[] = {
      {m + "--ids 1,2,99999", "token id 99999 at position 2 is out of range"},
      {m + "--ids 1,x,3", "item 1 ('x') is not a token id"},
      {m + "--ids ''", "--ids"},
      {"-m /nonexistent/model --ids 1", "no such file or folder"},
      {"-m " + kModels + " --ids 1", "config.json: missing"},
  };
  for (const auto& c : cases) {
    auto r = run("logits " + c.args);
    EXPECT_EQ(r.code, 2) << c.args;
    EXPECT_NE(r.err.find(c.needle), std::string::npos) << c.args << " -> " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  EXPECT_EQ(run("no-such-command").code, 2);
  EXPECT_EQ(run("logits --bogus-flag").code, 2);
}

TEST(Cli, RunIsReproducibleWithASeed) {
  const std::string args = "run -p '안녕하세요' -n 12 --temp 0.8 --seed 7";
  auto a = run(args), b = run(args);
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_FALSE(a.out.empty());
}

TEST(Cli, ChatHandlesCommandsAndEndOfInput) {
  auto r = run("chat -n 4 --seed 1", "hello\n/think on\nwhat?\n/reset\n/bogus\nbye\n");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("[reasoning on]"), std::string::npos);
  EXPECT_NE(r.err.find("[conversation cleared]"), std::string::npos);
  EXPECT_NE(r.err.find("unknown command /bogus"), std::string::npos);
}

TEST(Cli, ChatKeepsGoingPastTheContextByDroppingOldTurns) {
  // Long answers fill a 512-token context after a few turns: the oldest turns go, with a notice.
  std::string turns;
  for (int i = 0; i < 6; ++i) turns += "turn " + std::to_string(i) + " of a long conversation\n";
  auto r = run("chat -c 512 -n 200 --seed 1 --system 'be brief' --temp 1", turns);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("turn was dropped]"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("error"), std::string::npos) << r.err;
  // A single message longer than the context is an error for that message only.
  std::string huge(6000, 'x');
  auto h = run("chat -c 512 -n 8", huge + "\nhello\n");
  EXPECT_EQ(h.code, 0) << h.err;
  EXPECT_NE(h.err.find("does not fit the context"), std::string::npos) << h.err;
}

}  // namespace

namespace {

using exaone_cli_test::run;
using exaone_cli_test::scratch_path;

TEST(Cli, TokenizeDetokenizeRoundTrip) {
  auto r = run("tokenize --text '안녕하세요 [|user|]hi'");
  ASSERT_EQ(r.code, 0) << r.err;
  auto ids = exaone::json::parse(r.out);
  ASSERT_TRUE(ids.is_array());
  std::string list;
  for (const auto& i : ids) list += (list.empty() ? "" : ",") + std::to_string(i.get<int>());
  auto d = run("detokenize --ids " + list);
  ASSERT_EQ(d.code, 0) << d.err;
  EXPECT_EQ(d.out.substr(0, d.out.find_last_not_of('\n') + 1), "안녕하세요 [|user|]hi");
  EXPECT_EQ(run("detokenize --ids 1,99999999").code, 2);
  EXPECT_EQ(run("tokenize --file /nonexistent/file.txt").code, 2);
}

TEST(Cli, TemplateRendersOfficialPromptBytes) {
  const std::string req = scratch_path("request.json");
  std::ofstream(req) << R"({"messages": [{"role": "user", "content": "Hi"}]})";
  auto r = run("template --request " + req);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "[|user|]\nHi[|endofturn|]\n[|assistant|]\n<think>\n\n</think>\n\n");
  auto j = exaone::json::parse(run("template --json --request " + req).out);
  EXPECT_EQ(j["prompt"], r.out);
  std::ofstream(req) << R"({"messages": [{"role": "wizard", "content": "Hi"}]})";
  auto bad = run("template --request " + req);
  EXPECT_EQ(bad.code, 2);
}

}  // namespace

namespace {

using exaone_cli_test::run;

TEST(Cli, KvTypeFlag) {
  auto r = run("run -p 'hi' -n 4 --seed 3 --kv-type q8_0");
  EXPECT_EQ(r.code, 0) << r.err;
  auto bad = run("run -p 'hi' -n 4 --kv-type q4");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("--kv-type: unknown type 'q4'"), std::string::npos) << bad.err;
  auto info = exaone::json::parse(run("info --json --ctx 1000 --kv-type f16").out);
  EXPECT_EQ(info["memory"]["kv_cache_type"], "F16");
}

}  // namespace

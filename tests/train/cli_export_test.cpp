// `exaone export` end to end: a model trained on a screened corpus exports with a card that names
// the corpus's sources and licences, its manifest digest and the final loss; a non-empty folder is
// refused with exit code 2.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "util/json_file.h"
#include "run_exaone.h"

namespace exaone::train {
namespace {

namespace fs = std::filesystem;

int run(const std::string& args, const fs::path& dir, std::string* err) {
  const fs::path e = dir / "stderr.txt";
  const int status = std::system((std::string(EXAONE_BINARY) + " " + args + " >/dev/null 2>" + e.string()).c_str());
  *err = slurp(e);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ExportCli, TrainedModelCardQuotesSourcesDigestAndLoss) {
  if (!fs::exists(EXAONE_BINARY)) GTEST_SKIP() << "exaone binary not built";
  const fs::path dir = fs::path(testing::TempDir()) / ("exaone_export_cli_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "corpus");
  {
    std::ofstream docs(dir / "corpus" / "docs.jsonl");
    for (int i = 0; i < 30; ++i)
      docs << R"({"id": "d)" << i << R"(", "text": "Document )" << i << R"( of the export test, line )" << i * 3
           << R"(."})" << "\n";
    std::ofstream(dir / "corpus" / "source.json") << R"({"name": "export-corpus", "license": "CC0-1.0", "commercial_use": true})";
  }
  std::string err;
  ASSERT_EQ(run("comply scan --in " + (dir / "corpus").string() + " --out " + (dir / "screened").string(), dir, &err), 0)
      << err;
  ASSERT_EQ(run(std::string("train -m ") + EXAONE_SOURCE_DIR + "/models/exaone4-tiny" +
                    " --shape layers=2,hidden=32,heads=2,kv=1,inter=64,window=0 --steps 3 --batch 2 --seq 16 -t 1" +
                    " --data " + (dir / "screened").string() + " -o " + (dir / "run").string(),
                dir, &err),
            0)
      << err;
  ASSERT_EQ(run("export -m " + (dir / "run").string() + " -o " + (dir / "exp").string() + " --data " +
                    (dir / "screened").string(),
                dir, &err),
            0)
      << err;
  const std::string card = slurp(dir / "exp" / "README.md");
  const std::string digest = read_json_file((dir / "run" / "training_data.json").string()).at("manifest_sha256");
  EXPECT_NE(card.find(digest), std::string::npos) << card;
  EXPECT_NE(card.find("| export-corpus | CC0-1.0 | 30 |"), std::string::npos) << card;
  EXPECT_NE(card.find("the corpus this model was trained on"), std::string::npos) << card;
  EXPECT_NE(card.find("3 optimizer steps"), std::string::npos) << card;
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                        "generation_config.json"})
    EXPECT_TRUE(fs::exists(dir / "exp" / f)) << f;
  // The export runs in the inference engine.
  EXPECT_EQ(run("logits -m " + (dir / "exp").string() + " --ids 1,2,3", dir, &err), 0) << err;

  // Not into a non-empty folder without --force (exit 2, naming the folder); the checkpoint exports too.
  EXPECT_EQ(run("export -m " + (dir / "run" / "checkpoint").string() + " -o " + (dir / "exp").string(), dir, &err), 2);
  EXPECT_NE(err.find("not empty"), std::string::npos) << err;
  EXPECT_EQ(run("export -m " + (dir / "run" / "checkpoint").string() + " -o " + (dir / "exp").string() + " --force",
                dir, &err),
            0)
      << err;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace exaone::train

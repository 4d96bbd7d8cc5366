// BPE training (`exaone tokenizer-train`) against HF `tokenizers`' BpeTrainer: tests/fixtures/tokenizers/bpe_train/
// (made by scripts/fixtures/make_bpe_trainer_fixtures.py) holds a corpus, HF's trained tokenizer.json and the ids HF
// gives for test texts. We train on the same corpus, load the result with the project's tokenizer and compare.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <map>

#include "tokenizer/bpe_trainer.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/json_file.h"
#include "util/parallel.h"

using exaone::json;

namespace {

const std::string kDir = std::string(EXAONE_FIXTURES) + "/tokenizers/bpe_train";

std::string temp_dir(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() / ("exaone_bpe_" + name + "_" + std::to_string(getpid()));
  std::filesystem::remove_all(p);
  return p.string();
}

exaone::TrainedBpe train_fixture(const json& golden) {
  exaone::BpeWordCounts corpus;
  corpus.add_file(kDir + "/corpus.txt");
  exaone::BpeTrainOptions opt;
  opt.vocab_size = golden["settings"]["vocab_size"].get<size_t>();
  opt.min_frequency = golden["settings"]["min_frequency"].get<uint64_t>();
  return exaone::train_bpe(corpus, exaone::exaone4_train_spec(), opt);
}

TEST(BpeTrainer, SameIdsAsHfThroughOurTokenizer) {
  json golden = exaone::read_json_file(kDir + "/golden.json");
  exaone::TrainedBpe bpe = train_fixture(golden);
  EXPECT_EQ(bpe.size(), golden["tokenizer_size"].get<size_t>());
  std::string dir = temp_dir("golden");
  exaone::write_tokenizer_folder(bpe, exaone::exaone4_train_spec(), dir);
  exaone::Tokenizer tok = exaone::Tokenizer::from_model_path(dir);
  EXPECT_EQ(tok.vocab_size(), golden["tokenizer_size"].get<int>());
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 8);
  for (const auto& c : golden["cases"]) {
    std::string text = c["text"];
    std::vector<int> ids = tok.encode(text);
    EXPECT_EQ(ids, c["ids"].get<std::vector<int>>()) << json(text).dump();
    EXPECT_EQ(tok.decode(ids), text);
  }
  std::filesystem::remove_all(dir);
}

TEST(BpeTrainer, MergesAndVocabEqualHf) {
  json golden = exaone::read_json_file(kDir + "/golden.json");
  exaone::TrainedBpe bpe = train_fixture(golden);
  json hf = exaone::read_json_file(kDir + "/hf_tokenizer.json");
  const json& merges = hf["model"]["merges"];
  ASSERT_EQ(bpe.merges.size(), merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    ASSERT_EQ(bpe.merges[i].first, merges[i][0].get<std::string>()) << "merge " << i;
    ASSERT_EQ(bpe.merges[i].second, merges[i][1].get<std::string>()) << "merge " << i;
  }
  const json& vocab = hf["model"]["vocab"];
  ASSERT_EQ(bpe.vocab.size(), vocab.size());
  for (size_t i = 0; i < bpe.vocab.size(); ++i) EXPECT_EQ(vocab.at(bpe.vocab[i]).get<size_t>(), i) << bpe.vocab[i];
  // Specials and tags at the ids HF gives them.
  std::map<std::string, int> want;
  for (const auto& t : hf["added_tokens"]) want[t["content"]] = t["id"];
  ASSERT_EQ(bpe.added_tokens.size(), want.size());
  for (const auto& t : bpe.added_tokens) EXPECT_EQ(want.at(t.content), t.id) << t.content;
}

TEST(BpeTrainer, TiesBreakOnTheSmallerPair) {
  // "ab" and "cd" are seen equally often: HF merges the pair of smaller ids first (a < c).
  exaone::BpeWordCounts corpus;
  corpus.add_text("cd ab cd ab\n");
  exaone::BpeTrainOptions opt;
  auto spec = exaone::exaone4_train_spec();
  opt.vocab_size = spec.special_tokens.size() + 256 + spec.added_tokens.size() + 1;
  auto bpe = exaone::train_bpe(corpus, spec, opt);
  ASSERT_EQ(bpe.merges.size(), 1u);
  // Words "cd" x1, "Ġab" x2, "Ġcd" x1: (a,b), (c,d) and (Ġ,a) are all seen twice. The pair of smaller ids wins, and
  // ids follow code points ('Ġ' is U+0120, after the ASCII letters).
  EXPECT_EQ(bpe.merges[0], std::make_pair(std::string("a"), std::string("b")));
}

TEST(BpeTrainer, EveryTextEncodesWithTheByteAlphabet) {
  exaone::BpeWordCounts corpus;
  corpus.add_text("hello hello world\n");
  exaone::BpeTrainOptions opt;
  opt.vocab_size = 300;
  auto spec = exaone::exaone4_train_spec();
  auto bpe = exaone::train_bpe(corpus, spec, opt);
  std::string dir = temp_dir("alphabet");
  exaone::write_tokenizer_folder(bpe, spec, dir);
  auto tok = exaone::Tokenizer::from_model_path(dir);
  std::string text = "한국어 🦄 \x01\x7f zebra";
  auto ids = tok.encode(text);
  EXPECT_EQ(tok.decode(ids), text);
  std::filesystem::remove_all(dir);
}

TEST(BpeTrainer, CountsDoNotDependOnThreads) {
  // Texts over a few MB are counted in line-aligned slices on the pool; the counts equal one thread's.
  std::string corpus = exaone::read_text_file(kDir + "/corpus.txt");
  std::string big;
  while (big.size() < (5u << 20)) big += corpus;
  big += "no newline at the end";
  int saved = exaone::num_threads();
  exaone::set_num_threads(1);
  exaone::BpeWordCounts one;
  one.add_text(big);
  exaone::set_num_threads(3);
  exaone::BpeWordCounts three;
  three.add_text(big);
  exaone::set_num_threads(saved);
  EXPECT_EQ(one.counts(), three.counts());
  EXPECT_EQ(one.words(), three.words());
  EXPECT_EQ(one.bytes(), big.size());
  EXPECT_EQ(three.bytes(), big.size());
}

TEST(BpeTrainer, BadInput) {
  auto spec = exaone::exaone4_train_spec();
  exaone::BpeWordCounts empty;
  exaone::BpeTrainOptions opt;
  opt.vocab_size = 1000;
  EXPECT_THROW(exaone::train_bpe(empty, spec, opt), exaone::Error);
  exaone::BpeWordCounts corpus;
  corpus.add_text("abc\n");
  opt.vocab_size = 256 + spec.special_tokens.size() + spec.added_tokens.size() - 1;
  EXPECT_THROW(exaone::train_bpe(corpus, spec, opt), exaone::Error);
  EXPECT_THROW(corpus.add_file(kDir + "/no_such_file.txt"), exaone::Error);
}

}  // namespace

namespace {

// `exaone tokenizer-train` end to end: bad input is one line and exit code 2. Skipped when the binary is not built
// (this suite links only the tokenizer library).
int run(const std::string& args, std::string* err = nullptr) {
  std::string log = temp_dir("cli_log");
  int rc = std::system((std::string(EXAONE_BINARY) + " " + args + " 2>" + log).c_str());
  if (err) {
    std::ifstream f(log);
    std::getline(f, *err);
  }
  std::filesystem::remove(log);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(BpeTrainerCli, TrainsAndRejectsBadInput) {
  if (!std::filesystem::exists(EXAONE_BINARY)) GTEST_SKIP() << "exaone binary not built";
  std::string out = temp_dir("cli");
  std::string corpus = kDir + "/corpus.txt";
  EXPECT_EQ(run("tokenizer-train --data " + corpus + " --vocab-size 700 --min-frequency 2 -o " + out), 0);
  json golden = exaone::read_json_file(kDir + "/golden.json");
  auto tok = exaone::Tokenizer::from_model_path(out);
  for (const auto& c : golden["cases"])
    EXPECT_EQ(tok.encode(c["text"].get<std::string>()), c["ids"].get<std::vector<int>>());
  std::string err;
  EXPECT_EQ(run("tokenizer-train --data " + corpus + " --vocab-size 700 -o " + out, &err), 2);
  EXPECT_NE(err.find("already holds a tokenizer.json"), std::string::npos) << err;
  EXPECT_EQ(run("tokenizer-train --data " + corpus + " --vocab-size 700 -o " + out + " --force"), 0);
  EXPECT_EQ(run("tokenizer-train --data " + kDir + "/missing.txt --vocab-size 700 -o " + out + "_x", &err), 2);
  EXPECT_NE(err.find("missing.txt: no such file"), std::string::npos) << err;
  EXPECT_EQ(run("tokenizer-train --data " + corpus + " --vocab-size 100 -o " + out + "_x", &err), 2);
  EXPECT_NE(err.find("--vocab-size 100: smaller than"), std::string::npos) << err;
  std::string empty = out + "_empty.txt";
  std::ofstream(empty).close();
  EXPECT_EQ(run("tokenizer-train --data " + empty + " --vocab-size 700 -o " + out + "_x", &err), 2);
  EXPECT_NE(err.find("corpus is empty"), std::string::npos) << err;
  EXPECT_FALSE(std::filesystem::exists(out + "_x"));
  std::filesystem::remove(empty);
  std::filesystem::remove_all(out);
}

}  // namespace

// BPE training (`exaone tokenizer-train`) against HF `tokenizers`' BpeTrainer: tests/fixtures/tokenizers/bpe_train/
// (made by scripts/fixtures/make_bpe_trainer_fixtures.py) holds a corpus, HF's trained tokenizer.json and the ids HF
// gives for test texts. We train on the same corpus, load the result with the project's tokenizer and compare.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "tokenizer/bpe_trainer.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/json_file.h"

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
  // Words: "cd", "Ġab", "Ġcd", "Ġab": (Ġ,a) and (Ġ,c) and (a,b) ... each pair's count: a b=2, Ġ a=2, Ġ c=1, c d=2.
  // Ties at 2 between (Ġ,a), (a,b), (c,d): the smallest ids win; 'Ġ' (U+0120) sorts after ASCII letters.
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

// GGUF tokenizer and chat-template round trips: a Hugging Face tokenizer written as llama.cpp
// tokenizer.ggml.* metadata and rebuilt with Tokenizer::from_parts must give the same ids as the
// tokenizer.json it came from (bundled model, and the EXAONE 3 / 4 / K-EXAONE fixture tokenizers
// over their golden texts); malformed tokenizer metadata gives errors naming the key.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "loaders/gguf.h"
#include "models/gguf_model.h"
#include "runtime/model_files.h"
#include "util/error.h"
#include "util/json_file.h"
#include "util/mapped_file.h"
#include "util/paths.h"
#include "test_support.h"

namespace exaone {
namespace {

using test::TempDir;

namespace fs = std::filesystem;

const std::string kTiny = path_join(project_home(), "models/exaone4-tiny");

const std::vector<std::string>& sample_texts() {
  static const std::vector<std::string> texts = {
      "",
      "안녕하세요, EXAONE 4.0입니다.",
      "Hello world! How are you today?",
      "[|system|]You are helpful.[|endofturn|]\n[|user|]서울의 날씨는?[|endofturn|]\n[|assistant|]\n",
      "<think>\n생각 중...\n</think>\n\n답: 42",
      "<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>",
      "  leading spaces and   runs\n\n\nnewlines\t\ttabs",
      "숫자 1234567890 and 3.14159, 한국어와 English 혼합",
      "[BOS][PAD][UNK][EOS]",
      "emoji 😀 and é ü ñ 中文",
      "the the the 대한민국 대한민국 대한민국",
      "[|user|] [|assistant|] [|tool|]",
  };
  return texts;
}

TEST(GgufTokenizer, TinyModelRoundTrip) {
  TempDir tmp;
  const std::string out = tmp.file("tiny.gguf");
  convert_to_gguf(kTiny, out, DType::F16, false);
  const Tokenizer hf = load_tokenizer(kTiny);
  const Tokenizer gg = load_tokenizer(out);
  for (const auto& text : sample_texts()) {
    const auto ids = hf.encode(text);
    EXPECT_EQ(gg.encode(text), ids) << text;
    EXPECT_EQ(gg.decode(ids), hf.decode(ids)) << text;
    EXPECT_EQ(gg.decode(ids, true), hf.decode(ids, true)) << text;
  }
  EXPECT_EQ(gg.bos_id(), hf.bos_id());
  EXPECT_EQ(gg.eos_id(), hf.eos_id());
  for (int id = 0; id < hf.vocab_size(); ++id) EXPECT_EQ(gg.is_special(id), hf.is_special(id)) << id;

  // Metadata as llama.cpp writes it.
  MappedFile m(out);
  const GgufFile f = parse_gguf(m.data(), m.size(), out);
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(f.get_string("tokenizer.ggml.pre"), "exaone4");
  EXPECT_EQ(f.find("tokenizer.ggml.tokens")->value.size(), 2304u);  // padded to config vocab_size
  const json& types = f.find("tokenizer.ggml.token_type")->value;
  EXPECT_EQ(types[8], 3);     // [|endofturn|]: special -> control
  EXPECT_EQ(types[2280], 4);  // <think>: added, not special -> user-defined
  EXPECT_EQ(types[100], 1);
  EXPECT_EQ(types[2300], 5);  // padding row
  EXPECT_EQ(f.get_int("tokenizer.ggml.eos_token_id"), 8);
  EXPECT_EQ(f.get_int("tokenizer.ggml.bos_token_id"), 1);
  EXPECT_EQ(f.get_int("tokenizer.ggml.padding_token_id"), 0);
  EXPECT_EQ(f.find("tokenizer.ggml.add_bos_token")->value, false);
  EXPECT_EQ(f.get_string("tokenizer.chat_template"), read_text_file(kTiny + "/chat_template.jinja"));

  // Chat format and template from the GGUF.
  EXPECT_EQ(load_chat_format(out), chat::Format::Exaone4);
  EXPECT_EQ(load_chat_template_text(out), chat::load_chat_template(kTiny));
  // Re-quantising keeps the tokenizer.
  const std::string again = tmp.file("again.gguf");
  convert_to_gguf(out, again, DType::Q8_0, false);
  EXPECT_EQ(load_tokenizer(again).encode(sample_texts()[3]), hf.encode(sample_texts()[3]));
}

// Fixture tokenizers (EXAONE 3 digits, EXAONE 4, K-EXAONE regex) with their added-token flags
// cleared (GGUF cannot store lstrip/rstrip/single_word): GGUF ids must equal tokenizer.json ids on
// every golden text.
class GgufFixtureTokenizer : public ::testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(GgufFixtureTokenizer, SameIdsAsTokenizerJson) {
  const auto& [name, pre] = GetParam();
  const std::string src = std::string(EXAONE_FIXTURES) + "/tokenizers/" + name;
  TempDir tmp;
  json tj = read_json_file(src + "/tokenizer.json");
  int64_t max_id = 0;
  for (auto& a : tj["added_tokens"]) {
    a["lstrip"] = a["rstrip"] = a["single_word"] = false;
    max_id = std::max<int64_t>(max_id, a["id"].get<int64_t>());
  }
  for (const auto& [k, v] : tj["model"]["vocab"].items()) max_id = std::max<int64_t>(max_id, v.get<int64_t>());
  std::ofstream(tmp.file("tokenizer.json")) << tj.dump();
  fs::copy_file(src + "/tokenizer_config.json", tmp.file("tokenizer_config.json"));

  GgufWriter w;
  w.set("general.architecture", GgufType::STRING, "exaone4");
  std::vector<std::string> notes;
  ASSERT_TRUE(add_hf_tokenizer_metadata(w, tmp.str(), max_id + 1, &notes));
  EXPECT_TRUE(notes.empty());
  w.write(tmp.file("t.gguf"));
  MappedFile m(tmp.file("t.gguf"));
  const GgufFile f = parse_gguf(m.data(), m.size(), tmp.file("t.gguf"));
  EXPECT_EQ(f.get_string("tokenizer.ggml.pre"), pre);
  const Tokenizer gg = Tokenizer::from_parts(gguf_tokenizer_parts(f));
  const Tokenizer hf = Tokenizer::from_model_path(tmp.str());
  const json golden = read_json_file(std::string(EXAONE_FIXTURES) + "/tokenizers/golden_" + name + ".json");
  int mismatches = 0;
  for (const auto& c : golden["cases"]) {
    const std::string text = c["text"].get<std::string>();
    const auto ids = hf.encode(text);
    if (gg.encode(text) != ids && ++mismatches <= 5) ADD_FAILURE() << name << ": ids differ for " << json(text).dump();
    if (gg.decode(ids) != hf.decode(ids) && ++mismatches <= 5) ADD_FAILURE() << name << ": decode differs";
  }
  EXPECT_EQ(mismatches, 0);
  EXPECT_EQ(gg.bos_id(), hf.bos_id());
  EXPECT_EQ(gg.eos_id(), hf.eos_id());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GgufFixtureTokenizer,
                         ::testing::Values(std::make_pair(std::string("exaone4"), std::string("exaone4")),
                                           std::make_pair(std::string("exaone3"), std::string("exaone")),
                                           std::make_pair(std::string("kexaone"), std::string("exaone-moe"))),
                         [](const auto& info) { return info.param.first; });

TEST(GgufTokenizer, UnrepresentableTokenizersAreRefused) {
  for (const char* name : {"nfc", "prefix", "splitmix"}) {
    const std::string src = std::string(EXAONE_FIXTURES) + "/tokenizers/" + name;
    GgufWriter w;
    try {
      add_hf_tokenizer_metadata(w, src, 4096);
      ADD_FAILURE() << name << ": no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("tokenizer.json"), std::string::npos) << e.what();
    }
  }
  // Lost added-token flags are reported.
  GgufWriter w;
  std::vector<std::string> notes;
  add_hf_tokenizer_metadata(w, std::string(EXAONE_FIXTURES) + "/tokenizers/exaone4", 3011, &notes);
  EXPECT_FALSE(notes.empty());
  // Ids beyond the model's vocabulary.
  EXPECT_THROW(add_hf_tokenizer_metadata(w, std::string(EXAONE_FIXTURES) + "/tokenizers/exaone4", 3000), Error);
  // No tokenizer.json: nothing written.
  EXPECT_FALSE(add_hf_tokenizer_metadata(w, std::string(EXAONE_FIXTURES) + "/models/exaone4-f16-untied", 448));
}

// ---- malformed metadata ----

struct TokMeta {
  json tokens = json::array({"a", "b", "ab", "c", "[S]"});
  json types = json::array({1, 1, 1, 1, 3});
  json merges = json::array({"a b"});
  GgufType types_elem = GgufType::I32;
};

std::string write_meta(const TempDir& tmp, const TokMeta& t, const std::function<void(GgufWriter&)>& edit) {
  GgufWriter w;
  w.set("general.architecture", GgufType::STRING, "exaone4");
  w.set("tokenizer.ggml.model", GgufType::STRING, "gpt2");
  w.set("tokenizer.ggml.pre", GgufType::STRING, "exaone4");
  w.set_array("tokenizer.ggml.tokens", GgufType::STRING, t.tokens);
  w.set_array("tokenizer.ggml.token_type", t.types_elem, t.types);
  w.set_array("tokenizer.ggml.merges", GgufType::STRING, t.merges);
  w.set("tokenizer.ggml.bos_token_id", GgufType::U32, 4);
  if (edit) edit(w);
  static int n = 0;
  const std::string path = tmp.file("m" + std::to_string(n++) + ".gguf");
  w.write(path);
  return path;
}

void expect_error(const std::string& path, const std::string& needle) {
  try {
    load_tokenizer(path);
    ADD_FAILURE() << "no error, expected one mentioning " << needle;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(GgufTokenizer, WellFormedMetadataLoads) {
  TempDir tmp;
  const Tokenizer t = load_tokenizer(write_meta(tmp, {}, nullptr));
  EXPECT_EQ(t.encode("ab[S]c"), (std::vector<int>{2, 4, 3}));
  EXPECT_TRUE(t.is_special(4));
  EXPECT_EQ(t.bos_id(), 4);
}

TEST(GgufTokenizer, MalformedMetadata) {
  TempDir tmp;
  using W = GgufWriter;
  // Missing or mistyped tokens.
  {
    GgufWriter w;
    w.set("general.architecture", GgufType::STRING, "exaone4");
    w.set("tokenizer.ggml.model", GgufType::STRING, "gpt2");
    const std::string p = tmp.file("notokens.gguf");
    w.write(p);
    expect_error(p, "tokenizer.ggml.tokens");
    GgufWriter w2;
    w2.set("general.architecture", GgufType::STRING, "exaone4");
    const std::string p2 = tmp.file("nomodel.gguf");
    w2.write(p2);
    expect_error(p2, "tokenizer.ggml.model");
  }
  TokMeta empty;
  empty.tokens = json::array();
  empty.types = json::array();
  empty.merges = json::array();
  expect_error(write_meta(tmp, empty, nullptr), "tokenizer.ggml.tokens' is empty");
  expect_error(write_meta(tmp, {}, [](W& w) { w.set_array("tokenizer.ggml.tokens", GgufType::I32, json::array({1, 2})); }),
               "tokenizer.ggml.tokens");
  // Merges referencing unknown tokens, or not "a b".
  TokMeta m1;
  m1.merges = json::array({"a b", "a zz"});
  expect_error(write_meta(tmp, m1, nullptr), "tokenizer.ggml.merges'[1]: token 'zz'");
  TokMeta m2;
  m2.merges = json::array({"b c"});  // "bc" is not a token
  expect_error(write_meta(tmp, m2, nullptr), "token 'bc'");
  TokMeta m3;
  m3.merges = json::array({"ab"});
  expect_error(write_meta(tmp, m3, nullptr), "tokenizer.ggml.merges'[0]: expected \"left right\"");
  // Token types: wrong length, bad value, wrong element type.
  TokMeta t1;
  t1.types = json::array({1, 1, 1});
  expect_error(write_meta(tmp, t1, nullptr), "'tokenizer.ggml.token_type' has 3 entries for 5 tokens");
  TokMeta t2;
  t2.types = json::array({1, 1, 9, 1, 3});
  expect_error(write_meta(tmp, t2, nullptr), "tokenizer.ggml.token_type'[2]: token type 9");
  TokMeta t3;
  t3.types = json::array({"x", "y", "z", "w", "v"});
  t3.types_elem = GgufType::STRING;
  expect_error(write_meta(tmp, t3, nullptr), "tokenizer.ggml.token_type': expected an array of integers");
  // Bad ids.
  expect_error(write_meta(tmp, {}, [](W& w) { w.set("tokenizer.ggml.bos_token_id", GgufType::U32, 5); }),
               "tokenizer.ggml.bos_token_id': token id 5 is outside the 5 tokens");
  expect_error(write_meta(tmp, {}, [](W& w) { w.set("tokenizer.ggml.eos_token_id", GgufType::I32, -1); }),
               "tokenizer.ggml.eos_token_id");
  expect_error(write_meta(tmp, {}, [](W& w) { w.set("tokenizer.ggml.padding_token_id", GgufType::U32, 99); }),
               "tokenizer.ggml.padding_token_id");
  expect_error(write_meta(tmp, {}, [](W& w) { w.set("tokenizer.ggml.eos_token_id", GgufType::STRING, "2"); }),
               "tokenizer.ggml.eos_token_id': expected an integer");
  // Unsupported model / pre-tokenizer.
  expect_error(write_meta(tmp, {}, [](W& w) { w.set("tokenizer.ggml.model", GgufType::STRING, "llama"); }),
               "tokenizer.ggml.model': 'llama'");
  expect_error(write_meta(tmp, {}, [](W& w) { w.set("tokenizer.ggml.pre", GgufType::STRING, "qwen2"); }),
               "tokenizer.ggml.pre': 'qwen2'");
  // Chat format: a GGUF without template or EXAONE architecture.
  {
    GgufWriter w;
    w.set("general.architecture", GgufType::STRING, "llama");
    const std::string p = tmp.file("llama.gguf");
    w.write(p);
    EXPECT_THROW(load_chat_format(p), Error);
    EXPECT_EQ(load_chat_template_text(p), "");
  }
}

}  // namespace
}  // namespace exaone

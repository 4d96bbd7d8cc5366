// `exaone finetune` pieces: which tokens of a rendered conversation are trained (assistant turns
// only, each exactly once, as the model sees them at inference), data errors, the SFT loop learning,
// and the CLI end to end (the saved folder loads in the inference engine).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "chat/chat_template.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"
#include "train/checkpoint.h"
#include "train/finetune.h"
#include "train/model.h"
#include "run_exaone.h"
#include "train/sft_data.h"
#include "util/error.h"

namespace exaone::train {
namespace {

namespace fs = std::filesystem;
const fs::path kFix = EXAONE_FIXTURES;

// A tiny random EXAONE 4.0 model with the fixture tokenizer (ids up to 3010) and the EXAONE 4.0 chat template.
fs::path make_chat_model(const std::string& name, int layers = 2) {
  const fs::path dir = fs::path(testing::TempDir()) / (name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const json cfg = {{"model_type", "exaone4"}, {"vocab_size", 3072}, {"hidden_size", 32}, {"intermediate_size", 64},
                    {"num_hidden_layers", layers}, {"num_attention_heads", 4}, {"num_key_value_heads", 2},
                    {"head_dim", 8}, {"max_position_embeddings", 1024}, {"tie_word_embeddings", true},
                    {"sliding_window", nullptr}, {"rope_theta", 10000.0}};
  TrainableModel m(parse_model_config(cfg, "test"));
  m.init_random(7);
  save_model(m, dir.string());
  fs::copy_file(kFix / "tokenizers/exaone4/tokenizer.json", dir / "tokenizer.json");
  fs::copy_file(kFix / "tokenizers/exaone4/tokenizer_config.json", dir / "tokenizer_config.json");
  fs::copy_file(kFix / "chat/exaone4_chat_template.jinja", dir / "chat_template.jinja");
  return dir;
}

// The trained spans of a row as decoded texts, in order.
std::vector<std::string> trained_spans(const SftRow& r, const Tokenizer& tok) {
  std::vector<std::string> out;
  std::vector<int> cur;
  for (size_t i = 0; i <= r.tokens.size(); ++i) {
    if (i < r.tokens.size() && r.trained[i]) {
      cur.push_back(r.tokens[i]);
    } else if (!cur.empty()) {
      out.push_back(tok.decode(cur));
      cur.clear();
    }
  }
  return out;
}

const char* kConversation = R"({"messages": [
  {"role": "system", "content": "You are terse."},
  {"role": "user", "content": "What is 2+3?"},
  {"role": "assistant", "reasoning_content": "Two plus three.", "content": "5"},
  {"role": "user", "content": "Weather in Seoul?"},
  {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "weather", "arguments": "{\"city\": \"Seoul\"}"}}]},
  {"role": "tool", "content": "sunny"},
  {"role": "assistant", "content": "It is sunny."}],
  "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]})";

TEST(TrainSftData, TrainsAssistantTokensOnly) {
  const Tokenizer tok = Tokenizer::from_model_path((kFix / "tokenizers/exaone4").string());
  SftStats st;
  const std::vector<SftRow> rows = sft_rows(json::parse(kConversation), chat::Format::Exaone4, tok, st, "t");
  // The first answer's reasoning is dropped from the history by the template, so that turn is a row
  // of its own (with its reasoning); the conversation row trains the two later turns.
  ASSERT_EQ(rows.size(), 2u) << describe(st);
  EXPECT_EQ(st.turns, 3);
  EXPECT_EQ(st.split_turns, 1);
  const auto main = trained_spans(rows[0], tok);
  ASSERT_EQ(main.size(), 2u);
  EXPECT_EQ(main[0], "<tool_call>{\"name\": \"weather\", \"arguments\": {\"city\": \"Seoul\"}}</tool_call>[|endofturn|]");
  EXPECT_EQ(main[1], "It is sunny.[|endofturn|]");
  const auto split = trained_spans(rows[1], tok);
  ASSERT_EQ(split.size(), 1u);
  // Thinking on for a turn with reasoning: the prompt ends with "<think>\n", the rest is trained.
  // (The fixture tokenizer's "</think>" is lstrip: it absorbs the newline before it, as HF's does.)
  EXPECT_EQ(split[0], "Two plus three.</think>\n\n5[|endofturn|]");
  // Everything before the trained span is the prompt exactly as `exaone run --think` renders it.
  json req = {{"messages", json::parse(kConversation)["messages"]}, {"tools", json::parse(kConversation)["tools"]},
              {"add_generation_prompt", true}, {"chat_template_kwargs", {{"enable_thinking", true}}}};
  req["messages"] = json(std::vector<json>(req["messages"].begin(), req["messages"].begin() + 2));
  const std::vector<int> prompt = tok.encode(chat::render(chat::Format::Exaone4, req));
  ASSERT_LT(prompt.size(), rows[1].tokens.size());
  EXPECT_TRUE(std::equal(prompt.begin(), prompt.end(), rows[1].tokens.begin()));
  for (size_t i = 0; i < rows[1].tokens.size(); ++i) EXPECT_EQ(rows[1].trained[i] != 0, i >= prompt.size()) << i;

  // A batch: targets are the next token where that token is trained, padding is never a target.
  std::vector<int32_t> tokens, targets;
  int64_t T = 0;
  sft_batch({&rows[0], &rows[1]}, 4096, 0, tokens, targets, T);
  EXPECT_EQ(T, static_cast<int64_t>(std::max(rows[0].tokens.size(), rows[1].tokens.size())) - 1);
  int64_t counted = 0;
  for (int32_t t : targets) counted += t >= 0;
  EXPECT_EQ(counted, rows[0].trained_count() + rows[1].trained_count());
}

TEST(TrainSftData, ThinkingOffAndLengthLimits) {
  const Tokenizer tok = Tokenizer::from_model_path((kFix / "tokenizers/exaone4").string());
  const std::string line =
      R"({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello there, friend."}]})";
  SftStats st;
  SftOptions opt;
  opt.seq = 4096;
  auto rows = sft_rows_from_jsonl(line + "\n\n" + line + "\n", "d.jsonl", chat::Format::Exaone4, tok, opt, st);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(trained_spans(rows[0], tok), std::vector<std::string>{"Hello there, friend.[|endofturn|]"});
  const int64_t n = static_cast<int64_t>(rows[0].tokens.size());
  // Cut to --seq when trained tokens remain, dropped otherwise (or always with skip_long).
  SftStats st2;
  opt.seq = n - 3;
  rows = sft_rows_from_jsonl(line, "d.jsonl", chat::Format::Exaone4, tok, opt, st2);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(st2.truncated, 1);
  EXPECT_EQ(static_cast<int64_t>(rows[0].tokens.size()), n - 2);
  opt.skip_long = true;
  SftStats st3;
  EXPECT_TRUE(sft_rows_from_jsonl(line, "d.jsonl", chat::Format::Exaone4, tok, opt, st3).empty());
  EXPECT_EQ(st3.skipped_long, 1);
}

TEST(TrainSftData, BadLinesNameFileAndLine) {
  const Tokenizer tok = Tokenizer::from_model_path((kFix / "tokenizers/exaone4").string());
  SftStats st;
  SftOptions opt;
  auto message = [&](const std::string& text) {
    try {
      sft_rows_from_jsonl(text, "chat.jsonl", chat::Format::Exaone4, tok, opt, st);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string good = R"({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]})";
  EXPECT_NE(message(good + "\n{oops\n").find("chat.jsonl:2: not valid JSON"), std::string::npos);
  EXPECT_NE(message(R"({"messages": []})").find("chat.jsonl:1: 'messages'"), std::string::npos);
  EXPECT_NE(message(R"({"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "b"}]})")
                .find("chat.jsonl:1:"),
            std::string::npos);
}

TEST(TrainFinetune, LossDecreasesOnAssistantTokens) {
  const fs::path dir = make_chat_model("exaone_sft_loop");
  auto model = TrainableModel::load(dir.string());
  const Tokenizer tok = Tokenizer::from_model_path(dir.string());
  std::string data;
  for (const char* q : {"one", "two", "three", "four"})
    data += std::string(R"({"messages": [{"role": "user", "content": "say )") + q +
            R"("}, {"role": "assistant", "content": ")" + q + R"("}]})" + "\n";
  SftStats st;
  SftOptions so;
  so.seq = 64;
  auto rows = sft_rows_from_jsonl(data, "d", chat::Format::Exaone4, tok, so, st);
  TrainOptions o;
  o.steps = 30;
  o.batch = 2;
  o.seq = 64;
  o.lr = 1e-2;
  o.min_lr = 1e-3;
  o.warmup = 2;
  o.adamw.weight_decay = 0;
  {  // rows longer than the model's positions: refused up front, naming --seq
    TrainOptions too_long = o;
    too_long.seq = model->config().max_position + 8;
    std::vector<SftRow> long_rows = rows;
    long_rows[0].tokens.resize(static_cast<size_t>(too_long.seq + 1), long_rows[0].tokens.back());
    long_rows[0].trained.resize(long_rows[0].tokens.size(), 0);
    try {
      SftTrainer bad(*model, model->params(), long_rows, too_long, 0);
      ADD_FAILURE() << "rows longer than max_position_embeddings were accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--seq"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("max_position_embeddings"), std::string::npos) << e.what();
    }
  }
  SftTrainer tr(*model, model->params(), rows, o, 0);
  const double before = tr.evaluate();
  for (int i = 0; i < 30; ++i) tr.step();
  const double after = tr.evaluate();
  EXPECT_LT(after, 0.5 * before) << before << " -> " << after;
  fs::remove_all(dir);
}

int run(const std::string& args, std::string* err = nullptr) { return run_exaone(args, err); }

TEST(TrainFinetuneCli, FullFinetuneSavesALoadableModel) {
  if (!fs::exists(EXAONE_BINARY)) GTEST_SKIP() << "exaone binary not built";
  const fs::path dir = make_chat_model("exaone_sft_cli");
  {
    std::ofstream f(dir / "chat.jsonl");
    f << json::parse(kConversation).dump() << "\n";  // one line: JSONL
    f << R"({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]})" << "\n";
  }
  std::string err;
  const std::string out = (dir / "out").string();
  ASSERT_EQ(run("finetune -m " + dir.string() + " --data " + (dir / "chat.jsonl").string() +
                    " --unscreened --steps 3 --batch 2 --seq 640 --lr 1e-3 -t 2 -o " + out,
                &err),
            0)
      << err;
  EXPECT_NE(err.find("2 examples -> 3 rows"), std::string::npos) << err;
  for (const char* f : {"model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja", "loss.csv"})
    EXPECT_TRUE(fs::exists(fs::path(out) / f)) << f;
  ASSERT_EQ(run("logits -m " + out + " --ids 1,4,7", &err), 0) << err;
  ASSERT_EQ(run("run -m " + out + " -p hi -n 3 --temp 0", &err), 0) << err;
  // Unscreened data needs --unscreened; a bad line is one clear error (exit 2).
  EXPECT_EQ(run("finetune -m " + dir.string() + " --data " + (dir / "chat.jsonl").string() + " -o " + out, &err), 2);
  {
    std::ofstream f(dir / "bad.jsonl");
    f << "{\"messages\": 3}\n";
  }
  EXPECT_EQ(run("finetune -m " + dir.string() + " --data " + (dir / "bad.jsonl").string() + " --unscreened -o " + out,
                &err),
            2);
  EXPECT_NE(err.find("bad.jsonl:1: 'messages' must be a non-empty array"), std::string::npos) << err;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace exaone::train

// Output parsing: reasoning split, tool calls, and the streaming parser's equivalence with the
// one-shot parse over every chunking of many outputs.
#include <gtest/gtest.h>

#include <random>

#include "chat/output_parser.h"
#include "chat/py_json.h"
#include "util/error.h"

using namespace exaone;
using namespace exaone::chat;

namespace {

ParseOptions opts(bool reasoning_open, bool tools = true, std::string close = "</think>") {
  ParseOptions o;
  o.reasoning_open = reasoning_open;
  o.tool_calls = tools;
  o.reasoning_close = std::move(close);
  return o;
}

// Feeds `text` cut at `cuts` (sorted byte offsets) and returns the accumulated deltas.
ParsedOutput stream(std::string_view text, const std::vector<size_t>& cuts, const ParseOptions& o) {
  StreamParser p(o);
  ParsedOutput acc;
  auto take = [&](const StreamDelta& d) {
    // A delta never ends inside a UTF-8 character.
    EXPECT_EQ(utf8_complete_prefix(d.reasoning), d.reasoning.size());
    EXPECT_EQ(utf8_complete_prefix(d.content), d.content.size());
    acc.reasoning += d.reasoning;
    acc.content += d.content;
    acc.tool_calls.insert(acc.tool_calls.end(), d.tool_calls.begin(), d.tool_calls.end());
    acc.invalid_tool_calls.insert(acc.invalid_tool_calls.end(), d.invalid_tool_calls.begin(), d.invalid_tool_calls.end());
  };
  size_t prev = 0;
  for (size_t c : cuts) {
    take(p.push(text.substr(prev, c - prev)));
    prev = c;
  }
  take(p.push(text.substr(prev)));
  take(p.finish());
  const ParsedOutput& total = p.accumulated();
  EXPECT_EQ(total.reasoning, acc.reasoning);
  EXPECT_EQ(total.content, acc.content);
  EXPECT_EQ(total.tool_calls, acc.tool_calls);
  return acc;
}

::testing::AssertionResult same(const ParsedOutput& a, const ParsedOutput& b) {
  if (a.reasoning != b.reasoning) return ::testing::AssertionFailure() << "reasoning " << json(a.reasoning) << " vs " << json(b.reasoning);
  if (a.content != b.content) return ::testing::AssertionFailure() << "content " << json(a.content) << " vs " << json(b.content);
  if (!(a.tool_calls == b.tool_calls)) return ::testing::AssertionFailure() << "tool calls differ";
  if (a.invalid_tool_calls != b.invalid_tool_calls) return ::testing::AssertionFailure() << "invalid tool calls differ";
  return ::testing::AssertionSuccess();
}

const std::vector<std::string>& corpus() {
  static const std::vector<std::string> texts = {
      "",
      "Hello",
      "</think>",
      "a</think>b",
      "Let me think.\n</think>\n\nThe answer is 4.",
      "reasoning only, stopped early </thi",
      "</think>\n\n\n",
      "x</think>\r\n\r\ny</think>z",
      "<</</th</think><<tool_call",
      "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}}</tool_call>",
      "Let me roll.\n<tool_call>{\"name\": \"roll\", \"arguments\": {\"n\": 6}}</tool_call>\n<tool_call>{\"name\": \"roll\", \"arguments\": {\"n\": 6}}</tool_call>",
      "<tool_call>{\"name\": \"f\", \"arguments\": {}}",
      "<tool_call>{\"name\": \"f\", \"arguments\": {}} \n",
      "<tool_call>{bad json}</tool_call>\nafter",
      "text <tool_call>{\"name\": \"f\"",
      " \n <tool_call>{\"name\": \"a\", \"parameters\": [1, 2.5, null]}</tool_call> \n mid \n<tool_call>{\"name\": \"b\"}</tool_call>\n\n",
      "<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call><tool_call>not json</tool_call>  <tool_call>{\"name\": \"c\", \"arguments\": {\"k\": \"</tool\"}}</tool_call>",
      "<tool_call><tool_call>{\"name\": \"x\", \"arguments\": {}}</tool_call>",
      "think \xea\xb0\x80\xeb\x82\x98</think>\n\xeb\x8b\xb5: \xf0\x9f\x98\x80 <tool_call>{\"name\": \"\xea\xb2\x80\xec\x83\x89\", \"arguments\": {\"q\": \"\xed\x95\x9c\"}}</tool_call>",
      "trailing spaces   ",
      "<tool_call",
      "</tool_call> stray close",
      "<tool_call>{\"name\": \"\", \"arguments\": {}}</tool_call>",
      "<tool_call>[1, 2]</tool_call>",
      "plan\n</think>\n\n<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Seoul\", \"days\": 3, \"metric\": true}}</tool_call>",
      "x\n</thought>\n\ny</think>",
      "<tool_call>{\"name\": \"w\", \"arguments\": {\"s\": \"a</tool_call>b\"}}</tool_call>\nafter",
      "<tool_call>{\"name\": \"w\", \"arguments\": {\"s\": \"q\\\"</tool_call>\\\\\"}}</tool_call>",
      "<tool_call>{\"name\": \"w\", \"arguments\": {\"s\": \"</tool_call> never closed",
      "<tool_call>{\"name\": \"w\", \"arguments\": {\"s\": \"x</tool_call> <tool_call>{\"name\": \"v\"}</tool_call>",
      "<tool_call>say \"</tool_call>\" ok",
      "\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb</thought>\n\xf0\x9f\x9a\x80",
  };
  return texts;
}

std::vector<ParseOptions> all_options() {
  return {opts(false), opts(true), opts(false, false), opts(true, false), opts(true, true, "</thought>")};
}

}  // namespace

TEST(ParseOutput, ReasoningOn) {
  ParsedOutput r = parse_output("Let me think.\n</think>\n\nThe answer is 4.", opts(true));
  EXPECT_EQ(r.reasoning, "Let me think.\n");
  EXPECT_EQ(r.content, "The answer is 4.");
  r = parse_output("still thinking </think", opts(true));
  EXPECT_EQ(r.reasoning, "still thinking </think");
  EXPECT_EQ(r.content, "");
  r = parse_output("a</think>b</think>c", opts(true));
  EXPECT_EQ(r.reasoning, "a");
  EXPECT_EQ(r.content, "b</think>c");
}

TEST(ParseOutput, ReasoningOffIsAllContent) {
  ParsedOutput r = parse_output("no reasoning</think>\n\nhere", opts(false));
  EXPECT_EQ(r.reasoning, "");
  EXPECT_EQ(r.content, "no reasoning</think>\n\nhere");
}

TEST(ParseOutput, ToolCalls) {
  std::string text =
      "Let me roll.\n<tool_call>{\"name\": \"roll_dice\", \"arguments\": {\"max_num\": 6}}</tool_call>\n"
      "<tool_call>{\"name\": \"roll_dice\", \"arguments\": {\"max_num\": 6.0, \"x\": \"\xec\x84\x9c\xec\x9a\xb8\"}}</tool_call>";
  ParsedOutput r = parse_output(text, opts(false));
  EXPECT_EQ(r.content, "Let me roll.");
  ASSERT_EQ(r.tool_calls.size(), 2u);
  EXPECT_EQ(r.tool_calls[0].name, "roll_dice");
  EXPECT_EQ(r.tool_calls[0].arguments_json(), "{\"max_num\": 6}");
  EXPECT_EQ(r.tool_calls[1].arguments_json(), "{\"max_num\": 6.0, \"x\": \"\xec\x84\x9c\xec\x9a\xb8\"}");
  EXPECT_TRUE(r.invalid_tool_calls.empty());
}

TEST(ParseOutput, UnclosedAndInvalidBlocks) {
  ParsedOutput r = parse_output("<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": [1]}}\n", opts(false));
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.content, "");
  r = parse_output("Sure. <tool_call>{\"name\": f}</tool_call>", opts(false));
  EXPECT_TRUE(r.tool_calls.empty());
  EXPECT_EQ(r.content, "Sure. <tool_call>{\"name\": f}</tool_call>");
  ASSERT_EQ(r.invalid_tool_calls.size(), 1u);
  EXPECT_EQ(r.invalid_tool_calls[0], "<tool_call>{\"name\": f}</tool_call>");
  r = parse_output("<tool_call>{\"arguments\": {}}</tool_call>", opts(false));  // no name
  EXPECT_EQ(r.invalid_tool_calls.size(), 1u);
  r = parse_output("<tool_call>{\"name\": \"now\"}</tool_call>", opts(false));  // no arguments -> {}
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.tool_calls[0].arguments_json(), "{}");
}

// An argument may contain the close tag as text: only a tag outside the JSON strings ends the call.
TEST(ParseOutput, CloseTagInsideArgumentString) {
  ParsedOutput r = parse_output(
      "<tool_call>{\"name\": \"write\", \"arguments\": {\"text\": \"end with </tool_call> \\\"q\\\"\"}}</tool_call>\nok",
      opts(false));
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.tool_calls[0].arguments["text"], "end with </tool_call> \"q\"");
  EXPECT_EQ(r.content, "ok");
  // Never closed outside a string: the first tag closes the block (invalid -> content), and what
  // follows is parsed again, so a later valid call still counts.
  r = parse_output("<tool_call>{\"name\": \"a\", \"arguments\": {\"s\": \"x</tool_call> <tool_call>{\"name\": \"b\"}</tool_call>",
                   opts(false));
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.tool_calls[0].name, "b");
  ASSERT_EQ(r.invalid_tool_calls.size(), 1u);
  // A body that is not JSON closes at the first tag, quotes or not.
  r = parse_output("<tool_call>say \"</tool_call>\" ok", opts(false));
  EXPECT_EQ(r.content, "<tool_call>say \"</tool_call>\" ok");
}

TEST(ParseOutput, DeepUsesThoughtAndNoTools) {
  ParseOptions o = parse_options(Format::ExaoneDeep, true);
  EXPECT_EQ(o.reasoning_close, "</thought>");
  EXPECT_FALSE(o.tool_calls);
  ParsedOutput r = parse_output("x\n</thought>\n\n<tool_call>{\"name\": \"f\"}</tool_call>", o);
  EXPECT_EQ(r.reasoning, "x\n");
  EXPECT_EQ(r.content, "<tool_call>{\"name\": \"f\"}</tool_call>");
  EXPECT_FALSE(parse_options(Format::Exaone35, true).reasoning_open);
  EXPECT_TRUE(parse_options(Format::Exaone4, true).tool_calls);
}

TEST(ParseOutput, OpenAIMessage) {
  ParsedOutput r = parse_output("r\n</think>\n\n<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}}</tool_call>", opts(true));
  json m = to_openai_message(r, "call_");
  EXPECT_EQ(m["role"], "assistant");
  EXPECT_TRUE(m["content"].is_null());
  EXPECT_EQ(m["reasoning_content"], "r\n");
  EXPECT_EQ(m["tool_calls"][0]["id"], "call_0");
  EXPECT_EQ(m["tool_calls"][0]["type"], "function");
  EXPECT_EQ(m["tool_calls"][0]["function"]["name"], "f");
  EXPECT_EQ(m["tool_calls"][0]["function"]["arguments"], "{\"a\": 1}");
  json plain = to_openai_message(parse_output("hi", opts(false)));
  EXPECT_EQ(plain["content"], "hi");
  EXPECT_FALSE(plain.contains("reasoning_content"));
  EXPECT_FALSE(plain.contains("tool_calls"));
}

// The parsed turn fed back through the renderer reproduces the generated text (training format).
TEST(ParseOutput, RoundTripThroughRenderer) {
  std::vector<std::string> outputs = {
      "Let me roll.\n<tool_call>{\"name\": \"roll_dice\", \"arguments\": {\"max_num\": 6}}</tool_call>\n"
      "<tool_call>{\"name\": \"search\", \"arguments\": {\"q\": \"\xed\x95\x9c\", \"n\": 2.5, \"f\": [true, null]}}</tool_call>",
      "<tool_call>{\"name\": \"now\", \"arguments\": {}}</tool_call>",
      "Just text, no tools.",
  };
  for (const auto& out : outputs) {
    ParsedOutput r = parse_output(out, opts(false));
    json msg = to_openai_message(r);
    json req = {{"messages", json::array({{{"role", "user"}, {"content", "q"}}, msg})}, {"add_generation_prompt", false}};
    EXPECT_EQ(render(Format::Exaone4, req),
              "[|user|]\nq[|endofturn|]\n[|assistant|]\n<think>\n\n</think>\n\n" + out + "[|endofturn|]\n");
  }
}

TEST(StreamParser, HoldsBackPartialTags) {
  StreamParser p(opts(true));
  StreamDelta d = p.push("abc</thi");
  EXPECT_EQ(d.reasoning, "abc");
  d = p.push("nk>\n");
  EXPECT_EQ(d.reasoning, "");
  EXPECT_EQ(d.content, "");
  d = p.push("\nHi <tool_");
  EXPECT_EQ(d.content, "Hi");  // " <tool_" may become a call: held back
  d = p.push("call>{\"name\": \"f\", \"arguments\": {}}</tool_call>");
  ASSERT_EQ(d.tool_calls.size(), 1u);
  EXPECT_EQ(d.content, "");
  d = p.finish();
  EXPECT_TRUE(d.empty());
  EXPECT_THROW(p.push("more"), Error);
}

TEST(StreamParser, HoldsBackSplitUtf8) {
  StreamParser p(opts(false, false));
  StreamDelta d = p.push("a\xea\xb0");
  EXPECT_EQ(d.content, "a");
  d = p.push("\x80");
  EXPECT_EQ(d.content, "\xea\xb0\x80");
}

TEST(StreamParser, AllChunkingsEqualOneShot) {
  size_t checked = 0;
  for (const ParseOptions& o : all_options()) {
    for (const std::string& text : corpus()) {
      SCOPED_TRACE(json(text).dump() + " reasoning_open=" + std::to_string(o.reasoning_open) +
                   " tools=" + std::to_string(o.tool_calls) + " close=" + o.reasoning_close);
      ParsedOutput want = parse_output(text, o);
      size_t n = text.size();
      if (n <= 14) {
        // Every way of cutting the text: each of the n-1 inner positions is a cut or not.
        for (uint32_t mask = 0; mask < (1u << (n ? n - 1 : 0)); ++mask) {
          std::vector<size_t> cuts;
          for (size_t k = 0; k + 1 < n; ++k)
            if (mask & (1u << k)) cuts.push_back(k + 1);
          ASSERT_TRUE(same(stream(text, cuts, o), want));
          ++checked;
        }
      } else {
        // All one- and two-cut chunkings, byte by byte, and random chunkings.
        for (size_t a = 0; a <= n; ++a) {
          for (size_t b = a; b <= n; ++b) {
            ASSERT_TRUE(same(stream(text, {a, b}, o), want));
            ++checked;
          }
        }
        std::vector<size_t> every;
        for (size_t k = 1; k < n; ++k) every.push_back(k);
        ASSERT_TRUE(same(stream(text, every, o), want));
        std::mt19937 rng(static_cast<uint32_t>(n));
        for (int trial = 0; trial < 200; ++trial) {
          std::vector<size_t> cuts;
          for (size_t k = 1; k < n; ++k)
            if (rng() % 4 == 0) cuts.push_back(k);
          ASSERT_TRUE(same(stream(text, cuts, o), want));
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 100000u);
}

// Random outputs assembled from the pieces that matter (tags, tag prefixes, whitespace, JSON,
// multi-byte characters), each streamed in random chunks.
TEST(StreamParser, RandomOutputsEqualOneShot) {
  const std::vector<std::string> pieces = {
      "</think>", "</thi", "<", "</", "<tool_call>", "<tool_", "</tool_call>", "</tool", "\n", "\n\n", " ", "\r\n",
      "{\"name\": \"f\", \"arguments\": {\"a\": 1}}", "{\"name\": \"g\"}", "{bad", "}", "text", "\xea\xb0\x80",
      "\xf0\x9f\x98\x80", "</thought>", "\t"};
  std::mt19937 rng(12345);
  for (int iter = 0; iter < 3000; ++iter) {
    std::string text;
    int len = 1 + static_cast<int>(rng() % 12);
    for (int k = 0; k < len; ++k) text += pieces[rng() % pieces.size()];
    for (const ParseOptions& o : all_options()) {
      ParsedOutput want = parse_output(text, o);
      std::vector<size_t> cuts;
      for (size_t k = 1; k < text.size(); ++k)
        if (rng() % 3 == 0) cuts.push_back(k);
      ASSERT_TRUE(same(stream(text, cuts, o), want)) << json(text).dump();
    }
  }
}

// Streaming of constrained tool calls: for every way of cutting the text, the pieces name each call
// once and concatenate to its arguments' JSON text.
#include <gtest/gtest.h>

#include <random>

#include "server/tool_stream.h"
#include "util/json_file.h"

namespace exaone::server {
namespace {

struct Call {
  std::string name, arguments;
};

std::vector<Call> stream_in_pieces(const std::string& text, uint32_t seed) {
  std::mt19937 rng(seed);
  ToolCallStreamer s;
  std::vector<Call> calls;
  for (size_t i = 0; i < text.size();) {
    const size_t n = std::min<size_t>(text.size() - i, 1 + rng() % 7);
    for (const auto& d : s.push(std::string_view(text).substr(i, n))) {
      if (d.first) {
        EXPECT_EQ(d.index, static_cast<int>(calls.size()));
        calls.push_back({d.name, ""});
      }
      EXPECT_EQ(d.index, static_cast<int>(calls.size()) - 1);
      calls.back().arguments += d.arguments;
    }
    i += n;
  }
  return calls;
}

TEST(ToolCallStreamer, PiecesConcatenateToEachCallsArguments) {
  const std::string text =
      "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Se\\\"o}ul: \", \"n\": [1, {\"a\": 2}]}}"
      "</tool_call>\n<tool_call>{ \"name\" :\"f:g\",\n \"arguments\":  \"x,}\" }</tool_call>\n"
      "<tool_call>{\"name\": \"h\", \"arguments\": 12.5}</tool_call>";
  for (uint32_t seed = 0; seed < 200; ++seed) {
    auto calls = stream_in_pieces(text, seed);
    ASSERT_EQ(calls.size(), 3u) << seed;
    EXPECT_EQ(calls[0].name, "get_weather");
    EXPECT_EQ(json::parse(calls[0].arguments), json::parse(R"({"city": "Se\"o}ul: ", "n": [1, {"a": 2}]})"));
    EXPECT_EQ(calls[1].name, "f:g");
    EXPECT_EQ(calls[1].arguments, "\"x,}\"");
    EXPECT_EQ(calls[2].name, "h");
    EXPECT_EQ(calls[2].arguments, "12.5");
  }
}

TEST(ToolCallStreamer, KoreanArgumentsAndNothingOutsideBlocks) {
  const std::string text = "\n<tool_call>{\"name\": \"검색\", \"arguments\": {\"q\": \"서울 날씨\"}}</tool_call>";
  auto calls = stream_in_pieces(text, 1);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].name, "검색");
  EXPECT_EQ(json::parse(calls[0].arguments)["q"], "서울 날씨");
}

}  // namespace
}  // namespace exaone::server

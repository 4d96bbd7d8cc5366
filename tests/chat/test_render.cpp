// Request validation, format detection, template loading and the K-EXAONE (observed) format.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "chat/chat_template.h"
#include "util/error.h"
#include "test_support.h"

using namespace exaone;
using namespace exaone::chat;
namespace fs = std::filesystem;

namespace {

// Expects render() to throw an Error whose message contains `needle`.
void expect_error(Format f, const std::string& request_json, const std::string& needle) {
  json req = json::parse(request_json);
  try {
    render(f, req);
    ADD_FAILURE() << "no error for " << request_json;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << "message: " << e.what();
  }
}

using exaone::test::TempDir;

}  // namespace

TEST(RenderErrors, BadRequests) {
  Format f = Format::Exaone4;
  expect_error(f, R"([])", "expected a JSON object");
  expect_error(f, R"({})", "missing 'messages'");
  expect_error(f, R"({"messages": {}})", "messages: expected a list");
  expect_error(f, R"({"messages": [1]})", "messages[0]: expected an object");
  expect_error(f, R"({"messages": [{"content": "x"}]})", "messages[0]: missing 'role'");
  expect_error(f, R"({"messages": [{"role": 3}]})", "messages[0].role: expected a string");
  expect_error(f, R"({"messages": [{"role": "user", "content": "a"}, {"role": "developer", "content": "x"}]})",
               "messages[1].role: unknown role 'developer'");
  expect_error(f, R"({"messages": [{"role": "user", "content": 5}]})", "messages[0].content: expected a string");
  expect_error(f, R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]})",
               "messages[0].content[0]: unsupported content part type 'image_url'");
  expect_error(f, R"({"messages": [{"role": "user", "content": [{"type": "text"}]}]})",
               "messages[0].content[0]: text part without a string 'text'");
  expect_error(f, R"({"messages": [{"role": "user", "content": ["plain"]}]})", "messages[0].content[0]");
  expect_error(f, R"({"messages": [{"role": "assistant", "tool_calls": {}}]})",
               "messages[0].tool_calls: expected a list");
  expect_error(f, R"({"messages": [{"role": "assistant", "tool_calls": [{"function": {"arguments": {}}}]}]})",
               "messages[0].tool_calls[0].function: missing 'name'");
  expect_error(f, R"({"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f"}}]}]})",
               "messages[0].tool_calls[0].function: missing 'arguments'");
  expect_error(f, R"({"messages": [{"role": "assistant", "tool_calls": [{"name": 1, "arguments": {}}]}]})",
               "messages[0].tool_calls[0].name: expected a string");
  expect_error(f, R"({"messages": [{"role": "user"}, {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{\"a\": "}}]}]})",
               "messages[1].tool_calls[0].function.arguments: invalid JSON string");
  expect_error(f, R"({"messages": [{"role": "assistant", "tool_calls": [{"function": "f"}]}]})",
               "messages[0].tool_calls[0].function: expected an object");
  expect_error(f, R"({"messages": [{"role": "assistant", "content": "a", "reasoning_content": 1}]})",
               "messages[0].reasoning_content: expected a string");
  expect_error(f, R"({"messages": [], "tools": {}})", "tools: expected a list");
  expect_error(f, R"({"messages": [], "add_generation_prompt": "yes"})", "add_generation_prompt: expected a boolean");
  expect_error(f, R"({"messages": [], "chat_template_kwargs": []})", "chat_template_kwargs: expected an object");
  expect_error(Format::KExaone, R"({"messages": [{"role": "critic", "content": "x"}]})",
               "messages[0].role: unknown role 'critic'");
  expect_error(Format::Exaone35, R"({"messages": [{"role": "tool", "content": {"a": 1}}]})",
               "messages[0].content: must be a string");
}

TEST(Render, ToolContentArrayOfNonPartsIsJson) {
  json req = json::parse(R"({"messages": [{"role": "tool", "content": [1, "a", null]}], "add_generation_prompt": false})");
  EXPECT_EQ(render(Format::Exaone4, req), "[|tool|]\n<tool_result>{\"result\": [1, \"a\", null]}</tool_result>[|endofturn|]\n");
}

TEST(Render, Exaone35AndDeepSpecExamples) {
  json req = json::parse(R"({"messages": [{"role": "user", "content": "Hi"}]})");
  EXPECT_EQ(render(Format::Exaone35, req), "[|system|][|endofturn|]\n[|user|]Hi\n[|assistant|]");
  EXPECT_FALSE(render_chat(Format::Exaone35, req).reasoning_open);
  json deep = json::parse(R"({"messages": [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"},
                                           {"role": "user", "content": "Q2"}]})");
  Rendered r = render_chat(Format::ExaoneDeep, deep);
  EXPECT_EQ(r.prompt, "[|system|][|endofturn|]\n[|user|]Q1\n[|assistant|]A1[|endofturn|]\n[|user|]Q2\n[|assistant|]<thought>\n");
  EXPECT_TRUE(r.reasoning_open);
}

// K-EXAONE has no published template text in the stored sources: these are the observed shapes
// (spec §6.6; the same shapes are asserted by ollama's renderer tests for the <|role|> family).
TEST(RenderKExaone, ObservedFormat) {
  json user_only = json::parse(R"({"messages": [{"role": "user", "content": "Reply with exactly: OK"}]})");
  Rendered r = render_chat(Format::KExaone, user_only);
  EXPECT_EQ(r.prompt, "<|user|>\nReply with exactly: OK<|endofturn|>\n<|assistant|>\n<think>\n");
  EXPECT_TRUE(r.reasoning_open);  // enable_thinking defaults to true

  user_only["chat_template_kwargs"] = {{"enable_thinking", false}};
  r = render_chat(Format::KExaone, user_only);
  EXPECT_EQ(r.prompt, "<|user|>\nReply with exactly: OK<|endofturn|>\n<|assistant|>\n<think>\n\n</think>\n\n");
  EXPECT_FALSE(r.reasoning_open);

  json sys = json::parse(R"({"messages": [{"role": "system", "content": "Stay concise."}, {"role": "user", "content": "Hi"}]})");
  EXPECT_EQ(render(Format::KExaone, sys), "<|system|>\nStay concise.<|endofturn|>\n<|user|>\nHi<|endofturn|>\n<|assistant|>\n<think>\n");

  json tools = json::parse(R"({"messages": [{"role": "user", "content": "Weather?"}],
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Get weather",
      "parameters": {"type": "object", "required": ["location"], "properties": {"location": {"type": "string", "description": "City"}}}}}]})");
  EXPECT_EQ(render(Format::KExaone, tools),
            "<|tool_declare|>\n# Tools\n<tool>{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", "
            "\"description\": \"Get weather\", \"parameters\": {\"type\": \"object\", \"required\": [\"location\"], "
            "\"properties\": {\"location\": {\"type\": \"string\", \"description\": \"City\"}}}}}</tool>\n<|endofturn|>\n"
            "<|user|>\nWeather?<|endofturn|>\n<|assistant|>\n<think>\n");

  json calls = json::parse(R"({"messages": [{"role": "user", "content": "Weather?"},
    {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_weather", "arguments": "{\"location\": \"Seoul\"}"}}]},
    {"role": "tool", "content": "Sunny"}]})");
  EXPECT_EQ(render(Format::KExaone, calls),
            "<|user|>\nWeather?<|endofturn|>\n<|assistant|>\n<think>\n\n</think>\n\n<tool_call>{\"name\": \"get_weather\", "
            "\"arguments\": {\"location\": \"Seoul\"}}</tool_call><|endofturn|>\n<|tool|>\n<tool_result>Sunny</tool_result>"
            "<|endofturn|>\n<|assistant|>\n<think>\n");
}

TEST(RenderKExaone, ReasoningKeptOnlyAfterLastUser) {
  json req = json::parse(R"({"messages": [
    {"role": "user", "content": "Q1"}, {"role": "assistant", "content": "<think>\nold\n</think>\n\nA1"},
    {"role": "user", "content": "Q2"},
    {"role": "assistant", "content": "", "reasoning_content": "plan", "tool_calls": [{"name": "s", "arguments": {"q": "x"}}]},
    {"role": "tool", "content": {"hits": 2}}, {"role": "tool", "content": "raw"}]})");
  EXPECT_EQ(render(Format::KExaone, req),
            "<|user|>\nQ1<|endofturn|>\n<|assistant|>\n<think>\n\n</think>\n\nA1<|endofturn|>\n"
            "<|user|>\nQ2<|endofturn|>\n<|assistant|>\n<think>\nplan\n</think>\n\n"
            "<tool_call>{\"name\": \"s\", \"arguments\": {\"q\": \"x\"}}</tool_call><|endofturn|>\n"
            "<|tool|>\n<tool_result>{\"hits\": 2}</tool_result>\n<tool_result>raw</tool_result><|endofturn|>\n"
            "<|assistant|>\n<think>\n");
}

TEST(DetectFormat, FromTemplateAndModelType) {
  EXPECT_EQ(detect_format("", "...[|tool|]..."), Format::Exaone4);
  EXPECT_EQ(detect_format("exaone", "{{ '<think>' }} [|endofturn|]"), Format::Exaone4);
  EXPECT_EQ(detect_format("", "[|endofturn|] <thought>"), Format::ExaoneDeep);
  EXPECT_EQ(detect_format("exaone4", "<|endofturn|> <think>"), Format::KExaone);
  EXPECT_EQ(detect_format("", "<|tool_declare|>"), Format::KExaone);
  EXPECT_EQ(detect_format("exaone4", "[|user|] [|endofturn|]"), Format::Exaone35);
  EXPECT_EQ(detect_format("exaone4", ""), Format::Exaone4);
  EXPECT_EQ(detect_format("exaone", ""), Format::Exaone35);
  EXPECT_EQ(detect_format("exaone_moe", "{{ messages }}"), Format::KExaone);
  EXPECT_EQ(detect_format("exaone4_5", ""), Format::KExaone);
  EXPECT_THROW(detect_format("llama", "{{ messages }}"), Error);
  EXPECT_THROW(detect_format("", ""), Error);
}

TEST(LoadChatTemplate, JinjaFileWins) {
  TempDir d;
  d.write("chat_template.jinja", "JINJA");
  d.write("tokenizer_config.json", R"({"chat_template": "CONFIG"})");
  EXPECT_EQ(load_chat_template(d.str()), "JINJA");
}

TEST(LoadChatTemplate, TokenizerConfigStringAndList) {
  TempDir d;
  d.write("tokenizer_config.json", R"({"chat_template": "CONFIG [|endofturn|]"})");
  EXPECT_EQ(load_chat_template(d.str()), "CONFIG [|endofturn|]");
  d.write("tokenizer_config.json",
          R"({"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]})");
  EXPECT_EQ(load_chat_template(d.str()), "D");
  d.write("tokenizer_config.json", R"({"chat_template": [{"name": "tool_use", "template": "T"}]})");
  EXPECT_THROW(load_chat_template(d.str()), Error);
  d.write("tokenizer_config.json", R"({"chat_template": 3})");
  EXPECT_THROW(load_chat_template(d.str()), Error);
  d.write("tokenizer_config.json", R"({"chat_template": )");
  EXPECT_THROW(load_chat_template(d.str()), Error);
  d.write("tokenizer_config.json", R"({"eos_token": "x"})");
  EXPECT_EQ(load_chat_template(d.str()), "");
}

TEST(LoadChatTemplate, DetectModelFormat) {
  TempDir d;
  EXPECT_THROW(detect_model_format(d.str()), Error);  // no config.json
  d.write("config.json", R"({"model_type": "exaone4"})");
  EXPECT_EQ(detect_model_format(d.str()), Format::Exaone4);
  d.write("chat_template.jinja", "{{ '[|endofturn|]' }} <thought>");
  EXPECT_EQ(detect_model_format(d.str()), Format::ExaoneDeep);
}

// Byte-exact rendering against the reference templates executed by transformers' Jinja renderer
// (goldens written by scripts/fixtures/make_chat_fixtures.py into tests/fixtures/chat/).
#include <gtest/gtest.h>

#include "chat/chat_template.h"
#include "util/error.h"

using namespace exaone;
using namespace exaone::chat;

namespace {

std::string fixture(const std::string& name) { return std::string(EXAONE_FIXTURES) + "/chat/" + name; }

// Shows the first differing byte with a little context, so a failure is readable.
std::string first_difference(const std::string& got, const std::string& want) {
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  size_t from = i > 40 ? i - 40 : 0;
  return "first difference at byte " + std::to_string(i) + "\n got: ..." + json(got.substr(from, 80)).dump() +
         "\nwant: ..." + json(want.substr(from, 80)).dump();
}

void check_goldens(const std::string& file, Format format, size_t min_cases) {
  json golden = read_json_file(fixture(file));
  const json& cases = golden["cases"];
  ASSERT_GE(cases.size(), min_cases);
  // The format must also be what the reference template text itself is detected as.
  EXPECT_EQ(detect_format("", read_text_file(fixture(golden["template"].get<std::string>()))), format);
  for (const auto& c : cases) {
    std::string name = c["name"].get<std::string>();
    SCOPED_TRACE(file + ": " + name);
    if (c.contains("error")) {
      EXPECT_THROW(render(format, c["request"]), Error);
      continue;
    }
    std::string want = c["prompt"].get<std::string>();
    Rendered got;
    ASSERT_NO_THROW(got = render_chat(format, c["request"]));
    EXPECT_EQ(got.prompt, want) << first_difference(got.prompt, want);
    EXPECT_EQ(got.reasoning_open, prompt_opens_reasoning(format, want));
  }
}

}  // namespace

TEST(RenderGolden, Exaone4) { check_goldens("golden_exaone4.json", Format::Exaone4, 40); }
TEST(RenderGolden, Exaone35) { check_goldens("golden_exaone35.json", Format::Exaone35, 8); }
TEST(RenderGolden, ExaoneDeep) { check_goldens("golden_exaone_deep.json", Format::ExaoneDeep, 8); }

TEST(RenderGolden, SpecExamplesExaone4) {
  // Spec §6.3 (a), (c), (f).
  json req = {{"messages", {{{"role", "user"}, {"content", "Hi"}}}}};
  EXPECT_EQ(render(Format::Exaone4, req), "[|user|]\nHi[|endofturn|]\n[|assistant|]\n<think>\n\n</think>\n\n");
  req["chat_template_kwargs"] = {{"enable_thinking", true}};
  Rendered r = render_chat(Format::Exaone4, req);
  EXPECT_EQ(r.prompt, "[|user|]\nHi[|endofturn|]\n[|assistant|]\n<think>\n");
  EXPECT_TRUE(r.reasoning_open);
  json fin = {{"messages", {{{"role", "user"}, {"content", "Hi"}}, {{"role", "assistant"}, {"content", "Hello!"}}}},
              {"add_generation_prompt", false}};
  r = render_chat(Format::Exaone4, fin);
  EXPECT_EQ(r.prompt, "[|user|]\nHi[|endofturn|]\n[|assistant|]\n<think>\n\n</think>\n\nHello![|endofturn|]\n");
  EXPECT_FALSE(r.reasoning_open);
}

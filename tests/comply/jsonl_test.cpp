// The light JSONL reader and writer agree with nlohmann::json: the writer byte for byte, the
// reader field for field, and the reader declines (so the full parser reports the error) on
// every line nlohmann rejects.
#include <gtest/gtest.h>

#include "comply/jsonl.h"

using namespace exaone;
using namespace exaone::comply;

namespace {
// What the pipeline takes from a line through the full parser (same rules as prepare()).
bool read_line_full(const std::string& line, LineFields& out) {
  json j;
  try {
    j = json::parse(line);
  } catch (const json::parse_error&) {
    return false;
  }
  if (!j.is_object()) return false;
  auto t = j.find("text");
  if (t == j.end() || !t->is_string()) return false;
  out.text = t->get<std::string>();
  if (auto it = j.find("id"); it != j.end()) {
    if (it->is_string()) out.id = it->get<std::string>();
    else if (it->is_number_integer()) out.id = std::to_string(it->get<int64_t>());
  }
  if (auto it = j.find("source"); it != j.end() && it->is_string()) out.source = it->get<std::string>();
  if (auto it = j.find("license"); it != j.end() && it->is_string()) out.license = it->get<std::string>();
  for (const char* k : {"url", "author", "date"})
    if (auto it = j.find(k); it != j.end() && !it->is_null()) out.extra[k] = *it;
  return true;
}

void expect_same(const std::string& line) {
  LineFields fast, full;
  bool ok_fast = read_line_fast(line, fast);
  bool ok_full = read_line_full(line, full);
  if (!ok_full) {
    EXPECT_FALSE(ok_fast) << "fast reader accepted a line the full parser rejects: " << line;
    return;
  }
  if (!ok_fast) return;  // declining a valid line is allowed: the full parser reads it
  EXPECT_EQ(fast.text, full.text) << line;
  EXPECT_EQ(fast.id, full.id) << line;
  EXPECT_EQ(fast.source, full.source) << line;
  EXPECT_EQ(fast.license, full.license) << line;
  EXPECT_EQ(fast.extra.dump(), full.extra.dump()) << line;
}
}  // namespace

TEST(ComplyJsonl, FastReaderAgreesWithFullParser) {
  const char* lines[] = {
      R"({"id":"a1","text":"plain"})",
      R"(  { "text" : "공백 \t 과 이스케이프 \"따옴표\" \\ \/ \b\f\n\r\t" , "id" : 42 }  )",
      R"({"text":"\u0041\u00e9\uac00\ud83d\ude00 surrogate pair","id":-0})",
      R"({"text":"x","id":-1234567890123,"source":"news","license":"CC-BY-4.0"})",
      R"({"date":"2024-01-01","text":"extras out of order","url":"https://e.org","author":null})",
      R"({"text":"nested members skipped","meta":{"a":[1,2.5e-3,{"b":null}],"c":true,"d":false},"n":-0.0})",
      R"({"text":"empty containers","m":{},"l":[]})",
      R"({"text":""})",
      R"({"id":"no text"})",
      R"({"text":42})",
      R"({"text":"dup","text":"dup2"})",
      R"({"text":"float id","id":1.5})",
      R"({"text":"big id","id":12345678901234567890})",
      R"({"text":"bool source","source":true})",
      R"({"text":"url object","url":{"a":1}})",
      R"({"text":"x",})",
      R"({"text":"x" "id":1})",
      R"({"text":"bad escape \x"})",
      R"({"text":"lone \ud800 high"})",
      R"({"text":"lone \udc00 low"})",
      R"({"text":"short \u12"})",
      R"({"text":"unterminated)",
      R"({"text":"x"} trailing)",
      R"({"text":"x","n":01})",
      R"({"text":"x","n":1.})",
      R"({"text":"x","n":.5})",
      R"({"text":"x","n":1e})",
      R"({"text":"x","n":-})",
      R"({"text":"x","l":[1,]})",
      R"({"text":"x","l":[1 2]})",
      R"({"text":"x","b":tru})",
      R"([{"text":"array"}])",
      R"("text")",
      "",
      "{\"text\":\"raw control \x01 char\"}",
      "{\"text\":\"raw tab \t char\"}",
      "{\"text\":\"bad utf8 \xff here\"}",
      "{\"text\":\"overlong \xc0\xaf\"}",
      "{\"text\":\"surrogate in utf8 \xed\xa0\x80\"}",
      "{\"text\":\"truncated \xea\xb0\"}",
      "\xef\xbb\xbf{\"text\":\"BOM\"}",
      "{\"text\":\"nul \\u0000 escape\"}",
  };
  for (const char* l : lines) expect_same(l);
  // The common line shape must take the fast path.
  LineFields f;
  EXPECT_TRUE(read_line_fast(R"({"id":"a","text":"본문 text","source":"s","url":"u"})", f));
  EXPECT_EQ(f.extra.dump(), R"({"url":"u"})");
}

TEST(ComplyJsonl, FastReaderOnMutatedLines) {
  // Every single-byte deletion and a few substitutions of a rich line: fast and full agree.
  std::string base =
      R"({"id":7,"text":"가나 \"q\" \\ \u00e9\ud83d\ude00 end","meta":{"k":[1,-2.5e3,true,null]},"date":"d"})";
  const char subs[] = {'"', '\\', '{', '}', '[', ']', ',', ':', '0', 'e', '-', ' ', 'u', 'x'};
  for (size_t i = 0; i < base.size(); ++i) {
    std::string del = base;
    del.erase(i, 1);
    expect_same(del);
    for (char c : subs) {
      std::string sub = base;
      sub[i] = c;
      expect_same(sub);
    }
  }
}

TEST(ComplyJsonl, WriterMatchesDump) {
  std::vector<std::string> cases = {"", "plain ascii", "한국어 텍스트와 emoji 😀", "quotes \" and \\ backslash",
                                    "\b\f\n\r\t", std::string("nul \0 byte", 10), "\x01\x1f\x7f end", "/slash/"};
  std::string all;
  for (int c = 0; c < 128; ++c) all.push_back(static_cast<char>(c));
  cases.push_back(all);
  std::string long_text;
  for (int i = 0; i < 200; ++i) long_text += "줄 " + std::to_string(i) + "\t\"인용\"\n";
  cases.push_back(long_text);
  for (auto& s : cases) {
    std::string out;
    append_json_string(out, s);
    EXPECT_EQ(out, json(s).dump()) << s;
  }
}

TEST(ComplyJsonl, LossyWriterMatchesDumpWithReplacement) {
  // Ids, file names and error messages may hold any bytes: written as json::dump writes them
  // with error_handler_t::replace.
  std::vector<std::string> cases = {"", "plain", "한국어 \"q\" \t", "bad \xff byte", "\xc0\xaf overlong",
                                    "surrogate \xed\xa0\x80", "truncated \xea\xb0", "\x80\x80 lead missing", "tail \xf0\x90"};
  for (auto& s : cases) {
    std::string out = "prefix";
    append_json_string_lossy(out, s);
    EXPECT_EQ(out, "prefix" + json(s).dump(-1, ' ', false, json::error_handler_t::replace)) << s;
  }
}

// TokenFilter: allowed() agrees with accepts() and with Matcher::advance token by token; random texts
// built from allowed tokens always finish, parse and validate; the bundled model's real vocabulary;
// and the time of allowed() on a 100k-token synthetic vocabulary.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <set>

#include "grammar/grammar.h"
#include "grammar_test_util.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/paths.h"

namespace exaone::grammar {
namespace {

std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | cp >> 6);
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | cp >> 12);
    s += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | cp >> 18);
    s += static_cast<char>(0x80 | (cp >> 12 & 0x3F));
    s += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// A vocabulary shaped like a byte-level BPE one: every single byte, English and Korean words with and without
// a leading space, pieces of UTF-8 characters, numbers, punctuation runs (JSON's among them), identifiers and
// whitespace runs.
std::vector<std::string> synthetic_vocab(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::set<std::string> seen;
  std::vector<std::string> out;
  auto add = [&](std::string s) {
    if (!s.empty() && seen.insert(s).second) out.push_back(std::move(s));
  };
  for (int b = 0; b < 256; ++b) add(std::string(1, static_cast<char>(b)));
  auto word = [&](int max_len) {
    std::string w;
    int len = 1 + rng() % max_len;
    for (int i = 0; i < len; ++i) w += static_cast<char>('a' + rng() % 26);
    return w;
  };
  auto syllable = [&] { return utf8(0xAC00 + rng() % 11172); };
  const std::string punct = "\"{}[]:,. \n\\()-_'!?/*#=<>";
  while (out.size() < n) {
    uint32_t r = rng() % 100;
    std::string t;
    if (r < 45) {
      t = word(10);
      if (rng() % 100 < 15) t[0] = static_cast<char>(t[0] - 32);
      if (rng() % 100 < 60) t = " " + t;
    } else if (r < 65) {
      int len = 1 + rng() % 3;
      for (int i = 0; i < len; ++i) t += syllable();
      if (rng() % 2) t = " " + t;
    } else if (r < 70) {
      std::string s = syllable();
      t = rng() % 2 ? s.substr(0, 1 + rng() % 2) : s.substr(1 + rng() % 2);
      if (rng() % 3 == 0) t = syllable() + t;
    } else if (r < 78) {
      t = std::to_string(rng() % (rng() % 2 ? 10000 : 100));
      if (rng() % 3 == 0) t = " " + t;
    } else if (r < 88) {
      int len = 1 + rng() % 4;
      for (int i = 0; i < len; ++i) t += punct[rng() % punct.size()];
    } else if (r < 95) {
      t = word(6) + (rng() % 2 ? "_" + word(6) : word(1) + word(6));
    } else {
      t = std::string(rng() % 2 ? "\n" : "") + std::string(1 + rng() % 16, ' ');
    }
    add(std::move(t));
  }
  return out;
}

// The definition allowed() must meet: token t may come next iff the matcher accepts its bytes.
void expect_filter_consistent(const TokenFilter& filter, const Matcher& m, const std::vector<std::string>& vocab,
                              const std::string& what, int end_id) {
  std::vector<char> allowed;
  filter.allowed(m, allowed);
  ASSERT_EQ(allowed.size(), vocab.size());
  int mismatches = 0;
  for (size_t id = 0; id < vocab.size(); ++id) {
    if (static_cast<int>(id) == end_id) continue;  // checked by the caller
    Matcher copy = m;
    bool expect = !vocab[id].empty() && copy.advance(vocab[id]);
    bool ok = allowed[id] == expect && filter.accepts(m, static_cast<int>(id)) == expect;
    if (!ok && ++mismatches <= 5)
      ADD_FAILURE() << what << ": token " << id << " '" << vocab[id] << "' allowed " << int(allowed[id]) << ", advance "
                    << expect;
  }
}

const char* kPersonSchema = R"({
  "type": "object",
  "properties": {
    "name": {"type": "string"},
    "age": {"type": "integer", "minimum": 0, "maximum": 150},
    "city": {"type": "string", "maxLength": 40},
    "tags": {"type": "array", "items": {"type": "string"}},
    "score": {"type": "number"}
  },
  "required": ["name", "age"]
})";

NodePtr tool_call_grammar() {
  json weather = {{"type", "object"},
                  {"properties",
                   {{"name", {{"const", "get_weather"}}},
                    {"arguments",
                     {{"type", "object"},
                      {"properties", {{"city", {{"type", "string"}}}, {"unit", {{"enum", {"c", "f"}}}}}},
                      {"required", {"city"}}}}}},
                  {"required", {"name", "arguments"}}};
  json search = {{"type", "object"},
                 {"properties", {{"name", {{"const", "search"}}}, {"arguments", {{"type", "object"}}}}},
                 {"required", {"name", "arguments"}}};
  auto block = [](const json& s) { return sequence({literal("<tool_call>"), json_value(s), literal("</tool_call>")}); };
  return repeat(choice({block(weather), block(search)}), 1, -1, literal("\n"));
}

TEST(TokenFilter, AllowedAgreesWithAdvance) {
  std::vector<std::string> vocab = synthetic_vocab(6000, 7);
  for (const char* extra : {"{\"", "\":", "\", \"", "\"}", "<tool_call>", "</tool_call>", "{\"name\": \"",
                            "get_weather", "\\u00", "\\ud83d", "\\\"", "true", "null", "\"\n"})
    vocab.push_back(extra);
  vocab.push_back("");  // an id without a token
  const int eos = static_cast<int>(vocab.size());
  vocab.push_back("");
  TokenFilter filter(vocab, {eos});
  NodePtr person = json_value(json::parse(kPersonSchema));
  NodePtr any = json_value(json::object());
  NodePtr tools = tool_call_grammar();
  NodePtr short_strings =
      json_value(json::parse(R"({"type": "object", "properties": {"s": {"type": "string", "maxLength": 3},
      "m": {"type": "string", "minLength": 2}}, "additionalProperties": true})"));
  NodePtr options = json_value(json::parse(R"({"anyOf": [
      {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a"]},
      {"type": "object", "properties": {"a": {"type": "string", "maxLength": 5}, "c": {"type": "boolean"}}, "required": ["a"]}]})"));
  json wide = {{"type", "object"}, {"properties", json::object()}, {"additionalProperties", true}};
  for (int i = 0; i < 12; ++i) wide["properties"]["field_" + std::to_string(i)] = {{"type", "string"}};
  NodePtr many_keys = json_value(wide);
  NodePtr two_strings =
      json_value(json::parse(R"({"anyOf": [{"type": "string", "maxLength": 5}, {"type": "string", "minLength": 2}]})"));
  struct Case {
    NodePtr g;
    const char* prefix;
  };
  for (const Case& c :
       std::initializer_list<Case>{{person, ""},
                                   {person, "{"},
                                   {person, "{\"name\": "},
                                   {person, "{\"name\": \"Kim \xEA\xB0"},
                                   {person, "{\"name\": \"Kim\", \"age\": 4"},
                                   {person, "{\"name\": \"Kim\", \"age\": 42"},
                                   {person, "{\"name\": \"Kim\", \"age\": 42, \"city\": \"Seo"},
                                   {person, "{\"name\": \"K\", \"age\": 1, \"tags\": [\"a\", "},
                                   {any, ""},
                                   {any, "[1, {\"a\": \"b\\u00"},
                                   {any, "{\"x\": 1.5e"},
                                   {tools, ""},
                                   {tools, "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Se"},
                                   {tools, "<tool_call>{\"name\": \"search\", \"arguments\": {}}</tool_call>"},
                                   {short_strings, "{"},
                                   {short_strings, "{\"s\": \"a"},
                                   {short_strings, "{\"s\": \"ab"},
                                   {short_strings, "{\"s\": \"a\xEA\xB0\x80"},
                                   {short_strings, "{\"s\": \"abc"},
                                   {short_strings, "{\"m\": \""},
                                   {short_strings, "{\"s\": \"x\", \""},
                                   {short_strings, "{\"s\": \"x\", \"m"},
                                   {short_strings, "{\"s\": \"x\", \"q"},
                                   {options, "{\"a\": \"xy"},
                                   {many_keys, "{"},
                                   {many_keys, "{\"field_"},
                                   {many_keys, "{\"field_3\": \"x\", \"f"},
                                   {two_strings, "\""},
                                   {two_strings, "\"abc"},
                                   {two_strings, "\"abcde"},
                                   {options, "{\"a\": \"xyzw"}}) {
    Matcher m(c.g);
    ASSERT_TRUE(m.advance(c.prefix)) << c.prefix;
    expect_filter_consistent(filter, m, vocab, c.prefix, eos);
    std::vector<char> allowed;
    filter.allowed(m, allowed);
    EXPECT_EQ(allowed[eos], m.can_end()) << c.prefix;
    EXPECT_EQ(allowed[eos - 1], 0);
    EXPECT_EQ(filter.accepts(m, eos), m.can_end());
  }
  EXPECT_EQ(filter.token_bytes(eos), "");
  EXPECT_EQ(filter.token_bytes(-1), "");
  EXPECT_EQ(filter.token_bytes(static_cast<int>(vocab.size())), "");
  EXPECT_EQ(filter.token_bytes(0), std::string(1, '\0'));
  EXPECT_FALSE(filter.accepts(Matcher(any), -5));
  EXPECT_THROW(TokenFilter(vocab, {-1}), Error);
  EXPECT_EQ(TokenFilter(vocab, {static_cast<int>(vocab.size()) + 2}).vocab_size(), static_cast<int>(vocab.size()) + 3);
}

TEST(TokenFilter, RandomTextsParseAndValidate) {
  const std::vector<const char*> schemas = {
      kPersonSchema,
      R"({"$defs": {"node": {"type": "object", "properties": {"value": {"type": "integer", "minimum": -5, "maximum": 5},
          "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 3}}, "required": ["value"]}},
          "$ref": "#/$defs/node"})",
      R"({"anyOf": [{"type": "object", "properties": {"kind": {"const": "circle"}, "r": {"type": "number", "exclusiveMinimum": 0}},
          "required": ["kind", "r"]},
          {"type": "object", "properties": {"kind": {"const": "rect"}, "w": {"type": "number", "minimum": 0.5, "maximum": 2.25}},
          "required": ["kind"]}, {"type": "null"}]})",
      "{}",
      R"({"type": "object", "properties": {"s": {"type": "string", "minLength": 2, "maxLength": 4},
          "d": {"type": "string", "format": "date"}, "t": {"type": "string", "format": "date-time"},
          "u": {"type": "string", "format": "uuid"}, "e": {"enum": ["a", "bb", 3, null, [1, 2]]},
          "l": {"type": "array", "prefixItems": [{"type": "boolean"}], "items": {"type": "integer"}, "minItems": 2, "maxItems": 4}},
          "required": ["s", "d", "l"]})",
      R"({"type": "object", "additionalProperties": {"type": ["string", "null"]}})",
      R"({"type": "array", "items": {"type": "integer", "exclusiveMinimum": -3, "maximum": 1000}})",
  };
  std::vector<std::string> vocab = testing::small_vocab();
  const int eos = static_cast<int>(vocab.size());
  vocab.push_back("");
  TokenFilter filter(vocab, {eos});
  std::mt19937 rng(12345);
  for (const char* text : schemas) {
    json s = json::parse(text);
    NodePtr g = json_value(s);
    int finished_count = 0;
    for (int trial = 0; trial < 25; ++trial) {
      bool finished = false;
      std::string out = testing::generate(filter, g, vocab, rng, finished);
      if (::testing::Test::HasFailure()) return;
      if (!finished) continue;
      ++finished_count;
      json v;
      try {
        v = json::parse(out);
      } catch (const json::exception& e) {
        ADD_FAILURE() << "does not parse: " << out << " (" << e.what() << ")";
        continue;
      }
      std::string why;
      EXPECT_TRUE(testing::validate(v, s, s, &why)) << out << "\n  " << why << "\n  schema " << text;
    }
    EXPECT_GE(finished_count, 20) << text;
  }
  // Tool-call blocks: each block's JSON names one of the tools and has its arguments.
  NodePtr tools = tool_call_grammar();
  for (int trial = 0; trial < 25; ++trial) {
    bool finished = false;
    std::string out = testing::generate(filter, tools, vocab, rng, finished);
    if (!finished) continue;
    size_t pos = 0;
    while (pos < out.size()) {
      ASSERT_EQ(out.compare(pos, 11, "<tool_call>"), 0) << out;
      // The block ends at the first close tag after a complete JSON value (a string may hold the tag).
      json call;
      size_t close = pos;
      do {
        close = out.find("</tool_call>", close + 1);
        ASSERT_NE(close, std::string::npos) << out;
        call = json::parse(out.substr(pos + 11, close - pos - 11), nullptr, /*allow_exceptions=*/false);
      } while (call.is_discarded());
      EXPECT_TRUE(call["name"] == "get_weather" || call["name"] == "search") << out;
      EXPECT_TRUE(call["arguments"].is_object()) << out;
      pos = close + 12;
      if (pos < out.size()) {
        ASSERT_EQ(out[pos++], '\n') << out;
      }
    }
  }
}

TEST(TokenFilter, RealVocabularyOfTheBundledModel) {
  Tokenizer tok = Tokenizer::from_model_path(path_join(project_home(), "models/exaone4-tiny"));
  const int eos = *tok.eos_id();
  TokenFilter filter(tok, {eos});
  EXPECT_EQ(filter.vocab_size(), tok.vocab_size());
  NodePtr tools = tool_call_grammar();
  const std::string text =
      "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": "
      "\"\xEC\x84\x9C\xEC\x9A\xB8\xED\x8A\xB9\xEB\xB3\x84"
      "\xEC\x8B\x9C \xEA\xB0\x95\xEB\x82\xA8\xEA\xB5\xAC\", \"unit\": \"c\"}}</tool_call>";  // 서울특별시 강남구
  std::vector<int> ids = tok.encode(text);
  Matcher m(tools);
  std::vector<char> allowed;
  bool cut_character = false;
  for (int id : ids) {
    filter.allowed(m, allowed);
    ASSERT_TRUE(allowed[id]) << "token " << id << " '" << tok.token_text(id) << "'";
    ASSERT_TRUE(filter.accepts(m, id));
    EXPECT_FALSE(allowed[eos]);
    std::string_view bytes = filter.token_bytes(id);
    unsigned char last = bytes.back();
    cut_character = cut_character || last >= 0xC0 || (bytes.size() == 1 && last >= 0x80);
    ASSERT_TRUE(m.advance(bytes));
  }
  EXPECT_TRUE(cut_character) << "the test text should make the tokenizer cut a Korean character";
  EXPECT_TRUE(m.can_end());
  filter.allowed(m, allowed);
  EXPECT_TRUE(allowed[eos]);
  EXPECT_TRUE(allowed[tok.encode("\n").at(0)]);  // another block may follow
  // Special tokens other than the end id are never allowed; <tool_call> is an ordinary added token.
  Matcher start(tools);
  filter.allowed(start, allowed);
  EXPECT_TRUE(allowed[*tok.token_id("<tool_call>")]);
  for (int id = 0; id < tok.vocab_size(); ++id)
    if (tok.is_special(id)) {
      EXPECT_FALSE(allowed[id]) << tok.token_text(id);
    }
  // A JSON object response: every allowed token really continues the text.
  Matcher obj(json_value(json::parse(kPersonSchema)));
  ASSERT_TRUE(obj.advance("{\"name\": \"\xEA\xB9\x80"));
  filter.allowed(obj, allowed);
  int count = 0;
  for (int id = 0; id < tok.vocab_size(); ++id) {
    if (!allowed[id]) continue;
    ++count;
    Matcher copy = obj;
    EXPECT_TRUE(copy.advance(filter.token_bytes(id))) << tok.token_text(id);
  }
  EXPECT_GT(count, 100);
}

// allowed() on a 100k-token vocabulary in typical states. Prints the times (docs report them); the bound
// only catches gross regressions on a loaded machine.
TEST(TokenFilter, SpeedOnA100kVocabulary) {
  std::vector<std::string> vocab = synthetic_vocab(100000, 2024);
  const int eos = static_cast<int>(vocab.size());
  vocab.push_back("");
  auto t0 = std::chrono::steady_clock::now();
  TokenFilter filter(vocab, {eos});
  double build_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("  build: %.1f ms for %zu tokens\n", build_ms, vocab.size());
  NodePtr person = json_value(json::parse(kPersonSchema));
  NodePtr any = json_value(json::object());
  NodePtr tools = tool_call_grammar();
  NodePtr options = json_value(json::parse(R"({"anyOf": [
      {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a"]},
      {"type": "object", "properties": {"a": {"type": "string"}, "c": {"type": "boolean"}}, "required": ["a"]},
      {"type": "object", "properties": {"a": {"type": "string"}, "d": {"type": "null"}}, "required": ["a"]}]})"));
  NodePtr two_strings =
      json_value(json::parse(R"({"anyOf": [{"type": "string", "maxLength": 5}, {"type": "string", "minLength": 2}]})"));
  json wide = {{"type", "object"}, {"properties", json::object()}, {"additionalProperties", true}};
  for (int i = 0; i < 30; ++i) wide["properties"]["field_" + std::to_string(i)] = {{"type", "string"}};
  NodePtr many_keys = json_value(wide);
  struct Case {
    const char* name;
    NodePtr g;
    std::string prefix;
  };
  const std::vector<Case> cases = {
      {"key start, 30 optional properties", many_keys, "{"},
      {"inside a key, 30 optional properties", many_keys, "{\"field_"},
      {"other key, 30 declared names", many_keys, "{\"field_3\": \"x\", \"f"},
      {"object start", person, ""},
      {"key start", person, "{"},
      {"value start (string)", person, "{\"name\": "},
      {"inside a string", person, "{\"name\": \"Kim Min"},
      {"inside a string, mid-character", person, "{\"name\": \"Kim \xEA\xB0"},
      {"inside a bounded string", person, "{\"name\": \"K\", \"age\": 1, \"city\": \"Seo"},
      {"inside a bounded integer", person, "{\"name\": \"Kim\", \"age\": 4"},
      {"after a value", person, "{\"name\": \"Kim\""},
      {"any value start", any, ""},
      {"any value, inside a string", any, "{\"a\": [\"xy"},
      {"any value, inside a number", any, "{\"a\": [12"},
      {"tool call, inside arguments string", tools,
       "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Se"},
      {"anyOf of 3 objects, inside a string", options, "{\"a\": \"xy"},
      {"anyOf of 2 different strings, inside", two_strings, "\"ab"},
  };
  double worst = 0;
  for (const Case& c : cases) {
    Matcher m(c.g);
    ASSERT_TRUE(m.advance(c.prefix)) << c.prefix;
    std::vector<char> allowed;
    filter.allowed(m, allowed);  // warm up
    const int runs = 10;
    auto start = std::chrono::steady_clock::now();
    for (int r = 0; r < runs; ++r) filter.allowed(m, allowed);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / runs;
    int count = 0;
    for (char a : allowed) count += a;
    std::printf("  %-40s %7.3f ms  (%d tokens allowed)\n", c.name, ms, count);
    worst = std::max(worst, ms);
  }
  EXPECT_LT(worst, 200.0);
}

}  // namespace
}  // namespace exaone::grammar

// The Matcher on texts: combinators, JSON syntax, every schema feature (valid and invalid texts, fed
// whole, byte by byte and in random splits), can_end/must_end, UTF-8 and schema errors.
#include <gtest/gtest.h>

#include "grammar/grammar.h"
#include "grammar_test_util.h"
#include "util/error.h"

namespace exaone::grammar {
namespace {

using testing::feed_all_splits;
using testing::matches;

NodePtr schema(const char* text) { return json_value(json::parse(text)); }

// Accepts exactly the texts in `good` (and none in `bad`), each in every split.
void expect_language(const NodePtr& g, std::initializer_list<std::string_view> good,
                     std::initializer_list<std::string_view> bad) {
  for (std::string_view t : good) EXPECT_TRUE(matches(g, t)) << "should match: " << t;
  for (std::string_view t : bad) EXPECT_FALSE(matches(g, t)) << "should not match: " << t;
}

std::string error_of(const char* schema_text) {
  try {
    json_value(json::parse(schema_text));
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Combinators, LiteralSequenceChoiceRepeat) {
  NodePtr ab = sequence({literal("a"), literal("b")});
  expect_language(ab, {"ab"}, {"", "a", "abb", "b"});
  NodePtr c = choice({literal("cat"), literal("car"), literal("ca")});
  expect_language(c, {"cat", "car", "ca"}, {"c", "cab", "cart"});
  NodePtr r = repeat(literal("x"), 2, 4, literal(","));
  expect_language(r, {"x,x", "x,x,x", "x,x,x,x"}, {"x", "xx", "x,x,x,x,x", "x,", ""});
  NodePtr any_count = repeat(literal("ab"), 0, -1);
  expect_language(any_count, {"", "ab", "ababab"}, {"a", "aba"});
}

TEST(Combinators, NullableRepeatDoesNotLoop) {
  NodePtr g = repeat(choice({literal(""), literal("a")}), 0, -1, literal(""));
  expect_language(g, {"", "a", "aaaa"}, {"b"});
  NodePtr nested = repeat(repeat(literal("a"), 0, -1), 1, -1);
  expect_language(nested, {"", "aaa"}, {"b"});
}

TEST(Combinators, CanEndAndMustEnd) {
  Matcher m(sequence({literal("ab"), repeat(literal("c"), 0, 2)}));
  EXPECT_FALSE(m.can_end());
  EXPECT_FALSE(m.must_end());
  ASSERT_TRUE(m.advance("ab"));
  EXPECT_TRUE(m.can_end());
  EXPECT_FALSE(m.must_end());
  ASSERT_TRUE(m.advance("c"));
  EXPECT_TRUE(m.can_end());
  EXPECT_FALSE(m.must_end());
  ASSERT_TRUE(m.advance("c"));
  EXPECT_TRUE(m.can_end());
  EXPECT_TRUE(m.must_end());
  EXPECT_FALSE(m.advance("c"));
  EXPECT_TRUE(m.must_end());  // a rejected advance leaves the state as it was
}

TEST(Combinators, AdvanceFailureKeepsState) {
  Matcher m(literal("hello"));
  ASSERT_TRUE(m.advance("he"));
  EXPECT_FALSE(m.advance("lx"));
  EXPECT_TRUE(m.advance("llo"));
  EXPECT_TRUE(m.can_end());
  Matcher copy = m;
  EXPECT_TRUE(copy.must_end());
}

TEST(Combinators, NullArgumentsAreErrors) {
  EXPECT_THROW(sequence({literal("a"), nullptr}), Error);
  EXPECT_THROW(choice({nullptr}), Error);
  EXPECT_THROW(repeat(nullptr, 0, 1), Error);
  EXPECT_THROW(repeat(literal("a"), 3, 2), Error);
  EXPECT_THROW(Matcher(nullptr), Error);
}

TEST(JsonAny, AcceptsJsonValues) {
  NodePtr g = schema("{}");
  expect_language(g,
                  {"null",
                   "true",
                   "false",
                   "0",
                   "-0",
                   "12",
                   "-3.25",
                   "1e5",
                   "1.5E-3",
                   "2e+10",
                   R"("")",
                   R"("a\"b")",
                   R"("\\ \/ \b \f \n \r \t")",
                   R"("\u00e9\uD83D\uDE00")",
                   "[]",
                   "[1, [2, []], {}]",
                   "{}",
                   R"({"a": {"b": [null]}, "c": "d"})",
                   "{\n  \"k\": 1\n}",
                   "[ 1 ,2 ]"},
                  {"",
                   "nul",
                   "True",
                   "01",
                   "-",
                   "1.",
                   ".5",
                   "1e",
                   "+1",
                   R"("abc)",
                   R"("\x")",
                   R"("\u12")",
                   "[1,]",
                   "[,1]",
                   R"({"a"})",
                   R"({"a":})",
                   R"({"a":1,})",
                   R"({a:1})",
                   "{} ",
                   " {}",
                   "[1 2]",
                   R"("\uDE00")",
                   R"("\uD83Dx")",
                   R"("\uD83D\u0041")"});
  expect_language(json_value(json(true)), {"[]", "1"}, {"x"});
}

TEST(JsonAny, StringBytes) {
  NodePtr g = schema(R"({"type": "string"})");
  EXPECT_TRUE(matches(g, "\"\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4\""));  // 한국어
  EXPECT_TRUE(matches(g, "\"\xF0\x9F\x98\x80\""));                      // U+1F600
  EXPECT_TRUE(matches(g, "\"\x7F\""));                                  // DEL is not a control character in JSON
  EXPECT_FALSE(matches(g, "\"a\nb\""));                                 // raw control characters
  EXPECT_FALSE(matches(g, std::string("\"a\0b\"", 5)));
  EXPECT_FALSE(matches(g, "\"\xC0\xAF\""));          // overlong
  EXPECT_FALSE(matches(g, "\"\xED\xA0\x80\""));      // UTF-16 surrogate in UTF-8
  EXPECT_FALSE(matches(g, "\"\xF4\x90\x80\x80\""));  // above U+10FFFF
  EXPECT_FALSE(matches(g, "\"\xEA\xB5\""));          // cut character before the quote
  EXPECT_FALSE(matches(g, "\"\x80\""));              // stray continuation byte
  EXPECT_FALSE(matches(g, "\"\xFF\""));
}

TEST(JsonAny, UnicodeAcceptedInPiecesLikeBpeTokens) {
  NodePtr g = schema(R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]})");
  const std::string text =
      "{\"city\": \"\xEC\x84\x9C\xEC\x9A\xB8 \xEA\xB0\x95\xEB\x82\xA8\xEA\xB5\xAC\"}";  // 서울 강남구
  Matcher m(g);
  // Cut inside characters, as byte-level BPE tokens do.
  for (std::string_view piece : {std::string_view(text).substr(0, 11), std::string_view(text).substr(11, 2),
                                 std::string_view(text).substr(13, 5), std::string_view(text).substr(18)})
    ASSERT_TRUE(m.advance(piece));
  EXPECT_TRUE(m.can_end());
  EXPECT_TRUE(m.must_end());
  Matcher bad(g);
  ASSERT_TRUE(bad.advance("{\"city\": \"\xEC\x84"));
  EXPECT_FALSE(bad.advance("\""));    // the character is not finished
  EXPECT_FALSE(bad.advance("\xEC"));  // a lead byte where a continuation byte must come
  EXPECT_TRUE(bad.advance("\x9C\""));
}

TEST(JsonSchema, ObjectPropertiesInOrder) {
  NodePtr g = schema(R"({
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}}},
    "required": ["name"]
  })");
  expect_language(
      g,
      {R"({"name": "Kim"})", R"({"name":"Kim","age":30})", R"({"name": "Kim", "tags": ["a", "b"]})",
       R"({"name": "Kim", "age": 3, "tags": []})", "{\n  \"name\": \"Kim\",\n  \"age\": 30\n}"},
      {"{}", R"({"age": 30})", R"({"age": 30, "name": "Kim"})", R"({"name": "Kim", "other": 1})", R"({"name": 5})",
       R"({"name": "Kim", "age": 3.5})", R"({"name": "Kim", "name": "Lee"})", R"({"name": "Kim",})"});
}

TEST(JsonSchema, AdditionalProperties) {
  NodePtr open =
      schema(R"({"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": true})");
  expect_language(open, {R"({"a": 1, "b": [true]})", R"({"x": null})", "{}"}, {R"({"a": "s"})"});
  NodePtr typed = schema(R"({"type": "object", "additionalProperties": {"type": "number"}})");
  expect_language(typed, {R"({"x": 1, "y": 2.5})", "{}"}, {R"({"x": "1"})"});
  NodePtr any_object = schema(R"({"type": "object"})");
  expect_language(any_object, {R"({"x": {"y": [1, "z"]}})", "{}"}, {"[]", "1"});
  NodePtr closed = schema(R"({"type": "object", "properties": {"a": {}}, "additionalProperties": false})");
  expect_language(closed, {R"({"a": [1]})", "{}"}, {R"({"b": 1})"});
  NodePtr required_only = schema(R"({"type": "object", "required": ["id"]})");
  expect_language(required_only, {R"({"id": 1})", R"({"id": 1, "more": 2})"}, {"{}", R"({"more": 2})"});
}

TEST(JsonSchema, ManyOptionalProperties) {
  NodePtr g = schema(R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"},
    "c":{"type":"integer"},"d":{"type":"integer"}},"required":["c"]})");
  expect_language(g, {R"({"c":1})", R"({"a":1,"c":1})", R"({"a":1,"b":2,"c":3,"d":4})", R"({"b":2,"c":3,"d":4})"},
                  {R"({"d":4})", R"({"a":1,"d":4})", R"({"c":1,"a":1})", R"({"a":1})"});
}

TEST(JsonSchema, PropertyNamesAreEscaped) {
  NodePtr g = schema(R"({"type":"object","properties":{"a\"b":{"type":"null"},"한글":{"type":"null"}}})");
  expect_language(g, {R"({"a\"b": null, "한글": null})"}, {R"({"a"b": null})"});
}

TEST(JsonSchema, Arrays) {
  NodePtr g = schema(R"({"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3})");
  expect_language(g, {"[1]", "[1, 2, 3]", "[ 1 ]"}, {"[]", "[1, 2, 3, 4]", "[1, \"a\"]"});
  NodePtr tuple =
      schema(R"({"type": "array", "prefixItems": [{"type": "string"}, {"type": "boolean"}], "items": false})");
  expect_language(tuple, {"[]", R"(["a"])", R"(["a", true])"}, {R"([true])", R"(["a", true, 1])"});
  NodePtr tuple_rest =
      schema(R"({"type": "array", "prefixItems": [{"type": "string"}], "items": {"type": "null"}, "minItems": 2})");
  expect_language(tuple_rest, {R"(["a", null])", R"(["a", null, null])"}, {R"(["a"])", R"(["a", "b"])"});
  NodePtr draft4 = schema(R"({"type": "array", "items": [{"type": "integer"}], "additionalItems": false})");
  expect_language(draft4, {"[1]", "[]"}, {"[1, 2]"});
}

TEST(JsonSchema, Strings) {
  NodePtr g = schema(R"({"type": "string", "minLength": 2, "maxLength": 3})");
  expect_language(g, {R"("ab")", R"("abc")", "\"\xED\x95\x9C\xEA\xB8\x80\"", R"("\n\t")", R"("\uD83D\uDE00a")"},
                  {R"("a")", R"("abcd")", "\"\xED\x95\x9C\"", R"("\uD83D\uDE00")"});
  expect_language(schema(R"({"type": "string", "format": "date"})"), {R"("2024-02-29")"},
                  {R"("2024-2-29")", R"("24-02-29")", R"("2024-02-29T")"});
  expect_language(schema(R"({"type": "string", "format": "date-time"})"),
                  {R"("2024-02-29T13:45:00Z")", R"("2024-02-29T13:45:00.123+09:00")"},
                  {R"("2024-02-29 13:45:00Z")", R"("2024-02-29T13:45:00")"});
  expect_language(schema(R"({"type": "string", "format": "time"})"), {R"("23:59:60Z")"}, {R"("24:00")"});
  expect_language(schema(R"({"type": "string", "format": "uuid"})"), {R"("123e4567-e89b-12d3-a456-426614174000")"},
                  {R"("123e4567e89b12d3a456426614174000")"});
  expect_language(schema(R"({"type": "string", "format": "email"})"), {R"("anything")"}, {"1"});
}

TEST(JsonSchema, EnumAndConst) {
  NodePtr g = schema(R"({"enum": ["red", "green", "gr", 1, null, {"a": [1]}]})");
  expect_language(g, {R"("red")", R"("green")", R"("gr")", "1", "null", R"({"a":[1]})"},
                  {R"("blue")", R"("gree")", "2", R"({"a": [1]})", R"("Red")"});
  expect_language(schema(R"({"const": "fixed"})"), {R"("fixed")"}, {R"("fixe")", R"("fixedd")"});
  expect_language(schema(R"({"type": "string", "enum": ["a", 1]})"), {R"("a")"}, {"1"});
  expect_language(schema(R"({"enum": ["한국"]})"), {"\"\xED\x95\x9C\xEA\xB5\xAD\""}, {R"("\ud55c\uad6d")"});
}

TEST(JsonSchema, Numbers) {
  NodePtr integer = schema(R"({"type": "integer"})");
  expect_language(integer, {"0", "-12", "1234567890123456789"}, {"1.0", "1e3", "01", "12345678901234567890"});
  NodePtr range = schema(R"({"type": "integer", "minimum": 10, "maximum": 120})");
  expect_language(range, {"10", "99", "120"}, {"9", "121", "1000", "-10", "0"});
  // The digits already written must still lead to a value in range: "1" (then "10".."19", "100".."120").
  Matcher m(range);
  EXPECT_TRUE(m.advance("1"));
  EXPECT_FALSE(m.can_end());
  EXPECT_TRUE(Matcher(range).advance("2"));  // "2" alone is too small, but 20..29 fit
  EXPECT_FALSE(Matcher(range).advance("-"));
  EXPECT_FALSE(Matcher(range).advance("0"));
  EXPECT_FALSE(Matcher(range).advance("121"));
  EXPECT_FALSE(Matcher(range).advance("130"));
  EXPECT_TRUE(Matcher(range).advance("13"));
  Matcher at_max(range);
  ASSERT_TRUE(at_max.advance("120"));
  EXPECT_TRUE(at_max.must_end());  // no digit can follow
  Matcher below(range);
  ASSERT_TRUE(below.advance("12"));
  EXPECT_TRUE(below.can_end());
  EXPECT_FALSE(below.must_end());
  NodePtr number = schema(R"({"type": "number", "minimum": -1.5, "exclusiveMaximum": 2})");
  expect_language(number, {"-1.5", "0", "1.999", "-0.25"}, {"2", "2.0", "-1.51", "-2", "1e0"});
  NodePtr exclusive_int = schema(R"({"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 5})");
  expect_language(exclusive_int, {"1", "4"}, {"0", "5"});
  NodePtr negative = schema(R"({"type": "number", "maximum": -10})");
  expect_language(negative, {"-10", "-10.5", "-1000"}, {"-9.99", "10", "-1"});
}

TEST(JsonSchema, TypeListsAndNullable) {
  expect_language(schema(R"({"type": ["string", "null"]})"), {R"("a")", "null"}, {"1"});
  expect_language(schema(R"({"type": "integer", "nullable": true})"), {"1", "null"}, {R"("a")"});
  expect_language(schema(R"({"type": "boolean"})"), {"true", "false"}, {"null", "1"});
  expect_language(schema(R"({"type": "null"})"), {"null"}, {"nul"});
  // Keywords without a type imply it.
  expect_language(schema(R"({"minLength": 2})"), {R"("ab")"}, {R"("a")", "12"});
}

TEST(JsonSchema, NestedAnyOf) {
  NodePtr g = schema(R"({
    "anyOf": [
      {"type": "object", "properties": {"kind": {"const": "circle"}, "r": {"type": "number"}}, "required": ["kind", "r"]},
      {"type": "object", "properties": {"kind": {"const": "rect"}, "size": {"anyOf": [
        {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
        {"type": "object", "properties": {"w": {"type": "number"}, "h": {"type": "number"}}, "required": ["w", "h"]}]}},
       "required": ["kind", "size"]},
      {"type": "string", "enum": ["none"]}
    ]})");
  expect_language(g,
                  {R"({"kind": "circle", "r": 2})", R"({"kind": "rect", "size": [1, 2]})",
                   R"({"kind": "rect", "size": {"w": 1, "h": 2}})", R"("none")"},
                  {R"({"kind": "circle", "size": [1, 2]})", R"({"kind": "rect", "size": [1]})",
                   R"({"kind": "rect", "r": 2})", R"("some")", R"({"kind": "rect", "size": {"w": 1}})"});
}

TEST(JsonSchema, RefsAndRecursion) {
  NodePtr tree = schema(R"({
    "$defs": {"node": {"type": "object", "properties": {
      "value": {"type": "integer"},
      "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}, "required": ["value"]}},
    "$ref": "#/$defs/node"})");
  expect_language(tree, {R"({"value": 1})", R"({"value": 1, "children": [{"value": 2, "children": [{"value": 3}]}]})"},
                  {R"({"value": 1, "children": [{"children": []}]})", R"({"value": 1, "children": [1]})"});
  NodePtr root_ref =
      schema(R"({"type": "object", "properties": {"next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}}})");
  expect_language(root_ref, {R"({"next": {"next": {"next": null}}})", "{}"}, {R"({"next": 1})"});
  NodePtr definitions =
      schema(R"({"definitions": {"id": {"type": "integer"}}, "type": "array", "items": {"$ref": "#/definitions/id"}})");
  expect_language(definitions, {"[1, 2]"}, {R"(["1"])"});
  NodePtr all_of =
      schema(R"({"$defs": {"c": {"enum": ["r", "g"]}}, "allOf": [{"$ref": "#/$defs/c"}], "description": "colour"})");
  expect_language(all_of, {R"("r")"}, {R"("b")"});
  // Mutual recursion through arrays.
  NodePtr mutual = schema(R"({"$defs": {"a": {"type": "array", "items": {"$ref": "#/$defs/b"}},
                                        "b": {"anyOf": [{"type": "integer"}, {"$ref": "#/$defs/a"}]}},
                              "$ref": "#/$defs/a"})");
  expect_language(mutual, {"[1, [2, [3, []]]]"}, {"[1, [2, [\"x\"]]]"});
}

TEST(JsonSchema, DeepNestingIsBoundedNotFatal) {
  NodePtr g = schema("{}");
  std::string deep = std::string(60, '[') + std::string(60, ']');
  EXPECT_TRUE(matches(g, deep));
  Matcher m(g);
  size_t accepted = 0;
  for (int i = 0; i < 1000 && m.advance("["); ++i) ++accepted;
  EXPECT_GE(accepted, 64u);
  EXPECT_LT(accepted, 1000u);
  for (size_t i = 0; i < accepted; ++i) ASSERT_TRUE(m.advance("]"));
  EXPECT_TRUE(m.must_end());
}

TEST(JsonSchema, WhitespaceIsBounded) {
  NodePtr g = schema(R"({"type": "array"})");
  Matcher m(g);
  ASSERT_TRUE(m.advance("["));
  int spaces = 0;
  while (spaces < 1000 && m.advance(" ")) ++spaces;
  EXPECT_GT(spaces, 4);
  EXPECT_LT(spaces, 100);
  EXPECT_TRUE(m.advance("]"));
  EXPECT_FALSE(matches(g, " []"));
  EXPECT_FALSE(matches(g, "[] "));
}

TEST(JsonSchema, ToolCallBlocks) {
  auto call = [](const char* name, const char* arguments) {
    json s = {{"type", "object"},
              {"properties", {{"name", {{"const", name}}}, {"arguments", json::parse(arguments)}}},
              {"required", {"name", "arguments"}}};
    return sequence({literal("<tool_call>"), json_value(s), literal("</tool_call>")});
  };
  NodePtr weather =
      call("get_weather", R"({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})");
  NodePtr time = call("get_time", R"({"type": "object", "properties": {}})");
  NodePtr g = repeat(choice({weather, time}), 1, -1, literal("\n"));
  expect_language(
      g,
      {R"(<tool_call>{"name": "get_weather", "arguments": {"city": "Seoul"}}</tool_call>)",
       "<tool_call>{\"name\": \"get_time\", \"arguments\": {}}</tool_call>\n"
       "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"\xEB\xB6\x80\xEC\x82\xB0\"}}</tool_call>"},
      {R"(<tool_call>{"name": "get_weather", "arguments": {}}</tool_call>)",
       R"(<tool_call>{"name": "other", "arguments": {}}</tool_call>)", R"({"name": "get_time", "arguments": {}})", "",
       "<tool_call>{\"name\": \"get_time\", \"arguments\": {}}</tool_call>\n"});
  Matcher m(g);
  ASSERT_TRUE(m.advance(R"(<tool_call>{"name": "get_time", "arguments": {}}</tool_call>)"));
  EXPECT_TRUE(m.can_end());
  EXPECT_FALSE(m.must_end());  // another block may follow
  Matcher named(weather);
  ASSERT_TRUE(named.advance(R"(<tool_call>{"name": "get_weather", "arguments": {"city": "x"}}</tool_call>)"));
  EXPECT_TRUE(named.must_end());
}

TEST(JsonSchema, EverySplitOfValidTextsAgrees) {
  NodePtr g = schema(R"({"type": "object", "properties": {
      "s": {"type": "string", "maxLength": 5}, "n": {"type": "number", "minimum": 0},
      "l": {"type": "array", "items": {"enum": ["x", "y"]}}}, "required": ["s"]})");
  const std::string text = "{\"s\": \"\xEA\xB0\x80\\u00e9\\\"z\", \"n\": 12.5, \"l\": [\"x\", \"y\"]}";
  ASSERT_TRUE(matches(g, text));
  // Every single cut point.
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    Matcher m(g);
    ASSERT_TRUE(m.advance(std::string_view(text).substr(0, cut))) << cut;
    ASSERT_TRUE(m.advance(std::string_view(text).substr(cut))) << cut;
    EXPECT_TRUE(m.can_end());
  }
  // Invalid texts fail at the same byte in every split.
  for (uint32_t seed = 0; seed < 5; ++seed) {
    auto o = feed_all_splits(g, "{\"s\": \"abcdef\"}", seed);
    EXPECT_EQ(o.accepted, 12u);
  }
}

TEST(JsonSchema, ErrorsNameTheSchemaPath) {
  EXPECT_EQ(error_of(R"({"type": "object", "properties": {"age": {"type": "integer", "pattern": "x"}}})"),
            "schema.properties.age: unsupported keyword 'pattern'");
  EXPECT_EQ(error_of(R"({"type": "object", "properties": {"age": {"type": "int"}}})"),
            "schema.properties.age.type: unknown type 'int'");
  EXPECT_EQ(error_of(R"({"type": "array", "items": {"not": {}}})"), "schema.items: unsupported keyword 'not'");
  EXPECT_EQ(error_of(R"({"if": {}, "then": {}})"), "schema: unsupported keyword 'if'");
  EXPECT_EQ(error_of(R"({"type": "object", "patternProperties": {}})"),
            "schema: unsupported keyword 'patternProperties'");
  EXPECT_EQ(error_of(R"({"anyOf": [{"type": "string"}, {"type": "string", "minLength": -1}]})"),
            "schema.anyOf[1].minLength: expected a non-negative integer, got -1");
  EXPECT_EQ(error_of(R"({"properties": []})"), "schema.properties: expected an object, got array");
  EXPECT_EQ(error_of(R"({"$ref": "#/$defs/missing"})"), "schema.$ref: '#/$defs/missing' not found");
  EXPECT_EQ(error_of(R"({"$ref": "http://example.com/s.json"})"),
            "schema.$ref: only local references (#/...) are supported, got 'http://example.com/s.json'");
  EXPECT_EQ(
      error_of(
          R"({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"anyOf": [{"$ref": "#/$defs/a"}]}}, "$ref": "#/$defs/a"})"),
      "schema.$defs.b.anyOf[0].$ref: '#/$defs/a' refers back to itself before any object or array");
  EXPECT_EQ(error_of(R"({"type": "string", "minLength": 3, "maxLength": 2})"),
            "schema: minLength is greater than maxLength");
  EXPECT_EQ(error_of(R"({"type": "integer", "minimum": 3, "maximum": 2.5})"),
            "schema: no number lies between minimum and maximum");
  EXPECT_EQ(error_of("false"), "schema: false allows no value");
  EXPECT_EQ(error_of("3"), "schema: expected a schema (object or boolean), got number");
  EXPECT_EQ(error_of(R"({"type": "string", "$ref": "#"})"), "schema: '$ref' together with 'type' is not supported");
  EXPECT_EQ(error_of(R"({"allOf": [{}, {}]})"), "schema.allOf: more than one schema is not supported");
  EXPECT_EQ(error_of(R"({"enum": []})"), "schema.enum: expected a non-empty array");
  EXPECT_EQ(error_of(R"({"type": "object", "properties": {"a": false}, "required": ["a"]})"),
            "schema.properties.a: a required property cannot have schema false");
  EXPECT_EQ(error_of(R"({"uniqueItems": true})"), "schema: unsupported keyword 'uniqueItems'");
  std::string deep = "{}";
  for (int i = 0; i < 100; ++i) deep = R"({"type": "array", "items": )" + deep + "}";
  EXPECT_NE(error_of(deep.c_str()).find("nested too deeply"), std::string::npos);
  // Annotations are fine.
  EXPECT_NO_THROW(
      schema(R"({"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "t", "description": "d",
                             "type": "string", "default": "x", "examples": ["y"], "$id": "z", "format": "email"})"));
}

}  // namespace
}  // namespace exaone::grammar

// Random schemas built from the supported keywords: each compiles (or is rejected with an Error), and random
// texts built token by token from what the filter allows never reach a dead end, always parse, and validate.
// Random JSON thrown at json_value() never crashes.
#include <gtest/gtest.h>

#include "grammar/grammar.h"
#include "grammar_test_util.h"
#include "util/error.h"

namespace exaone::grammar {
namespace {

class SchemaMaker {
 public:
  explicit SchemaMaker(uint32_t seed) : rng_(seed) {}

  json make(int depth) {
    int pick = static_cast<int>(rng_() % (depth >= 3 ? 7 : 12));
    switch (pick) {
      case 0:
        return string_schema();
      case 1:
        return integer_schema();
      case 2:
        return number_schema();
      case 3:
        return json{{"type", one_of({"boolean", "null"})}};
      case 4:
        return enum_schema();
      case 5:
        return json{{"$ref", "#/$defs/shared"}};
      case 6:
        return json{{"type", json::array({"string", "null"})}, {"maxLength", 4}};
      case 7:
      case 8:
        return object_schema(depth);
      case 9:
        return array_schema(depth);
      case 10: {
        json alts = json::array();
        int n = 2 + rng_() % 2;
        for (int i = 0; i < n; ++i) alts.push_back(make(depth + 1));
        return json{{"anyOf", alts}};
      }
      default: {
        json s = make(depth + 1);
        if (!s.contains("$ref") && !s.contains("anyOf")) s["nullable"] = true;
        return s;
      }
    }
  }

  json root() {
    json s = make(0);
    s["$defs"] = json{{"shared", json{{"type", "object"},
                                      {"properties",
                                       {{"v", {{"type", "integer"}}},
                                        {"next", {{"anyOf", {{{"$ref", "#/$defs/shared"}}, {{"type", "null"}}}}}}}},
                                      {"required", {"v"}}}}};
    return s;
  }

 private:
  std::mt19937 rng_;

  bool coin(int percent) { return static_cast<int>(rng_() % 100) < percent; }
  const char* one_of(std::initializer_list<const char*> v) { return v.begin()[rng_() % v.size()]; }

  json string_schema() {
    json s = {{"type", "string"}};
    if (coin(20)) {
      s["format"] = one_of({"date", "time", "date-time", "uuid", "email"});
      return s;
    }
    int min = coin(40) ? rng_() % 4 : 0;
    if (min) s["minLength"] = min;
    if (coin(40)) s["maxLength"] = min + rng_() % 5;
    return s;
  }
  json integer_schema() {
    json s = {{"type", "integer"}};
    int lo = static_cast<int>(rng_() % 200) - 100;
    if (coin(50)) s[coin(30) ? "exclusiveMinimum" : "minimum"] = lo;
    if (coin(50)) s[coin(30) ? "exclusiveMaximum" : "maximum"] = lo + 2 + static_cast<int>(rng_() % 300);
    return s;
  }
  json number_schema() {
    json s = {{"type", "number"}};
    double lo = (static_cast<int>(rng_() % 2000) - 1000) / 100.0;
    if (coin(50)) s[coin(30) ? "exclusiveMinimum" : "minimum"] = lo;
    if (coin(50)) s[coin(30) ? "exclusiveMaximum" : "maximum"] = lo + 0.5 + (rng_() % 5000) / 100.0;
    return s;
  }
  json enum_schema() {
    const json pool = json::parse(R"(["a", "bb", "한", 1, 2.5, null, true, [1], {"k": "v"}, "q\"t"])");
    if (coin(30)) return json{{"const", pool[rng_() % pool.size()]}};
    json values = json::array();
    int n = 1 + rng_() % 4;
    for (int i = 0; i < n; ++i) values.push_back(pool[rng_() % pool.size()]);
    return json{{"enum", values}};
  }
  json object_schema(int depth) {
    json s = {{"type", "object"}};
    static const char* names[] = {"a", "b", "name", "x y", "한글", "q\"t"};
    json props = json::object(), required = json::array();
    int n = rng_() % 5;
    for (int i = 0; i < n; ++i) {
      std::string name = names[rng_() % 6];
      if (props.contains(name)) continue;
      props[name] = make(depth + 1);
      if (coin(50)) required.push_back(name);
    }
    if (n > 0 || coin(50)) s["properties"] = props;
    if (!required.empty()) s["required"] = required;
    int extra = rng_() % 4;
    if (extra == 1) s["additionalProperties"] = false;
    if (extra == 2) s["additionalProperties"] = true;
    if (extra == 3) s["additionalProperties"] = make(depth + 1);
    return s;
  }
  json array_schema(int depth) {
    json s = {{"type", "array"}};
    if (coin(30)) s["prefixItems"] = json::array({make(depth + 1)});
    if (coin(80)) s["items"] = make(depth + 1);
    int min = coin(40) ? rng_() % 3 : 0;
    if (min) s["minItems"] = min;
    if (coin(40)) s["maxItems"] = min + rng_() % 4;
    return s;
  }
};

TEST(RandomSchemas, GeneratedTextsParseAndValidate) {
  std::vector<std::string> vocab = testing::small_vocab();
  for (const char* t :
       {"\"x y\"", "\"q\\\"t\"", "\"\xED\x95\x9C\xEA\xB8\x80\"", "\"a\"", "\"b\"", "\"v\"", "\"next\"", "\"k\""})
    vocab.push_back(t);
  const int eos = static_cast<int>(vocab.size());
  vocab.push_back("");
  TokenFilter filter(vocab, {eos});
  std::mt19937 rng(99);
  int compiled = 0, texts = 0, unfinished = 0;
  for (uint32_t seed = 0; seed < 200; ++seed) {
    json s = SchemaMaker(seed).root();
    NodePtr g;
    try {
      g = json_value(s);
    } catch (const Error& e) {
      ADD_FAILURE() << "schema rejected: " << e.what() << "\n  " << s.dump();
      continue;
    }
    ++compiled;
    for (int trial = 0; trial < 3; ++trial) {
      bool finished = false;
      std::string out = testing::generate(filter, g, vocab, rng, finished);
      if (::testing::Test::HasFailure()) {
        ADD_FAILURE() << "schema " << s.dump();
        return;
      }
      if (!finished) {
        ++unfinished;
        continue;
      }
      ++texts;
      json v;
      try {
        v = json::parse(out);
      } catch (const json::exception& e) {
        ADD_FAILURE() << "does not parse: " << out << "\n  schema " << s.dump();
        continue;
      }
      std::string why;
      EXPECT_TRUE(testing::validate(v, s, s, &why)) << out << "\n  " << why << "\n  schema " << s.dump();
    }
  }
  EXPECT_EQ(compiled, 200);
  EXPECT_GT(texts, 500);
  EXPECT_LT(unfinished, 60);
}

// Random JSON documents made of schema keywords and odd values: json_value either compiles them or throws
// exaone::Error; a compiled one takes random bytes without trouble.
TEST(RandomSchemas, AnyJsonInputIsHandled) {
  std::mt19937 rng(5);
  const std::vector<std::string> keys = {"type",
                                         "properties",
                                         "required",
                                         "additionalProperties",
                                         "items",
                                         "prefixItems",
                                         "minItems",
                                         "maxItems",
                                         "enum",
                                         "const",
                                         "anyOf",
                                         "oneOf",
                                         "allOf",
                                         "$ref",
                                         "$defs",
                                         "minLength",
                                         "maxLength",
                                         "format",
                                         "minimum",
                                         "maximum",
                                         "exclusiveMinimum",
                                         "exclusiveMaximum",
                                         "nullable",
                                         "title",
                                         "a",
                                         "definitions",
                                         "pattern"};
  const std::vector<json> leaves = {json("string"),
                                    json("object"),
                                    json("array"),
                                    json("integer"),
                                    json("#"),
                                    json("#/$defs/a"),
                                    json("#/definitions/a"),
                                    json(-1),
                                    json(0),
                                    json(3),
                                    json(1e300),
                                    json(2.5),
                                    json(true),
                                    json(false),
                                    json(nullptr),
                                    json::array(),
                                    json::object(),
                                    json("date"),
                                    json("a")};
  std::function<json(int)> random_value = [&](int depth) -> json {
    int r = rng() % 10;
    if (depth > 4 || r < 4) return leaves[rng() % leaves.size()];
    if (r < 6) {
      json a = json::array();
      for (int i = rng() % 4; i > 0; --i) a.push_back(random_value(depth + 1));
      return a;
    }
    json o = json::object();
    for (int i = rng() % 5; i > 0; --i) o[keys[rng() % keys.size()]] = random_value(depth + 1);
    return o;
  };
  int ok = 0, errors = 0;
  for (int i = 0; i < 3000; ++i) {
    json s = random_value(0);
    NodePtr g;
    try {
      g = json_value(s);
    } catch (const Error&) {
      ++errors;
      continue;
    }
    ++ok;
    Matcher m(g);
    for (int k = 0; k < 40; ++k) {
      char c = "{}[]\",: 0123456789.-etrufalsn\\x"[rng() % 32];
      m.advance(std::string_view(&c, 1));
    }
  }
  EXPECT_GT(ok, 100);
  EXPECT_GT(errors, 100);
}

}  // namespace
}  // namespace exaone::grammar

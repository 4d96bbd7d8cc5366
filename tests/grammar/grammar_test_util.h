// Helpers shared by the grammar tests: feeding texts in every kind of split, and a small JSON Schema
// validator for the subset json_value() supports (with its documented choices: schema property order,
// additionalProperties false when properties are given).
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "grammar/grammar.h"
#include "util/json_file.h"

namespace exaone::grammar::testing {

struct Outcome {
  size_t accepted = 0;  // bytes accepted before the first rejection (all when the text fits)
  bool can_end = false;
  bool must_end = false;
  bool operator==(const Outcome&) const = default;
};

inline std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  return os << "{accepted " << o.accepted << ", can_end " << o.can_end << ", must_end " << o.must_end << "}";
}

// Feeds `text` in pieces of the given sizes (cycled); a rejected piece is retried byte by byte to find the
// exact place of the rejection.
inline Outcome feed(const NodePtr& g, std::string_view text, const std::vector<size_t>& sizes) {
  Matcher m(g);
  size_t pos = 0, k = 0;
  while (pos < text.size()) {
    size_t len = std::min(sizes[k++ % sizes.size()], text.size() - pos);
    Matcher before = m;
    if (!m.advance(text.substr(pos, len))) {
      // advance() must leave the state as it was: the same bytes one by one reach the same place.
      EXPECT_EQ(m.can_end(), before.can_end());
      for (size_t i = 0; i < len; ++i) {
        if (!m.advance(text.substr(pos + i, 1))) return {pos + i, m.can_end(), m.must_end()};
      }
      ADD_FAILURE() << "piece rejected whole but accepted byte by byte at " << pos;
    }
    pos += len;
  }
  return {pos, m.can_end(), m.must_end()};
}

// Feeds `text` whole, byte by byte and in random splits; every way must give the same outcome.
inline Outcome feed_all_splits(const NodePtr& g, std::string_view text, uint32_t seed = 1) {
  Outcome whole = feed(g, text, {std::max<size_t>(text.size(), 1)});
  EXPECT_EQ(feed(g, text, {1}), whole) << "byte by byte: " << text;
  std::mt19937 rng(seed);
  for (int trial = 0; trial < 6; ++trial) {
    std::vector<size_t> sizes;
    for (int i = 0; i < 16; ++i) sizes.push_back(1 + rng() % 7);
    EXPECT_EQ(feed(g, text, sizes), whole) << "split trial " << trial << ": " << text;
  }
  return whole;
}

inline bool matches(const NodePtr& g, std::string_view text) {
  Outcome o = feed_all_splits(g, text);
  return o.accepted == text.size() && o.can_end;
}

// ---- a validator for the supported subset

inline size_t code_points(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

inline bool format_ok(const std::string& format, const std::string& s) {
  static const std::regex date(R"(\d{4}-[01]\d-[0-3]\d)");
  static const std::regex time(R"([0-2]\d:[0-5]\d:[0-6]\d(\.\d{1,9})?(Z|[+-][0-2]\d:[0-5]\d))");
  static const std::regex date_time(
      R"(\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-6]\d(\.\d{1,9})?(Z|[+-][0-2]\d:[0-5]\d))");
  static const std::regex uuid(R"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})");
  if (format == "date") return std::regex_match(s, date);
  if (format == "time") return std::regex_match(s, time);
  if (format == "date-time") return std::regex_match(s, date_time);
  if (format == "uuid") return std::regex_match(s, uuid);
  return true;
}

inline bool type_ok(const json& v, const std::string& t) {
  if (t == "string") return v.is_string();
  if (t == "integer") return v.is_number_integer();
  if (t == "number") return v.is_number();
  if (t == "boolean") return v.is_boolean();
  if (t == "null") return v.is_null();
  if (t == "object") return v.is_object();
  if (t == "array") return v.is_array();
  return false;
}

inline bool validate(const json& v, const json& s, const json& root, std::string* why = nullptr) {
  auto no = [&](const std::string& reason) {
    if (why) *why = reason + " at " + v.dump();
    return false;
  };
  if (s.is_boolean()) return s.get<bool>() || no("false schema");
  if (s.contains("nullable") && s["nullable"] == true && v.is_null()) return true;
  if (s.contains("$ref")) {
    std::string ref = s["$ref"];
    return validate(v, root.at(json::json_pointer(ref.substr(1))), root, why);
  }
  for (const char* key : {"anyOf", "oneOf"}) {
    if (!s.contains(key)) continue;
    for (const json& alt : s[key])
      if (validate(v, alt, root)) return true;
    return no(std::string("no ") + key + " alternative");
  }
  if (s.contains("allOf")) return validate(v, s["allOf"][0], root, why);
  if (s.contains("const")) return v == s["const"] || no("const");
  if (s.contains("enum")) {
    for (const json& e : s["enum"])
      if (v == e) return true;
    return no("enum");
  }
  if (s.contains("type")) {
    const json& t = s["type"];
    bool ok = false;
    if (t.is_string()) ok = type_ok(v, t);
    for (const json& e : t.is_array() ? t : json::array()) ok = ok || type_ok(v, e);
    if (!ok) return no("type");
  }
  if (v.is_string()) {
    const std::string& str = v.get_ref<const std::string&>();
    if (s.contains("format")) {
      if (!format_ok(s["format"], str)) return no("format");
      if (s["format"] != "email") return true;  // lengths are not checked with a shaped format
    }
    if (s.contains("minLength") && code_points(str) < s["minLength"].get<size_t>()) return no("minLength");
    if (s.contains("maxLength") && code_points(str) > s["maxLength"].get<size_t>()) return no("maxLength");
  }
  if (v.is_number()) {
    double d = v.get<double>();
    if (s.contains("minimum") && d < s["minimum"].get<double>()) return no("minimum");
    if (s.contains("maximum") && d > s["maximum"].get<double>()) return no("maximum");
    if (s.contains("exclusiveMinimum") && d <= s["exclusiveMinimum"].get<double>()) return no("exclusiveMinimum");
    if (s.contains("exclusiveMaximum") && d >= s["exclusiveMaximum"].get<double>()) return no("exclusiveMaximum");
  }
  if (v.is_object()) {
    const json props = s.value("properties", json::object());
    for (const json& r : s.value("required", json::array()))
      if (!v.contains(r.get<std::string>())) return no("required " + r.get<std::string>());
    // Declared properties in schema order.
    size_t last = 0;
    for (const auto& [k, val] : v.items()) {
      if (props.contains(k)) {
        size_t at = 0;
        for (const auto& [pk, pv] : props.items()) {
          if (pk == k) break;
          ++at;
        }
        if (at < last) return no("property order");
        last = at;
        if (!validate(val, props[k], root, why)) return false;
        continue;
      }
      json extra = s.contains("additionalProperties") ? s["additionalProperties"] : json(!s.contains("properties"));
      if (!validate(val, extra, root, why)) return no("additional property " + k);
    }
  }
  if (v.is_array()) {
    const json prefix = s.value("prefixItems", json::array());
    for (size_t i = 0; i < v.size(); ++i) {
      const json& item_schema = i < prefix.size() ? prefix[i] : (s.contains("items") ? s["items"] : json(true));
      if (!validate(v[i], item_schema, root, why)) return false;
    }
    if (s.contains("minItems") && v.size() < s["minItems"].get<size_t>()) return no("minItems");
    if (s.contains("maxItems") && v.size() > s["maxItems"].get<size_t>()) return no("maxItems");
  }
  return true;
}

// Random texts: repeatedly a random allowed token until the grammar may end. Every one must finish (no
// state without an allowed token), parse, and validate against the schema.
inline std::string generate(const TokenFilter& filter, const NodePtr& g, const std::vector<std::string>& vocab,
                            std::mt19937& rng, bool& finished) {
  Matcher m(g);
  std::string text;
  std::vector<char> allowed;
  finished = false;
  for (int step = 0; step < 4000; ++step) {
    if (m.can_end() && (m.must_end() || rng() % 4 == 0 || step > 300)) {
      finished = true;
      return text;
    }
    filter.allowed(m, allowed);
    std::vector<int> ids, closing;
    for (size_t id = 0; id < allowed.size(); ++id) {
      if (!allowed[id] || vocab[id].empty()) continue;
      ids.push_back(static_cast<int>(id));
      if (vocab[id].find_first_of("\"}]") != std::string::npos) closing.push_back(static_cast<int>(id));
    }
    if (ids.empty()) {
      ADD_FAILURE() << "no token may follow, and the text cannot end: " << text;
      return text;
    }
    // After a while prefer tokens that close strings and containers, so texts end.
    const std::vector<int>& pool = step > 60 && !closing.empty() && rng() % 4 != 0 ? closing : ids;
    int id = pool[rng() % pool.size()];
    EXPECT_TRUE(filter.accepts(m, id));
    int other = static_cast<int>(rng() % allowed.size());
    EXPECT_EQ(filter.accepts(m, other), allowed[other] != 0) << "token " << other << " after " << text;
    if (!m.advance(filter.token_bytes(id))) {
      ADD_FAILURE() << "allowed token rejected by advance: '" << vocab[id] << "' after " << text;
      return text;
    }
    text += vocab[id];
  }
  return text;
}

// Every byte (as byte-level BPE vocabularies have, so any text can be written) and some longer pieces.
inline std::vector<std::string> small_vocab() {
  std::vector<std::string> v;
  for (int c = 1; c < 0x100; ++c) v.push_back(std::string(1, static_cast<char>(c)));
  for (const char* t : {"{\"",         "\":",          "\", \"",
                        "\":\"",       "\"}",          "}}",
                        "]}",          "[{",           "true",
                        "false",       "null",         "12",
                        "3.5",         "-0",           "e+",
                        "E-",          "\\u00",        "\\ud83d",
                        "\\ude00",     "\\\"",         "\\n",
                        "\\u",         "\xED\x95\x9C", "\xEA\xB5\xAD\xEC\x96\xB4",
                        "\xED\x95",    "\x9C",         "\xF0\x9F\x98\x80",
                        "\xF0\x9F",    "\x98\x80",     "name",
                        "\"name\"",    "age",          "value",
                        "children",    "kind",         "circle",
                        "rect",        "  ",           "\n  ",
                        "    ",        "2024-",        "-01",
                        "T12:",        "00Z",          "123e4567",
                        "-e89b",       "<tool_call>",  "</tool_call>",
                        "get_weather", "search",       "arguments",
                        "city"})
    v.push_back(t);
  return v;
}

}  // namespace exaone::grammar::testing

// json_value(): compiles a JSON Schema into engine nodes. The nodes of one schema live in an arena
// owned by the returned NodePtr, so $ref cycles are plain pointers (a Ref node is created before its
// target is compiled) and never leak.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "grammar/engine.h"
#include "grammar/grammar.h"
#include "util/error.h"

namespace exaone::grammar {

namespace {

constexpr int kMaxSchemaDepth = 64;

struct Arena {
  std::vector<std::unique_ptr<Node>> nodes;
};

bool is_annotation(const std::string& k) {
  static const std::set<std::string> names = {
      "title",       "description",    "default",          "examples",         "example",       "$schema",
      "$id",         "$comment",       "deprecated",       "readOnly",         "writeOnly",     "contentEncoding",
      "$anchor",     "$dynamicAnchor", "$recursiveAnchor", "contentMediaType", "discriminator", "$defs",
      "definitions", "strict",         "$vocabulary"};
  return names.count(k) > 0 || k.rfind("x-", 0) == 0;
}

// Keywords that constrain values in ways this compiler does not implement: silently ignoring them
// would let the model write values the caller rejects.
bool is_unsupported(const std::string& k) {
  // clang-format off
  static const std::set<std::string> names = {
      "pattern", "patternProperties", "if", "then", "else", "not", "dependencies", "dependentRequired",
      "dependentSchemas", "propertyNames", "contains", "minContains", "maxContains", "multipleOf", "minProperties",
      "maxProperties", "unevaluatedProperties", "unevaluatedItems", "$dynamicRef", "$recursiveRef", "contentSchema"};
  // clang-format on
  return names.count(k) > 0;
}

const char* type_name(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::string:
      return "string";
    case json::value_t::array:
      return "array";
    case json::value_t::object:
      return "object";
    case json::value_t::discarded:
      return "discarded";
    default:
      return "number";
  }
}

bool matches_type(const json& v, const std::string& type) {
  if (type == "string") return v.is_string();
  if (type == "number") return v.is_number();
  if (type == "integer")
    return v.is_number_integer() ||
           (v.is_number_float() && std::isfinite(v.get<double>()) && std::floor(v.get<double>()) == v.get<double>());
  if (type == "boolean") return v.is_boolean();
  if (type == "null") return v.is_null();
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  return false;
}

// "#/$defs/a~1b" -> "schema.$defs.a/b" (error messages name the schema the way they name fields).
std::string ref_path(const std::string& ref) {
  std::string out = "schema";
  for (size_t i = 1; i < ref.size(); ++i) {
    if (ref[i] == '/') {
      out += '.';
    } else if (ref[i] == '~' && i + 1 < ref.size() && (ref[i + 1] == '0' || ref[i + 1] == '1')) {
      out += ref[i + 1] == '0' ? '~' : '/';
      ++i;
    } else {
      out += ref[i];
    }
  }
  return out;
}

class Compiler {
 public:
  explicit Compiler(const json& root) : root_(root), arena_(std::make_shared<Arena>()) {}

  NodePtr run() {
    std::vector<std::string> head;
    const Node* n = compile(root_, "schema", 0, head);
    if (!n) fail("schema: false allows no value");
    return NodePtr(arena_, n);
  }

 private:
  const json& root_;
  std::shared_ptr<Arena> arena_;
  std::map<std::string, Node*> refs_;
  const Node* any_ = nullptr;
  const Node* plain_string_ = nullptr;
  const Node* never_ = nullptr;

  Node* make(Kind kind) {
    arena_->nodes.push_back(std::make_unique<Node>());
    arena_->nodes.back()->kind = kind;
    return arena_->nodes.back().get();
  }
  const Node* lit(std::string text) {
    Node* n = make(Kind::Literal);
    n->nullable = text.empty();
    n->text = std::move(text);
    return n;
  }
  const Node* bytes(std::string_view ranges) {  // "09af": the bytes '0'..'9' and 'a'..'f'
    Node* n = make(Kind::ByteSet);
    for (size_t i = 0; i + 1 < ranges.size(); i += 2)
      for (int b = static_cast<uint8_t>(ranges[i]); b <= static_cast<uint8_t>(ranges[i + 1]); ++b)
        n->bytes[b >> 6] |= uint64_t{1} << (b & 63);
    return n;
  }
  const Node* seq(std::vector<const Node*> items) {
    Node* n = make(Kind::Sequence);
    n->items = std::move(items);
    return n;
  }
  const Node* alt(std::vector<const Node*> items) {
    if (items.size() == 1) return items[0];
    Node* n = make(Kind::Choice);
    n->items = std::move(items);
    return n;
  }
  const Node* rep(const Node* item, int min, int max) {
    Node* n = make(Kind::Repeat);
    n->item = item;
    n->min = min;
    n->max = max;
    n->nullable = min == 0;
    return n;
  }
  const Node* literal_set(std::vector<std::string> strings) {
    std::sort(strings.begin(), strings.end());
    strings.erase(std::unique(strings.begin(), strings.end()), strings.end());
    Node* n = make(Kind::LiteralSet);
    n->strings = std::move(strings);
    return n;
  }
  const Node* string_node(int min, int max) {
    Node* n = make(Kind::String);
    n->min = min;
    n->max = max;
    return n;
  }
  const Node* plain_string() {
    if (!plain_string_) plain_string_ = string_node(0, -1);
    return plain_string_;
  }
  const Node* never() {
    if (!never_) never_ = make(Kind::Choice);
    return never_;
  }
  Node* object_node() {
    Node* n = make(Kind::Object);
    n->additional_key = plain_string();
    return n;
  }
  static void finish_object(Node* n) {
    const uint32_t count = static_cast<uint32_t>(n->props.size());
    n->first_required.assign(count + 1, count);
    for (uint32_t i = count; i-- > 0;) n->first_required[i] = n->props[i].required ? i : n->first_required[i + 1];
  }

  // Any JSON value: object, array, string, number, true, false, null.
  const Node* any() {
    if (any_) return any_;
    Node* choice = make(Kind::Choice);
    any_ = choice;
    Node* object = object_node();
    object->additional = choice;
    finish_object(object);
    Node* array = make(Kind::Array);
    array->item = choice;
    Node* number = make(Kind::Number);
    choice->items = {object, array, plain_string(), number, literal_set({"true", "false", "null"})};
    return any_;
  }

  // ---- keyword access

  static int count_keyword(const json& s, const char* key, const std::string& path) {
    const json& v = s[key];
    double d = v.is_number() ? v.get<double>() : -1;
    if (!v.is_number() || !(d >= 0) || std::floor(d) != d)
      fail(path + "." + key + ": expected a non-negative integer, got " + (v.is_number() ? v.dump() : type_name(v)));
    return d > std::numeric_limits<int>::max() ? std::numeric_limits<int>::max() : static_cast<int>(d);
  }
  static double number_keyword(const json& s, const char* key, const std::string& path) {
    const json& v = s[key];
    if (!v.is_number()) fail(path + "." + key + ": expected a number, got " + type_name(v));
    double d = v.get<double>();
    if (!std::isfinite(d)) fail(path + "." + key + ": expected a finite number");
    return d;
  }
  static void only_annotations_beside(const json& s, const std::string& keyword, const std::string& path,
                                      std::initializer_list<const char*> also_allowed = {}) {
    for (const auto& item : s.items()) {
      const std::string& k = item.key();
      if (k == keyword || is_annotation(k)) continue;
      if (std::any_of(also_allowed.begin(), also_allowed.end(), [&](const char* a) { return k == a; })) continue;
      fail(path + ": '" + keyword + "' together with '" + k + "' is not supported");
    }
  }

  // ---- compile

  // Returns null for a schema no value satisfies (`false`).
  const Node* compile(const json& s, const std::string& path, int depth, std::vector<std::string>& head) {
    if (depth > kMaxSchemaDepth)
      fail(path + ": schema nested too deeply (limit " + std::to_string(kMaxSchemaDepth) + ")");
    if (s.is_boolean()) return s.get<bool>() ? any() : nullptr;
    if (!s.is_object()) fail(path + ": expected a schema (object or boolean), got " + type_name(s));
    for (const auto& [k, v] : s.items()) {
      if (is_unsupported(k)) fail(path + ": unsupported keyword '" + k + "'");
      if (k == "uniqueItems" && !(v.is_boolean() && !v.get<bool>())) fail(path + ": unsupported keyword 'uniqueItems'");
    }
    if (s.contains("nullable")) {
      const json& v = s["nullable"];
      if (!v.is_boolean()) fail(path + ".nullable: expected a boolean, got " + type_name(v));
      if (v.get<bool>()) {
        json rest = s;
        rest.erase("nullable");
        const Node* n = compile(rest, path, depth, head);
        return n ? alt({n, lit("null")}) : lit("null");
      }
    }
    if (s.contains("$ref")) {
      only_annotations_beside(s, "$ref", path, {"nullable"});
      return compile_ref(s["$ref"], path + ".$ref", depth, head);
    }
    for (const char* key : {"anyOf", "oneOf"}) {
      if (!s.contains(key)) continue;
      only_annotations_beside(s, key, path, {"nullable"});
      const json& list = s[key];
      std::string where = path + "." + key;
      if (!list.is_array() || list.empty()) fail(where + ": expected a non-empty array of schemas");
      std::vector<const Node*> alts;
      for (size_t i = 0; i < list.size(); ++i)
        if (const Node* n = compile(list[i], where + "[" + std::to_string(i) + "]", depth + 1, head)) alts.push_back(n);
      return alts.empty() ? nullptr : alt(std::move(alts));
    }
    if (s.contains("allOf")) {
      only_annotations_beside(s, "allOf", path, {"nullable"});
      const json& list = s["allOf"];
      if (!list.is_array() || list.empty()) fail(path + ".allOf: expected a non-empty array of schemas");
      if (list.size() > 1) fail(path + ".allOf: more than one schema is not supported");
      return compile(list[0], path + ".allOf[0]", depth + 1, head);
    }
    return compile_typed(s, path, depth);
  }

  const Node* compile_ref(const json& ref_value, const std::string& path, int depth, std::vector<std::string>& head) {
    if (!ref_value.is_string()) fail(path + ": expected a string, got " + type_name(ref_value));
    const std::string ref = ref_value.get<std::string>();
    if (ref != "#" && ref.rfind("#/", 0) != 0)
      fail(path + ": only local references (#/...) are supported, got '" + ref + "'");
    if (std::find(head.begin(), head.end(), ref) != head.end())
      fail(path + ": '" + ref + "' refers back to itself before any object or array");
    if (auto it = refs_.find(ref); it != refs_.end()) return it->second;
    json::json_pointer pointer;
    try {
      pointer = json::json_pointer(ref.substr(1));
    } catch (const json::exception&) {
      fail(path + ": malformed reference '" + ref + "'");
    }
    const json* target = nullptr;
    try {
      if (root_.contains(pointer)) target = &root_.at(pointer);
    } catch (const json::exception&) {
    }
    if (!target) fail(path + ": '" + ref + "' not found");
    Node* r = make(Kind::Ref);
    refs_[ref] = r;
    head.push_back(ref);
    const Node* n = compile(*target, ref_path(ref), depth + 1, head);
    head.pop_back();
    r->item = n ? n : never();
    return r;
  }

  const Node* compile_typed(const json& s, const std::string& path, int depth) {
    std::vector<std::string> types;
    if (s.contains("type")) {
      const json& t = s["type"];
      if (t.is_string()) {
        types.push_back(t.get<std::string>());
      } else if (t.is_array() && !t.empty()) {
        for (const json& e : t) {
          if (!e.is_string()) fail(path + ".type: expected a string or an array of strings");
          // Each listed type compiles the keywords again: a repeated one would only multiply the work.
          if (std::find(types.begin(), types.end(), e.get<std::string>()) == types.end())
            types.push_back(e.get<std::string>());
        }
      } else {
        fail(path + ".type: expected a string or an array of strings");
      }
      static const std::set<std::string> known = {"string", "number", "integer", "boolean", "null", "object", "array"};
      for (const std::string& t2 : types)
        if (!known.count(t2)) fail(path + ".type: unknown type '" + t2 + "'");
    }

    if (s.contains("enum") || s.contains("const")) return compile_enum(s, path, types);

    if (types.empty()) {
      // No type: the type-specific keywords present say which types are meant; none: any value.
      auto has = [&](std::initializer_list<const char*> keys) {
        return std::any_of(keys.begin(), keys.end(), [&](const char* k) { return s.contains(k); });
      };
      if (has({"properties", "required", "additionalProperties"})) types.push_back("object");
      if (has({"items", "prefixItems", "additionalItems", "minItems", "maxItems"})) types.push_back("array");
      if (has({"minLength", "maxLength", "format"})) types.push_back("string");
      if (has({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})) types.push_back("number");
      if (types.empty()) return any();
    }
    std::vector<const Node*> alts;
    for (const std::string& t : types) {
      if (t == "string")
        alts.push_back(compile_string(s, path));
      else if (t == "number" || t == "integer")
        alts.push_back(compile_number(s, path, t == "integer"));
      else if (t == "boolean")
        alts.push_back(literal_set({"true", "false"}));
      else if (t == "null")
        alts.push_back(lit("null"));
      else if (t == "object")
        alts.push_back(compile_object(s, path, depth));
      else if (t == "array")
        alts.push_back(compile_array(s, path, depth));
    }
    return alt(std::move(alts));
  }

  const Node* compile_enum(const json& s, const std::string& path, const std::vector<std::string>& types) {
    std::vector<json> values;
    std::string where = path + (s.contains("const") ? ".const" : ".enum");
    if (s.contains("const")) {
      values.push_back(s["const"]);
    } else {
      const json& e = s["enum"];
      if (!e.is_array() || e.empty()) fail(path + ".enum: expected a non-empty array");
      values.assign(e.begin(), e.end());
    }
    std::vector<std::string> texts;
    for (const json& v : values) {
      bool ok = types.empty() ||
                std::any_of(types.begin(), types.end(), [&](const std::string& t) { return matches_type(v, t); });
      if (ok) texts.push_back(v.dump(-1, ' ', false, json::error_handler_t::replace));
    }
    if (texts.empty()) fail(where + ": no value matches the type");
    return literal_set(std::move(texts));
  }

  const Node* compile_string(const json& s, const std::string& path) {
    if (s.contains("format")) {
      const json& f = s["format"];
      if (!f.is_string()) fail(path + ".format: expected a string, got " + type_name(f));
      if (const Node* n = format_node(f.get<std::string>())) return n;
    }
    int min = s.contains("minLength") ? count_keyword(s, "minLength", path) : 0;
    int max = s.contains("maxLength") ? count_keyword(s, "maxLength", path) : -1;
    if (max >= 0 && min > max) fail(path + ": minLength is greater than maxLength");
    return min == 0 && max < 0 ? plain_string() : string_node(min, max);
  }

  // RFC 3339 date / time / date-time and UUIDs, as strings of digits and separators (ranges per digit,
  // not per calendar).
  const Node* format_node(const std::string& format) {
    const Node* quote = lit("\"");
    auto digit = [&] { return bytes("09"); };
    auto date = [&] {
      return seq({digit(), digit(), digit(), digit(), lit("-"), bytes("01"), digit(), lit("-"), bytes("03"), digit()});
    };
    auto time = [&] {
      const Node* fraction = rep(seq({lit("."), rep(digit(), 1, 9)}), 0, 1);
      const Node* offset = alt({lit("Z"), seq({bytes("++--"), bytes("02"), digit(), lit(":"), bytes("05"), digit()})});
      return seq(
          {bytes("02"), digit(), lit(":"), bytes("05"), digit(), lit(":"), bytes("06"), digit(), fraction, offset});
    };
    auto hex = [&](int n) {
      std::vector<const Node*> items;
      for (int i = 0; i < n; ++i) items.push_back(bytes("09afAF"));
      return seq(std::move(items));
    };
    if (format == "date") return seq({quote, date(), quote});
    if (format == "time") return seq({quote, time(), quote});
    if (format == "date-time") return seq({quote, date(), lit("T"), time(), quote});
    if (format == "uuid")
      return seq({quote, hex(8), lit("-"), hex(4), lit("-"), hex(4), lit("-"), hex(4), lit("-"), hex(12), quote});
    return nullptr;  // other formats only annotate
  }

  const Node* compile_number(const json& s, const std::string& path, bool integer) {
    NumberSpec spec;
    spec.integer = integer;
    auto lower = [&](double v, bool exclusive) {
      if (!spec.has_min || v > spec.min || (v == spec.min && exclusive)) {
        spec.has_min = true;
        spec.min = v;
        spec.min_exclusive = exclusive;
      }
    };
    auto upper = [&](double v, bool exclusive) {
      if (!spec.has_max || v < spec.max || (v == spec.max && exclusive)) {
        spec.has_max = true;
        spec.max = v;
        spec.max_exclusive = exclusive;
      }
    };
    // Draft 4 spells exclusiveMinimum as a boolean beside minimum; later drafts as a number.
    auto flag = [&](const char* key) { return s.contains(key) && s[key].is_boolean() && s[key].get<bool>(); };
    if (s.contains("minimum")) lower(number_keyword(s, "minimum", path), flag("exclusiveMinimum"));
    if (s.contains("maximum")) upper(number_keyword(s, "maximum", path), flag("exclusiveMaximum"));
    if (s.contains("exclusiveMinimum") && !s["exclusiveMinimum"].is_boolean())
      lower(number_keyword(s, "exclusiveMinimum", path), true);
    if (s.contains("exclusiveMaximum") && !s["exclusiveMaximum"].is_boolean())
      upper(number_keyword(s, "exclusiveMaximum", path), true);
    if (integer) {  // integer bounds become inclusive integers, so every digit check is exact
      if (spec.has_min) {
        spec.min = spec.min_exclusive ? std::floor(spec.min) + 1 : std::ceil(spec.min);
        spec.min_exclusive = false;
      }
      if (spec.has_max) {
        spec.max = spec.max_exclusive ? std::ceil(spec.max) - 1 : std::floor(spec.max);
        spec.max_exclusive = false;
      }
    }
    if (spec.has_min && spec.has_max &&
        (spec.min > spec.max || (spec.min == spec.max && (spec.min_exclusive || spec.max_exclusive))))
      fail(path + ": no number lies between minimum and maximum");
    Node* n = make(Kind::Number);
    n->number = spec;
    return n;
  }

  const Node* compile_object(const json& s, const std::string& path, int depth) {
    Node* n = object_node();
    std::set<std::string> required;
    std::vector<std::string> required_order;
    if (s.contains("required")) {
      const json& r = s["required"];
      if (!r.is_array()) fail(path + ".required: expected an array of strings, got " + type_name(r));
      for (const json& name : r) {
        if (!name.is_string()) fail(path + ".required: expected an array of strings");
        if (required.insert(name.get<std::string>()).second) required_order.push_back(name.get<std::string>());
      }
    }
    bool has_properties = s.contains("properties");
    std::set<std::string> declared;
    if (has_properties) {
      const json& props = s["properties"];
      if (!props.is_object()) fail(path + ".properties: expected an object, got " + type_name(props));
      for (const auto& [name, schema] : props.items()) {
        std::string where = path + ".properties." + name;
        std::vector<std::string> head;  // a property value comes after "{": no left recursion through it
        const Node* value = compile(schema, where, depth + 1, head);
        declared.insert(name);
        bool req = required.count(name) > 0;
        if (!value) {
          if (req) fail(where + ": a required property cannot have schema false");
          continue;
        }
        n->props.push_back({name, lit(json(name).dump(-1, ' ', false, json::error_handler_t::replace)), value, req});
      }
    }
    for (const std::string& name : required_order)
      if (!declared.count(name))
        n->props.push_back({name, lit(json(name).dump(-1, ' ', false, json::error_handler_t::replace)), any(), true});
    if (s.contains("additionalProperties")) {
      std::vector<std::string> head;
      n->additional = compile(s["additionalProperties"], path + ".additionalProperties", depth + 1, head);
    } else if (!has_properties) {
      n->additional = any();
    }
    if (n->additional && !n->props.empty() && n->props.size() < 0xFFFF) {
      // Other keys must not repeat a declared name (its value would escape the declared schema).
      Node* key = make(Kind::String);
      for (const ObjectProp& p : n->props) key->strings.push_back(p.key->text.substr(1, p.key->text.size() - 2));
      std::sort(key->strings.begin(), key->strings.end());
      key->strings.erase(std::unique(key->strings.begin(), key->strings.end()), key->strings.end());
      n->additional_key = key;
    }
    finish_object(n);
    return n;
  }

  const Node* compile_array(const json& s, const std::string& path, int depth) {
    Node* n = make(Kind::Array);
    std::vector<std::string> head;
    int max = s.contains("maxItems") ? count_keyword(s, "maxItems", path) : -1;
    auto add_prefix = [&](const json& list, const std::string& where) {
      if (!list.is_array()) fail(where + ": expected an array of schemas, got " + type_name(list));
      for (size_t i = 0; i < list.size(); ++i) {
        const Node* item = compile(list[i], where + "[" + std::to_string(i) + "]", depth + 1, head);
        if (!item) {  // no value fits here: the array ends before this position
          max = max < 0 ? static_cast<int>(i) : std::min(max, static_cast<int>(i));
          break;
        }
        n->items.push_back(item);
      }
    };
    const json* rest = nullptr;  // the schema of items after the prefix
    std::string rest_path;
    if (s.contains("prefixItems")) {
      add_prefix(s["prefixItems"], path + ".prefixItems");
      if (s.contains("items")) rest = &s["items"], rest_path = path + ".items";
    } else if (s.contains("items") && s["items"].is_array()) {  // draft 4 tuple form
      add_prefix(s["items"], path + ".items");
      if (s.contains("additionalItems")) rest = &s["additionalItems"], rest_path = path + ".additionalItems";
    } else if (s.contains("items")) {
      rest = &s["items"], rest_path = path + ".items";
    }
    n->item = rest ? compile(*rest, rest_path, depth + 1, head) : any();
    n->min = s.contains("minItems") ? count_keyword(s, "minItems", path) : 0;
    n->max = max;
    if (max >= 0 && n->min > max) fail(path + ": minItems is greater than maxItems (or than the items allowed)");
    if (!n->item && static_cast<size_t>(n->min) > n->items.size())
      fail(path + ": minItems is more than the items allowed");
    return n;
  }
};

}  // namespace

NodePtr json_value(const json& schema) {
  try {
    return Compiler(schema).run();
  } catch (const json::exception& e) {
    fail(std::string("schema: ") + e.what());
  }
}

}  // namespace exaone::grammar

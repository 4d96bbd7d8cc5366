#include "comply/yaml_lite.h"

#include <vector>

#include "util/error.h"

namespace exaone::comply {

namespace {
struct Line {
  int indent;
  std::string text;
  int number;
};

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t\r");
  return s.substr(a, b - a + 1);
}

// Drops a trailing comment that is outside quotes.
std::string strip_comment(const std::string& s) {
  char quote = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '#' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t')) {
      return s.substr(0, i);
    }
  }
  return s;
}

class Parser {
 public:
  Parser(std::vector<Line> lines, std::string where) : lines_(std::move(lines)), where_(std::move(where)) {}
  json parse() {
    if (lines_.empty()) return json::object();
    json v = block(lines_[0].indent);
    if (pos_ < lines_.size()) err(lines_[pos_], "unexpected indentation");
    return v;
  }

 private:
  [[noreturn]] void err(const Line& l, const std::string& msg) {
    fail(where_ + ": line " + std::to_string(l.number) + ": " + msg);
  }

  json scalar(const std::string& raw, const Line& l) {
    std::string s = trim(raw);
    if (s.empty() || s == "~" || s == "null") return nullptr;
    if (s[0] == '"' || s[0] == '\'') {
      if (s.size() < 2 || s.back() != s[0]) err(l, "unterminated quoted string");
      std::string body = s.substr(1, s.size() - 2);
      if (s[0] == '"') {
        try {
          return json::parse(s);
        } catch (...) {
          err(l, "bad escape in double-quoted string");
        }
      }
      std::string out;  // single quotes: '' is a literal quote
      for (size_t i = 0; i < body.size(); ++i) {
        out.push_back(body[i]);
        if (body[i] == '\'' && i + 1 < body.size() && body[i + 1] == '\'') ++i;
      }
      return out;
    }
    if (s[0] == '[') {
      if (s.back() != ']') err(l, "unterminated flow list");
      json arr = json::array();
      std::string inner = s.substr(1, s.size() - 2);
      if (trim(inner).empty()) return arr;
      size_t start = 0;
      char quote = 0;
      for (size_t i = 0; i <= inner.size(); ++i) {
        if (i < inner.size() && quote) {
          if (inner[i] == quote) quote = 0;
          continue;
        }
        if (i < inner.size() && (inner[i] == '"' || inner[i] == '\'')) {
          quote = inner[i];
          continue;
        }
        if (i == inner.size() || inner[i] == ',') {
          arr.push_back(scalar(inner.substr(start, i - start), l));
          start = i + 1;
        }
      }
      return arr;
    }
    if (s[0] == '{' || s[0] == '&' || s[0] == '*' || s[0] == '!' || s[0] == '|' || s[0] == '>')
      err(l, "unsupported YAML feature '" + s.substr(0, 1) + "' (use JSON for complex cards)");
    if (s == "true" || s == "yes") return true;
    if (s == "false" || s == "no") return false;
    char* end = nullptr;
    long long iv = std::strtoll(s.c_str(), &end, 10);
    if (end && *end == 0) return iv;
    double dv = std::strtod(s.c_str(), &end);
    if (end && *end == 0 && s.find_first_of("0123456789") != std::string::npos) return dv;
    return s;
  }

  json block(int indent) {
    const Line& first = lines_[pos_];
    if (first.text.rfind("- ", 0) == 0 || first.text == "-") return list(indent);
    return map(indent);
  }

  json list(int indent) {
    json arr = json::array();
    while (pos_ < lines_.size() && lines_[pos_].indent == indent &&
           (lines_[pos_].text.rfind("- ", 0) == 0 || lines_[pos_].text == "-")) {
      Line& l = lines_[pos_];
      std::string rest = l.text == "-" ? "" : trim(l.text.substr(2));
      if (rest.empty()) {
        ++pos_;
        if (pos_ < lines_.size() && lines_[pos_].indent > indent) arr.push_back(block(lines_[pos_].indent));
        else arr.push_back(nullptr);
      } else if (key_colon(rest) != std::string::npos) {
        // "- key: value" opens a map whose keys line up with `key`.
        l.indent = indent + 2 + static_cast<int>(l.text.size() - 2 - trim(l.text.substr(2)).size());
        l.text = rest;
        arr.push_back(map(l.indent));
      } else {
        arr.push_back(scalar(rest, l));
        ++pos_;
      }
    }
    return arr;
  }

  static size_t key_colon(const std::string& s) {
    if (s.empty() || s[0] == '"' || s[0] == '\'' || s[0] == '[') {
      if (!s.empty() && (s[0] == '"' || s[0] == '\'')) {
        size_t close = s.find(s[0], 1);
        if (close != std::string::npos && close + 1 < s.size() && s[close + 1] == ':') return close + 1;
      }
      return std::string::npos;
    }
    for (size_t i = 0; i < s.size(); ++i)
      if (s[i] == ':' && (i + 1 == s.size() || s[i + 1] == ' ')) return i;
    return std::string::npos;
  }

  json map(int indent) {
    json obj = json::object();
    while (pos_ < lines_.size() && lines_[pos_].indent == indent) {
      const Line& l = lines_[pos_];
      if (l.text.rfind("- ", 0) == 0) err(l, "list item where a key was expected");
      size_t colon = key_colon(l.text);
      if (colon == std::string::npos) err(l, "expected 'key: value'");
      std::string key = trim(l.text.substr(0, colon));
      if (key.size() >= 2 && (key[0] == '"' || key[0] == '\'')) key = key.substr(1, key.size() - 2);
      if (obj.contains(key)) err(l, "duplicate key '" + key + "'");
      std::string rest = trim(l.text.substr(colon + 1));
      ++pos_;
      if (!rest.empty()) {
        obj[key] = scalar(rest, l);
      } else if (pos_ < lines_.size() && (lines_[pos_].indent > indent ||
                                          (lines_[pos_].indent == indent && lines_[pos_].text.rfind("- ", 0) == 0))) {
        obj[key] = block(lines_[pos_].indent);
      } else {
        obj[key] = nullptr;
      }
    }
    return obj;
  }

  std::vector<Line> lines_;
  std::string where_;
  size_t pos_ = 0;
};
}  // namespace

json parse_yaml_lite(const std::string& text, const std::string& where) {
  std::vector<Line> lines;
  size_t start = 0;
  int number = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    std::string raw = text.substr(start, nl - start);
    ++number;
    start = nl + 1;
    if (raw.find('\t') != std::string::npos && raw.find_first_not_of(" \t") != std::string::npos &&
        raw.find_first_not_of(' ') < raw.size() && raw[raw.find_first_not_of(' ')] == '\t')
      fail(where + ": line " + std::to_string(number) + ": tab used for indentation");
    std::string body = strip_comment(raw);
    std::string t = trim(body);
    if (t.empty() || t == "---") continue;
    int indent = static_cast<int>(body.find_first_not_of(' '));
    lines.push_back({indent, t, number});
    if (nl == text.size()) break;
  }
  return Parser(std::move(lines), where).parse();
}

json read_structured_file(const std::string& path) {
  auto ends = [&](const char* suf) {
    std::string s(suf);
    return path.size() >= s.size() && path.compare(path.size() - s.size(), s.size(), s) == 0;
  };
  if (ends(".yaml") || ends(".yml")) return parse_yaml_lite(read_text_file(path), path);
  return read_json_file(path);
}

}  // namespace exaone::comply

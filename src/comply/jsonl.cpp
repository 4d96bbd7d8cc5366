#include "comply/jsonl.h"

#include <cstring>

#include "comply/normalize.h"
#include "util/utf8.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace exaone::comply {

namespace {

// Position of the first byte at or after `i` that is '"', '\\' or a control character (< 0x20):
// the bytes a JSON string can neither hold raw nor end without.
inline size_t find_special(const char* s, size_t n, size_t i) {
#ifdef __SSE2__
  const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), ctl = _mm_set1_epi8(0x1F);
  for (; i + 16 <= n; i += 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
    __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                               _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl));
    int mask = _mm_movemask_epi8(hit);
    if (mask) return i + static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
  }
#endif
  for (; i < n; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\' || c < 0x20) return i;
  }
  return n;
}

inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}


class FastReader {
 public:
  explicit FastReader(std::string_view s) : s_(s) {}

  bool object(LineFields& out) {
    ws();
    if (!eat('{')) return false;
    ws();
    if (eat('}')) return end();
    unsigned seen = 0;
    bool has_text = false;
    std::optional<std::string> extras[3];  // url, author, date: carried in this order
    std::string key;
    while (true) {
      ws();
      key.clear();
      if (!eat('"') || !string_body(&key)) return false;
      ws();
      if (!eat(':')) return false;
      ws();
      int which = field_index(key);
      if (which >= 0) {
        if (seen & (1u << which)) return false;  // repeated: the full parser decides which wins
        seen |= 1u << which;
      }
      switch (which) {
        case 0:  // text
          if (!eat('"') || !string_body(&out.text)) return false;
          has_text = true;
          break;
        case 1: {  // id: string or integer
          std::string v;
          if (peek() == '"') {
            ++p_;
            if (!string_body(&v)) return false;
          } else if (!integer(v)) {
            return false;
          }
          out.id = std::move(v);
          break;
        }
        case 2:
        case 3: {  // source, license
          std::string v;
          if (!eat('"') || !string_body(&v)) return false;
          (which == 2 ? out.source : out.license) = std::move(v);
          break;
        }
        case 4:
        case 5:
        case 6: {  // url, author, date: carried when not null
          if (literal("null")) break;
          std::string v;
          if (!eat('"') || !string_body(&v)) return false;
          extras[which - 4] = std::move(v);
          break;
        }
        default:
          if (!skip_value(0)) return false;
      }
      ws();
      if (eat(',')) continue;
      if (eat('}')) break;
      return false;
    }
    if (!has_text || !end()) return false;
    static const char* extra_names[] = {"url", "author", "date"};
    for (int i = 0; i < 3; ++i)
      if (extras[i]) out.extra[extra_names[i]] = std::move(*extras[i]);
    return true;
  }

 private:
  static int field_index(const std::string& k) {
    static const char* names[] = {"text", "id", "source", "license", "url", "author", "date"};
    for (int i = 0; i < 7; ++i)
      if (k == names[i]) return i;
    return -1;
  }
  char peek() const { return p_ < s_.size() ? s_[p_] : '\0'; }
  bool eat(char c) {
    if (p_ < s_.size() && s_[p_] == c) {
      ++p_;
      return true;
    }
    return false;
  }
  void ws() {
    while (p_ < s_.size() && (s_[p_] == ' ' || s_[p_] == '\t' || s_[p_] == '\n' || s_[p_] == '\r')) ++p_;
  }
  bool end() {
    ws();
    return p_ == s_.size();
  }
  bool literal(const char* w) {
    size_t n = std::strlen(w);
    if (s_.compare(p_, n, w) != 0) return false;
    p_ += n;
    return true;
  }

  // After the opening quote: validates (UTF-8, escapes, surrogate pairs) and decodes into `out`
  // when given.
  bool string_body(std::string* out) {
    while (true) {
      size_t q = find_special(s_.data(), s_.size(), p_);
      if (q >= s_.size()) return false;  // unterminated
      std::string_view raw = s_.substr(p_, q - p_);
      if (find_invalid_utf8(raw) != std::string_view::npos) return false;
      if (out) out->append(raw);
      p_ = q;
      char c = s_[p_++];
      if (c == '"') return true;
      if (c != '\\') return false;  // raw control character
      if (p_ >= s_.size()) return false;
      char e = s_[p_++];
      char plain = 0;
      switch (e) {
        case '"': plain = '"'; break;
        case '\\': plain = '\\'; break;
        case '/': plain = '/'; break;
        case 'b': plain = '\b'; break;
        case 'f': plain = '\f'; break;
        case 'n': plain = '\n'; break;
        case 'r': plain = '\r'; break;
        case 't': plain = '\t'; break;
        case 'u': {
          uint32_t cp;
          if (!hex4(cp)) return false;
          if (cp >= 0xDC00 && cp <= 0xDFFF) return false;  // lone low surrogate
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo;
            if (!literal("\\u") || !hex4(lo) || lo < 0xDC00 || lo > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          if (out) append_utf8(*out, cp);
          continue;
        }
        default:
          return false;
      }
      if (out) out->push_back(plain);
    }
  }
  bool hex4(uint32_t& v) {
    if (p_ + 4 > s_.size()) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) {
      int h = hex_value(s_[p_ + i]);
      if (h < 0) return false;
      v = v << 4 | static_cast<uint32_t>(h);
    }
    p_ += 4;
    return true;
  }
  // A JSON integer that fits int64 comfortably (at most 18 digits), written back in decimal as
  // nlohmann's get<int64_t>() and std::to_string would ("-0" reads as 0).
  bool integer(std::string& out) {
    bool neg = eat('-');
    size_t ds = p_;
    while (p_ < s_.size() && s_[p_] >= '0' && s_[p_] <= '9') ++p_;
    size_t nd = p_ - ds;
    if (nd == 0 || nd > 18 || (nd > 1 && s_[ds] == '0')) return false;
    if (p_ < s_.size() && (s_[p_] == '.' || s_[p_] == 'e' || s_[p_] == 'E')) return false;
    int64_t v = 0;
    for (size_t i = ds; i < p_; ++i) v = v * 10 + (s_[i] - '0');
    out = std::to_string(neg ? -v : v);
    return true;
  }
  bool number() {
    eat('-');
    if (eat('0')) {
    } else if (p_ < s_.size() && s_[p_] >= '1' && s_[p_] <= '9') {
      while (p_ < s_.size() && s_[p_] >= '0' && s_[p_] <= '9') ++p_;
    } else {
      return false;
    }
    if (eat('.')) {
      size_t d = p_;
      while (p_ < s_.size() && s_[p_] >= '0' && s_[p_] <= '9') ++p_;
      if (p_ == d) return false;
    }
    if (eat('e') || eat('E')) {
      if (!eat('+')) eat('-');
      size_t d = p_;
      while (p_ < s_.size() && s_[p_] >= '0' && s_[p_] <= '9') ++p_;
      if (p_ == d) return false;
    }
    return true;
  }
  bool skip_value(int depth) {
    if (depth > 64) return false;  // deep nesting: leave it to the full parser
    char c = peek();
    if (c == '"') {
      ++p_;
      return string_body(nullptr);
    }
    if (c == '{' || c == '[') {
      ++p_;
      char close = c == '{' ? '}' : ']';
      ws();
      if (eat(close)) return true;
      while (true) {
        ws();
        if (c == '{') {
          if (!eat('"') || !string_body(nullptr)) return false;
          ws();
          if (!eat(':')) return false;
          ws();
        }
        if (!skip_value(depth + 1)) return false;
        ws();
        if (eat(',')) continue;
        return eat(close);
      }
    }
    if (c == 't') return literal("true");
    if (c == 'f') return literal("false");
    if (c == 'n') return literal("null");
    return number();
  }

  std::string_view s_;
  size_t p_ = 0;
};

}  // namespace

bool read_line_fast(std::string_view line, LineFields& out) { return FastReader(line).object(out); }

void append_json_string(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out.reserve(out.size() + s.size() + 2);
  out.push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    size_t q = find_special(s.data(), s.size(), i);
    out.append(s.data() + i, q - i);
    if (q >= s.size()) break;
    auto c = static_cast<unsigned char>(s[q]);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 15]);
    }
    i = q + 1;
  }
  out.push_back('"');
}

void append_json_string_lossy(std::string& out, std::string_view s) {
  if (find_invalid_utf8(s) == std::string_view::npos) return append_json_string(out, s);
  out += json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace exaone::comply

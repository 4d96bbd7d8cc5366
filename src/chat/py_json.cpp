#include "chat/py_json.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace exaone::chat {

namespace {

// Escapes like Python's json encoder with ensure_ascii=False: only '"', '\\' and control
// characters below 0x20 are escaped (lowercase \u00xx for those without a short form).
void dump_string(std::string_view s, std::string& out) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

// Decodes one UTF-8 code point at s[i]; returns its byte length (1 for invalid bytes, which
// are then treated as opaque non-space characters).
size_t decode_utf8(std::string_view s, size_t i, char32_t& cp) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > s.size()) {
    cp = 0xFFFD;
    return 1;
  }
  cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
  for (size_t k = 1; k < len; ++k) {
    unsigned char cc = static_cast<unsigned char>(s[i + k]);
    if ((cc >> 6) != 0x2) {
      cp = 0xFFFD;
      return 1;
    }
    cp = (cp << 6) | (cc & 0x3F);
  }
  return len;
}

}  // namespace

std::string py_float_repr(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  // Shortest round-trip digits in scientific form, e.g. "-1.2345e+17", then re-laid out by
  // Python's repr rule: positional when -4 <= exponent < 16, else d.ddde+XX.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  size_t e = sci.find('e');
  std::string mant = sci.substr(0, e);
  int exp10 = std::stoi(sci.substr(e + 1));
  std::string digits;
  for (char c : mant)
    if (c != '.') digits += c;
  std::string out = neg ? "-" : "";
  if (exp10 >= -4 && exp10 < 16) {
    if (exp10 >= 0) {
      size_t int_len = static_cast<size_t>(exp10) + 1;
      if (digits.size() <= int_len) {
        out += digits + std::string(int_len - digits.size(), '0') + ".0";
      } else {
        out += digits.substr(0, int_len) + "." + digits.substr(int_len);
      }
    } else {
      out += "0." + std::string(static_cast<size_t>(-exp10 - 1), '0') + digits;
    }
  } else {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char ebuf[16];
    std::snprintf(ebuf, sizeof ebuf, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    out += ebuf;
  }
  return out;
}

void py_json_dumps(const json& value, std::string& out) {
  switch (value.type()) {
    case json::value_t::null: out += "null"; break;
    case json::value_t::boolean: out += value.get<bool>() ? "true" : "false"; break;
    case json::value_t::number_integer: out += std::to_string(value.get<int64_t>()); break;
    case json::value_t::number_unsigned: out += std::to_string(value.get<uint64_t>()); break;
    case json::value_t::number_float: out += py_float_repr(value.get<double>()); break;
    case json::value_t::string: dump_string(value.get_ref<const std::string&>(), out); break;
    case json::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& item : value) {
        if (!first) out += ", ";
        first = false;
        py_json_dumps(item, out);
      }
      out += ']';
      break;
    }
    case json::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, item] : value.items()) {
        if (!first) out += ", ";
        first = false;
        dump_string(key, out);
        out += ": ";
        py_json_dumps(item, out);
      }
      out += '}';
      break;
    }
    case json::value_t::binary:
    case json::value_t::discarded: out += "null"; break;
  }
}

std::string py_json_dumps(const json& value) {
  std::string out;
  py_json_dumps(value, out);
  return out;
}

bool py_truthy(const json& value) {
  switch (value.type()) {
    case json::value_t::null: return false;
    case json::value_t::boolean: return value.get<bool>();
    case json::value_t::number_integer: return value.get<int64_t>() != 0;
    case json::value_t::number_unsigned: return value.get<uint64_t>() != 0;
    case json::value_t::number_float: return value.get<double>() != 0.0;
    case json::value_t::string: return !value.get_ref<const std::string&>().empty();
    case json::value_t::array:
    case json::value_t::object: return !value.empty();
    default: return false;
  }
}

bool py_is_space(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

std::string py_lstrip(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    char32_t cp;
    size_t len = decode_utf8(s, i, cp);
    if (!py_is_space(cp)) break;
    i += len;
  }
  return std::string(s.substr(i));
}

std::string py_rstrip(std::string_view s) {
  // Walk forward remembering where the trailing run of spaces starts (UTF-8 cannot be
  // decoded backwards without this care).
  size_t i = 0, keep = 0;
  while (i < s.size()) {
    char32_t cp;
    size_t len = decode_utf8(s, i, cp);
    i += len;
    if (!py_is_space(cp)) keep = i;
  }
  return std::string(s.substr(0, keep));
}

std::string py_strip(std::string_view s) { return py_rstrip(py_lstrip(s)); }

std::string py_slice_from(std::string_view s, size_t n_codepoints) {
  size_t i = 0;
  for (size_t k = 0; k < n_codepoints && i < s.size(); ++k) {
    char32_t cp;
    i += decode_utf8(s, i, cp);
  }
  return std::string(s.substr(i));
}

size_t utf8_complete_prefix(std::string_view s) {
  // Look back at most 3 bytes for the lead byte of the last sequence.
  size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    unsigned char c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    size_t need = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
    return need > back ? n - back : n;
  }
  return n;
}

}  // namespace exaone::chat

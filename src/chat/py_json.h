// Python-compatible text helpers used by the chat formats. The EXAONE templates are executed by
// Jinja in Python, so byte-exact rendering needs Python's json.dumps, float repr, str.strip and
// truthiness rules.
#pragma once
#include <string>
#include <string_view>

#include "util/json_file.h"

namespace exaone::chat {

// json.dumps(x, ensure_ascii=False): separators ", " and ": ", key order kept, non-ASCII kept,
// floats printed like repr(float). Integers are printed exactly (int64/uint64 range).
std::string py_json_dumps(const json& value);
void py_json_dumps(const json& value, std::string& out);

// repr(float): shortest round-trip digits, exponent form outside 1e-4 <= |x| < 1e16.
std::string py_float_repr(double v);

// Python truthiness (None, False, 0, "", [], {} are false) as Jinja's `if x` sees it.
bool py_truthy(const json& value);

// str.isspace() for one code point; str.strip() / lstrip() / rstrip() on UTF-8 text.
bool py_is_space(char32_t cp);
std::string py_strip(std::string_view s);
std::string py_lstrip(std::string_view s);
std::string py_rstrip(std::string_view s);

// s[n:] where n counts code points (Python slicing on str), UTF-8 in and out.
std::string py_slice_from(std::string_view s, size_t n_codepoints);

// Length of the longest prefix of s that does not end inside an incomplete UTF-8 sequence
// (used when streaming so a delta never splits a character).
size_t utf8_complete_prefix(std::string_view s);

}  // namespace exaone::chat

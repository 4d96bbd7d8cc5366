// Light JSONL handling for `comply scan`: reading the few fields a document line carries, and
// writing a JSON string, without building a DOM for multi-kilobyte texts. Both agree byte for
// byte with nlohmann::json (tests/comply/jsonl_test.cpp checks this); anything unusual on the
// reading side is left to the full parser, so errors are reported exactly as before.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "util/json_file.h"

namespace exaone::comply {

// The fields of one input line that the pipeline uses.
struct LineFields {
  std::string text;
  std::optional<std::string> id;  // a string id, or an integer id in decimal
  std::optional<std::string> source, license;
  json extra = json::object();    // url, author, date when present and not null
};

// Reads `line` when it is a JSON object whose "text" is a string, whose id is a string or an
// integer, whose source/license/url/author/date are strings (or null, for the last three), and
// which repeats none of these keys. Other members may hold any valid JSON. Strings must be valid
// UTF-8 without lone surrogates, so the decoded text needs no further UTF-8 check. Returns false
// (leaving `out` unspecified) for anything else, valid or not: the caller then uses json::parse.
bool read_line_fast(std::string_view line, LineFields& out);

// Appends `s` as a JSON string literal, exactly as json::dump() writes it (ensure_ascii off).
// `s` must be valid UTF-8; use json::dump for anything else.
void append_json_string(std::string& out, std::string_view s);

// Appends `s` as json::dump(..., error_handler_t::replace) writes it: like append_json_string,
// but any UTF-8 is accepted (invalid sequences become U+FFFD).
void append_json_string_lossy(std::string& out, std::string_view s);

}  // namespace exaone::comply

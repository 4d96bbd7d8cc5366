// UTF-8 and Unicode helpers shared by the tokenizer (internal to the tokenizer area).
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "util/utf8.h"

namespace exaone::unicode {

inline constexpr char32_t kReplacement = 0xFFFD;

using exaone::append_utf8;  // util/utf8.h

// Length of the well-formed UTF-8 sequence starting at s[i], or 0 if it is ill-formed or cut by the end of `s`.
size_t valid_sequence_length(std::string_view s, size_t i);

// True when `s` is well-formed UTF-8.
bool is_valid_utf8(std::string_view s);

// Replaces every ill-formed subsequence by U+FFFD using the "maximal subpart" practice of the Unicode standard
// (what Rust's String::from_utf8_lossy and Python's bytes.decode(errors="replace") do).
std::string to_valid_utf8(std::string_view s);

// Like to_valid_utf8, but stops before a trailing sequence that is a valid *prefix* of a character (it may still be
// completed by later bytes). Returns the number of bytes of `s` consumed; output appended to `out`.
size_t append_valid_prefix(std::string_view s, std::string& out);

// Decodes the (valid) UTF-8 character at s[i]; sets `len` to its byte length.
char32_t decode_at(std::string_view s, size_t i, size_t& len);

// Rust's char::is_whitespace (the Unicode White_Space property).
bool is_whitespace(char32_t cp);

// GPT-2 byte <-> unicode mapping used by ByteLevel pre-tokenizer / decoder.
const std::array<char32_t, 256>& byte_to_unicode();
// Maps a code point of the byte-level alphabet back to its byte; -1 for code points outside the alphabet.
int unicode_to_byte(char32_t cp);

// Canonical composition (NFC). Input must be valid UTF-8.
std::string nfc(std::string_view s);
// True when `s` is already in NFC (cheap check; may return false for some NFC strings, never true for non-NFC).
bool quick_is_nfc(std::string_view s);

}  // namespace exaone::unicode

// Text normalisation for matching: full-width ASCII forms (U+FF01..FF5E), hyphen and minus
// variants, and exotic spaces are folded to ASCII so one set of rules sees "９００１０１－１…" and
// "900101-1…" alike. Every normalised byte remembers where it came from, so findings can be
// reported as byte offsets into the ORIGINAL text.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace exaone::comply {

// Returns the byte offset of the first invalid UTF-8 sequence, or npos when the text is valid
// (overlongs, surrogates and code points above U+10FFFF are invalid).
size_t find_invalid_utf8(std::string_view text);

class NormalizedText {
 public:
  explicit NormalizedText(std::string_view original);
  std::string_view text() const { return identity_ ? original_ : std::string_view(norm_); }
  // Original byte offset of normalised offset `i` (0 <= i <= text().size()).
  size_t to_original(size_t i) const { return identity_ ? i : map_[i]; }
  bool identity() const { return identity_; }

 private:
  std::string_view original_;
  std::string norm_;
  std::vector<uint32_t> map_;
  bool identity_ = true;
};

// Length in bytes of the UTF-8 sequence starting with lead byte `c` (1 for ASCII and stray bytes).
inline size_t utf8_len(unsigned char c) {
  if (c < 0xC0) return 1;
  if (c < 0xE0) return 2;
  if (c < 0xF0) return 3;
  return 4;
}

}  // namespace exaone::comply

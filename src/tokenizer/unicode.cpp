#include "tokenizer/unicode.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace exaone::unicode {

namespace {
#include "tokenizer/nfc_data.inc"
}  // namespace


namespace {

// For a lead byte: the sequence length and the allowed range of the second byte (Unicode Table 3-7).
struct LeadInfo {
  uint8_t len, lo, hi;
};

inline LeadInfo lead_info(uint8_t b) {
  if (b >= 0xC2 && b <= 0xDF) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) return {3, 0x80, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b >= 0xF1 && b <= 0xF3) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

// Examines the sequence at s[i] (s[i] >= 0x80). Returns the length of a complete valid sequence (> 0), or the
// negated length of the maximal ill-formed subpart to replace (< 0). `cut` is set when the sequence is a valid
// prefix interrupted by the end of `s`.
inline int examine(std::string_view s, size_t i, bool& cut) {
  cut = false;
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  LeadInfo li = lead_info(p[i]);
  if (li.len == 0) return -1;
  size_t n = s.size();
  if (i + 1 >= n) {
    cut = true;
    return -1;
  }
  if (p[i + 1] < li.lo || p[i + 1] > li.hi) return -1;
  for (int k = 2; k < li.len; ++k) {
    if (i + k >= n) {
      cut = true;
      return -k;
    }
    if ((p[i + k] & 0xC0) != 0x80) return -k;
  }
  return li.len;
}

}  // namespace

size_t valid_sequence_length(std::string_view s, size_t i) {
  if (static_cast<uint8_t>(s[i]) < 0x80) return 1;
  bool cut;
  int r = examine(s, i, cut);
  return r > 0 ? static_cast<size_t>(r) : 0;
}

bool is_valid_utf8(std::string_view s) {
  size_t i = 0, n = s.size();
  while (i < n) {
    // Fast path over ASCII, 8 bytes at a time.
    while (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      if (w & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= n) break;
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t len = valid_sequence_length(s, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

size_t append_valid_prefix(std::string_view s, std::string& out) {
  size_t i = 0, n = s.size();
  while (i < n) {
    uint8_t b = static_cast<uint8_t>(s[i]);
    if (b < 0x80) {
      out.push_back(static_cast<char>(b));
      ++i;
      continue;
    }
    bool cut;
    int r = examine(s, i, cut);
    if (r > 0) {
      out.append(s.data() + i, static_cast<size_t>(r));
      i += static_cast<size_t>(r);
    } else if (cut) {
      return i;  // may still be completed
    } else {
      append_utf8(out, kReplacement);
      i += static_cast<size_t>(-r);
    }
  }
  return i;
}

std::string to_valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  size_t used = append_valid_prefix(s, out);
  // A cut sequence at the very end is one maximal ill-formed subpart.
  if (used < s.size()) append_utf8(out, kReplacement);
  return out;
}

char32_t decode_at(std::string_view s, size_t i, size_t& len) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  uint8_t b = p[i];
  if (b < 0x80) {
    len = 1;
    return b;
  }
  if (b < 0xE0) {
    len = 2;
    return (char32_t(b & 0x1F) << 6) | (p[i + 1] & 0x3F);
  }
  if (b < 0xF0) {
    len = 3;
    return (char32_t(b & 0x0F) << 12) | (char32_t(p[i + 1] & 0x3F) << 6) | (p[i + 2] & 0x3F);
  }
  len = 4;
  return (char32_t(b & 0x07) << 18) | (char32_t(p[i + 1] & 0x3F) << 12) | (char32_t(p[i + 2] & 0x3F) << 6) |
         (p[i + 3] & 0x3F);
}

bool is_whitespace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

const std::array<char32_t, 256>& byte_to_unicode() {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> t{};
    // Printable bytes map to themselves; the others are shifted above U+0100 in byte order (GPT-2).
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      t[b] = printable ? static_cast<char32_t>(b) : next++;
    }
    return t;
  }();
  return table;
}

int unicode_to_byte(char32_t cp) {
  static const std::array<int16_t, 324> inverse = [] {
    std::array<int16_t, 324> inv;
    inv.fill(-1);
    const auto& fwd = byte_to_unicode();
    for (int b = 0; b < 256; ++b) inv[fwd[b]] = static_cast<int16_t>(b);
    return inv;
  }();
  return cp < inverse.size() ? inverse[cp] : -1;
}

// ---------------------------------------------------------------------------------------------------------------
// NFC (canonical decomposition, canonical ordering, canonical composition).
namespace {

constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr int kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

int combining_class(char32_t cp) {
  if (cp < 0x300) return 0;
  auto it = std::lower_bound(std::begin(kCombiningClass), std::end(kCombiningClass), cp,
                             [](const uint32_t(&e)[2], char32_t v) { return e[0] < v; });
  return (it != std::end(kCombiningClass) && (*it)[0] == cp) ? static_cast<int>((*it)[1]) : 0;
}

void decompose(char32_t cp, std::vector<char32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    int s = static_cast<int>(cp - kSBase);
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  if (cp >= 0xC0) {
    auto it = std::lower_bound(std::begin(kDecompIndex), std::end(kDecompIndex), cp,
                               [](const uint32_t(&e)[3], char32_t v) { return e[0] < v; });
    if (it != std::end(kDecompIndex) && (*it)[0] == cp) {
      for (uint32_t k = 0; k < (*it)[2]; ++k) out.push_back(kDecompPool[(*it)[1] + k]);
      return;
    }
  }
  out.push_back(cp);
}

char32_t compose_pair(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  auto it = std::lower_bound(std::begin(kComposition), std::end(kComposition), std::pair<char32_t, char32_t>(a, b),
                             [](const uint32_t(&e)[3], std::pair<char32_t, char32_t> v) {
                               return e[0] < v.first || (e[0] == v.first && e[1] < v.second);
                             });
  if (it != std::end(kComposition) && (*it)[0] == a && (*it)[1] == b) return (*it)[2];
  return 0;
}

}  // namespace

bool quick_is_nfc(std::string_view s) {
  // Code points below U+0300 are never changed by NFC and never combine with a preceding character.
  for (unsigned char c : s)
    if (c >= 0xCC) return false;
  return true;
}

std::string nfc(std::string_view s) {
  if (quick_is_nfc(s)) return std::string(s);
  std::vector<char32_t> cps;
  cps.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t len;
    char32_t cp = decode_at(s, i, len);
    decompose(cp, cps);
    i += len;
  }
  // Canonical ordering: stable sort of each run of non-starters by combining class.
  std::vector<int> ccc(cps.size());
  for (size_t i = 0; i < cps.size(); ++i) ccc[i] = combining_class(cps[i]);
  for (size_t i = 0; i < cps.size();) {
    if (ccc[i] == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < cps.size() && ccc[j] != 0) ++j;
    std::vector<std::pair<int, char32_t>> run;
    for (size_t k = i; k < j; ++k) run.emplace_back(ccc[k], cps[k]);
    std::stable_sort(run.begin(), run.end(), [](auto& a, auto& b) { return a.first < b.first; });
    for (size_t k = i; k < j; ++k) {
      ccc[k] = run[k - i].first;
      cps[k] = run[k - i].second;
    }
    i = j;
  }
  // Canonical composition.
  std::vector<char32_t> out;
  std::vector<int> out_ccc;
  out.reserve(cps.size());
  long starter = -1;
  for (size_t i = 0; i < cps.size(); ++i) {
    char32_t c = cps[i];
    int cc = ccc[i];
    if (starter >= 0) {
      int last_cc = out_ccc.back();
      bool blocked = static_cast<size_t>(starter) != out.size() - 1 && (last_cc == 0 || last_cc >= cc);
      if (!blocked) {
        char32_t composed = compose_pair(out[starter], c);
        if (composed) {
          out[starter] = composed;
          continue;
        }
      }
    }
    if (cc == 0) starter = static_cast<long>(out.size());
    out.push_back(c);
    out_ccc.push_back(cc);
  }
  std::string result;
  result.reserve(s.size());
  for (char32_t c : out) append_utf8(result, c);
  return result;
}

}  // namespace exaone::unicode

#include "comply/normalize.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace exaone::comply {

size_t find_invalid_utf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  auto continuation = [&](size_t k) { return (s[k] & 0xC0) == 0x80; };
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      // The rest of an ASCII run, many bytes at a time.
#ifdef __SSE2__
      while (i + 16 <= n) {
        int high = _mm_movemask_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i)));
        if (high) {
          i += static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(high)));
          break;
        }
        i += 16;
      }
#else
      while (i + 8 <= n) {
        uint64_t w;
        __builtin_memcpy(&w, s + i, 8);
        if (w & 0x8080808080808080ull) break;
        i += 8;
      }
#endif
      continue;
    }
    // Lead bytes by sequence length; the second byte's range rules out overlongs (E0, F0),
    // surrogates (ED) and code points above U+10FFFF (F4).
    if (c >= 0xE0 && c <= 0xEF) {  // Hangul and most CJK: the common case after ASCII
      if (n - i < 3 || !continuation(i + 1) || !continuation(i + 2)) return i;
      if ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] >= 0xA0)) return i;
      i += 3;
    } else if (c >= 0xC2 && c <= 0xDF) {
      if (n - i < 2 || !continuation(i + 1)) return i;
      i += 2;
    } else if (c >= 0xF0 && c <= 0xF4) {
      if (n - i < 4 || !continuation(i + 1) || !continuation(i + 2) || !continuation(i + 3)) return i;
      if ((c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] >= 0x90)) return i;
      i += 4;
    } else {
      return i;  // continuation byte without a lead, or C0, C1, F5..FF
    }
  }
  return std::string_view::npos;
}

namespace {
// If a normalisable sequence starts at s[i], returns its ASCII replacement (0 if none).
inline char fold_at(const unsigned char* s, size_t n, size_t i, size_t* len) {
  unsigned char c = s[i];
  if (c == 0xC2 && i + 1 < n && s[i + 1] == 0xA0) {  // NBSP
    *len = 2;
    return ' ';
  }
  if (i + 2 >= n) return 0;
  unsigned char c1 = s[i + 1], c2 = s[i + 2];
  if (c == 0xEF) {
    // U+FF01..U+FF5E full-width ASCII: EF BC 81..BF, EF BD 80..9E.
    if (c1 == 0xBC && c2 >= 0x81 && c2 <= 0xBF) {
      *len = 3;
      return static_cast<char>(0x21 + (c2 - 0x81));
    }
    if (c1 == 0xBD && c2 >= 0x80 && c2 <= 0x9E) {
      *len = 3;
      return static_cast<char>(0x60 + (c2 - 0x80));
    }
    if (c1 == 0xB9 && c2 == 0xA3) {  // U+FE63 small hyphen-minus
      *len = 3;
      return '-';
    }
    return 0;
  }
  if (c == 0xE2) {
    if (c1 == 0x80 && c2 >= 0x90 && c2 <= 0x95) {  // U+2010..2015 hyphens and dashes
      *len = 3;
      return '-';
    }
    if (c1 == 0x80 && (c2 <= 0x8A || c2 == 0xAF)) {  // U+2000..200A, U+202F spaces
      *len = 3;
      return ' ';
    }
    if (c1 == 0x88 && c2 == 0x92) {  // U+2212 minus
      *len = 3;
      return '-';
    }
    return 0;
  }
  if (c == 0xE3 && c1 == 0x80 && c2 == 0x80) {  // U+3000 ideographic space
    *len = 3;
    return ' ';
  }
  return 0;
}
}  // namespace

NormalizedText::NormalizedText(std::string_view original) : original_(original) {
  const auto* s = reinterpret_cast<const unsigned char*>(original.data());
  size_t n = original.size();
  // Find the first foldable sequence; most text has none and keeps the identity mapping.
  size_t first = n;
  size_t i0 = 0;
#ifdef __SSE2__
  // Skip 16 bytes at a time while none is a lead byte of a foldable sequence.
  const __m128i c2 = _mm_set1_epi8(static_cast<char>(0xC2)), e2 = _mm_set1_epi8(static_cast<char>(0xE2)),
                e3 = _mm_set1_epi8(static_cast<char>(0xE3)), ef = _mm_set1_epi8(static_cast<char>(0xEF));
  for (; i0 + 16 <= n; i0 += 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i0));
    __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, c2), _mm_cmpeq_epi8(v, e2)),
                               _mm_or_si128(_mm_cmpeq_epi8(v, e3), _mm_cmpeq_epi8(v, ef)));
    if (_mm_movemask_epi8(hit)) break;
  }
#endif
  for (size_t i = i0; i < n; ++i) {
    unsigned char c = s[i];
    if (c == 0xC2 || c == 0xE2 || c == 0xE3 || c == 0xEF) {
      size_t len = 0;
      if (fold_at(s, n, i, &len)) {
        first = i;
        break;
      }
    }
  }
  if (first == n) return;
  identity_ = false;
  norm_.reserve(n);
  map_.reserve(n + 1);
  norm_.append(original.data(), first);
  for (size_t i = 0; i < first; ++i) map_.push_back(static_cast<uint32_t>(i));
  size_t i = first;
  while (i < n) {
    size_t len = 0;
    char r = 0;
    unsigned char c = s[i];
    if (c == 0xC2 || c == 0xE2 || c == 0xE3 || c == 0xEF) r = fold_at(s, n, i, &len);
    if (r) {
      norm_.push_back(r);
      map_.push_back(static_cast<uint32_t>(i));
      i += len;
    } else {
      norm_.push_back(static_cast<char>(c));
      map_.push_back(static_cast<uint32_t>(i));
      ++i;
    }
  }
  map_.push_back(static_cast<uint32_t>(n));
}

}  // namespace exaone::comply

#include "comply/detect.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <optional>
#include <unordered_set>

#include "comply/normalize.h"

namespace exaone::comply {

namespace {

// ---------------------------------------------------------------- character classes
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
inline bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
inline bool is_alpha(char c) { return is_upper(c) || is_lower(c); }
inline bool is_alnum(char c) { return is_digit(c) || is_alpha(c); }
inline bool is_word(char c) { return is_alnum(c) || c == '_'; }

// Hangul syllables U+AC00..U+D7A3 are EA B0 80 .. ED 9E A3 in UTF-8.
inline bool hangul_at(std::string_view t, size_t i) {
  if (i + 3 > t.size()) return false;
  auto c = static_cast<unsigned char>(t[i]);
  if (c < 0xEA || c > 0xED) return false;
  uint32_t cp = ((c & 0x0Fu) << 12) | ((static_cast<unsigned char>(t[i + 1]) & 0x3Fu) << 6) |
                (static_cast<unsigned char>(t[i + 2]) & 0x3Fu);
  return cp >= 0xAC00 && cp <= 0xD7A3;
}
inline uint32_t cp3(std::string_view t, size_t i) {
  return ((static_cast<unsigned char>(t[i]) & 0x0Fu) << 12) |
         ((static_cast<unsigned char>(t[i + 1]) & 0x3Fu) << 6) | (static_cast<unsigned char>(t[i + 2]) & 0x3Fu);
}
// Start of the Hangul syllable that ends right before byte `i`, if any.
inline bool hangul_before(std::string_view t, size_t i) { return i >= 3 && hangul_at(t, i - 3); }

constexpr uint32_t U(const char* s) {  // code point of a 3-byte UTF-8 literal
  return ((static_cast<unsigned char>(s[0]) & 0x0Fu) << 12) | ((static_cast<unsigned char>(s[1]) & 0x3Fu) << 6) |
         (static_cast<unsigned char>(s[2]) & 0x3Fu);
}

// A word of one to four Hangul syllables as an integer (14 bits a syllable under the count), or
// 0 for anything else.
uint64_t syllable_key(std::string_view w) {
  if (w.empty() || w.size() % 3 != 0 || w.size() > 12) return 0;
  uint64_t key = w.size() / 3;
  for (size_t i = 0; i < w.size(); i += 3) {
    if (!hangul_at(w, i)) return 0;
    key = key << 14 | (cp3(w, i) - 0xAC00);
  }
  return key;
}

// The Hangul word lists probed once per word: integer keys, sorted, searched by bisection
// (every listed word is one to four syllables).
class WordSet {
 public:
  WordSet(std::initializer_list<const char*> words) {
    for (const char* w : words) keys_.push_back(syllable_key(w));
    std::sort(keys_.begin(), keys_.end());
  }
  bool contains(std::string_view w) const {
    uint64_t key = syllable_key(w);
    return key != 0 && std::binary_search(keys_.begin(), keys_.end(), key);
  }

 private:
  std::vector<uint64_t> keys_;
};

// ---------------------------------------------------------------- context windows
// Lower-cased ASCII copy of the text around [s, e): keyword search is case-insensitive for English.
// Keyword lists include the whole label ("법인등록번호", not only "법인등록") so that its distance
// ties with the generic "등록번호" inside it.
struct Context {
  std::string before, after;
  bool any(std::initializer_list<std::string_view> words) const {
    for (std::string_view w : words)
      if (before.find(w) != std::string::npos || after.find(w) != std::string::npos) return true;
    return false;
  }
  bool any_before(std::initializer_list<std::string_view> words) const {
    for (std::string_view w : words)
      if (before.find(w) != std::string::npos) return true;
    return false;
  }
  // Bytes between the candidate and the nearest of `words`. A label after the candidate counts 24
  // bytes farther: labels mostly come first ("주문번호 X 결제 완료" is an order number). A label
  // with another number between it and the candidate labels that number instead
  // ("주문번호: 90204191792216 D34788652 여권 사본").
  size_t distance(std::initializer_list<std::string_view> words, bool after_too = true) const {
    static constexpr const char* kDigits = "0123456789";
    size_t best = kFar;
    for (std::string_view w : words) {
      // The last occurrence, found forwards: find() skips ahead with memchr, rfind() compares at
      // every position.
      size_t p = before.find(w);
      for (size_t q = p; q != std::string::npos; q = before.find(w, q + 1)) p = q;
      if (p != std::string::npos && before.find_first_of(kDigits, p + w.size()) == std::string::npos)
        best = std::min(best, before.size() - p - w.size());
      size_t q = after_too ? after.find(w) : std::string::npos;
      // ...and one after it that directly labels the next number ("X 법인등록번호: Y") labels Y.
      if (q != std::string::npos && after.find_first_of(kDigits) >= q && !labels_next(q + w.size()))
        best = std::min(best, q + 24);
    }
    return best;
  }
  // Whether one of `words` labels the candidate directly: "주문번호 X", "Order #X", "Order No. X".
  bool labelled_by(std::initializer_list<std::string_view> words) const { return distance(words, false) <= 12; }
  static constexpr size_t kFar = size_t(1) << 20;
  // Whether a number follows position `r` of `after` with only "번호", "no.", spaces, ':' or '#' between.
  bool labels_next(size_t r) const {
    if (after.compare(r, 6, "번호") == 0) r += 6;
    if (after.compare(r, 3, "no.") == 0) r += 3;
    while (r < after.size() && (after[r] == ' ' || after[r] == ':' || after[r] == '#')) ++r;
    return r < after.size() && is_digit(after[r]);
  }
};

// Whether the candidate belongs to the label `mine` rather than to another label `other_distance`
// away: "신한은행 … 문서번호 841-532-230680" is a document number. Ties go to `mine`.
// `other_distance` is a callable, evaluated only when a `mine` label is present at all (rarely).
template <class F>
bool nearest_label(const Context& c, std::initializer_list<std::string_view> mine, F other_distance) {
  size_t d = c.distance(mine);
  return d < Context::kFar && d <= other_distance();
}

// Context stays within the candidate's line and sentence: a keyword in the next sentence
// describes something else ("... 주민등록번호 X. 법인등록번호 Y").
Context context_of(std::string_view t, size_t s, size_t e, size_t nb = 72, size_t na = 36) {
  Context c;
  size_t b0 = s > nb ? s - nb : 0;
  size_t a1 = std::min(t.size(), e + na);
  for (size_t k = s; k > b0; --k) {
    if (t[k - 1] == '\n' || (t[k - 1] == ' ' && k >= 5 && t[k - 2] == '.' && hangul_before(t, k - 2))) {
      b0 = k;
      break;
    }
  }
  for (size_t k = e; k < a1; ++k) {
    if (t[k] == '\n' || (t[k] == '.' && k >= 3 && hangul_before(t, k))) {
      a1 = k;
      break;
    }
  }
  c.before.assign(1, ' ');  // so that " t." also matches at the start of a line
  c.before.append(t.substr(b0, s - b0));
  c.after.assign(t.substr(e, a1 - e));
  for (auto* str : {&c.before, &c.after})
    for (char& ch : *str)
      if (is_upper(ch)) ch = static_cast<char>(ch - 'A' + 'a');
  return c;
}

#define KW_RRN {"주민등록번호", "주민등록", "주민번호", "주민 번호", "resident registration", "rrn"}
#define KW_FRN {"외국인등록번호", "외국인", "foreigner registration", "alien registration", "frn"}
#define KW_CRN {"법인등록번호", "법인등록", "법인번호", "법인 등록", "corporate registration", "corporation registration", "company registration no"}
#define KW_BRN {"사업자등록번호", "사업자", "business registration", "brn", "tax id", "tax registration"}
#define KW_NEG {"주문", "order", "invoice", "송장", "운송장", "tracking", "접수번호", "일련번호", "serial", "거래번호", \
               "transaction", "문서번호", "참조번호", "reference", "예약번호", "booking", "승인번호", "관리번호", "모델", \
               "model", "ticket", "티켓", "영수증", "receipt", "sku", "part no", "부품", "p/n", "품번", "코드", "barcode", \
               "isbn", "등기"}
#define KW_CARD {"카드", "card", "visa", "master", "amex", "결제", "credit", "debit", "신용", "체크"}
#define KW_IP {"ip", "접속", "서버", "server", "host", "호스트", "주소", "address", "차단", "로그", "log", "방화벽", "firewall"}
#define KW_PASSPORT {"여권", "passport"}
#define KW_DRIVER {"운전면허", "면허번호", "면허증", "driver", "driving licen", "driving permit"}
#define KW_BANK {"계좌", "입금", "송금", "이체", "예금주", "account", "bank", "은행", "농협", "신한", "카카오뱅크", "토스뱅크", \
                "케이뱅크", "새마을금고", "우체국", "수협", "신협", "kb국민", "ibk", "nh", "sc제일", "iban"}
#define KW_PHONE {"전화", "연락처", "휴대폰", "핸드폰", "휴대전화", "문의", "tel", "phone", "mobile", "call", "팩스", "fax", \
                 "contact", "연락", " t.", " m.", "reach me", "text me"}
#define KW_POSTAL {"우편번호", "우)", "(우", "우편", "postal", "zip", "post code", "postcode"}

// ---------------------------------------------------------------- validators
int dig(char c) { return c - '0'; }

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
int days_in(int y, int m) {
  static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return (m == 2 && leap(y)) ? 29 : d[m - 1];
}

}  // namespace

bool rrn_date_valid(std::string_view d) {
  if (d.size() < 7) return false;
  int s = dig(d[6]);
  int century = (s == 9 || s == 0) ? 1800 : (s == 1 || s == 2 || s == 5 || s == 6) ? 1900 : 2000;
  int y = century + dig(d[0]) * 10 + dig(d[1]);
  int m = dig(d[2]) * 10 + dig(d[3]);
  int dd = dig(d[4]) * 10 + dig(d[5]);
  if (m < 1 || m > 12 || dd < 1 || dd > days_in(y, m)) return false;
  return y <= 2099;
}

static int rrn_weighted_sum(std::string_view d) {
  static const int w[12] = {2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5};
  int sum = 0;
  for (int i = 0; i < 12; ++i) sum += dig(d[i]) * w[i];
  return sum;
}
bool rrn_checksum_ok(std::string_view d) {
  return d.size() == 13 && (11 - rrn_weighted_sum(d) % 11) % 10 == dig(d[12]);
}
bool frn_checksum_ok(std::string_view d) {
  return d.size() == 13 && (13 - rrn_weighted_sum(d) % 11) % 10 == dig(d[12]);
}

bool brn_valid(std::string_view d) {
  if (d.size() != 10) return false;
  int prefix = dig(d[0]) * 100 + dig(d[1]) * 10 + dig(d[2]);
  if (prefix < 101) return false;
  if (d.substr(3, 2) == "00" || d.substr(5, 4) == "0000") return false;
  static const int w[9] = {1, 3, 7, 1, 3, 7, 1, 3, 5};
  int sum = 0;
  for (int i = 0; i < 9; ++i) sum += dig(d[i]) * w[i];
  sum += (dig(d[8]) * 5) / 10;
  return (10 - sum % 10) % 10 == dig(d[9]);
}

bool crn_checksum_ok(std::string_view d) {
  if (d.size() != 13) return false;
  int sum = 0;
  for (int i = 0; i < 12; ++i) sum += dig(d[i]) * ((i % 2) ? 2 : 1);
  return (10 - sum % 10) % 10 == dig(d[12]);
}

bool luhn_ok(std::string_view d) {
  if (d.size() < 12) return false;
  int sum = 0;
  bool dbl = false;
  for (size_t i = d.size(); i-- > 0;) {
    int v = dig(d[i]);
    if (dbl) {
      v *= 2;
      if (v > 9) v -= 9;
    }
    sum += v;
    dbl = !dbl;
  }
  return sum % 10 == 0;
}

bool card_iin_plausible(std::string_view d) {
  auto pre = [&](size_t n) { return std::stoi(std::string(d.substr(0, n))); };
  size_t n = d.size();
  if (n == 16) {
    if (d[0] == '4') return true;                               // Visa
    int p2 = pre(2), p4 = pre(4), p3 = pre(3);
    if (p2 >= 51 && p2 <= 55) return true;                      // Mastercard
    if (p4 >= 2221 && p4 <= 2720) return true;                  // Mastercard 2-series
    if (p4 >= 3528 && p4 <= 3589) return true;                  // JCB
    if (p2 == 62 || p2 == 65 || p4 == 6011 || (p3 >= 644 && p3 <= 649)) return true;  // UnionPay, Discover
    if (d[0] == '9') return true;                               // Korean domestic (BC and others)
    return false;
  }
  if (n == 15) return pre(2) == 34 || pre(2) == 37;             // American Express
  if (n == 14) return pre(2) == 36 || pre(2) == 38 || (pre(3) >= 300 && pre(3) <= 305);  // Diners
  return false;
}

const std::vector<std::string>& finding_types() {
  static const std::vector<std::string> types = {
      "rrn",  "frn",         "brn",  "crn",   "passport", "driver_license", "phone",      "bank_account",
      "card", "email",       "ip",   "postal_code", "address", "person_name", "secret"};
  return types;
}

namespace {

// ---------------------------------------------------------------- the scanner
struct Group {
  size_t s, e;
  char sep;  // separator before the group ('-', '.', ' ' or ')'); 0 for the first
};
// The digit groups of one numeric token, at most 8: kept on the stack, since nearly every number
// in prose is one ("2024", "3.2").
struct Groups {
  Group v[8];
  size_t n = 0;
  size_t size() const { return n; }
  bool empty() const { return n == 0; }
  const Group& operator[](size_t i) const { return v[i]; }
  const Group& back() const { return v[n - 1]; }
  void push_back(const Group& x) { v[n++] = x; }
};

class Scanner {
 public:
  Scanner(std::string_view t, std::vector<Finding>& out) : t_(t), out_(out) {}
  void run();

 private:
  void add(std::string_view type, size_t s, size_t e, double conf, std::string_view rule) {
    out_.push_back(Finding{type, s, e, conf, rule});
  }
  size_t numeric_token(size_t i);
  size_t intl_phone(size_t i, bool plus);
  static bool intl_phone_valid(const std::string& d, const size_t* len, size_t ng, bool plus, char first_sep,
                                 const char* seps, bool area_paren);
  bool classify(const Groups& g, size_t a, size_t k, char sep, bool phone_only);
  bool try_phone(const std::vector<std::string>& parts, char sep, bool contiguous, size_t s, size_t e);
  bool try_address(size_t tok_start, const Groups& g);
  bool try_driver_region_name(const Groups& g, size_t a, size_t k, char sep);
  size_t ascii_word(size_t i);
  void email_at(size_t at);
  size_t private_key(size_t i);
  size_t hangul_word(size_t i);
  size_t english_title(size_t i, size_t word_end);

  std::string_view t_;
  std::vector<Finding>& out_;
  size_t last_email_end_ = 0;
};

void Scanner::run() {
  size_t n = t_.size();
  size_t i = 0;
  while (i < n) {
    char c = t_[i];
    if (is_digit(c)) {
      i = numeric_token(i);
    } else if (is_alpha(c)) {
      i = ascii_word(i);
    } else if (c == '@') {
      email_at(i);
      ++i;
    } else if (c == '-' && t_.compare(i, 11, "-----BEGIN ") == 0) {
      i = private_key(i);
    } else if (static_cast<unsigned char>(c) >= 0xEA && static_cast<unsigned char>(c) <= 0xED && hangul_at(t_, i)) {
      i = hangul_word(i);
    } else {
      ++i;
    }
  }
}

// ---------------------------------------------------------------- numbers
size_t Scanner::numeric_token(size_t i) {
  size_t n = t_.size();
  // A number glued to letters is part of a code word ("A12345", "v1.2.3", "INV-2023...").
  bool left_letter = i > 0 && (is_alpha(t_[i - 1]) || t_[i - 1] == '_');
  bool left_code = i >= 2 && (t_[i - 1] == '-' || t_[i - 1] == '.' || t_[i - 1] == '/') && is_alnum(t_[i - 2]);
  if (left_code && t_[i - 1] == '.' && is_alpha(t_[i - 2])) {
    // "Tel.010-…", "No.1234…": a letter word and a dot is an abbreviation, unless it names a version.
    size_t w = i - 2;
    while (w > 0 && is_alpha(t_[w - 1])) --w;
    std::string word(t_.substr(w, i - 1 - w));
    for (char& ch : word) ch = static_cast<char>(is_upper(ch) ? ch - 'A' + 'a' : ch);
    left_code = word == "v" || word == "ver" || word == "version" || word == "rev" || word == "r";
  }
  if (left_letter) {  // passports are handled by ascii_word
    while (i < n && (is_digit(t_[i]) ||
                     ((t_[i] == '-' || t_[i] == '.' || t_[i] == ' ' || t_[i] == ')') && i + 1 < n && is_digit(t_[i + 1]))))
      ++i;
    return i;
  }
  // International form of Korean numbers: "+82 10-1234-5678", "+82 (0)2 123 4567", "82-10-…".
  if (t_[i] == '8' && i + 2 < n && t_[i + 1] == '2') {
    bool plus = i > 0 && t_[i - 1] == '+';
    if (plus || !left_code)
      if (size_t e = intl_phone(i, plus)) return e;
  }

  Groups g;
  size_t p = i;
  char sep_before = 0;
  while (true) {
    size_t s = p;
    while (p < n && is_digit(t_[p])) ++p;
    g.push_back({s, p, sep_before});
    if (g.size() >= 8) break;
    if (p + 1 < n && (t_[p] == '-' || t_[p] == '.' || t_[p] == ' ' || t_[p] == ')') && is_digit(t_[p + 1])) {
      sep_before = t_[p];
      ++p;
      continue;
    }
    // "(02) 123-4567": an area code in parentheses, then a space; recorded as "02)123-4567".
    if (g.size() == 1 && i > 0 && t_[i - 1] == '(' && t_[i] == '0' && p - i >= 2 && p - i <= 4 && p + 2 < n &&
        t_[p] == ')' && t_[p + 1] == ' ' && is_digit(t_[p + 2])) {
      sep_before = ')';
      p += 2;
      continue;
    }
    break;
  }
  size_t end = g.back().e;
  bool right_code = end < n && (is_alpha(t_[end]) || t_[end] == '_');
  if (!right_code && end + 1 < n && (t_[end] == '-' || t_[end] == '/') && is_alnum(t_[end + 1])) {
    right_code = true;
    // "10.0.0.0/8": a CIDR prefix length still ends an IPv4 address.
    size_t gn = g.size();
    if (t_[end] == '/' && gn >= 4 && g[gn - 1].sep == '.' && g[gn - 2].sep == '.' && g[gn - 3].sep == '.') {
      size_t q = end + 1;
      while (q < n && is_digit(t_[q])) ++q;
      if (q - end - 1 <= 2 && (q >= n || !(is_alnum(t_[q]) || t_[q] == '.' || t_[q] == '/'))) right_code = false;
    }
  }
  if (!right_code && end + 1 < n && t_[end] == '.' && is_digit(t_[end + 1])) right_code = true;

  // Addresses: "<admin> <road>로 12-3" — checked on the first group only.
  if (!left_code && try_address(i, g)) return out_.back().end;  // the rest of the token is scanned again

  size_t ng = g.size();
  size_t a = 0;
  while (a < ng) {
    bool matched = false;
    for (size_t k = std::min<size_t>(4, ng - a); k >= 1 && !matched; --k) {
      if (a == 0 && left_code) continue;
      if (a + k == ng && right_code) continue;
      // Separators inside the span must agree. Phones may open with "02)" or "(02) ", and the
      // first may be a space where the rest are dashes ("010 1234-5678").
      char sep = 0, first = 0;
      bool uniform = true;
      for (size_t j = a + 1; j < a + k; ++j) {
        char sj = g[j].sep;
        if (j == a + 1 && k >= 3) {
          first = sj;
          continue;
        }
        if (sep == 0)
          sep = sj;
        else if (sj != sep)
          uniform = false;
      }
      bool phone_only = false;
      if (first != 0 && first != sep && first != ')') {
        if (first == ' ' && sep == '-')
          phone_only = true;
        else
          uniform = false;
      }
      if (k == 2) sep = g[a + 1].sep;
      if (k >= 3 && sep == 0) sep = first;
      if (!uniform) continue;
      // Tight separators on the span's edges mean it is a piece of a longer code.
      if (a > 0 && g[a].sep != ' ') continue;
      if (a + k < ng && g[a + k].sep != ' ') continue;
      matched = classify(g, a, k, sep, phone_only);
      if (matched) a += k;
    }
    if (!matched) ++a;
  }
  return end;
}

// "+82 10-1234-5678", "+82-10-1234-5678", "+82.10.1234.5678", "+82 (0)10-1234-5678",
// "+82(10)1234-5678", "+82 010 1234 5678", "+8210-1234-5678", "+821012345678", "+82 2 123 4567",
// and, for mobiles only, "82-10-1234-5678" without the plus. `i` points at the "82". Returns the
// end of the number, or 0 when it is not one.
size_t Scanner::intl_phone(size_t i, bool plus) {
  size_t n = t_.size();
  auto sep_at = [&](size_t p) { return p < n && (t_[p] == ' ' || t_[p] == '-' || t_[p] == '.'); };
  auto digit_at = [&](size_t p) { return p < n && is_digit(t_[p]); };
  size_t p = i + 2;
  if (!plus && !sep_at(p)) return 0;
  char first_sep = sep_at(p) ? t_[p] : 0;
  if (sep_at(p)) ++p;
  bool trunk_paren = false, area_paren = false;
  if (plus && t_.compare(p, 3, "(0)") == 0) {  // the trunk 0 written in parentheses
    trunk_paren = true;
    p += 3;
    if (sep_at(p)) ++p;
  } else if (plus && p < n && t_[p] == '(') {  // the area or carrier code in parentheses
    area_paren = true;
    ++p;
  }
  if (!digit_at(p)) return 0;
  size_t len[3], ends[3];
  char seps[3] = {0, 0, 0};  // separator before each group
  size_t ng = 0;
  std::string d;  // the national number as written (with or without the trunk 0)
  while (true) {
    size_t s = p;
    while (digit_at(p)) ++p;
    len[ng] = p - s;
    ends[ng++] = p;
    d.append(t_.substr(s, p - s));
    if (area_paren && ng == 1) {
      if (p >= n || t_[p] != ')') return 0;
      ++p;
      seps[1] = ')';
      if (sep_at(p)) ++p;
      if (!digit_at(p)) return 0;
      continue;
    }
    if (ng < 3 && sep_at(p) && digit_at(p + 1)) {
      seps[ng] = t_[p];
      ++p;
      continue;
    }
    break;
  }
  if (trunk_paren && d[0] == '0') return 0;
  // A group after a space may be the next number ("Fax +82172492639 2024", "+82 10 1234 5678 2024"):
  // on failure, retry without it.
  while (true) {
    if (intl_phone_valid(d, len, ng, plus, first_sep, seps, area_paren)) {
      size_t end = ends[ng - 1];
      // Glued on the right: part of a longer code.
      bool glued = end < n && (is_alpha(t_[end]) || t_[end] == '_');
      if (end + 1 < n && (t_[end] == '-' || t_[end] == '/' || t_[end] == '.') && is_alnum(t_[end + 1]) &&
          (t_[end] != '.' || is_digit(t_[end + 1])))
        glued = true;
      if (glued) return 0;
      add("phone", plus ? i - 1 : i, end, plus ? (ng == 1 ? 0.85 : 0.9) : 0.8, plus ? "phone.intl" : "phone.intl.no_plus");
      return end;
    }
    // Cut before the last group that follows a space.
    size_t cut = ng - 1;
    while (cut > 0 && seps[cut] != ' ') --cut;
    if (cut == 0) return 0;
    for (; ng > cut; --ng) d.resize(d.size() - len[ng - 1]);
  }
}

// The national-number rules behind intl_phone: `d` is what follows "82" (maybe with the trunk 0),
// split into `ng` groups of `len` digits.
bool Scanner::intl_phone_valid(const std::string& d, const size_t* len, size_t ng, bool plus, char first_sep,
                                 const char* seps, bool area_paren) {
  bool trunk = d[0] == '0';
  std::string nat = trunk ? d : "0" + d;
  size_t code = 0;  // length of the area or carrier code in the national number
  bool mobile = false;
  size_t nn = nat.size();
  if (nn < 9) return false;
  if (nat[1] == '1' && (nat[2] == '0' || nat[2] == '1' || (nat[2] >= '6' && nat[2] <= '9'))) {
    mobile = true;
    code = 3;
    if (!(nn == 11 || (nn == 10 && nat[2] != '0'))) return false;
  } else if (nat[1] == '2') {
    code = 2;
    if (nn != 9 && nn != 10) return false;
  } else if (nat.compare(0, 3, "050") == 0 && nat[3] >= '2' && nat[3] <= '8') {
    code = 4;
    if (nn != 11 && nn != 12) return false;
  } else if ((nat[1] >= '3' && nat[1] <= '6' && nat[2] >= '1' && nat[2] <= '5' && (nat[1] != '3' || nat[2] <= '3') &&
              (nat[1] != '4' || nat[2] <= '4')) ||
             nat.compare(0, 3, "070") == 0 || nat.compare(0, 3, "080") == 0 || nat.compare(0, 3, "060") == 0) {
    code = 3;
    if (nn != 10 && nn != 11) return false;
  } else if (!trunk && d.size() == 8 && d[0] == '1' && (d[1] == '5' || d[1] == '6' || d[1] == '8')) {
    code = 5;  // "+82 1588 1234": service numbers have no trunk 0
  } else {
    return false;
  }
  // The groups must split where Korean numbers split: code, then 3-4 digits, then 4.
  size_t code_written = code - (trunk ? 0 : 1);
  bool shape = ng == 1 || (ng == 2 && (len[1] == 4 || (len[0] == code_written && len[1] >= 7))) ||
               (ng == 3 && len[0] == code_written && (len[1] == 3 || len[1] == 4) && len[2] == 4);
  if (ng == 2 && code == 5) shape = len[0] == 4 && len[1] == 4;
  if (!shape || (area_paren && len[0] != code_written)) return false;
  // Without the plus only "82-10-1234-5678": a mobile, three groups, one separator throughout.
  if (!plus && !(mobile && ng == 3 && !trunk && seps[1] == first_sep && seps[2] == first_sep)) return false;
  return true;
}

// Whether any rule below can accept a span of these digit-group lengths: the shortest pattern is
// a 5-digit postal code (IPv4 aside), contiguous numbers only come in lengths 5 and 9..16, and dotted spans
// are only IPv4 addresses or phones opening with 0. Most numbers in prose ("2024", "3.2", "17")
// fail here before any string or context is built.
// A currency sign right before offset `s`: $, ₩ (U+20A9), ￦ (U+FFE6), € (U+20AC), £, ¥.
bool currency_before(std::string_view t, size_t s) {
  if (s >= 1 && t[s - 1] == '$') return true;
  if (s >= 2 && static_cast<unsigned char>(t[s - 2]) == 0xC2 && (t.compare(s - 2, 2, "£") == 0 || t.compare(s - 2, 2, "¥") == 0))
    return true;
  return s >= 3 && (t.compare(s - 3, 3, "₩") == 0 || t.compare(s - 3, 3, "￦") == 0 || t.compare(s - 3, 3, "€") == 0);
}

// A counter or unit syllable right after offset `e` makes the number a quantity ("…원", "…명").
bool counter_after(std::string_view t, size_t e) {
  if (!hangul_at(t, e)) return false;
  switch (cp3(t, e)) {
    case U("원"): case U("명"): case U("개"): case U("건"): case U("회"): case U("만"): case U("억"): case U("배"):
    case U("톤"): case U("달"): case U("엔"): case U("점"): case U("장"): case U("권"): case U("주"): case U("천"):
      return true;
    default:
      return false;
  }
}

bool may_match(std::string_view t, const Groups& g, size_t a, size_t k, char sep) {
  if (k == 4 && sep == '.') return true;  // IPv4 may have as few as 4 digits
  size_t total = 0;
  for (size_t j = a; j < a + k; ++j) total += g[j].e - g[j].s;
  if (total < 5) return false;
  if (k == 1) return total == 5 || (total >= 9 && total <= 16);
  if (sep == '.') return k == 4 || (k == 3 && t[g[a].s] == '0');
  return true;
}

bool Scanner::classify(const Groups& g, size_t a, size_t k, char sep, bool phone_only) {
  if (!may_match(t_, g, a, k, sep)) return false;
  std::vector<std::string> parts;
  std::string d;
  std::vector<size_t> L;
  for (size_t j = a; j < a + k; ++j) {
    parts.emplace_back(t_.substr(g[j].s, g[j].e - g[j].s));
    d += parts.back();
    L.push_back(parts.back().size());
  }
  size_t s = g[a].s, e = g[a + k - 1].e;
  auto is = [&](std::initializer_list<size_t> want) { return L == std::vector<size_t>(want); };
  bool contiguous = k == 1;
  if (phone_only) return try_phone(parts, sep, false, s, e);
  // An amount or a count: "₩1234567890", "$1234567890", "1234567890원", "12345678901명".
  if (contiguous && (currency_before(t_, s) || counter_after(t_, e))) return false;
  Context ctx = context_of(t_, s, e);

  // IPv4.
  if (k == 4 && sep == '.' && L[0] <= 3 && L[1] <= 3 && L[2] <= 3 && L[3] <= 3) {
    bool ok = true;
    for (auto& p : parts)
      if (std::stoi(p) > 255 || (p.size() > 1 && p[0] == '0')) ok = false;
    if (ok) {
      // Addresses that name no host of anyone: loopback (127/8), unspecified, broadcast and the
      // documentation ranges of RFC 5737. Manuals are full of "127.0.0.1:8080"; masking them
      // protects no one and breaks the text.
      const int o0 = std::stoi(parts[0]), o1 = std::stoi(parts[1]), o2 = std::stoi(parts[2]), o3 = std::stoi(parts[3]);
      if (o0 == 127 || (o0 == 0 && o1 == 0 && o2 == 0 && o3 == 0) || (o0 == 255 && o1 == 255 && o2 == 255 && o3 == 255) ||
          (o0 == 192 && o1 == 0 && o2 == 2) || (o0 == 198 && o1 == 51 && o2 == 100) || (o0 == 203 && o1 == 0 && o2 == 113))
        return true;
      // "버전 1.2.3.4" is a version, unless an IP label is nearer ("ver. 3.2 접속 주소(4.176.168.251)").
      size_t version = ctx.distance({"version", "ver.", "v.", "버전"});
      double conf = version < Context::kFar && version < ctx.distance(KW_IP) ? 0.3 : 0.85;
      add("ip", s, e, conf, "ip.v4");
      return true;
    }
    return false;
  }
  if (sep == '.' && !(k == 3 && (parts[0][0] == '0'))) return false;  // dotted: only phones

  // 13 digits: RRN / FRN / corporate number.
  if ((is({6, 7}) && (sep == '-' || sep == ' ')) || is({13})) {
    bool crn_ck = crn_checksum_ok(d);
    // The corporate label must be the nearest one: "외국인등록번호 X 법인등록번호 Y" labels X as an FRN.
    auto generic = [&] { return ctx.distance({"등록번호"}); };  // "법인등록번호 Y 등록번호 X": X is not Y's kind
    bool bank_near = contiguous && nearest_label(ctx, KW_BANK, generic);  // 13-digit accounts
    bool crn_ctx = nearest_label(ctx, KW_CRN, [&] {
      return std::min({ctx.distance(KW_RRN), ctx.distance(KW_FRN), ctx.distance(KW_NEG), generic()});
    });
    if (crn_ctx && crn_ck) {
      add("crn", s, e, contiguous ? 0.85 : 0.9, "crn.checksum+context");
      return true;
    }
    int gd = dig(d[6]);
    if (rrn_date_valid(d)) {
      bool foreign = gd >= 5 && gd <= 8;
      bool ck = foreign ? frn_checksum_ok(d) : rrn_checksum_ok(d);
      bool id_ctx = foreign ? ctx.any(KW_FRN) || ctx.any(KW_RRN) : ctx.any(KW_RRN);
      // An order or product label nearer than any identity label: "바코드 8801234567893" passes
      // the date and check-digit rules by chance.
      bool neg = !id_ctx && (nearest_label(ctx, KW_NEG, generic) || bank_near);
      double conf;
      const char* rule;
      if (ck && neg) {
        conf = 0.45;
        rule = foreign ? "frn.checksum+negative_context" : "rrn.checksum+negative_context";
      } else if (ck) {
        conf = 0.95;
        rule = foreign ? "frn.checksum" : "rrn.checksum";
      } else if (id_ctx) {
        conf = 0.85;  // post-2020 numbers carry no check digit
        rule = foreign ? "frn.date+context" : "rrn.date+context";
      } else if (neg || crn_ctx) {
        conf = 0.3;
        rule = foreign ? "frn.date+negative_context" : "rrn.date+negative_context";
      } else {
        conf = 0.6;
        rule = foreign ? "frn.date" : "rrn.date";
      }
      if (contiguous && !id_ctx) conf -= 0.1;
      if (conf >= 0.5 || !contiguous) {
        add(foreign ? "frn" : "rrn", s, e, conf, rule);
        return true;
      }
    }
    if (crn_ck && !ctx.any(KW_NEG) && !bank_near) {
      add("crn", s, e, contiguous ? 0.45 : 0.6, "crn.checksum");
      return true;
    }
    // Not an identity number: 13 bare digits may still be a bank account (below); the 6-7 layout may not.
    if (!contiguous) return false;
  }

  // 10 digits: business registration number (checksum mandatory).
  if ((is({3, 2, 5}) && (sep == '-' || sep == ' ')) || is({10})) {
    if (brn_valid(d)) {
      bool c = nearest_label(ctx, KW_BRN, [&] { return ctx.distance(KW_NEG); });
      // Ten bare digits after "주문번호"/"order no." are an order number that passes by chance (1 in 10).
      if (contiguous && !c && ctx.labelled_by(KW_NEG)) return false;
      double conf = contiguous ? (c ? 0.85 : 0.55) : (sep == '-' ? 0.9 : 0.8);
      add("brn", s, e, conf, c ? "brn.checksum+context" : "brn.checksum");
      return true;
    }
  }

  // Payment cards: Luhn and a plausible issuer prefix.
  if ((is({4, 4, 4, 4}) || is({4, 6, 5}) || is({4, 6, 4}) || is({16}) || is({15}) || is({14})) &&
      (sep == '-' || sep == ' ' || contiguous)) {
    if (luhn_ok(d) && card_iin_plausible(d)) {
      // Likewise an unbroken order or tracking number passes Luhn 1 time in 10.
      if (contiguous && ctx.labelled_by(KW_NEG)) return false;
      add("card", s, e, contiguous ? 0.9 : 0.95, "card.luhn+iin");
      return true;
    }
  }

  // Driver's licence: RR-YY-NNNNNN-CC with a region code, only near licence words.
  if ((is({2, 2, 6, 2}) && (sep == '-' || sep == ' ')) || is({12})) {
    int region = std::stoi(d.substr(0, 2));
    if (((region >= 11 && region <= 26) || region == 28) && nearest_label(ctx, KW_DRIVER, [&] { return ctx.distance(KW_NEG); })) {
      add("driver_license", s, e, contiguous ? 0.75 : 0.85, "driver_license.region+context");
      return true;
    }
  }
  if (is({2, 6, 2}) && sep == '-' && try_driver_region_name(g, a, k, sep)) return true;

  if (try_phone(parts, sep, contiguous, s, e)) return true;

  // Bank accounts: per-bank layouts, and only with banking words nearby.
  bool bank_ctx =
      nearest_label(ctx, KW_BANK, [&] { return std::min({ctx.distance(KW_NEG), ctx.distance(KW_BRN), ctx.distance(KW_CARD)}); });
  if (bank_ctx && !contiguous && (sep == '-' || sep == ' ')) {
    static const std::vector<std::vector<size_t>> layouts = {
        {6, 2, 6}, {3, 3, 6}, {4, 3, 6}, {3, 6, 5}, {3, 4, 4, 2}, {3, 6, 2, 3}, {4, 2, 7},
        {4, 4, 4}, {3, 2, 6}, {3, 6, 3}, {4, 2, 6, 1}, {3, 2, 5, 1}, {6, 2, 5}, {3, 3, 5}};
    bool known = std::find(layouts.begin(), layouts.end(), L) != layouts.end();
    if (known || (d.size() >= 10 && d.size() <= 14 && k >= 2)) {
      add("bank_account", s, e, known ? 0.85 : 0.7, known ? "bank_account.layout+context" : "bank_account.context");
      return true;
    }
  }
  if (bank_ctx && contiguous && d.size() >= 10 && d.size() <= 14) {
    add("bank_account", s, e, 0.65, "bank_account.digits+context");
    return true;
  }

  // Postal codes: 5 digits (since 2015) or old NNN-NNN, only with postal words or "(06236)" next to an address.
  if (is({5}) && d[0] <= '6') {
    if (ctx.any(KW_POSTAL)) {
      add("postal_code", s, e, 0.85, "postal_code.context");
      return true;
    }
    bool paren = s > 0 && t_[s - 1] == '(' && e < t_.size() && t_[e] == ')';
    if (paren && ctx.any({"서울", "부산", "대구", "인천", "광주", "대전", "울산", "세종", "경기", "강원", "충청", "충북",
                          "충남", "전라", "전북", "전남", "경상", "경북", "경남", "제주"})) {
      add("postal_code", s, e, 0.7, "postal_code.paren+region");
      return true;
    }
  }
  if (is({3, 3}) && sep == '-' && ctx.any(KW_POSTAL)) {
    add("postal_code", s, e, 0.75, "postal_code.old+context");
    return true;
  }
  return false;
}

bool Scanner::try_phone(const std::vector<std::string>& p, char sep, bool contiguous, size_t s, size_t e) {
  static const std::unordered_set<std::string> mobile = {"010", "011", "016", "017", "018", "019"};
  static const std::unordered_set<std::string> area = {"031", "032", "033", "041", "042", "043", "044", "051",
                                                       "052", "053", "054", "055", "061", "062", "063", "064",
                                                       "070", "080", "060"};
  if (contiguous) {
    const std::string& d = p[0];
    Context ctx = context_of(t_, s, e);
    bool c = ctx.any(KW_PHONE);
    if (ctx.labelled_by(KW_NEG)) return false;  // "예약번호 0190064581"
    if (d.size() == 11 && mobile.count(d.substr(0, 3))) {
      add("phone", s, e, c ? 0.85 : 0.7, "phone.mobile.digits");
      return true;
    }
    if (d.size() == 10 && mobile.count(d.substr(0, 3))) {
      add("phone", s, e, c ? 0.8 : 0.55, "phone.mobile.digits");
      return true;
    }
    if ((d.size() == 9 || d.size() == 10) && d.compare(0, 2, "02") == 0 && c) {
      add("phone", s, e, 0.7, "phone.seoul.digits+context");
      return true;
    }
    if ((d.size() == 10 || d.size() == 11) && area.count(d.substr(0, 3)) && c) {
      add("phone", s, e, 0.7, "phone.area.digits+context");
      return true;
    }
    if ((d.size() == 11 || d.size() == 12) && d.compare(0, 3, "050") == 0 && d[3] >= '2' && d[3] <= '8' && c) {
      add("phone", s, e, 0.7, "phone.personal050.digits+context");
      return true;
    }
    return false;
  }
  std::vector<size_t> L;
  for (auto& x : p) L.push_back(x.size());
  if (L.size() != 3 && L.size() != 2) return false;
  if (s > 0 && t_[s - 1] == '(' && t_[s + L[0]] == ')') --s;  // "(02) 123-4567" as written
  double base = sep == '-' || sep == ')' ? 0.9 : 0.85;
  if (L.size() == 3 && (L[1] == 3 || L[1] == 4) && L[2] == 4) {
    if (L[0] == 3 && mobile.count(p[0])) {
      add("phone", s, e, base, "phone.mobile");
      return true;
    }
    if (L[0] == 2 && p[0] == "02") {
      add("phone", s, e, base - 0.05, "phone.seoul");
      return true;
    }
    if (L[0] == 3 && area.count(p[0])) {
      add("phone", s, e, base - 0.05, "phone.area");
      return true;
    }
    if (L[0] == 4 && p[0].compare(0, 3, "050") == 0 && p[0][3] >= '2' && p[0][3] <= '8') {
      add("phone", s, e, base - 0.05, "phone.personal050");
      return true;
    }
    return false;
  }
  if (L.size() == 2 && L[0] == 4 && L[1] == 4 && (p[0][0] == '1') &&
      (p[0][1] == '5' || p[0][1] == '6' || p[0][1] == '8') &&
      (sep == '-' || (sep == ' ' && context_of(t_, s, e).any(KW_PHONE)))) {  // "1588 1234" only near 전화/tel
    // "1500-2000" reads as a range in prose, not a service number.
    if (p[0].compare(2, 2, "00") == 0 && p[1].compare(2, 2, "00") == 0) return false;
    size_t q = e;  // a counter right after the number ("1500-2000명") makes it a quantity
    if (q < t_.size() && ((hangul_at(t_, q) && [&] {
                            static const std::unordered_set<uint32_t> counters = {
                                U("명"), U("개"), U("원"), U("건"), U("년"), U("회"), U("대"), U("곳"), U("석"),
                                U("권"), U("장"), U("번"), U("배"), U("톤"), U("달"), U("분"), U("초"), U("시")};
                            return counters.count(cp3(t_, q)) > 0;
                          }())))
      return false;
    add("phone", s, e, 0.75, "phone.service");
    return true;
  }
  return false;
}

bool Scanner::try_driver_region_name(const Groups& g, size_t a, size_t k, char sep) {
  // Older licences print the region as a name: "서울 12-345678-90".
  static const char* regions[] = {"서울", "부산", "경기", "강원", "충북", "충남", "전북", "전남", "경북",
                                  "경남", "제주", "대구", "인천", "광주", "대전", "울산", "세종"};
  size_t s = g[a].s;
  if (s < 7 || t_[s - 1] != ' ') return false;
  for (const char* r : regions) {
    if (t_.compare(s - 7, 6, r) == 0) {
      Context ctx = context_of(t_, s - 7, g[a + k - 1].e);
      if (!ctx.any(KW_DRIVER)) return false;
      add("driver_license", s - 7, g[a + k - 1].e, 0.85, "driver_license.region_name+context");
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------- addresses
namespace {
bool ends_with_syllable(std::string_view w, std::initializer_list<const char*> sy) {
  if (w.size() < 3) return false;
  for (const char* s : sy)
    if (w.compare(w.size() - 3, 3, s) == 0) return true;
  return false;
}
bool is_admin_word(std::string_view w) {
  static const char* provinces[] = {"서울", "부산", "대구", "인천", "광주", "대전", "울산", "세종", "경기",
                                    "강원", "충북", "충남", "전북", "전남", "경북", "경남", "제주"};
  for (const char* p : provinces)
    if (w == p) return true;
  return w.size() >= 6 && ends_with_syllable(w, {"시", "도", "구", "군", "읍", "면"});
}
}  // namespace

bool Scanner::try_address(size_t tok_start, const Groups& g) {
  if (tok_start < 4 || t_[tok_start - 1] != ' ') return false;
  // The word before the number: a road (…로, …길) or a lot area (…동, …리, …가).
  auto prev_word = [&](size_t end) -> std::pair<size_t, size_t> {  // word ending at `end` (exclusive)
    size_t b = end;
    while (b > 0 && t_[b - 1] != ' ' && t_[b - 1] != ',' && t_[b - 1] != '(' && t_[b - 1] != '\n' &&
           t_[b - 1] != ':')
      --b;
    return {b, end};
  };
  auto [ws, we] = prev_word(tok_start - 1);
  std::string_view road = t_.substr(ws, we - ws);
  if (road.size() < 6 || !hangul_before(t_, we)) return false;
  bool is_road = ends_with_syllable(road, {"로", "길"});
  bool is_lot = ends_with_syllable(road, {"동", "리", "가"});
  if (!is_road && !is_lot) return false;
  // Walk back over administrative words (시/도, 시/군/구, 읍/면/동).
  size_t start = ws;
  int admin = 0;
  size_t cur = ws;
  for (int step = 0; step < 4; ++step) {
    if (cur < 2 || t_[cur - 1] != ' ') break;
    auto [as, ae] = prev_word(cur - 1);
    if (ae <= as || !is_admin_word(t_.substr(as, ae - as))) break;
    ++admin;
    start = as;
    cur = as;
  }
  if (admin == 0) return false;
  // The number: N or N-N, then 번지 and details such as "101동 1203호" or "5층".
  size_t e = g[0].e;
  if (g.size() >= 2 && g[1].sep == '-') e = g[1].e;
  auto starts = [&](size_t p, const char* s) { return t_.compare(p, std::strlen(s), s) == 0; };
  if (starts(e, "번지")) e += 6;
  for (int step = 0; step < 3; ++step) {
    size_t p = e;
    if (p < t_.size() && t_[p] == ',') ++p;
    if (p < t_.size() && t_[p] == ' ') ++p;
    size_t q = p;
    while (q < t_.size() && is_digit(t_[q])) ++q;
    if (q == p || q - p > 5) break;
    if (starts(q, "동") || starts(q, "호") || starts(q, "층")) {
      e = q + 3;
    } else {
      break;
    }
  }
  add("address", start, e, admin >= 2 ? 0.85 : 0.75, is_road ? "address.road" : "address.lot");
  return true;
}

// ---------------------------------------------------------------- ASCII words: secrets, passports, titles
size_t Scanner::ascii_word(size_t i) {
  size_t n = t_.size();
  size_t e = i;
  while (e < n && (is_word(t_[e]) || t_[e] == '-')) ++e;
  if (i > 0 && (is_word(t_[i - 1]) || is_digit(t_[i - 1]))) return e;  // middle of a token
  std::string_view w = t_.substr(i, e - i);
  // Only words starting with these letters can be a passport, a token or a title.
  switch (w[0]) {
    case 'A': case 'g': case 'x': case 's': case 'r': case 'h': case 'e': case 'M': case 'S': case 'R':
    case 'O': case 'D': case 'G': case 'N': case 'n': case 'P':
      break;
    default:
      return e;
  }
  auto starts = [&](const char* p) { return w.compare(0, std::strlen(p), p) == 0; };
  auto count_class = [&](size_t from, auto pred) {
    size_t k = from;
    while (k < w.size() && pred(w[k])) ++k;
    return k - from;
  };
  auto tok = [](char c) { return is_alnum(c) || c == '_' || c == '-'; };

  // Passports: [MSRODG] + 8 digits (old) or + 3 digits, letter, 4 digits (since Dec 2021).
  if (w.size() == 9 && (w[0] == 'M' || w[0] == 'S' || w[0] == 'R' || w[0] == 'O' || w[0] == 'D' || w[0] == 'G')) {
    bool old_fmt = count_class(1, is_digit) == 8;
    bool new_fmt = count_class(1, is_digit) == 3 && is_upper(w[4]) && count_class(5, is_digit) == 4;
    if (old_fmt || new_fmt) {
      Context pc = context_of(t_, i, e);  // "모델명 M12345678 … 여권번호 …" is a model number
      if (nearest_label(pc, KW_PASSPORT, [&] { return pc.distance(KW_NEG); })) {
        add("passport", i, e, 0.85, old_fmt ? "passport.old+context" : "passport.new+context");
        return e;
      }
    }
  }
  // API tokens with well-known shapes: all are 15+ characters, except JWTs whose first part
  // alone may be short.
  if (w.size() < 15 && !starts("eyJ")) return english_title(i, e);
  auto secret = [&](const char* rule, double conf) {
    add("secret", i, e, conf, rule);
    return e;
  };
  if ((starts("AKIA") || starts("ASIA")) && w.size() == 20 && count_class(4, [](char c) {
        return is_upper(c) || is_digit(c);
      }) == 16)
    return secret("secret.aws_access_key", 0.95);
  if ((starts("ghp_") || starts("gho_") || starts("ghu_") || starts("ghs_") || starts("ghr_")) && w.size() >= 40 &&
      count_class(4, is_alnum) >= 36)
    return secret("secret.github_token", 0.95);
  if (starts("github_pat_") && w.size() >= 40) return secret("secret.github_token", 0.95);
  if (starts("glpat-") && w.size() >= 26) return secret("secret.gitlab_token", 0.95);
  if ((starts("sk_live_") || starts("rk_live_") || starts("sk_test_")) && w.size() >= 24)
    return secret("secret.stripe_key", 0.95);
  if (starts("sk-") && w.size() >= 23 && count_class(3, tok) + 3 == w.size()) {
    size_t digits = 0, letters = 0;
    for (char c : w) (is_digit(c) ? digits : letters) += is_alnum(c);
    if (digits >= 2 && letters >= 8) return secret("secret.openai_key", 0.9);
  }
  if (starts("hf_") && w.size() >= 34 && count_class(3, is_alnum) + 3 == w.size())
    return secret("secret.huggingface_token", 0.95);
  if ((starts("xoxb-") || starts("xoxp-") || starts("xoxa-") || starts("xoxr-") || starts("xoxs-")) && w.size() >= 15)
    return secret("secret.slack_token", 0.95);
  if (starts("AIza") && w.size() == 39) return secret("secret.google_api_key", 0.95);
  if (starts("eyJ")) {  // JWT: three base64url parts joined by dots
    size_t p = e, dots = 0;
    while (p < n && (tok(t_[p]) || t_[p] == '.')) {
      if (t_[p] == '.') ++dots;
      ++p;
    }
    if (dots == 2 && p - i >= 40 && t_.compare(t_.find('.', i) + 1, 3, "eyJ") == 0) {
      add("secret", i, p, 0.85, "secret.jwt");
      return p;
    }
  }
  return english_title(i, e);
}

size_t Scanner::english_title(size_t i, size_t e) {
  // "Mr. John Smith", "Dr. Kim Min-jun", "Name: Jane Doe".
  std::string_view w = t_.substr(i, e - i);
  static constexpr std::string_view titles[] = {"Mr", "Mrs", "Ms", "Miss", "Dr", "Prof"};
  bool title = false, label = false;
  for (std::string_view tl : titles)
    if (w == tl) title = true;
  if (w == "Name" || w == "name" || w == "NAME") label = true;
  if (!title && !label) return e;
  size_t p = e;
  if (title && p < t_.size() && t_[p] == '.') ++p;
  if (label) {
    if (p < t_.size() && t_[p] == ':') ++p;
    else return e;
  }
  if (p >= t_.size() || t_[p] != ' ') return e;
  ++p;
  size_t ns = p, ne = p;
  int words = 0;
  while (words < 3 && p < t_.size() && is_upper(t_[p])) {
    size_t q = p + 1;
    while (q < t_.size() && (is_lower(t_[q]) || (t_[q] == '-' && q + 1 < t_.size() && is_alpha(t_[q + 1])))) ++q;
    if (q - p < 2) break;
    ne = q;
    ++words;
    if (q < t_.size() && t_[q] == ' ' && q + 1 < t_.size() && is_upper(t_[q + 1]))
      p = q + 1;
    else
      break;
  }
  if (words == 0 || (label && words < 2)) return e;
  add("person_name", ns, ne, label ? 0.7 : 0.6, label ? "person_name.label" : "person_name.title");
  return ne;
}

void Scanner::email_at(size_t at) {
  if (at < last_email_end_) return;
  auto local_ok = [](char c) { return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'; };
  size_t s = at;
  while (s > 0 && local_ok(t_[s - 1])) --s;
  while (s < at && t_[s] == '.') ++s;
  if (s == at) return;
  size_t n = t_.size();
  size_t p = at + 1, last_dot = 0, labels = 0;
  size_t e = p;
  while (true) {
    size_t ls = p;
    while (p < n && (is_alnum(t_[p]) || t_[p] == '-')) ++p;
    if (p == ls) break;
    ++labels;
    e = p;
    if (p + 1 < n && t_[p] == '.' && is_alnum(t_[p + 1])) {
      last_dot = p;
      ++p;
      continue;
    }
    break;
  }
  if (labels < 2 || last_dot == 0) return;
  std::string_view tld = t_.substr(last_dot + 1, e - last_dot - 1);
  if (tld.size() < 2 || !std::all_of(tld.begin(), tld.end(), is_alpha)) return;
  add("email", s, e, 0.95, "email.addr_spec");
  last_email_end_ = e;
}

size_t Scanner::private_key(size_t i) {
  size_t line_end = t_.find('\n', i);
  std::string_view head = t_.substr(i, (line_end == std::string_view::npos ? t_.size() : line_end) - i);
  if (head.find("PRIVATE KEY-----") == std::string_view::npos) return i + 11;
  size_t end_marker = t_.find("-----END ", i + 11);
  size_t e = t_.size();
  if (end_marker != std::string_view::npos) {
    size_t close = t_.find("-----", end_marker + 9);
    e = close == std::string_view::npos ? t_.size() : close + 5;
  }
  add("secret", i, e, 0.99, "secret.private_key");
  return e;
}

// ---------------------------------------------------------------- Korean names
namespace {
// Surname syllables as a bitmap over U+AC00..U+D7A3: one lookup per Hangul word start.
struct SyllableSet {
  std::vector<bool> bits = std::vector<bool>(0xD7A4 - 0xAC00);
  void insert(uint32_t cp) { bits[cp - 0xAC00] = true; }
  size_t count(uint32_t cp) const { return cp >= 0xAC00 && cp <= 0xD7A3 && bits[cp - 0xAC00]; }
};
const SyllableSet& surnames() {
  static const SyllableSet s = [] {
    SyllableSet out;
    const char* list =
        "김이박최정강조윤장임한오서신권황안송류유전홍고문양손배백허남심노하곽성차주우구민진나지엄채원천방공현함변염여추도소석선설마길연위"
        "표명기반왕금옥육인맹제모탁국어은편용예경봉사부가복태목형피두감호";
    for (size_t i = 0; list[i]; i += 3) out.insert(U(list + i));
    return out;
  }();
  return s;
}
bool compound_surname(std::string_view w) {  // w: whole Hangul syllables
  static constexpr std::pair<uint32_t, uint32_t> c[] = {{U("남"), U("궁")}, {U("황"), U("보")}, {U("제"), U("갈")},
                                                        {U("선"), U("우")}, {U("독"), U("고")}, {U("사"), U("공")},
                                                        {U("서"), U("문")}};
  if (w.size() < 6) return false;
  uint32_t first = cp3(w, 0), second = cp3(w, 3);
  for (auto [a, b] : c)
    if (first == a && second == b) return true;
  return false;
}
// Common nouns that look like "surname + syllables" before 님/씨 or a job title.
bool name_stopword(std::string_view w) {
  static const WordSet s = {
      "이사장", "부사장", "사무장", "부회장", "부원장", "위원장", "조합장", "선생님", "부총리", "부의장", "원장님",
      "고객님", "사모님", "이모부", "고모부", "주인장", "이번주", "지난주", "오늘은", "어제는", "우리는", "저희는",
      "그동안", "하지만", "이번에", "지금은", "오늘도", "정부는", "한국의", "이사회", "부모님", "선배님", "후배님",
      "여러분", "신입사", "전임자", "후임자", "담당자", "관계자", "책임자", "대표님", "사장님", "회장님", "교수님",
      "박사님", "작가님", "기사님", "감독님", "의원님", "변호사", "간호사", "세무사", "노무사", "회계사", "수석님",
      "연락처", "연구실", "연구소", "주소지", "전화로", "이메일", "안내문", "우편물", "연락망", "주세요", "노출됨",
      "서울시", "부산시", "대구시", "인천시", "광주시", "대전시", "울산시"};
  return s.contains(w);
}
size_t syllables(std::string_view w) { return w.size() / 3; }
bool plausible_name(std::string_view w, size_t min_syl) {
  size_t n = syllables(w);
  if (n < min_syl || n > 4) return false;
  if (n == 4) return compound_surname(w);
  if (!surnames().count(cp3(w, 0)) && !compound_surname(w)) return false;
  return !name_stopword(w);
}
}  // namespace

size_t Scanner::hangul_word(size_t i) {
  size_t n = t_.size();
  size_t e = i;
  while (e + 3 <= n && hangul_at(t_, e)) e += 3;
  if (hangul_before(t_, i)) return e;  // not at a word start
  std::string_view w = t_.substr(i, e - i);
  auto next_word = [&](size_t from) -> std::string_view {
    if (from >= n || t_[from] != ' ') return {};
    size_t b = from + 1, q = b;
    while (q + 3 <= n && hangul_at(t_, q)) q += 3;
    return t_.substr(b, q - b);
  };
  // (a) Name glued to an honorific, maybe with a particle after it: 김민준님, 박서연씨는.
  for (size_t name_syl : {size_t(3), size_t(4)}) {
    if (syllables(w) < name_syl + 1 || syllables(w) > name_syl + 3) continue;
    uint32_t h = cp3(w, 3 * name_syl);
    if (h != U("님") && h != U("씨")) continue;
    std::string_view r = w.substr(0, 3 * name_syl);
    if (plausible_name(r, 3)) {
      add("person_name", i, i + r.size(), 0.6, "person_name.honorific");
      return e;
    }
  }
  // (b) Name followed by a title: 김민준 과장, 이서연 교수님.
  if ((syllables(w) == 3 || syllables(w) == 4) && plausible_name(w, 3)) {
    std::string_view nw = next_word(e);
    static constexpr std::string_view titles[] = {
        "님",   "씨",   "고객", "과장", "부장", "차장", "대리", "사원", "주임", "팀장", "실장", "이사", "상무",
        "전무", "대표", "사장", "회장", "교수", "선생", "박사", "변호사", "기자", "의원", "원장", "선수", "작가",
        "감독", "간호사", "의사", "약사", "원장", "소장", "센터장", "본부장", "매니저", "연구원", "책임", "선임", "수석"};
    if (!nw.empty()) {
      uint32_t last = cp3(w, w.size() - 3);
      bool particle = last == U("는") || last == U("를") || last == U("을") || last == U("의") ||
                      last == U("에") || last == U("과") || last == U("와") || last == U("도") || last == U("로");
      // The title is the whole next word, or the title plus an honorific or particle.
      uint32_t nw_first = cp3(nw, 0);
      auto title_word = [&](std::string_view tl) {
        // Most words share no first syllable with any title: compare that before the bytes.
        if (cp3(tl, 0) != nw_first || !nw.starts_with(tl)) return false;
        std::string_view rest = nw.substr(tl.size());
        static const char* ok[] = {"", "님", "께서", "님께서", "님께", "님이", "님은", "님의", "은", "는", "이", "가", "을",
                                   "를", "의", "과", "와", "에게", "께", "님과", "이다", "입니다"};
        for (const char* o : ok)
          if (rest == o) return true;
        return false;
      };
      for (std::string_view tl : titles) {
        if (!particle && title_word(tl)) {
          add("person_name", i, e, 0.6, "person_name.title");
          return e;
        }
      }
    }
  }
  // (c) A label before the name: 성명: 홍길동, 예금주 김민준.
  static const WordSet labels = {
      "성명", "이름", "담당자", "고객명", "예금주", "수신인", "작성자", "보호자", "환자명",
      "신청인", "대표자", "받는분", "발신인", "수령인", "가입자", "성함"};
  size_t p = i;
  while (p > 0 && i - p < 3 && (t_[p - 1] == ' ' || t_[p - 1] == ':')) --p;
  if (p < i && p >= 6 && hangul_before(t_, p)) {
    size_t b = p;
    while (b >= 3 && hangul_at(t_, b - 3)) b -= 3;
    if ((p - b == 6 || p - b == 9) && labels.contains(t_.substr(b, p - b))) {  // labels are 2-3 syllables
      std::string_view r = w;
      static const char* tails[] = {"입니다", "이며", "이고", "님", "씨", "은", "는", "이", "가", "을", "를", "의"};
      for (const char* tl : tails) {
        size_t tn = std::strlen(tl);
        if (r.size() > tn + 3 && r.compare(r.size() - tn, tn, tl) == 0 && syllables(r) - tn / 3 >= 2) {
          r = r.substr(0, r.size() - tn);
          break;
        }
      }
      if (plausible_name(r, 2)) add("person_name", i, i + r.size(), 0.7, "person_name.label");
      return e;
    }
  }
  return e;
}

}  // namespace

std::vector<Finding> detect(std::string_view text, const DetectOptions& opts) {
  return detect(NormalizedText(text), opts);
}

std::vector<Finding> detect(const NormalizedText& norm, const DetectOptions& opts) {
  std::vector<Finding> raw;
  Scanner(norm.text(), raw).run();
  // Overlaps: keep the more confident (then longer) finding.
  std::sort(raw.begin(), raw.end(), [](const Finding& a, const Finding& b) {
    return a.start != b.start ? a.start < b.start : a.end > b.end;
  });
  std::vector<Finding> out;
  for (auto& f : raw) {
    if (f.confidence < opts.min_confidence) continue;
    if (!out.empty() && f.start < out.back().end) {
      auto& prev = out.back();
      if (f.confidence > prev.confidence || (f.confidence == prev.confidence && f.end - f.start > prev.end - prev.start))
        prev = f;
      continue;
    }
    out.push_back(f);
  }
  if (!norm.identity()) {
    for (auto& f : out) {
      f.start = norm.to_original(f.start);
      f.end = norm.to_original(f.end);
    }
  }
  for (auto& f : out) f.confidence = std::round(f.confidence * 100) / 100;
  return out;
}

}  // namespace exaone::comply

// Unit tests: hashing against Python references, validators, detectors, normalisation offsets,
// masking and pseudonymisation, licence screen and the YAML subset.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "comply/dedup.h"
#include "comply/detect.h"
#include "comply/license.h"
#include "comply/normalize.h"
#include "comply/sha256.h"
#include "comply/transform.h"
#include "comply/yaml_lite.h"
#include "util/error.h"

using namespace exaone;
using namespace exaone::comply;
using namespace std::string_literals;

TEST(ComplyHash, MatchesPythonReference) {
  json ref = read_json_file(std::string(EXAONE_FIXTURES) + "/comply/hashes.json");
  for (auto& r : ref["sha256"]) EXPECT_EQ(sha256_hex(r["text"].get<std::string>()), r["hex"]);
  for (auto& r : ref["hmac"]) {
    auto mac = hmac_sha256(r["key"].get<std::string>(), r["text"].get<std::string>());
    EXPECT_EQ(to_hex(mac.data(), 32), r["hex"]);
  }
  for (auto& r : ref["pseudonym"])
    EXPECT_EQ(pseudonym(r["key"].get<std::string>(), r["type"].get<std::string>(), r["canonical"].get<std::string>()),
              r["token"]);
}

// The SHA-NI and portable compression functions agree on every length around the block and
// padding boundaries, and whether the input arrives at once or in uneven pieces.
TEST(ComplyHash, HardwareAndPortableAgree) {
  std::string data;
  uint32_t x = 12345;
  for (int i = 0; i < 1100; ++i) data.push_back(static_cast<char>((x = x * 1103515245u + 12345u) >> 24));
  for (size_t n = 0; n <= data.size(); n += (n < 200 ? 1 : 37)) {
    std::string_view v(data.data(), n);
    Sha256 hw, portable(Sha256Impl::Portable), pieces;
    hw.update(v);
    portable.update(v);
    for (size_t p = 0, step = 1; p < n; p += step, step = step * 3 % 97 + 1) pieces.update(v.substr(p, step));
    auto a = hw.finish(), b = portable.finish(), c = pieces.finish();
    ASSERT_EQ(to_hex(a.data(), 32), to_hex(b.data(), 32)) << "length " << n;
    ASSERT_EQ(to_hex(c.data(), 32), to_hex(b.data(), 32)) << "length " << n;
  }
  // The portable one alone must also match the Python reference.
  json ref = read_json_file(std::string(EXAONE_FIXTURES) + "/comply/hashes.json");
  for (auto& r : ref["sha256"]) {
    Sha256 portable(Sha256Impl::Portable);
    portable.update(r["text"].get<std::string>());
    auto d = portable.finish();
    EXPECT_EQ(to_hex(d.data(), 32), r["hex"]);
  }
  std::printf("SHA-NI %s\n", sha256_hw_available() ? "used" : "not available on this CPU");
}

TEST(ComplyValidators, PublishedExamples) {
  EXPECT_TRUE(rrn_date_valid("9710139019902"));
  EXPECT_TRUE(brn_valid("1168200276"));  // spec example 116-82-00276
  EXPECT_FALSE(brn_valid("1168200277"));
  EXPECT_FALSE(brn_valid("1000000000"));
  EXPECT_TRUE(luhn_ok("4111111111111111"));
  EXPECT_FALSE(luhn_ok("4111111111111112"));
  EXPECT_TRUE(card_iin_plausible("4111111111111111"));
  EXPECT_FALSE(card_iin_plausible("1111111111111117"));
  EXPECT_FALSE(rrn_date_valid("9013011234567"));  // month 13
  EXPECT_FALSE(rrn_date_valid("0102291234567"));  // 1901-02-29 does not exist
  EXPECT_TRUE(rrn_date_valid("0002293234567"));   // 2000-02-29 does
}

static std::vector<std::string> types_in(const std::string& t) {
  std::vector<std::string> out;
  for (auto& f : detect(t)) out.emplace_back(f.type);
  return out;
}

TEST(ComplyDetect, FindsEachTypeInContext) {
  EXPECT_EQ(types_in("주민등록번호 900101-1234568"), std::vector<std::string>{"rrn"});
  EXPECT_EQ(types_in("사업자등록번호 116-82-00276"), std::vector<std::string>{"brn"});
  EXPECT_EQ(types_in("카드 4111-1111-1111-1111"), std::vector<std::string>{"card"});
  EXPECT_EQ(types_in("여권번호 M123A4567"), std::vector<std::string>{"passport"});
  EXPECT_EQ(types_in("운전면허 11-20-123456-01"), std::vector<std::string>{"driver_license"});
  EXPECT_EQ(types_in("연락처 +82 10 1234 5678"), std::vector<std::string>{"phone"});
  EXPECT_EQ(types_in("mail kim@example.co.kr"), std::vector<std::string>{"email"});
  EXPECT_EQ(types_in("우편번호 06236"), std::vector<std::string>{"postal_code"});
  EXPECT_EQ(types_in("서울특별시 강남구 테헤란로 152"), std::vector<std::string>{"address"});
  EXPECT_EQ(types_in("김민준 과장님께서"), std::vector<std::string>{"person_name"});
  EXPECT_EQ(types_in("key AKIAABCDEFGHIJKLMNOP"), std::vector<std::string>{"secret"});
  EXPECT_EQ(types_in("신한은행 110-123-456789 입금"), std::vector<std::string>{"bank_account"});
}

TEST(ComplyDetect, HardNegatives) {
  EXPECT_TRUE(types_in("2023-01-05 작성, 버전 1.2.3.4 배포").empty());
  EXPECT_TRUE(types_in("사업자등록번호 116-82-00277").empty());       // wrong check digit
  EXPECT_TRUE(types_in("카드 4111-1111-1111-1112").empty());           // fails Luhn
  EXPECT_TRUE(types_in("참가자는 1500-2000명 수준").empty());           // a range
  EXPECT_TRUE(types_in("모델명 M12345678 제품").empty());               // passport shape without context
  EXPECT_TRUE(types_in("110-123-456789").empty());                       // account shape without bank words
  EXPECT_TRUE(types_in("관리번호 991345-1234567").empty());             // not a date
  EXPECT_TRUE(types_in("INV-2023-000123, v10.0.0.1").empty());
}

// The one phone finding in `t`, as written, or "" when there is none or more than one.
static std::string phone_in(const std::string& t) {
  auto f = detect(t);
  if (f.size() != 1 || f[0].type != "phone") return "";
  return t.substr(f[0].start, f[0].end - f[0].start);
}

// Every written form of a Korean number: domestic, international with or without the trunk 0,
// with spaces, dots, dashes, parentheses and full-width signs, glued to Korean particles.
TEST(ComplyDetect, PhoneForms) {
  for (std::string v : {"+82 10 1234 5678", "+82-10-1234-5678", "+82.10.1234.5678", "+82 (0)10-1234-5678",
                        "+82(0)10-1234-5678", "+82(10)1234-5678", "+82 (10) 1234-5678", "+82 010 1234 5678",
                        "+82-010-1234-5678", "+8210-1234-5678", "+821012345678", "+82 10-1234-5678",
                        "+82 1012345678", "＋８２ １０－１２３４－５６７８", "＋８２　１０　１２３４　５６７８",
                        "+82 2 123 4567", "+82-2-1234-5678", "+82 (0)2 123 4567", "+82-31-123-4567", "+82 31 1234 5678",
                        "+82 70 1234 5678", "82-10-1234-5678", "010-1234-5678", "010 1234 5678", "010.1234.5678",
                        "01012345678", "(010) 1234-5678", "(010)1234-5678", "010 1234-5678", "02-123-4567",
                        "(02) 123-4567", "(02)1234-5678", "02)123-4567", "031-123-4567", "(031) 1234-5678",
                        "0505-123-4567", "070-1234-5678", "1588-1234", "０１０－１２３４－５６７８", "010–1234–5678"}) {
    EXPECT_EQ(phone_in("연락처 " + v), v) << v;
    EXPECT_EQ(phone_in("Phone: " + v + "."), v) << v;
  }
  // Start and end of the text, particles, parentheses, colons, abbreviations.
  EXPECT_EQ(phone_in("010-1234-5678로 연락 주세요"), "010-1234-5678");
  EXPECT_EQ(phone_in("번호는010-1234-5678입니다"), "010-1234-5678");
  EXPECT_EQ(phone_in("담당자 연락처(+82 10-1234-5678)"), "+82 10-1234-5678");
  EXPECT_EQ(phone_in("연락처:+82-2-123-4567"), "+82-2-123-4567");
  EXPECT_EQ(phone_in("Tel.010-1234-5678"), "010-1234-5678");
  EXPECT_EQ(phone_in("T. 1588 1234"), "1588 1234");
  EXPECT_EQ(phone_in("Fax +821012345678 2024"), "+821012345678");
  // Not phones: another country, too few digits, a percentage, a score, glued to a code.
  EXPECT_TRUE(types_in("+1 415 555 0123").empty());
  EXPECT_TRUE(types_in("+82 10 1234").empty());
  EXPECT_TRUE(types_in("전년 대비 +82.5% 증가").empty());
  EXPECT_TRUE(types_in("점수 +82점, 82점 10개").empty());
  EXPECT_TRUE(types_in("1588 1234").empty());  // a service number with a space only near phone words
  EXPECT_TRUE(types_in("REF-010-1234-5678").empty());
}

TEST(ComplyDetect, IdentifierForms) {
  EXPECT_EQ(types_in("주민등록번호 900101 1234568"), std::vector<std::string>{"rrn"});
  EXPECT_EQ(types_in("주민번호:9001011234568"), std::vector<std::string>{"rrn"});
  EXPECT_EQ(types_in("9001011234568 (주민등록번호)"), std::vector<std::string>{"rrn"});
  EXPECT_EQ(types_in("주민등록번호는９００１０１－１２３４５６８입니다"), std::vector<std::string>{"rrn"});
  EXPECT_EQ(types_in("사업자등록번호 116 82 00276"), std::vector<std::string>{"brn"});
  EXPECT_EQ(types_in("사업자번호:1168200276"), std::vector<std::string>{"brn"});
  EXPECT_EQ(types_in("카드 4111 1111 1111 1111"), std::vector<std::string>{"card"});
  EXPECT_EQ(types_in("카드번호:4111111111111111"), std::vector<std::string>{"card"});
  EXPECT_EQ(types_in("Amex 3782-822463-10005"), std::vector<std::string>{"card"});
  EXPECT_EQ(types_in("Amex 3782 822463 10005"), std::vector<std::string>{"card"});
  EXPECT_EQ(types_in("card 378282246310005"), std::vector<std::string>{"card"});
  EXPECT_EQ(types_in("운전면허 11 20 123456 01"), std::vector<std::string>{"driver_license"});
  EXPECT_EQ(types_in("112012345601 (운전면허)"), std::vector<std::string>{"driver_license"});
  EXPECT_EQ(types_in("여권({})"s.replace(7, 2, "M12345678")), std::vector<std::string>{"passport"});
  EXPECT_EQ(types_in("신한은행 110 123 456789"), std::vector<std::string>{"bank_account"});
  EXPECT_EQ(types_in("NH농협 계좌번호 3021234567891로 송금"), std::vector<std::string>{"bank_account"});
  EXPECT_EQ(types_in("IP 10.0.0.1/24 차단"), std::vector<std::string>{"ip"});
  EXPECT_EQ(types_in("서버 192.168.0.1:8080 응답"), std::vector<std::string>{"ip"});
  EXPECT_EQ(types_in("ver. 3.2 배포 후 접속 주소(4.176.168.251)"), std::vector<std::string>{"ip"});
  // Loopback, unspecified, broadcast and documentation addresses identify no one.
  for (const char* t : {"서버는 127.0.0.1:8080 에서", "bind 0.0.0.0", "255.255.255.255 broadcast", "IP 192.0.2.17",
                        "IP 198.51.100.7", "IP 203.0.113.250"})
    EXPECT_TRUE(types_in(t).empty()) << t;
  EXPECT_EQ(types_in("보낸 사람 <Kim.Minjun+kr@EXAMPLE.COM>"), std::vector<std::string>{"email"});
  EXPECT_EQ(types_in("우){06236}"s.replace(4, 7, "06236")), std::vector<std::string>{"postal_code"});
  // The nearest label decides.
  EXPECT_EQ(types_in("외국인등록번호 220918 7557368 법인등록번호 119986-8324374").front(), "frn");
  EXPECT_EQ(types_in("주문번호: 90204191792216 M34788652 여권 사본 첨부"), std::vector<std::string>{"passport"});
}

// Hard negatives: dates, times, versions, amounts, ISBNs, barcodes, order, invoice and tracking
// numbers, product codes and coordinates.
TEST(ComplyDetect, HardNegativeFamilies) {
  for (const char* t : {"2024-01-15에 작성됨", "작성일 2024.01.15", "20240115 배포", "2024. 1. 15. 공지", "24.01.15 개정",
                        "Updated 2024/01/15.", "due 15/01/2024", "2024-01-15 14:30:05 기록", "14:30에 시작",
                        "오후 2:30 도착", "T14:30:00Z", "버전 1.2.3.4 배포", "v1.2.3.4 release", "version 10.0.0.1",
                        "ver. 2.1.0.15", "Chrome 120.0.6099.109", "1,234,567원", "₩12,345,678", "합계 1234567890원",
                        "₩1168200276", "$1,234,567.89", "조회수 11682002761회", "ISBN 978-89-1234-567-8",
                        "ISBN 9788912345678", "바코드 8801234567893", "상품코드 8805012512402",
                        "주문번호 20240115-0001234", "주문번호: 2024011512345678", "Order #1168200276 shipped.",
                        "주문번호 4111111111111111 결제 완료", "예약번호 0190064581", "INV-2024-000123 청구서",
                        "운송장번호 123456789012 조회", "송장번호:176102607540 운전면허 안내", "등기번호 7701217402220",
                        "tracking 1Z999AA10123456784", "SKU-2024-00123", "P/N 9562-2221-80 신한은행 안내",
                        "모델 SM-G998N", "좌표 37.5665, 126.9780", "위도 37.566535 경도 126.977969",
                        "GPS 35.1796,129.0756", "참가자는 1500-2000명", "pp. 123-1234"})
    EXPECT_TRUE(types_in(t).empty()) << t << " -> " << (types_in(t).empty() ? "" : types_in(t)[0]);
}

TEST(ComplyDetect, FullWidthOffsetsReferToOriginal) {
  std::string t = "전화 ０１０－１２３４－５６７８ 끝";
  auto f = detect(t);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].type, "phone");
  EXPECT_EQ(t.substr(f[0].start, f[0].end - f[0].start), "０１０－１２３４－５６７８");
}

TEST(ComplyDetect, PostOctober2020RrnWithoutChecksum) {
  // Random trailing digits: still an RRN (date + gender digit), with lower confidence.
  auto f = detect("주민등록번호 211015-3999990");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].type, "rrn");
  EXPECT_LT(f[0].confidence, 0.95);
}

TEST(ComplyNormalize, InvalidUtf8) {
  EXPECT_EQ(find_invalid_utf8("abc 가나다"), std::string::npos);
  EXPECT_EQ(find_invalid_utf8("ab\xff"), 2u);
  EXPECT_EQ(find_invalid_utf8("\xc0\xaf"), 0u);          // overlong
  EXPECT_EQ(find_invalid_utf8("x\xed\xa0\x80"), 1u);     // surrogate
  EXPECT_EQ(find_invalid_utf8("가\xea\xb0"), 3u);         // truncated
}

// Straightforward decoder (code point ranges per RFC 3629) against which the fast scan is checked.
static size_t reference_invalid_utf8(std::string_view t) {
  const auto* s = reinterpret_cast<const unsigned char*>(t.data());
  for (size_t i = 0; i < t.size();) {
    unsigned char c = s[i];
    size_t len = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (len == 0 || i + len > t.size()) return i;
    uint32_t cp = len == 1 ? c : c & (0xFF >> (len + 1));
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return i;
      cp = cp << 6 | (s[i + k] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
      return i;
    i += len;
  }
  return std::string_view::npos;
}

TEST(ComplyNormalize, InvalidUtf8AgreesWithReferenceDecoder) {
  // Boundary sequences, valid and not, spliced between ASCII runs of every length around the
  // 16-byte blocks the scan reads.
  const char* pieces[] = {"a", "ab c", "0123456789abcdefg", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xe0\x9f\xbf",
                          "\xed\x9f\xbf", "\xed\xa0\x80", "\xea\xb0\x80", "\xef\xbf\xbf", "\xf0\x90\x80\x80",
                          "\xf0\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",
                          "\xc0\xaf", "\xc1\xbf", "\x80", "\xbf", "\xff", "\xea\xb0", "\xf0\x90\x80", "\xe2\x28\xa1",
                          "\xc3\x28", "\x7f", "\x00", "가나다라마바사"};
  const size_t npieces = sizeof(pieces) / sizeof(pieces[0]);
  uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<size_t>(state >> 33);
  };
  for (int trial = 0; trial < 20000; ++trial) {
    std::string s;
    size_t parts = next() % 8;
    for (size_t p = 0; p < parts; ++p) {
      s += std::string(next() % 40, 'x');
      std::string_view piece = pieces[next() % npieces];
      if (piece.empty()) piece = std::string_view("\0", 1);
      s += piece;
    }
    // Sometimes cut the text anywhere, leaving a truncated sequence at the end.
    if (next() % 4 == 0 && !s.empty()) s.resize(next() % s.size());
    ASSERT_EQ(find_invalid_utf8(s), reference_invalid_utf8(s)) << trial;
  }
}

TEST(ComplyTransform, MaskKeepsFormat) {
  EXPECT_EQ(mask_value("rrn", "900101-1234568"), "900101-1******");
  EXPECT_EQ(mask_value("phone", "010-1234-5678"), "010-****-5678");
  EXPECT_EQ(mask_value("card", "4111 1111 1111 1111"), "4111 **** **** 1111");
  EXPECT_EQ(mask_value("email", "kim@example.com"), "k**@example.com");
  EXPECT_EQ(mask_value("person_name", "김민준"), "김**");
  EXPECT_EQ(mask_value("rrn", "９００１０１－１２３４５６８"), "９００１０１－１******");
  // International phones keep the country and carrier codes and the last four digits.
  EXPECT_EQ(mask_value("phone", "+82 10-1234-5678"), "+82 10-****-5678");
  EXPECT_EQ(mask_value("phone", "+82 (0)10-1234-5678"), "+82 (0)10-****-5678");
  EXPECT_EQ(mask_value("phone", "+82 2 123 4567"), "+82 2 *** 4567");
  EXPECT_EQ(mask_value("phone", "+821012345678"), "+82******5678");
  EXPECT_EQ(mask_value("phone", "＋８２ １０－１２３４－５６７８"), "＋８２ １０－****－５６７８");
  EXPECT_EQ(mask_value("phone", "02) 123-4567"), "02) ***-4567");
}

// Any written form of one number gives one pseudonym.
TEST(ComplyTransform, PseudonymSameForEveryPhoneForm) {
  std::string a = pseudonym("k", "phone", "010-1234-5678");
  for (const char* v : {"01012345678", "010 1234 5678", "010.1234.5678", "(010) 1234-5678", "+82 10 1234 5678",
                        "+82-10-1234-5678", "+82.10.1234.5678", "+82 (0)10-1234-5678", "+82(10)1234-5678",
                        "+82 010 1234 5678", "+8210-1234-5678", "+821012345678", "82-10-1234-5678",
                        "＋８２ １０－１２３４－５６７８"})
    EXPECT_EQ(pseudonym("k", "phone", v), a) << v;
  std::string seoul = pseudonym("k", "phone", "02-123-4567");
  for (const char* v : {"(02) 123-4567", "+82 2 123 4567", "+82 (0)2-123-4567", "+82-2-123-4567", "021234567"})
    EXPECT_EQ(pseudonym("k", "phone", v), seoul) << v;
  EXPECT_EQ(pseudonym("k", "phone", "+82 1588 1234"), pseudonym("k", "phone", "1588-1234"));
  EXPECT_NE(pseudonym("k", "phone", "+82 10 1234 5679"), a);
  // Pseudonymising text: both forms of the same number become the same token.
  std::string text = "연락처 +82 (0)10-1234-5678 또는 010-1234-5678";
  EXPECT_EQ(apply_action(text, detect(text), Action::Pseudonymize, "k"), "연락처 " + a + " 또는 " + a);
  for (const char* v : {"900101 1234568", "9001011234568", "９００１０１－１２３４５６８"})
    EXPECT_EQ(pseudonym("k", "rrn", v), pseudonym("k", "rrn", "900101-1234568")) << v;
  EXPECT_EQ(pseudonym("k", "card", "3782 822463 10005"), pseudonym("k", "card", "378282246310005"));
}

TEST(ComplyTransform, PseudonymIsStableAndKeyed) {
  std::string a = pseudonym("k1", "phone", "010-1234-5678");
  EXPECT_EQ(a, pseudonym("k1", "phone", "01012345678"));
  EXPECT_EQ(a, pseudonym("k1", "phone", "０１０－１２３４－５６７８"));
  EXPECT_NE(a, pseudonym("k2", "phone", "010-1234-5678"));
  std::string text = "연락처 010-1234-5678";
  std::string out = apply_action(text, detect(text), Action::Pseudonymize, "k1");
  EXPECT_EQ(out, "연락처 " + a);
  EXPECT_EQ(out.find("k1"), std::string::npos);
  EXPECT_THROW(apply_action(text, detect(text), Action::Pseudonymize, ""), Error);
  EXPECT_THROW(parse_action("erase"), Error);
}

TEST(ComplyLicense, DecisionsTraceToCard) {
  Policy p = default_policy();
  SourceCard c;
  c.name = "news";
  c.path = "cards/news.json";
  c.license = "CC-BY-4.0";
  c.commercial_use = "allowed";
  auto d = screen_license(&c, std::nullopt, p);
  EXPECT_EQ(d.status, "pass");
  EXPECT_EQ(d.card, "cards/news.json");
  EXPECT_EQ(screen_license(nullptr, std::string("MIT"), p).status, "quarantine");
  c.license = "";
  EXPECT_EQ(screen_license(&c, std::nullopt, p).status, "quarantine");
  c.license = "CC-BY-NC-4.0";
  EXPECT_EQ(screen_license(&c, std::nullopt, p).status, "deny");
  c.license = "GPL-3.0-only";  // not in the allow list: held, not passed
  EXPECT_EQ(screen_license(&c, std::nullopt, p).status, "quarantine");
  c.license = "CC-BY-4.0";
  c.commercial_use = "unknown";
  EXPECT_EQ(screen_license(&c, std::nullopt, p).status, "quarantine");
  c.art7_category = "court_decision";  // Art. 7: unprotected regardless
  EXPECT_EQ(screen_license(&c, std::nullopt, p).status, "pass");
  c.art7_category = "";
  c.license = "";
  c.author_death_year = 1950;
  EXPECT_EQ(screen_license(&c, std::nullopt, p).status, "pass");
  c.author_death_year = 1980;
  EXPECT_EQ(screen_license(&c, std::nullopt, p).status, "quarantine");
  c.license = "CC-BY-4.0";
  c.commercial_use = "allowed";
  c.redistribution = json::array({{{"name", "mirror"}, {"license", "CC-BY-NC-4.0"}}});
  EXPECT_EQ(screen_license(&c, std::nullopt, p).status, "deny");
}

TEST(ComplyYaml, SubsetParsesCards) {
  json j = parse_yaml_lite(
      "# card\nname: web-ko\nlicense: \"CC-BY-4.0\"\ncommercial_use: true\nauthor_death_year: 1931\n"
      "redistribution:\n  - name: mirror\n    license: CC-BY-4.0\n  - original crawl\ntags: [a, 'b c']\n",
      "card.yaml");
  EXPECT_EQ(j["name"], "web-ko");
  EXPECT_EQ(j["license"], "CC-BY-4.0");
  EXPECT_EQ(j["commercial_use"], true);
  EXPECT_EQ(j["author_death_year"], 1931);
  EXPECT_EQ(j["redistribution"][0]["license"], "CC-BY-4.0");
  EXPECT_EQ(j["redistribution"][1], "original crawl");
  EXPECT_EQ(j["tags"][1], "b c");
  EXPECT_THROW(parse_yaml_lite("a: 1\na: 2\n", "x.yaml"), Error);
  EXPECT_THROW(parse_yaml_lite("a: &anchor 1\n", "x.yaml"), Error);
  EXPECT_THROW(parse_yaml_lite("just text\n", "x.yaml"), Error);
}

TEST(ComplyDedup, ExactAndNear) {
  std::string a = "EXAONE는 LG AI연구원이 개발한 대규모 언어 모델입니다. 한국어와 영어를 모두 잘 처리하며 긴 문맥을 지원합니다. "
                  "이 문서는 중복 탐지 시험을 위한 예시 문장들로 이루어져 있습니다.";
  std::string b = a + " 마지막 문장만 조금 다릅니다.";
  std::string c = "Completely different text about weather and cooking recipes, nothing in common at all here.";
  DedupConfig cfg;
  Deduper d(cfg);
  auto sig = [&](const std::string& t) { return minhash_signature(dedup_normalize(t), cfg.num_perm); };
  auto key = [&](const std::string& t) { return exact_key(dedup_normalize(t)); };
  EXPECT_EQ(d.add(0, key(a), sig(a)).exact_of, -1);
  EXPECT_EQ(d.add(1, key("  " + a + "\n"), sig(a)).exact_of, 0);  // whitespace-only change
  auto m = d.add(2, key(b), sig(b));
  EXPECT_EQ(m.exact_of, -1);
  EXPECT_EQ(m.near_of, 0);
  EXPECT_GE(m.similarity, 0.8);
  EXPECT_EQ(d.add(3, key(c), sig(c)).near_of, -1);
}

namespace {
// Exact Jaccard similarity of two texts' code-point 5-gram sets (after dedup_normalize): the
// quantity MinHash estimates, computed the slow obvious way.
std::set<std::string> shingles(const std::string& text) {
  std::string t = dedup_normalize(text);
  std::vector<size_t> starts;
  for (size_t i = 0; i < t.size(); i += utf8_len(static_cast<unsigned char>(t[i]))) starts.push_back(i);
  starts.push_back(t.size());
  std::set<std::string> out;
  if (starts.size() - 1 < 5) out.insert(t);
  for (size_t i = 0; i + 5 < starts.size(); ++i) out.insert(t.substr(starts[i], starts[i + 5] - starts[i]));
  return out;
}
double jaccard(const std::set<std::string>& a, const std::set<std::string>& b) {
  size_t both = 0;
  for (auto& s : a) both += b.count(s);
  return static_cast<double>(both) / static_cast<double>(a.size() + b.size() - both);
}
}  // namespace

// Planted near duplicates (a few words edited, true Jaccard >= 0.9) are found at the default
// threshold; unrelated documents of the same vocabulary are not flagged.
// The byte-at-a-time folding dedup_normalize is defined by.
static std::string reference_dedup_normalize(std::string_view text) {
  NormalizedText norm(text);
  std::string out;
  bool space = false;
  for (char c : norm.text()) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return out;
}

TEST(ComplyDedup, NormalizeAgreesWithReference) {
  const char* pieces[] = {" ", "  ", "\t", "\n", "\r\n", "\x01", "\x1f", "!", "@[`{", "AZ", "Hello World", "az09",
                          "가나다", "ＡＢＣ", "\xc2\xa0", "－", "\x7f", "\xff", "0123456789ABCDEFGHIJ"};
  const size_t npieces = sizeof(pieces) / sizeof(pieces[0]);
  uint64_t state = 777;
  auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<size_t>(state >> 33);
  };
  for (int trial = 0; trial < 5000; ++trial) {
    std::string s;
    size_t parts = next() % 24;
    for (size_t p = 0; p < parts; ++p) s += pieces[next() % npieces];
    ASSERT_EQ(dedup_normalize(s), reference_dedup_normalize(s)) << trial;
  }
}

// Exact keys and signatures are saved in scan state files and compared across resumes: any
// change to their values must come with a new kMinhashScheme. Pinned values from the first
// implementation.
TEST(ComplyDedup, KeysAndSignaturesAreStable) {
  ExactKey k = exact_key(dedup_normalize("오늘 날씨는 맑음. 주문번호 20230815-0012345"));
  EXPECT_EQ(k.a, 0x4f8e52793e829448ull);
  EXPECT_EQ(k.b, 0xeb457d2bb509d065ull);
  EXPECT_EQ(exact_key("exactly8").a, 0xec8e6235ebefc6efull);
  EXPECT_EQ(exact_key("").b, 0xea3a509abd6b38a1ull);
  auto fnv = [](const std::vector<uint32_t>& sig) {
    uint64_t h = 1469598103934665603ull;
    for (uint32_t v : sig) h = (h ^ v) * 1099511628211ull;
    return h;
  };
  EXPECT_EQ(fnv(minhash_signature(dedup_normalize("abc"), 128)), 0xf84d71d17aced183ull);
  EXPECT_EQ(fnv(minhash_signature(
                dedup_normalize("오늘 날씨는 맑음. 주문번호 20230815-0012345 The Committee Reviewed the draft 😀 é"), 128)),
            0xd66abe34dee882f7ull);
}

TEST(ComplyDedup, NearDuplicateRecallAtConfiguredThreshold) {
  const char* words[] = {"모델", "학습", "데이터", "한국어", "영어", "문맥", "추론", "평가", "결과", "연구",
                         "model", "training", "data", "context", "result", "score", "token", "layer",
                         "은", "는", "이", "가", "을", "를", "에서", "으로", "및", "the", "of", "and", "2024", "3.5"};
  const size_t nw = sizeof(words) / sizeof(words[0]);
  uint64_t state = 88172645463325252ull;
  auto rnd = [&] {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return state;
  };
  DedupConfig cfg;  // threshold 0.8, 128 values
  Deduper d(cfg);
  uint64_t ordinal = 0;
  int planted = 0, found = 0, unrelated = 0, false_pos = 0;
  double min_planted_j = 1;
  for (int doc = 0; doc < 150; ++doc) {
    std::vector<std::string> toks;
    size_t n = 150 + rnd() % 500;
    for (size_t i = 0; i < n; ++i) toks.push_back(words[rnd() % nw] + std::to_string(rnd() % 50));
    auto join = [](const std::vector<std::string>& v) {
      std::string s;
      for (auto& w : v) s += w + " ";
      return s;
    };
    std::string a = join(toks);
    std::vector<std::string> edited = toks;
    for (size_t e = 0; e < std::max<size_t>(1, n / 40); ++e) edited[rnd() % n] = "편집" + std::to_string(rnd() % 1000);
    std::string b = join(edited);
    auto sig = [&](const std::string& t) { return minhash_signature(dedup_normalize(t), cfg.num_perm); };
    auto ma = d.add(ordinal++, exact_key(dedup_normalize(a)), sig(a));
    ++unrelated;
    false_pos += ma.near_of >= 0;
    double j = jaccard(shingles(a), shingles(b));
    if (j < 0.9) continue;  // only clear near duplicates count for recall
    min_planted_j = std::min(min_planted_j, j);
    auto mb = d.add(ordinal++, exact_key(dedup_normalize(b)), sig(b));
    ++planted;
    found += mb.near_of == static_cast<int64_t>(ordinal - 2);
  }
  double recall = static_cast<double>(found) / planted;
  std::printf("near-dup recall %.3f (%d/%d planted, Jaccard >= %.3f); false positives %d/%d\n", recall, found,
              planted, min_planted_j, false_pos, unrelated);
  ASSERT_GE(planted, 100);
  EXPECT_GE(recall, 0.98);
  EXPECT_LE(false_pos, unrelated / 100);
}

// The signature estimates Jaccard without bias: mean absolute error against the exact value
// over pairs spread from 0.3 to 1 stays within what 128 values allow (sd <= 0.045).
TEST(ComplyDedup, SignatureEstimatesJaccard) {
  uint64_t state = 0x9E3779B97F4A7C15ull;
  auto rnd = [&] {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return state;
  };
  double err = 0;
  int pairs = 0;
  for (int p = 0; p < 60; ++p) {
    std::string a, b;
    size_t n = 80 + rnd() % 400;
    int edit_every = 2 + p % 12;
    for (size_t i = 0; i < n; ++i) {
      std::string w = "가나다라마바사아자차카타파하"s.substr(3 * (rnd() % 14), 3) + std::to_string(rnd() % 100);
      a += w + " ";
      b += (i % edit_every == 0 ? "x" + std::to_string(rnd()) : w) + " ";
    }
    double j = jaccard(shingles(a), shingles(b));
    auto sa = minhash_signature(dedup_normalize(a), 128), sb = minhash_signature(dedup_normalize(b), 128);
    err += std::fabs(signature_similarity(sa.data(), sb.data(), 128) - j);
    ++pairs;
  }
  double mae = err / pairs;
  std::printf("MinHash mean absolute error %.4f over %d pairs\n", mae, pairs);
  EXPECT_LT(mae, 0.045);
  // Short texts (fewer code points than one shingle) and empty text still give full signatures.
  EXPECT_EQ(minhash_signature("", 128).size(), 128u);
  auto x = minhash_signature("abc", 128), y = minhash_signature("abc", 128), z = minhash_signature("abd", 128);
  EXPECT_EQ(x, y);
  EXPECT_NE(x, z);
}

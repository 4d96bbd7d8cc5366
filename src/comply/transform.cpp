#include "comply/transform.h"

#include <cstring>

#include "comply/normalize.h"
#include "comply/sha256.h"
#include "util/error.h"

namespace exaone::comply {

Action parse_action(const std::string& name) {
  if (name == "report") return Action::Report;
  if (name == "mask") return Action::Mask;
  if (name == "pseudonymize" || name == "pseudonymise") return Action::Pseudonymize;
  if (name == "drop") return Action::Drop;
  fail("--action: unknown action '" + name + "' (expected report, mask, pseudonymize or drop)");
}

const char* action_name(Action a) {
  switch (a) {
    case Action::Report: return "report";
    case Action::Mask: return "mask";
    case Action::Pseudonymize: return "pseudonymize";
    case Action::Drop: return "drop";
  }
  return "?";
}

namespace {
struct CodePoint {
  size_t pos, len;
  bool digit, alpha, space;
};

std::vector<CodePoint> code_points(std::string_view v) {
  std::vector<CodePoint> out;
  for (size_t i = 0; i < v.size();) {
    auto c = static_cast<unsigned char>(v[i]);
    size_t len = std::min(utf8_len(c), v.size() - i);
    CodePoint cp{i, len, false, false, false};
    if (len == 1) {
      cp.digit = c >= '0' && c <= '9';
      cp.alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
      cp.space = c == ' ' || c == '\n' || c == '\t';
    } else if (len == 3 && c == 0xEF) {  // full-width digits and letters
      auto c1 = static_cast<unsigned char>(v[i + 1]), c2 = static_cast<unsigned char>(v[i + 2]);
      cp.digit = c1 == 0xBC && c2 >= 0x90 && c2 <= 0x99;
      cp.alpha = (c1 == 0xBC && c2 >= 0xA1 && c2 <= 0xBA) || (c1 == 0xBD && c2 >= 0x81 && c2 <= 0x9A);
    } else if (len == 3 && c >= 0xEA && c <= 0xED) {
      cp.alpha = true;  // Hangul syllables count as letters of a name or address
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}
}  // namespace

std::string mask_value(std::string_view type, std::string_view value) {
  auto cps = code_points(value);
  std::string out;
  out.reserve(value.size());
  auto keep = [&](const CodePoint& c) { out.append(value.substr(c.pos, c.len)); };

  if (type == "email") {
    size_t at = value.find('@');
    for (const auto& c : cps) {
      if (c.pos == 0 || c.pos >= at) keep(c);
      else out.push_back('*');
    }
    return out;
  }
  if (type == "person_name") {  // keep the first letter of each word (the surname in Korean)
    bool word_start = true;
    for (const auto& c : cps) {
      if (c.space || (c.len == 1 && !c.alpha)) {
        keep(c);
        word_start = true;
      } else if (word_start) {
        keep(c);
        word_start = false;
      } else {
        out.push_back('*');
      }
    }
    return out;
  }
  if (type == "secret") {
    if (value.compare(0, 5, "-----") == 0) return "-----BEGIN PRIVATE KEY-----\n***\n-----END PRIVATE KEY-----";
    for (size_t k = 0; k < cps.size(); ++k) {
      if (k < 4) keep(cps[k]);
      else out.push_back(cps[k].alpha || cps[k].digit ? '*' : value[cps[k].pos]);
    }
    return out;
  }
  if (type == "address") {  // keep the area names, hide house numbers and unit details
    for (const auto& c : cps) {
      if (c.digit) out.push_back('*');
      else keep(c);
    }
    return out;
  }
  // Numeric identifiers: keep separators; keep a type-specific prefix (and suffix) of digits.
  size_t ndig = 0;
  for (const auto& c : cps) ndig += (c.digit || c.alpha);
  size_t keep_head = 0, keep_tail = 0;
  if (type == "rrn" || type == "frn") keep_head = 7;
  else if (type == "brn") keep_head = 3;
  else if (type == "card") keep_head = 4, keep_tail = 4;
  else if (type == "phone") {
    // The area or carrier code and the last four digits stay: "010-****-5678",
    // "+82 10-****-5678", "+82 (0)10-****-5678". Digit runs are split by any non-digit.
    std::vector<std::pair<size_t, char>> runs;  // length and first digit of each run
    bool in_run = false;
    for (const auto& c : cps) {
      if (c.digit) {
        if (!in_run) {
          char first = c.len == 1 ? value[c.pos] : static_cast<char>('0' + (static_cast<unsigned char>(value[c.pos + 2]) - 0x90));
          runs.push_back({0, first});
        }
        ++runs.back().first;
      }
      in_run = c.digit;
    }
    bool intl = value.starts_with("+") || value.starts_with("\xEF\xBC\x8B") ||  // '+' or full-width '＋'
                (!runs.empty() && runs[0].first == 2 && runs[0].second == '8');   // "82-10-…"
    size_t r = 0;
    if (!runs.empty()) keep_head = runs[r++].first;
    if (intl && keep_head == 2 && r < runs.size()) {  // "+82", then the code, after a "(0)" if written
      if (runs[r].first == 1 && runs[r].second == '0' && r + 1 < runs.size()) keep_head += runs[r++].first;
      keep_head += runs[r].first;
    }
    if (intl ? keep_head + 4 >= ndig : keep_head >= ndig) keep_head = intl ? 2 : 3;  // contiguous digits
    keep_tail = 4;
  } else if (type == "ip") {
    for (const auto& c : cps) {
      if (!c.digit) break;
      ++keep_head;
    }
  }
  size_t idx = 0;
  for (const auto& c : cps) {
    if (c.digit || c.alpha) {
      if (idx < keep_head || idx + keep_tail >= ndig) keep(c);
      else out.push_back('*');
      ++idx;
    } else {
      keep(c);
    }
  }
  return out;
}

std::string canonical_value(std::string_view type, std::string_view value) {
  NormalizedText norm(value);
  std::string_view v = norm.text();
  std::string out;
  if (type == "email" || type == "secret" || type == "person_name" || type == "address") {
    bool space = false;
    for (char c : v) {
      if (c == ' ' || c == '\n' || c == '\t') {
        space = !out.empty();
        continue;
      }
      if (space) out.push_back(' ');
      space = false;
      out.push_back(type == "email" && c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
    }
    return out;
  }
  for (char c : v)
    if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) out.push_back(c);
  // International forms ("+82 10…", "+82 (0)10…", "+82 010…", "82-10-…") become the domestic
  // number, so every written form of one phone gives one pseudonym. Domestic numbers never start
  // with 8.
  if (type == "phone" && out.compare(0, 2, "82") == 0) {
    std::string rest = out.substr(2);
    bool service = rest.size() == 8 && rest[0] == '1' && (rest[1] == '5' || rest[1] == '6' || rest[1] == '8');
    out = rest.starts_with("0") || service ? rest : "0" + rest;
  }
  return out;
}

std::string pseudonym(std::string_view key, std::string_view type, std::string_view value) {
  std::string msg(type);
  msg += '\0';
  msg += canonical_value(type, value);
  auto mac = hmac_sha256(key, msg);
  return "[" + std::string(type) + ":" + to_hex(mac.data(), 8) + "]";
}

std::string apply_action(std::string_view text, const std::vector<Finding>& findings, Action action,
                         std::string_view key) {
  if (action == Action::Report || findings.empty()) return std::string(text);
  if (action == Action::Pseudonymize && key.empty()) fail("pseudonymize: no key given (use --key-file or EXAONE_COMPLY_KEY)");
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  for (const auto& f : findings) {
    if (f.start < pos || f.end > text.size()) continue;  // defensive: findings must be sorted and disjoint
    out.append(text.substr(pos, f.start - pos));
    std::string_view v = text.substr(f.start, f.end - f.start);
    out += action == Action::Pseudonymize ? pseudonym(key, f.type, v) : mask_value(f.type, v);
    pos = f.end;
  }
  out.append(text.substr(pos));
  return out;
}

}  // namespace exaone::comply

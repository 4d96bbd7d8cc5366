// Personal-data and secret detectors (issue 5, spec users-and-ecosystem.md §D).
// One pass over normalised text finds Korean identifiers (RRN, FRN, BRN, corporate number,
// passport, driver's licence, bank account), payment cards, phones, e-mail, IPv4, postal codes,
// addresses, person names and secrets. Offsets are bytes into the ORIGINAL UTF-8 text.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace exaone::comply {

class NormalizedText;

// Bumped whenever a rule changes what is found; recorded in every manifest line.
inline constexpr const char* kRulesVersion = "comply-rules/1.1";

struct Finding {
  std::string_view type;  // one of finding_types(); points at static storage
  size_t start = 0;       // byte offsets into the original text, [start, end)
  size_t end = 0;
  double confidence = 0;
  std::string_view rule;  // which rule fired, e.g. "rrn.checksum"
};

struct DetectOptions {
  double min_confidence = 0.5;  // weaker candidates are discarded
};

// The type names, exactly as written into manifests and reports.
const std::vector<std::string>& finding_types();

std::vector<Finding> detect(std::string_view text, const DetectOptions& opts = {});
std::vector<Finding> detect(const NormalizedText& norm, const DetectOptions& opts = {});

// Validators on plain digit strings (exposed for tests and for the evaluation tooling).
bool rrn_date_valid(std::string_view d13);    // YYMMDD + gender/century digit
bool rrn_checksum_ok(std::string_view d13);   // pre-Oct-2020 check digit
bool frn_checksum_ok(std::string_view d13);   // legacy foreigner check digit (RRN rule + 2)
bool brn_valid(std::string_view d10);         // structure + check digit
bool crn_checksum_ok(std::string_view d13);   // corporate registration number check digit
bool luhn_ok(std::string_view digits);
bool card_iin_plausible(std::string_view digits);

}  // namespace exaone::comply

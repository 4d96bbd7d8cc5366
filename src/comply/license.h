// Licence screen: source cards (one per source) and a policy decide whether a document may be
// used. Every decision names the card it came from; an unknown or missing licence quarantines
// the document, it never passes silently.
#pragma once
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "util/json_file.h"

namespace exaone::comply {

struct SourceCard {
  std::string name;            // the source name documents refer to
  std::string path;            // file the card was read from (the decision's trace)
  std::string license;         // SPDX id ("" = not declared)
  std::string origin;          // URL or description
  json redistribution = json::array();  // chain: strings or {name, license}
  std::string commercial_use = "unknown";  // "allowed" | "denied" | "unknown"
  std::optional<int> author_death_year;
  std::string art7_category;   // Copyright Act Art. 7 category, e.g. "statute", "court_decision"
};

struct Policy {
  std::string path = "(built-in default)";
  std::set<std::string> allow, deny;
  bool require_commercial_use = true;
  std::set<std::string> public_domain_categories;  // Art. 7 categories treated as unprotected
  std::optional<int> public_domain_death_year;     // authors who died in or before this year are PD
  int drop_threshold = 0;       // --action drop removes documents with more findings than this
  double min_confidence = 0.5;  // findings below are ignored
};

Policy default_policy();
Policy load_policy(const std::string& path);  // JSON or YAML; Error naming the field on bad input
SourceCard load_card(const std::string& path);

struct LicenseDecision {
  std::string status;   // "pass" | "quarantine" | "deny"
  std::string reason;
  std::string license;  // effective licence
  std::string card;     // card path, or "" when none
};

LicenseDecision screen_license(const SourceCard* card, const std::optional<std::string>& doc_license,
                               const Policy& policy);

}  // namespace exaone::comply

#include "comply/license.h"

#include "comply/yaml_lite.h"
#include "util/error.h"

namespace exaone::comply {

Policy default_policy() {
  Policy p;
  p.allow = {"CC0-1.0", "CC-BY-4.0", "CC-BY-3.0", "CC-BY-SA-4.0", "CC-BY-SA-3.0", "MIT", "Apache-2.0",
             "BSD-2-Clause", "BSD-3-Clause", "ODC-By-1.0", "PDDL-1.0", "Unlicense", "KOGL-Type1",
             "LicenseRef-PublicDomain"};
  p.deny = {"CC-BY-NC-4.0", "CC-BY-NC-SA-4.0", "CC-BY-NC-ND-4.0", "CC-BY-ND-4.0", "LicenseRef-Proprietary"};
  p.require_commercial_use = true;
  p.public_domain_categories = {"statute", "court_decision", "government_notice"};
  p.public_domain_death_year = 1962;  // Korean term: authors who died in or before 1962 are PD
  return p;
}

namespace {
std::set<std::string> string_set(const json& j, const std::string& key, const std::string& where) {
  std::set<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_array()) fail(where + ": field '" + key + "': expected a list of strings");
  for (size_t i = 0; i < it->size(); ++i) {
    if (!(*it)[i].is_string()) fail(where + ": field '" + key + "[" + std::to_string(i) + "]': expected string");
    out.insert((*it)[i].get<std::string>());
  }
  return out;
}
}  // namespace

Policy load_policy(const std::string& path) {
  json j = read_structured_file(path);
  if (!j.is_object()) fail(path + ": expected a mapping at the top level");
  static const std::set<std::string> known = {"allow", "deny", "require_commercial_use", "public_domain_categories",
                                              "public_domain_death_year", "drop_threshold", "min_confidence"};
  for (auto& [k, v] : j.items())
    if (!known.count(k)) fail(path + ": unknown field '" + k + "'");
  Policy p = default_policy();
  p.path = path;
  if (j.contains("allow")) p.allow = string_set(j, "allow", path);
  if (j.contains("deny")) p.deny = string_set(j, "deny", path);
  if (auto v = opt_bool(j, "require_commercial_use", path)) p.require_commercial_use = *v;
  if (j.contains("public_domain_categories")) p.public_domain_categories = string_set(j, "public_domain_categories", path);
  if (j.contains("public_domain_death_year")) {
    auto v = opt_int(j, "public_domain_death_year", path);
    p.public_domain_death_year = v ? std::optional<int>(static_cast<int>(*v)) : std::nullopt;
  }
  if (auto v = opt_int(j, "drop_threshold", path)) {
    if (*v < 0) fail(path + ": field 'drop_threshold': must be >= 0");
    p.drop_threshold = static_cast<int>(*v);
  }
  if (auto v = opt_number(j, "min_confidence", path)) {
    if (*v < 0 || *v > 1) fail(path + ": field 'min_confidence': must be within 0..1");
    p.min_confidence = *v;
  }
  for (const auto& id : p.allow)
    if (p.deny.count(id)) fail(path + ": licence '" + id + "' is both allowed and denied");
  return p;
}

SourceCard load_card(const std::string& path) {
  json j = read_structured_file(path);
  if (!j.is_object()) fail(path + ": expected a mapping at the top level");
  SourceCard c;
  c.path = path;
  auto name = opt_string(j, "name", path);
  if (!name || name->empty()) fail(path + ": field 'name': required");
  c.name = *name;
  c.license = opt_string(j, "license", path).value_or("");
  c.origin = opt_string(j, "origin", path).value_or("");
  if (j.contains("redistribution") && !j["redistribution"].is_null()) {
    if (!j["redistribution"].is_array()) fail(path + ": field 'redistribution': expected a list");
    c.redistribution = j["redistribution"];
  }
  if (j.contains("commercial_use") && !j["commercial_use"].is_null()) {
    const json& v = j["commercial_use"];
    if (v.is_boolean()) c.commercial_use = v.get<bool>() ? "allowed" : "denied";
    else if (v.is_string() && (v == "allowed" || v == "denied" || v == "unknown")) c.commercial_use = v.get<std::string>();
    else fail(path + ": field 'commercial_use': expected true, false, \"allowed\", \"denied\" or \"unknown\"");
  }
  if (auto v = opt_int(j, "author_death_year", path)) c.author_death_year = static_cast<int>(*v);
  c.art7_category = opt_string(j, "art7_category", path).value_or("");
  return c;
}

namespace {
bool unknown_license(const std::string& id) {
  return id.empty() || id == "unknown" || id == "UNKNOWN" || id == "NOASSERTION" || id == "NONE" || id == "other";
}

// Checks one SPDX id against the policy: empty string when fine, else (status, reason).
std::pair<std::string, std::string> check_id(const std::string& id, const Policy& p, const std::string& what) {
  if (unknown_license(id)) return {"quarantine", what + " licence is missing or unknown"};
  if (p.deny.count(id)) return {"deny", what + " licence " + id + " is denied by policy"};
  if (!p.allow.count(id)) return {"quarantine", what + " licence " + id + " is not in the policy's allow list"};
  return {"", ""};
}
}  // namespace

LicenseDecision screen_license(const SourceCard* card, const std::optional<std::string>& doc_license,
                               const Policy& p) {
  LicenseDecision d;
  d.license = doc_license.value_or(card ? card->license : "");
  if (!card) {
    d.status = "quarantine";
    d.reason = "no source card";
    return d;
  }
  d.card = card->path;
  // Public domain first: Art. 7 works and expired terms need no licence.
  if (!card->art7_category.empty() && p.public_domain_categories.count(card->art7_category)) {
    d.status = "pass";
    d.reason = "public domain: Copyright Act Art. 7 (" + card->art7_category + ")";
    if (d.license.empty()) d.license = "LicenseRef-PublicDomain";
    return d;
  }
  if (card->author_death_year && p.public_domain_death_year && *card->author_death_year <= *p.public_domain_death_year) {
    d.status = "pass";
    d.reason = "public domain: author died in " + std::to_string(*card->author_death_year);
    if (d.license.empty()) d.license = "LicenseRef-PublicDomain";
    return d;
  }
  auto [st, why] = check_id(card->license, p, "source card");
  if (st.empty() && doc_license && *doc_license != card->license) std::tie(st, why) = check_id(*doc_license, p, "document");
  if (!st.empty()) {
    d.status = st;
    d.reason = why;
    return d;
  }
  // Every link of the redistribution chain must also be acceptable.
  for (size_t i = 0; i < card->redistribution.size(); ++i) {
    const json& link = card->redistribution[i];
    if (!link.is_object() || !link.contains("license")) continue;  // a plain description carries no licence
    std::string id = link["license"].is_string() ? link["license"].get<std::string>() : "";
    auto [s2, w2] = check_id(id, p, "redistribution step " + std::to_string(i + 1));
    if (!s2.empty()) {
      d.status = s2;
      d.reason = w2;
      return d;
    }
  }
  if (p.require_commercial_use && card->commercial_use != "allowed") {
    d.status = card->commercial_use == "denied" ? "deny" : "quarantine";
    d.reason = "commercial use is " + card->commercial_use + " and the policy requires it";
    return d;
  }
  d.status = "pass";
  d.reason = "licence " + d.license + " allowed";
  return d;
}

}  // namespace exaone::comply

#include "comply/report.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <utility>

#include "comply/detect.h"
#include "comply/normalize.h"
#include "util/error.h"

namespace exaone::comply {

namespace {
constexpr size_t kListCap = 500;  // rows kept per list in the report; counts stay exact

// `s` as it reads back from the manifest: json::dump writes invalid UTF-8 as U+FFFD, and the
// report has always been built from what the manifest says.
std::string_view as_written(std::string_view s, std::string& storage) {
  if (find_invalid_utf8(s) == std::string_view::npos) return s;
  storage = json::parse(json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace)).get<std::string>();
  return storage;
}

void bump(std::map<std::string, uint64_t, std::less<>>& counts, std::string_view key, uint64_t by = 1) {
  auto it = counts.find(key);
  if (it == counts.end()) it = counts.emplace(std::string(key), 0).first;
  it->second += by;
}

json object_of(const std::map<std::string, uint64_t, std::less<>>& counts) {
  json j = json::object();
  for (auto& [k, v] : counts) j[k] = v;
  return j;
}

void read_counts(const json& j, std::map<std::string, uint64_t, std::less<>>& counts) {
  counts.clear();
  for (auto& [k, v] : j.items()) counts.emplace(k, v.get<uint64_t>());
}
}  // namespace

uint32_t ReportTally::Clusters::intern(std::string_view id) {
  auto [it, added] = number.emplace(std::string(id), static_cast<uint32_t>(ids.size()));
  if (added) {
    ids.emplace_back(id);
    parent.push_back(it->second);
    kind.push_back(-1);
  }
  return it->second;
}

uint32_t ReportTally::Clusters::find(uint32_t x) {
  uint32_t root = x;
  while (parent[root] != root) root = parent[root];
  while (parent[x] != root) x = std::exchange(parent[x], root);  // path compression
  return root;
}

void ReportTally::add_document(const Document& d, const std::vector<Finding>& findings) {
  std::string id_buf, source_buf, license_buf, status_buf, reason_buf;
  std::string_view source = as_written(d.source, source_buf);
  if (source.empty()) source = "(none)";
  ++documents_;
  bump(decisions_, d.decision);
  bump(documents_by_source_, source);
  if (d.decision != "error") {
    ++text_documents_;
    std::string_view license = as_written(d.license, license_buf);
    bump(licenses_, license.empty() ? "(none)" : license);
    bump(license_status_, as_written(d.license_status, status_buf));
  }
  if (!findings.empty()) {
    ++with_findings_;
    auto src = by_source_.find(source);
    if (src == by_source_.end()) src = by_source_.emplace(std::string(source), Counts()).first;
    for (const Finding& f : findings) {
      bump(by_type_, f.type);
      bump(src->second, f.type);
    }
  }
  if (d.duplicate == Duplicate::Exact) ++exact_;
  if (d.duplicate == Duplicate::Near) ++near_;
  bool quarantine = d.decision == "quarantine" && quarantined_.size() < kListCap;
  bool error = d.decision == "error" && errors_.size() < kListCap;
  if (quarantine || error) {
    std::string id(as_written(d.id, id_buf)), reason(as_written(d.first_reason, reason_buf));
    if (quarantine) quarantined_.push_back({id, std::string(source), reason});
    else errors_.push_back({id, reason});
  }
}

void ReportTally::link_duplicate(std::string_view id, std::string_view of, Duplicate kind) {
  std::string id_buf, of_buf;
  uint32_t child = clusters_.intern(as_written(id, id_buf));
  uint32_t root = clusters_.intern(as_written(of, of_buf));
  uint32_t child_root = clusters_.find(child), root_root = clusters_.find(root);
  if (child_root != root_root) clusters_.parent[child_root] = root_root;
  clusters_.kind[child] = static_cast<int8_t>(kind);
}

json ReportTally::counters() const {
  json c;
  c["documents"] = documents_;
  c["with_findings"] = with_findings_;
  c["exact"] = exact_;
  c["near"] = near_;
  c["text_documents"] = text_documents_;
  c["decisions"] = object_of(decisions_);
  c["findings_by_type"] = object_of(by_type_);
  json src = json::object();
  for (auto& [s, counts] : by_source_) src[s] = object_of(counts);
  c["findings_by_source"] = src;
  c["documents_by_source"] = object_of(documents_by_source_);
  c["licenses"] = object_of(licenses_);
  c["license_status"] = object_of(license_status_);
  c["quarantined"] = quarantined_;
  c["errors"] = errors_;
  return c;
}

void ReportTally::restore_counters(const json& c) {
  documents_ = c.at("documents").get<uint64_t>();
  with_findings_ = c.at("with_findings").get<uint64_t>();
  exact_ = c.at("exact").get<uint64_t>();
  near_ = c.at("near").get<uint64_t>();
  text_documents_ = c.at("text_documents").get<uint64_t>();
  read_counts(c.at("decisions"), decisions_);
  read_counts(c.at("findings_by_type"), by_type_);
  by_source_.clear();
  for (auto& [s, counts] : c.at("findings_by_source").items()) read_counts(counts, by_source_[s]);
  read_counts(c.at("documents_by_source"), documents_by_source_);
  read_counts(c.at("licenses"), licenses_);
  read_counts(c.at("license_status"), license_status_);
  quarantined_ = c.at("quarantined").get<std::vector<std::vector<std::string>>>();
  errors_ = c.at("errors").get<std::vector<std::vector<std::string>>>();
}

json ReportTally::report(const json& run_info) {
  json rep;
  rep["run"] = run_info;
  rep["documents"] = documents_;
  rep["documents_with_findings"] = with_findings_;
  rep["decisions"] = object_of(decisions_);
  json types = json::object();
  for (const auto& t : finding_types()) {
    auto it = by_type_.find(t);
    types[t] = it == by_type_.end() ? 0 : it->second;
  }
  rep["findings_by_type"] = types;
  json src = json::object();
  for (auto& [s, counts] : by_source_) src[s] = object_of(counts);
  rep["findings_by_source"] = src;
  rep["documents_by_source"] = object_of(documents_by_source_);
  rep["licenses"] = object_of(licenses_);
  rep["license_status"] = object_of(license_status_);
  rep["duplicates"] = {{"exact", exact_},
                       {"near", near_},
                       {"rate", text_documents_ ? std::round(1e4 * double(exact_ + near_) / text_documents_) / 1e4 : 0.0}};
  // Clusters: root id -> members (root first).
  // Every id that is itself a duplicate, in id order, joins its root's group.
  std::vector<uint32_t> duplicates;
  for (uint32_t n = 0; n < clusters_.ids.size(); ++n)
    if (clusters_.kind[n] >= 0) duplicates.push_back(n);
  std::sort(duplicates.begin(), duplicates.end(),
            [&](uint32_t a, uint32_t b) { return clusters_.ids[a] < clusters_.ids[b]; });
  std::map<std::string, std::vector<uint32_t>> groups;
  for (uint32_t n : duplicates) groups[clusters_.ids[clusters_.find(n)]].push_back(n);
  json cl = json::array();
  for (auto& [root, members] : groups) {
    if (cl.size() >= kListCap) break;
    json mem = json::array();
    for (uint32_t n : members)
      mem.push_back({{"id", clusters_.ids[n]}, {"kind", clusters_.kind[n] == int8_t(Duplicate::Exact) ? "exact" : "near"}});
    cl.push_back({{"representative", root}, {"size", members.size() + 1}, {"members", mem}});
  }
  rep["duplicate_clusters"] = cl;
  rep["duplicate_cluster_count"] = groups.size();
  json quarantined = json::array(), errors = json::array();
  for (auto& q : quarantined_) quarantined.push_back({{"id", q[0]}, {"source", q[1]}, {"reason", q[2]}});
  for (auto& e : errors_) errors.push_back({{"id", e[0]}, {"reason", e[1]}});
  rep["quarantined"] = quarantined;
  rep["errors"] = errors;
  return rep;
}

json build_report(const std::string& manifest_path, const json& run_info) {
  std::ifstream in(manifest_path, std::ios::binary);
  if (!in) fail(manifest_path + ": cannot open");
  ReportTally tally;
  std::string line;
  size_t line_no = 0;
  std::vector<std::string> types;
  std::vector<Finding> findings;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    json m;
    try {
      m = json::parse(line);
    } catch (const json::exception& e) {  // syntax errors and out-of-range numbers alike
      fail(manifest_path + ": line " + std::to_string(line_no) + ": invalid JSON: " + e.what());
    }
    std::string id = m.value("id", ""), source = m.value("source", ""), decision = m.value("decision", "");
    std::string license, status, reason;
    if (decision != "error") {
      license = m.value("license", "");
      status = m["license_decision"].value("status", "");
    }
    if (!m["reasons"].empty()) reason = m["reasons"][0].get<std::string>();
    types.clear();
    for (const auto& x : m["findings"]) types.push_back(x.value("type", ""));
    findings.assign(types.size(), Finding());
    for (size_t i = 0; i < types.size(); ++i) findings[i].type = types[i];
    ReportTally::Duplicate dup = m.contains("duplicate_of")        ? ReportTally::Duplicate::Exact
                                 : m.contains("near_duplicate_of") ? ReportTally::Duplicate::Near
                                                                   : ReportTally::Duplicate::None;
    tally.add_document({id, source, decision, license, status, reason, dup}, findings);
    if (dup == ReportTally::Duplicate::Exact) tally.link_duplicate(id, m["duplicate_of"].get<std::string>(), dup);
    if (dup == ReportTally::Duplicate::Near) tally.link_duplicate(id, m["near_duplicate_of"].get<std::string>(), dup);
  }
  return tally.report(run_info);
}

namespace {
std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

// Horizontal bar chart as inline SVG.
std::string bar_chart(const std::string& title, const std::vector<std::pair<std::string, double>>& rows,
                      const std::string& color) {
  double maxv = 1;
  for (auto& r : rows) maxv = std::max(maxv, r.second);
  int row_h = 22, label_w = 200, bar_w = 340;
  int h = static_cast<int>(rows.size()) * row_h + 34;
  std::string s = "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(label_w + bar_w + 80) +
                  "\" height=\"" + std::to_string(h) + "\" role=\"img\" aria-label=\"" + esc(title) + "\">";
  s += "<text x=\"0\" y=\"16\" font-size=\"14\" font-weight=\"bold\">" + esc(title) + "</text>";
  int y = 28;
  for (auto& [label, v] : rows) {
    int w = static_cast<int>(std::round(bar_w * v / maxv));
    char num[32];
    std::snprintf(num, sizeof(num), v == std::floor(v) ? "%.0f" : "%.3f", v);
    s += "<text x=\"" + std::to_string(label_w - 6) + "\" y=\"" + std::to_string(y + 14) +
         "\" font-size=\"12\" text-anchor=\"end\">" + esc(label) + "</text>";
    s += "<rect x=\"" + std::to_string(label_w) + "\" y=\"" + std::to_string(y + 3) + "\" width=\"" +
         std::to_string(std::max(w, v > 0 ? 2 : 0)) + "\" height=\"15\" fill=\"" + color + "\"/>";
    s += "<text x=\"" + std::to_string(label_w + w + 6) + "\" y=\"" + std::to_string(y + 14) + "\" font-size=\"12\">" +
         num + "</text>";
    y += row_h;
  }
  s += "</svg></figure>\n";
  return s;
}

std::vector<std::pair<std::string, double>> rows_of(const json& obj) {
  std::vector<std::pair<std::string, double>> r;
  for (auto& [k, v] : obj.items()) r.emplace_back(k, v.get<double>());
  return r;
}
}  // namespace

std::string render_report_html(const json& rep) {
  std::string h =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>exaone comply report</title>\n"
      "<style>body{font-family:sans-serif;margin:24px;color:#222;max-width:1100px}"
      "table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}"
      "th{background:#f0f0f0}h2{margin-top:28px;border-bottom:1px solid #ddd}.grid{display:flex;flex-wrap:wrap;gap:24px}"
      ".num{text-align:right}</style></head><body>\n";
  h += "<h1>exaone comply: data-compliance report</h1>\n";
  const json& run = rep["run"];
  h += "<p>Rules " + esc(run.value("rules_version", "")) + " &middot; action <b>" + esc(run.value("action", "")) +
       "</b> &middot; policy " + esc(run.value("policy", "")) + "</p>\n";
  h += "<h2>Summary</h2><table><tr><th>documents</th><th>with findings</th>";
  for (auto& [k, v] : rep["decisions"].items()) h += "<th>" + esc(k) + "</th>";
  h += "<th>duplicate rate</th></tr><tr><td class=num>" + std::to_string(rep["documents"].get<uint64_t>()) +
       "</td><td class=num>" + std::to_string(rep["documents_with_findings"].get<uint64_t>()) + "</td>";
  for (auto& [k, v] : rep["decisions"].items()) h += "<td class=num>" + std::to_string(v.get<uint64_t>()) + "</td>";
  char rate[32];
  std::snprintf(rate, sizeof(rate), "%.2f%%", 100 * rep["duplicates"]["rate"].get<double>());
  h += "<td class=num>" + std::string(rate) + "</td></tr></table>\n";

  h += "<div class=grid>";
  h += bar_chart("Findings by type", rows_of(rep["findings_by_type"]), "#c0392b");
  h += bar_chart("Decisions", rows_of(rep["decisions"]), "#2c7fb8");
  h += bar_chart("Licence mix (documents)", rows_of(rep["licenses"]), "#27ae60");
  h += bar_chart("Duplicates", {{"exact", rep["duplicates"]["exact"].get<double>()},
                                {"near", rep["duplicates"]["near"].get<double>()}},
                 "#8e44ad");
  h += "</div>\n";

  h += "<h2>Findings by source and type</h2><table><tr><th>source</th><th>documents</th>";
  for (const auto& t : finding_types()) h += "<th>" + esc(t) + "</th>";
  h += "</tr>";
  for (auto& [s, n] : rep["documents_by_source"].items()) {
    h += "<tr><td>" + esc(s) + "</td><td class=num>" + std::to_string(n.get<uint64_t>()) + "</td>";
    const json& row = rep["findings_by_source"].contains(s) ? rep["findings_by_source"][s] : json::object();
    for (const auto& t : finding_types())
      h += "<td class=num>" + std::to_string(row.contains(t) ? row[t].get<uint64_t>() : 0) + "</td>";
    h += "</tr>";
  }
  h += "</table>\n";

  h += "<h2>Licence screen</h2><table><tr><th>status</th><th>documents</th></tr>";
  for (auto& [k, v] : rep["license_status"].items())
    h += "<tr><td>" + esc(k) + "</td><td class=num>" + std::to_string(v.get<uint64_t>()) + "</td></tr>";
  h += "</table>\n";
  if (run.contains("sources") && !run["sources"].empty()) {
    h += "<table><tr><th>source</th><th>licence</th><th>commercial use</th><th>origin</th></tr>";
    for (auto& [name, c] : run["sources"].items())
      h += "<tr><td>" + esc(name) + "</td><td>" + esc(c.value("license", "")) + "</td><td>" +
           esc(c.value("commercial_use", "")) + "</td><td>" + esc(c.value("origin", "")) + "</td></tr>";
    h += "</table>\n";
  }

  h += "<h2>Duplicate clusters (" + std::to_string(rep["duplicate_cluster_count"].get<uint64_t>()) +
       ")</h2><table><tr><th>representative</th><th>size</th><th>members</th></tr>";
  for (auto& c : rep["duplicate_clusters"]) {
    std::string mem;
    for (auto& m : c["members"]) mem += esc(m["id"].get<std::string>()) + " (" + esc(m["kind"].get<std::string>()) + ") ";
    h += "<tr><td>" + esc(c["representative"].get<std::string>()) + "</td><td class=num>" +
         std::to_string(c["size"].get<uint64_t>()) + "</td><td>" + mem + "</td></tr>";
  }
  h += "</table>\n";

  h += "<h2>Quarantined documents</h2><table><tr><th>id</th><th>source</th><th>reason</th></tr>";
  for (auto& q : rep["quarantined"])
    h += "<tr><td>" + esc(q["id"].get<std::string>()) + "</td><td>" + esc(q["source"].get<std::string>()) + "</td><td>" +
         esc(q["reason"].get<std::string>()) + "</td></tr>";
  h += "</table>\n";
  h += "<h2>Input errors</h2><table><tr><th>id</th><th>error</th></tr>";
  for (auto& e : rep["errors"])
    h += "<tr><td>" + esc(e["id"].get<std::string>()) + "</td><td>" + esc(e["reason"].get<std::string>()) + "</td></tr>";
  h += "</table>\n</body></html>\n";
  return h;
}

}  // namespace exaone::comply

#include "comply/report.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>

#include "comply/detect.h"
#include "util/error.h"

namespace exaone::comply {

namespace {
constexpr size_t kListCap = 500;  // rows kept per list in the report; counts stay exact

// Union-find over ids so chains (C near B, B near A) form one cluster rooted at A.
struct Clusters {
  std::map<std::string, std::string> parent;
  std::string find(const std::string& x) {
    auto it = parent.find(x);
    if (it == parent.end() || it->second == x) return x;
    std::string r = find(it->second);
    parent[x] = r;
    return r;
  }
  void link(const std::string& child, const std::string& root) {
    std::string rc = find(child), rr = find(root);
    if (rc != rr) parent[rc] = rr;
    if (!parent.count(rr)) parent[rr] = rr;
  }
};
}  // namespace

json build_report(const std::string& manifest_path, const json& run_info) {
  std::ifstream in(manifest_path, std::ios::binary);
  if (!in) fail(manifest_path + ": cannot open");
  json rep;
  rep["run"] = run_info;
  std::map<std::string, uint64_t> decisions, by_type, licenses, license_status;
  std::map<std::string, std::map<std::string, uint64_t>> by_source;  // source -> type -> count
  std::map<std::string, uint64_t> docs_by_source;
  uint64_t docs = 0, with_findings = 0, exact = 0, near = 0, text_docs = 0;
  json quarantined = json::array(), errors = json::array();
  Clusters clusters;
  std::map<std::string, std::string> dup_kind;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    json m;
    try {
      m = json::parse(line);
    } catch (const json::parse_error& e) {
      fail(manifest_path + ": line " + std::to_string(line_no) + ": invalid JSON: " + e.what());
    }
    ++docs;
    std::string decision = m.value("decision", "");
    std::string source = m.value("source", "");
    if (source.empty()) source = "(none)";
    decisions[decision]++;
    docs_by_source[source]++;
    if (decision != "error") {
      ++text_docs;
      licenses[m.value("license", "").empty() ? "(none)" : m.value("license", "")]++;
      license_status[m["license_decision"].value("status", "")]++;
    }
    const json& f = m["findings"];
    if (!f.empty()) ++with_findings;
    for (const auto& x : f) {
      std::string t = x.value("type", "");
      by_type[t]++;
      by_source[source][t]++;
    }
    std::string id = m.value("id", "");
    if (m.contains("duplicate_of")) {
      ++exact;
      clusters.link(id, m["duplicate_of"].get<std::string>());
      dup_kind[id] = "exact";
    } else if (m.contains("near_duplicate_of")) {
      ++near;
      clusters.link(id, m["near_duplicate_of"].get<std::string>());
      dup_kind[id] = "near";
    }
    std::string reason = m["reasons"].empty() ? "" : m["reasons"][0].get<std::string>();
    if (decision == "quarantine" && quarantined.size() < kListCap)
      quarantined.push_back({{"id", id}, {"source", source}, {"reason", reason}});
    if (decision == "error" && errors.size() < kListCap) errors.push_back({{"id", id}, {"reason", reason}});
  }
  rep["documents"] = docs;
  rep["documents_with_findings"] = with_findings;
  rep["decisions"] = decisions;
  json types = json::object();
  for (const auto& t : finding_types()) types[t] = by_type.count(t) ? by_type[t] : 0;
  rep["findings_by_type"] = types;
  json src = json::object();
  for (auto& [s, counts] : by_source) src[s] = counts;
  rep["findings_by_source"] = src;
  rep["documents_by_source"] = docs_by_source;
  rep["licenses"] = licenses;
  rep["license_status"] = license_status;
  rep["duplicates"] = {{"exact", exact},
                       {"near", near},
                       {"rate", text_docs ? std::round(1e4 * double(exact + near) / text_docs) / 1e4 : 0.0}};
  // Clusters: root id -> members (root first).
  std::map<std::string, std::vector<std::string>> groups;
  for (auto& [id, kind] : dup_kind) groups[clusters.find(id)].push_back(id);
  json cl = json::array();
  for (auto& [root, members] : groups) {
    if (cl.size() >= kListCap) break;
    json mem = json::array();
    for (auto& id : members) mem.push_back({{"id", id}, {"kind", dup_kind[id]}});
    cl.push_back({{"representative", root}, {"size", members.size() + 1}, {"members", mem}});
  }
  rep["duplicate_clusters"] = cl;
  rep["duplicate_cluster_count"] = groups.size();
  rep["quarantined"] = quarantined;
  rep["errors"] = errors;
  return rep;
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
